"""predict / timeline / export as a batch user and a careless one use them (issue 17 items
11, 13, 15, 22, 23): bad videos skipped and reported, output paths checked before any work,
a timeline's files written together or not at all.
"""

from __future__ import annotations

import csv
import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from _infer_fakes import CLASSES
from cli_run import cli, listing, refused


@pytest.fixture(scope="module")
def one_pixel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1x1 video, 20 frames (FFV1: H.264 needs even sizes)."""
    import av

    path = tmp_path_factory.mktemp("tiny") / "one.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 1, 1, "yuv420p"
        for i in range(20):
            img = np.full((1, 1, 3), 10 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_predict_skips_bad_videos_and_exits_3(monkeypatch, capsys, onnx_model, clip_mp4,
                                              clip_avi, not_a_video, tmp_path) -> None:
    missing = tmp_path / "gone.mp4"
    res = cli(monkeypatch, capsys, "predict", onnx_model, clip_mp4, not_a_video, missing,
              clip_avi, "--format", "jsonl", "-k", "2")
    assert res.code == 3 and "Traceback" not in res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert [Path(r["video"]).name for r in rows] == ["clip.mp4", "notes.mp4", "gone.mp4",
                                                     "clip.avi"]
    good = [r for r in rows if "error" not in r]
    assert len(good) == 2 and all(len(r["top"]) == 2 and r["top"][0]["label"] in CLASSES
                                  for r in good)
    assert "notes.mp4" in rows[1]["error"] and "gone.mp4" in rows[2]["error"]
    skipped = [ln for ln in res.err.splitlines() if ln.startswith("skipped ")]
    assert len(skipped) == 2 and "2 predicted, 2 skipped" in res.err


def test_predict_csv_file_for_batch_use(monkeypatch, capsys, onnx_model, clip_mp4,
                                        not_a_video, tmp_path) -> None:
    out = tmp_path / "preds" / "all.csv"
    res = cli(monkeypatch, capsys, "predict", onnx_model, clip_mp4, not_a_video, "-k", "3",
              "--out", out)
    assert res.code == 3 and f"wrote {out} (2 videos)" in res.out
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["rank"] for r in rows] == ["1", "2", "3", ""]
    assert {r["label"] for r in rows[:3]} == set(CLASSES)
    probs = [float(r["prob"]) for r in rows[:3]]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-3)
    assert rows[3]["video"].endswith("notes.mp4") and rows[3]["error"]


@pytest.mark.parametrize("case", ["folder", "under_file", "txt", "format"])
def test_predict_output_refusals(monkeypatch, capsys, onnx_model, clip_mp4, tmp_path,
                                 case) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    args = {"folder": ["--out", tmp_path], "under_file": ["--out", blocker / "p.csv"],
            "txt": ["--out", tmp_path / "p.txt"], "format": ["--format", "xml"]}[case]
    before = listing(tmp_path)
    res = cli(monkeypatch, capsys, "predict", onnx_model, clip_mp4, *args)
    refused(res, "--out" if case != "format" else "--format", code=2)
    assert listing(tmp_path) == before and res.out == ""


def test_single_bad_video_is_its_error(monkeypatch, capsys, onnx_model, not_a_video) -> None:
    refused(cli(monkeypatch, capsys, "predict", onnx_model, not_a_video), "notes.mp4", code=1)


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_timeline_out_checked_before_decoding(monkeypatch, capsys, onnx_model, clip_mp4,
                                              tmp_path, where) -> None:
    import actionlab.infer.timeline as T

    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setattr(T, "decode_video", lambda *a, **k: pytest.fail("decoded"))
    out = blocker if where == "file" else blocker / "tl"
    before = listing(tmp_path)
    refused(cli(monkeypatch, capsys, "timeline", onnx_model, clip_mp4, "--out", out),
            "--out", str(blocker), code=2)
    assert listing(tmp_path) == before


def test_timeline_one_pixel_video_writes_everything(monkeypatch, capsys, onnx_model,
                                                    one_pixel, tmp_path) -> None:
    out = tmp_path / "tl"
    res = cli(monkeypatch, capsys, "timeline", onnx_model, one_pixel, "--out", out,
              "--window", "8")
    assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "timeline.json",
                                                     "timeline.png"]
    import av

    with av.open(str(out / "annotated.mp4")) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (2, 2) and c.decode(video=0).__next__() is not None


def test_timeline_failure_leaves_nothing(monkeypatch, capsys, onnx_model, clip_mp4,
                                         tmp_path) -> None:
    """The MP4 encoder failing after the JSON and plot are done keeps none of them."""
    import actionlab.infer.outputs as O

    def broken(*args, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(O, "write_annotated_mp4", broken)
    out = tmp_path / "tl"
    res = cli(monkeypatch, capsys, "timeline", onnx_model, clip_mp4, "--out", out)
    refused(res, "--out", "No space left on device", "nothing was kept", code=2)
    assert not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    cli(monkeypatch, capsys, "timeline", onnx_model, clip_mp4, "--out", out)
    assert listing(out) == {"mine.txt"}


@pytest.mark.parametrize("where", ["folder", "under_file"])
def test_export_onnx_path_checked_first(monkeypatch, capsys, checkpoint, tmp_path,
                                        where) -> None:
    import actionlab.checkpoint as C

    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setattr(C, "load", lambda *a, **k: pytest.fail("loaded"))
    target = tmp_path if where == "folder" else blocker / "m.onnx"
    before = listing(tmp_path)
    refused(cli(monkeypatch, capsys, "export", checkpoint, "--onnx", target), "--onnx", code=2)
    assert listing(tmp_path) == before


def test_run_folder_and_deprecated_onnx_alias(monkeypatch, capsys, checkpoint, onnx_model,
                                              clip_mp4, tmp_path, caplog) -> None:
    """A run folder without validation (last only) is a model; --onnx still works, warned."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(checkpoint, run / "last.safetensors")
    (run / "run.json").write_text(json.dumps({"status": "complete",
                                              "model_file": "last.safetensors"}))
    direct = cli(monkeypatch, capsys, "predict", checkpoint, clip_mp4, "-f", "json", "--no-fast")
    via_run = cli(monkeypatch, capsys, "predict", run, clip_mp4, "-f", "json", "--no-fast")
    assert direct.code == via_run.code == 0, via_run.err
    assert json.loads(direct.out)[0]["top"] == json.loads(via_run.out)[0]["top"]
    positional = cli(monkeypatch, capsys, "predict", onnx_model, clip_mp4, "-f", "json")
    with caplog.at_level("WARNING"):
        alias = cli(monkeypatch, capsys, "predict", "--onnx", onnx_model, clip_mp4, "-f", "json")
    assert alias.code == 0 and json.loads(alias.out) == json.loads(positional.out)
    assert "--onnx is deprecated" in caplog.text


def test_threads_option(monkeypatch, capsys, onnx_model, clip_mp4) -> None:
    before = torch.get_num_threads()
    try:
        res = cli(monkeypatch, capsys, "predict", onnx_model, clip_mp4, "--threads", "2",
                  "-f", "json")
        assert res.code == 0 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_timeline_deprecated_onnx_alias(monkeypatch, capsys, onnx_model, clip_mp4,
                                        tmp_path) -> None:
    res = cli(monkeypatch, capsys, "timeline", "--onnx", onnx_model, clip_mp4, "--out",
              tmp_path / "a", "--no-video")
    assert res.code == 0, res.err
    assert json.loads((tmp_path / "a" / "timeline.json").read_text())["video"] == str(clip_mp4)
    refused(cli(monkeypatch, capsys, "timeline", onnx_model, "--out", tmp_path / "b"),
            "give one video", code=2)


def test_timeline_of_a_run_goes_into_the_run(monkeypatch, capsys, checkpoint, clip_mp4,
                                             tmp_path) -> None:
    """Given a run folder, timeline writes RUN/timeline/<video>/, where report looks."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(checkpoint, run / "best.safetensors")
    res = cli(monkeypatch, capsys, "timeline", run, clip_mp4, "--no-video", "--no-fast",
              "--window", "8")
    assert res.code == 0, res.err
    assert listing(run / "timeline") == {"clip", "clip/timeline.json", "clip/timeline.png"}
