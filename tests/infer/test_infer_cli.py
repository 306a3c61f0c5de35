"""The predict/timeline/export commands as a user runs them (one-line errors, exit codes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cli_run
import pytest
import torch
from _infer_fakes import CLASSES


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run ``actionlab ARGS`` in-process through the console entry point."""
    res = cli_run.cli(monkeypatch, capsys, *args)
    return res.code, res.out, res.err


def test_predict_json_and_table(monkeypatch, capsys, onnx_model: Path, clip_mp4: Path,
                                clip_avi: Path) -> None:
    code, out, _ = cli(monkeypatch, capsys, "predict", onnx_model, clip_mp4, clip_avi, "--json", "-k", "2")
    assert code == 0
    doc = json.loads(out)
    assert [Path(d["video"]).name for d in doc] == ["clip.mp4", "clip.avi"]
    assert all(len(d["top"]) == 2 and d["top"][0]["label"] in CLASSES for d in doc)
    code, out, _ = cli(monkeypatch, capsys, "predict", onnx_model, clip_mp4)
    assert code == 0 and "clip.mp4" in out and any(c in out for c in CLASSES)


def test_timeline_command(monkeypatch, capsys, onnx_model: Path, clip_mp4: Path,
                          tmp_path: Path) -> None:
    code, out, err = cli(monkeypatch, capsys, "timeline", onnx_model, clip_mp4, "--out", tmp_path,
                         "--window", "8", "--step", "0.16s")
    assert code == 0, err
    doc = json.loads((tmp_path / "timeline.json").read_text())
    assert doc["window"] == 8 and doc["step"] == 4
    assert (tmp_path / "timeline.png").is_file() and (tmp_path / "annotated.mp4").is_file()


def test_bad_inputs_give_one_line_errors(monkeypatch, capsys, onnx_model: Path,
                                         not_a_video: Path, clip_mp4: Path, tmp_path: Path) -> None:
    code, out, err = cli(monkeypatch, capsys, "predict", onnx_model, not_a_video)
    assert code == 1 and err.startswith("error: ") and "notes.mp4" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

    code, _, err = cli(monkeypatch, capsys, "timeline", onnx_model, clip_mp4, "--window", "abc")
    assert code == 2 and "abc" in err and len(err.strip().splitlines()) == 1

    # A checkpoint from an unknown (future) format version.
    from safetensors.torch import save_file

    future = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(1)}, str(future),
              metadata={"actionlab": json.dumps({"format_version": 99, "model": {"name": "x"}})})
    code, _, err = cli(monkeypatch, capsys, "predict", future, clip_mp4)
    assert code == 1 and "format 99 is not supported" in err
    assert len(err.strip().splitlines()) == 1

    code, _, err = cli(monkeypatch, capsys, "predict", tmp_path / "nope.safetensors", clip_mp4)
    assert code == 1 and "no such checkpoint" in err


def test_registry_checkpoint_predict_export_onnx(monkeypatch, capsys, checkpoint: Path,
                                                 clip_mp4: Path, tmp_path: Path) -> None:
    code, out, err = cli(monkeypatch, capsys, "predict", checkpoint, clip_mp4, "--json")
    assert code == 0, err
    torch_top = json.loads(out)[0]["top"]
    onnx_path = tmp_path / "m.onnx"
    code, out, err = cli(monkeypatch, capsys, "export", checkpoint, "--onnx", onnx_path)
    assert code == 0, err
    assert "inputs: rgb, flow" in out and "max abs difference" in out
    assert float(out.rsplit(":", 1)[1]) <= 1e-3
    code, out, err = cli(monkeypatch, capsys, "predict", checkpoint, clip_mp4, "--onnx", onnx_path,
                         "--json")
    assert code == 0, err
    onnx_top = json.loads(out)[0]["top"]
    assert [t["label"] for t in onnx_top] == [t["label"] for t in torch_top]
    assert all(abs(a["prob"] - b["prob"]) < 1e-4 for a, b in zip(onnx_top, torch_top))


def test_onnx_prediction_builds_no_torch_model(onnx_model: Path, clip_mp4: Path) -> None:
    """predict --onnx runs the exported graph with onnxruntime: no checkpoint, no model code
    (the input path is the data stage's, in torch; run in a fresh interpreter)."""
    import subprocess

    code = (
        "import sys, json\n"
        "from actionlab.infer.runner import OnnxRunner\n"
        "from actionlab.infer.predict import predict_video\n"
        f"p = predict_video(OnnxRunner({str(onnx_model)!r}), {str(clip_mp4)!r})\n"
        "assert 'actionlab.models' not in sys.modules, 'the model code was imported'\n"
        "print(json.dumps(p.to_dict()))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["top"][0]["label"] in CLASSES


def test_explain_command(monkeypatch, capsys, checkpoint: Path, clip_mp4: Path, clip_avi: Path,
                         tmp_path: Path) -> None:
    code, out, err = cli(monkeypatch, capsys, "explain", checkpoint, clip_mp4, clip_avi,
                         "--out", tmp_path, "--color-by", "folder")
    assert code == 0, err
    folders = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(folders) == 2  # clip.mp4 and clip.avi: one folder each (clip-<hash>)
    for folder in folders:
        for name in ("gradcam.gif", "gradcam.png", "activation.png", "guided.png", "flow.png"):
            assert (folder / name).is_file(), name
    assert (tmp_path / "tsne.png").is_file()
    code, _, err = cli(monkeypatch, capsys, "explain", checkpoint, clip_mp4, "--target", "dance",
                       "--out", tmp_path)
    assert code == 2 and "dance" in err
    code, _, err = cli(monkeypatch, capsys, "explain", checkpoint, clip_mp4, "--color-by", "x")
    assert code == 2 and "--color-by" in err
