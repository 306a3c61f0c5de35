"""Figures for runs and timelines.

Each plot has a ``*_figure`` function that builds a :class:`matplotlib.figure.Figure` from plain
data, and a ``plot_*`` function that writes it to a PNG atomically. Figures are made without
pyplot (no global state, no display needed: the Agg canvas renders them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

# The PNG helpers and the timeline figure live below the report, in infer (timeline draws them).
from actionlab.infer.plots import (  # noqa: F401
    DPI,
    plot_timeline,
    png_bytes,
    save_png,
    timeline_figure,
)


def _column(rows: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of one metric, skipping rows where it is missing or not finite."""
    xs, ys = [], []
    for r in rows:
        v = r.get(key)
        epoch = r.get("epoch")
        if isinstance(v, (int, float)) and np.isfinite(v) and isinstance(epoch, (int, float)):
            xs.append(r["epoch"])
            ys.append(v)
    return np.asarray(xs, float), np.asarray(ys, float)


# --------------------------------------------------------------------------- training


def training_curves_figure(rows: Sequence[dict[str, Any]], title: str | None = None,
                           best_epoch: int | None = None) -> Figure:
    """Train vs validation loss (left) and accuracy (right) per epoch.

    Args:
        rows: Per-epoch metrics (``epoch``, ``train_loss``, ``val_loss``, ``train_acc``,
            ``val_acc``), e.g. from :func:`actionlab.evaluate.runs.read_metrics`.
        title: Figure title.
        best_epoch: Marked with a dashed line.
    """
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    for ax, what, label in ((axes[0], "loss", "loss"), (axes[1], "acc", "top-1 accuracy")):
        for split, style in (("train", "-o"), ("val", "-s")):
            x, y = _column(rows, f"{split}_{what}")
            if len(x):
                ax.plot(x, y, style, ms=3, label="train" if split == "train" else "validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str | None = None,
                         best_epoch: int | None = None) -> Path:
    """Write :func:`training_curves_figure` to ``path`` (PNG)."""
    return save_png(training_curves_figure(rows, title, best_epoch), path)


def lr_series(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, str]:
    """The learning rate over training from per-epoch rows.

    Per iteration when rows carry ``lr_iter`` (a list of the epoch's per-step rates, placed
    evenly within the epoch); else per epoch from ``lr``.

    Returns:
        ``(x in epochs, lr, "iteration" | "epoch")``; empty arrays when nothing was logged.
    """
    xs: list[float] = []
    ys: list[float] = []
    for r in rows:
        it = r.get("lr_iter")
        if isinstance(it, str):
            try:
                import json

                it = json.loads(it)
            except ValueError:
                it = None
        if isinstance(it, list) and it and isinstance(r.get("epoch"), (int, float)):
            n = len(it)
            xs += [r["epoch"] - 1 + (i + 1) / n for i in range(n)]
            ys += [float(v) for v in it]
    if xs:
        return np.asarray(xs), np.asarray(ys), "iteration"
    x, y = _column(rows, "lr")
    return x, y, "epoch"


def lr_figure(x: Sequence[float], lr: Sequence[float], per: str = "epoch",
              title: str | None = None) -> Figure:
    """The learning-rate schedule (log scale when it spans more than a decade).

    Args:
        x: Position of each value in epochs (fractional for per-iteration rates).
        lr: Learning rates.
        per: ``epoch`` or ``iteration`` (how the rates were logged; changes the marker).
        title: Axes title.
    """
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    x, lr = np.asarray(x, float), np.asarray(lr, float)
    ax.plot(x, lr, "-" if per == "iteration" else "-o", ms=3)
    pos = lr[lr > 0]
    if len(pos) and pos.max() / pos.min() > 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"learning rate (per {per})")
    ax.grid(alpha=0.3)
    ax.set_title(title or "learning-rate schedule")
    fig.tight_layout()
    return fig


def plot_lr(rows: Sequence[dict[str, Any]], path: str | Path, title: str | None = None) -> Path:
    """Write the learning-rate schedule of per-epoch rows (``lr`` or ``lr_iter``) to a PNG."""
    x, y, per = lr_series(rows)
    return save_png(lr_figure(x, y, per, title), path)


# --------------------------------------------------------------------------- classification


def confusion_figure(cm: Any, classes: Sequence[str], normalize: bool = True,
                     title: str | None = None) -> Figure:
    """Confusion-matrix heatmap (rows = true class, columns = predicted).

    Readable from a handful of classes to about a hundred: the figure grows with the class
    count, cells carry their values only up to 20 classes, and tick labels shrink.

    Args:
        cm: (C, C) counts.
        classes: C class names.
        normalize: Show row-normalised rates (each true class sums to 1).
        title: Axes title.
    """
    from actionlab.metrics import normalize_confusion

    cm = np.asarray(cm, dtype=np.float64)
    c = len(cm)
    shown = normalize_confusion(cm) if normalize else cm
    # cells of about 0.5 in while values are printed in them, 0.2 in beyond
    side = float(np.clip(3 + 0.45 * c, 5, 12)) if c <= 20 else float(np.clip(0.2 * c, 9, 24))
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(1.0, shown.max()),
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    font = float(np.clip(11 - c / 10, 5, 10))
    cell_font = 8 if c <= 10 else 6.5
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xticklabels(classes, rotation=90, fontsize=font)
    ax.set_yticklabels(classes, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= 20:
        for i in range(c):
            for j in range(c):
                v = shown[i, j]
                if v == 0:
                    continue
                text = f"{v:.2f}".lstrip("0") if normalize and v < 1 else f"{v:g}"
                ax.text(j, i, text, ha="center", va="center", fontsize=cell_font,
                        color="white" if v > 0.6 * (1 if normalize else shown.max()) else "black")
    ax.set_title(title or ("confusion (row-normalised)" if normalize else "confusion (counts)"))
    fig.tight_layout()
    return fig


def plot_confusion(cm: Any, classes: Sequence[str], path: str | Path, normalize: bool = True,
                   title: str | None = None) -> Path:
    """Write :func:`confusion_figure` to a PNG."""
    return save_png(confusion_figure(cm, classes, normalize, title), path)


def improvement_figure(rows: Sequence[dict[str, Any]], top: int | None = 10,
                       title: str | None = None) -> Figure:
    """Horizontal bars of per-class accuracy gain (green) or loss (red).

    Args:
        rows: From :func:`actionlab.metrics.per_class_improvement` (largest gain first).
        top: Show the ``top`` largest gains and the ``top`` largest losses (None: every class).
        title: Axes title.
    """
    rows = list(rows)
    if top is not None and len(rows) > 2 * top:
        rows = rows[:top] + rows[-top:]
    rows = rows[::-1]  # largest gain at the top
    n = max(1, len(rows))
    fig = Figure(figsize=(6.5, max(2.5, 0.28 * n + 1.2)))
    ax = fig.subplots()
    gains = [r["gain"] for r in rows]
    ax.barh(range(len(rows)), gains, color=["tab:green" if g >= 0 else "tab:red" for g in gains])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["class"] for r in rows], fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("change in per-class accuracy")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "per-class improvement")
    fig.tight_layout()
    return fig


def plot_improvement(rows: Sequence[dict[str, Any]], path: str | Path, top: int | None = 10,
                     title: str | None = None) -> Path:
    """Write :func:`improvement_figure` to a PNG."""
    return save_png(improvement_figure(rows, top, title), path)


def bars_figure(names: Sequence[str], values: Sequence[float | None], ylabel: str = "test top-1",
                title: str | None = None) -> Figure:
    """One bar per run or method, labelled with its value (the fusion comparison).

    Args:
        names: Bar labels (e.g. fusion methods: minimum, maximum, concatenation, average).
        values: Heights; None is drawn as an empty slot marked "n/a".
        ylabel: Axis label.
        title: Axes title.
    """
    labels = [_wrap_label(str(n)) for n in names]
    longest = max((len(line) for lab in labels for line in lab.split("\n")), default=1)
    # Slanted labels need less width; still give each bar room for its own label.
    many = len(names) > 4 or longest > 12
    per_bar = 0.9 if not many else max(0.9, 0.075 * longest)
    fig = Figure(figsize=(max(4.0, per_bar * len(names) + 1.5), 3.6))
    ax = fig.subplots()
    heights = [0.0 if v is None else float(v) for v in values]
    bars = ax.bar(range(len(names)), heights, color="tab:blue")
    for b, v in zip(bars, values):
        xy = (b.get_x() + b.get_width() / 2, b.get_height())
        ax.annotate("n/a" if v is None else f"{v:.3f}", xy,
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(labels, rotation=30 if many else 0, ha="right" if many else "center",
                       rotation_mode="anchor" if many else "default", fontsize=8)
    top = max([h for h in heights] + [0.0])
    ax.set_ylim(0, 1.0 if top <= 1.0 else top * 1.15)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "fusion comparison")
    fig.tight_layout()
    return fig


def _wrap_label(name: str, width: int = 18) -> str:
    """A long run name on up to three lines, broken after ``_``, ``-``, ``/`` or a space."""
    if len(name) <= width:
        return name
    parts = re.findall(r"[^_\-/ ]+[_\-/ ]?", name) or [name]
    lines, line = [], ""
    for part in parts:
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    if len(lines) > 3:
        lines = [*lines[:2], "..." + "".join(lines[2:])[-(width - 3):]]
    return "\n".join(lines)


def plot_fusion(names: Sequence[str], values: Sequence[float | None], path: str | Path,
                ylabel: str = "test top-1", title: str | None = None) -> Path:
    """Write the fusion comparison (:func:`bars_figure`) to a PNG."""
    return save_png(bars_figure(names, values, ylabel, title), path)


# --------------------------------------------------------------------------- timelines


