"""pose_tcn: what its normalisation keeps and drops, frames without a person, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models import build_model
from actionlab.models.pose import normalise


def _person(T: int = 8, seed: int = 0) -> torch.Tensor:
    """(1, 4, T, 33): random joints, visibility, a person in every frame but frame 2."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 4, T, 33, generator=g)
    x[:, 3] = 1.0
    x[:, :, 2] = 0.0  # no person in frame 2
    return x


def test_normalise_ignores_where_the_person_is_and_how_big() -> None:
    x = _person()
    moved = x.clone()
    moved[:, 0] = (x[:, 0] * 2.5 + 0.7) * x[:, 3]  # farther right, closer to the camera
    moved[:, 1] = (x[:, 1] * 2.5 - 0.3) * x[:, 3]
    a, b = normalise(x), normalise(moved)
    assert a.shape == (1, 5 * 33 + 1, 8)
    assert torch.allclose(a, b, atol=1e-4)


def test_normalise_keeps_the_body_moving_within_the_clip() -> None:
    x = _person()
    fallen = x.clone()
    fallen[:, 1, 5:] += 0.4  # the whole body drops in the last frames
    a, b = normalise(x), normalise(fallen)
    assert not torch.allclose(a[:, :66], b[:, :66], atol=1e-3)  # relative positions
    assert not torch.allclose(a[:, 66:132], b[:, 66:132], atol=1e-3)  # velocity at the drop


def test_frames_without_a_person_give_zero_features() -> None:
    f = normalise(_person())
    assert not f[0, :, 2].any()  # frame 2: nothing, not even a velocity
    assert not f[0, 66:132, 3].any()  # frame 3's velocity: the frame before had no one
    empty = normalise(torch.zeros(2, 4, 6, 33))
    assert not empty.any() and torch.isfinite(empty).all()


def test_no_person_at_all_runs_and_trains() -> None:
    model = build_model("pose_tcn", num_classes=3, num_frames=6, width=8)
    x = torch.zeros(2, 4, 6, 33, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_any_number_of_frames_and_clear_refusals() -> None:
    model = build_model("pose_tcn", num_classes=2, width=8).eval()
    for T in (1, 24, 37):
        assert model(torch.rand(3, 4, T, 33)).shape == (3, 2)
    with pytest.raises(ModelError, match="in_channels must be 4"):
        build_model("pose_tcn", in_channels=2)
    with pytest.raises(ModelError, match="odd kernel"):
        build_model("pose_tcn", kernel=4)


def test_exports_to_onnx_with_the_same_scores(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = build_model("pose_tcn", num_classes=2, num_frames=12, width=8).eval()
    x = _person(12)
    torch.onnx.export(model, (x,), tmp_path / "p.onnx", input_names=["input"],
                      dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    sess = ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    xs = torch.cat([x, _person(12, seed=1)])
    got = sess.run(None, {"input": xs.numpy()})[0]
    with torch.no_grad():
        want = model(xs).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
