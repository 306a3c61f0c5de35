"""JPEG coding of cache frames: RGB frames and quantised 8-bit flow, one JPEG per frame.

OpenCV's codec is libjpeg-turbo with SIMD (``cv2.getBuildInformation()``), the same library
the PyPI wrappers (simplejpeg, PyTurboJPEG) bind, so no extra dependency is needed.

A video's frames become one run of bytes plus an index of ``T + 1`` offsets: frame ``i`` is
``data[offsets[i]:offsets[i + 1]]``, so a reader fetches and decodes exactly the frames it
samples. Flow frames (H, W, 2) are coded as one greyscale picture, the x plane above the y
plane, each padded to a multiple of 8 rows with its last row so that no 8x8 JPEG block mixes
the two planes (TSN stores flow as greyscale JPEG too, one file per plane).
"""

from __future__ import annotations

import cv2
import numpy as np

# Chosen by benchmarks/bench_cache_codec.py (see docs/data.md): 90 keeps the mean error under
# one uint8 step on the rest of the pipeline's inputs at a fraction of the raw size.
DEFAULT_QUALITY = 90


def _pad8(n: int) -> int:
    return -(-n // 8) * 8


def flow_picture(flow_q: np.ndarray) -> np.ndarray:
    """A quantised flow frame (H, W, 2) as one greyscale (2 * H8, W) picture, x above y."""
    h = flow_q.shape[0]
    hp = _pad8(h)
    pic = np.empty((2 * hp, flow_q.shape[1]), np.uint8)
    for c in (0, 1):
        plane = pic[c * hp : (c + 1) * hp]
        plane[:h] = flow_q[..., c]
        plane[h:] = flow_q[h - 1, :, c]  # edge rows: a flat block codes without ringing
    return pic


def encode(
    frames: np.ndarray, kind: str, quality: int = DEFAULT_QUALITY
) -> tuple[np.ndarray, np.ndarray]:
    """JPEG-code every frame of a video.

    Args:
        frames: (T, H, W, 3) uint8 RGB (``kind="rgb"``) or (T, H, W, 2) uint8 quantised flow
            (``kind="flow"``).
        kind: ``"rgb"`` or ``"flow"``.
        quality: JPEG quality 1..100.

    Returns:
        ``(data, offsets)``: all frames' bytes as one uint8 array, and int64 offsets (T + 1,).
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    chunks = []
    for f in frames:
        img = cv2.cvtColor(f, cv2.COLOR_RGB2BGR) if kind == "rgb" else flow_picture(f)
        ok, buf = cv2.imencode(".jpg", img, params)
        if not ok:  # only on an impossible shape; a bug, not a user error
            raise RuntimeError(f"JPEG encoding failed for a {kind} frame of shape {f.shape}")
        chunks.append(buf.reshape(-1))
    offsets = np.zeros(len(chunks) + 1, np.int64)
    offsets[1:] = np.cumsum([len(c) for c in chunks])
    data = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    return data, offsets


def decode_into(buf: np.ndarray, kind: str, out: np.ndarray) -> bool:
    """Decode one frame's JPEG bytes into ``out`` ((H, W, 3) RGB or (H, W, 2) flow).

    Returns:
        False when the bytes are not a JPEG of that frame's shape (a damaged entry).
    """
    h, w = out.shape[:2]
    if kind == "rgb":
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR_RGB)
        if img is None or img.shape != out.shape:
            return False
        out[...] = img
        return True
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    hp = _pad8(h)
    if img is None or img.shape != (2 * hp, w):
        return False
    out[..., 0] = img[:h]
    out[..., 1] = img[hp : hp + h]
    return True


def roundtrip(frames: np.ndarray, kind: str, quality: int = DEFAULT_QUALITY) -> np.ndarray:
    """Frames as a JPEG cache at ``quality`` gives them back (what training read).

    Inference codes what it decoded (and the flow it computed) this way when the checkpoint's
    cache was JPEG, so a model sees the values it was trained on.
    """
    data, offsets = encode(frames, kind, quality)
    out = np.empty_like(frames)
    for i in range(len(frames)):
        if not decode_into(data[offsets[i] : offsets[i + 1]], kind, out[i]):
            raise RuntimeError(f"JPEG round trip failed for a {kind} frame of {frames.shape}")
    return out
