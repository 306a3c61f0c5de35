"""Two-stream fusion: every variant trains one step, frozen streams stay put; SVM fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models import SVMFusion, build_model

from _model_tiny import FLOW, R18

VARIANTS = [
    {"fusion": "average"}, {"fusion": "max"}, {"fusion": "min"},
    {"fusion": "weighted", "weights": (1.0, 1.5)},
    {"fusion": "weighted", "learn_weights": True},
    {"fusion": "concat", "hidden": 8},
    # mid fusion puts a ReLU layer after the join: with 8 units and 2 samples every unit is dead
    # for some seeds (3 in 20 under He init), and no gradient reaches either stream; 16 never did.
    {"fusion": "mid", "hidden": 16},
    {"fusion": "mid", "hidden": 16, "mid_path": "conv", "mid_channels": 4},
]


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 2, 4, 32, 32, generator=g)


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda k: "-".join(str(v) for v in k.values()))
def test_variant_trains_one_step_with_rgb_frozen(kw: dict) -> None:
    torch.manual_seed(0)
    m = build_model("two_stream", num_classes=3, rgb=R18, flow=FLOW,
                    freeze_streams={"rgb": "all"}, **kw)
    rgb_before = {k: v.clone() for k, v in m.rgb.state_dict().items()}
    flow_before = {k: v.clone() for k, v in m.flow.state_dict().items()}
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m.train()
    m.rgb.eval()  # a frozen stream keeps its (here: none) statistics
    loss = torch.nn.functional.cross_entropy(m(*_inputs()), torch.tensor([0, 2]))
    loss.backward()
    opt.step()
    assert all(torch.equal(v, m.rgb.state_dict()[k]) for k, v in rgb_before.items())
    if kw["fusion"] != "mid":  # mid fusion does not use the flow stream's head
        assert any(not torch.equal(v, m.flow.state_dict()[k]) for k, v in flow_before.items())
    else:
        assert not torch.equal(flow_before["stem.0.weight"], m.flow.stem[0].weight)
    if kw.get("learn_weights"):
        assert m.weights.grad is not None


def test_weighted_fixed_is_the_weighted_mean_of_scores() -> None:
    m = build_model("two_stream", num_classes=3, rgb=R18, flow=FLOW, fusion="weighted",
                    weights=(1.0, 1.5)).eval()
    rgb, flow = _inputs()
    with torch.no_grad():
        a, b = m.rgb(rgb), m.flow(flow)
        assert torch.allclose(m(rgb, flow), (a + 1.5 * b) / 2.5, atol=1e-6)


def test_load_stream_from_single_stream_checkpoint() -> None:
    single = build_model(FLOW["name"], num_classes=3, **{k: v for k, v in FLOW.items() if k != "name"})
    m = build_model("two_stream", num_classes=3, rgb=R18, flow=FLOW, fusion="concat", hidden=8)
    m.load_stream("flow", single.state_dict())
    assert torch.equal(m.flow.fc1.weight, single.fc1.weight)
    assert not m.flow.fc.weight.requires_grad  # concat fusion: the stream's classifier is unused
    with pytest.raises(ModelError, match="unknown stream"):
        m.load_stream("depth", single.state_dict())
    wrong = build_model(FLOW["name"], num_classes=7, **{k: v for k, v in FLOW.items() if k != "name"})
    with pytest.raises(ModelError, match="reset_classifier"):
        m.load_stream("flow", wrong.state_dict())


def test_mid_fusion_tiles_2d_over_time() -> None:
    m = build_model("two_stream", num_classes=3, rgb=R18, flow={**FLOW, "head_grid": (2, 2, 2)},
                    fusion="mid", hidden=8).eval()
    rgb, flow = _inputs()
    fa, fb = m.forward_features(rgb, torch.randn(2, 2, 32, 32, 32))
    assert fa.dim() == 4 and fb.dim() == 5 and fb.shape[2] == 2
    assert m.forward_head((fa, fb)).shape == (2, 3)
    assert m.reduce.out_channels == m.flow.channels


def test_unknown_fusion() -> None:
    with pytest.raises(ModelError, match="unknown fusion"):
        build_model("two_stream", num_classes=3, rgb=R18, flow=FLOW, fusion="product")


def test_svm_fusion() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    a = rng.normal(size=(60, 8)) + 4.0 * np.eye(8)[y]  # the class is the feature's direction
    b = torch.tensor(rng.normal(size=(60, 5)) + 2.0 * np.eye(5)[y], dtype=torch.float32)
    svm = SVMFusion(C=1.0).fit(a, b, y)
    assert (svm.predict(a, b) == y).mean() > 0.9
    assert svm.decision_function(a, b).shape == (60, 3)
    f = SVMFusion.features(a, b)
    assert np.allclose(np.linalg.norm(f[:, :8], axis=1), 1) and f.shape == (60, 13)
