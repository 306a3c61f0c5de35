"""A fake run dir for the report tests: every file the report reads, written by the test."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import yaml
from torch import nn

from actionlab.checkpoint import save_checkpoint

CLASSES = ["jump", "run", "wave<script>"]


class TinyLinear(nn.Module):
    def __init__(self, num_classes: int = 3, in_features: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.fc(x)


def gif_bytes() -> bytes:
    from PIL import Image

    frames = [Image.new("RGB", (8, 8), (255 * i, 0, 0)) for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


def fake_run(root: Path, name: str = "frame_run", confusion=((3, 1, 0), (0, 4, 0), (1, 0, 3)),
             fusion: str | None = None, extras: bool = True) -> Path:
    run = root / name
    run.mkdir(parents=True)
    model_cfg = {"name": "two_stream" if fusion else "tinylinear",
                 "kwargs": {"fusion": fusion} if fusion else {}}
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"name": name, "data": {"dataset": "synth", "kind": "frame"}, "model": model_cfg,
         "notes": "a <b>bold</b> & risky note"}))
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time"])
        for e in range(1, 6):
            w.writerow([e, 0.01 * 0.5 ** (e - 1), 2 / e, 1 - 0.5 / e, 1.5 / e + 0.05 * e,
                        0.5 + 0.05 * min(e, 3), 1.0])
    save_checkpoint(run / "best.safetensors", TinyLinear(),
                    {"model": {"name": "tinylinear", "kwargs": {}}, "classes": CLASSES, "epoch": 3})
    cm = np.asarray(confusion)
    top1 = float(np.trace(cm) / cm.sum())
    (run / "eval.json").write_text(json.dumps({
        "split": "test", "num_clips": 2, "crops": ["center"], "classes": CLASSES,
        "metrics": {"num_samples": int(cm.sum()), "top1": top1, "top3": 1.0,
                    "mean_class_accuracy": top1, "confusion": cm.tolist()}}))
    if extras:
        (run / "explain" / "clip1").mkdir(parents=True)
        (run / "explain" / "clip1" / "gradcam.gif").write_bytes(gif_bytes())
        (run / "timeline").mkdir()
        t = [0.5, 1.5, 2.5, 3.5]
        (run / "timeline" / "long_000.json").write_text(json.dumps({
            "video": "long_000.mp4", "fps": 25, "duration": 4.0, "classes": CLASSES,
            "times": t, "probs": [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1]],
            "segments": [{"label": "run", "start": 1.0, "end": 3.0, "score": 0.8}]}))
    return run
