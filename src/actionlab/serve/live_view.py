"""The page's live view: one stream watched in the background (``actionlab serve --live SOURCE``).

A :class:`LiveView` opens the source at once (so a source that cannot be opened is one clear
line before the server starts), then runs :class:`actionlab.infer.live.LiveSession` on a thread
of its own: the events it yields are kept (the newest ``max_events``), and the latest frame,
captioned with the label of the open segment, is kept as a JPEG at most every ``jpeg_every``
seconds. The page polls ``/api/live`` (events, the current label, the session's figures) and
reloads ``/api/live/frame.jpg``; nothing grows with the stream's length.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import cv2
import numpy as np

from actionlab.errors import ActionlabError
from actionlab.infer.live import Frame, LiveSession
from actionlab.infer.outputs import draw_caption

log = logging.getLogger(__name__)

MAX_SIDE = 640  # frames larger than this are scaled down for the page


class LiveView:
    """A stream watched for the page.

    Args:
        runner: The model (a runner; the app's).
        source: A webcam index, a network URL or a video file (played at its own rate).
        window: Window length, frames or seconds; default the model's.
        step: Step between windows; default half the window.
        max_events: Events kept for the page.
        jpeg_every: Seconds between frame snapshots.
        **session_kw: More :class:`LiveSession` options (``segment_kw``, ``timeout``, ...).

    Raises:
        actionlab.errors.VideoError: the source cannot be opened.
    """

    def __init__(self, runner: Any, source: str | int, window: str | None = None,
                 step: str | None = None, max_events: int = 200, jpeg_every: float = 0.1,
                 **session_kw: Any) -> None:
        self.source = str(source)
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.label: str | None = None
        self.error: str | None = None
        self.finished = False
        self.jpeg_every = jpeg_every
        self._jpeg: bytes | None = None
        self._last = 0.0
        self._lock = threading.Lock()
        self.session = LiveSession(runner, source, window=window, step=step,
                                   on_frame=self._on_frame, keep_native=True, **session_kw)
        self._thread = threading.Thread(target=self._run, name="actionlab-live", daemon=True)

    def start(self) -> LiveView:
        self._thread.start()
        return self

    def _on_frame(self, fr: Frame, label: str | None) -> None:
        self.label = label
        now = time.monotonic()
        if now - self._last < self.jpeg_every:
            return
        self._last = now
        img = fr.native if fr.native is not None else fr.small
        h, w = img.shape[:2]
        if max(h, w) > MAX_SIDE:
            scale = MAX_SIDE / max(h, w)
            img = cv2.resize(img, (round(w * scale), round(h * scale)),
                             interpolation=cv2.INTER_AREA)
        img = draw_caption(np.ascontiguousarray(img), label or "-")
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            with self._lock:
                self._jpeg = buf.tobytes()

    def _run(self) -> None:
        try:
            for ev in self.session.events():
                with self._lock:  # the page's thread copies the deque
                    self.events.append(ev)
        except ActionlabError as exc:  # the stream failed for good (reconnects spent)
            self.error = str(exc)
            log.warning("live view: %s", exc)
        finally:
            self.finished = True
            self.label = None

    def frame_jpeg(self) -> bytes | None:
        """The latest captioned frame as JPEG bytes (None before the first frame)."""
        with self._lock:
            return self._jpeg

    def status(self) -> dict[str, Any]:
        """What ``/api/live`` answers."""
        with self._lock:
            events = list(self.events)
        return {"source": self.source, "running": self._thread.is_alive() and not self.finished,
                "finished": self.finished, "error": self.error, "label": self.label,
                "events": events, "stats": self.session.stats.to_dict()}

    def close(self) -> None:
        """Stop the stream and wait briefly for the thread (idempotent)."""
        self.session.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


LIVE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>actionlab live</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 60rem; }
img { max-width: 100%; border: 1px solid #ccc; background: #222; min-height: 8rem; }
#label { font-size: 1.4rem; font-weight: 600; }
table { border-collapse: collapse; margin-top: 1rem; }
td, th { border-bottom: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: left; }
#figures { color: #555; }
</style></head><body>
<h1>actionlab: live</h1>
<p>Source: <code id="source"></code> &middot; <a href="/">upload a video</a></p>
<p id="label">-</p>
<img id="frame" alt="the latest frame of the stream">
<p id="figures"></p>
<table><thead><tr><th>event</th><th>label</th><th>start (s)</th><th>end (s)</th>
<th>score</th></tr></thead><tbody id="events"></tbody></table>
<script>
const fmt = (v) => (v === undefined || v === null) ? "" : String(v);
async function poll() {
  try {
    const r = await fetch("/api/live");
    const s = await r.json();
    document.getElementById("source").textContent = s.source;
    document.getElementById("label").textContent = s.error ? ("stream failed: " + s.error)
      : s.finished ? "stream ended" : (s.label || "-");
    const f = s.stats;
    document.getElementById("figures").textContent =
      `stream ${f.stream_time} s, real-time factor ${fmt(f.real_time_factor)}, ` +
      `model ${f.latency_ms_median} ms a window, ${f.frames_dropped} frames dropped`;
    const body = document.getElementById("events");
    body.replaceChildren(...s.events.slice().reverse().map((e) => {
      const tr = document.createElement("tr");
      for (const v of [e.event, e.label, e.start, e.end, e.score]) {
        const td = document.createElement("td"); td.textContent = fmt(v); tr.appendChild(td);
      }
      return tr;
    }));
    if (!s.finished) document.getElementById("frame").src = "/api/live/frame.jpg?t=" + Date.now();
  } catch (err) { /* the server went away: try again */ }
  setTimeout(poll, 500);
}
poll();
</script></body></html>
"""
