"""Contact sheets: one row per class (or video), frames across, labelled on the left."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from actionlab.io import atomic_path


def contact_sheet(
    path: Path, rows: list[tuple[str, np.ndarray]], cell_h: int = 96, label_w: int = 110
) -> Path:
    """Write a PNG with one row per ``(label, frames (N, H, W, 3) RGB)``."""
    lines = []
    for label, frames in rows:
        frames = np.asarray(frames)
        scale = cell_h / frames.shape[1]
        w = max(1, int(round(frames.shape[2] * scale)))
        cells = [cv2.resize(f, (w, cell_h), interpolation=cv2.INTER_AREA) for f in frames]
        strip = np.concatenate(cells, axis=1)
        tag = np.full((cell_h, label_w, 3), 255, np.uint8)
        cv2.putText(tag, label[:16], (4, cell_h // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
        lines.append(np.concatenate([tag, strip], axis=1))
    width = max((line.shape[1] for line in lines), default=label_w)
    lines = [np.pad(line, ((0, 2), (0, width - line.shape[1]), (0, 0)), constant_values=255)
             for line in lines] or [np.full((cell_h, width, 3), 255, np.uint8)]  # fmt: skip
    img = np.concatenate(lines, axis=0)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path
