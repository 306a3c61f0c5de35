"""Every real clip in ../shared/data/videos goes through predict and timeline (labels are
meaningless for a model trained on synthetic data; every container, size and rate must work)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from actionlab.infer.export import accelerate
from actionlab.infer.outputs import save_timeline, write_annotated_mp4
from actionlab.infer.predict import predict_video
from actionlab.infer.runner import OnnxRunner, load_runner
from actionlab.infer.timeline import label_at, run_timeline


@pytest.fixture(scope="module")
def runner(checkpoint: Path):
    """The registry's two_stream model, run as `timeline` runs it (onnxruntime)."""
    return accelerate(load_runner(checkpoint))


@pytest.mark.heavy
def test_predict_and_timeline_on_every_real_clip(runner, real_videos: list[Path],
                                                 tmp_path: Path) -> None:
    assert len(real_videos) >= 5 and isinstance(runner, OnnxRunner)
    plotted: set[Path] = set()
    for video in real_videos:
        pred = predict_video(runner, video, k=3)
        assert len(pred.topk) == 3 and pred.frames > 10, video
        tl, dec = run_timeline(runner, video, window="1s", step="0.5s", keep_native=True)
        assert np.isfinite(tl.probs).all() and len(tl.times) >= 1, video
        assert tl.duration == pytest.approx(len(dec.frames) / dec.fps)
        out = tmp_path / video.stem
        if video.parent.parent not in plotted:  # the plot is the same code for every clip
            plotted.add(video.parent.parent)
            paths = save_timeline(tl, out, frames=dec.native)
            doc = json.loads(paths["json"].read_text())
            assert doc["fps"] == pytest.approx(dec.fps) and len(doc["probs"]) == len(doc["times"])
            assert paths["plot"].stat().st_size > 1000
            mp4 = paths["video"]
        else:  # every size and rate through the encoder
            mp4 = write_annotated_mp4(dec.native, tl.fps, lambda i: label_at(tl, (i + 0.5) / tl.fps),
                                      out / "annotated.mp4")
        with av.open(str(mp4)) as c:
            n = sum(1 for _ in c.decode(video=0))
        assert n == len(dec.frames), video
