"""``evaluate-timeline`` and ``evaluate`` refuse what would allocate without bound or cannot be
written, in one line, before any work (issue 17 items 9, 11, 13).

Each case: a non-zero exit, one ``error:`` line naming the file or option, no traceback, and
nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_run import cli, listing, refused

from actionlab.evaluate import timeline as TL

GOOD = {"video": "a.mp4", "fps": 25, "duration": 10.0,
        "segments": [{"label": "slip", "start": 1.0, "end": 3.0, "score": 0.9}]}


def _write(path: Path, doc: object | str) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def _with_segment(**seg: object) -> dict:
    return {**GOOD, "segments": [{**GOOD["segments"][0], **seg}]}


@pytest.fixture()
def gt(tmp_path: Path) -> Path:
    return _write(tmp_path / "gt.json", GOOD)


BAD_DOCUMENTS = {
    "end 1e12 s": (_with_segment(end=1e12), "end 1e+12 is beyond"),
    "NaN time": ('{"segments": [{"label": "slip", "start": NaN, "end": 2}]}', "not valid JSON"),
    "Infinity time": ('{"segments": [{"label": "a", "start": 0, "end": Infinity}]}',
                      "not valid JSON"),
    "negative fps": ({**GOOD, "fps": -25}, "fps must be a finite number >= 0"),
    "zero fps": ({**GOOD, "fps": 0}, "fps must be positive"),
    "string fps": ({**GOOD, "fps": "25"}, "fps must be a number"),
    "string score": (_with_segment(score="high"), "score must be a number"),
    "string start": (_with_segment(start="1.0"), "start must be a number"),
    "bool end": (_with_segment(end=True), "end must be a number"),
    "negative start": (_with_segment(start=-5.0), "start must be a finite number >= 0"),
    "end before start": (_with_segment(start=4.0, end=3.0), "ends (3.0) before it starts"),
    "list label": (_with_segment(label=["a"]), "label must be a string"),
    "segment not an object": ({"segments": [5]}, "segment 0 needs label, start and end"),
    "no segments": ({"video": "a"}, "no 'segments' or 'events' list"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "huge duration": ({**GOOD, "duration": 1e300}, "duration 1e+300 is beyond"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_prediction_documents(monkeypatch, capsys, tmp_path: Path, gt: Path, case) -> None:
    doc, needle = BAD_DOCUMENTS[case]
    pred = _write(tmp_path / "pred.json", doc)
    before = listing(tmp_path)
    res = cli(monkeypatch, capsys, "evaluate-timeline", pred, gt, "-o", tmp_path / "s.json")
    refused(res, str(pred), needle, code=2)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("value", ["1e-9", "-1", "0", "nan", "inf"])
def test_bad_resolution(monkeypatch, capsys, tmp_path: Path, gt: Path, value: str) -> None:
    res = cli(monkeypatch, capsys, "evaluate-timeline", gt, gt, "--resolution", value)
    refused(res, "--resolution" if value != "1e-9" else "give a larger --resolution", code=2)


def test_long_but_legal_grid_is_bounded(monkeypatch, capsys, tmp_path: Path, gt: Path) -> None:
    """180 days at 0.04 s bins (389 million) is refused before a byte is allocated."""
    pred = _write(tmp_path / "pred.json", _with_segment(end=180 * 86400.0))
    refused(cli(monkeypatch, capsys, "evaluate-timeline", pred, gt), "388,800,000 bins", code=2)


@pytest.mark.parametrize("tiou", ["0", "1.5", "nan"])
def test_bad_tiou(monkeypatch, capsys, gt: Path, tiou: str) -> None:
    refused(cli(monkeypatch, capsys, "evaluate-timeline", gt, gt, "--tiou", tiou), "--tiou")


@pytest.mark.parametrize("where", ["folder", "under_file"])
def test_unwritable_scores_file(monkeypatch, capsys, tmp_path: Path, gt: Path, where) -> None:
    blocker = _write(tmp_path / "blocker", "x")
    out = tmp_path if where == "folder" else blocker / "s.json"
    before = listing(tmp_path)
    res = cli(monkeypatch, capsys, "evaluate-timeline", gt, gt, "-o", out)
    refused(res, "--out", code=2)
    assert listing(tmp_path) == before


def test_valid_documents_still_score(monkeypatch, capsys, tmp_path: Path, gt: Path) -> None:
    """The bounded grid gives the numbers the unbounded one did: 50 of 50 true bins found."""
    pred = _write(tmp_path / "pred.json", _with_segment(start=2.0, end=4.0))
    res = cli(monkeypatch, capsys, "evaluate-timeline", pred, gt, "-o", tmp_path / "s.json")
    assert res.code == 0, res.err
    frame = json.loads((tmp_path / "s.json").read_text())["frame"]
    assert (frame["tp"], frame["fp"], frame["fn"]) == (25, 25, 25)  # 1-2 s missed, 3-4 s extra
    assert frame["resolution"] == pytest.approx(0.04)


def test_grid_masks_match_the_per_bin_definition() -> None:
    """The difference-array masks equal 'bin centre inside a segment', overlaps included."""
    rng = np.random.default_rng(0)
    centers = (np.arange(500) + 0.5) * 0.04
    segs = [{"label": "a", "start": float(s), "end": float(s + d)}
            for s, d in zip(rng.uniform(0, 20, 30), rng.uniform(0, 3, 30))]
    want = np.zeros(500, bool)
    for s in segs:
        want |= (centers >= s["start"]) & (centers < s["end"])
    assert (TL._grid_masks(segs, "a", centers) == want).all()


def test_evaluate_device_and_output(monkeypatch, capsys, tmp_path: Path) -> None:
    import torch

    from eval_helpers import make_run

    run = make_run(tmp_path)
    before = listing(tmp_path)
    refused(cli(monkeypatch, capsys, "evaluate", run, "--device", "tpu"), "--device", "'tpu'",
            code=2)
    if not torch.cuda.is_available():
        refused(cli(monkeypatch, capsys, "evaluate", run, "--device", "cuda"),
                "CUDA is not available", code=2)
    blocker = _write(tmp_path / "blocker", "x")
    before = listing(tmp_path)
    refused(cli(monkeypatch, capsys, "evaluate", run, "-o", tmp_path), "--out", "a folder",
            code=2)
    refused(cli(monkeypatch, capsys, "evaluate", run, "-o", blocker / "e.json"), "--out",
            "is a file, not a folder", code=2)
    assert listing(tmp_path) == before



