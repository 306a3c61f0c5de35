"""Product (c): long videos of a figure walking, standing and turning, with timed events.

``slipping`` is a sudden loss of balance: the legs shoot forward, the body tips back onto the
ground, lies there, then gets up through sitting and squatting. Other events reuse the clip
motions (waving, jumping, running). Each video has a JSON with events in seconds and the
figure's box in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionlab.io import write_json_atomic
from actionlab.synth.clips import rng_for
from actionlab.synth.contact import contact_sheet
from actionlab.synth.output import Writer
from actionlab.synth.figure import sample_appearance
from actionlab.synth.motions import _BUILDERS, Motion, idle, leg_cycle, smooth
from actionlab.synth.scene import make_scene, render
from actionlab.synth.video_writer import write_video

EXTRA_EVENTS = ("waving", "jumping", "running")

# slipping key poses: (seconds from onset, pitch, hip, knee, shoulder, elbow)
_SLIP = [
    (0.0, 0, 0, 5, 10, 15), (0.3, -30, 60, 10, 120, 30), (0.7, -86, 12, 10, 150, 20),
    (None, -88, 5, 15, 20, 10),  # lying, held
    (0.6, 0, 90, 25, 25, 10), (0.6, 18, 105, 125, 40, 30), (0.7, 0, 2, 4, 10, 15),
]  # fmt: skip


@dataclass(frozen=True)
class LongTask:
    root: str
    index: int
    size: tuple[int, int]
    fps: float
    duration: tuple[float, float]
    difficulty: str
    seed: int
    events: tuple[str, ...]


def _slip(p: dict, t0: float, fps: float, lie: float) -> float:
    """Write a slip starting at ``t0`` s into ``p``; return its end in seconds."""
    times, keys = [], []
    t = t0
    for k, (dt, *vals) in enumerate(_SLIP):
        t += lie if dt is None else dt
        times.append(t)
        keys.append(vals)
    t_all = np.arange(len(p["lean"])) / fps
    keys = np.array(keys, float)
    for j, name in enumerate(("pitch", "hip", "kn", "sh", "el")):
        # smooth piecewise interpolation between key poses
        seg = np.clip(np.searchsorted(times, t_all) - 1, 0, len(times) - 2)
        x = (t_all - np.take(times, seg)) / (np.take(times, seg + 1) - np.take(times, seg))
        val = keys[seg, j] + (keys[seg + 1, j] - keys[seg, j]) * smooth(x)
        m = (t_all >= times[0]) & (t_all < times[-1])
        for target in ([name] if name == "pitch" else [f"{name}_l", f"{name}_r"]):
            extra = 8.0 if target.endswith("_r") and name == "hip" else 0.0
            p[target] = np.where(m, val + extra, p[target])
    return times[-1]


def _timeline(rng: np.random.Generator, total: float, events: tuple[str, ...]) -> list[tuple]:
    """(kind, start, end) segments filling ``total`` seconds, with each event exactly once."""
    todo = list(events)
    rng.shuffle(todo)
    gap = (total - 2.0) / (len(todo) + 1)
    segs, t = [], rng.uniform(0.5, 1.5)
    segs.append(("stand", 0.0, t))
    for n, ev in enumerate(todo + [None]):
        until = min(total, 1.0 + gap * (n + 1))
        while t < until - 0.6:
            kind = rng.choice(["walk", "walk", "stand", "turn"])
            d = {"walk": rng.uniform(1.5, 4), "stand": rng.uniform(0.8, 2), "turn": 1.0}[kind]
            d = min(d, until - t)
            segs.append((str(kind), t, t + d))
            t += d
        if ev is not None:
            d = {"slipping": 4.8}.get(ev, rng.uniform(2.0, 3.5))
            segs.append((ev, t, t + d))
            t += d
    if t < total:
        segs.append(("stand", t, total))
    return segs


def make_long(task: LongTask) -> dict:
    rng = rng_for(task.seed, "long", task.index)
    total = float(rng.uniform(*task.duration))
    T = int(round(total * task.fps))
    fps = task.fps
    app = sample_appearance(rng)
    p = idle(T, fps, rng)
    segs = _timeline(rng, total, task.events)
    p["yaw"] = yaw = np.zeros(T)  # filled segment by segment; running reads its own part
    walk = np.zeros(T)
    run = np.zeros(T)  # a runner's travel per frame, which the camera follows
    facing = 1.0 if rng.random() < 0.5 else -1.0
    base = float(rng.uniform(65, 90))
    events, x_limit, x = [], 1.0, 0.0
    xs = np.zeros(T)
    speed = float(rng.uniform(0.35, 0.55))
    for kind, a, b in segs:
        ia, ib = int(round(a * fps)), min(T, int(round(b * fps)))
        sl = slice(ia, ib)
        if kind == "turn":
            u = smooth(np.linspace(0, 1, max(1, ib - ia)))
            yaw[sl] = base * facing * (1 - 2 * u)
            facing = -facing
            continue
        yaw[sl] = base * facing
        if kind == "walk":
            walk[sl] = 1.0
        elif kind == "slipping":
            end = _slip(p, a + 0.2, fps, lie=float(rng.uniform(0.8, 1.4)))
            events.append({"label": "slipping", "start": round(a + 0.2, 3), "end": round(end, 3)})
        elif kind in _BUILDERS:
            s0, s1 = ia + int(0.2 * fps), ib - int(0.2 * fps)
            m = _BUILDERS[kind](kind, T, fps, s0, s1, rng, app, p)
            if m.cam_x is not None:
                run += np.diff(m.cam_x, prepend=0.0)
            events.append({"label": kind, "start": round(s0 / fps, 3), "end": round(s1 / fps, 3)})
    # walking: steady phase while walking, travel along the facing direction, bounce off edges
    amp = np.convolve(walk, np.ones(5) / 5, mode="same")
    phi = np.cumsum(walk) * 2 * np.pi * 0.9 / fps
    leg_cycle(p, phi, amp * 0.7, 0.012, stride=28.0)
    for i in range(T):
        d = np.sign(yaw[i]) if abs(yaw[i]) > 30 else 0.0
        x = float(np.clip(x + walk[i] * d * speed / fps, -x_limit, x_limit))
        xs[i] = x
    cam = np.cumsum(run)
    motion = Motion(p, x=xs + cam, cam_x=cam)
    scene = make_scene(rng, T, task.size, task.difficulty, extent=1.7, track=motion.track_range())
    frames, boxes = render(motion, app, scene, task.size, rng)
    name = f"long_{task.index:03d}.mp4"
    write_video(Path(task.root) / name, frames, fps)
    info = {"video": name, "fps": fps, "frames": T, "duration": round(T / fps, 3),
            "size": list(task.size), "events": events,
            "segments": [{"kind": k, "start": round(a, 3), "end": round(b, 3)} for k, a, b in segs],
            "boxes": np.round(boxes, 1).tolist(), "seed": [task.seed, 3, task.index],
            "appearance": app.to_dict()}  # fmt: skip
    write_json_atomic(Path(task.root) / f"long_{task.index:03d}.json", info)
    pick = np.linspace(0, T - 1, 10).round().astype(int)
    ev = [e for e in events if e["label"] == "slipping"][:1]
    if ev:  # show the slip itself in the sheet's last frames
        pick[-4:] = (np.linspace(ev[0]["start"], ev[0]["end"], 4) * fps).astype(int).clip(0, T - 1)
    info_sheet = dict(info)
    info_sheet["_sheet"] = frames[np.sort(pick)]
    return info_sheet


def write_long(
    root: Path, n: int, size: tuple[int, int], fps: float, duration: tuple[float, float],
    difficulty: str, seed: int, events: tuple[str, ...] | None = None,
) -> Writer:
    """Write ``n`` long videos with their JSON and a contact sheet under ``root``."""
    tasks = []
    for i in range(n):
        extra = EXTRA_EVENTS[i % len(EXTRA_EVENTS)]
        evs = events if events is not None else ("slipping", extra) if i % 2 else ("slipping",)
        tasks.append(LongTask(str(root), i, size, fps, duration, difficulty, seed, tuple(evs)))
    infos = yield make_long, tasks
    rows = [(i["video"][:-4], i.pop("_sheet")) for i in infos]
    contact_sheet(root / "contact_sheet.png", rows)
    return infos
