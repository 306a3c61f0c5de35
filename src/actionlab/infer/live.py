"""Recognition on a live source: a webcam, a file played at its own rate, or a network stream.

A reader thread decodes frames, shrinks them to the cache's geometry (the frames
:func:`actionlab.infer.preprocess.decode_video` gives ``timeline``) and puts them in a bounded
ring that drops the oldest frame when the model falls behind. The consumer computes flow frame
by frame with the spec's method and bound (the same sequential pass ``prepare`` makes; for a
pose model, keypoints from one tracker fed every frame, likewise), keeps a
rolling window of the model's length, and every ``step`` frames classifies it through
:func:`~actionlab.infer.preprocess.preprocess`. Segments come from
:func:`actionlab.infer.segments.probs_to_segments` over the windows so far, so a file played
at its own rate gives the segments ``timeline`` gives; an event is yielded when a segment opens
(``start``) and when it can no longer grow or merge (``end``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import InputError, VideoError
from actionlab.infer.preprocess import preprocess
from actionlab.infer.runner import softmax
from actionlab.infer.timeline import TSN_WINDOW_S, parse_length

log = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://",
                   "srt://")
HISTORY_WINDOWS = 4096  # windows kept for segmenting; older ones are dropped (flat memory)


@dataclass
class Frame:
    """One decoded frame: stream time (s), arrival wall time, frames at the model's geometry."""

    t: float
    arrived: float
    small: np.ndarray
    native: np.ndarray | None = None


@dataclass
class LiveStats:
    """What a live run measured so far."""

    frames_read: int = 0
    frames_dropped: int = 0
    windows: int = 0
    reconnects: int = 0
    stream_time: float = 0.0
    busy_s: float = 0.0  # time spent on flow and the model
    started: float = field(default_factory=time.monotonic)
    latencies: deque = field(default_factory=lambda: deque(maxlen=2048))  # model, per window
    event_latencies: deque = field(default_factory=lambda: deque(maxlen=2048))

    def to_dict(self) -> dict[str, Any]:
        """Figures for a status line: the real-time factor is processing time / stream time
        (below 1 keeps up)."""
        lat = np.asarray(self.latencies) if self.latencies else np.zeros(1)
        ev = np.asarray(self.event_latencies) if self.event_latencies else None
        return {
            "status": "live",
            "stream_time": round(self.stream_time, 3),
            "wall_time": round(time.monotonic() - self.started, 3),
            "real_time_factor": round(self.busy_s / self.stream_time, 4) if self.stream_time else None,
            "latency_ms_median": round(float(np.median(lat)) * 1e3, 2),
            "latency_ms_p95": round(float(np.percentile(lat, 95)) * 1e3, 2),
            "event_latency_ms_median": None if ev is None else round(float(np.median(ev)) * 1e3, 2),
            "frames_read": self.frames_read,
            "frames_dropped": self.frames_dropped,
            "windows": self.windows,
            "reconnects": self.reconnects,
        }


class FrameRing:
    """A bounded FIFO of frames: a put on a full ring drops the oldest and counts it."""

    def __init__(self, capacity: int, block: bool = False) -> None:
        self.block = block  # wait for room instead (a file read as fast as it decodes)
        self.items: deque[Frame] = deque()
        self.capacity = max(1, capacity)
        self.dropped = 0
        self.closed = False
        self.cond = threading.Condition()

    def put(self, item: Frame) -> None:
        with self.cond:
            while self.block and len(self.items) >= self.capacity and not self.closed:
                self.cond.wait(0.1)
            if len(self.items) >= self.capacity:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def get(self, timeout: float = 0.5) -> Frame | None:
        """The oldest frame; None when closed and empty, or nothing came within ``timeout``."""
        with self.cond:
            if not self.items and not self.closed:
                self.cond.wait(timeout)
            item = self.items.popleft() if self.items else None
            self.cond.notify()
            return item


def is_network(source: str) -> bool:
    """Whether ``source`` is a URL PyAV opens as a network stream."""
    return str(source).lower().startswith(NETWORK_SCHEMES)


def _open(source: str, timeout: float) -> Any:
    """Open ``source`` with PyAV: a webcam index, a network URL or a file."""
    import av

    s = str(source)
    try:
        if s.isdigit():
            return av.open(f"/dev/video{s}", format="v4l2", timeout=timeout)
        if is_network(s):
            return av.open(s, timeout=(timeout, timeout))
        if not Path(s).is_file():
            raise VideoError(s, "no such file (give a file, a webcam index or a stream URL)")
        return av.open(s)
    except (av.error.FFmpegError, OSError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        if isinstance(exc, av.error.ExitError) or "timed out" in why.lower() or "immediate exit" in why.lower():
            why = f"no data within {timeout:g} s (timeout)"
        raise VideoError(s, f"cannot open the source: {why}") from None


class Reader(threading.Thread):
    """Decodes a source into a :class:`FrameRing`, pacing files, reconnecting streams.

    Args:
        source: A webcam index, a network URL or a video file.
        ring: Where frames go.
        size_of: Maps a native (W, H) to the model's decode (W, H).
        speed: Play a file at this many times its rate (0: as fast as it decodes).
        keep_native: Also keep full-size frames (for ``--out``).
        timeout: Seconds to wait for a stream to open or send data.
        reconnects: Attempts to reopen a network stream that dropped (back-off 0.5 s, doubling
            to 8 s).
    """

    def __init__(self, source: str, ring: FrameRing, size_of: Callable[[int, int], tuple[int, int]],
                 speed: float = 1.0, keep_native: bool = False, timeout: float = 10.0,
                 reconnects: int = 5) -> None:
        super().__init__(daemon=True, name="actionlab-live-reader")
        self.source, self.ring, self.size_of = str(source), ring, size_of
        self.speed, self.keep_native, self.timeout = speed, keep_native, timeout
        self.reconnect_limit = reconnects
        self.network = is_network(self.source)
        self.error: Exception | None = None
        self.fps = 25.0
        self.reconnects = 0
        self.frames = 0
        self.stop = threading.Event()
        self.opened = threading.Event()

    def open_first(self) -> None:
        """Open the source once in the caller's thread so that a bad source fails there."""
        self._container = _open(self.source, self.timeout)
        stream = self._container.streams.video[0] if self._container.streams.video else None
        if stream is None:
            self._container.close()
            raise VideoError(self.source, "no video stream in the source")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 25.0

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # handed to the consumer, which raises it in its thread
            self.error = exc
        finally:
            self.ring.close()

    def _loop(self) -> None:
        import av

        container, offset, last = self._container, 0.0, -1.0
        attempts = 0
        while not self.stop.is_set():
            got = 0
            try:
                t0, first = time.monotonic(), None
                for frame in container.decode(video=0):
                    if self.stop.is_set():
                        break
                    t = frame.time if frame.time is not None else got / self.fps
                    first = t if first is None else first
                    t = offset + t - first
                    if t <= last:
                        t = last + 1.0 / self.fps
                    if not self.network and self.speed > 0:
                        lag = t0 + t / self.speed - time.monotonic()
                        if lag > 0:
                            time.sleep(lag)
                    self._put(frame, t)
                    last, got = t, got + 1
                    attempts = 0
            except av.error.FFmpegError as exc:
                if not self.network:
                    if self.frames == 0:
                        raise VideoError(self.source, f"no frame decodes ({exc})") from None
                    log.warning("%s: decoding stopped after %d frames: %s", self.source,
                                self.frames, exc)
            finally:
                container.close()
            if self.frames == 0 and not self.network:
                raise VideoError(self.source, "no decodable frames")
            if self.stop.is_set() or not self.network:
                return
            container, offset = self._reconnect(attempts), last + 1.0 / self.fps
            attempts = 0 if container is not None else attempts
            if container is None:
                return

    def _reconnect(self, attempts: int) -> Any:
        """Reopen a dropped stream with back-off; None after ``reconnects`` failed tries."""
        delay = 0.5
        while not self.stop.is_set() and attempts < self.reconnect_limit:
            attempts += 1
            log.warning("%s: stream dropped; reconnecting in %.1f s (try %d of %d)", self.source,
                        delay, attempts, self.reconnect_limit)
            if self.stop.wait(delay):
                return None
            try:
                container = _open(self.source, self.timeout)
                self.reconnects += 1
                return container
            except VideoError:
                delay = min(delay * 2, 8.0)
        if self.frames == 0:
            raise VideoError(self.source, f"no frame within {self.timeout:g} s (timeout)")
        return None

    def _put(self, frame: Any, t: float) -> None:
        from actionlab.data.video import frame_to_rgb, resize

        rgb = frame_to_rgb(frame)
        small = resize(rgb, self.size_of(rgb.shape[1], rgb.shape[0]))
        self.frames += 1
        self.ring.put(Frame(t, time.monotonic(), small, rgb if self.keep_native else None))


class FlowStream:
    """Quantised flow computed frame by frame, as ``prepare``'s sequential pass computes it."""

    def __init__(self, method: str, bound: float, jpeg_quality: int) -> None:
        from actionlab.data.flow import flow_step

        self.step, self.bound, self.jpeg = flow_step(method), bound, jpeg_quality
        self.prev: np.ndarray | None = None

    def push(self, frame: np.ndarray) -> np.ndarray | None:
        """The flow from the previous frame to ``frame`` (None for the first)."""
        import cv2

        from actionlab.data.codec import roundtrip
        from actionlab.data.flow import quantize

        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        prev, self.prev = self.prev, gray
        if prev is None:
            return None
        q = quantize(self.step(prev, gray), self.bound)[None]
        return (roundtrip(q, "flow", self.jpeg) if self.jpeg else q)[0]


def _runner_of(model: Any) -> Any:
    """A runner from a recognizer (``.runner``) or a runner itself."""
    runner = getattr(model, "runner", model)
    for attr in ("spec", "classes", "logits"):
        if not hasattr(runner, attr):
            raise InputError(f"{type(model).__name__}: not a recognizer or runner (no .{attr})")
    return runner


class LiveSession:
    """One live run: reader, rolling windows, segments and events; iterate :meth:`events`.

    Args:
        model: A runner (``.spec``, ``.classes``, ``.logits``) or an object with ``.runner``.
        source: A webcam index, a network URL or a video file.
        window: Window length, frames or seconds (``"2s"``); default the model's, as timeline.
        step: Step between windows; default half the window, as timeline.
        segment_kw: ``probs_to_segments`` options (threshold, min_duration, merge_gap, ...).
        buffer: Ring capacity in frames (default two windows).
        speed: File playback speed (1: its own rate; 0: as fast as possible).
        timeout: Seconds to wait for a stream to open or send a frame.
        reconnects: Reconnection attempts for a dropped network stream.
        on_frame: Called with each consumed :class:`Frame` and the current label (``--out``).
        keep_native: Keep full-size frames for ``on_frame``.
    """

    def __init__(self, model: Any, source: str | int, window: str | int | None = None,
                 step: str | int | None = None, segment_kw: dict[str, Any] | None = None,
                 buffer: int | None = None, speed: float = 1.0, timeout: float = 10.0,
                 reconnects: int = 5, on_frame: Callable[[Frame, str | None], None] | None = None,
                 keep_native: bool = False) -> None:
        self.runner = _runner_of(model)
        self.spec = self.runner.spec
        self.classes = list(self.runner.classes)
        self.segment_kw = dict(segment_kw or {})
        self.stats = LiveStats()
        self.on_frame = on_frame
        self._window_arg, self._step_arg, self._buffer = window, step, buffer
        self.ring = FrameRing(buffer or 64, block=speed == 0 and not is_network(str(source)))
        self.reader = Reader(str(source), self.ring, self._decode_size, speed, keep_native,
                             timeout, reconnects)
        self.reader.open_first()
        fps = self.reader.fps
        natural = self.spec.window_span()
        if self.spec.kind == "tsn":
            natural = max(natural, int(round(TSN_WINDOW_S * fps)))
        self.window = parse_length(window, fps, natural)
        self.step = parse_length(step, fps, max(1, self.window // 2))
        self.ring.capacity = buffer or 2 * self.window
        self.fps = fps
        self._done: set[tuple[str, float]] = set()  # (label, start) of segments that ended
        from actionlab.infer.timeline import background_class

        # as timeline's events: a background class (no_fall, not_slipping, ...) makes none
        self.background = background_class(self.classes, self.segment_kw.get("background"))

    def _decode_size(self, w: int, h: int) -> tuple[int, int]:
        return self.spec.decode_size(w, h)

    def close(self) -> None:
        """Stop the reader (idempotent)."""
        self.reader.stop.set()
        self.ring.close()

    def _classify(self, frames: deque, flows: deque, poses: deque) -> np.ndarray:
        win = np.stack([f.small for f in frames])
        flow = np.stack(list(flows)[-(len(frames) - 1):]) if self.spec.needs_flow else None
        pose = np.stack(list(poses)[-len(frames):]) if self.spec.needs_pose else None
        t0 = time.monotonic()
        probs = softmax(self.runner.logits(preprocess(win, self.spec, starts=[0], length=len(win),
                                                      flow=flow, pose=pose)))[0]
        self.stats.latencies.append(time.monotonic() - t0)
        self.stats.windows += 1
        return probs

    def _segments(self, times: list[float], probs: list[np.ndarray],
                  duration: float | None = None) -> list[dict[str, Any]]:
        from actionlab.infer.segments import probs_to_segments

        from actionlab.infer.events import segments_to_events

        kw = {**self.segment_kw, **({"duration": duration} if duration is not None else {})}
        t, p = np.asarray(times), np.stack(probs)
        segs = [x for x in probs_to_segments(t, p, self.classes, **kw)
                if x["label"] != self.background]
        for seg, ev in zip(segs, segments_to_events(segs, t, p, self.classes), strict=True):
            seg["peak"] = ev["peak"]  # same order: both sorted by (start, label)
        return segs

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield ``start`` and ``end`` events as the stream plays; returns at its end.

        Raises:
            VideoError: the source failed (cannot be read, timed out, never sent a frame).
        """
        frames: deque[Frame] = deque(maxlen=self.window)
        flows: deque[np.ndarray] = deque(maxlen=self.window)
        poses: deque[np.ndarray] = deque(maxlen=self.window)
        times: deque[float] = deque(maxlen=HISTORY_WINDOWS)
        probs: deque[np.ndarray] = deque(maxlen=HISTORY_WINDOWS)
        opened: dict[str, dict[str, Any]] = {}
        flow = (FlowStream(self.spec.flow_method, self.spec.flow_bound, self.spec.jpeg_quality)
                if self.spec.needs_flow else None)
        tracker = None
        if self.spec.needs_pose:  # one tracking pass over the stream, as prepare's over a file
            from actionlab.data.pose import PoseTracker

            tracker = PoseTracker()
        t_first, since, last_start = None, 0, None
        self.reader.start()
        try:
            while True:
                fr = self.ring.get(timeout=0.5)
                self.stats.frames_dropped = self.ring.dropped
                if fr is None:
                    if self.ring.closed:
                        break
                    continue
                t_first = fr.t if t_first is None else t_first
                busy = time.monotonic()
                if flow is not None:
                    f = flow.push(fr.small)
                    if f is not None:
                        flows.append(f)
                if tracker is not None:
                    poses.append(tracker.push(fr.small))
                frames.append(fr)
                self.stats.frames_read += 1
                self.stats.stream_time = fr.t - t_first + 1.0 / self.fps
                since += 1
                if len(frames) == self.window and (last_start is None or since >= self.step):
                    since, last_start = 0, fr.t
                    times.append(self._centre(frames, t_first))
                    probs.append(self._classify(frames, flows, poses))
                    self.stats.busy_s += time.monotonic() - busy
                    yield from self._update(times, probs, opened, fr)
                else:
                    self.stats.busy_s += time.monotonic() - busy
                if self.on_frame is not None:
                    self.on_frame(fr, next(iter(opened), None))
            if self.reader.error is not None:
                raise self.reader.error
            yield from self._finish(frames, flows, poses, times, probs, opened, since, t_first)
        finally:
            if tracker is not None:
                tracker.close()
            self.close()
            self.stats.reconnects = self.reader.reconnects

    def _centre(self, frames: deque, t_first: float) -> float:
        """A window's centre from its frames' timestamps (as ``timeline``: first frame's time to
        the end of the last frame), so variable-rate streams get the times a player shows."""
        return (frames[0].t + frames[-1].t + 1.0 / self.fps) / 2 - t_first

    def _event(self, kind: str, seg: dict[str, Any], fr: Frame | None) -> dict[str, Any]:
        now = time.monotonic()
        ev = {"event": kind, "label": str(seg["label"]), "onset": round(float(seg["start"]), 4),
              "start": round(float(seg["start"]), 4)}
        if kind == "end":
            ev["end"] = round(float(seg["end"]), 4)
            if "peak" in seg:
                ev["peak"] = round(float(seg["peak"]), 4)
        ev["score"] = round(float(seg["score"]), 6)
        ev["stream_time"] = round(self.stats.stream_time, 4)
        ev["wall_time"] = round(time.time(), 3)
        if fr is not None:
            ev["latency_s"] = round(now - fr.arrived, 4)
            self.stats.event_latencies.append(now - fr.arrived)
        return ev

    def _update(self, times: deque, probs: deque, opened: dict[str, dict[str, Any]],
                fr: Frame, duration: float | None = None) -> Iterator[dict[str, Any]]:
        segs = self._segments(list(times), list(probs), duration)
        last_edge = self.stats.stream_time if duration is None else duration
        tip = times[-1] if duration is None else float("-inf")  # at the end: every segment
        gap = float(self.segment_kw.get("merge_gap", 0.0))
        for seg in segs:  # the newest window lies in an open segment (or the stream ended)
            key = (seg["label"], round(float(seg["start"]), 3))
            if seg["label"] not in opened and seg["end"] >= tip and key not in self._done:
                opened[seg["label"]] = seg
                yield self._event("start", seg, fr)
        for label in list(opened):
            mine = [s for s in segs if s["label"] == label and s["end"] >= opened[label]["start"]]
            if not mine:
                continue
            seg = {**mine[-1], "start": min(s["start"] for s in mine)}
            still = seg["end"] >= times[-1] or last_edge - seg["end"] <= gap
            if duration is not None or not still:
                del opened[label]
                self._done.add((label, round(float(seg["start"]), 3)))
                yield self._event("end", seg, fr)

    def _finish(self, frames: deque, flows: deque, poses: deque, times: deque, probs: deque,
                opened: dict[str, dict[str, Any]], since: int, t_first: float | None
                ) -> Iterator[dict[str, Any]]:
        """At the end of the stream: the window ending at the last frame (as timeline adds)
        when the step left one out, then every open segment ends."""
        if t_first is None:
            raise VideoError(self.reader.source, "the source ended before sending a frame")
        fr = frames[-1]
        if since and len(frames) == self.window:
            times.append(self._centre(frames, t_first))
            probs.append(self._classify(frames, flows, poses))
        if not times:  # shorter than one window: one window over what came, as timeline pads
            times.append(len(frames) / 2 / self.fps)
            probs.append(self._classify(frames, flows, poses))
        yield from self._update(times, probs, opened, fr, duration=self.stats.stream_time)


def stream_events(model: Any, source: str | int, step: str | int | None = None,
                  **kw: Any) -> Iterator[dict[str, Any]]:
    """Events (``start``/``end`` of each segment) of ``model`` on a live ``source``.

    Args:
        model: A recognizer (with ``.runner``) or a runner.
        source: A webcam index, a network URL or a video file (played at its own rate).
        step: Step between windows, frames or seconds; default half the window.
        **kw: More :class:`LiveSession` options (``window``, ``segment_kw``, ``buffer``,
            ``speed``, ``timeout``, ``reconnects``).

    Yields:
        ``{"event", "label", "onset", "start", ["end"], "score", "stream_time", "wall_time",
        "latency_s"}`` dicts; times in stream seconds.
    """
    session = LiveSession(model, source, step=step, **kw)
    yield from session.events()
