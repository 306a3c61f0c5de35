"""predict and timeline on synthetic clips with tiny models (any nn.Module with the interface)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from _infer_fakes import CLASSES, TinyClipNet, TinyFrameNet, TinyTSN, TinyTwoStream, meta, spec

from actionlab.errors import InputError, VideoError
from actionlab.infer.outputs import save_timeline, write_annotated_mp4
from actionlab.data.sampling import clip_starts, sliding_starts
from actionlab.infer.predict import predict_video
from actionlab.infer.runner import TorchRunner
from actionlab.infer.timeline import parse_length, run_timeline


@pytest.fixture(scope="module")
def runners() -> dict[str, TorchRunner]:
    torch.manual_seed(0)
    return {
        "frame": TorchRunner(TinyFrameNet(), meta("tiny", spec("frame", "rgb"))),
        "clip": TorchRunner(TinyClipNet(), meta("tiny", spec("clip", "rgb", frames=8))),
        "tsn": TorchRunner(TinyTSN(), meta("tiny", spec("tsn", "rgb", segments=3, frames=1))),
        "two_stream": TorchRunner(
            TinyTwoStream(), meta("tiny", spec("two_stream", "rgb+flow", frames=4, stride=2))
        ),
    }


@pytest.mark.parametrize("kind", ["frame", "clip", "tsn", "two_stream"])
def test_predict_every_kind(runners: dict, kind: str, clip_mp4: Path) -> None:
    pred = predict_video(runners[kind], clip_mp4, k=2, clips=3)
    assert [lab for lab, _ in pred.topk][0] in CLASSES and len(pred.topk) == 2
    assert pred.topk[0][1] >= pred.topk[1][1]
    assert sum(pred.probs) == pytest.approx(1.0, abs=1e-5)
    assert pred.clips == (1 if kind == "tsn" else 3) and pred.frames == 40 and not pred.padded
    json.dumps(pred.to_dict())


def test_multi_clip_average_equals_mean_of_single_clips(runners: dict, clip_mp4: Path) -> None:
    from actionlab.infer.preprocess import decode_video, preprocess
    from actionlab.infer.runner import softmax

    r = runners["clip"]
    pred = predict_video(r, clip_mp4, clips=4)
    dec = decode_video(clip_mp4, r.spec)
    starts = clip_starts(40, 8, 4)
    assert starts == [0, 11, 21, 32]  # multi_clip: rint(linspace(0, 40 - 8, 4))
    singles = [softmax(r.logits(preprocess(dec, r.spec, starts=[s], length=8)))
               for s in starts]
    assert np.allclose(np.mean(singles, axis=0)[0], pred.probs, atol=1e-6)


def test_predict_avi_and_short_video(runners: dict, clip_avi: Path, short_mp4: Path) -> None:
    assert predict_video(runners["two_stream"], clip_avi).frames == 30
    pred = predict_video(runners["clip"], short_mp4)
    assert pred.padded and pred.frames == 2


def test_predict_not_a_video(runners: dict, not_a_video: Path, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="notes.mp4"):
        predict_video(runners["frame"], not_a_video)
    with pytest.raises(VideoError):
        predict_video(runners["frame"], tmp_path / "missing.mp4")


def test_window_helpers() -> None:
    assert parse_length("16", 25, 8) == 16
    assert parse_length("0.64s", 25, 8) == 16
    assert parse_length(None, 25, 8) == 8
    with pytest.raises(InputError):
        parse_length("ten", 25, 8)
    with pytest.raises(InputError):
        parse_length("0.01s", 25, 8)
    assert sliding_starts(10, 4, 3) == [0, 3, 6]
    assert sliding_starts(11, 4, 3) == [0, 3, 6, 7]
    assert sliding_starts(3, 4, 2) == [0]


def test_timeline_outputs(runners: dict, clip_mp4: Path, tmp_path: Path) -> None:
    tl, dec = run_timeline(runners["two_stream"], clip_mp4, window="0.4s", step=5,
                           keep_native=True)
    assert tl.window == 10 and tl.step == 5
    assert len(tl.times) == 7 and tl.probs.shape == (7, 3)
    assert np.allclose(tl.probs.sum(1), 1, atol=1e-5)
    assert tl.times[0] == pytest.approx(5 / 25)
    paths = save_timeline(tl, tmp_path / "out", frames=dec.native)
    doc = json.loads(paths["json"].read_text())
    assert set(doc) >= {"video", "fps", "duration", "classes", "times", "probs", "segments"}
    assert doc["fps"] == 25 and doc["duration"] == pytest.approx(1.6)
    for seg in doc["segments"]:
        assert set(seg) == {"label", "start", "end", "score"} and seg["start"] <= seg["end"]
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with av.open(str(paths["video"])) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 40 and frames[0].shape == (48, 64, 3)


def test_timeline_short_video_is_one_padded_window(runners: dict, short_mp4: Path) -> None:
    tl, _ = run_timeline(runners["clip"], short_mp4)
    assert tl.padded and len(tl.times) == 1


def test_annotated_mp4_draws_the_caption(tmp_path: Path) -> None:
    frames = np.zeros((5, 41, 63, 3), np.uint8)  # odd sizes: made even for H.264
    out = write_annotated_mp4(frames, 10.0, lambda i: ("wave", 0.9), tmp_path / "a.mp4")
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(got) == 5 and got[0].shape == (40, 62, 3)
    assert got[0][:12].max() > 150  # white text in the top band
    assert got[0][20:].max() < 30


@pytest.mark.parametrize(
    ("name", "kwargs", "input_spec"),
    [
        ("tsn", {"backbone": "resnetlike", "num_segments": 3, "in_channels": 9,
                 "backbone_kwargs": {"width": 0.125, "head_grid": 2, "input_size": 32}},
         spec("tsn", "rgbdiff", segments=3, frames=4)),
        ("lrcn", {"backbone": "resnetlike", "num_frames": 4, "hidden_size": 8,
                  "backbone_kwargs": {"width": 0.125, "head_grid": 2, "input_size": 32}},
         spec("tsn", "rgb", segments=4, frames=1)),  # LRCN end to end: (T, C, H, W)
        ("tsn", {"backbone": "resnetlike", "num_segments": 1, "in_channels": 16,
                 "backbone_kwargs": {"width": 0.125, "head_grid": 2, "input_size": 32}},
         spec("tsn", "flow", segments=1, frames=8)),  # a 2D net on a stack of 8 flow fields
    ],
)
def test_registry_models_of_other_kinds(name: str, kwargs: dict, input_spec: dict,
                                        clip_mp4: Path) -> None:
    from actionlab.models import build_model

    torch.manual_seed(0)
    runner = TorchRunner(build_model(name, num_classes=3, **kwargs), meta(name, input_spec))
    assert predict_video(runner, clip_mp4).topk[0][0] in CLASSES
    tl, _ = run_timeline(runner, clip_mp4)
    assert tl.probs.shape[1] == 3


def test_segments_come_from_evaluate_timeline(runners: dict, clip_mp4: Path) -> None:
    """A low threshold makes segments; they lie inside the video and carry the top class."""
    tl, _ = run_timeline(runners["two_stream"], clip_mp4, window=8, step=4,
                         segment_kw={"threshold": 0.2, "hysteresis": 0.0})
    assert tl.segments and all(0 <= s["start"] < s["end"] <= tl.duration + 1e-6 for s in tl.segments)
    assert {s["label"] for s in tl.segments} <= set(CLASSES)
    tl2, _ = run_timeline(runners["two_stream"], clip_mp4, segment_kw={"threshold": 1.01})
    assert tl2.segments == []


def test_tsn_timeline_windows_default_to_two_seconds(runners: dict, clip_mp4: Path) -> None:
    tl, _ = run_timeline(runners["tsn"], clip_mp4)
    assert tl.window == 50 and tl.step == 25  # 2 s at 25 fps; the clip is 1.6 s: one window
    assert len(tl.times) == 1


def test_long_videos_keep_reduced_frames_for_drawing(clip_mp4: Path) -> None:
    from actionlab.infer.preprocess import decode_video, video_header
    from actionlab.spec import InputSpec

    head = video_header(clip_mp4)
    assert (head.fps, head.width, head.height) == (25.0, 64, 48) and head.frames in (39, 40)
    s = InputSpec.from_dict(spec("frame", "rgb"))
    full = decode_video(clip_mp4, s, keep_native=True)
    small = decode_video(clip_mp4, s, keep_native=True, native_budget=40 * 64 * 48 * 3 // 4)
    assert full.native.shape == (40, 48, 64, 3)
    assert small.native.shape == (40, 24, 32, 3) and small.frames.shape == (40, 32, 32, 3)


def test_timeline_decodes_once_and_computes_each_flow_pair_once(
        runners: dict, clip_mp4: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import actionlab.data.flow as flowlib
    import actionlab.data.video as videolib

    reads, pairs = [], []
    real_read, real_flow = videolib.read_frames, flowlib.compute_flow

    def read(*a, **kw):
        reads.append(a)
        return real_read(*a, **kw)

    def flow(frames, method="dis", bound=None):
        pairs.append(len(frames) - 1)
        return real_flow(frames, method, bound)

    monkeypatch.setattr(videolib, "read_frames", read)
    monkeypatch.setattr(flowlib, "compute_flow", flow)
    # Overlapping windows (step 2 < window 8): windows share flow fields.
    tl, _ = run_timeline(runners["two_stream"], clip_mp4, window=8, step=2, keep_native=True)
    assert len(tl.times) > 10
    assert len(reads) == 1  # one decode for the model, the plot and the annotated video
    assert sum(pairs) <= 39  # at most every consecutive pair of 40 frames, each once
