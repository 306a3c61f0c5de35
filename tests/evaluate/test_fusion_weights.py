"""Late-fusion weights fitted on out-of-fold scores: a useless stream gets none, and the fit
never sees the fold it is judged on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actionlab.errors import InputError
from actionlab.evaluate.folds import fit_fusion_weights, fuse_crossvals, simplex_grid


def test_simplex_grid_covers_every_split_once() -> None:
    g = simplex_grid(3, 0.25)
    assert g.shape == (15, 3)  # C(4 + 2, 2)
    assert np.allclose(g.sum(1), 1.0) and (g >= 0).all()
    assert len({tuple(r) for r in g}) == 15 and [1.0, 0.0, 0.0] in g.tolist()


def _probs(rng: np.random.Generator, labels: np.ndarray, k: int, skill: float) -> np.ndarray:
    """Class probabilities that favour the true class by ``skill`` (0: pure noise)."""
    logits = rng.normal(size=(len(labels), k))
    logits[np.arange(len(labels)), labels] += skill
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


def test_noise_stream_gets_no_weight_and_fusion_never_loses() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 300)
    good, noise = _probs(rng, y, 6, 2.0), _probs(rng, y, 6, 0.0)
    w = fit_fusion_weights([noise, good], y)
    assert w[1] >= 0.9 and w.sum() == pytest.approx(1.0)
    fused = w[0] * noise + w[1] * good
    assert (fused.argmax(1) == y).mean() >= (good.argmax(1) == y).mean()
    # two useful, complementary streams: both kept, and the fusion beats each
    a, b = _probs(rng, y, 6, 1.5), _probs(rng, y, 6, 1.5)
    w = fit_fusion_weights([a, b], y)
    assert 0.2 <= w[0] <= 0.8
    acc = ((w[0] * a + w[1] * b).argmax(1) == y).mean()
    assert acc > max((a.argmax(1) == y).mean(), (b.argmax(1) == y).mean())


def _crossval_dir(root: Path, name: str, folds: list[tuple[np.ndarray, np.ndarray]],
                  classes: list[str]) -> Path:
    """A finished crossval folder as ``run_crossval`` leaves it (the parts fuse reads)."""
    out = root / name
    for i, (scores, labels) in enumerate(folds):
        run = out / f"fold-{i:02d}" / "run"
        run.mkdir(parents=True)
        preds = [{"video": f"v{i}_{j}.mp4", "label": int(t), "scores": s.tolist()}
                 for j, (s, t) in enumerate(zip(scores, labels, strict=True))]
        (run / "eval.json").write_text(json.dumps({"predictions": preds}))
        top1 = float((scores.argmax(1) == labels).mean())
        (out / f"fold-{i:02d}" / "result.json").write_text(json.dumps(
            {"run": str(run), "group": f"g{i}", "top1": top1, "seconds": 1.0}))
    (out / "crossval.json").write_text(json.dumps({
        "classes": classes, "n_folds": len(folds), "config": f"{name}.yaml", "dataset": "x",
        "folds": "logo", "group_pattern": "g(\\d+)"}))
    return out


def test_fitted_fusion_of_crossval_runs_is_out_of_fold(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    classes = [f"c{k}" for k in range(4)]
    labels = [rng.integers(0, 4, 40) for _ in range(5)]
    good = _crossval_dir(tmp_path, "flow", [(_probs(rng, y, 4, 2.5), y) for y in labels], classes)
    noise = _crossval_dir(tmp_path, "frame", [(_probs(rng, y, 4, 0.0), y) for y in labels],
                          classes)
    equal = fuse_crossvals([noise, good], tmp_path / "avg")
    fit = fuse_crossvals([noise, good], tmp_path / "fit", weights="fit")
    assert fit["weights"] == "fit" and "fitted" in fit["name"]
    assert all(f["weights"][1] >= 0.8 for f in fit["per_fold"])
    assert fit["mean"] >= fit["stages"]["flow"]["mean"] - 0.02 > equal["mean"]
    assert "weights" in json.loads((tmp_path / "fit" / "crossval.json").read_text())["per_fold"][0]

    # a fold's own labels never enter its weights: flipping them changes nothing but its score
    flipped = [y.copy() for y in labels]
    flipped[2] = (flipped[2] + 1) % 4
    scores = [json.loads((d / "fold-02" / "run" / "eval.json").read_text()) for d in (noise, good)]
    for d, doc in zip((noise, good), scores, strict=True):
        for p, t in zip(doc["predictions"], flipped[2], strict=True):
            p["label"] = int(t)
        (d / "fold-02" / "run" / "eval.json").write_text(json.dumps(doc))
    again = fuse_crossvals([noise, good], tmp_path / "fit2", weights="fit")
    assert again["per_fold"][2]["weights"] == fit["per_fold"][2]["weights"]
    assert again["per_fold"][2]["top1"] < fit["per_fold"][2]["top1"]  # the flip took effect

    with pytest.raises(InputError, match="one number per run or 'fit'"):
        fuse_crossvals([noise, good], tmp_path / "bad", weights="best")


def test_fuse_crossval_command(tmp_path: Path, actionlab) -> None:
    from cli_run import refused

    rng = np.random.default_rng(2)
    classes = ["a", "b", "c"]
    labels = [rng.integers(0, 3, 30) for _ in range(3)]
    good = _crossval_dir(tmp_path, "pose", [(_probs(rng, y, 3, 2.5), y) for y in labels], classes)
    noise = _crossval_dir(tmp_path, "rgb", [(_probs(rng, y, 3, 0.0), y) for y in labels], classes)
    res = actionlab("fuse-crossval", noise, good, "--out", tmp_path / "fit")
    assert res.code == 0, res.err
    doc = json.loads((tmp_path / "fit" / "crossval.json").read_text())
    assert doc["weights"] == "fit" and len(doc["per_fold"]) == 3
    assert f"top-1 {doc['mean']:.3f}" in res.out and res.out.count(" weights ") == 3
    res = actionlab("fuse-crossval", noise, good, "--out", tmp_path / "eq", "--weights", "1,1")
    assert res.code == 0 and json.loads((tmp_path / "eq" / "crossval.json").read_text())[
        "weights"] == [1.0, 1.0]
    for bad, needle in (("1", "one number >= 0 per folder"), ("x,y", "numbers like 1,1.5"),
                        ("0,0", "not all 0")):
        refused(actionlab("fuse-crossval", noise, good, "--out", tmp_path / "bad",
                          "--weights", bad), needle, code=2)
    refused(actionlab("fuse-crossval", good, "--out", tmp_path / "bad"), "two or more", code=2)
    assert not (tmp_path / "bad").exists()
