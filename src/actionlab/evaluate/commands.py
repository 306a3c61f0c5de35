"""``actionlab evaluate``, ``compare`` and ``evaluate-timeline``: thin wrappers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from actionlab.runtime import DEVICE_HELP, threads_option


def _console():  # noqa: ANN202 - rich is imported only when a command runs
    import sys

    from rich.console import Console

    # piped output (files, tests) gets a wide console so table rows stay on one line
    return Console(width=None if sys.stdout.isatty() else 160)


def evaluate(
    checkpoints: list[Path] = typer.Argument(
        ..., help="Checkpoint (.safetensors) or a run folder (its model: best.safetensors, or "
        "last.safetensors for a run without validation data); several are averaged (e.g. one "
        "per official split)."
    ),
    cache: Path = typer.Option(
        None, "--cache",
        help="Prepared cache (or an LRCN checkpoint's features .h5); default: the "
        "checkpoint's own.",
    ),
    split: str = typer.Option("test", "--split", help="test, val, train or all."),
    splits: str = typer.Option(
        None, "--splits",
        help="Official splits the runs were trained on, e.g. 1,2,3: one run each, or one path "
        "with {split} in it; each run's data.split is checked, the metrics are averaged.",
    ),
    clips: int = typer.Option(
        1, "--clips", min=1, help="Views per video spread over it (clips, frames or two-stream "
        "centres; not TSN), scores averaged."
    ),
    crops: int = typer.Option(
        1, "--crops", help="Crops per clip: 1 (center), 3 or 5 (corners + center)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Views per model call."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    out: Path = typer.Option(
        None, "--out", "-o",
        help="Output JSON; default RUN/eval.json (eval_<split>.json). With several runs: the "
        "averaged summary (each run still writes its own eval.json).",
    ),
    threads: int | None = threads_option(),
) -> None:
    """Score checkpoints on a cache split (multi-clip x multi-crop) and write eval.json; with
    several (``--splits 1,2,3``) also their mean and standard deviation."""
    from actionlab.evaluate.run_eval import eval_filename, evaluate_checkpoint
    from actionlab.evaluate.runs import mean_metrics, run_checkpoint, split_checkpoints
    from actionlab.io import check_output_file, write_json_atomic, writing
    from actionlab.runtime import resolve_device, set_threads

    set_threads(threads)
    device = str(resolve_device(device))
    pairs = [(s, run_checkpoint(c) if c.is_dir() else c)
             for s, c in split_checkpoints(checkpoints, splits)]
    several = len(pairs) > 1
    if several and out is not None:
        check_output_file(out, "--out")
    docs = []
    for official, checkpoint in pairs:
        own = None if several else out
        target = check_output_file(own or checkpoint.parent / eval_filename(split), "--out")
        with writing(target, "--out"):
            doc, path = evaluate_checkpoint(checkpoint, cache, split, clips, crops, batch_size,
                                            own, progress=True, device=device)
        docs.append(doc)
        where = f"split {official} " if official else ""
        typer.echo(f"{where}{split}: {_metrics_line(doc['metrics'])}" +
                   (f"  ({checkpoint})" if several else ""))
        typer.echo(f"wrote {path}")
    if several:
        mean = mean_metrics(docs)
        over = f"splits {splits}" if splits else f"{len(docs)} runs"
        line = "  ".join(f"{k} {v['mean']:.3f} +- {v['std']:.3f}" for k, v in mean.items())
        typer.echo(f"mean over {over}: {line}")
        if out is not None:
            with writing(out, "--out"):
                write_json_atomic(out, {"split": split, "splits": [s for s, _ in pairs],
                                        "checkpoints": [str(c) for _, c in pairs],
                                        "mean": mean, "runs": [d["metrics"] for d in docs]})
            typer.echo(f"wrote {out}")


def _metrics_line(m: dict[str, Any]) -> str:
    tops = "  ".join(f"{k} {v:.3f}" for k, v in m.items() if k.startswith("top"))
    return f"{m['num_samples']} videos  {tops}  mean class {m['mean_class_accuracy']:.3f}"


def compare(
    runs: list[Path] = typer.Argument(..., help="Run directories."),
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown (for the README)."),
    best_by: str = typer.Option("val_acc", "--best-by", help="Best epoch by val_acc or val_loss."),
    improvement: bool = typer.Option(
        False, "--improvement",
        help="Also per-class test accuracy gains from the first run to the second.",
    ),
    top: int = typer.Option(10, "--top", min=1, help="Rows of the improvement table."),
) -> None:
    """Results table: train/val/test top-1, train loss at the best epoch, model size."""
    from actionlab.errors import InputError
    from actionlab.evaluate import runs as R

    if best_by not in ("val_acc", "val_loss"):
        raise InputError(f"--best-by must be val_acc or val_loss, got {best_by!r}")
    header, body = R.table_cells(R.results_table(list(runs), best_by))
    tables = [("Results", header, body, 3)]
    if improvement:
        if len(runs) != 2:
            raise InputError("--improvement compares exactly two runs: BEFORE AFTER")
        rows = R.improvement_between(runs[0], runs[1])
        h, b = R.improvement_cells(rows, top)
        tables.append((f"Per-class gains, {runs[0].name} -> {runs[1].name}", h, b, 1))
    console = _console()
    for title, h, b, text_columns in tables:
        if markdown:
            typer.echo(f"**{title}**\n\n" + R.markdown_table(h, b))
        else:
            console.print(R.rich_table(h, b, title, text_columns))


def evaluate_timeline_cmd(
    pred: Path = typer.Argument(
        ..., help="Predicted segments JSON (actionlab timeline's timeline.json)."
    ),
    gt: Path = typer.Argument(..., help="Ground truth JSON ('events' or 'segments')."),
    resolution: float = typer.Option(
        None, "--resolution",
        help="Frame-level bin in seconds; default 1/fps of the ground truth, else 0.04.",
    ),
    tiou: list[float] = typer.Option(
        [0.3, 0.5, 0.7], "--tiou", help="Temporal IoU thresholds (repeatable)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Also write the scores as JSON here."),
    tolerance: float = typer.Option(
        1.0, "--tolerance", help="Event onsets: a hit lies within this many seconds."),
    label: str = typer.Option(
        None, "--label", help="Event scores only for labels containing this (e.g. fall)."),
) -> None:
    """Frame-level P/R/F1, segment AP at temporal IoU thresholds, and event onset scores.

    PRED is a timeline.json (or a folder of them, one per video); GT is a JSON document
    ('events' or 'segments'), or GMDCSA24's segments.csv / manifest.csv (or their folder),
    paired with the predictions by video path. Event scores: a detection is a hit when its
    onset is within --tolerance seconds of an annotated onset, each annotation matched once.

    Both files are checked before any work: strict JSON (no NaN or Infinity), times in
    seconds within a year, a positive fps, numeric scores; a frame grid too large to score
    (a huge end time or a tiny --resolution) is refused.
    """
    from actionlab.evaluate.timeline import check_resolution, evaluate_timeline
    from actionlab.io import check_output_file, write_json_atomic, writing

    check_resolution(resolution)
    if out:
        check_output_file(out, "--out")
    from actionlab.evaluate.timeline import event_scores, read_for_events

    raw_p, raw_g = read_for_events(pred, gt)
    res = evaluate_timeline(raw_p, raw_g, tiou, resolution)
    res["events"] = ev = event_scores(raw_p, raw_g, tolerance, label)
    f = res["frame"]
    typer.echo(f"{res['num_videos']} video(s), {res['num_pred']} predicted / "
               f"{res['num_gt']} true segments")
    typer.echo(f"frame-level ({f['resolution']:g} s bins): precision {f['precision']:.3f}  "
               f"recall {f['recall']:.3f}  F1 {f['f1']:.3f}")
    for t, v in res["segment"]["map"].items():
        typer.echo(f"segment mAP@{t}: {v:.3f}")
    for label, aps in res["segment"]["ap"].items():
        typer.echo(f"  {label}: " + "  ".join(f"AP@{t} {v:.3f}" for t, v in aps.items()))
    typer.echo(f"events (onset within +-{ev['tolerance']:g} s): {ev['hits']} of {ev['num_gt']} "
               f"found, recall {ev['recall']:.3f}, precision {ev['precision']:.3f}, "
               f"{ev['false_alarms']} false alarms ({ev['false_alarms_per_clip']:.2f} per clip, "
               f"{ev['false_alarms_per_hour']:.1f} per hour), median onset error "
               f"{ev['median_onset_error_s']:+.2f} s")
    if out:
        with writing(out, "--out"):
            write_json_atomic(out, _json_safe(res))
        typer.echo(f"wrote {out}")


def _json_safe(obj: Any) -> Any:
    """NaN (no ground truth for a class) becomes null, so the file is strict JSON."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def fuse_crossval_cmd(
    dirs: list[Path] = typer.Argument(..., help="Finished crossval folders over the same folds "
                                      "(e.g. a pose and a flow stream)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for crossval.json / crossval.md."),
    weights: str = typer.Option(
        "fit", "--weights",
        help="'fit': per fold, fitted on the other folds' out-of-fold scores; or one number per "
        "folder, comma-separated (e.g. 1,1.5).",
    ),
) -> None:
    """Late fusion of cross-validated streams: each test video's probabilities, weighted."""
    from actionlab.errors import InputError
    from actionlab.evaluate.folds import fuse_crossvals
    from actionlab.io import check_output_dir

    if len(dirs) < 2:
        raise InputError("fuse-crossval fuses two or more crossval folders")
    w: str | list[float] = weights
    if weights != "fit":
        try:
            w = [float(v) for v in weights.split(",")]
        except ValueError:
            raise InputError(f"--weights {weights!r}: 'fit', or numbers like 1,1.5") from None
    check_output_dir(out, "--out")  # fuse_crossvals checks the weights before it writes
    doc = fuse_crossvals(dirs, out, w)
    for r in doc["per_fold"]:
        extra = (" weights " + "/".join(f"{v:.2f}" for v in r["weights"])) if "weights" in r else ""
        typer.echo(f"fold {r['fold']} ({r['group']}): top-1 {r['top1']:.3f}{extra}")
    typer.echo(f"top-1 {doc['mean']:.3f} +- {doc['std']:.3f} over {doc['n_done']} folds -> "
               f"{out / 'crossval.md'}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``compare``, ``evaluate-timeline`` and ``fuse-crossval``."""
    app.command("evaluate")(evaluate)
    app.command("compare")(compare)
    app.command("evaluate-timeline")(evaluate_timeline_cmd)
    app.command("fuse-crossval")(fuse_crossval_cmd)
