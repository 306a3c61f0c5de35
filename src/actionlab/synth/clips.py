"""Product (a): short clips of the 12 classes in UCF101 layout, with ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from actionlab.io import write_json_atomic, write_text_atomic
from actionlab.synth.contact import contact_sheet
from actionlab.synth.figure import sample_appearance
from actionlab.synth.motions import CLASSES, MOTION_PAIRS, active_window, make_motion, roll_motion
from actionlab.synth.output import Writer
from actionlab.synth.scene import make_scene, render
from actionlab.synth.video_writer import write_video

PRODUCT_CODE = {"clips": 1, "stills": 2, "long": 3, "actor": 4, "shake": 5}


def rng_for(seed: int, product: str, *ids: int) -> np.random.Generator:
    """An independent generator per item, so results do not depend on worker count or order."""
    return np.random.default_rng(np.random.SeedSequence([seed, PRODUCT_CODE[product], *ids]))


def actor(seed: int, cls: str, group: int):
    """The figure of group ``group`` of ``cls`` (UCF101 groups are one actor each)."""
    return sample_appearance(rng_for(seed, "actor", CLASSES.index(cls), group))


@dataclass(frozen=True)
class ClipTask:
    """Everything a worker needs to make one clip."""

    root: str
    cls: str
    group: int
    index: int  # within the class
    clip: int  # within the group
    size: tuple[int, int]
    fps: float
    frames: int
    difficulty: str
    seed: int
    keep_frames: bool = False
    shake: float = 0.0

    @property
    def rel(self) -> str:
        return f"{self.cls}/v_{self.cls}_g{self.group:02d}_c{self.clip:02d}.mp4"


_PAIRED = {c for pair in MOTION_PAIRS for c in pair}


def clip_motion(task: ClipTask) -> tuple[np.random.Generator, object, tuple[int, int], object]:
    """The random source (positioned for the scene), actor, action window and motion of a clip."""
    rng = rng_for(task.seed, "clips", CLASSES.index(task.cls), task.index)
    app = actor(task.seed, task.cls, task.group)
    window = active_window(task.frames, rng, task.difficulty)
    motion = make_motion(task.cls, task.frames, task.fps, window, rng, app)
    if task.cls in _PAIRED:
        # A uniform rotation in time: no frame index (the middle one included) tells the pair
        # apart; the action may then wrap round the clip's end (action_end > frames).
        shift = int(rng.integers(task.frames))
        motion = roll_motion(motion, shift)
        start = (window[0] + shift) % task.frames
        window = (start, start + window[1] - window[0])
    return rng, app, window, motion


def render_clip(task: ClipTask) -> tuple[np.ndarray, np.ndarray, tuple, object, object, object]:
    """Frames ``(T, H, W, 3)``, boxes, action window, motion, appearance, scene of one clip."""
    rng, app, window, motion = clip_motion(task)
    scene = make_scene(rng, task.frames, task.size, task.difficulty, motion.extent,
                       track=motion.track_range())
    frames, boxes = render(motion, app, scene, task.size, rng)
    return frames, boxes, window, motion, app, scene


def shake_frames(frames: np.ndarray, boxes: np.ndarray, strength: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hand-held camera: every frame moved by a smooth random similarity transform.

    At strength 1 the frame drifts up to 4% of its size with a jitter of 1% a frame on top,
    turns up to 2 degrees and zooms up to 4% (zoomed in, so no border shows more than
    a few pixels of replicated edge). Boxes (x0, y0, x1, y1) are moved with their corners.

    Returns:
        The moved frames, boxes, and the (T, 2, 3) affine matrices applied.
    """
    t, h, w = frames.shape[:3]

    def walk(scale: float) -> np.ndarray:  # a smooth random walk in [-scale, scale]
        steps = np.cumsum(rng.normal(0.0, 1.0, t))
        steps -= np.linspace(steps[0], steps[-1], t) * 0.5
        return scale * np.tanh(steps / max(1.0, np.abs(steps).max()) * 1.5)

    dx = walk(0.04 * w * strength) + rng.normal(0.0, 0.01 * w * strength, t)
    dy = walk(0.04 * h * strength) + rng.normal(0.0, 0.01 * h * strength, t)
    angle = walk(2.0 * strength)
    zoom = 1.0 + 0.02 * strength + walk(0.02 * strength)
    out = np.empty_like(frames)
    mats = np.empty((t, 2, 3), np.float64)
    moved = boxes.astype(np.float64).copy()
    for i in range(t):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle[i]), float(zoom[i]))
        m[:, 2] += (dx[i], dy[i])
        mats[i] = m
        out[i] = cv2.warpAffine(frames[i], m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        if boxes.ndim == 2 and boxes.shape[1] == 4:
            x0, y0, x1, y1 = boxes[i]
            corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]]) @ m.T
            moved[i] = (*corners.min(0), *corners.max(0))
    return out, moved, mats


def make_clip(task: ClipTask) -> dict:
    """Render and write one clip; return its annotation (and a few frames for the sheet)."""
    frames, boxes, window, motion, app, scene = render_clip(task)
    if task.shake > 0:  # its own random source: the clip's other draws stay as they were
        frames, boxes, _ = shake_frames(frames, boxes, task.shake,
                                        rng_for(task.seed, "shake", CLASSES.index(task.cls),
                                                task.index))
    write_video(Path(task.root) / task.rel, frames, task.fps)
    ann = {
        "path": task.rel, "class": task.cls, "group": task.group,
        "action_start": int(window[0]), "action_end": int(window[1]),
        "frames": task.frames, "fps": task.fps, "size": list(task.size),
        "seed": [task.seed, PRODUCT_CODE["clips"], CLASSES.index(task.cls), task.index],
        "yaw": float(motion.pose["yaw"][0]), "appearance": app.to_dict(),
        "motion": motion.params, "scene": scene.params(),
        "boxes": np.round(boxes, 1).tolist(),
    }  # fmt: skip
    if task.shake > 0:
        ann["shake"] = task.shake
    if task.keep_frames:
        ann["_sheet"] = frames[np.linspace(0, task.frames - 1, 8).round().astype(int)]
    return ann


def plan_groups(n: int) -> tuple[list[int], int]:
    """Group of each of ``n`` clips (4 per group, like UCF101's actors) and the test groups."""
    per = 4 if n >= 8 else 1
    groups = [i // per + 1 for i in range(n)]
    n_groups = groups[-1]
    n_test = 0 if n_groups < 2 else max(1, round(n_groups * 0.25))
    return groups, n_test


def write_clips(
    root: Path, classes: list[str], clips_per_class: int, size: tuple[int, int], fps: float,
    frames: int, difficulty: str, seed: int, shake: float = 0.0,
) -> Writer:
    """Write every clip, the split files, annotations.json and the contact sheet under ``root``."""
    tasks = []
    groups, n_test = plan_groups(clips_per_class)
    for cls in classes:
        counts: dict[int, int] = {}
        for i, g in enumerate(groups):
            counts[g] = counts.get(g, 0) + 1
            tasks.append(ClipTask(str(root), cls, g, i, counts[g], size, fps, frames, difficulty,
                                  seed, keep_frames=(i == 0), shake=shake))  # fmt: skip
    anns = yield make_clip, tasks
    sheet_rows = []
    for a in anns:
        a["split"] = "test" if a["group"] <= n_test else "train"
        a["label"] = classes.index(a["class"]) + 1  # as in classInd.txt
        if "_sheet" in a:
            sheet_rows.append((a["class"], a.pop("_sheet")))
    # UCF101 numbers the classes of *this* set from 1 in classInd.txt
    ind = {c: i + 1 for i, c in enumerate(classes)}
    write_text_atomic(root / "classInd.txt", "".join(f"{ind[c]} {c}\n" for c in classes))
    train = [f"{a['path']} {ind[a['class']]}\n" for a in anns if a["split"] == "train"]
    test = [f"{a['path']}\n" for a in anns if a["split"] == "test"]
    write_text_atomic(root / "trainlist01.txt", "".join(train))
    write_text_atomic(root / "testlist01.txt", "".join(test))
    meta = {
        "product": "clips", "classes": classes, "motion_pairs": [list(p) for p in MOTION_PAIRS],
        "size": list(size), "fps": fps, "frames": frames, "difficulty": difficulty, "seed": seed,
        "clips_per_class": clips_per_class, "clips": anns,
    }  # fmt: skip
    if shake > 0:
        meta["shake"] = shake
    write_json_atomic(root / "annotations.json", meta)
    contact_sheet(root / "contact_sheet.png", sheet_rows)
    return anns


def frames_for(frames: int | None, duration: float | None, fps: float, default: int) -> int:
    if duration is not None:
        return max(1, int(math.floor(duration * fps + 0.5)))
    return default if frames is None else frames
