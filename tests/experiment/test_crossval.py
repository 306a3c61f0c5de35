"""``actionlab crossval``: folds by group, one cache, normal runs, resumable, summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from actionlab.errors import DatasetError

GROUPS = ("1", "2", "3")
CLASSES = ("blue", "red")


def _write_video(path: Path, channel: int, n: int = 8, w: int = 24, h: int = 20) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    rng = np.random.default_rng(len(str(path)))
    for _ in range(n):
        f = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        f[..., channel] = 230  # BGR: blue is channel 0, red channel 2
        out.write(f)
    out.release()


@pytest.fixture(scope="module")
def grouped_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 3 groups (sequences), 2 clips each; group 3 has a third blue clip."""
    root = tmp_path_factory.mktemp("grouped")
    for g in GROUPS:
        for k in range(2 + (g == "3")):
            _write_video(root / "blue" / f"{k}_{g}_0.avi", 0)
            if k < 2:
                _write_video(root / "red" / f"{k}_{g}_1.avi", 2)
    return root


def _config(tmp_path: Path) -> Path:
    cfg = {
        "data": {"dataset": "folder", "root": "/path/to/videos", "group_pattern": r"^\d+_(\d+)_",
                 "kind": "frame", "size": [16, 16], "val_fraction": 0.0, "batch_size": 4,
                 "params": {"transform_kw": {"crop": "random"}}},
        "model": {"name": "resnetlike", "kwargs": {"width": 0.25, "input_size": 16}},
        "optim": {"lr": 0.003},
        "train": {"epochs": 2, "log": ["csv"], "progress": False},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _files(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_crossval_folds_resume_and_summaries(tmp_path: Path, grouped_tree: Path) -> None:
    from actionlab.experiment.crossval import run_crossval
    from actionlab.evaluate.runs import results_table

    config, out = _config(tmp_path), tmp_path / "cv"
    root = [f"data.root={grouped_tree}"]
    first = run_crossval(config, out, root, "logo", fold=0, workers=1)
    assert first["n_done"] == 1 and not first["complete"]
    assert (out / "fold-00" / "result.json").is_file() and not (out / "fold-01").exists()
    before = _files(out / "fold-00")
    # a killed run: fold 1 started, wrote part of a run dir, died before its result
    (out / "fold-01" / "run").mkdir(parents=True)
    (out / "fold-01" / "run" / "metrics.csv").write_text("epoch\n")

    doc = run_crossval(config, out, root, "logo", workers=1)
    assert _files(out / "fold-00") == before  # the finished fold was not redone
    assert doc["complete"] and doc["n_folds"] == 3 and doc["n_done"] == 3
    per_fold = doc["per_fold"]
    assert [f["group"] for f in per_fold] == list(GROUPS)
    assert [f["n"] for f in per_fold] == [4, 4, 5]  # the held-out sequence's clips
    top1 = [f["top1"] for f in per_fold]
    assert doc["mean"] == pytest.approx(np.mean(top1)) and doc["std"] == pytest.approx(np.std(top1))
    conf = np.asarray(doc["confusion"])
    assert conf.sum() == 13 and conf.sum(1).tolist() == [7, 6]
    assert doc["pooled_top1"] == pytest.approx(np.trace(conf) / 13)
    assert doc["cpu_seconds"] > 0 and doc["seconds"] >= max(f["seconds"] for f in per_fold)

    for i, group in enumerate(GROUPS):  # each fold is a normal run over its own split
        m = json.loads((out / f"fold-{i:02d}" / "cache" / "manifest.json").read_text())
        test = {r["group"] for r in m["records"] if r["split"] == "test"}
        train = {r["group"] for r in m["records"] if r["split"] == "train"}
        assert test == {group} and train == set(GROUPS) - {group}
        run = out / f"fold-{i:02d}" / "run"
        assert (run / "config.yaml").is_file() and (run / "eval.json").is_file()
        assert json.loads((run / "eval.json").read_text())["metrics"]["num_samples"] == len(
            [r for r in m["records"] if r["split"] == "test"])
    md = (out / "crossval.md").read_text()
    assert f"{doc['mean']:.3f} ± {doc['std']:.3f}" in md and "| red |" in md
    assert "mean per-class accuracy" in md
    row = results_table([out])[0]  # compare understands the crossval directory
    assert row.test_top1 == pytest.approx(doc["mean"]) and "3 folds" in row.name

    # killed after training, before the result: the trained model is evaluated, not retrained
    weights = out / "fold-02" / "run" / "last.safetensors"
    stamp = weights.stat().st_mtime_ns
    (out / "fold-02" / "result.json").unlink()
    again = run_crossval(config, out, root, "logo", fold=2, workers=1)
    assert weights.stat().st_mtime_ns == stamp and again["per_fold"][2]["top1"] == top1[2]

    from actionlab.evaluate.folds import fuse_crossvals

    # late fusion: a run fused with itself scores as itself; stages name the fused runs
    fused = fuse_crossvals([out, out], tmp_path / "fused", weights=[1.0, 3.0])
    assert [f["top1"] for f in fused["per_fold"]] == top1 and fused["confusion"] == doc["confusion"]
    assert fused["stages"]["cv"]["top1"] == top1
    assert (tmp_path / "fused" / "crossval.md").is_file()


def test_crossval_refuses_bad_setups(tmp_path: Path, grouped_tree: Path) -> None:
    from actionlab.experiment.crossval import run_crossval

    config = _config(tmp_path)
    with pytest.raises(DatasetError, match="does not match the group pattern"):
        run_crossval(config, tmp_path / "a", [f"data.root={grouped_tree}",
                                              r"data.group_pattern=^x(\d+)"], workers=1)
    # a class that only the held-out sequence has
    lone = tmp_path / "lone"
    import shutil

    shutil.copytree(grouped_tree, lone)
    _write_video(lone / "green" / "0_2_2.avi", 1)
    with pytest.raises(DatasetError, match=r"0_2_2.avi: label 'green' appears only in the test "
                                           r"fold '2'"):
        run_crossval(config, tmp_path / "b", [f"data.root={lone}"], workers=1)


def test_two_stream_config_trains_its_streams_inside_the_fold(tmp_path: Path,
                                                              grouped_tree: Path) -> None:
    from actionlab.experiment.crossval import run_crossval

    common = {"dataset": "folder", "root": "/path/to/videos", "group_pattern": r"^\d+_(\d+)_",
              "size": [16, 16], "frames": 4, "val_fraction": 0.0, "batch_size": 4}
    rgb = {"name": "resnetlike", "width": 0.25, "input_size": 16}
    flow = {"name": "r2plus1d_flow", "width": 0.25, "input_shape": [4, 16, 16]}
    train = {"epochs": 1, "log": ["csv"], "progress": False}
    docs = {
        "rgb.yaml": {"data": {**common, "kind": "frame"},
                     "model": {"name": rgb["name"], "kwargs": {k: v for k, v in rgb.items()
                                                               if k != "name"}}},
        "flow.yaml": {"data": {**common, "kind": "clip", "modality": "flow"},
                      "model": {"name": flow["name"], "kwargs": {k: v for k, v in flow.items()
                                                                 if k != "name"}}},
        "two.yaml": {"data": {**common, "kind": "two_stream", "modality": "rgb+flow"},
                     "model": {"name": "two_stream",
                               "kwargs": {"fusion": "average", "rgb": rgb, "flow": flow},
                               "init": {"format": "run",
                                        "streams": {"rgb": "rgb.yaml", "flow": "flow.yaml"}}}},
    }
    for name, doc in docs.items():
        (tmp_path / name).write_text(yaml.safe_dump({**doc, "train": train}))
    out = tmp_path / "cv"
    doc = run_crossval(tmp_path / "two.yaml", out, [f"data.root={grouped_tree}"], "logo",
                       fold=0, workers=1)
    fold = out / "fold-00"
    for stage in ("rgb", "flow", "run"):  # each a normal run directory, tested on group 1
        assert (fold / stage / "eval.json").is_file()
    fused = yaml.safe_load((fold / "run" / "config.yaml").read_text())
    assert fused["model"]["init"]["streams"] == {"rgb": str(fold / "rgb"),
                                                 "flow": str(fold / "flow")}
    assert set(doc["stages"]) == {"rgb", "flow"} and doc["per_fold"][0]["n"] == 4
    assert "rgb top-1" in (out / "crossval.md").read_text()


def test_crops_of_a_whole_frame_model_are_refused_before_any_work(tmp_path: Path) -> None:
    from actionlab.config import CONFIGS
    from actionlab.errors import InputError
    from actionlab.experiment.crossval import run_crossval

    with pytest.raises(InputError, match="sees the whole frame"):
        run_crossval(CONFIGS / "motionhist_32seg_adamw_ut_interaction-flow.yaml", tmp_path / "cv",
                     [f"data.root={tmp_path / 'nowhere'}"], crops=3)
    assert not (tmp_path / "cv").exists()
