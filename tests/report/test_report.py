"""``actionlab report``: a self-contained page with tables, images and escaped text."""

from __future__ import annotations

import re
from pathlib import Path

from report_helpers import fake_run
from typer.testing import CliRunner

from actionlab.cli import app
from actionlab.report.html import render_report


def test_report_from_fake_runs(tmp_path: Path) -> None:
    a = fake_run(tmp_path, "rgb_avg", fusion="average")
    b = fake_run(tmp_path, "rgb_concat", confusion=((4, 0, 0), (0, 4, 0), (1, 0, 3)),
                 fusion="concat", extras=False)
    out = tmp_path / "out" / "report.html"
    res = CliRunner().invoke(app, ["report", str(a), str(b), "-o", str(out), "--title", "T&T"])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    # results table with both runs; best val epoch 3: train 1 - 0.5/3, val 0.65, test 10/12, 11/12
    assert "<th>Top-1 train / val / test</th>" in page
    assert "<td>rgb_avg</td>" in page and "0.833 / 0.650 / 0.833" in page
    assert "0.833 / 0.650 / 0.917" in page
    assert "<td>6e-05</td>" in page  # size: 3x4 + 3 float32 = 60 bytes
    # images: curves, lr, 2 confusions, fusion bars, improvement bars, timeline plot (PNG) + GIF
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 8
    assert page.count('src="data:image/gif;base64,') == 1
    assert "explain/clip1/gradcam.gif" in page
    assert "timeline/long_000.json: segments" in page and "<td>run</td>" in page
    assert "Per-class improvement" in page and "+0.250" in page
    # self-contained and escaped
    assert "<script" not in page.lower()
    assert "wave&lt;script&gt;" in page
    assert "a &lt;b&gt;bold&lt;/b&gt; &amp; risky note" in page
    assert "<title>T&amp;T</title>" in page
    assert not re.search(r'(src|href)="(?!data:|#)', page)


def test_report_tolerates_bare_runs(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    page = render_report([bare])
    assert "no metrics.csv" in page and "not evaluated" in page and "no config.yaml" in page


def test_report_bad_path_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["report", str(tmp_path / "missing"), "-o", str(tmp_path / "r.html")])
    assert res.exit_code != 0
    assert "not a run directory" in str(res.exception)


def test_timeline_with_ground_truth_is_scored(tmp_path: Path) -> None:
    import json

    run = fake_run(tmp_path, "tl")
    (run / "timeline" / "long_000.gt.json").write_text(json.dumps(
        {"video": "long_000.mp4", "fps": 25, "events": [{"label": "run", "start": 1.0, "end": 3.0}]}))
    (run / "timeline" / "long_000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 16)
    page = render_report([run])
    assert "long_000.json with ground truth" in page
    assert "scored against" in page and "<td>1.000 / 1.000 / 1.000</td>" in page
    assert "<td>segment mAP@0.5</td><td>1.000</td>" in page
