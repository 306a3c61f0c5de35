"""``actionlab explain``: Grad-CAM, activation maps, guided backprop, flow and t-SNE pictures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from actionlab.errors import InputError

log = logging.getLogger(__name__)


def explain_videos(
    checkpoint: str | Path,
    videos: list[Path],
    out: str | Path,
    target: str | None = None,
    tsne: bool = True,
    color_by: str = "predicted",
) -> dict[str, Any]:
    """Explain each video's centre window and embed every window of every video with t-SNE.

    Writes ``OUT/<video stem>/{gradcam.gif, gradcam.png, activation.png, guided.png,
    flow.png}`` and ``OUT/tsne.png`` (penultimate features of sliding windows, coloured by
    the predicted class).

    Args:
        checkpoint: A checkpoint (.safetensors); explanations need the PyTorch model.
        videos: Videos to explain.
        out: Output folder.
        target: Class name to explain instead of the predicted one.
        tsne: Also write the t-SNE plot.
        color_by: Colour t-SNE points by the ``predicted`` class or by each video's ``folder``
            (its parent folder's name: the true class in UCF101/HMDB51 layouts).

    Returns:
        ``{"videos": {path: {"label", "prob", "files"}}, "tsne": path or None}``.
    """
    import numpy as np

    from actionlab.explain.visual import explain_window, penultimate_features, plot_tsne
    from actionlab.explain.visual import save_explanation
    from actionlab.checkpoint import load
    from actionlab.infer.preprocess import as_spec, decode_video, preprocess
    from actionlab.infer.timeline import window_starts

    loaded = load(checkpoint)
    model, meta = loaded.model, loaded.meta
    spec = as_spec(meta, str(loaded.path))
    classes = list(loaded.classes)
    if color_by not in ("predicted", "folder"):
        raise InputError(f"--color-by {color_by!r}: use 'predicted' or 'folder'")
    if target is not None and target not in classes:
        raise InputError(f"--target {target!r}: not a class of this model ({', '.join(classes)})")
    out = Path(out)
    result: dict[str, Any] = {"videos": {}, "tsne": None}
    feats, labels = [], []
    span = spec.window_span()
    used: set[str] = set()
    for video in videos:
        name = Path(video).stem
        if name in used:  # clip.mp4 and clip.avi: keep both
            name = f"{name}_{Path(video).suffix.lstrip('.')}"
        used.add(name)
        decoded = decode_video(video, spec)
        exp = explain_window(model, meta, decoded,
                             target=None if target is None else classes.index(target))
        files = save_explanation(exp, out / name)
        result["videos"][str(video)] = {"label": exp.label, "prob": exp.prob,
                                        "files": {k: str(v) for k, v in files.items()}}
        if tsne:
            starts = window_starts(len(decoded.frames), span, max(1, span // 2))
            x = preprocess(decoded, spec, starts=starts, length=span)
            f, logits = penultimate_features(model, x, with_logits=True)
            feats.append(f)
            if color_by == "folder":
                labels += [Path(video).parent.name] * len(f)
            else:
                labels += [classes[int(j)] for j in np.argmax(logits, 1)]
    if tsne and feats:
        how = "predicted class" if color_by == "predicted" else "folder"
        path = plot_tsne(np.concatenate(feats), labels, out / "tsne.png",
                         title=f"t-SNE of penultimate features (colour: {how})")
        result["tsne"] = str(path) if path else None
    return result


def explain(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors) or run folder."),
    videos: list[Path] = typer.Argument(..., help="Videos to explain."),
    out: Path = typer.Option(Path("explain_out"), "--out", "-o", help="Output folder."),
    target: str | None = typer.Option(
        None, "--target", help="Class to explain (default: predicted)."
    ),
    no_tsne: bool = typer.Option(False, "--no-tsne", help="Skip the t-SNE plot."),
    color_by: str = typer.Option(
        "predicted", "--color-by", help="t-SNE colours: 'predicted' class or parent 'folder'."
    ),
) -> None:
    """Where the model looks: Grad-CAM, activation maps, guided backprop, flow, t-SNE."""
    res = explain_videos(checkpoint, videos, out, target=target, tsne=not no_tsne,
                         color_by=color_by)
    for video, info in res["videos"].items():
        typer.echo(f"{video}: {info['label']} ({info['prob']:.3f}) -> "
                   f"{Path(info['files']['gradcam_gif']).parent}")
    if res["tsne"]:
        typer.echo(f"t-SNE: {res['tsne']}")


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the ``actionlab`` command."""
    app.command("explain")(explain)
