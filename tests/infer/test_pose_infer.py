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


@pytest.mark.heavy
def test_explain_draws_when_and_which_joints(run: Path, tmp_path: Path) -> None:
    """``explain`` on a pose model: Grad-CAM over time as a bar under each frame, guided
    backprop per joint as the skeleton's colours, the numbers those of the model's input."""
    import torch

    from actionlab.explain.cam import grad_cam, guided_backprop
    from actionlab.explain.pose import BAR, _jet, explain_pose_window
    from actionlab.explain.videos import explain_videos, torch_runner
    from actionlab.explain.visual import grow_for_display
    from actionlab.infer.preprocess import decode_video, preprocess

    runner = torch_runner(run, "cpu")
    res = explain_videos(runner, [WAVE], tmp_path / "ex")
    files = res["videos"][str(WAVE)]["files"]
    assert {"gradcam_gif", "gradcam", "activation", "guided"} <= set(files)
    assert all(Path(f).stat().st_size > 1000 for f in files.values())
    assert res["tsne"] is None or Path(res["tsne"]).is_file()

    decoded = decode_video(WAVE, runner.spec)
    exp = explain_pose_window(runner.model, runner.meta, decoded)
    (st,) = exp.streams
    assert st.name == "pose" and len(st.images) == len(st.series["gradcam"]) == 24
    (x,) = preprocess(decoded, runner.spec)  # what predict gives the model: (1, 4, 24, 33)
    xt = torch.from_numpy(x)
    cams, logits = grad_cam(runner.model, [xt])
    assert exp.label == runner.classes[int(logits[0].argmax())]
    np.testing.assert_allclose(st.series["gradcam"], cams[0][0], atol=1e-5)
    g = guided_backprop(runner.model, [xt], int(logits[0].argmax()))[0][0]  # (4, 24, 33)
    joints = np.linalg.norm(g[:2], axis=0)
    np.testing.assert_allclose(st.series["joints"], joints / joints.max(), atol=1e-5)
    assert (joints[x[0, 3, :, 0] == 0] == 0).all()  # no person, no evidence

    track = decoded.source.all_pose()[st.frames]  # (24, 33, 4)
    for k, (im, cam_im, v) in enumerate(zip(st.images, st.gradcam, cams[0][0], strict=True)):
        assert (cam_im[:-BAR] == im[:-BAR]).all() and tuple(cam_im[-1, 0]) == _jet(float(v))
        raw = grow_for_display(decoded.source.rgb(np.array([st.frames[k]]))[0])  # as the cache keeps it
        if track[k, 0, 3] > 0:  # the skeleton sits on the person: the nose's pixel is drawn
            s = min(raw.shape[:2])
            nx, ny = (track[k, 0, :2] * s).round().astype(int)
            if 0 <= ny < raw.shape[0] and 0 <= nx < raw.shape[1]:
                assert (im[ny, nx] != raw[ny, nx]).any()
            assert (im[0, 0] == raw[0, 0]).all() or track[k, :, 1].min() * s < 5
        else:
            assert (im == raw).all()
