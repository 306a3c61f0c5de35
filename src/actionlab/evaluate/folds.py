"""Scores of cross-validation by group: ``crossval.json`` / ``crossval.md`` from the folds'
results, a crossval folder read back for ``compare``, and late fusion of two crossval runs made
over the same folds. Nothing here trains: the folds are run by :mod:`actionlab.experiment.crossval`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import InputError
from actionlab.io import write_json_atomic, write_text_atomic


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def mean_std(values: list[float]) -> dict[str, float]:
    """``{"mean", "std"}`` of per-fold figures (NaN for none)."""
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()) if len(a) else float("nan"),
            "std": float(a.std()) if len(a) else float("nan")}


def summarize(results: list[dict[str, Any] | None], info: dict[str, Any], n_folds: int,
              classes: list[str]) -> dict[str, Any]:
    """The ``crossval.json`` document from the finished folds' results.

    Args:
        results: Per fold its ``result.json`` document, or None while unfinished.
        info: What was cross-validated (config, name, dataset, model, folds, group_pattern).
        n_folds: The number of folds.
        classes: Class names (the confusion matrices' order).
    """
    done = [r for r in results if r is not None]
    top1 = [r["top1"] for r in done]
    conf = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for r in done:
        conf += np.asarray(r["confusion"], dtype=np.int64)
    per_class = (np.diag(conf) / np.maximum(conf.sum(1), 1)).tolist()
    stage_names = sorted({s for r in done for s in r.get("stages", {})})
    stages = {s: {**mean_std([r["stages"][s]["top1"] for r in done if s in r.get("stages", {})]),
                  "top1": [r["stages"][s]["top1"] for r in done if s in r.get("stages", {})]}
              for s in stage_names}
    n = int(conf.sum())
    return {
        **info, "n_folds": n_folds, "n_done": len(done),
        "complete": len(done) == n_folds, **mean_std(top1),
        "pooled_top1": float(np.trace(conf) / n) if n else float("nan"),
        "mean_class_accuracy": float(np.mean(per_class)) if n else float("nan"),
        "per_class_accuracy": dict(zip(classes, per_class, strict=True)), "classes": classes,
        "confusion": conf.tolist(), "stages": stages,
        "seconds": round(sum(r.get("seconds", 0.0) for r in done), 1),
        "cpu_seconds": (round(sum(r["cpu_seconds"] for r in done), 1)
                        if all("cpu_seconds" in r for r in done) else None),
        "per_fold": [{k: r[k] for k in ("fold", "group", "n", "top1", "mean_class_accuracy",
                                        "seconds")}
                     | {"stages": {s: v["top1"] for s, v in r.get("stages", {}).items()}}
                     | ({"weights": r["weights"]} if "weights" in r else {})
                     for r in done],
    }


def markdown(doc: dict[str, Any]) -> str:
    """``crossval.md``: per-fold table, mean ± std, per-class accuracy, summed confusion."""
    from actionlab.evaluate.runs import markdown_table

    stages = list(doc["stages"])
    head = ["Fold", "Test group", "n", *(f"{s} top-1" for s in stages), "Top-1"]
    body = [[str(r["fold"]), r["group"], str(r["n"]),
             *(f"{r['stages'][s]:.3f}" if s in r["stages"] else "-" for s in stages),
             f"{r['top1']:.3f}"] for r in doc["per_fold"]]
    body.append(["mean ± std", "", str(sum(r["n"] for r in doc["per_fold"])),
                 *(f"{doc['stages'][s]['mean']:.3f} ± {doc['stages'][s]['std']:.3f}"
                   for s in stages), f"{doc['mean']:.3f} ± {doc['std']:.3f}"])
    classes = doc["classes"]
    conf = [[c, *(str(v) for v in row)] for c, row in zip(classes, doc["confusion"], strict=True)]
    pc = [[c, f"{v:.3f}"] for c, v in doc["per_class_accuracy"].items()]
    state = "" if doc["complete"] else f" ({doc['n_done']} of {doc['n_folds']} folds finished)"
    return "\n".join([
        f"# Cross-validation: {doc['name']}{state}\n",
        f"{doc['folds']} folds by group over {doc['dataset']}; model {doc['model']}; "
        f"training and testing took {doc['seconds'] / 60:.1f} min (summed over the folds)"
        + (f", {doc['cpu_seconds'] / 60:.1f} min of CPU time" if doc.get("cpu_seconds") else "")
        + ".\n",
        markdown_table(head, body), "",
        f"**Top-1: {doc['mean']:.3f} ± {doc['std']:.3f}** (mean ± std over "
        f"{doc['n_done']} folds; pooled over all test videos {doc['pooled_top1']:.3f}); "
        f"mean per-class accuracy {doc['mean_class_accuracy']:.3f}.\n",
        "**Per-class accuracy**\n", markdown_table(["Class", "Accuracy"], pc), "",
        "**Confusion matrix, summed over the folds** (rows: true class, columns: predicted)\n",
        markdown_table(["", *classes], conf), "",
    ])


def summarize_dir(path: str | Path) -> dict[str, Any]:
    """A crossval directory's ``crossval.json`` (for ``compare``)."""
    p = Path(path) / "crossval.json"
    if not p.is_file():
        raise InputError(f"{path}: no crossval.json (not a crossval directory)")
    return read_json(p)


def simplex_grid(n: int, step: float) -> np.ndarray:
    """Every weight vector of ``n`` non-negative multiples of ``step`` summing to 1, (M, n)."""
    k = round(1 / step)
    rows: list[list[int]] = []

    def rec(prefix: list[int], left: int, slots: int) -> None:
        if slots == 1:
            rows.append([*prefix, left])
            return
        for v in range(left, -1, -1):
            rec([*prefix, v], left - v, slots - 1)

    rec([], k, n)
    return np.asarray(rows, dtype=float) / k


def fit_fusion_weights(scores: Sequence[np.ndarray], labels: np.ndarray,
                       step: float = 0.05) -> np.ndarray:
    """Late-fusion weights (one per stream, summing to 1) that score ``labels`` best.

    Every point of a grid over the simplex is tried on the streams' class probabilities
    (``scores``: one (N, K) array per stream): the lowest log-loss of the fused probabilities,
    then the most correct top-1, then the weights nearest equal. Log-loss, not top-1, decides:
    on a few dozen clips a pinch of a useless stream flips one or two of them by chance, while
    it always costs log-loss. Each stream alone is a point of the grid, so on these scores the
    fusion's log-loss is never above its best stream's, and a stream that adds nothing gets a
    weight of 0. Fit on out-of-fold scores, never on the ones it will be judged on
    (:func:`fuse_crossvals`).
    """
    grid = simplex_grid(len(scores), step)
    s = np.stack([np.asarray(x, dtype=float) for x in scores])  # (R, N, K)
    fused = np.einsum("mr,rnk->mnk", grid, s)  # (M, N, K)
    y = np.asarray(labels)
    correct = (fused.argmax(2) == y).sum(1)
    p = np.clip(np.take_along_axis(fused, y[None, :, None], 2)[..., 0], 1e-12, None)
    loss = np.round(-np.log(p).mean(1), 9)  # equal up to rounding counts as a tie
    spread = np.abs(grid - 1.0 / len(scores)).sum(1)
    best = np.lexsort((spread, -correct, loss))[0]
    return grid[best]


def fuse_crossvals(dirs: Sequence[str | Path], out: str | Path,
                   weights: Sequence[float] | str | None = None) -> dict[str, Any]:
    """Late fusion of crossval runs made over the same folds (e.g. a frame and a flow stream):
    each test video's class probabilities are the weighted mean of the runs' (their
    ``eval.json`` scores); written to ``out`` as ``crossval.json`` / ``crossval.md``.

    Args:
        dirs: Finished crossval directories with the same folds and classes.
        out: Where the fused summary goes.
        weights: One weight per run (default equal), or ``"fit"``: for each fold, the weights
            :func:`fit_fusion_weights` finds on the other folds' test scores. Those videos lie
            in this fold's training part and were scored by models that never trained on them
            (out of fold), and this fold's own labels take no part, so the figure stays honest;
            each fold's weights are in ``per_fold``.

    Returns:
        The fused ``crossval.json`` document (``stages`` holds each run's own top-1 per fold).
    """
    from actionlab.metrics import classification_metrics

    dirs = [Path(d) for d in dirs]
    docs = [summarize_dir(d) for d in dirs]
    fitted = isinstance(weights, str)
    if fitted and weights != "fit":
        raise InputError(f"fuse: weights {weights!r}: give one number per run or 'fit'")
    w = np.asarray([1.0] * len(dirs) if weights is None or fitted else weights, dtype=float)
    if len(w) != len(dirs) or (w < 0).any() or not w.sum() > 0:
        raise InputError(f"fuse: weights {w.tolist()}: one number >= 0 per folder "
                         f"({len(dirs)}), not all 0")
    if any(d["classes"] != docs[0]["classes"] for d in docs):
        raise InputError("fuse: the crossval runs are over different classes")
    classes = docs[0]["classes"]
    folds: list[tuple[list[dict[str, Any]], list[np.ndarray], np.ndarray] | None] = []
    for i in range(docs[0]["n_folds"]):
        paths = [d / f"fold-{i:02d}" / "result.json" for d in dirs]
        if not all(f.is_file() for f in paths):
            folds.append(None)
            continue
        res = [read_json(f) for f in paths]
        evals = [read_json(Path(r["run"]) / "eval.json") for r in res]
        videos = [p["video"] for p in evals[0]["predictions"]]
        if any([p["video"] for p in e["predictions"]] != videos for e in evals):
            raise InputError(f"fuse: fold {i} tests different videos in {dirs}")
        folds.append((res, [np.asarray([p["scores"] for p in e["predictions"]], dtype=float)
                            for e in evals],
                      np.asarray([p["label"] for p in evals[0]["predictions"]])))
    results: list[dict[str, Any] | None] = []
    for i, fold in enumerate(folds):
        if fold is None:
            results.append(None)
            continue
        res, scores, labels = fold
        wi = w
        if fitted:
            others = [f for j, f in enumerate(folds) if f is not None and j != i]
            if not others:
                raise InputError("fuse: weights 'fit' needs at least two finished folds")
            wi = fit_fusion_weights(
                [np.concatenate([f[1][r] for f in others]) for r in range(len(dirs))],
                np.concatenate([f[2] for f in others]))
        fused = sum(a * s for a, s in zip(wi, scores, strict=True)) / wi.sum()
        m = classification_metrics(fused, labels, len(classes))
        results.append({"fold": i, "group": res[0]["group"], "n": len(labels),
                        "top1": float(m["top1"]),
                        "mean_class_accuracy": float(m["mean_class_accuracy"]),
                        "confusion": m["confusion"], "seconds": sum(r["seconds"] for r in res),
                        **({"cpu_seconds": sum(r["cpu_seconds"] for r in res)}
                           if all("cpu_seconds" in r for r in res) else {}),
                        **({"weights": [round(float(a), 4) for a in wi]} if fitted else {}),
                        "stages": {d.name: {"top1": r["top1"]}
                                   for d, r in zip(dirs, res, strict=True)}})
    info = {"config": " + ".join(str(d["config"]) for d in docs),
            "name": ("fitted late fusion of " if fitted else "late fusion of ")
                    + " + ".join(d.name for d in dirs),
            "dataset": docs[0]["dataset"],
            "model": "score average, weights fitted per fold on the other folds' scores"
                     if fitted else "score average", "folds": docs[0]["folds"],
            "group_pattern": docs[0]["group_pattern"], "weights": "fit" if fitted else w.tolist()}
    doc = summarize(results, info, docs[0]["n_folds"], classes)
    out = Path(out)
    write_json_atomic(out / "crossval.json", doc)
    write_text_atomic(out / "crossval.md", markdown(doc))
    return doc
