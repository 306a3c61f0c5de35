"""motion_histograms: the HOF/MBH numbers against a plain loop, what each part sees, the grid,
and the linear head; and the ``fit`` transform (whole frame, aspect kept) it reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from actionlab.data.transforms import default_transform, letterbox
from actionlab.errors import ModelError
from actionlab.models import build_model
from actionlab.models.descriptors import grid_histograms


def _loop_histograms(u: np.ndarray, v: np.ndarray, bins: int, gy: int, gx: int) -> np.ndarray:
    """The definition, one pixel at a time: (H, W) -> (bins, gy * gx) cell means."""
    H, W = u.shape
    out = np.zeros((bins, gy * gx))
    count = np.zeros(gy * gx)
    for y in range(H):
        for x in range(W):
            cell = (y * gy // H) * gx + x * gx // W
            angle = math.atan2(v[y, x], u[y, x]) % (2 * math.pi)
            k = min(int(angle / (2 * math.pi) * bins), bins - 1)
            out[k, cell] += math.hypot(u[y, x], v[y, x])
            count[cell] += 1
    return out / count


def test_grid_histograms_match_the_definition() -> None:
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(2, 1, 10, 14, generator=g)
    got = grid_histograms(u, v, 8, 3, 4)[0].numpy()
    want = _loop_histograms(u[0].double().numpy(), v[0].double().numpy(), 8, 3, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _model(**kw):
    torch.manual_seed(0)
    return build_model("motion_histograms", num_classes=3, in_channels=2, num_segments=4,
                       input_size=(8, 8), **{"grid": (2, 2, 2), **kw}).eval()


def test_uniform_rightward_motion_is_one_hof_bin_and_no_motion_boundary() -> None:
    x = torch.zeros(1, 4, 2, 8, 8)
    x[:, :, 0] = 0.5  # every pixel moves right by half the bound
    cells = _model().forward_features(x)  # (1, M, T', Y, X), M = 8 HOF + 16 MBH bins
    assert cells.shape == (1, 24, 2, 2, 2)
    hof, mbh = cells[0, :8], cells[0, 8:]
    torch.testing.assert_close(hof[0], torch.full((2, 2, 2), 0.5))  # bin 0: [0, 45) degrees
    assert hof[1:].abs().max() == 0 and mbh.abs().max() == 0  # no flow edge anywhere


def test_time_cells_keep_the_order_of_the_segments() -> None:
    x = torch.zeros(1, 4, 2, 8, 8)
    x[:, :2, 1] = 1.0  # first half moves down (90 degrees: bin 2), second half up (bin 6)
    x[:, 2:, 1] = -1.0
    hof = _model(parts=["hof"]).forward_features(x)[0]  # (8, T'=2, 2, 2)
    assert hof[2, 0].min() == 1 and hof[2, 1].max() == 0
    assert hof[6, 1].min() == 1 and hof[6, 0].max() == 0


def test_a_moving_square_gives_motion_boundaries_where_it_is() -> None:
    x = torch.zeros(1, 4, 2, 8, 8)
    x[:, :, 0, 1:3, 1:3] = 1.0  # a patch in the top-left cell moves right
    mbh = _model(parts=["mbh"]).forward_features(x)[0]  # (16, 2, 2, 2)
    per_cell = mbh.sum(dim=(0, 1))  # (Y, X)
    assert per_cell[0, 0] > 0 and per_cell[1, 1] == 0


def test_head_standardises_and_is_linear_in_eval() -> None:
    m = _model()
    m.train()
    for _ in range(3):  # the running statistics: a cumulative average of the batches
        m(torch.rand(4, 4, 2, 8, 8))
    m.eval()
    x = torch.rand(2, 4, 2, 8, 8)
    z = m.forward_head(m.forward_features(x), pre_logits=True)
    d = m.forward_features(x).reshape(2, -1).add(1e-6).sqrt()
    want = (d - m.norm.running_mean) / torch.sqrt(m.norm.running_var + m.norm.eps)
    torch.testing.assert_close(z, want)
    torch.testing.assert_close(m(x), m.fc(z))


def test_mirrored_flow_mirrors_the_histograms() -> None:
    """A horizontal flip negating x-flow (the training flip) maps bin k to the mirror bin."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 2, 8, 8, generator=g)
    flipped = x.flip(-1).clone()
    flipped[:, :, 0] *= -1
    m = _model(parts=["hof"], grid=(1, 1, 1))
    a, b = m.forward_features(x)[0, :, 0, 0, 0], m.forward_features(flipped)[0, :, 0, 0, 0]
    mirror = [(4 - 1 - k) % 8 for k in range(8)]  # angle θ -> π - θ
    torch.testing.assert_close(b, a[mirror], rtol=1e-5, atol=1e-6)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ModelError, match="in_channels must be 2L"):
        build_model("motion_histograms", in_channels=3)
    with pytest.raises(ModelError, match="parts"):
        build_model("motion_histograms", parts=["hog"])
    with pytest.raises(ModelError, match="cannot fill"):
        _model(grid=(5, 2, 2))(torch.zeros(1, 4, 2, 8, 8))


@pytest.mark.parametrize("hw", [(30, 10), (10, 30), (20, 20), (1080, 1920)])
def test_fit_keeps_the_whole_frame_and_its_aspect(hw: tuple[int, int]) -> None:
    h, w = hw
    x = torch.ones(1, 2, h, w)
    y = letterbox(x, (24, 32))
    assert y.shape == (1, 2, 24, 32)
    rows, cols = y[0, 0].sum(1).gt(0).sum().item(), y[0, 0].sum(0).gt(0).sum().item()
    assert abs(cols / rows - w / h) <= (w / h) * 0.15 + 1 / rows  # the content's aspect
    assert rows == 24 or cols == 32  # as large as the canvas allows
    # the padding is "no motion" for flow and the mean colour (0 after normalising) for RGB
    rgb = default_transform("rgb", False, (24, 32), crop="fit")(torch.full((1, 3, h, w), 0.3))
    pad = rgb[0, :, 0, 0] if rows < 24 else rgb[0, :, :, 0].mean(-1)
    if rows < 24 or cols < 32:
        torch.testing.assert_close(pad, torch.zeros(3), atol=1e-6, rtol=0)


def test_bf16_autocast_leaves_the_descriptor_in_float32() -> None:
    """Under bf16 autocast (the trainer's choice where bf16 is faster) the model computes what it
    computes in float32: bf16 rounding would swamp the standardised cells."""
    m = _model()
    x = torch.rand(2, 4, 2, 8, 8)
    want = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = m(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)


def test_zero_flow_exports_and_has_finite_input_gradients() -> None:
    """Still regions and the zero padding of ``crop: fit``: ONNX Runtime's atan2 is NaN at a
    zero vector and atan2's gradient too; neither may reach the output or a saliency map."""
    ort = pytest.importorskip("onnxruntime")
    import io

    m = _model()
    x = torch.zeros(2, 4, 2, 8, 8)
    x[0, :, 0, 2:5, 2:5] = 0.3  # one moving patch, the rest still
    buf = io.BytesIO()
    torch.onnx.export(m, (x,), buf, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, opset_version=17, dynamo=False)
    got = ort.InferenceSession(buf.getvalue()).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, m(x).detach().numpy(), atol=1e-4, rtol=1e-4)
    xg = x.clone().requires_grad_(True)
    m(xg)[:, 0].sum().backward()
    assert torch.isfinite(xg.grad).all()


def test_a_training_batch_of_one_clip_trains() -> None:
    """49 training clips in batches of 8 leave a last batch of one: no batch statistics there,
    so it is standardised with the running ones (BatchNorm1d alone would raise)."""
    m = _model()
    m.train()
    m(torch.rand(4, 4, 2, 8, 8))
    out = m(torch.rand(1, 4, 2, 8, 8))
    out.sum().backward()
    assert out.shape == (1, 3) and torch.isfinite(m.fc.weight.grad).all()
