"""The slip-detector study: window planning on hand-made annotations, and a quick run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actionlab.errors import InputError
from actionlab.studies.slip import (SlipSettings, overlap_share, plan_windows, run_slip_study,
                                     split_videos, trivial)
from actionlab.synth.api import generate_long_videos


def _ann(events: list[tuple[float, float]], frames: int = 250, fps: float = 25.0) -> dict:
    return {"video": "v.mp4", "name": "v", "fps": fps, "frames": frames, "duration": frames / fps,
            "events": [{"label": "slipping", "start": a, "end": b} for a, b in events]}


def test_overlap_share_counts_frame_centres_inside_events() -> None:
    ev = [{"start": 1.0, "end": 2.0}]
    # frames 20..29 at 10 fps have centres 2.05..2.95: none inside; 5..14 -> 0.55..1.45: 5 inside
    assert overlap_share(20, 10, 10.0, ev) == 0.0
    assert overlap_share(5, 10, 10.0, ev) == pytest.approx(0.5)
    assert overlap_share(10, 10, 10.0, ev) == pytest.approx(1.0)


def test_plan_windows_labels_by_overlap_and_balances_the_classes() -> None:
    s = SlipSettings(window=0.4, window_step=0.2)  # 10-frame windows every 5 frames at 25 fps
    ann = _ann([(4.0, 5.0)])
    plan = plan_windows(ann, s)
    pos = [w for w in plan if w.label == "slipping"]
    neg = [w for w in plan if w.label == "not_slipping"]
    # slip frames 100..124: windows from 95 (share 0.5) to 120 (frames 120..129, share 0.5)
    assert [w.start for w in pos] == [95, 100, 105, 110, 115, 120]
    assert len(neg) == len(pos)
    assert all(overlap_share(w.start, w.length, 25.0, ann["events"]) == 0.0 for w in neg)
    assert plan == plan_windows(ann, s)  # seeded: the same plan every call
    assert plan_windows(ann, SlipSettings(window=0.4, window_step=0.2, seed=1)) != plan


def test_split_videos_holds_out_every_nth_and_refuses_too_few() -> None:
    videos = [Path(f"long_{i:03d}.json") for i in range(7)]
    train, test = split_videos(videos, 3)
    assert [v.stem for v in test] == ["long_002", "long_005"]
    assert len(train) == 5
    with pytest.raises(InputError, match="at least 3"):
        split_videos(videos[:2], 3)


def test_trivial_detectors_cover_everything_or_nothing() -> None:
    ann = _ann([(1.0, 2.0)])
    always, never = trivial([ann], True), trivial([ann], False)
    assert always[0]["segments"] == [{"label": "slipping", "start": 0.0, "end": 10.0, "score": 1.0}]
    assert never[0]["segments"] == []


@pytest.mark.heavy
def test_quick_study_trains_labels_and_scores(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_long_videos(data, long_videos=2, duration=(10.0, 10.0), difficulty="easy", seed=0,
                         workers=1, progress=False)
    s = SlipSettings.quick()
    s.workers = 1
    res = run_slip_study(data, tmp_path / "slip", s)
    # 2 data videos + 1 synthesised; test_every=3 holds out the third
    assert res.train_videos == ["long_000", "long_001"] and res.test_videos == ["extra_long_000"]
    assert res.windows["slipping"] > 0 and res.windows["slipping"] == res.windows["not_slipping"]
    doc = json.loads((tmp_path / "slip" / "slip_results.json").read_text())
    assert doc["baselines"]["always"]["frame"]["recall"] == pytest.approx(1.0)
    assert doc["baselines"]["never"]["frame"]["recall"] == 0.0
    f = doc["metrics"]["frame"]
    assert 0.0 <= f["precision"] <= 1.0 and 0.0 <= f["recall"] <= 1.0
    tl = res.run / "timeline" / "extra_long_000"
    assert (tl / "timeline.json").is_file() and (tl / "timeline.png").is_file()
    assert (tl / "annotated.mp4").stat().st_size > 0
    assert res.speed > 0 and "trivial: always slipping" in res.markdown
    # a second call reuses the windows and the trained detector
    weights = res.run / "last.safetensors"  # quick: no validation windows, so no best
    mtime = weights.stat().st_mtime_ns
    again = run_slip_study(data, tmp_path / "slip", s)
    assert weights.stat().st_mtime_ns == mtime
    assert again.metrics == res.metrics
