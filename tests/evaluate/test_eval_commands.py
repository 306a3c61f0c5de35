"""``actionlab evaluate`` / ``compare`` / ``evaluate-timeline`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from eval_helpers import MeanLinear, colour_checkpoint, make_run, tiny_cache
from typer.testing import CliRunner

from actionlab.cli import app


@pytest.fixture()
def meanlinear(monkeypatch):
    """``load_model`` builds our MeanLinear for the name ``meanlinear``."""
    import actionlab.models as models

    real = models.build_model
    monkeypatch.setattr(models, "build_model",
                        lambda name, **kw: MeanLinear(**kw) if name == "meanlinear" else real(name, **kw))


def test_evaluate_multi_clip_multi_crop(tmp_path: Path, meanlinear) -> None:
    cache = tiny_cache(tmp_path / "cache")
    ckpt = colour_checkpoint(tmp_path / "run" / "best.safetensors", cache)
    res = CliRunner().invoke(app, ["evaluate", str(tmp_path / "run"), "--clips", "2", "--crops", "3"])
    assert res.exit_code == 0, res.output
    doc = json.loads((ckpt.parent / "eval.json").read_text())
    assert doc["num_clips"] == 2 and doc["crops"] == ["center", "top_left", "bottom_right"]
    m = doc["metrics"]
    assert m["num_samples"] == 6 and m["top1"] == 1.0 and "top5" not in m
    assert m["confusion"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    p = doc["predictions"][0]
    assert p["video"] == "jump__0" and p["label"] == 0 and sum(p["scores"]) == pytest.approx(1, abs=1e-4)


def test_evaluate_errors_are_one_line(tmp_path: Path, meanlinear) -> None:
    cache = tiny_cache(tmp_path / "cache")
    ckpt = colour_checkpoint(tmp_path / "run" / "best.safetensors", cache, kind="frame")
    from actionlab.errors import ActionlabError
    from actionlab.evaluate.run_eval import evaluate_checkpoint

    views, _ = evaluate_checkpoint(ckpt, num_clips=3, out=tmp_path / "k.json")  # frame views
    assert views["num_clips"] == 3 and views["metrics"]["top1"] == 1.0
    with pytest.raises(ActionlabError, match="no prepared cache"):
        evaluate_checkpoint(ckpt, cache_dir=tmp_path / "nowhere")
    doc, path = evaluate_checkpoint(ckpt, split="test", crops=5, out=tmp_path / "e.json")
    assert path.is_file() and doc["metrics"]["top1"] == 1.0



def test_evaluate_keeps_a_whole_frame_models_own_view(tmp_path: Path, meanlinear,
                                                       monkeypatch) -> None:
    """A model trained on whole frames (crop: fit, aspect kept and zero-padded) is evaluated on
    whole frames, exactly as predict feeds it; several crops of it are refused."""
    from actionlab.checkpoint import save_checkpoint
    from actionlab.config import load_config, to_dict
    from actionlab.errors import InputError
    from actionlab.evaluate.run_eval import evaluate_checkpoint

    cache = tiny_cache(tmp_path / "cache")  # 20x20 frames
    cfg = load_config(None, [f"data.cache_dir={cache}", "data.kind=frame", "data.size=[16, 24]",
                             "data.params={transform_kw: {crop: fit}}"])
    model = MeanLinear(3)
    with torch.no_grad():
        model.fc.weight.copy_(torch.eye(3) * 10.0)
        model.fc.bias.zero_()
    ckpt = save_checkpoint(tmp_path / "run" / "best.safetensors", model,
                           {"model": {"name": "meanlinear", "kwargs": {"num_classes": 3}},
                            "classes": ["jump", "run", "wave"], "config": to_dict(cfg)})
    seen = []
    forward = MeanLinear.forward
    monkeypatch.setattr(MeanLinear, "forward", lambda self, x: seen.append(x) or forward(self, x))
    doc, _ = evaluate_checkpoint(ckpt, split="test", out=tmp_path / "e.json")
    assert doc["metrics"]["top1"] == 1.0
    x = torch.cat(seen)  # (N, 3, 16, 24): the 20x20 frame as 16x16, 4 padding columns a side
    assert x.shape[1:] == (3, 16, 24)
    assert x[..., :4].abs().max() == 0 and x[..., -4:].abs().max() == 0
    assert x[..., 4:20].abs().amin(dim=(1, 2, 3)).min() > 0
    with pytest.raises(InputError, match="whole frame"):
        evaluate_checkpoint(ckpt, split="test", crops=3)

def test_compare_rich_and_markdown(tmp_path: Path) -> None:
    a = make_run(tmp_path, "frame", confusion=[[2, 1, 1], [0, 4, 0], [1, 1, 2]])
    b = make_run(tmp_path, "lstm", confusion=[[4, 0, 0], [1, 3, 0], [0, 1, 3]])
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "frame" in res.output and "0.600 / 0.700 / 0.667" in res.output
    res = runner.invoke(app, ["compare", str(a), str(b), "--markdown", "--improvement"])
    assert res.exit_code == 0, res.output
    assert "| lstm | synth |" in res.output and "| jump | 0.500 | 1.000 | +0.500 |" in res.output
    res = runner.invoke(app, ["compare", str(a), "--improvement"])
    assert res.exit_code != 0


def test_evaluate_timeline_cli(tmp_path: Path) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"video": "v.mp4", "fps": 25, "duration": 10.0,
                              "events": [{"label": "slipping", "start": 2.0, "end": 4.0}]}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"video": "v.mp4", "segments": [
        {"label": "slipping", "start": 2.0, "end": 3.6, "score": 0.9}]}))
    out = tmp_path / "scores.json"
    res = CliRunner().invoke(app, ["evaluate-timeline", str(pred), str(gt), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "segment mAP@0.5: 1.000" in res.output and "segment mAP@0.7: 1.000" in res.output
    s = json.loads(out.read_text())
    assert s["frame"]["precision"] == 1.0 and s["frame"]["recall"] == pytest.approx(0.8)


def test_evaluate_lrcn_sequence_checkpoint(tmp_path: Path) -> None:
    """An LSTM checkpoint over a features file (the frame -> LSTM comparison needs its eval.json)."""
    import h5py
    import numpy as np
    import torch

    from actionlab.evaluate.run_eval import evaluate_checkpoint
    from actionlab.checkpoint import save_checkpoint
    from actionlab.models.sequence import SequenceClassifier

    feats = tmp_path / "features.h5"
    rng = np.random.default_rng(0)
    with h5py.File(feats, "w") as f:
        f["labels/test"] = np.array([0, 1, 1])
        f["keys/test"] = np.array([b"a", b"b", b"c"])
        for k, y in zip("abc", [0, 1, 1]):
            x = rng.normal(size=(5 + y, 4)).astype(np.float32)
            x[:, y] += 5.0
            f[f"videos/test/{k}"] = x
        f["mean"] = np.zeros(4, np.float32)
        f["std"] = np.ones(4, np.float32)
        f.attrs["classes"] = json.dumps(["x", "y"])
        f.attrs["feature_dim"] = 4
    torch.manual_seed(0)
    kwargs = {"in_features": 4, "num_classes": 2, "hidden": 8}
    model = SequenceClassifier(**kwargs)
    meta = {"model": {"name": "lstm_features", "kwargs": kwargs}, "classes": ["x", "y"],
            "input": {"kind": "sequence", "modality": "features", "frames": 4,
                      "features": str(feats), "windows": 2, "loss_weight": "linear"}}
    ckpt = save_checkpoint(tmp_path / "run" / "best.safetensors", model, meta)
    doc, path = evaluate_checkpoint(ckpt)
    assert path == tmp_path / "run" / "eval.json"
    assert doc["metrics"]["num_samples"] == 3 and len(doc["predictions"][0]["scores"]) == 2
    assert [p["video"] for p in doc["predictions"]] == ["a", "b", "c"]
    assert sum(sum(r) for r in doc["metrics"]["confusion"]) == 3


def test_evaluate_two_stream_views(tmp_path: Path, monkeypatch) -> None:
    """Two-input samples ((rgb, flow), label) become paired views; the model sees both."""
    import torch

    import actionlab.models as models
    from actionlab.evaluate.run_eval import evaluate_checkpoint

    seen = []

    class Two(torch.nn.Module):
        def __init__(self, num_classes: int = 3) -> None:
            super().__init__()
            self.rgb = MeanLinear(num_classes)

        def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
            seen.append((rgb.shape[0], flow.shape[0]))
            return self.rgb(rgb)

    monkeypatch.setattr(models, "build_model", lambda name, **kw: Two(**kw))
    cache = tiny_cache(tmp_path / "cache")
    ckpt = colour_checkpoint(tmp_path / "run" / "best.safetensors", cache, kind="two_stream")
    from actionlab.checkpoint import load_checkpoint, save_checkpoint

    state, meta = load_checkpoint(ckpt)
    two = Two(3)
    two.load_state_dict({f"rgb.{k}": v for k, v in state.items()})
    save_checkpoint(ckpt, two, meta)
    doc, _ = evaluate_checkpoint(ckpt, crops=3)
    # both streams get the same views per call, 3 crops of each video (videos share calls)
    assert seen and all(a == b and a % 3 == 0 for a, b in seen)
    assert sum(a for a, _ in seen) == 3 * len(doc["predictions"])
    assert doc["metrics"]["top1"] == 1.0


def test_evaluate_splits_averages_runs_of_each_split(tmp_path: Path, meanlinear) -> None:
    cache = tiny_cache(tmp_path / "cache")
    for split, shift in (("1", 0), ("2", 0), ("3", 1)):  # split 3's model is always wrong
        colour_checkpoint(tmp_path / f"r-split{split}" / "best.safetensors", cache, split=split,
                          shift=shift)
    out = tmp_path / "mean.json"
    res = CliRunner().invoke(app, ["evaluate", str(tmp_path / "r-split{split}"), "--splits",
                                   "1,2,3", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "split 3 test: 6 videos  top1 0.000" in res.output
    assert "mean over splits 1,2,3: top1 0.667 +- 0.471" in res.output
    doc = json.loads(out.read_text())
    assert doc["splits"] == ["1", "2", "3"] and doc["mean"]["top1"]["mean"] == pytest.approx(2 / 3)
    assert [r["top1"] for r in doc["runs"]] == [1.0, 1.0, 0.0]
    for split in "123":  # each run keeps its own eval.json
        assert (tmp_path / f"r-split{split}" / "eval.json").is_file()
    # runs given one by one pair with the splits in order; each run's data.split is checked
    runs = [str(tmp_path / f"r-split{s}") for s in "213"]
    res = CliRunner().invoke(app, ["evaluate", *runs, "--splits", "1,2,3"])
    assert "trained on split 2 (data.split), listed for split 1" in str(res.exception)
    res = CliRunner().invoke(app, ["evaluate", *runs[:2], "--splits", "1,2,3"])
    assert "3 splits but 2 checkpoints" in str(res.exception)


def test_evaluate_refuses_a_cache_with_other_classes(tmp_path: Path, meanlinear) -> None:
    """A checkpoint for other classes is one clear line, never a perfect-looking score."""
    cache = tiny_cache(tmp_path / "cache")
    colour_checkpoint(tmp_path / "run" / "best.safetensors", cache, classes=("sit", "run", "wave"))
    res = CliRunner().invoke(app, ["evaluate", str(tmp_path / "run")])
    assert res.exit_code != 0 and not (tmp_path / "run" / "eval.json").exists()
    assert "differ from the checkpoint's" in str(res.exception) and "'jump'" in str(res.exception)
