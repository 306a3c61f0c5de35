"""Product (b): Stanford40-style stills, single poses sampled from each action."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from actionlab.io import atomic_path, write_json_atomic, write_text_atomic
from actionlab.synth.clips import rng_for
from actionlab.synth.contact import contact_sheet
from actionlab.synth.output import Writer
from actionlab.synth.figure import sample_appearance
from actionlab.synth.motions import CLASSES, active_window, make_motion
from actionlab.synth.scene import make_scene, render

_T = 64  # length of the motion a still's pose is drawn from
_FPS = 25.0


@dataclass(frozen=True)
class StillTask:
    root: str
    cls: str
    index: int  # 1-based within the class
    size: tuple[int, int]
    difficulty: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.cls}_{self.index:03d}.jpg"


def _xml(name: str, cls: str, box: list[float], size: tuple[int, int]) -> str:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return (f"<annotation><filename>{name}</filename><object><action>{cls}</action>"
            f"<bndbox><xmax>{x1}</xmax><xmin>{x0}</xmin><ymax>{y1}</ymax><ymin>{y0}</ymin>"
            f"</bndbox><name>person</name></object><size><depth>3</depth>"
            f"<height>{size[1]}</height><width>{size[0]}</width></size>"
            "</annotation>\n")  # fmt: skip


def make_still(task: StillTask) -> dict:
    """Render one still: a random frame from inside the action of a fresh motion."""
    rng = rng_for(task.seed, "stills", CLASSES.index(task.cls), task.index)
    app = sample_appearance(rng)
    window = active_window(_T, rng, task.difficulty)
    motion = make_motion(task.cls, _T, _FPS, window, rng, app)
    scene = make_scene(rng, _T, task.size, task.difficulty, motion.extent)
    i = int(rng.integers(window[0], window[1]))
    frames, boxes = render(motion, app, scene, task.size, rng, frames=range(i, i + 1))
    root = Path(task.root)
    with atomic_path(root / "JPEGImages" / task.name) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])  # fmt: skip
    box = np.clip(boxes[0], 0, [task.size[0] - 1, task.size[1] - 1] * 2).round(1).tolist()
    stem = task.name[:-4]
    xml = _xml(task.name, task.cls, box, task.size)
    write_text_atomic(root / "XMLAnnotations" / f"{stem}.xml", xml)
    return {"image": task.name, "class": task.cls, "frame_of_motion": i, "bbox": box,
            "seed": [task.seed, 2, CLASSES.index(task.cls), task.index],
            "yaw": float(motion.pose["yaw"][i]), "motion": motion.params,
            "_img": frames[0]}  # fmt: skip


def write_stills(
    root: Path, classes: list[str], stills_per_class: int, size: tuple[int, int], difficulty: str,
    seed: int,
) -> Writer:
    """Write JPEGImages/, XMLAnnotations/, ImageSplits/ (Stanford40 formats), annotations.json."""
    tasks = [StillTask(str(root), c, i + 1, size, difficulty, seed)
             for c in classes for i in range(stills_per_class)]  # fmt: skip
    anns = yield make_still, tasks
    n_train = max(1, round(stills_per_class * 0.6)) if stills_per_class > 1 else 1
    rows = []
    for a in anns:
        img = a.pop("_img")
        idx = int(a["image"][-7:-4])
        a["split"] = "train" if idx <= n_train else "test"
        if idx <= 8:
            rows.append((a["class"], img))
    splits = root / "ImageSplits"
    lines = ["action_name\tnumber_of_images\n"] + [f"{c}\t{stills_per_class}\n" for c in classes]
    write_text_atomic(splits / "actions.txt", "".join(lines))
    for c in classes:
        for split in ("train", "test"):
            names = [a["image"] for a in anns if a["class"] == c and a["split"] == split]
            write_text_atomic(splits / f"{c}_{split}.txt", "".join(f"{n}\n" for n in names))
    write_json_atomic(root / "annotations.json", {
        "product": "stills", "classes": classes, "size": list(size), "difficulty": difficulty,
        "seed": seed, "stills_per_class": stills_per_class, "images": anns})  # fmt: skip
    sheet = [(c, np.stack([img for cc, img in rows if cc == c])) for c in classes]
    contact_sheet(root / "contact_sheet.png", sheet)
    return anns
