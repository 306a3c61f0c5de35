"""Backgrounds, camera (pan, zoom, shake), lighting and sensor noise; renders a motion to frames."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from actionlab.synth.figure import Appearance, Canvas, bbox, draw_figure, ground_offset, project
from actionlab.synth.figure import skeleton
from actionlab.synth.motions import Motion
from actionlab.synth.props import BACK, draw_back, draw_front

SS = 2  # supersampling factor for anti-aliased drawing

# (clutter items, noise std, shake px, pan, zoom, scale jitter)
_DIFFICULTY = {
    "easy": (2, 1.5, 0.0, 0.05, 0.03, 0.05),
    "medium": (6, 4.0, 0.6, 0.15, 0.08, 0.12),
    "hard": (12, 8.0, 1.5, 0.3, 0.15, 0.2),
}


@dataclass
class Scene:
    """Per-clip scene parameters: background image (world), framing, camera path, lighting."""

    bg: np.ndarray  # world image (RGB uint8), world units = output pixels * SS
    ground: float  # world y of the ground line
    x0: float  # world x of the figure's hip
    unit: float  # world pixels per body unit
    cam: np.ndarray  # (T, 3): camera centre x, y in world px, zoom
    gain: np.ndarray  # (3,) per-channel light gain
    bias: float
    noise: float

    def params(self) -> dict:
        return {"ground": float(self.ground), "x0": float(self.x0), "unit": float(self.unit),
                "gain": [float(g) for g in self.gain], "bias": float(self.bias),
                "noise": float(self.noise), "pan_px": float(self.cam[-1, 0] - self.cam[0, 0]),
                "zoom_end": float(self.cam[-1, 2] / self.cam[0, 2])}  # fmt: skip


def _texture(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    small = rng.random((max(2, h // cells), max(2, w // cells)))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def make_background(rng: np.random.Generator, h: int, w: int, horizon: float, clutter: int):
    """A world image: sky/wall gradient above ``horizon``, textured ground, random clutter."""
    top, mid = rng.integers(40, 250, 3), rng.integers(40, 250, 3)
    gnd = rng.integers(30, 200, 3)
    y = np.linspace(0, 1, h)[:, None, None]
    img = top * (1 - y) + mid * y
    hz = int(horizon)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    g2 = rng.integers(30, 200, 3)
    yy = np.linspace(0, 1, max(1, h - hz))[:, None, None]
    img[hz:] = gnd * (1 - yy) + g2 * yy
    tex = _texture(rng, h, w, int(rng.integers(4, 24)))[..., None]
    img = img * (0.8 + 0.4 * tex)
    for _ in range(clutter):
        c = tuple(int(v) for v in rng.integers(20, 240, 3))
        x, yc = int(rng.uniform(0, w)), int(rng.uniform(0.1 * h, hz + 0.1 * h))
        s = int(rng.uniform(0.03, 0.15) * h)
        if rng.random() < 0.5:
            cv2.rectangle(img, (x - s, yc - 2 * s), (x + s, hz), c, -1, cv2.LINE_AA)
        else:
            cv2.circle(img, (x, yc), s, c, -1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_scene(
    rng: np.random.Generator, T: int, size: tuple[int, int], difficulty: str, extent: float,
    track: tuple[float, float] = (0.0, 0.0),
) -> Scene:
    """Sample a scene for a ``size`` (W, H) output of ``T`` frames.

    Args:
        extent: Height of figure plus prop in body units (framing).
        track: Lowest and highest position (body units) of a camera that follows the figure
            (``Motion.cam_x``): the world is widened to hold the whole tracking shot and
            centred on it.
    """
    clutter, noise, shake, pan, zoom, jit = _DIFFICULTY[difficulty]
    W, H = size[0] * SS, size[1] * SS
    # a figure is at most 0.96 H per body unit (fig_frac below)
    bw, bh = int(W * 1.6 + (track[1] - track[0]) * 0.96 * H), int(H * 1.4)
    ground = bh * rng.uniform(0.72, 0.8)
    bg = make_background(rng, bh, bw, ground - H * rng.uniform(0.15, 0.4), clutter)
    fig_frac = rng.uniform(0.6, 0.8) * (1 + rng.uniform(-jit, jit)) / max(extent, 1.0)
    unit = H * fig_frac
    mid = bw / 2 - unit * (track[0] + track[1]) / 2  # the tracking shot's path is centred
    x0 = mid + W * rng.uniform(-0.12, 0.12)
    t = np.linspace(0, 1, T)
    cx = mid + W * rng.uniform(-0.08, 0.08) + W * pan * rng.uniform(-1, 1) * t
    cy = ground - unit * extent * 0.5 - H * rng.uniform(-0.05, 0.05)
    z = 1 + zoom * rng.uniform(-1, 1) * t
    cam = np.stack([cx, np.full(T, cy), z], 1)
    cam[:, :2] += rng.normal(0, shake * SS, (T, 2))
    gain = rng.uniform(0.7, 1.2) * rng.uniform(0.9, 1.1, 3)
    return Scene(bg, ground, x0, unit, cam, gain, float(rng.uniform(-15, 15)), noise)


def render(
    motion: Motion, app: Appearance, scene: Scene, size: tuple[int, int],
    rng: np.random.Generator, frames: range | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``motion``: (T, H, W, 3) uint8 RGB frames and figure boxes (T, 4): x0, y0, x1, y1."""
    W, H = size
    T = len(next(iter(motion.pose.values())))
    idx = range(T) if frames is None else frames
    out = np.empty((len(idx), H, W, 3), np.uint8)
    boxes = np.zeros((len(idx), 4))
    for n, i in enumerate(idx):
        out[n], boxes[n] = _frame(motion, app, scene, size, i, rng)
    return out, boxes


def _frame(motion, app, scene, size, i, rng):
    W, H = size[0] * SS, size[1] * SS
    cx, cy, z = scene.cam[i]
    if motion.cam_x is not None:  # a tracking shot
        cx += float(motion.cam_x[i]) * scene.unit
    M = np.array([[z, 0, W / 2 - z * cx], [0, z, H / 2 - z * cy]])
    img = cv2.warpAffine(scene.bg, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    pose = {k: float(v[i]) for k, v in motion.pose.items()}
    joints = skeleton(pose, app)
    lift = (ground_offset(joints, app) if motion.ground else motion.hip_height) + pose["dy"]
    if motion.prop.get("kind") == "ladder":
        lift += float(motion.prop["t_rise"][i])
    for v in joints.values():
        v[1] += lift
    pj = project(joints, pose["yaw"])
    wx = scene.x0 + (0.0 if motion.x is None else float(motion.x[i]) * scene.unit)
    origin = (M[0, 0] * wx + M[0, 2], M[1, 1] * scene.ground + M[1, 2])
    cv = Canvas(img, origin, scene.unit * z)
    kind = motion.prop.get("kind")
    if kind in BACK:
        draw_back(cv, motion.prop, i, pose["yaw"], lift)
    draw_figure(cv, pj, app)
    if kind and kind not in BACK:
        draw_front(cv, motion.prop, i, pj)
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    small = small * scene.gain.astype(np.float32) + np.float32(scene.bias)
    small += rng.standard_normal(small.shape, dtype=np.float32) * np.float32(scene.noise)
    x0, y0, x1, y1 = bbox(pj, app)
    (px0, py1), (px1, py0) = cv.px((x0, y0)), cv.px((x1, y1))
    box = np.array([px0, py0, px1, py1]) / SS
    return np.clip(small, 0, 255).astype(np.uint8), box
