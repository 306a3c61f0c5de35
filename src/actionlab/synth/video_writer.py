"""Write RGB frames as a real H.264 mp4 (libx264, yuv420p) with PyAV, atomically."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from actionlab.errors import InputError
from actionlab.io import atomic_path


def write_video(
    path: str | Path, frames: np.ndarray, fps: float, *, crf: int = 20, preset: str = "veryfast"
) -> Path:
    """Encode ``frames`` to ``path`` as H.264 in an mp4 container.

    The file appears only when complete (written to a temporary file next to ``path``, then
    renamed). Encoding is single-threaded with fixed settings, explicit timestamps, zeroed row
    padding and x264's macroblock-tree rate control off, so the same frames give the same file.

    Args:
        path: Destination ``.mp4`` file.
        frames: ``(T, H, W, 3)`` uint8 RGB; H and W must be even (yuv420p needs it).
        fps: Frame rate; integral rates are stored exactly, others as a rational.
        crf: x264 constant rate factor (lower is better quality).
        preset: x264 speed preset.

    Returns:
        ``path``.

    Raises:
        InputError: If the array has the wrong shape, type or odd sides, or ``fps`` <= 0.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise InputError(f"{path}: frames must be (T, H, W, 3) with T >= 1, got {frames.shape}")
    if frames.dtype != np.uint8:
        raise InputError(f"{path}: frames must be uint8 RGB, got {frames.dtype}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise InputError(f"{path}: H.264 yuv420p needs even sides, got {width}x{height}")
    if not fps > 0:
        raise InputError(f"{path}: fps must be > 0, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.thread_count = 1
            # mbtree off: with it on, libx264 gave different bytes (and pixels) for the same
            # frames from one call to the next; without it the output is repeatable
            stream.options = {"crf": str(crf), "preset": preset, "threads": "1",
                              "x264-params": "mbtree=0"}  # fmt: skip
            for i, img in enumerate(frames):
                frame = _yuv_frame(img)
                # explicit timestamps and "no forced picture type": left unset, x264 was seen to
                # receive stray frame types and encode the same frames differently run to run
                frame.pts, frame.time_base = i, 1 / rate
                frame.pict_type = av.video.frame.PictureType.NONE
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


def _yuv_frame(img: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame whose row padding is zero, not left-over memory.

    libx264 reads a little past the visible width of each row; with garbage there the same
    frames encoded differently from run to run, so every plane is written in full.
    """
    yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    yuv = yuv.reformat(format="yuv420p").to_ndarray()  # (H * 3 / 2, W)
    h, w = img.shape[:2]
    planes = (yuv[:h], yuv[h : h + h // 4].reshape(h // 2, w // 2),
              yuv[h + h // 4 :].reshape(h // 2, w // 2))  # fmt: skip
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, planes):
        rows = plane.buffer_size // plane.line_size
        full = np.zeros((rows, plane.line_size), np.uint8)
        full[: data.shape[0], : data.shape[1]] = data
        plane.update(full.tobytes())
    return frame
