"""The demo chain at tiny sizes, and its pair-confusion measure on a known confusion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actionlab.demo import DemoSettings, pair_confusion, run_demo


def test_pair_confusion_counts_both_directions() -> None:
    # rows: true class, columns: predicted; a<->b mixed 3 + 1 times out of 10 clips of a and b
    doc = {"classes": ["a", "b", "c"],
           "metrics": {"confusion": [[4, 3, 0], [1, 2, 0], [0, 0, 5]]}}
    assert pair_confusion(doc, [("a", "b")]) == {"a/b": pytest.approx(0.4)}
    assert pair_confusion(doc, [("a", "c")]) == {"a/c": pytest.approx(0.0)}


def test_quick_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    s = DemoSettings.quick()
    res = run_demo(tmp_path, s)
    expected = {"stills", "stills-clr", "frame", "flow", "fusion-average", "fusion-concat"}
    assert set(res.runs) == expected
    for run in res.runs.values():
        assert (run / "best.safetensors").is_file() and (run / "eval.json").is_file()
    results = json.loads((tmp_path / "results.json").read_text())
    assert all(0.0 <= v <= 1.0 for v in results["test_top1"].values())
    assert "fusion-concat" in res.fusion_md and "drinking/smoking" in res.pairs_md
    html = res.report.read_text()
    assert html.startswith("<!DOCTYPE html>") or "<html" in html[:200]
    assert "fusion-average" in html and "data:image/png;base64" in html
