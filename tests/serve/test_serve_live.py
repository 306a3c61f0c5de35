"""``serve --live``: a stream watched in the background, its frames and events on the page."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from actionlab.errors import VideoError
from actionlab.infer.runner import load_runner
from actionlab.serve.app import create_app
from actionlab.serve.live_view import LiveView


class BrightRunner:
    """A real checkpoint's spec; ``move`` wins while the frame is bright (segments known)."""

    def __init__(self, checkpoint: Path) -> None:
        real = load_runner(checkpoint, device="cpu")
        self.spec, self.classes, self.meta = real.spec, real.classes, real.meta

    def logits(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        move = 50 * (inputs[0].reshape(len(inputs[0]), -1).mean(1) - 0.5)
        return np.stack([np.zeros_like(move), move, np.full_like(move, -5.0)], 1).astype(np.float32)


@pytest.fixture(scope="module")
def bright_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s at 25 fps, 96x64: dark, bright from 0.8 to 1.6 s, dark again."""
    import av

    path = tmp_path_factory.mktemp("live-view") / "bright.mp4"
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=Fraction(25))
        st.width, st.height, st.pix_fmt = 96, 64, "yuv420p"
        for i in range(50):
            img = np.full((64, 96, 3), 230 if 20 <= i < 40 else 15, np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def test_live_page_shows_frames_and_events_of_a_stream(ckpt: Path, bright_video: Path) -> None:
    runner = BrightRunner(ckpt)
    view = LiveView(runner, bright_video, step="0.2s", segment_kw={"threshold": 0.5},
                    jpeg_every=0.05)
    app = create_app(runner, explain=False, fast=False, live=view)
    with TestClient(app) as client:
        assert "/api/live/frame.jpg" in client.get("/live").text
        assert client.get("/api/info").json()["live"] == str(bright_video)
        deadline, jpeg = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            status = client.get("/api/live").json()
            r = client.get("/api/live/frame.jpg")
            if r.status_code == 200:
                jpeg = r.content
                assert r.headers["content-type"] == "image/jpeg"
            if status["finished"]:
                break
            time.sleep(0.1)
        assert status["finished"] and status["error"] is None, status
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (64, 96, 3)  # the stream's own frame, captioned
        ends = [e for e in status["events"] if e["event"] == "end"]
        # dark, bright, dark: the first class (logit 0) around the bright one's segment
        idle, move = runner.classes[:2]
        assert [e["label"] for e in ends] == [idle, move, idle], status["events"]
        assert 0.3 <= ends[1]["start"] <= 1.2 and 1.2 <= ends[1]["end"] <= 2.1, ends
        assert status["stats"]["frames_read"] == 50 and status["stats"]["frames_dropped"] == 0
    assert not view._thread.is_alive()  # closed with the app


def test_no_live_source_is_a_404_with_a_reason(runner) -> None:
    with TestClient(create_app(runner, explain=False, fast=False)) as client:
        r = client.get("/api/live")
        assert r.status_code == 404 and "--live" in r.json()["error"]
        assert client.get("/api/live/frame.jpg").status_code == 404


def test_a_source_that_cannot_be_opened_fails_before_serving(ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="missing.mp4"):
        LiveView(BrightRunner(ckpt), tmp_path / "missing.mp4")
