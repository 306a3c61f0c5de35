"""An articulated figure: appearance, joint angles -> 3D points -> drawn limbs.

The body lives in its own coordinates: origin at the hip center, x forward, y up, z to the
figure's right, unit = standing height. Joint angles are in degrees: a limb's *flexion* swings
it forward from hanging straight down (90 = pointing forward, 180 = straight up), *abduction*
lifts it sideways. Arms hang from the (leaning) torso; legs from the hips. ``yaw`` turns the body
about the vertical (90 = profile facing right, 0 = facing the camera, -90 = profile facing left),
``pitch`` tips the whole body forward about the hips (falls). The figure is drawn with thick
anti-aliased lines, far limbs first and slightly darker.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

# Pose keys; every motion returns one float array of length T per key.
POSE_KEYS = (
    "lean", "head", "pitch", "yaw", "dy",
    "sh_l", "sh_r", "ab_l", "ab_r", "el_l", "el_r",
    "hip_l", "hip_r", "hab_l", "hab_r", "kn_l", "kn_r",
)  # fmt: skip


@dataclass(frozen=True)
class Appearance:
    """Body proportions and colours of one figure (an "actor")."""

    torso: float
    upper_arm: float
    forearm: float
    thigh: float
    shank: float
    head_r: float
    shoulder_w: float
    hip_w: float
    limb_w: float
    torso_w: float
    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    shoes: tuple[int, int, int]
    hair: tuple[int, int, int]

    def to_dict(self) -> dict:
        return asdict(self)


def _color(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draw body proportions and clothing colours (the same distribution for every class)."""
    skins = [(241, 194, 160), (224, 172, 130), (198, 134, 96), (141, 85, 54), (94, 60, 40)]
    hairs = [(30, 25, 20), (80, 50, 30), (160, 120, 60), (200, 190, 170), (110, 40, 20)]
    j = lambda: float(rng.uniform(0.9, 1.1))  # noqa: E731
    return Appearance(
        torso=0.30 * j(), upper_arm=0.16 * j(), forearm=0.15 * j(), thigh=0.24 * j(),
        shank=0.23 * j(), head_r=0.062 * j(), shoulder_w=0.095 * j(), hip_w=0.055 * j(),
        limb_w=0.045 * j(), torso_w=0.11 * j(),
        skin=skins[int(rng.integers(len(skins)))], shirt=_color(rng), pants=_color(rng, 10, 200),
        shoes=_color(rng, 0, 90), hair=hairs[int(rng.integers(len(hairs)))],
    )  # fmt: skip


def _limb_dir(flex: float, abd: float, side: float) -> np.ndarray:
    f, a = math.radians(flex), math.radians(abd)
    return np.array([math.sin(f) * math.cos(a), -math.cos(f) * math.cos(a), side * math.sin(a)])


def _rot_z(v: np.ndarray, deg: float) -> np.ndarray:
    """Rotate in the sagittal (x, y) plane; positive tips forward (x up -> x forward)."""
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    x, y = v[..., 0], v[..., 1]
    out = v.copy()
    out[..., 0], out[..., 1] = x * c + y * s, -x * s + y * c
    return out


def skeleton(pose: dict[str, float], app: Appearance) -> dict[str, np.ndarray]:
    """Joint positions (body coordinates, before yaw) for one frame's ``pose``."""
    lean = pose["lean"]
    up = _rot_z(np.array([0.0, 1.0, 0.0]), lean)
    neck = up * app.torso
    j: dict[str, np.ndarray] = {"hip": np.zeros(3), "neck": neck}
    head_dir = _rot_z(up, pose["head"])
    j["head"] = neck + head_dir * (app.head_r * 1.5)
    for side, s in (("l", -1.0), ("r", 1.0)):
        sh = neck - up * 0.025 + np.array([0.0, 0.0, s * app.shoulder_w])
        ua = _rot_z(_limb_dir(pose[f"sh_{side}"], pose[f"ab_{side}"], s), lean)
        fa = _rot_z(_limb_dir(pose[f"sh_{side}"] + pose[f"el_{side}"], pose[f"ab_{side}"], s), lean)
        j[f"sh_{side}"] = sh
        j[f"el_{side}"] = sh + ua * app.upper_arm
        j[f"wr_{side}"] = j[f"el_{side}"] + fa * app.forearm
        hp = np.array([0.0, 0.0, s * app.hip_w])
        th = _limb_dir(pose[f"hip_{side}"], pose[f"hab_{side}"], s)
        shk = _limb_dir(pose[f"hip_{side}"] - pose[f"kn_{side}"], pose[f"hab_{side}"], s)
        foot = _limb_dir(pose[f"hip_{side}"] - pose[f"kn_{side}"] + 90.0, 0.0, s)
        j[f"hp_{side}"] = hp
        j[f"kn_{side}"] = hp + th * app.thigh
        j[f"an_{side}"] = j[f"kn_{side}"] + shk * app.shank
        j[f"ft_{side}"] = j[f"an_{side}"] + foot * 0.065
    if pose["pitch"]:
        j = {k: _rot_z(v, pose["pitch"]) for k, v in j.items()}
    return j


def ground_offset(joints: dict[str, np.ndarray], app: Appearance) -> float:
    """Height to lift the hip so the lowest point of the body touches y = 0."""
    low = min(float(v[1]) for k, v in joints.items() if k != "head")
    low = min(low - app.limb_w / 2, float(joints["head"][1]) - app.head_r)
    return -low


def project(joints: dict[str, np.ndarray], yaw: float) -> dict[str, np.ndarray]:
    """Turn about the vertical axis: returns ``(X, Y, D)`` per joint, D = towards the camera."""
    r = math.radians(yaw)
    s, c = math.sin(r), math.cos(r)
    out = {}
    for k, v in joints.items():
        x, y, z = v
        out[k] = np.array([x * s + z * c, y, x * c - z * s])
    return out


def _shade(col: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, v * f)) for v in col)


# (from, to, colour attribute, width factor)
_LIMBS = [
    ("hp_{s}", "kn_{s}", "pants", 1.15), ("kn_{s}", "an_{s}", "pants", 1.0),
    ("an_{s}", "ft_{s}", "shoes", 0.8),
    ("sh_{s}", "el_{s}", "shirt", 1.0), ("el_{s}", "wr_{s}", "skin", 0.85),
]  # fmt: skip


class Canvas:
    """Maps body coordinates to (supersampled) pixels: ``px = origin + scale * (X, -Y)``."""

    SHIFT = 4  # cv2 fixed-point bits for sub-pixel drawing

    def __init__(self, img: np.ndarray, origin: tuple[float, float], scale: float) -> None:
        self.img, self.origin, self.scale = img, origin, scale

    def pt(self, p: np.ndarray) -> tuple[int, int]:
        k = 1 << self.SHIFT
        return (
            int(round((self.origin[0] + self.scale * p[0]) * k)),
            int(round((self.origin[1] - self.scale * p[1]) * k)),
        )

    def px(self, p: np.ndarray) -> tuple[float, float]:
        return (self.origin[0] + self.scale * p[0], self.origin[1] - self.scale * p[1])

    def line(self, a, b, col, width: float) -> None:
        w = max(1, int(round(width * self.scale)))
        cv2.line(self.img, self.pt(a), self.pt(b), col, w, cv2.LINE_AA, self.SHIFT)

    def circle(self, c, r: float, col, fill: bool = True, width: float = 0.01) -> None:
        rr = max(1, int(round(r * self.scale * (1 << self.SHIFT))))
        w = -1 if fill else max(1, int(round(width * self.scale)))
        cv2.circle(self.img, self.pt(c), rr, col, w, cv2.LINE_AA, self.SHIFT)

    def poly(self, pts, col) -> None:
        arr = np.array([self.pt(p) for p in pts], dtype=np.int32)
        cv2.fillPoly(self.img, [arr], col, cv2.LINE_AA, self.SHIFT)


def draw_figure(cv: Canvas, pj: dict[str, np.ndarray], app: Appearance) -> None:
    """Draw projected joints ``pj`` (from :func:`project`), far side first."""
    items = []  # (depth, kind, args)
    for s in ("l", "r"):
        for a, b, attr, wf in _LIMBS:
            pa, pb = pj[a.format(s=s)], pj[b.format(s=s)]
            items.append(((pa[2] + pb[2]) / 2, "limb", (pa, pb, attr, wf)))
        items.append((pj[f"wr_{s}"][2] + 0.001, "hand", (pj[f"wr_{s}"],)))
    body_d = (pj["hip"][2] + pj["neck"][2]) / 2
    items.append((body_d, "torso", ()))
    items.append((pj["head"][2] + 0.002, "head", ()))
    items.sort(key=lambda it: it[0])
    near = max(it[0] for it in items)
    far = min(it[0] for it in items)
    for depth, kind, args in items:
        f = 0.78 + 0.22 * ((depth - far) / (near - far + 1e-6))
        if kind == "limb":
            pa, pb, attr, wf = args
            cv.line(pa, pb, _shade(getattr(app, attr), f), app.limb_w * wf)
        elif kind == "hand":
            cv.circle(args[0], app.limb_w * 0.55, _shade(app.skin, f))
        elif kind == "torso":
            # hips across, then a thick torso line; the shirt covers the shoulders
            cv.line(pj["hp_l"], pj["hp_r"], app.pants, app.limb_w * 1.2)
            mid = pj["hip"] * 0.2 + pj["neck"] * 0.8
            cv.line(pj["hip"], mid, app.shirt, app.torso_w)
            cv.line(pj["sh_l"], pj["sh_r"], app.shirt, app.limb_w * 1.2)
            cv.line(mid, pj["neck"], app.shirt, app.torso_w * 0.8)
        else:
            cv.line(pj["neck"], pj["head"], app.skin, app.limb_w * 0.8)
            cv.circle(pj["head"], app.head_r, app.skin)
            hair_c = pj["head"] + np.array([0.0, app.head_r * 0.35, 0.0])
            cv.circle(hair_c, app.head_r * 0.8, app.hair)


def bbox(pj: dict[str, np.ndarray], app: Appearance) -> tuple[float, float, float, float]:
    """Body-space bounding box ``(x0, y0, x1, y1)`` (y up) of the drawn figure."""
    pts = np.array([v[:2] for v in pj.values()])
    m = app.limb_w * 0.6
    x0, y0 = pts.min(0) - m
    x1, y1 = pts.max(0) + m
    h = pj["head"]
    return (
        min(x0, h[0] - app.head_r), min(y0, h[1] - app.head_r),
        max(x1, h[0] + app.head_r), max(y1, h[1] + app.head_r),
    )  # fmt: skip
