"""Camera-motion compensation: a shaken static scene's flow vanishes, a moving figure's stays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actionlab.data import flow as F
from actionlab.errors import InputError
from actionlab.synth.clips import shake_frames


def _scene(t: int = 12, h: int = 120, w: int = 160, speed: float = 2.0):
    """A textured static background with a square moving ``speed`` px a frame to the right."""
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), 2.0)
    bg = cv2.normalize(bg, None, 0, 255, cv2.NORM_MINMAX)
    frames, boxes = [], []
    for i in range(t):
        f = bg.copy()
        x0 = int(round(30 + speed * i))
        f[50:80, x0:x0 + 30] = (250, 250, 40)
        f[58:72, x0 + 8:x0 + 22] = (20, 20, 200)  # texture inside the square for the flow
        frames.append(f)
        boxes.append((x0, 50, x0 + 30, 80))
    return np.stack(frames), np.asarray(boxes, float)


def _split(flow: np.ndarray, boxes: np.ndarray):
    """Mean |flow| outside every box (background), mean x-flow inside the square's core."""
    bgs, xs = [], []
    for f, (x0, y0, x1, y1) in zip(flow, boxes[:-1]):
        mask = np.ones(f.shape[:2], bool)
        mask[int(y0) - 8:int(y1) + 8, int(x0) - 8:int(x1) + 8] = False
        mask[:6], mask[-6:], mask[:, :6], mask[:, -6:] = False, False, False, False  # borders
        bgs.append(np.linalg.norm(f[mask], axis=1).mean())
        xs.append(f[int(y0) + 5:int(y1) - 5, int(x0) + 5:int(x1) - 5, 0].mean())
    return float(np.mean(bgs)), float(np.mean(xs))


def test_compensated_flow_of_a_shaken_static_scene_is_near_zero_and_the_figure_survives():
    frames, boxes = _scene()
    shaken, moved, _ = shake_frames(frames, boxes, 1.0, np.random.default_rng(3))
    raw_bg, raw_x = _split(F.compute_flow(shaken, "dis"), moved)
    comp_bg, comp_x = _split(F.compute_flow(shaken, "dis+homography"), moved)
    still_bg, still_x = _split(F.compute_flow(frames, "dis"), boxes)
    assert raw_bg > 1.0  # the shake moves the whole frame by pixels
    assert comp_bg < 0.25 * raw_bg and comp_bg < 0.4
    assert comp_x == pytest.approx(still_x, abs=0.6)  # the square's 2 px a frame
    assert still_x > 1.2


def test_compensation_leaves_a_still_camera_alone():
    frames, boxes = _scene()
    raw = F.compute_flow(frames, "dis")
    comp = F.compute_flow(frames, "dis+homography")
    assert np.abs(comp - raw).mean() < 0.05


def test_a_textureless_pair_keeps_its_flow():
    gray = np.full((40, 40), 128, np.uint8)
    flow = np.ones((40, 40, 2), np.float32)
    assert F.camera_motion(gray, flow) is None
    assert F.compensate_homography(gray, flow) is flow


def test_quantised_compensated_flow_and_the_stateful_step_agree():
    frames, boxes = _scene(t=5)
    shaken, _, _ = shake_frames(frames, boxes, 1.0, np.random.default_rng(1))
    step = F.flow_step("dis+homography")
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in shaken]
    live = np.stack([F.quantize(step(a, b), 8.0) for a, b in zip(g, g[1:])])
    np.testing.assert_array_equal(live, F.compute_flow(shaken, "dis+homography", bound=8.0))


@pytest.mark.parametrize("name", ["dis+affine", "nope", "dis+", "+homography"])
def test_unknown_method_or_compensation_is_one_clear_error(name):
    with pytest.raises(InputError, match="unknown flow method"):
        F.compute_flow(np.zeros((2, 16, 16, 3), np.uint8), name)


def test_synth_shake_moves_the_frames_and_off_keeps_the_files(tmp_path):
    from actionlab.data.video import read_video
    from actionlab.synth import generate_clips

    kw = dict(classes=["waving"], clips_per_class=1, size=(64, 48), frames=8, workers=1,
              progress=False)
    still = generate_clips(tmp_path / "a", **kw)
    again = generate_clips(tmp_path / "b", **kw, shake=0.0)
    shaken = generate_clips(tmp_path / "c", **kw, shake=1.0)
    name = "waving/v_waving_g01_c01.mp4"
    assert (still / name).read_bytes() == (again / name).read_bytes()
    a, _ = read_video(still / name)
    c, _ = read_video(shaken / name)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5
