"""Dense optical flow (Farneback, TV-L1, DIS), its uint8 quantisation, pictures and RGB difference.

Input is always RGB uint8 frames (T, H, W, 3); flow is (T-1, H, W, 2) float32 with the x
(horizontal, positive to the right) and y (vertical, positive down) displacement in pixels
from frame t to frame t+1.

A method may name a camera-motion compensation after a ``+``: ``dis+homography`` is DIS flow
with the camera's own motion removed (:func:`compensate_homography`). The full name is what
the cache, the ``InputSpec`` and inference record, so a model always sees the flow it trained on.

Quantisation follows TSN's ``dense_flow``: clip to ``[-bound, bound]`` and map linearly
onto 0..255, so 0 displacement is ~127.5 and one uint8 step is ``2 * bound / 255`` pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from actionlab.errors import InputError

# the names, checked below the data layer (configs check them too); re-exported here
from actionlab.spec import COMPENSATIONS, FLOW_METHODS, check_flow_method  # noqa: F401

DEFAULT_BOUND = 20.0

# The study's cv2.calcOpticalFlowFarneback call (the OpenCV tutorial's settings).
FARNEBACK_PARAMS = dict(
    pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
)
# A faster TV-L1: fewer scales, warps and iterations (about 5x faster than the defaults).
TVL1_FAST_PARAMS = dict(
    nscales=3, warpings=2, inner_iterations=10, outer_iterations=3, epsilon=0.05
)

Step = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (gray t, gray t+1) -> (H, W, 2) flow


def _gray(frames: np.ndarray) -> list[np.ndarray]:
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"flow needs RGB frames (T, H, W, 3), got shape {frames.shape}")
    return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]


def _pairwise(frames: np.ndarray, step: Step, bound: float | None = None) -> np.ndarray:
    """Flow of every consecutive pair: float32, or quantised uint8 when ``bound`` is given.

    Quantising pair by pair keeps one float field (in cache) instead of the whole video's: the
    float array is 4x the uint8 one, and writing it out and reading it back to quantise cost
    a third as much as DIS itself at 112x112 (benchmarks/bench_prepare.py).
    """
    gray = _gray(frames)
    t, h, w = len(gray), frames.shape[1], frames.shape[2]
    n = max(t - 1, 0)
    out = np.empty((n, h, w, 2), np.float32 if bound is None else np.uint8)
    for i in range(n):
        flow = step(gray[i], gray[i + 1])
        out[i] = flow if bound is None else quantize(flow, bound)
    return out


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def _farneback_step(**params: float) -> Step:
    p = {**FARNEBACK_PARAMS, **params}
    return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, **p)


def _tvl1_step(fast: bool) -> Step:
    algo = cv2.optflow.DualTVL1OpticalFlow_create()
    if fast:
        p = TVL1_FAST_PARAMS
        algo.setScalesNumber(p["nscales"])
        algo.setWarpingsNumber(p["warpings"])
        algo.setInnerIterations(p["inner_iterations"])
        algo.setOuterIterations(p["outer_iterations"])
        algo.setEpsilon(p["epsilon"])
    return lambda a, b: algo.calc(a, b, None)


def _dis_step(preset: str) -> Step:
    if preset not in _DIS_PRESETS:
        raise InputError(f"unknown DIS preset {preset!r}; choose one of {sorted(_DIS_PRESETS)}")
    algo = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])
    return lambda a, b: algo.calc(a, b, None)  # no buffer: a flow passed in changes the result


def farneback(frames: np.ndarray, **params: float) -> np.ndarray:
    """Farneback flow with the study's parameters (override any by keyword).

    Returns:
        (T-1, H, W, 2) float32.
    """
    return _pairwise(frames, _farneback_step(**params))


def tvl1(frames: np.ndarray, fast: bool = False) -> np.ndarray:
    """TV-L1 flow (``cv2.optflow.DualTVL1OpticalFlow``): OpenCV defaults, or a fast setting.

    Returns:
        (T-1, H, W, 2) float32.
    """
    return _pairwise(frames, _tvl1_step(fast))


def dis(frames: np.ndarray, preset: str = "ultrafast") -> np.ndarray:
    """DIS flow (``cv2.DISOpticalFlow``), preset ``"ultrafast"`` (default), ``"fast"`` or
    ``"medium"``.

    Returns:
        (T-1, H, W, 2) float32.
    """
    return _pairwise(frames, _dis_step(preset))


_STEPS: dict[str, Callable[[], Step]] = {
    "farneback": _farneback_step,
    "tvl1": lambda: _tvl1_step(False),
    "tvl1_fast": lambda: _tvl1_step(True),
    "dis": lambda: _dis_step("ultrafast"),
    "dis_fast": lambda: _dis_step("fast"),
}


def flow_step(method: str = "dis") -> Step:
    """A stateful ``(gray t, gray t+1) -> (H, W, 2)`` flow step for one video, by method name:
    fed consecutive pairs in order it gives what :func:`compute_flow` gives (live inference)."""
    base, comp = check_flow_method(method)
    step = _STEPS[base]()
    if comp == "homography":
        return lambda a, b: compensate_homography(a, step(a, b))
    return step


# Corners tracked by the flow itself are the matched points (improved dense trajectories match
# SURF points and flow-tracked corners; the flow is already there). RANSAC's inlier threshold
# is in pixels of the frame the flow was computed on.
_CORNERS = dict(maxCorners=500, qualityLevel=0.005, blockSize=5)
_RANSAC_PX = 1.0
_MIN_INLIERS = 12
_grid_cache: dict[tuple[int, int], np.ndarray] = {}


def _pixel_grid(h: int, w: int) -> np.ndarray:
    """(H*W, 1, 2) float32 pixel coordinates (x, y), cached per size."""
    g = _grid_cache.get((h, w))
    if g is None:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        g = _grid_cache[(h, w)] = np.stack([xs, ys], -1).reshape(-1, 1, 2)
    return g


def camera_motion(gray: np.ndarray, flow: np.ndarray) -> np.ndarray | None:
    """The dominant (camera) motion of a frame pair as a homography, or None when it cannot be
    told (a frame without texture, too few consistent points).

    Corners of the first frame (``cv2.goodFeaturesToTrack``) are matched to where the flow
    moves them; ``cv2.findHomography`` fits those matches with RANSAC, so the points on the
    moving people (a minority of a frame's corners) fall out as outliers: the largest moving
    regions do not pull the camera's motion with them.

    Args:
        gray: The first frame, uint8 (H, W).
        flow: Its flow to the next frame, float32 (H, W, 2) in pixels.

    Returns:
        The 3x3 homography mapping frame t's pixels to frame t+1's, or None.
    """
    h, w = gray.shape
    pts = cv2.goodFeaturesToTrack(gray, minDistance=max(3, min(h, w) // 40), **_CORNERS)
    if pts is None or len(pts) < _MIN_INLIERS:
        return None
    pts = pts.reshape(-1, 2)
    xi = np.clip(pts[:, 0].round().astype(int), 0, w - 1)
    yi = np.clip(pts[:, 1].round().astype(int), 0, h - 1)
    dst = pts + flow[yi, xi]
    H, inliers = cv2.findHomography(pts, dst, cv2.RANSAC, _RANSAC_PX)
    if H is None or int(inliers.sum()) < _MIN_INLIERS or not np.isfinite(H).all():
        return None
    return H


def compensate_homography(gray: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """The flow less the camera's motion (:func:`camera_motion`): what the scene did by itself.

    The camera's displacement of every pixel, ``H(p) - p``, is subtracted from the flow
    (first order of warping frame t+1 back by H and computing the flow again, at no second flow
    computation). A pair whose camera motion cannot be told, or whose fit is implausible (a
    pixel moved by more than a quarter of the frame), keeps its flow as it is.
    """
    H = camera_motion(gray, flow)
    if H is None:
        return flow
    h, w = gray.shape
    grid = _pixel_grid(h, w)
    cam = (cv2.perspectiveTransform(grid, H) - grid).reshape(h, w, 2)
    if not np.isfinite(cam).all() or float(np.abs(cam).max()) > max(h, w) / 4:
        return flow
    return flow - cam


def compute_flow(frames: np.ndarray, method: str = "dis", bound: float | None = None) -> np.ndarray:
    """Flow by method name: one of :data:`FLOW_METHODS`.

    ``dis`` is DIS ultrafast, ``dis_fast`` DIS fast, ``tvl1`` TV-L1 with OpenCV's defaults,
    ``tvl1_fast`` the cheaper TV-L1 setting, ``farneback`` the study's Farneback; any of them
    followed by ``+homography`` has the camera's motion removed (:func:`compensate_homography`).

    Args:
        frames: RGB uint8 (T, H, W, 3).
        method: The flow method.
        bound: If given, return the flow quantised with this bound (:func:`quantize`),
            computed pair by pair (what ``prepare`` stores; faster and 4x less memory).

    Returns:
        (T-1, H, W, 2) float32, or uint8 when ``bound`` is given.
    """
    return _pairwise(frames, flow_step(method), bound)


def quantize(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Clip flow to ``[-bound, bound]`` and scale to uint8 0..255 (TSN convention)."""
    # One cv2 max (the lower clip) and cv2's saturating convert (which caps at 255 = +bound)
    # cost a third of numpy's clip-scale-round; after the max, the "Abs" never flips a sign.
    f = np.ascontiguousarray(flow, dtype=np.float32)
    flat = f.reshape(-1, f.shape[-1]) if f.ndim > 1 else f.reshape(-1, 1)
    lower = cv2.max(flat, -float(bound))
    return cv2.convertScaleAbs(lower, alpha=255.0 / (2 * bound), beta=127.5).reshape(f.shape)


def dequantize(q: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Inverse of :func:`quantize`: uint8 back to float32 pixels (error <= bound/255)."""
    return q.astype(np.float32) * np.float32(2 * bound / 255.0) - np.float32(bound)


def to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Picture flow as RGB: hue is direction, brightness is magnitude.

    Args:
        flow: (H, W, 2) or (T, H, W, 2) float flow.
        max_magnitude: Magnitude shown at full brightness; defaults to the largest present.

    Returns:
        uint8 RGB of shape (..., H, W, 3).
    """
    if flow.ndim == 4:
        m = max_magnitude or float(np.linalg.norm(flow, axis=-1).max()) or 1.0
        return np.stack([to_color(f, m) for f in flow])
    mag, ang = cv2.cartToPolar(flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32))
    m = max_magnitude or float(mag.max()) or 1.0
    hsv = np.empty(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (ang * (90.0 / np.pi)).astype(np.uint8)  # OpenCV hue is 0..180
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / m * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def rgb_diff(frames: np.ndarray) -> np.ndarray:
    """TSN's RGB-difference modality: consecutive frame differences.

    Args:
        frames: (T, H, W, 3) uint8.

    Returns:
        (T-1, H, W, 3) float32 in [-1, 1].
    """
    f = frames.astype(np.float32) / 255.0
    return f[1:] - f[:-1]
