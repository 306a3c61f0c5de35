"""Run directories -> the study's results table.

What is read from a run directory (all optional but the metrics log):

* ``metrics.csv`` (or ``metrics.jsonl``): one row per epoch with ``epoch, lr, train_loss,
  train_acc, val_loss, val_acc, time``;
* ``best.safetensors`` (else ``last.safetensors``, else any ``*.safetensors``): model size, and
  the epoch it was saved at;
* ``config.yaml``: dataset and model names;
* ``eval.json`` (written by ``actionlab evaluate``): test top-1/5/10, confusion;
* ``run.json`` (written by the trainer): whether the run completed, and which checkpoint is
  the model (``best``, or ``last`` when there was no validation set).

A run that is not complete (failed, interrupted, killed, or still running) keeps its row, with
the state in its name (``exp (failed: ...)``), and a warning is logged: a failed attempt is
never mistaken for a result.

The table has, per run: train / val / test top-1, the train loss at the best validation epoch,
and the model size in MB (the bytes of all tensors in the checkpoint, 1 MB = 10^6 bytes).
"""

from __future__ import annotations

import csv
import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import logging

import numpy as np

from actionlab.errors import InputError
from actionlab.train.state import process_alive, read_run_status

log = logging.getLogger(__name__)

EVAL_FILE = "eval.json"


@dataclass
class RunSummary:
    """One row of the results table (None where the run dir lacks the data)."""

    name: str
    path: str
    dataset: str | None = None
    model: str | None = None
    best_epoch: int | None = None
    epochs: int = 0
    train_top1: float | None = None
    val_top1: float | None = None
    test_top1: float | None = None
    test_top5: float | None = None
    test_mean_class: float | None = None
    train_loss: float | None = None
    size_mb: float | None = None
    state: str = "complete"  # see :func:`run_state`
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- readers


def _number(v: Any) -> Any:
    if isinstance(v, (int, float)) or v is None:
        return v
    s = str(v).strip()
    if s == "":
        return None
    try:
        f = float(s)
    except ValueError:
        return s
    return int(f) if f.is_integer() and "." not in s and "e" not in s.lower() else f


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch rows of a run (``metrics.csv``, else ``metrics.jsonl``), numbers parsed.

    Returns:
        Rows sorted by epoch; an empty list when the run has no metrics log.
    """
    run_dir = Path(run_dir)
    csv_path, jsonl_path = run_dir / "metrics.csv", run_dir / "metrics.jsonl"
    rows: list[dict[str, Any]] = []
    if csv_path.is_file():
        with open(csv_path, encoding="utf-8", newline="") as f:
            rows = [{k: _number(v) for k, v in r.items() if k} for r in csv.DictReader(f)]
    elif jsonl_path.is_file():
        for i, line in enumerate(jsonl_path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            try:
                rows.append({k: _number(v) for k, v in json.loads(line).items()})
            except json.JSONDecodeError:
                raise InputError(f"{jsonl_path}:{i + 1}: not a JSON line") from None
    rows = [r for r in rows if isinstance(r.get("epoch"), (int, float))]
    return sorted(rows, key=lambda r: r["epoch"])


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def best_row(rows: list[dict[str, Any]], by: str = "val_acc") -> dict[str, Any] | None:
    """The epoch row with the best validation metric (highest accuracy, lowest loss).

    The first best wins on ties, as the trainer keeps the first best checkpoint.
    """
    best, best_v = None, None
    lower = by.endswith("loss")
    for r in rows:
        v = _finite(r.get(by))
        if v is None:
            continue
        if best_v is None or (v < best_v if lower else v > best_v):
            best, best_v = r, v
    return best


def tensor_bytes(path: str | Path) -> int:
    """Sum of the tensor bytes in a safetensors file, read from its header alone."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a safetensors file ({exc})") from None
    return sum(int(v["data_offsets"][1]) - int(v["data_offsets"][0])
               for k, v in header.items() if k != "__metadata__")


def find_checkpoint(run_dir: str | Path) -> Path | None:
    """The run's model, by the one rule: :func:`actionlab.checkpoint.run_model_file`."""
    from actionlab.checkpoint import run_model_file

    return run_model_file(run_dir)


def run_state(run_dir: str | Path) -> str:
    """``complete``, or what is wrong with a run, in a few words for a table and a log line.

    ``failed: <why>``, ``interrupted at epoch 3 of 10``, ``running or killed at epoch 2 of
    10``, ``no checkpoint`` (a folder from before ``run.json``, or one that failed before
    training began). A run from before ``run.json`` with a checkpoint counts as complete.
    """
    run_dir = Path(run_dir)
    status = read_run_status(run_dir)
    has_ckpt = find_checkpoint(run_dir) is not None
    if status is None:
        return "complete" if has_ckpt else "no checkpoint: training failed before its first epoch"
    state = status.get("status")
    at = f"epoch {status.get('epochs_done', '?')} of {status.get('epochs', '?')}"
    if state == "complete":
        return "complete"
    if state == "failed":
        return f"failed at {at}: {status.get('error') or 'no reason recorded'}"
    if state == "interrupted":
        return f"interrupted at {at} (resume it with actionlab train --resume {run_dir})"
    if state == "running":
        return f"still running at {at}" if process_alive(status) else f"killed at {at}"
    return f"unknown state {state!r}"


def run_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint ``evaluate RUN`` (and any command given a run folder) uses.

    A run that is not complete is used with a warning (an interrupted run's last checkpoint
    is a real model); one without any checkpoint is refused.

    Raises:
        InputError: the folder holds no checkpoint, with the run's state.
    """
    run_dir = Path(run_dir)
    ckpt = find_checkpoint(run_dir)
    if ckpt is None and not (run_dir / "run.json").is_file():
        # ``train.out_dir=DIR`` puts the run in DIR/<name>: DIR holding one run means it
        inner = [d for d in sorted(run_dir.glob("*/run.json"))] if run_dir.is_dir() else []
        if len(inner) == 1:
            log.info("%s: using its one run, %s", run_dir, inner[0].parent.name)
            run_dir = inner[0].parent
            ckpt = find_checkpoint(run_dir)
    state = run_state(run_dir)
    if ckpt is None:
        if state == "complete":
            state = "no .safetensors checkpoint in this folder"
        raise InputError(f"{run_dir}: not a usable run ({state})")
    if state != "complete":
        log.warning("%s is not a complete run (%s); using %s", run_dir, state, ckpt.name)
    return ckpt


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """``config.yaml`` as a dict ({} when absent or unreadable)."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return {}
    # The sections tables read must be mappings too: `model: x` is as unreadable as no file.
    if not isinstance(data, dict) or any(
            not isinstance(data.get(k) or {}, dict) for k in ("data", "model")):
        return {}
    return data


def read_eval(run_dir: str | Path, name: str = EVAL_FILE) -> dict[str, Any] | None:
    """A run's ``eval.json`` (None when absent)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); re-run actionlab evaluate") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics", {}), dict):
        raise InputError(f"{path}: not an evaluation (expected an object with a 'metrics' "
                         "object); re-run actionlab evaluate")
    return doc


# --------------------------------------------------------------------------- the table


def summarize_run(
    run_dir: str | Path, best_by: str = "val_acc", name: str | None = None
) -> RunSummary:
    """One results-table row for a run directory.

    Args:
        run_dir: The run folder.
        best_by: Metric that picks the best epoch: ``val_acc`` (as the trainer's
            ``best.safetensors``) or ``val_loss`` (the study's "train loss at minimum
            validation loss").
        name: Row label; default the folder name.

    Raises:
        InputError: if ``run_dir`` is not a folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory (expected a folder from actionlab train)")
    if (run_dir / "crossval.json").is_file():
        return _crossval_row(run_dir, name)
    s = RunSummary(name=name or run_dir.name, path=str(run_dir))
    cfg = read_config(run_dir)
    s.dataset = (cfg.get("data") or {}).get("dataset")
    s.model = (cfg.get("model") or {}).get("name")
    s.state = run_state(run_dir)
    rows = read_metrics(run_dir)
    s.epochs = len(rows)
    # no validation metric: the last epoch is the model (training accuracy picks nothing)
    best = best_row(rows, best_by) or (rows[-1] if rows else None)
    if best is not None:
        s.best_epoch = int(best["epoch"])
        s.train_top1 = _finite(best.get("train_acc"))
        s.val_top1 = _finite(best.get("val_acc"))
        s.train_loss = _finite(best.get("train_loss"))
    ckpt = find_checkpoint(run_dir)
    if ckpt is not None:
        s.size_mb = tensor_bytes(ckpt) / 1e6
    ev = read_eval(run_dir)
    if ev is not None:
        m = ev.get("metrics") or {}
        s.test_top1 = _finite(m.get("top1"))
        s.test_top5 = _finite(m.get("top5"))
        s.test_mean_class = _finite(m.get("mean_class_accuracy"))
    return s


def _crossval_row(path: Path, name: str | None) -> RunSummary:
    """A crossval directory as one row: test top-1 is the mean over its folds."""
    from actionlab.evaluate.folds import summarize_dir

    d = summarize_dir(path)
    label = f"{name or path.name} ({d['n_done']} folds, mean ± {d['std']:.3f})"
    return RunSummary(name=label, path=str(path), dataset=d.get("dataset"), model=d.get("model"),
                      test_top1=_finite(d.get("mean")), test_mean_class=_finite(
                          d.get("mean_class_accuracy")), extra={"crossval": d})


def results_table(run_dirs: list[str | Path], best_by: str = "val_acc") -> list[RunSummary]:
    """:func:`summarize_run` for each run, names made unique (parent/name) when folders clash."""
    rows = [summarize_run(r, best_by) for r in run_dirs]
    names = [r.name for r in rows]
    for r in rows:
        if names.count(r.name) > 1:
            p = Path(r.path)
            r.name = f"{p.parent.name}/{p.name}"
        if r.state != "complete":
            log.warning("%s: not a complete run (%s)", r.path, r.state)
            r.name = f"{r.name} ({_short_state(r.state)})"
    return rows


def _short_state(state: str, limit: int = 60) -> str:
    return state if len(state) <= limit else state[: limit - 3] + "..."


COLUMNS = (
    ("Run", "name"), ("Dataset", "dataset"), ("Model", "model"), ("Best epoch", "best_epoch"),
    ("Top-1 train / val / test", None), ("Train loss", "train_loss"), ("Size (MB)", "size_mb"),
)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _fmt_mb(v: float | None) -> str:
    """Megabytes as the study prints them (10.3), small models with 3 significant digits."""
    if v is None:
        return "-"
    return f"{v:.1f}" if v >= 1 else f"{v:.3g}"


def table_cells(rows: list[RunSummary]) -> tuple[list[str], list[list[str]]]:
    """Header and string cells of the results table (shared by rich, Markdown and HTML)."""
    header = [c[0] for c in COLUMNS]
    body = []
    for r in rows:
        acc = " / ".join(_fmt(v) for v in (r.train_top1, r.val_top1, r.test_top1))
        body.append([r.name, _fmt(r.dataset), _fmt(r.model), _fmt(r.best_epoch), acc,
                     _fmt(r.train_loss), _fmt_mb(r.size_mb)])
    return header, body


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def rich_table(header: list[str], body: list[list[str]], title: str | None = None,
               text_columns: int = 3) -> Any:
    """A :class:`rich.table.Table` (cells are not parsed as rich markup).

    Args:
        header: Column names.
        body: Rows of string cells.
        title: Table title.
        text_columns: How many leading columns are text (left-aligned); the rest are numbers.
    """
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title)
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i < text_columns else "right", no_wrap=i > 0)
    for row in body:
        t.add_row(*(Text(c) for c in row))
    return t


# --------------------------------------------------------------------------- improvement


def run_confusion(run_dir: str | Path) -> tuple[np.ndarray, list[str]]:
    """The test confusion and class names from a run's ``eval.json``.

    Raises:
        InputError: when the run has not been evaluated.
    """
    ev = read_eval(run_dir)
    if ev is None or "confusion" not in (ev.get("metrics") or {}):
        raise InputError(
            f"{Path(run_dir) / EVAL_FILE}: missing; run `actionlab evaluate "
            f"{Path(run_dir) / 'best.safetensors'}` first"
        )
    cm = np.asarray(ev["metrics"]["confusion"], dtype=np.int64)
    classes = list(ev.get("classes") or [str(i) for i in range(len(cm))])
    return cm, classes


def improvement_between(run_before: str | Path, run_after: str | Path) -> list[dict[str, Any]]:
    """Per-class test accuracy change from one run to another, largest gain first.

    Raises:
        InputError: when a run lacks ``eval.json`` or the two class lists differ.
    """
    from actionlab.metrics import per_class_improvement

    cm_a, classes_a = run_confusion(run_before)
    cm_b, classes_b = run_confusion(run_after)
    if classes_a != classes_b:
        raise InputError(
            f"{run_before} and {run_after} were evaluated on different classes; compare runs "
            "trained on the same dataset"
        )
    return per_class_improvement(cm_a, cm_b, classes_a)


def improvement_cells(
    rows: list[dict[str, Any]], top: int | None = None
) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the per-class improvement table (``top`` gains, all by default)."""
    header = ["Class", "Before", "After", "Gain"]
    sel = rows if top is None else rows[:top]
    return header, [[r["class"], _fmt(r["before"]), _fmt(r["after"]), f"{r['gain']:+.3f}"]
                    for r in sel]


# --------------------------------------------------------------------------- splits


def split_checkpoints(paths: list[Path], splits: str | None) -> list[tuple[str | None, Path]]:
    """Pair checkpoints (or run dirs) with the official split each was trained on.

    ``splits`` is ``"1,2,3"`` or None. A single path holding ``{split}`` is expanded once per
    split (``runs/r21d-ucf101-split{split}``); otherwise the paths pair with the splits in
    order. Every checkpoint's own ``data.split`` must be the split it stands for, so a run of
    another split is never averaged in by mistake.

    Raises:
        InputError: counts that differ, a missing checkpoint, or a run of another split.
    """
    if not splits:
        return [(None, Path(p)) for p in paths]
    names = [s.strip() for s in splits.split(",") if s.strip()]
    if len(paths) == 1 and "{split}" in str(paths[0]):
        paths = [Path(str(paths[0]).replace("{split}", s)) for s in names]
    if len(paths) != len(names):
        raise InputError(f"--splits {splits}: {len(names)} splits but {len(paths)} checkpoints; "
                         "give one run per split, or one path with {split} in it")
    out = []
    for split, path in zip(names, paths, strict=True):
        ckpt = run_checkpoint(path) if path.is_dir() else path
        if ckpt is None or not ckpt.is_file():
            raise InputError(f"{path}: no checkpoint for split {split} here")
        trained = str(_checkpoint_config(ckpt).get("data", {}).get("split", ""))
        if trained != split:
            raise InputError(f"{ckpt}: trained on split {trained or '?'} (data.split), "
                             f"listed for split {split}")
        out.append((split, ckpt))
    return out


def _checkpoint_config(ckpt: Path) -> dict[str, Any]:
    from actionlab.checkpoint import read_meta

    return read_meta(ckpt).get("config") or {}


def mean_metrics(docs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (population, over runs) of every metric the eval
    documents share: ``{"top1": {"mean", "std"}, ...}``."""
    keys = [k for k in docs[0]["metrics"] if k != "num_samples"
            and all(isinstance(d["metrics"].get(k), (int, float)) for d in docs)]
    out = {}
    for k in keys:
        values = np.asarray([float(d["metrics"][k]) for d in docs])
        out[k] = {"mean": float(values.mean()), "std": float(values.std())}
    return out
