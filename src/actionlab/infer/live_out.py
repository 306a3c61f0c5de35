"""Where live events and frames go besides stdout: a webhook and the annotated video."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.infer.live import Frame

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 2.0


class Webhook:
    """POSTs each event as JSON from a background thread; never fatal.

    A failure is logged once per kind (the exception's class); a full queue (the server is
    slower than the events) drops the event and says so once.
    """

    def __init__(self, url: str, timeout: float = WEBHOOK_TIMEOUT_S) -> None:
        self.url, self.timeout = url, timeout
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=256)
        self.failed: set[str] = set()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True, name="actionlab-webhook")
        self.thread.start()

    def post(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self._fail("queue full")

    def _fail(self, kind: str, detail: str = "") -> None:
        if kind not in self.failed:
            self.failed.add(kind)
            log.warning("--webhook %s: %s %s (further failures of this kind not shown)",
                        self.url, kind, detail)

    def _run(self) -> None:
        while (event := self.queue.get()) is not None:
            req = urllib.request.Request(self.url, data=json.dumps(event).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
                self.sent += 1
            except Exception as exc:  # any network failure is logged, never fatal
                self._fail(type(exc).__name__, str(exc))

    def close(self, wait: float = 3.0) -> None:
        """Send what is queued (up to ``wait`` seconds), then stop."""
        try:
            self.queue.put(None, timeout=wait)
        except queue.Full:
            return
        self.thread.join(wait)


class VideoOut:
    """The annotated video: each frame with the open segment's label, written to a temporary
    file beside ``path`` and moved there only by :meth:`finish` (never half-written)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix or '.mp4'}")
        self.fps = fps
        self.container: Any = None
        self.stream: Any = None

    def write(self, frame: Frame, label: str | None) -> None:
        import av
        import cv2

        img = np.ascontiguousarray(frame.native if frame.native is not None else frame.small)
        if self.container is None:
            self.container = av.open(str(self.tmp), "w", format="mp4")
            self.stream = self.container.add_stream("libx264", rate=int(round(self.fps)) or 25)
            self.stream.width, self.stream.height = img.shape[1] // 2 * 2, img.shape[0] // 2 * 2
            self.stream.pix_fmt = "yuv420p"
        img = img[: self.stream.height, : self.stream.width].copy()
        text = f"{frame.t:7.2f}s  {label or '-'}"
        cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            self.container.mux(packet)

    def finish(self) -> bool:
        """Flush and move the file into place; False when no frame was written."""
        if self.container is None:
            return False
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        self.container = None
        os.replace(self.tmp, self.path)
        return True

    def abort(self) -> None:
        """Drop the partial file."""
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # a broken encoder state: the file goes anyway
                pass
            self.container = None
        self.tmp.unlink(missing_ok=True)
