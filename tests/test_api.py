"""The public Python API end to end: load a run, predict, timeline, export, load the ONNX."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "infer"))

import _infer_fakes  # noqa: E402

import actionlab  # noqa: E402
from actionlab.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder holding a checkpoint and the run.json that names it."""
    run = tmp_path_factory.mktemp("run")
    _infer_fakes.registry_checkpoint(run / "last.safetensors")
    status = {"status": "complete", "model_file": "last.safetensors"}
    (run / "run.json").write_text(json.dumps(status))
    return run


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _infer_fakes.write_video(tmp_path_factory.mktemp("v") / "clip.mp4")


def test_import_is_fast_and_lazy() -> None:
    code = ("import sys, time; t = time.perf_counter(); import actionlab; "
            "print(time.perf_counter() - t, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, torch_loaded = out.stdout.split()
    assert float(seconds) < 2.0 and torch_loaded == "False"


def test_one_rule_for_a_run_folder(run_dir: Path) -> None:
    from actionlab.checkpoint import resolve, run_model_file
    from actionlab.evaluate.runs import find_checkpoint

    assert run_model_file(run_dir) == resolve(run_dir) == find_checkpoint(run_dir)
    assert actionlab.load(run_dir).source == run_dir / "last.safetensors"


def test_load_predict_timeline_export_onnx(run_dir: Path, video: Path, tmp_path: Path) -> None:
    rec = actionlab.load(run_dir, device="cpu")
    assert rec.classes == rec.runner.classes and rec.spec is rec.runner.spec
    pred = rec.predict(video, k=2)
    top = pred.to_dict()["top"]
    assert len(top) == 2 and {"label", "score"} <= set(top[0]) and top[0]["label"] in rec.classes
    assert [p.to_dict() for p in rec.predict([video, video], k=2)] == [pred.to_dict()] * 2
    tl = rec.timeline(video, window=8, step=4)
    assert tl.times and np.asarray(tl.probs).shape[1] == len(rec.classes)
    json.dumps(tl.to_dict())
    onnx = tmp_path / "m.onnx"
    rec.export(onnx)
    again = actionlab.load(onnx)
    assert again.predict(video, k=1).topk[0][0] == pred.topk[0][0]
    with pytest.raises(InputError, match="PyTorch checkpoint"):
        again.export(tmp_path / "other.onnx")


def test_predict_frames_array_matches_the_video(run_dir: Path, video: Path) -> None:
    from actionlab.data.video import read_frames

    rec = actionlab.load(run_dir, device="cpu")
    frames = np.asarray(read_frames(video))
    assert rec.predict(frames, k=1).topk[0][0] == rec.predict(video, k=1).topk[0][0]


def test_api_agrees_with_predict_json(run_dir: Path, video: Path, monkeypatch, capsys) -> None:
    from cli_run import cli

    res = cli(monkeypatch, capsys, "predict", run_dir, video, "--json", "--no-fast", "--device",
              "cpu", "-k", "3")
    assert res.code == 0, res.err
    cli_top = json.loads(res.out)[0]["top"]
    api_top = actionlab.load(run_dir, device="cpu").predict(video, k=3).to_dict()["top"]
    assert [t["label"] for t in cli_top] == [t["label"] for t in api_top]
    assert [t["score"] for t in cli_top] == pytest.approx([t["score"] for t in api_top], abs=1e-5)


def test_wrappers() -> None:
    from actionlab.config.files import keyword_overrides

    assert "two_stream" in actionlab.list_models()
    assert callable(actionlab.train) and callable(actionlab.synth)
    assert keyword_overrides({"train__epochs": 2, "train__bf16": False,
                              "overrides": ["data.size=32"]}) == [
        "data.size=32", "train.epochs=2", "train.bf16=false"]
