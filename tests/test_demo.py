"""The demo chain at tiny sizes, and its pair-confusion measure on a known confusion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from actionlab.studies.demo import DemoSettings, pair_confusion, run_demo


def test_pair_confusion_is_the_error_within_the_pair() -> None:
    # rows: true class, columns: predicted; of the 10 a/b clips given a or b, 3 + 1 swapped;
    # the 4 given c do not count
    doc = {"classes": ["a", "b", "c"],
           "metrics": {"confusion": [[4, 3, 2], [1, 2, 2], [0, 0, 5]]}}
    assert pair_confusion(doc, [("a", "b")]) == {"a/b": pytest.approx(0.4)}
    assert pair_confusion(doc, [("a", "c")]) == {"a/c": pytest.approx(2 / 11)}


@pytest.mark.heavy
def test_quick_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    s = DemoSettings.quick()
    res = run_demo(tmp_path, s)
    expected = {"stills", "stills-clr", "frame", "flow", "fusion-average", "fusion-concat", "slip"}
    assert set(res.runs) == expected
    for name, run in res.runs.items():  # the slip detector is scored on timelines instead
        # the quick slip study holds out no validation windows: its model is the last epoch
        assert (run / ("last.safetensors" if name == "slip" else "best.safetensors")).is_file()
        assert name == "slip" or (run / "eval.json").is_file()
    results = json.loads((tmp_path / "results.json").read_text())
    assert all(0.0 <= v <= 1.0 for v in results["test_top1"].values())
    assert "fusion-concat" in res.fusion_md and "drinking/smoking" in res.pairs_md
    # every stage timed, the stages adding up to (nearly) the whole run
    assert {"synth", "prepare", "flow stream", "fusion (2 runs)", "slip study"} <= set(res.stages)
    assert 0.9 * res.seconds <= sum(res.stages.values()) <= res.seconds
    assert "| flow stream |" in res.stage_table()
    assert json.loads((tmp_path / "stages.json").read_text())["stages"] == res.stages
    html = res.report.read_text()
    assert html.startswith("<!DOCTYPE html>") or "<html" in html[:200]
    assert "fusion-average" in html and "data:image/png;base64" in html
    # Grad-CAM of both streams on one test clip per class, and the slip timelines, are in it
    for name in ("frame", "flow"):
        assert len(list((res.runs[name] / "explain").glob("*/gradcam.gif"))) == 12
        assert (res.runs[name] / "explain" / "tsne.png").is_file()
    assert "data:image/gif;base64" in html
    # the 3D runs leave bf16 + channels-last to the CPU probe, together; the frame runs use fp32
    for name, fast in (("flow", "auto"), ("fusion-average", "auto"), ("slip", "auto"),
                       ("frame", False)):
        train = yaml.safe_load((res.runs[name] / "config.yaml").read_text())["train"]
        assert train["bf16"] == fast and train["channels_last"] == fast, name
    assert "Frame precision" in res.slip_md and "slipping" in (tmp_path / "results.md").read_text()
    assert list((res.runs["slip"] / "timeline").glob("*/timeline.png"))
