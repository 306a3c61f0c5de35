"""Every registered model on a tiny input: shape, finite values, gradients where (and only where)
parameters are trainable, layout errors, autocast and channels_last."""

from __future__ import annotations

import math

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models import build_model, freeze, layers, list_models, model_info
from actionlab.models.surgery import channels_last, channels_last_input

from _model_tiny import TINY, tiny_inputs

NUM_CLASSES = 2


def _build(name: str, **extra):
    kw, shape = TINY[name]
    torch.manual_seed(0)
    return build_model(name, num_classes=NUM_CLASSES, **{**kw, **extra}), shape


def test_every_model_has_a_tiny_spec() -> None:
    assert set(list_models()) <= set(TINY), set(list_models()) - set(TINY)


def _check_grads(model: torch.nn.Module, xs: tuple[torch.Tensor, ...]) -> None:
    model.train()
    out = model(*xs)
    assert out.shape == (xs[0].shape[0], NUM_CLASSES)
    assert torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{n} is trainable but got no gradient"
            assert torch.isfinite(p.grad).all(), n
        else:
            assert p.grad is None, f"{n} is frozen but got a gradient"


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name: str) -> None:
    model, shape = _build(name)
    _check_grads(model, tiny_inputs(shape))
    info = model_info(model)
    assert info["params"] > 0 and info["size_mb"] > 0


@pytest.mark.parametrize("name", list_models())
def test_interface(name: str) -> None:
    model, shape = _build(name)
    model.eval()
    xs = tiny_inputs(shape)
    with torch.no_grad():
        feats = model.forward_features(*xs)
        pre = model.forward_head(feats, pre_logits=True)
        out = model.forward_head(feats)
        assert torch.allclose(out, model(*xs), atol=1e-5)
        assert pre.dim() == 2 and pre.shape[0] == 2
        model.reset_classifier(5)
        assert model(*xs).shape == (2, 5)
    d = model.default_input(1)
    d = d if isinstance(d, tuple) else (d,)
    assert all(t.shape[0] == 1 for t in d)


@pytest.mark.parametrize("name", list_models())
def test_freeze_last_one_trains_only_the_head(name: str) -> None:
    model, shape = _build(name)
    freeze(model, "last:1")
    head = layers(model)[-1][1]
    assert all(p.requires_grad for p in head.parameters())
    if len(layers(model)) > 1:  # (motion_histograms learns only its classifier)
        assert sum(p.requires_grad for p in model.parameters()) < len(list(model.parameters()))
    _check_grads(model, tiny_inputs(shape))


@pytest.mark.parametrize("name", [n for n in list_models() if n != "two_stream"])
def test_wrong_input_names_the_layout(name: str) -> None:
    model, shape = _build(name)
    per_step = model.layout in ("(B, S, C, H, W)", "(B, T, C, H, W)")  # C after the steps
    bad = torch.randn(2, 7, *shape[2:] if per_step else shape[1:])
    with pytest.raises(ModelError, match=r"expects input \(B, .*got \(2, 7"):
        model(bad)
    with pytest.raises(ModelError, match="expects input"):
        model(torch.randn(*shape))  # no batch dimension


@pytest.mark.parametrize("name", list_models())
def test_bf16_autocast_and_channels_last(name: str) -> None:
    model, shape = _build(name)
    model.eval()
    xs = tiny_inputs(shape)
    model = channels_last(model)
    xs = tuple(channels_last_input(x) if name not in ("tsn", "lrcn") else x for x in xs)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*xs)
    assert out.shape == (2, NUM_CLASSES) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name", list_models())
def test_initial_loss_is_about_ln_classes(name: str) -> None:
    """A fresh model on random-label input starts near chance, in training and in eval mode
    (eval: a fresh ResNet's BN statistics are still 0 and 1, which only zero-initialised
    residual branches keep from compounding over the blocks)."""
    classes = 12
    kw, shape = TINY[name]
    torch.manual_seed(0)
    model = build_model(name, num_classes=classes, **kw)
    xs = tiny_inputs(shape, batch=8)
    y = torch.randint(0, classes, (8,), generator=torch.Generator().manual_seed(0))
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            loss = torch.nn.functional.cross_entropy(model(*xs), y).item()
        assert loss < 2 * math.log(classes) + 1, (name, train, loss)
