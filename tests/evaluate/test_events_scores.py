"""Event-level timeline scores: onset matching within a tolerance, GMDCSA24's CSV layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from actionlab.errors import InputError
from actionlab.evaluate.timeline import (
    event_scores,
    load_gmdcsa24,
    match_onsets,
    read_for_events,
)

GMD = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos" / "falls_gmdcsa24"


def _pred(video: str, onsets: list[float], duration: float = 10.0) -> dict:
    return {"video": video, "duration": duration, "probs": [], "segments": [],
            "events": [{"label": "fall", "onset": t, "end": t + 1, "peak": t + 0.5,
                        "score": 0.9} for t in onsets]}


def test_match_onsets_tolerance_and_each_annotation_once() -> None:
    assert match_onsets([1.0], [2.0], 1.0) == [(0, 0)]  # exactly at the tolerance: a hit
    assert match_onsets([1.0], [2.01], 1.0) == []
    # two detections near one annotation: the closer one hits, the other is a false alarm
    assert match_onsets([1.9, 2.3], [2.0], 1.0) == [(0, 0)]
    # closest pairs first: 2.6 goes to 3.0 so that 1.9 can take 2.0
    assert match_onsets([1.9, 2.6], [2.0, 3.0], 1.0) == [(0, 0), (1, 1)]


def test_event_scores_counts_recall_precision_false_alarms() -> None:
    preds = [_pred("a.mp4", [2.4, 7.0]), _pred("b.mp4", [])]
    gts = [{"video": "a.mp4", "segments": [{"label": "Falling", "start": 2.0, "end": 9.0},
                                           {"label": "Standing", "start": 0.0, "end": 2.0}]},
           {"video": "b.mp4", "segments": [{"label": "Falling", "start": 5.0, "end": 8.0}]}]
    r = event_scores(preds, gts, tolerance=1.0, label="fall")
    assert (r["hits"], r["num_gt"], r["num_pred"], r["false_alarms"]) == (1, 2, 2, 1)
    assert r["recall"] == 0.5 and r["precision"] == 0.5
    assert r["false_alarms_per_clip"] == 0.5
    assert r["false_alarms_per_hour"] == pytest.approx(1 / (20 / 3600))
    assert r["median_onset_error_s"] == pytest.approx(0.4)
    tight = event_scores(preds, gts, tolerance=0.3, label="fall")
    assert tight["hits"] == 0 and math.isnan(tight["median_onset_error_s"])
    with pytest.raises(InputError, match="tolerance"):
        event_scores(preds, gts, tolerance=-1)


@pytest.mark.skipif(not GMD.is_dir(), reason="needs ../shared/data/videos/falls_gmdcsa24")
def test_gmdcsa24_layout_and_pairing(tmp_path: Path) -> None:
    docs = load_gmdcsa24(GMD)
    assert len(docs) == 9
    falls = {d["video"]: [s["start"] for s in d["segments"] if s["label"] == "Falling"]
             for d in docs}
    assert falls["Subject 2/Fall/12.mp4"] == [6.9] and falls["Subject 1/ADL/10.mp4"] == []
    assert load_gmdcsa24(GMD / "manifest.csv")[2]["segments"][0]["start"] == 0.4
    # timeline outputs in a folder, one per video, paired by path
    for d in docs:
        out = tmp_path / Path(d["video"]).with_suffix("")
        out.mkdir(parents=True)
        onsets = [t + 0.5 for t in falls[d["video"]]]
        (out / "timeline.json").write_text(json.dumps(_pred(str(GMD / d["video"]), onsets)))
    preds, gts = read_for_events(tmp_path, GMD)
    r = event_scores(preds, gts, label="fall")
    assert (r["hits"], r["num_gt"], r["false_alarms"]) == (6, 6, 0)
    assert r["median_onset_error_s"] == pytest.approx(0.5)
