"""Model surgery: freezing counted one way, the classifier of every model, partial BN and
channels-last."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from actionlab.errors import ModelError
from actionlab.models import build_model, list_models
from actionlab.models.surgery import (
    apply_freeze,
    channels_last,
    channels_last_input,
    classifier,
    classifier_parameter_names,
    freeze,
    layers,
    partial_bn,
)

from _model_tiny import TINY, tiny_inputs


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x))) + x


class Known(nn.Module):
    """stem conv, bn, a block (conv, bn), a parameter-free pool, then the classifier."""

    classifier_name = "fc"

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.block = Block()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(torch.relu(self.bn(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))


def _trainable(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def test_layers_are_the_modules_with_their_own_parameters() -> None:
    assert [n for n, _ in layers(Known())] == ["stem", "bn", "block.conv", "block.bn", "fc"]


@pytest.mark.parametrize("policy,expected", [
    ("last:1", ["fc.weight", "fc.bias"]),
    ("last:2", ["block.bn.weight", "block.bn.bias", "fc.weight", "fc.bias"]),
    ("last:3", ["block.conv.weight", "block.bn.weight", "block.bn.bias", "fc.weight", "fc.bias"]),
    ("last:0", []),
    ("backbone", ["fc.weight", "fc.bias"]),
    ("all", []),
    ("none", ["stem.weight", "stem.bias", "bn.weight", "bn.bias", "block.conv.weight",
              "block.bn.weight", "block.bn.bias", "fc.weight", "fc.bias"]),
])
def test_freeze_policies_on_a_known_model(policy: str, expected: list[str]) -> None:
    assert _trainable(freeze(Known(), policy)) == expected


def test_train_last_is_last_n() -> None:
    model = apply_freeze(Known(), train_last=2)
    assert _trainable(model) == ["block.bn.weight", "block.bn.bias", "fc.weight", "fc.bias"]
    # a policy first, then train_last on top of it (the config's order)
    after_policy = apply_freeze(Known(), train_last=1, policy="none")
    assert _trainable(after_policy) == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("bad", ["last:x", "last:6", "last:-1", "some"])
def test_bad_policies_say_what_is_allowed(bad: str) -> None:
    with pytest.raises(ModelError, match=r"0\.\.5|unknown freeze policy"):
        freeze(Known(), bad)
    with pytest.raises(ModelError, match=r"train_last=9: .*0\.\.5"):
        apply_freeze(Known(), train_last=9)


def _build(name: str) -> nn.Module:
    kw, _ = TINY[name]
    torch.manual_seed(0)
    return build_model(name, num_classes=3, **kw)


@pytest.mark.parametrize("name", list_models())
def test_the_classifier_is_the_final_layer_of_every_model(name: str) -> None:
    model = _build(name).eval()
    xs = tiny_inputs(TINY[name][1])
    found = classifier(model)
    assert found and all(isinstance(m, nn.Linear) and m.out_features == 3 for _, m in found)
    assert [n for n, _ in found] == (["rgb.fc", "flow.fc"] if name == "two_stream" else
                                     [{"c3d": "fc8", "vgg16": "classifier.6",
                                       "vgg16_bn": "classifier.6"}.get(name, "fc")])
    with torch.no_grad():
        for _, m in found:  # zero the classifier: every score must become 0
            m.weight.zero_()
            m.bias.zero_()
        assert torch.equal(model(*xs), torch.zeros(2, 3))
    assert classifier_parameter_names(model) == {f"{n}.{p}" for n, _ in found
                                                 for p in ("weight", "bias")}


@pytest.mark.parametrize("name", list_models())
def test_backbone_policy_trains_only_the_classifier(name: str) -> None:
    model = freeze(_build(name), "backbone")
    assert set(_trainable(model)) == classifier_parameter_names(model)
    assert layers(model)[-1][1] is classifier(model)[-1][1]  # the last layer is the classifier


def test_feature_fusion_keeps_unused_stream_classifiers_frozen() -> None:
    kw, _ = TINY["two_stream"]
    model = build_model("two_stream", num_classes=3, **{**kw, "fusion": "concat"})
    freeze(model, "none")
    assert not model.rgb.fc.weight.requires_grad and model.fc.weight.requires_grad


def test_partial_bn_leaves_exactly_the_first_bn_training() -> None:
    model = Known().train()
    assert partial_bn(model) == 1  # of two
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [m.training for m in bns] == [True, False]
    assert [m.weight.requires_grad for m in bns] == [True, False]
    before = [m.running_mean.clone() for m in bns]
    model(torch.randn(4, 3, 8, 8))
    assert not torch.equal(bns[0].running_mean, before[0])
    assert torch.equal(bns[1].running_mean, before[1])


@pytest.mark.parametrize("name", list_models())
def test_channels_last_keeps_outputs(name: str) -> None:
    model = _build(name).eval()
    xs = tiny_inputs(TINY[name][1])
    with torch.no_grad():
        ref = model(*xs)
        params = [id(p) for p in model.parameters()]
        channels_last(model)
        assert [id(p) for p in model.parameters()] == params  # an earlier optimizer still works
        for conv in [p for p in model.parameters() if p.dim() in (4, 5)][:1]:  # any conv
            fmt = torch.channels_last if conv.dim() == 4 else torch.channels_last_3d
            assert conv.is_contiguous(memory_format=fmt)
        per_step = model.layout in ("(B, S, C, H, W)", "(B, T, C, H, W)")
        out = model(*(x if per_step else channels_last_input(x) for x in xs))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_a_model_of_your_own_names_its_classifier() -> None:
    class Joint(nn.Module):  # one head per dataset, as joint training has
        classifier_name = "heads"

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 4)
            self.heads = nn.ModuleDict({"a": nn.Linear(4, 3), "b": nn.Linear(4, 2)})

    assert [n for n, _ in classifier(Joint())] == ["heads.a", "heads.b"]
    assert _trainable(freeze(Joint(), "backbone")) == ["heads.a.weight", "heads.a.bias",
                                                       "heads.b.weight", "heads.b.bias"]
    with pytest.raises(ModelError, match="Sequential does not name its classifier"):
        classifier(nn.Sequential(nn.Linear(2, 2)))
