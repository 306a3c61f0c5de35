"""`actionlab report` on bad input: one line, a non-zero exit, nothing written; and the bar chart
names what it compares and keeps long names apart."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_run import listing, refused
from report_helpers import fake_run

GOOD = {"video": "v.mp4", "fps": 25, "duration": 2.0, "times": [0.5, 1.0, 1.5],
        "classes": ["a", "b"], "probs": [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]],
        "segments": [{"label": "a", "start": 0, "end": 1, "score": 0.9}]}

# Each of these made `report` die with a traceback from numpy, matplotlib or a format string.
MALFORMED = {
    "a list": ([1, 2], "not a timeline (a JSON list"),
    "probs text": ({**GOOD, "probs": "x"}, "'times' and 'probs' must be lists of numbers"),
    "probs short": ({**GOOD, "probs": [[0.9, 0.1]]}, "'probs' is [1, 2], expected"),
    "probs ragged": ({**GOOD, "probs": [[0.9], [0.1, 0.2, 0.3], []]}, "lists of numbers"),
    "classes number": ({**GOOD, "classes": 5}, "'classes' must be a list of names"),
    "times text": ({**GOOD, "times": ["a", "b", "c"]}, "lists of numbers"),
    "segment text": ({**GOOD, "segments": ["x"]}, "segment 0 needs label, start and end"),
    "segments object": ({**GOOD, "segments": {"a": 1}}, "no 'segments' or 'events' list"),
    "start text": ({**GOOD, "segments": [{"label": "a", "start": "zero", "end": 1}]},
                   "segment 0: start must be a number, got 'zero'"),
    "NaN segment": ({**GOOD, "segments": [{"label": "a", "start": float("nan"), "end": 1}]},
                    "segment 0: start must be a finite number"),
    "scores numbers": ({"frame": 5, "segment": 3}, "'frame' and 'segment' must be objects"),
    "scores text": ({"frame": {"precision": "x"}, "segment": {"map": {"0.5": "y"}}},
                    "scores must be numbers"),
    "NaN times": ({**GOOD, "times": [float("nan"), 1.0, float("inf")]}, "must be finite"),
    "duration text": ({**GOOD, "duration": "long"}, "duration must be a number, got 'long'"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_timeline_json_is_one_line(actionlab, case: str, tmp_path: Path) -> None:
    doc, words = MALFORMED[case]
    run = fake_run(tmp_path, "run", extras=False)
    (run / "timeline").mkdir()
    bad = run / "timeline" / "timeline.json"
    bad.write_text(json.dumps(doc))
    before = listing(tmp_path)
    line = refused(actionlab("report", run, "-o", tmp_path / "r.html"), words, code=2)
    assert str(bad) in line
    assert listing(tmp_path) == before  # no report, no temporary file


@pytest.mark.parametrize(("text", "words"), [
    ("{not json", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("\udcff", "not valid JSON"),
])
def test_timeline_json_that_does_not_parse_is_one_line(actionlab, text: str, words: str,
                                                        tmp_path: Path) -> None:
    run = fake_run(tmp_path, "run", extras=False)
    (run / "timeline").mkdir()
    (run / "timeline" / "t.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    refused(actionlab("report", run, "-o", tmp_path / "r.html"), words, code=2)
    assert not (tmp_path / "r.html").exists()


def test_wrong_output_paths_are_one_line(actionlab, tmp_path: Path) -> None:
    run = fake_run(tmp_path, "run", extras=False)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    before = listing(tmp_path)
    refused(actionlab("report", run, "-o", tmp_path), "a folder is there; give a file name",
            code=2)
    refused(actionlab("report", run, "-o", a_file / "r.html"),
            f"{a_file} is a file, not a folder", code=2)
    refused(actionlab("report", tmp_path / "missing", "-o", tmp_path / "r.html"),
            "not a run directory")
    assert listing(tmp_path) == before and a_file.read_text() == "keep me"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs a read-only /sys")
def test_an_unwritable_output_is_one_line(actionlab, tmp_path: Path) -> None:
    run = fake_run(tmp_path, "run", extras=False)
    line = refused(actionlab("report", run, "-o", "/sys/actionlab-report.html"),
                   "--out /sys/actionlab-report.html: ", code=2)
    assert "not permitted" in line or "Permission denied" in line or "not writable" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_line(actionlab, tmp_path: Path) -> None:
    run = fake_run(tmp_path, "run", extras=False)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        refused(actionlab("report", run, "-o", ro / "r.html"), "not writable", code=2)
    finally:
        ro.chmod(0o700)


def _bar_title(page: str) -> str:
    return re.findall(r"<figcaption>(test top-1 per run[^<]*)</figcaption>", page)[0]


def test_fusion_comparison_only_for_fusion_runs(actionlab, tmp_path: Path) -> None:
    fused = [fake_run(tmp_path, n, fusion=f, extras=False) for n, f in (("a", "average"),
                                                                          ("b", "concat"))]
    plain = [fake_run(tmp_path, n, extras=False) for n in ("c", "d")]
    for runs, title in ((fused, "test top-1 per run (fusion comparison)"),
                        (plain, "test top-1 per run"),
                        ([fused[0], plain[0]], "test top-1 per run")):
        res = actionlab("report", *runs, "-o", tmp_path / "r.html")
        assert res.code == 0, res.err
        assert _bar_title((tmp_path / "r.html").read_text()) == title


def test_long_run_names_do_not_overlap() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from actionlab.report import plots as P

    names = ["two_stream_average_fusion_seed0", "two_stream_concat_fusion_seed0",
             "rgb_resnet18_tsn_3seg (average)", "flow_r2plus1d_16x4_with_a_very_long_suffix"]
    fig = P.bars_figure(names, [0.5, 0.6, None, 0.8], title="t")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    boxes = [t.get_window_extent(canvas.get_renderer()) for t in fig.axes[0].get_xticklabels()]
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(b.x0 >= 0 and b.y0 >= 0 and b.x1 <= fig.bbox.width for b in boxes)
    assert P._wrap_label("two_stream_average_fusion_seed0") == "two_stream_\naverage_fusion_\nseed0"


MALFORMED_EVAL = {
    "a list": ("[1, 2]", "not an evaluation (expected an object with a 'metrics' object)"),
    "metrics text": ('{"metrics": "x"}', "not an evaluation"),
    "ragged confusion": ('{"metrics": {"top1": 0.5, "confusion": [[1, 2], [3]]}}',
                         "'confusion' is not a square matrix of counts"),
    "too few classes": ('{"metrics": {"top1": 0.5, "confusion": [[1, 0], [0, 1]]}, '
                        '"classes": ["a"]}', "2x2 confusion matrix but classes is not a list"),
}


@pytest.mark.parametrize("case", list(MALFORMED_EVAL))
def test_a_malformed_eval_json_is_one_line(actionlab, case: str, tmp_path: Path) -> None:
    text, words = MALFORMED_EVAL[case]
    run = fake_run(tmp_path, "run", extras=False)
    (run / "eval.json").write_text(text)
    other = fake_run(tmp_path, "other", extras=False)
    before = listing(tmp_path)
    line = refused(actionlab("report", run, other, "-o", tmp_path / "r.html"), words, code=2)
    assert str(run / "eval.json") in line
    assert listing(tmp_path) == before


def test_a_config_with_a_scalar_model_section_is_tolerated(actionlab, tmp_path: Path) -> None:
    """`model: x` made the results table die; a config it cannot read is left out of it."""
    run = fake_run(tmp_path, "run", extras=False)
    (run / "config.yaml").write_text("model: x\ndata: [1, 2]\n")
    res = actionlab("report", run, fake_run(tmp_path, "other", extras=False),
                    "-o", tmp_path / "r.html")
    assert res.code == 0, res.err
    assert "model: x" in (tmp_path / "r.html").read_text()  # the config is still shown
