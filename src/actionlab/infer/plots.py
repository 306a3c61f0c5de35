"""Figures inference writes (the timeline plot), and the PNG helpers the report shares.

They live here, below the report, because ``timeline`` and the web page draw them; the report
imports them from here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from actionlab.io import atomic_path

DPI = 100


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_png(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write a figure to ``path`` as PNG, atomically (a reader never sees half a file)."""
    FigureCanvasAgg(fig)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path


def _lanes(ax: Any, rows: list[tuple[str, list[dict]]], color: dict[str, Any]) -> None:
    for i, (name, segs) in enumerate(rows):
        for s in segs:
            ax.broken_barh([(s["start"], max(s["end"] - s["start"], 1e-3))], (i - 0.4, 0.8),
                           color=color.get(s["label"], "grey"), alpha=0.8)
            ax.text((s["start"] + s["end"]) / 2, i, s["label"], ha="center", va="center",
                    fontsize=7, color="white", clip_on=True)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()


def timeline_figure(
    times: Sequence[float],
    probs: Any,
    classes: Sequence[str],
    segments: Sequence[dict] | None = None,
    ground_truth: Sequence[dict] | None = None,
    duration: float | None = None,
    max_classes: int = 8,
    title: str | None = None,
) -> Figure:
    """Class probabilities over time with predicted segments shaded, and a lane per source.

    Args:
        times: (N,) window centers, seconds.
        probs: (N, C) probabilities.
        classes: C class names.
        segments: Predicted segments ``{label, start, end, score}``, shaded on the curves.
        ground_truth: True segments (``label, start, end``), drawn in their own lane.
        duration: Video length, for the x range.
        max_classes: Plot the classes with the highest peak probability (plus any segment or
            ground-truth label), at most this many.
        title: Figure title.
    """
    t = np.asarray(times, float)
    p = np.asarray(probs, float).reshape(len(t), len(classes))
    segments, ground_truth = list(segments or []), list(ground_truth or [])
    wanted = {s["label"] for s in segments + ground_truth}
    peak = p.max(0) if len(p) else np.zeros(len(classes))
    order = [int(i) for i in np.argsort(-peak, kind="stable")]
    keep = [i for i in order if classes[i] in wanted]
    keep += [i for i in order if i not in keep][: max(0, max_classes - len(keep))]
    palette = [f"C{k % 10}" for k in range(len(keep))]
    color = {classes[i]: palette[k] for k, i in enumerate(keep)}

    lanes = [("predicted", segments)] + ([("ground truth", ground_truth)] if ground_truth else [])
    fig = Figure(figsize=(10, 4.2 + 0.3 * len(lanes)))
    ratios = [4, 0.5 * len(lanes) + 0.3]
    ax, lane_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    for k, i in enumerate(keep):
        ax.plot(t, p[:, i], color=palette[k], lw=1.5, label=classes[i])
    for s in segments:
        ax.axvspan(s["start"], s["end"], color=color.get(s["label"], "grey"), alpha=0.15, lw=0)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("probability")
    ax.grid(alpha=0.3)
    if keep:
        ax.legend(fontsize=8, loc="upper right", ncol=min(4, len(keep)))
    _lanes(lane_ax, lanes, color)
    lane_ax.set_xlabel("time (s)")
    ends = [float(t[-1]) if len(t) else 0.0] + [s["end"] for s in segments + ground_truth]
    end = duration or max(ends)
    lane_ax.set_xlim(0, max(end, 1e-3))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_timeline(times: Sequence[float], probs: Any, classes: Sequence[str], path: str | Path,
                  segments: Sequence[dict] | None = None,
                  ground_truth: Sequence[dict] | None = None,
                  duration: float | None = None, title: str | None = None) -> Path:
    """Write :func:`timeline_figure` to a PNG."""
    return save_png(timeline_figure(times, probs, classes, segments, ground_truth, duration,
                                    title=title), path)
