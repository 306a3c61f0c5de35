"""Per-class motions: joint angles over time, the prop to draw, and what was sampled.

Every class builds on the same idle stance (small sway, class-independent). Three pairs of
classes are *motion-only*: both members drive the same pose path with parameters drawn from the
same distribution, hold the same kind of object, and visit the same multiset of poses per clip;
only the order and rhythm differ, and whether the figure travels (see ``MOTION_PAIRS`` and
``docs/synth.md``):

* drinking / smoking: hand-to-mouth level ``s``; one slow raise, long hold, slow lower versus
  ``k`` quick touches, each a time-scaled copy (raise r/k, hold h/k, lower r/k) with pauses.
  Time spent at every level is identical.
* waving / throwing: raised-arm level ``u`` from cocked (hand behind the head, torso leaning
  back, free arm pointing ahead) to extended (torso forward, free arm pulled back). Waving
  oscillates smoothly (5 or 7 strokes); throwing re-orders a waving clip's values into one or
  two throws of long wind-up hold, snap forward, hold and return (rank re-mapping onto a
  template), so the multiset of values is equal.
* running / jumping: leg-cycle phase ``phi`` with the same pose and bounce at each phase.
  Running advances the phase steadily and travels forward at the speed its strides imply, the
  camera panning to keep the runner in frame, as in real running footage; jumping (step-hop)
  sweeps each half stride forward, back and forward again on the spot. Both visit every phase
  equally often at the same speed; a single frame shows the same figure on the same kind of
  background, only the motion (the scrolling background) tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from actionlab.synth.figure import POSE_KEYS, Appearance

CLASSES: tuple[str, ...] = (
    "applauding", "climbing", "drinking", "jumping", "pouring", "riding_bike",
    "riding_horse", "running", "shooting", "smoking", "throwing", "waving",
)  # fmt: skip

MOTION_PAIRS: tuple[tuple[str, str], ...] = (
    ("drinking", "smoking"),
    ("waving", "throwing"),
    ("running", "jumping"),
)

# Classes whose figure is seen roughly from the front (others roughly in profile).
_FRONTAL = {"applauding", "climbing"}


@dataclass
class Motion:
    """A class's motion over ``T`` frames.

    Attributes:
        pose: One float array of length T per key of :data:`POSE_KEYS` (degrees; dy in body units).
        prop: Kind of prop (``None``, "held", "ball", "jug", "gun", "bow", "bike", "horse",
            "ladder") with its parameters; per-frame arrays under ``"t_*"`` keys.
        ground: Stand on the ground (lowest point at y=0) rather than at a fixed hip height.
        hip_height: Hip height above the ground (body units) when ``ground`` is False.
        extent: Height of the whole scene (figure plus prop) in body units, for framing.
        params: What was sampled (JSON-safe), recorded in the annotations.
    """

    pose: dict[str, np.ndarray]
    prop: dict = field(default_factory=lambda: {"kind": None})
    ground: bool = True
    hip_height: float = 0.0
    extent: float = 1.0
    params: dict = field(default_factory=dict)
    x: np.ndarray | None = None  # per-frame travel of the figure in body units (+: right)
    cam_x: np.ndarray | None = None  # per-frame travel of the camera following it (body units)

    def track_range(self) -> tuple[float, float]:
        """Lowest and highest position of the tracking camera, (0, 0) for a still camera."""
        if self.cam_x is None:
            return 0.0, 0.0
        return float(min(0.0, self.cam_x.min())), float(max(0.0, self.cam_x.max()))


def smooth(x: np.ndarray) -> np.ndarray:
    """Cosine ease 0 -> 1 on [0, 1] (clipped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def lerp(a, b, s):
    return a + (b - a) * s


def idle(T: int, fps: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A standing figure with a small class-independent sway."""
    t = np.arange(T) / fps
    f, ph = rng.uniform(0.2, 0.6), rng.uniform(0, 2 * np.pi)
    sway = np.sin(2 * np.pi * f * t + ph)
    p = {k: np.zeros(T) for k in POSE_KEYS}
    p["lean"] += rng.uniform(-2, 5) + 1.5 * sway
    p["head"] += rng.uniform(-8, 8)
    for s, sg in (("l", 1), ("r", -1)):
        p[f"sh_{s}"] += rng.uniform(2, 14) + 2 * sg * sway
        p[f"ab_{s}"] += rng.uniform(5, 14)
        p[f"el_{s}"] += rng.uniform(8, 25)
        p[f"hip_{s}"] += rng.uniform(-4, 4)
        p[f"hab_{s}"] += rng.uniform(2, 7)
        p[f"kn_{s}"] += rng.uniform(0, 6)
    return p


def active_window(T: int, rng: np.random.Generator, difficulty: str) -> tuple[int, int]:
    """First and one-past-last frame of the action inside a clip."""
    slack = {"easy": 0.05, "medium": 0.2, "hard": 0.3}[difficulty]
    need = min(T, max(4, T // 2))  # the action fills at least half the clip
    a = min(int(rng.uniform(0, slack) * T), T - need)
    b = T - int(rng.uniform(0, slack) * T)
    return a, min(T, max(b, a + need))


def _seg_profile(T: int, segs: list[tuple[str, float]], start: float) -> np.ndarray:
    """Piecewise level 0..1 from segments ("up"|"hold"|"down"|"rest", duration in frames)."""
    t = np.arange(T) + 0.5
    s = np.zeros(T)
    t0 = start
    for kind, d in segs:
        m = (t >= t0) & (t < t0 + d)
        x = (t[m] - t0) / max(d, 1e-6)
        s[m] = {"up": smooth(x), "hold": 1.0 + 0 * x, "down": 1 - smooth(x), "rest": 0 * x}[kind]
        t0 += d
    return s


def reorder_like(values: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The multiset ``values`` placed in the rank order of ``template`` (same length)."""
    out = np.empty_like(values)
    out[np.argsort(template, kind="stable")] = np.sort(values)
    return out


def _side(rng: np.random.Generator) -> str:
    return "r" if rng.random() < 0.5 else "l"


def _small_object(rng: np.random.Generator, kind: str) -> dict:
    """Hand-held object; one distribution shared by both classes of a pair."""
    col = tuple(int(v) for v in rng.integers(30, 250, 3))
    return {"kind": kind, "len": float(rng.uniform(0.03, 0.08)),
            "width": float(rng.uniform(0.012, 0.035)), "angle": float(rng.uniform(-30, 30)),
            "colour": col}  # fmt: skip


# --- pair 1: drinking / smoking --------------------------------------------------------------


def _mouth(cls, T, fps, a, b, rng, app, p):
    L = b - a
    r, h = rng.uniform(0.12, 0.18) * L, rng.uniform(0.28, 0.4) * L
    rest = L - 2 * r - h
    side = _side(rng)
    if cls == "drinking":
        pre = rng.uniform(0.1, 0.9) * rest
        segs = [("rest", pre), ("up", r), ("hold", h), ("down", r), ("rest", rest - pre)]
        k = 1
    else:
        k = int(rng.integers(3, 5))
        gaps = rng.dirichlet(np.ones(k + 1)) * rest
        segs = [("rest", gaps[0])]
        for i in range(k):
            segs += [("up", r / k), ("hold", h / k), ("down", r / k), ("rest", gaps[i + 1])]
    s = _seg_profile(T, segs, a)
    p[f"sh_{side}"] = lerp(p[f"sh_{side}"], 78.0, s)
    p[f"el_{side}"] = lerp(p[f"el_{side}"], 148.0, s)
    p[f"ab_{side}"] = lerp(p[f"ab_{side}"], 12.0, s)
    p["head"] = p["head"] - 10 * s
    prop = _small_object(rng, "held") | {"side": side}
    return Motion(p, prop, params={"touches": k, "side": side, "level": "hand_to_mouth"})


# --- pair 2: waving / throwing ---------------------------------------------------------------


def _wave_values(P: int, rng: np.random.Generator) -> np.ndarray:
    n = int(rng.choice([5, 7]))  # strokes: the arm keeps moving
    x = (np.arange(P) + 0.5) / P
    return 0.5 - 0.5 * np.cos(np.pi * n * x)


def _raised_arm(cls, T, fps, a, b, rng, app, p):
    L = b - a
    r = max(2.0, rng.uniform(0.1, 0.16) * L)
    P = max(2, int(round(L - 2 * r)))
    side = _side(rng)
    u = _wave_values(P, rng)
    if cls == "throwing":
        # template: long wind-up hold, snap forward, hold, return; once or twice
        n = int(rng.integers(1, 3))
        x = (np.arange(P) + 0.5) / P * n
        ph = x % 1.0
        tpl = np.where(ph < 0.4, 0.0, np.where(ph < 0.55, (ph - 0.4) / 0.15,
                       np.where(ph < 0.75, 1.0, 1.0 - (ph - 0.75) / 0.25)))  # fmt: skip
        tpl = tpl + 1e-3 * np.arange(P) / P * (ph < 0.4)  # break ties: wind-up creeps back
        tpl[-1] = 2.0  # end extended, like waving
        u = reorder_like(u, tpl)
    t = np.arange(T) + 0.5
    up = smooth((t - a) / r)  # rest -> cocked
    down = 1 - smooth((t - (a + r + P)) / r)  # extended -> rest
    path = np.interp(t, a + r + np.arange(P) + 0.5, u)  # cocked (0) .. extended (1)
    in_path = (t >= a + r) & (t < a + r + P)
    before = t < a + r

    def phases(rest, cocked, extended) -> np.ndarray:
        return np.where(before, lerp(rest, cocked, up),
                        np.where(in_path, lerp(cocked, extended, path), lerp(rest, extended, down)))

    # the whole body goes with the arm, as in a real throw: the torso leans back when cocked
    # and forward when extended, the free arm points ahead, then pulls back
    free = "l" if side == "r" else "r"
    p[f"sh_{side}"] = phases(p[f"sh_{side}"], 195.0, 115.0)
    p[f"el_{side}"] = phases(p[f"el_{side}"], 115.0, 10.0)
    p[f"ab_{side}"] = phases(p[f"ab_{side}"], 18.0, 18.0)
    p[f"sh_{free}"] = phases(p[f"sh_{free}"], 80.0, -25.0)
    p["lean"] = phases(p["lean"], p["lean"] - 10.0, p["lean"] + 18.0)
    prop = {"kind": "ball", "side": side, "r": float(rng.uniform(0.022, 0.036)),
            "colour": tuple(int(v) for v in rng.integers(30, 250, 3))}  # fmt: skip
    return Motion(p, prop, params={"side": side, "path_frames": P})


# --- pair 3: running / jumping ---------------------------------------------------------------


def leg_cycle(p: dict, phi: np.ndarray, amp: np.ndarray, bounce: float, stride: float) -> None:
    """Blend the running/walking cycle at phase ``phi`` into ``p`` with weight ``amp``."""
    for s, off in (("l", 0.0), ("r", np.pi)):
        q = phi + off
        hip = 12 + stride * np.sin(q)
        kn = 18 + 1.6 * stride * (0.5 + 0.5 * np.sin(q + 1.3))
        sh = 12 - 0.9 * stride * np.sin(q)
        p[f"hip_{s}"] = lerp(p[f"hip_{s}"], hip, amp)
        p[f"kn_{s}"] = lerp(p[f"kn_{s}"], kn, amp)
        p[f"sh_{s}"] = lerp(p[f"sh_{s}"], sh, amp)
        p[f"el_{s}"] = lerp(p[f"el_{s}"], 75 + 10 * np.sin(q), amp)
    p["lean"] = lerp(p["lean"], 10.0, amp)
    p["dy"] = p["dy"] + amp * bounce * (0.5 - 0.5 * np.cos(2 * phi))


def _legs(cls, T, fps, a, b, rng, app, p):
    t = np.arange(T) + 0.5
    rate = rng.uniform(2.2, 3.0) * np.pi / fps  # pi * half strides per frame
    ramp = max(2.0, rng.uniform(0.05, 0.1) * (b - a))
    amp = smooth((t - a) / ramp) * (1 - smooth((t - (b - ramp)) / ramp))
    tau = np.clip(t - a, 0, None) * rate / np.pi  # traversals of a half stride
    phi0 = rng.uniform(0, 2 * np.pi)
    if cls == "running":
        phi = phi0 + np.pi * tau
    else:  # step-hop: each half stride forward, back, forward, then the next
        k, j = np.floor(tau / 3), np.floor(tau % 3)
        frac = tau % 1.0
        phi = phi0 + np.pi * (k + np.where(j == 1, 1 - frac, frac))
    bounce = rng.uniform(0.03, 0.07)
    stride = rng.uniform(30, 42)
    leg_cycle(p, phi, amp, bounce, stride)
    params = {"half_strides_per_s": float(rate * fps / np.pi)}
    if cls != "running":
        return Motion(p, params=params)
    # the runner covers one step (the foot's sweep from +stride to -stride) per half stride,
    # towards the side it faces; the camera pans along (a tracking shot), so the figure keeps
    # its place in the frame and the background scrolls past
    step = 2 * (app.thigh + app.shank) * np.sin(np.radians(stride))
    x = np.cumsum(np.sign(p["yaw"]) * amp * step * rate / np.pi)
    return Motion(p, x=x, cam_x=x.copy(), params={**params, "travel": float(x[-1])})


# --- classes recognisable from one frame -----------------------------------------------------


def _ik2(tx: np.ndarray, ty: np.ndarray, l1: float, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-link leg reaching (tx, ty) from the hip (y up): (hip flexion, knee flexion) degrees."""
    d = np.clip(np.hypot(tx, ty), 1e-4, (l1 + l2) * 0.999)
    base = np.degrees(np.arctan2(tx, -ty))
    al = np.degrees(np.arccos(np.clip((l1**2 + d**2 - l2**2) / (2 * l1 * d), -1, 1)))
    be = np.degrees(np.arccos(np.clip((l2**2 + d**2 - l1**2) / (2 * l2 * d), -1, 1)))
    return base + al, al + be


def _applauding(cls, T, fps, a, b, rng, app, p):
    t = np.arange(T) + 0.5
    amp = smooth((t - a) / 3) * (1 - smooth((t - b + 3) / 3))
    f = rng.uniform(2.5, 4.0)
    clap = 0.5 + 0.5 * np.cos(2 * np.pi * f * (t - a) / fps)  # 1 = hands together
    for s in ("l", "r"):
        p[f"sh_{s}"] = lerp(p[f"sh_{s}"], rng.uniform(25, 45), amp)
        p[f"el_{s}"] = lerp(p[f"el_{s}"], 100.0, amp)
        p[f"ab_{s}"] = lerp(p[f"ab_{s}"], lerp(25.0, -30.0, clap), amp)
    return Motion(p, params={"claps_per_s": float(f)})


def _climbing(cls, T, fps, a, b, rng, app, p):
    t = np.arange(T) + 0.5
    rate = rng.uniform(0.6, 1.1)
    phi = 2 * np.pi * rate * np.clip(t - a, 0, b - a) / fps + rng.uniform(0, 2 * np.pi)
    rise = 0.12 * rate * np.clip(t - a, 0, b - a) / fps
    for s, off in (("l", 0.0), ("r", np.pi)):
        q = phi + off
        p[f"sh_{s}"] = 155 + 22 * np.sin(q)
        p[f"ab_{s}"] = 16 + 0 * q
        p[f"el_{s}"] = 25 + 25 * (0.5 - 0.5 * np.sin(q))
        p[f"hip_{s}"] = 35 + 30 * np.sin(q + np.pi)
        p[f"kn_{s}"] = 45 + 40 * np.sin(q + np.pi)
        p[f"hab_{s}"] = 10 + 0 * q
    p["lean"] = p["lean"] * 0 + 4
    prop = {"kind": "ladder", "rung": float(rng.uniform(0.13, 0.17)), "t_rise": rise,
            "colour": tuple(int(v) for v in rng.integers(60, 200, 3))}  # fmt: skip
    return Motion(p, prop, ground=False, hip_height=0.5, extent=1.25,
                  params={"cycles_per_s": float(rate)})  # fmt: skip


def _pouring(cls, T, fps, a, b, rng, app, p):
    t = np.arange(T) + 0.5
    L = b - a
    arm = smooth((t - a) / (0.15 * L)) * (1 - smooth((t - b + 0.15 * L) / (0.15 * L)))
    tilt = smooth((t - a - 0.2 * L) / (0.25 * L)) * (1 - smooth((t - b + 0.35 * L) / (0.2 * L)))
    side = _side(rng)
    other = "l" if side == "r" else "r"
    p[f"sh_{side}"] = lerp(p[f"sh_{side}"], 70.0, arm)
    p[f"el_{side}"] = lerp(p[f"el_{side}"], 30.0, arm)
    p[f"sh_{other}"] = lerp(p[f"sh_{other}"], 35.0, arm)
    p[f"el_{other}"] = lerp(p[f"el_{other}"], 70.0, arm)
    p["lean"] = p["lean"] + 6 * arm
    prop = {"kind": "jug", "side": side, "t_tilt": tilt * rng.uniform(70, 105),
            "colour": tuple(int(v) for v in rng.integers(40, 240, 3)),
            "liquid": tuple(int(v) for v in rng.integers(60, 230, 3)),
            "size": float(rng.uniform(0.07, 0.1))}  # fmt: skip
    return Motion(p, prop, params={"side": side})


def _shooting(cls, T, fps, a, b, rng, app, p):
    t = np.arange(T) + 0.5
    amp = smooth((t - a) / 5) * (1 - smooth((t - b + 5) / 5))
    bow = bool(rng.random() < 0.5)
    n = int(rng.integers(1, 4))
    lo = a + 0.25 * (b - a)
    shots = np.sort(rng.uniform(lo, max(lo, b - min(6.0, 0.2 * (b - a))), n))
    front, back = ("r", "l") if rng.random() < 0.5 else ("l", "r")
    recoil = sum(np.exp(-np.clip(t - s, 0, None) / 2.0) * (t >= s) for s in shots)
    p[f"sh_{front}"] = lerp(p[f"sh_{front}"], 88.0 + 12 * recoil, amp)
    p[f"el_{front}"] = lerp(p[f"el_{front}"], 4.0, amp)
    p[f"ab_{front}"] = lerp(p[f"ab_{front}"], 0.0, amp)
    if bow:  # draw the string back to the chin before each shot
        draw = np.zeros(T)
        for s in shots:
            draw = np.maximum(draw, smooth((t - s + 12) / 8) * (t < s))
        p[f"sh_{back}"] = lerp(p[f"sh_{back}"], 88.0, amp)
        p[f"el_{back}"] = lerp(p[f"el_{back}"], lerp(20.0, 150.0, draw), amp)
        p[f"ab_{back}"] = lerp(p[f"ab_{back}"], 5.0, amp)
    else:
        p[f"sh_{back}"] = lerp(p[f"sh_{back}"], 84.0 + 12 * recoil, amp)
        p[f"el_{back}"] = lerp(p[f"el_{back}"], 10.0, amp)
        p[f"ab_{back}"] = lerp(p[f"ab_{back}"], -22.0, amp)
        draw = np.zeros(T)
    flash = np.zeros(T)
    for s in shots:
        flash[(t >= s) & (t < s + 2)] = 1.0
    prop = {"kind": "bow" if bow else "gun", "front": front, "back": back, "t_amp": amp,
            "t_draw": draw, "t_flash": flash * (not bow)}  # fmt: skip
    return Motion(p, prop, params={"weapon": prop["kind"], "shots": [float(s) for s in shots]})


def _riding_bike(cls, T, fps, a, b, rng, app, p):
    t = np.arange(T) + 0.5
    cad = rng.uniform(0.8, 1.5)
    phi = 2 * np.pi * cad * t / fps + rng.uniform(0, 2 * np.pi)
    leg = app.thigh + app.shank
    cx, cy, cr = 0.18 * leg, -0.78 * leg, 0.16 * leg
    for s, off in (("l", 0.0), ("r", np.pi)):
        px, py = cx + cr * np.cos(phi + off), cy + cr * np.sin(phi + off)
        hip, kn = _ik2(px, py - 0.06, app.thigh, app.shank)
        p[f"hip_{s}"], p[f"kn_{s}"] = hip, kn
        p[f"sh_{s}"] = p[f"sh_{s}"] * 0 + 55.0
        p[f"el_{s}"] = p[f"el_{s}"] * 0 + 15.0
    p["lean"] = p["lean"] * 0 + rng.uniform(22, 35)
    prop = {"kind": "bike", "t_phi": phi, "crank": (cx, cy, cr),
            "colour": tuple(int(v) for v in rng.integers(20, 240, 3)), "wheel": 0.2 * leg / 0.47}
    return Motion(p, prop, ground=False, hip_height=0.78 * leg + 0.2 * leg / 0.47,
                  extent=1.15, params={"cadence_hz": float(cad)})


def _riding_horse(cls, T, fps, a, b, rng, app, p):
    t = np.arange(T) + 0.5
    f = rng.uniform(1.5, 2.2)
    phi = 2 * np.pi * f * t / fps + rng.uniform(0, 2 * np.pi)
    for s in ("l", "r"):
        p[f"hip_{s}"] = p[f"hip_{s}"] * 0 + 50.0
        p[f"hab_{s}"] = p[f"hab_{s}"] * 0 + 22.0
        p[f"kn_{s}"] = p[f"kn_{s}"] * 0 + 85.0
        p[f"sh_{s}"] = p[f"sh_{s}"] * 0 + 35.0
        p[f"el_{s}"] = p[f"el_{s}"] * 0 + 60.0
    p["lean"] = p["lean"] * 0 + 8 + 6 * np.sin(phi)
    p["dy"] = 0.03 * (0.5 + 0.5 * np.sin(phi))
    colors = [(110, 70, 40), (60, 40, 30), (200, 190, 180), (150, 110, 70), (30, 30, 30)]
    prop = {"kind": "horse", "t_phi": phi, "colour": colors[int(rng.integers(len(colors)))]}
    return Motion(p, prop, ground=False, hip_height=0.82, extent=1.4,
                  params={"gallop_hz": float(f)})


_BUILDERS = {
    "drinking": _mouth, "smoking": _mouth, "waving": _raised_arm, "throwing": _raised_arm,
    "running": _legs, "jumping": _legs, "applauding": _applauding, "climbing": _climbing,
    "pouring": _pouring, "shooting": _shooting, "riding_bike": _riding_bike,
    "riding_horse": _riding_horse,
}  # fmt: skip


def sample_yaw(cls: str, rng: np.random.Generator) -> float:
    """Facing direction in degrees (shared within each motion pair)."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if cls in _FRONTAL:
        return float(rng.uniform(-30, 30))
    return sign * float(rng.uniform(55, 90))


def roll_motion(m: Motion, shift: int) -> Motion:
    """``m`` with every per-frame track rotated ``shift`` frames later (wrapping round).

    The motion-pair builders start and end at the idle stance, so the wrap is seamless. Rotating
    by a uniform random shift makes the pose at *every* frame index (the middle frame included)
    follow the clip's overall pose distribution, which both members of a pair share by
    construction; order and rhythm, the motion cue, are kept.
    """
    pose = {k: np.roll(v, shift) for k, v in m.pose.items()}
    prop = {k: (np.roll(v, shift, axis=0) if k.startswith("t_") else v) for k, v in m.prop.items()}
    return Motion(pose, prop, ground=m.ground, hip_height=m.hip_height, extent=m.extent,
                  x=_roll_travel(m.x, shift), cam_x=_roll_travel(m.cam_x, shift),
                  params={**m.params, "roll": int(shift)})


def _roll_travel(x: np.ndarray | None, shift: int) -> np.ndarray | None:
    """Travel rotated as a velocity, so the position stays continuous across the wrap."""
    if x is None:
        return None
    return np.cumsum(np.roll(np.diff(x, prepend=0.0), shift))


def make_motion(
    cls: str, T: int, fps: float, window: tuple[int, int], rng: np.random.Generator,
    app: Appearance,
) -> Motion:
    """Build ``cls``'s motion over ``T`` frames with the action inside ``window``."""
    p = idle(T, fps, rng)
    p["yaw"] = p["yaw"] * 0 + sample_yaw(cls, rng)
    m = _BUILDERS[cls](cls, T, fps, window[0], window[1], rng, app, p)
    return m
