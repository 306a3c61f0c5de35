"""probs_to_segments (infer.segments) and timeline scoring (evaluate.timeline) against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actionlab.errors import InputError
from actionlab.evaluate import timeline as TL
from actionlab.infer import segments as SEG

TIMES = np.arange(10) + 0.5  # window centres 0.5 .. 9.5 s, step 1 s
SLIP = np.array([0, 0, 0.6, 0.45, 0.7, 0, 0, 0.9, 0, 0])
PROBS = np.stack([1 - SLIP, SLIP], 1)
CLASSES = ["walk", "slipping"]


def _spans(segs, label="slipping"):
    return [(s["start"], s["end"]) for s in segs if s["label"] == label]


def test_hysteresis_keeps_dip_above_low_threshold() -> None:
    segs = SEG.probs_to_segments(TIMES, PROBS, CLASSES, threshold=0.5, hysteresis=0.1,
                                background="walk")
    assert _spans(segs) == [(2.0, 5.0), (7.0, 8.0)]
    assert segs[0]["score"] == pytest.approx((0.6 + 0.45 + 0.7) / 3)
    assert segs[1]["score"] == pytest.approx(0.9)
    assert all(s["label"] == "slipping" for s in segs)


def test_no_hysteresis_splits_then_gap_merge_joins() -> None:
    segs = SEG.probs_to_segments(TIMES, PROBS, CLASSES, hysteresis=0.0, background=0)
    assert _spans(segs) == [(2.0, 3.0), (4.0, 5.0), (7.0, 8.0)]
    merged = SEG.probs_to_segments(TIMES, PROBS, CLASSES, hysteresis=0.0, merge_gap=1.0,
                                  background="walk")
    assert _spans(merged) == [(2.0, 5.0), (7.0, 8.0)]
    assert merged[0]["score"] == pytest.approx((0.6 + 0.45 + 0.7) / 3)


def test_min_duration_and_background_and_duration_clip() -> None:
    segs = SEG.probs_to_segments(TIMES, PROBS, CLASSES, min_duration=1.5, duration=9.8)
    assert _spans(segs) == [(2.0, 5.0)]
    # walk is not background here; without hysteresis its 1 s run at 3-4 s is too short
    segs = SEG.probs_to_segments(TIMES, PROBS, CLASSES, hysteresis=0.0, min_duration=1.5,
                                duration=9.8)
    assert _spans(segs, "walk") == [(0.0, 2.0), (5.0, 7.0), (8.0, 9.8)]


def test_smoothing_mean_and_median() -> None:
    x = np.array([0, 0, 3, 0, 0], float)
    np.testing.assert_allclose(SEG.smooth_signal(x, 3, "mean"), [0, 1, 1, 1, 0])
    np.testing.assert_allclose(SEG.smooth_signal(x, 3, "median"), [0, 0, 0, 0, 0])
    # a one-window spike vanishes under a 3 s median filter
    segs = SEG.probs_to_segments(TIMES, PROBS, CLASSES, smooth=3.0, smooth_method="median",
                                background="walk")
    assert _spans(segs) == [(2.0, 5.0)]


def test_bad_shapes() -> None:
    with pytest.raises(InputError):
        SEG.probs_to_segments(TIMES, PROBS[:5], CLASSES)
    with pytest.raises(InputError):
        SEG.probs_to_segments(TIMES, PROBS, ["a"])
    with pytest.raises(InputError):
        SEG.probs_to_segments(TIMES, PROBS, CLASSES, background="nope")
    assert SEG.probs_to_segments([], np.zeros((0, 2)), CLASSES) == []


def test_interpolated_ap_and_segment_ap() -> None:
    gts = [(0, 0.0, 10.0), (0, 20.0, 30.0)]
    # FP first, then two TPs: precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> AP 2/3
    preds = [(0, 40.0, 50.0, 0.9), (0, 0.0, 10.0, 0.8), (0, 20.0, 30.0, 0.7)]
    assert TL.segment_ap(preds, gts, 0.5) == pytest.approx(2 / 3)
    # a duplicate of a matched segment is a false positive; ranked last it costs nothing
    preds = [(0, 0.0, 10.0, 0.9), (0, 22.0, 28.0, 0.8), (0, 0.0, 10.0, 0.7)]
    assert TL.segment_ap(preds, gts, 0.5) == pytest.approx(1.0)
    # [22, 28] vs [20, 30] has IoU 0.6: a miss at 0.7 -> recall 1/2, AP 1/2
    assert TL.segment_ap(preds, gts, 0.7) == pytest.approx(0.5)
    # other video's ground truth never matches
    assert TL.segment_ap([(1, 0.0, 10.0, 0.9)], gts, 0.5) == 0.0
    assert np.isnan(TL.segment_ap(preds, [], 0.5))


def test_frame_level_scores() -> None:
    gt = {"video": "v.mp4", "fps": 10, "duration": 3.0,
          "events": [{"label": "slipping", "start": 1.0, "end": 2.0}]}
    pred = {"video": "v.mp4", "segments": [{"label": "slipping", "start": 1.5, "end": 2.5,
                                            "score": 0.9}]}
    out = TL.evaluate_timeline(pred, gt)
    f = out["frame"]
    assert f["resolution"] == pytest.approx(0.1)
    assert (f["tp"], f["fp"], f["fn"]) == (5, 5, 5)
    assert f["precision"] == pytest.approx(0.5) and f["f1"] == pytest.approx(0.5)
    # IoU = 0.5 / 1.5 = 1/3: a hit at 0.3 only
    assert out["segment"]["map"] == pytest.approx({"0.3": 1.0, "0.5": 0.0, "0.7": 0.0})
    assert out["num_pred"] == 1 and out["num_gt"] == 1


def test_load_segments_accepts_events_and_lists(tmp_path) -> None:
    p = tmp_path / "gt.json"
    p.write_text(json.dumps([{"events": [{"label": "a", "start": 0, "end": 1}]},
                             {"segments": []}]))
    docs = TL.load_segments(p)
    assert len(docs) == 2 and docs[0]["segments"][0]["score"] == 1.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"segments": [{"label": "a", "start": 2, "end": 1}]}))
    with pytest.raises(InputError, match="ends"):
        TL.load_segments(bad)
    synth = tmp_path / "long_000.json"  # the synthetic annotation: events + background segments
    synth.write_text(json.dumps({"events": [{"label": "slipping", "start": 5.2, "end": 9.0}],
                                 "segments": [{"kind": "walk", "start": 0.0, "end": 1.1}]}))
    assert TL.load_segments(synth)[0]["segments"][0]["label"] == "slipping"
    with pytest.raises(InputError, match="no such file"):
        TL.load_segments(tmp_path / "missing.json")
