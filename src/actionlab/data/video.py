"""Reading videos (and stills) into RGB uint8 arrays with PyAV.

Two rules shape this module. The frame count is whatever actually decodes: container headers
are often off by one (several real clips decode one frame fewer than they claim), so
:func:`probe` counts by decoding, without converting frames to RGB. And a read decodes only
what it needs: frames are decoded in order and the loop stops after the last wanted index;
only wanted frames are converted to RGB and resized.

Frames come out as they are meant to be seen: a stream's display matrix (a phone video
filmed upright is stored sideways with a rotation of -90 degrees) is applied to every frame,
and times come from the frames' timestamps, so a variable-frame-rate video reports its real
duration (:func:`frame_times` gives each frame's time in seconds).

Stills (``.jpg``, ``.png``, ...) read as one-frame videos so that image datasets such as
Stanford40 go through the same path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from actionlab.errors import VideoError

log = logging.getLogger(__name__)

VIDEO_EXTS = frozenset({".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv"})
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, measured by decoding it.

    Attributes:
        path: The file.
        frames: Number of frames that actually decode (1 for a still).
        fps: Frame rate: the stream's, or ``frames / duration`` when the timestamps
            disagree with it (variable frame rate); 0.0 for a still.
        width: Frame width in pixels, as displayed (after the stream's rotation).
        height: Frame height in pixels, as displayed.
        duration: From the first frame's timestamp to the end of the last frame, in
            seconds (``frames / fps`` when the file has no timestamps; 0.0 for a still).
    """

    path: str
    frames: int
    fps: float
    width: int
    height: int
    duration: float

    def to_dict(self) -> dict:
        return asdict(self)


def is_image(path: str | Path) -> bool:
    """True if ``path`` names a still image by its extension."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(path, "file not found; check the dataset root and the split file")
    if not path.is_file():
        raise VideoError(path, "not a file")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes); re-download or remove it from the list")


def _open(path: Path, threads: int) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    _check_file(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoError(
            path, f"not a readable video ({exc.strerror or exc}); the file is corrupt, "
            "truncated or not a video"
        ) from None
    if not container.streams.video:
        container.close()
        raise VideoError(path, "no video stream (audio-only or data file)")
    stream = container.streams.video[0]
    if threads != 1:
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
    return container, stream


def _decode(
    path: Path, threads: int, stop_after: int | None = None, meta: dict | None = None
) -> Iterator[av.VideoFrame]:
    """Yield decoded frames in order, stopping after index ``stop_after`` (inclusive).

    ``meta``, if given, receives the stream's ``fps`` once the file is open, and ``times``:
    each yielded frame's timestamp in seconds (``None`` where a frame has none).
    """
    container, stream = _open(path, threads)
    times: list[float | None] = []
    if meta is not None:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        meta["fps"] = float(rate) if rate else 0.0
        meta["times"] = times
    count = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                if meta is not None:
                    times.append(frame.time)
                yield frame
                count += 1
                if stop_after is not None and count > stop_after:
                    return
    except av.error.FFmpegError as exc:
        if count == 0:
            raise VideoError(path, f"no frame decodes ({exc.strerror or exc}); corrupt or truncated") from None
        # Damage after some good frames: keep what decoded, as ffmpeg itself would.
        log.debug("%s: decoding stopped after %d frames: %s", path, count, exc)
    finally:
        container.close()


def _display_size(path: Path) -> tuple[int, int]:
    """(W, H) of the first frame as displayed (rotation applied)."""
    for frame in _decode(path, threads=1, stop_after=0):
        w, h = frame.width, frame.height
        return (h, w) if _quarter_turns(frame) % 2 else (w, h)
    raise VideoError(path, "no frame decodes; the file is truncated or corrupt")


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns the display matrix asks for (0..3)."""
    try:
        degrees = frame.rotation  # PyAV reads the display matrix side data (CCW degrees)
    except (AttributeError, ValueError):
        return 0
    return round((degrees or 0) / 90) % 4


_ROTATE = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def frame_times(path: str | Path, threads: int = 0) -> np.ndarray:
    """Each decodable frame's time in seconds from the first frame, from its timestamp.

    For a constant frame rate this is ``i / fps``; for a variable one it is what a player
    shows. Frames without a timestamp get one from their neighbours at the stream's rate.

    Args:
        path: A video (a still gives ``[0.0]``).
        threads: Codec threads (0 = ffmpeg chooses, 1 = none).

    Returns:
        float64 array (frames,).

    Raises:
        VideoError: The file cannot be read.
    """
    path = Path(path)
    if is_image(path):
        _read_image(path)
        return np.zeros(1)
    meta: dict = {}
    n = sum(1 for _ in _decode(path, threads, meta=meta))
    if n == 0:
        raise VideoError(path, "no frame decodes; the file is truncated or corrupt")
    return _relative_times(meta["times"], meta["fps"])


def _relative_times(times: list[float | None], fps: float) -> np.ndarray:
    step = 1.0 / fps if fps else 0.0
    out = np.empty(len(times))
    prev = None
    for i, t in enumerate(times):  # fill gaps (no pts) forward at the stream's rate
        out[i] = t if t is not None else (0.0 if prev is None else prev + step)
        prev = out[i]
    return out - out[0]


def probe(path: str | Path, threads: int = 0) -> VideoInfo:
    """Measure a video (or still) by decoding it.

    Args:
        path: A video or image file.
        threads: Codec threads (0 = let ffmpeg choose, 1 = none).

    Returns:
        A :class:`VideoInfo` whose ``frames`` is the exact decodable count.

    Raises:
        VideoError: Missing, empty, not a video, no video stream, or nothing decodes.
    """
    path = Path(path)
    if is_image(path):
        img = _read_image(path)
        return VideoInfo(str(path), 1, 0.0, img.shape[1], img.shape[0], 0.0)
    meta: dict = {}
    frames = width = height = 0
    for frame in _decode(path, threads, meta=meta):
        frames += 1
        width, height = frame.width, frame.height
        if _quarter_turns(frame) % 2:  # shown turned a quarter: the displayed size swaps
            width, height = height, width
    if frames == 0:
        raise VideoError(path, "no frame decodes; the file is truncated or corrupt")
    return _info(path, frames, meta, width, height)


def _info(path: Path, frames: int, meta: dict, width: int, height: int) -> VideoInfo:
    """The info of a decoded video: duration from the timestamps, when they have any."""
    fps = float(meta.get("fps", 0.0))
    nominal = frames / fps if fps else 0.0
    times = meta.get("times") or []
    if len(times) < 2 or any(t is None for t in times):
        return VideoInfo(str(path), frames, fps, width, height, nominal)
    rel = _relative_times(times, fps)
    steps = np.diff(rel)
    step = float(np.median(steps)) if len(steps) else (1.0 / fps if fps else 0.0)
    duration = float(rel[-1]) + step  # the last frame lasts one (typical) frame
    if fps and abs(duration - nominal) <= 1.5 / fps:
        return VideoInfo(str(path), frames, fps, width, height, nominal)  # constant rate
    return VideoInfo(str(path), frames, frames / duration if duration > 0 else fps, width,
                     height, duration)


def read_video(
    path: str | Path,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, VideoInfo]:
    """Every frame and the video's measured info, in one decoding pass (what prepare uses).

    Args:
        path: Video or image file.
        size: Resize to exactly (W, H) with ``cv2.INTER_AREA``.
        short_side: Or resize so the shorter side has this length.
        threads: Codec threads (0 = ffmpeg chooses, 1 = none).

    Returns:
        Frames (T, H, W, 3) uint8 RGB, and a :class:`VideoInfo` of the *source* (its size,
        not the resized one).

    Raises:
        VideoError: The file cannot be read.
    """
    path = Path(path)
    if is_image(path):
        img = _read_image(path)
        h, w = img.shape[:2]
        return resize(img, output_size(w, h, size, short_side))[None], _info(path, 1, {}, w, h)
    meta: dict = {}
    out, width, height = [], 0, 0
    for frame in _decode(path, threads, meta=meta):
        rgb = frame_to_rgb(frame)
        height, width = rgb.shape[:2]
        out.append(resize(rgb, output_size(width, height, size, short_side)))
    if not out:
        raise VideoError(path, "no frame decodes; the file is truncated or corrupt")
    return np.stack(out), _info(path, len(out), meta, width, height)


def output_size(
    width: int, height: int, size: tuple[int, int] | None = None, short_side: int | None = None
) -> tuple[int, int]:
    """The (W, H) a frame of ``width`` x ``height`` is resized to.

    Args:
        width: Source width.
        height: Source height.
        size: Exact target (W, H); wins over ``short_side``.
        short_side: Scale so the shorter side has this length, keeping the aspect ratio.

    Returns:
        Target (W, H); the source size when neither option is given.
    """
    if size is not None:
        return int(size[0]), int(size[1])
    if short_side is not None:
        if width <= height:
            return short_side, max(1, round(height * short_side / width))
        return max(1, round(width * short_side / height)), short_side
    return width, height


def resize(img: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, C) image to (W, H) with area interpolation (no-op when equal)."""
    if (img.shape[1], img.shape[0]) == tuple(wh):
        return img
    return cv2.resize(img, wh, interpolation=cv2.INTER_AREA)


def _read_image(path: Path) -> np.ndarray:
    _check_file(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise VideoError(path, "not a readable image (corrupt or wrong extension)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# Frames cv2 can convert exactly as swscale would (BT.601, limited range), 5x faster: swscale's
# rgb24 conversion costs more than decoding a small H.264 frame.
_FAST_COLORSPACES = frozenset({2, 5, 6})  # unspecified, BT.470BG, SMPTE 170M (all BT.601)


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as displayed, (H, W, 3) uint8 RGB (fast path for BT.601 yuv420p).

    The stream's display matrix (rotation) is applied, so a sideways-stored phone video
    comes out upright.
    """
    if (
        frame.format.name == "yuv420p"
        and frame.color_range in (0, 1)
        and getattr(frame, "colorspace", 2) in _FAST_COLORSPACES
        and frame.width % 2 == 0
        and frame.height % 2 == 0
    ):
        rgb = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    else:
        rgb = frame.to_ndarray(format="rgb24")
    turns = _quarter_turns(frame)
    return cv2.rotate(rgb, _ROTATE[turns]) if turns else rgb


def read_frames(
    path: str | Path,
    indices: Sequence[int] | np.ndarray | None = None,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    threads: int = 0,
    times: list[float] | None = None,
) -> np.ndarray:
    """Decode frames of a video as RGB uint8.

    Only frames up to the largest wanted index are decoded, and only wanted frames are
    converted to RGB and resized. Indices may repeat and come in any order.

    Args:
        path: Video or image file.
        indices: Frame indices to return, in this order; ``None`` for every frame.
        size: Resize every frame to exactly (W, H) with ``cv2.INTER_AREA``.
        short_side: Or resize so the shorter side has this length (aspect kept).
        threads: Codec threads (0 = ffmpeg chooses, 1 = none; use 1 inside worker pools).
        times: A list that receives every decoded frame's presentation time in seconds from
            the first frame (as :func:`frame_times` gives), for variable-frame-rate videos.

    Returns:
        Array (T, H, W, 3) uint8, RGB.

    Raises:
        VideoError: The file cannot be read, or an index is past the last decodable frame.
    """
    path = Path(path)
    if is_image(path):
        img = _read_image(path)
        img = resize(img, output_size(img.shape[1], img.shape[0], size, short_side))
        want = np.zeros(1 if indices is None else len(indices), dtype=np.int64)
        if indices is not None and len(indices) and np.max(indices) > 0:
            raise VideoError(path, f"a still has one frame; frame {int(np.max(indices))} asked for")
        return np.repeat(img[None], len(want), axis=0)

    wanted = None if indices is None else np.asarray(indices, dtype=np.int64)
    if wanted is not None and wanted.size and wanted.min() < 0:
        raise VideoError(path, f"negative frame index {int(wanted.min())}")
    last = None if wanted is None else (int(wanted.max()) if wanted.size else -1)
    if last == -1:
        w, h = output_size(*_display_size(path), size, short_side)
        return np.zeros((0, h, w, 3), np.uint8)
    needed = None if wanted is None else set(wanted.tolist())

    got: dict[int, np.ndarray] = {}
    n = 0
    meta: dict | None = {} if times is not None else None
    for i, frame in enumerate(_decode(path, threads, stop_after=last, meta=meta)):
        n = i + 1
        if needed is None or i in needed:
            rgb = frame_to_rgb(frame)
            got[i] = resize(rgb, output_size(rgb.shape[1], rgb.shape[0], size, short_side))
    if n == 0:
        raise VideoError(path, "no frame decodes; the file is truncated or corrupt")
    if times is not None and meta is not None:
        times[:] = _relative_times(meta["times"][:n], meta["fps"]).tolist()
    if wanted is None:
        return np.stack([got[i] for i in range(n)])
    if last >= n:
        raise VideoError(path, f"frame {last} asked for but only {n} frames decode")
    return np.stack([got[int(i)] for i in wanted])
