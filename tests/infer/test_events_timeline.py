"""Events with onsets from presentation timestamps, on a variable-frame-rate file."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from _infer_fakes import meta, spec
from torch import nn

from actionlab.data.video import frame_times, read_frames
from actionlab.infer.events import segments_to_events, window_times
from actionlab.infer.outputs import save_timeline
from actionlab.infer.runner import TorchRunner
from actionlab.infer.timeline import background_class, run_timeline

# 20 frames 0.1 s apart, then 40 frames 0.025 s apart (10 fps, then 40 fps); the square
# appears at frame 30, which is at 2.0 + 10 * 0.025 = 2.25 s (frame / average fps: 1.67 s).
PTS_S = [i * 0.1 for i in range(20)] + [2.0 + i * 0.025 for i in range(40)]
BRIGHT_FROM = 30


def write_vfr(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(40))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(PTS_S):
            img = np.full((48, 64, 3), 20, np.uint8)
            if i >= BRIGHT_FROM:
                img[10:40, 10:50] = 235
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = int(round(t * 1000))
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


class Brightness(nn.Module):
    """'bright' when the frame is bright: a fixed, untrained two-class 'detector'."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C, H, W) or (B, C, T, H, W)
        m = x.float().mean(dim=tuple(range(1, x.dim())))
        return torch.stack([-40 * (m + 0.5), 40 * (m + 0.5)], 1)


@pytest.fixture(scope="module")
def vfr_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_vfr(tmp_path_factory.mktemp("vfr") / "vfr.mp4")


def test_decoded_times_are_the_presentation_timestamps(vfr_mp4: Path) -> None:
    times: list[float] = []
    frames = read_frames(vfr_mp4, times=times)
    assert len(frames) == 60 and len(times) == 60
    assert np.allclose(times, PTS_S, atol=2e-3)
    assert np.allclose(frame_times(vfr_mp4), PTS_S, atol=2e-3)


def test_window_times_at_constant_rate_are_frame_over_fps() -> None:
    pts = np.arange(40) / 25
    assert np.allclose(window_times(pts, [0, 5, 30], 10, 25), (np.array([0, 5, 30]) + 5) / 25)
    assert window_times(pts, [35], 10, 25)[0] == pytest.approx((35 / 25 + 39 / 25 + 0.04) / 2)


def test_timeline_event_onset_from_pts_on_a_vfr_file(vfr_mp4: Path, tmp_path: Path) -> None:
    sp = spec("frame", "rgb", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    runner = TorchRunner(Brightness(), meta("bright", sp, classes=["background", "bright"]))
    tl, _ = run_timeline(runner, vfr_mp4, window=1, step=1, segment_kw={"background": "background"})
    assert tl.duration == pytest.approx(2.0 + 40 * 0.025, abs=0.01)
    assert len(tl.events) == 1
    ev = tl.events[0]
    assert ev["label"] == "bright"
    # Onset: midway between frame 29's centre and frame 30's; frame / fps would be ~1.65 s.
    assert ev["onset"] == pytest.approx(2.25, abs=0.02)
    assert ev["end"] == pytest.approx(3.0, abs=0.02)
    assert ev["onset"] <= ev["peak"] <= ev["end"] and ev["score"] > 0.9
    doc = json.loads(save_timeline(tl, tmp_path / "out", video=False)["json"].read_text())
    assert doc["events"] == tl.events and doc["background"] == "background"


def test_events_from_segments_peak_and_background() -> None:
    times = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.9, 0.1]])
    segs = [{"label": "fall", "start": 0.75, "end": 2.25, "score": 0.7}]
    (ev,) = segments_to_events(segs, times, probs, ["no_fall", "fall"])
    assert ev == {"label": "fall", "onset": 0.75, "end": 2.25, "peak": 1.5, "score": 0.8}
    assert background_class(["fall", "no_fall"]) == "no_fall"
    assert background_class(["slipping", "not_slipping"]) == "not_slipping"
    assert background_class(["a", "b"]) is None
    assert background_class(["a", "b"], "a") == "a"
