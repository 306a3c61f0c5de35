"""A picture of a video's optical flow: sampled frames above their colour-coded flow."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from actionlab.data import flow as flowlib
from actionlab.data import sampling
from actionlab.data.video import probe, read_frames
from actionlab.errors import InputError, VideoError
from actionlab.io import write_bytes_atomic, writing


def flow_sheet(
    video: str | Path,
    out: str | Path,
    method: str = "dis",
    size: tuple[int, int] | None = (224, 168),
    count: int = 6,
    stride: int = 2,
) -> np.ndarray:
    """Write a sheet: ``count`` frames centred on the middle, and the flow to each next frame.

    Args:
        video: Source video.
        out: Image path (.png/.jpg).
        method: Flow method (see :data:`actionlab.data.flow.FLOW_METHODS`).
        size: Frame size (W, H).
        count: Frames shown.
        stride: Step between shown frames.

    Returns:
        The sheet, RGB uint8.
    """
    if Path(out).suffix.lower() not in {".png", ".jpg", ".jpeg"}:
        raise InputError(f"{out}: write the flow picture as .png or .jpg")
    if count < 1 or stride < 1:
        raise InputError(f"flow picture: count {count} and stride {stride} must be at least 1")
    n = probe(video).frames
    if n < 2:
        raise VideoError(video, "needs at least 2 frames for flow")
    starts = sampling.centered_clip(n - 1, count, stride)
    idx = np.stack([starts, starts + 1], axis=1).reshape(-1)  # each shown frame and its next
    frames = read_frames(video, idx, size=size)
    pairs = frames.reshape(count, 2, *frames.shape[1:])
    flows = np.stack([flowlib.compute_flow(p, method)[0] for p in pairs])  # (count, H, W, 2)
    mag = float(np.percentile(np.linalg.norm(flows, axis=-1), 99)) or 1.0
    color = flowlib.to_color(flows, mag)
    sheet = np.concatenate([np.concatenate(list(pairs[:, 0]), axis=1),
                            np.concatenate(list(color), axis=1)], axis=0)
    ok, buf = cv2.imencode(Path(out).suffix.lower(), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{out}: could not encode the picture ({sheet.shape})")
    with writing(out, "flow picture"):  # an unwritable folder, a full disk: one line
        write_bytes_atomic(out, buf.tobytes())
    return sheet
