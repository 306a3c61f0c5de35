"""Tiny test videos written by the tests themselves (PyAV), with known content.

Frame ``i`` of a "ramp" video is a flat grey of level ``10 * i`` (capped at 250) with a white
square moving 2 px right per frame, so a decoded frame's index can be read back from its mean
and the flow has a known direction.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def ramp_frames(n: int, w: int = 64, h: int = 48) -> np.ndarray:
    """n frames: grey level 10*i plus a 12x12 white square moving 2 px right per frame."""
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        frames[i] = min(10 * i, 200)
        x = 4 + 2 * i
        frames[i, 18:30, x % (w - 12) : x % (w - 12) + 12] = 255
    return frames


def level_of(frame: np.ndarray) -> int:
    """The frame index encoded by :func:`ramp_frames` (from the background level)."""
    return int(round(float(np.median(frame[:, :, 0])) / 10))


def write_video(path: Path, frames: np.ndarray, fps: int = 25, codec: str = "libx264") -> Path:
    """Encode RGB frames to ``path`` (mp4/avi/mkv by extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as c:
        s = c.add_stream(codec, rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if codec == "libx264":
            s.options = {"preset": "ultrafast", "crf": "10", "bf": "0"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def write_audio_only(path: Path, seconds: float = 0.5, rate: int = 8000) -> Path:
    """An .mp4 holding a sine tone and no video stream."""
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("aac", rate=rate)
        s.layout = "mono"
        n = 1024
        for k in range(int(seconds * rate / n)):
            t = (np.arange(n) + k * n) / rate
            samples = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = rate
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path



