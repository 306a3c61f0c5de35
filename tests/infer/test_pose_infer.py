"""A pose model end to end on real clips: trained from a prepared cache, then predict, timeline
(PyTorch and ONNX) and live, each finding the keypoints itself as ``prepare`` found them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from _infer_fakes import write_video

VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos"
WAVE = VIDEOS / "hmdb51" / "wave" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi"  # 48 frames
POSE_CONFIG = "posetcn_24seg_adamw_upfall-fall-pose"

pytestmark = [
    pytest.mark.skipif(not any((Path(p) / "mediapipe").is_dir() for p in sys.path if p),
                       reason="the pose extra is not installed (./dev test installs it)"),
    pytest.mark.skipif(not WAVE.is_file(), reason="needs ../shared/data/videos/hmdb51/wave"),
]


class Recording:
    """A runner that keeps the inputs it is given."""

    def __init__(self, runner: object) -> None:
        self.inner = runner
        self.spec, self.classes, self.meta = runner.spec, runner.classes, runner.meta
        self.seen: list[np.ndarray] = []

    def logits(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        self.seen += list(inputs[0])
        return self.inner.logits(inputs)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from actionlab.config import load_config
    from actionlab.data.manifest import Manifest, Record, make_key
    from actionlab.data.prepare import PrepareConfig, prepare
    from actionlab.train.run import train

    tmp = tmp_path_factory.mktemp("pose-run")
    (tmp / "empty").mkdir()
    rows = [(str(WAVE), "wave"),  # and a room without a person: a box moving
            (str(write_video(tmp / "empty" / "room.mp4", 30, (160, 120))), "empty")]
    classes = ["empty", "wave"]
    records = [Record(p, classes.index(c), c, "train", key=make_key(p), group=f"g{i}")
               for i, (p, c) in enumerate(rows)]
    prepare(Manifest(classes, records, "csv", "/"), tmp / "cache",
            PrepareConfig(size=None, short_side=96, inputs=("pose",)), workers=1, progress=False)
    cfg = load_config(POSE_CONFIG, [f"data.cache_dir={tmp / 'cache'}", "data.size=[84,84]",
                                    f"train.out_dir={tmp / 'runs'}", "train.epochs=1",
                                    "train.progress=false", "data.batch_size=2"])
    return train(cfg)


@pytest.mark.heavy
def test_predict_and_timeline_find_keypoints_as_prepare_did(run: Path) -> None:
    import actionlab
    from actionlab.infer.timeline import run_timeline

    rec = actionlab.load(run)
    assert rec.meta["input"]["modality"] == "pose"
    assert rec.meta["input"]["pose_model"].startswith("mediapipe-0.10.14")
    top = rec.predict(str(WAVE)).to_dict()["top"]
    assert {t["label"] for t in top} == {"empty", "wave"}
    assert abs(sum(t["prob"] for t in top) - 1) < 1e-5
    onnx_runner = actionlab.load(run, fast=True).runner  # exported in memory, checked
    tl_torch, _ = run_timeline(rec.runner, WAVE)
    tl_onnx, _ = run_timeline(onnx_runner, WAVE)
    assert type(onnx_runner).__name__ == "OnnxRunner"
    np.testing.assert_allclose(tl_onnx.probs, tl_torch.probs, atol=1e-4)
    assert "events" in tl_torch.to_dict()


@pytest.mark.heavy
def test_live_tracks_the_stream_as_timeline_tracks_the_file(run: Path) -> None:
    from actionlab.infer.live import LiveSession
    from actionlab.infer.runner import load_runner
    from actionlab.infer.timeline import run_timeline

    video = WAVE
    offline = Recording(load_runner(run))
    run_timeline(offline, video, window=24, step=12)
    live = Recording(load_runner(run))
    list(LiveSession(live, str(video), window=24, step=12, speed=0).events())
    assert len(live.seen) >= 2 and len(offline.seen) >= 2
    for a, b in zip(live.seen[:2], offline.seen[:2]):  # windows at frames 0 and 12
        assert a.shape == (4, 24, 33) and a[3].mean() > 0.25  # a person found
        np.testing.assert_allclose(a, b, atol=1e-5)
