"""Explain videos: each one's centre window (Grad-CAM, activation maps, guided backprop,
flow) and a t-SNE of every window's penultimate features, written as pictures.

``actionlab explain`` and :meth:`actionlab.api.Recognizer.explain` call :func:`explain_videos`.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from actionlab.errors import InputError
from actionlab.io import check_output_dir, writing

log = logging.getLogger(__name__)


def torch_runner(checkpoint: str | Path, device: str = "auto") -> Any:
    """A checkpoint or run folder loaded as a PyTorch runner (never onnxruntime).

    Raises:
        InputError: an ``.onnx`` file (explanations need gradients through PyTorch).
    """
    from actionlab.infer.runner import load_runner

    if str(checkpoint).lower().endswith(".onnx"):
        raise InputError(f"{checkpoint}: explanations need the PyTorch checkpoint "
                         "(.safetensors or its run folder), not an .onnx file")
    return load_runner(checkpoint, device=device)


def explain_videos(
    model: str | Path | Any,
    videos: list[Path],
    out: str | Path,
    target: str | None = None,
    tsne: bool = True,
    color_by: str = "predicted",
    device: str = "auto",
) -> dict[str, Any]:
    """Explain each video's centre window and embed every window of every video with t-SNE.

    Writes ``OUT/<name>/{gradcam.gif, gradcam.png, activation.png, guided.png, flow.png}``
    (a pose model: its skeletons, Grad-CAM and activation over time as a heat bar under each
    frame, guided backprop as the colour of each joint; :mod:`actionlab.explain.pose`)
    and ``OUT/tsne.png`` (penultimate features of sliding windows, coloured by the predicted
    class). ``<name>`` is the video's stem, unique among ``videos`` (see :func:`output_names`).

    Args:
        model: A checkpoint (.safetensors) or run folder, or an already loaded PyTorch runner
            (``actionlab.load(...).runner`` without ``fast``, or
            :class:`actionlab.infer.runner.TorchRunner`); explanations need the PyTorch model.
        videos: Videos to explain.
        out: Output folder.
        target: Class name to explain instead of the predicted one.
        tsne: Also write the t-SNE plot.
        color_by: Colour t-SNE points by the ``predicted`` class or by each video's ``folder``
            (its parent folder's name: the true class in UCF101/HMDB51 layouts).
        device: Where a model given as a file runs (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    Returns:
        ``{"videos": {path: {"label", "prob", "files"}}, "tsne": path or None}``.
    """
    import numpy as np

    from actionlab.explain.visual import explain_window, penultimate_features, plot_tsne
    from actionlab.explain.visual import save_explanation
    from actionlab.data.sampling import sliding_starts
    from actionlab.infer.preprocess import decode_video, preprocess

    if color_by not in ("predicted", "folder"):
        raise InputError(f"--color-by {color_by!r}: use 'predicted' or 'folder'")
    runner = torch_runner(model, device) if isinstance(model, (str, Path)) else model
    model, meta, spec, classes = runner.model, runner.meta, runner.spec, list(runner.classes)
    if spec.needs_pose and len(spec.streams()) > 1:
        raise InputError("explain draws a pose model alone; this model reads keypoints beside "
                         "other inputs: explain its streams' own runs")
    explain_one = explain_window
    if spec.needs_pose:  # when (a curve over the frames) and which joints, not where
        from actionlab.explain.pose import explain_pose_window as explain_one
    if target is not None and target not in classes:
        raise InputError(f"--target {target!r}: not a class of this model ({', '.join(classes)})")
    out = check_output_dir(out, "--out")  # made when the first pictures are written
    result: dict[str, Any] = {"videos": {}, "tsne": None}
    feats, labels = [], []
    span = spec.window_span()
    for video, name in output_names(videos).items():
        decoded = decode_video(video, spec)
        exp = explain_one(model, meta, decoded,
                          target=None if target is None else classes.index(target))
        with writing(out, "--out"):
            files = save_explanation(exp, out / name)
        result["videos"][str(video)] = {"label": exp.label, "prob": exp.prob,
                                        "files": {k: str(v) for k, v in files.items()}}
        if tsne:
            starts = sliding_starts(len(decoded.frames), span, max(1, span // 2))
            x = preprocess(decoded, spec, starts=starts, length=span)
            f, logits = penultimate_features(model, x, with_logits=True)
            feats.append(f)
            if color_by == "folder":
                labels += [Path(video).parent.name] * len(f)
            else:
                labels += [classes[int(j)] for j in np.argmax(logits, 1)]
    if tsne and feats:
        how = "predicted class" if color_by == "predicted" else "folder"
        with writing(out, "--out"):
            path = plot_tsne(np.concatenate(feats), labels, out / "tsne.png",
                             title=f"t-SNE of penultimate features (color: {how})")
        result["tsne"] = str(path) if path else None
    return result


def output_names(videos: list[Path]) -> dict[Path, str]:
    """A distinct output folder name for each distinct video.

    A video's stem when no other video has it; otherwise the stem and a short hash of the
    video's absolute path (``a/clip.mp4`` and ``b/clip.mp4`` -> ``clip-3f2a9c01`` and
    ``clip-8e41d7b2``), so one video never overwrites another's pictures. A video given twice
    is explained once.
    """
    first: dict[Path, Path] = {}  # absolute path -> the video as given, first occurrence
    for v in map(Path, videos):
        first.setdefault(v.resolve(), v)
    stems = Counter(p.stem for p in first)
    names = {v: p.stem if stems[p.stem] == 1 else
             f"{p.stem}-{hashlib.sha1(str(p).encode()).hexdigest()[:8]}"
             for p, v in first.items()}
    if len(set(names.values())) < len(names):  # a stem that looks like another's stem-hash
        raise InputError("explain: two videos would share an output folder; rename one")
    return names
