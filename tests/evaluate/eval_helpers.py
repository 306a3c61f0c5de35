"""Tiny run dirs, checkpoints and caches for the evaluate tests (no real training)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from actionlab.checkpoint import save_checkpoint


class MeanLinear(nn.Module):
    """Mean over every dim but batch and channel, then a linear layer: takes any layout."""

    def __init__(self, num_classes: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5 and x.shape[1] != self.in_channels:  # (B, S, C, H, W)
            x = x.transpose(1, 2)
        return self.fc(x.mean(dim=tuple(range(2, x.dim()))))


METRICS = [  # epoch, lr, train_loss, train_acc, val_loss, val_acc, time
    (1, 0.01, 1.2, 0.40, 1.1, 0.45, 3.0),
    (2, 0.01, 0.9, 0.60, 0.8, 0.70, 3.0),
    (3, 0.001, 0.7, 0.75, 0.85, 0.70, 3.1),
    (4, 0.001, 0.5, 0.85, 0.9, 0.65, 3.0),
]


def write_metrics(run: Path, rows=METRICS) -> None:
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time"])
        w.writerows(rows)


def make_run(root: Path, name: str = "run_a", classes=("jump", "run", "wave"),
             confusion=None, config: dict | None = None) -> Path:
    """A run dir: config.yaml, metrics.csv, best.safetensors (MeanLinear) and eval.json."""
    import yaml

    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(
        config or {"data": {"dataset": "synth", "kind": "frame"}, "model": {"name": "meanlinear"}}))
    write_metrics(run)
    model = MeanLinear(len(classes))
    save_checkpoint(run / "best.safetensors", model,
                    {"model": {"name": "meanlinear", "kwargs": {"num_classes": len(classes)}},
                     "classes": list(classes), "epoch": 2})
    if confusion is not None:
        from actionlab.metrics import classification_metrics

        cm = np.asarray(confusion)
        labels = np.repeat(np.arange(len(cm)), cm.sum(1))
        preds = np.concatenate([np.repeat(np.arange(len(cm)), row) for row in cm])
        scores = np.eye(len(cm))[preds]
        doc = {"classes": list(classes), "metrics": classification_metrics(scores, labels)}
        (run / "eval.json").write_text(json.dumps(doc))
    return run


def tiny_cache(root: Path, classes=("jump", "run", "wave"), per_class: int = 2, frames: int = 10,
               size: int = 20) -> Path:
    """A prepared cache written directly through the data stage's writers: every video is a
    test video whose frames are saturated in its class's colour channel."""
    from actionlab.data.cache import video_file, write_entry
    from actionlab.data.manifest import Manifest, Record

    rng = np.random.default_rng(0)
    records = []
    for label, cls in enumerate(classes):
        for k in range(per_class):
            key = f"{cls}__{k}"
            rgb = rng.integers(0, 60, (frames, size, size, 3), dtype=np.uint8)
            rgb[..., label % 3] = 250
            flow = rng.integers(0, 255, (frames - 1, size, size, 2), dtype=np.uint8)
            write_entry(video_file(root, key), rgb, flow, {"frames": frames, "fps": 25.0})
            records.append(Record(f"{cls}/{k}.mp4", label, cls, "test", frames, 25.0, size, size, key))
    meta = {"prepare": {"size": [size, size], "inputs": ["rgb", "flow"], "flow_bound": 20.0}}
    Manifest(list(classes), records, "folder", str(root), meta).save(root / "manifest.json")
    return root


def colour_checkpoint(path: Path, cache: Path, kind: str = "clip", classes=("jump", "run", "wave"),
                      split: str = "1", shift: int = 0) -> Path:
    """A MeanLinear checkpoint that reads the class from the saturated colour channel, with a
    config that names ``cache`` and a 16x16 input (smaller than the frames, so crops differ);
    ``shift`` > 0 names every class ``shift`` classes off (all wrong), ``split`` is data.split."""
    from actionlab.config import load_config, to_dict

    cfg = load_config(None, [f"data.cache_dir={cache}", f"data.kind={kind}", "data.size=[16, 16]",
                             "data.frames=4", f"data.split={split}"])
    model = MeanLinear(len(classes))
    with torch.no_grad():
        model.fc.weight.copy_(torch.eye(3).roll(shift, 0) * 10.0)
        model.fc.bias.zero_()
    save_checkpoint(path, model, {"model": {"name": "meanlinear", "kwargs": {"num_classes": 3}},
                                  "classes": list(classes), "config": to_dict(cfg), "epoch": 1})
    return path
