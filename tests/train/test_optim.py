"""Optimizers and schedules against the published formulas at known iterations."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from actionlab.config import load_config
from actionlab.errors import InputError
from actionlab.train.optim import build_optimizer, build_scheduler, cyclic_lr
from train_helpers import TinyNet


def _lrs(overrides: list[str], steps: int, spe: int = 5, epochs: int = 4) -> list[float]:
    cfg = load_config(None, overrides)
    opt = build_optimizer(TinyNet(), cfg.optim)
    sched = build_scheduler(opt, cfg.schedule, cfg.optim.lr, spe, epochs)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cyclic_published_values() -> None:
    # Smith (2017): base at 0, max at step_size, base again at 2 step_size.
    b, m, s = 1e-4, 1e-2, 10
    assert cyclic_lr(0, b, m, s) == pytest.approx(b)
    assert cyclic_lr(5, b, m, s) == pytest.approx(b + (m - b) / 2)
    assert cyclic_lr(10, b, m, s) == pytest.approx(m)
    assert cyclic_lr(20, b, m, s) == pytest.approx(b)
    assert cyclic_lr(30, b, m, s, "triangular") == pytest.approx(m)
    assert cyclic_lr(30, b, m, s, "triangular2") == pytest.approx(b + (m - b) / 2)  # cycle 2
    assert cyclic_lr(50, b, m, s, "triangular2") == pytest.approx(b + (m - b) / 4)  # cycle 3
    assert cyclic_lr(10, b, m, s, "exp_range", 0.99) == pytest.approx(b + (m - b) * 0.99**10)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_matches_torch_cycliclr(mode: str) -> None:
    ours = _lrs(["optim.name=sgd", "optim.lr=1e-4", "schedule.name=cyclic", f"schedule.mode={mode}",
                 "schedule.base_lr=1e-4", "schedule.max_lr=1e-2", "schedule.step_size=4",
                 "schedule.gamma=0.9"], 30)
    opt = torch.optim.SGD(TinyNet().parameters(), lr=1e-4, momentum=0.9)
    ref = torch.optim.lr_scheduler.CyclicLR(opt, 1e-4, 1e-2, step_size_up=4, mode=mode, gamma=0.9)
    theirs = []
    for _ in range(30):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_cyclic_default_step_size_is_two_epochs() -> None:
    lrs = _lrs(["optim.lr=1e-4", "schedule.name=cyclic", "schedule.base_lr=1e-4",
                "schedule.max_lr=1e-2"], 21, spe=5)
    assert lrs[10] == pytest.approx(1e-2) and lrs[20] == pytest.approx(1e-4)


def test_step_exponential_cosine() -> None:
    step = _lrs(["optim.lr=0.1", "schedule.name=step", "schedule.step_epochs=2",
                 "schedule.gamma=0.1"], 20, spe=5)
    assert step[9] == pytest.approx(0.1) and step[10] == pytest.approx(0.01)
    assert step[19] == pytest.approx(0.01)
    exp = _lrs(["optim.lr=0.1", "schedule.name=exponential", "schedule.gamma=0.5"], 15, spe=5)
    assert [exp[0], exp[5], exp[10]] == pytest.approx([0.1, 0.05, 0.025])
    assert exp[4] == pytest.approx(0.1)  # per epoch, not per iteration
    cos = _lrs(["optim.lr=0.1", "schedule.name=cosine", "schedule.warmup_epochs=1",
                "schedule.min_lr=0.0"], 20, spe=5, epochs=4)
    assert cos[0] == pytest.approx(0.1 / 5) and cos[4] == pytest.approx(0.1)
    t = (10 - 5) / 15  # half-way through the cosine part
    assert cos[10] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * t)))


def test_optimizers_and_head_lr() -> None:
    model = TinyNet()
    sgd = build_optimizer(model, load_config(None, ["optim.name=sgd", "optim.nesterov=true",
                                                    "optim.weight_decay=5e-4"]).optim)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]
    assert sgd.param_groups[0]["weight_decay"] == 5e-4
    adamw = build_optimizer(model, load_config(None, ["optim.name=adamw", "optim.lr=1e-5",
                                                      "optim.head_lr=1e-3"]).optim)
    groups = {g["name"]: g for g in adamw.param_groups}
    assert groups["body"]["lr"] == 1e-5 and groups["head"]["lr"] == 1e-3
    assert {id(p) for p in groups["head"]["params"]} == {id(p) for p in model.fc.parameters()}
    frozen = TinyNet()
    frozen.fc.requires_grad_(False)
    with pytest.raises(InputError, match="classifier of TinyNet is frozen"):
        build_optimizer(frozen, load_config(None, ["optim.head_lr=1e-3"]).optim)


def test_head_names_is_deprecated_and_ignored(caplog) -> None:
    model = TinyNet()
    with caplog.at_level("WARNING"):
        opt = build_optimizer(model, load_config(None, ["optim.head_lr=1e-3",
                                                        "optim.head_names=[nothing]"]).optim)
    assert "optim.head_names is deprecated" in caplog.text
    head = next(g for g in opt.param_groups if g["name"] == "head")
    assert {id(p) for p in head["params"]} == {id(p) for p in model.fc.parameters()}


def test_head_lr_needs_a_named_classifier() -> None:
    class Anonymous(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.out = torch.nn.Linear(2, 2)

    with pytest.raises(InputError, match="Anonymous does not name its classifier"):
        build_optimizer(Anonymous(), load_config(None, ["optim.head_lr=1e-3"]).optim)


def test_head_lr_applies_to_the_classifier_of_every_registered_model() -> None:
    from actionlab.models import build_model, list_models
    from actionlab.models.surgery import classifier

    sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
    from _model_tiny import TINY

    cfg = load_config(None, ["optim.lr=1e-5", "optim.head_lr=1e-2"]).optim
    for name in list_models():
        model = build_model(name, num_classes=3, **TINY[name][0])
        groups = {g["name"]: g for g in build_optimizer(model, cfg).param_groups}
        head = {id(p) for _, m in classifier(model) for p in m.parameters()}
        assert {id(p) for p in groups["head"]["params"]} == head, name
        assert groups["head"]["lr"] == 1e-2, name
        # a model that learns only its classifier (motion_histograms) has no body group
        assert groups.get("body", {"lr": 1e-5})["lr"] == 1e-5, name
        assert ("body" in groups) == any(id(p) not in head for p in model.parameters()), name
        assert not head & {id(p) for p in groups.get("body", {"params": []})["params"]}, name
    c3d = build_model("c3d", num_classes=3, **TINY["c3d"][0])
    head = next(g for g in build_optimizer(c3d, cfg).param_groups if g["name"] == "head")
    assert [tuple(p.shape) for p in head["params"]] == [(3, 16), (3,)]  # fc8, not fc6/fc7
