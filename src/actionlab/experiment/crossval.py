"""``actionlab crossval``: cross-validation by group (leave-one-group-out or group K-fold).

Small real data sets have no official split, and their clips come in groups (actors, recording
sequences) that must never straddle a split. :func:`run_crossval` takes any experiment config
and:

1. lists the data set with the config's adapter, each record's group from ``--group-pattern``
   / ``data.group_pattern`` (or a CSV manifest's group column);
2. prepares one cache for all folds in ``OUT/cache`` (frames stored at a short side, aspect
   kept; training and evaluation crop from them), resumed if it is there;
3. per fold, writes a cache view ``OUT/fold-NN/cache`` (its own ``manifest.json`` with the
   fold's train/test split, the entries linked from the shared cache), trains the config with
   the normal trainer into a normal run directory and evaluates it on the held-out group with
   the normal evaluation; a two-stream config whose ``model.init.streams`` name stream
   *configs* (``.yaml``) trains those streams in the fold first;
4. writes ``OUT/crossval.json`` and ``OUT/crossval.md``.

A fold is finished when ``OUT/fold-NN/result.json`` exists: a rerun skips it, and ``fold``
runs a single fold (array jobs), so a killed run resumes where it stopped.

Layout::

    OUT/cache/                 the prepared cache (all records)
    OUT/fold-00/cache/         the fold's view of it: manifest.json + links
    OUT/fold-00/<stage>/       run directories (one, or rgb, flow and the fusion)
    OUT/fold-00/result.json    the fold's test metrics (written last)
    OUT/crossval.json, OUT/crossval.md
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.config import ExperimentConfig, load_config
from actionlab.data.manifest import Manifest
from actionlab.errors import DatasetError, InputError
from actionlab.evaluate.folds import markdown, read_json, summarize
from actionlab.io import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

MAIN = "run"  # stage name of the config's own run


def cache_short_side(cfg: ExperimentConfig) -> int:
    """The short side the shared cache stores: 8/7 of the larger input side (128 for 112),
    so a random crop of the input size has room to move in both directions."""
    return int(round(max(cfg.data.size) * 8 / 7))


def _inputs(cfgs: Sequence[ExperimentConfig]) -> tuple[str, ...]:
    from actionlab.spec import cache_inputs

    return cache_inputs(c.data.modality for c in cfgs)


def _stream_configs(cfg: ExperimentConfig, source: Path | None,
                    overrides: Sequence[str]) -> dict[str, ExperimentConfig]:
    """Streams a two-stream config trains in each fold: ``model.init.streams`` naming YAMLs."""
    out: dict[str, ExperimentConfig] = {}
    for name, ref in cfg.model.init.streams.items():
        if not str(ref).endswith((".yaml", ".yml")):
            continue
        path = Path(ref)
        if not path.is_absolute() and not path.is_file() and source is not None:
            path = source.parent / ref
        shared = [o for o in overrides if o.startswith(("data.", "train."))]
        out[name] = load_config(path, shared)
    return out


def load_grouped_manifest(cfg: ExperimentConfig, group_pattern: str | None) -> Manifest:
    """The data set's records, all in ``train``, each with a group."""
    from actionlab.data.adapters import load_manifest

    if not cfg.data.root or cfg.data.root.startswith("/path/to"):
        raise InputError(f"data.root={cfg.data.root!r}: pass data.root=/path/to/the/videos")
    opts: dict[str, Any] = {}
    if cfg.data.dataset in ("ucf101", "hmdb51"):
        opts["split"] = int(cfg.data.split)
    pattern = group_pattern or cfg.data.group_pattern or None
    m = load_manifest(cfg.data.dataset, cfg.data.root, group_pattern=pattern, **opts)
    return all_in_train(m, "pass --group-pattern REGEX (or set data.group_pattern), or give "
                           "the CSV a group column")


def all_in_train(m: Manifest, hint: str) -> Manifest:
    """Every record but the ``unused`` ones, all in ``train``; a record without a group is a
    :class:`DatasetError` naming its file, then ``hint`` (how to give groups)."""
    records = [replace(r, split="train") for r in m.records if r.split != "unused"]
    missing = [r for r in records if not r.group]
    if missing:
        raise DatasetError(f"{m.abspath(missing[0])}: no group; {hint}")
    return Manifest(list(m.classes), records, m.dataset, m.root, m.meta)


def prepare_shared(cfg: ExperimentConfig, streams: dict[str, ExperimentConfig], manifest: Manifest,
                   out: Path, short_side: int | None, workers: int | None) -> Manifest:
    """Prepare (or resume) ``out/cache`` once for every fold; return its manifest."""
    from actionlab.data.prepare import PrepareConfig, prepare

    pc = PrepareConfig(size=None, short_side=short_side or cache_short_side(cfg),
                       inputs=_inputs([cfg, *streams.values()]), flow_method=cfg.data.flow_method,
                       flow_bound=cfg.data.flow_bound)
    res = prepare(manifest, out / "cache", pc, workers=workers, progress=False)
    if res.skipped:
        first = res.skipped[0]
        raise DatasetError(f"{first['path']}: could not be prepared ({first['reason']}); "
                           f"{len(res.skipped)} skipped, see {out / 'cache' / 'skipped.json'}")
    assert res.manifest is not None
    return res.manifest


def fold_view(shared: Path, prepared: Manifest, train_idx: np.ndarray, test_idx: np.ndarray,
              view: Path) -> Path:
    """A cache folder whose manifest has this fold's split; entries are links to ``shared``."""
    view.mkdir(parents=True, exist_ok=True)
    for item in shared.iterdir():
        if item.name in ("manifest.json", "skipped.json", "parts"):
            continue
        link = view / item.name
        if not link.exists():
            os.symlink(item.resolve(), link)
    split = {int(i): "train" for i in train_idx} | {int(i): "test" for i in test_idx}
    records = [replace(r, split=split[i]) for i, r in enumerate(prepared.records) if i in split]
    Manifest(list(prepared.classes), records, prepared.dataset, prepared.root,
             dict(prepared.meta)).save(view / "manifest.json")
    return view


def _check_fold_labels(m: Manifest, name: str, train_idx: np.ndarray, test_idx: np.ndarray) -> None:
    seen = {m.records[i].label for i in train_idx}
    for i in test_idx:
        r = m.records[i]
        if r.label not in seen:
            raise DatasetError(f"{m.abspath(r)}: label {r.label_name!r} appears only in the test "
                               f"fold {name!r} (group {r.group}): no training video has it")


def _checkpoint(run: Path, cfg: ExperimentConfig) -> Path:
    """Without a validation split, ``best`` would be the best *augmented training* epoch: the
    last epoch is the honest choice; with one, the best validation epoch."""
    name = "best" if cfg.data.val_fraction > 0 and (run / "best.safetensors").is_file() else "last"
    return run / f"{name}.safetensors"


def _train_stage(cfg: ExperimentConfig, fold_dir: Path, stage: str, view: Path) -> Path:
    """Train one stage of a fold: a stage whose training completed is kept (only its
    evaluation was lost), a killed one continues from its last checkpoint, any other
    leftover folder is started again."""
    from actionlab.train.run import train
    from actionlab.train.state import read_run_status

    run = fold_dir / stage
    status = (read_run_status(run) or {}) if run.is_dir() else {}
    if status.get("status") == "complete" and (run / str(status.get("model_file"))).is_file():
        return run
    c = replace(cfg, data=replace(cfg.data, cache_dir=str(view)),
                train=replace(cfg.train, out_dir=str(fold_dir), run_name=stage, progress=False))
    if (run / "last.safetensors").is_file() and (run / "last.state.pt").is_file():
        log.info("%s: continuing the killed training from its last checkpoint", run)
        got = train(c, resume=run)
    else:
        if run.exists():
            shutil.rmtree(run)
        got = train(c)
    if got != run:
        raise InputError(f"{got}: expected the run in {run}")
    return run


def _eval_stage(run: Path, cfg: ExperimentConfig, clips: int, crops: int) -> dict[str, Any]:
    from actionlab.evaluate.run_eval import evaluate_checkpoint

    doc, _ = evaluate_checkpoint(_checkpoint(run, cfg), split="test", num_clips=clips,
                                 crops=crops, batch_size=16)
    return doc


def run_fold(cfg: ExperimentConfig, streams: dict[str, ExperimentConfig], view: Path,
             fold_dir: Path, clips: int = 1, crops: int = 1) -> dict[str, Any]:
    """Train (streams first) and evaluate one fold; return its result document."""
    t0, c0 = time.perf_counter(), time.process_time()
    stages: dict[str, dict[str, Any]] = {}
    main_cfg = cfg
    if streams:
        runs = {}
        for name, scfg in streams.items():
            runs[name] = _train_stage(scfg, fold_dir, name, view)
            doc = _eval_stage(runs[name], scfg, clips if scfg.data.kind == "clip" else 1, crops)
            stages[name] = _summary(doc)
        init = replace(cfg.model.init, streams={k: str(v) for k, v in runs.items()},
                       format="run")
        main_cfg = replace(cfg, model=replace(cfg.model, init=init))
    run = _train_stage(main_cfg, fold_dir, MAIN, view)
    doc = _eval_stage(run, main_cfg, clips if cfg.data.kind == "clip" else 1, crops)
    return {**_summary(doc), "classes": doc["classes"], "run": str(run), "stages": stages,
            "predictions": [{k: p[k] for k in ("video", "label", "pred")}
                            for p in doc["predictions"]],
            "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1)}


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    m = doc["metrics"]
    return {"n": int(m["num_samples"]), "top1": float(m["top1"]),
            "mean_class_accuracy": float(m["mean_class_accuracy"]),
            "confusion": m["confusion"], "num_clips": doc.get("num_clips", 1)}


def run_crossval(
    config: str | Path | ExperimentConfig,
    out: str | Path,
    overrides: Sequence[str] = (),
    folds: str | int = "logo",
    group_pattern: str | None = None,
    fold: int | None = None,
    short_side: int | None = None,
    clips: int = 1,
    crops: int = 1,
    workers: int | None = None,
) -> dict[str, Any]:
    """Cross-validate an experiment config by group; see the module docstring.

    Args:
        config: The experiment config (YAML path or object).
        out: Output folder (resumed when it exists).
        overrides: ``key=value`` overrides of the config.
        folds: ``"logo"`` (leave one group out) or K (stratified group K-fold).
        group_pattern: Regex giving a file's group; default ``data.group_pattern``.
        fold: Run only this fold (0-based); the summary then covers the finished folds.
        short_side: Short side of the cached frames; default :func:`cache_short_side`.
        clips: Test clips per video (clip models), scores averaged.
        crops: Test crops per clip (1, 3 or 5).
        workers: Processes preparing the cache (None: all cores).

    Returns:
        The ``crossval.json`` document.
    """
    t0 = time.perf_counter()
    source = None if isinstance(config, ExperimentConfig) else Path(config)
    cfg = config if isinstance(config, ExperimentConfig) else load_config(config, overrides)
    streams = _stream_configs(cfg, source, overrides)
    from actionlab.evaluate.multiview import check_crops_fit, crop_positions

    # refused before any training, as evaluation would refuse it after
    check_crops_fit(crop_positions(crops),
                    ((cfg.data.params or {}).get("transform_kw") or {}).get("crop"))
    out = Path(out).resolve()
    manifest = load_grouped_manifest(cfg, group_pattern)
    prepared = prepare_shared(cfg, streams, manifest, out, short_side, workers)
    from actionlab.data.groups import group_folds

    splits = group_folds([r.label for r in prepared.records], [r.group for r in prepared.records],
                         folds, seed=cfg.train.seed)
    if fold is not None and not 0 <= fold < len(splits):
        raise InputError(f"--fold {fold}: there are {len(splits)} folds (0-{len(splits) - 1})")
    for i, (name, tr, te) in enumerate(splits):
        _check_fold_labels(prepared, name, tr, te)
    results: list[dict[str, Any] | None] = []
    for i, (name, tr, te) in enumerate(splits):
        fold_dir = out / f"fold-{i:02d}"
        done = fold_dir / "result.json"
        if not done.is_file() and (fold is None or fold == i):
            log.info("crossval fold %d/%d: test group %s (%d videos)", i + 1, len(splits), name,
                     len(te))
            view = fold_view(out / "cache", prepared, tr, te, fold_dir / "cache")
            res = {"fold": i, "group": name, **run_fold(cfg, streams, view, fold_dir, clips, crops)}
            write_json_atomic(done, res)
        results.append(read_json(done) if done.is_file() else None)
    info = {"config": str(source) if source else cfg.name, "name": cfg.name,
            "dataset": cfg.data.dataset, "model": cfg.model.name, "folds": str(folds),
            "group_pattern": group_pattern or cfg.data.group_pattern}
    doc = summarize(results, info, len(splits), prepared.classes)
    doc["seconds_this_run"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(out / "crossval.json", doc)
    write_text_atomic(out / "crossval.md", markdown(doc))
    return doc
