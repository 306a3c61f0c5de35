"""The public Python API: ``actionlab.load(...)`` and the jobs the CLI runs, one import away.

.. code-block:: python

    import actionlab

    rec = actionlab.load("runs/flow")             # a run folder, a checkpoint or an .onnx file
    print(rec.predict("clip.mp4").to_dict()["top"][0])   # {"label": ..., "score": ...}
    tl = rec.timeline("long.mp4")                 # segments and per-window probabilities
    rec.export("flow.onnx")

:func:`load` is the one place that picks the file a run folder means
(:func:`actionlab.checkpoint.run_model_file`), loads it on a device and, with ``fast``, runs a
PyTorch model through onnxruntime (:func:`actionlab.infer.export.accelerate`); the CLI's
``predict``, ``timeline``, ``export`` and ``serve`` and the slip study call it. This module sits
on top, like the studies: it may import every stage, and only the CLI modules import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import InputError
from actionlab.spec import InputSpec

Video = str | Path | np.ndarray


@dataclass
class Recognizer:
    """A loaded model that predicts, labels over time, explains and exports.

    Attributes:
        runner: What runs the model (PyTorch, or onnxruntime); has ``spec``, ``classes``,
            ``meta`` and ``logits(inputs)``.
        source: The file loaded (a run folder's checkpoint, a checkpoint or an ``.onnx``).
        device: The ``--device`` value it was loaded with.
    """

    runner: Any
    source: Path
    device: str = "auto"
    _torch: Any = field(default=None, repr=False)  # the PyTorch runner, for export and explain

    @property
    def classes(self) -> list[str]:
        """The class names, in the model's output order."""
        return list(self.runner.classes)

    @property
    def spec(self) -> InputSpec:
        """What the model eats (:class:`actionlab.spec.InputSpec`)."""
        return self.runner.spec

    @property
    def meta(self) -> dict[str, Any]:
        """The checkpoint's meta (model, classes, input, config, epoch, metrics)."""
        return self.runner.meta

    def predict(self, video: Video | Sequence[Video], k: int = 5, clips: int = 3) -> Any:
        """Top-k labels for a video, a decoded frames array, or a list of either.

        Args:
            video: A video path, a ``(T, H, W, 3)`` uint8 RGB frames array, or a list of them.
            k: How many labels to return.
            clips: Clips averaged per video (TSN models: always one).

        Returns:
            A :class:`actionlab.infer.predict.Prediction` (``to_dict()["top"]`` holds
            ``label`` and ``score``), or a list of them for a list.
        """
        from actionlab.infer.predict import predict_frames, predict_video

        if isinstance(video, (list, tuple)):
            return [self.predict(v, k=k, clips=clips) for v in video]
        if isinstance(video, np.ndarray):
            return predict_frames(self.runner, self._decoded(video), k=k, clips=clips)
        return predict_video(self.runner, video, k=k, clips=clips)

    def timeline(self, video: Video, window: str | int | None = None,
                 step: str | int | None = None, batch_size: int = 16,
                 **segment_options: float | str) -> Any:
        """Class probabilities over time and action segments (times in seconds).

        Args:
            video: A video path or a frames array.
            window: Window length, frames (``16``) or seconds (``"0.64s"``); default the model's.
            step: Step between windows, same units; default half the window.
            batch_size: Windows per model call.
            **segment_options: ``threshold``, ``smooth``, ``min_duration``, ``merge_gap``,
                ``hysteresis``, ``background`` (see ``probs_to_segments``).

        Returns:
            A :class:`actionlab.infer.timeline.Timeline` (``segments``, ``times``, ``probs``,
            ``to_dict()``).
        """
        from actionlab.infer.timeline import run_timeline

        source = self._decoded(video) if isinstance(video, np.ndarray) else video
        tl, _ = run_timeline(self.runner, source, window=window, step=step,
                             batch_size=batch_size, segment_kw=segment_options)
        return tl

    def explain(self, videos: Video | Sequence[str | Path], out: str | Path,
                target: str | None = None, tsne: bool = True,
                color_by: str = "predicted") -> dict[str, Any]:
        """Grad-CAM, activation maps and guided backprop for each video, and a t-SNE plot.

        Args:
            videos: A video path or a list of them.
            out: Output folder (``OUT/<video name>/...``, ``OUT/tsne.png``).
            target: A class to explain instead of the predicted one.
            tsne: Also write the t-SNE plot.
            color_by: Colour t-SNE points by the ``predicted`` class or each video's ``folder``.

        Returns:
            ``{"videos": {path: {"label", "prob", "files"}}, "tsne": path or None}``.
        """
        from actionlab.explain.videos import explain_videos

        paths = [Path(videos)] if isinstance(videos, (str, Path)) else [Path(v) for v in videos]
        return explain_videos(self._torch_runner("explain"), paths, out, target=target,
                              tsne=tsne, color_by=color_by)

    def export(self, path: str | Path, opset: int = 17, tolerance: float = 1e-3) -> Any:
        """Write the model as ONNX (meta embedded), checked against onnxruntime.

        Args:
            path: The ``.onnx`` file to write.
            opset: ONNX opset.
            tolerance: Largest allowed |PyTorch - onnxruntime|.

        Returns:
            An :class:`actionlab.infer.export.ExportResult`.
        """
        from actionlab.infer.export import export_onnx

        torch_runner = self._torch_runner("export")
        return export_onnx(torch_runner.model, torch_runner.meta, path, opset=opset,
                           tolerance=tolerance, device=self.device)

    def stream(self, source: Any, **options: Any) -> Iterator[dict[str, Any]]:
        """Events from a live source (a camera index, a stream URL, a growing file).

        A thin call to :func:`actionlab.infer.live.stream_events`; ``options`` go to it.
        """
        from actionlab.infer.live import stream_events

        return stream_events(self, source, **options)

    def _decoded(self, frames: np.ndarray, fps: float = 25.0) -> Any:
        """A frames array as a decoded video, resized as :func:`decode_video` resizes."""
        import cv2

        from actionlab.infer.preprocess import Decoded, source_of

        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
            raise InputError(f"frames array of shape {frames.shape} and dtype {frames.dtype}: "
                             "give (T, H, W, 3) uint8 RGB frames, T >= 1")
        w, h = self.spec.decode_size(frames.shape[2], frames.shape[1])
        if (h, w) != frames.shape[1:3]:
            interp = cv2.INTER_AREA if frames.shape[1] > h else cv2.INTER_LINEAR
            frames = np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])
        return Decoded(path=Path("<frames>"), fps=fps,
                       source=source_of(np.ascontiguousarray(frames), self.spec))

    def _torch_runner(self, job: str) -> Any:
        if self._torch is None:
            raise InputError(f"{self.source}: {job} needs the PyTorch checkpoint (.safetensors "
                             "or its run folder), not an .onnx file")
        return self._torch


def model_file(source: str | Path) -> Path:
    """The file ``source`` means: a run folder's checkpoint, else the file itself.

    A run that is not complete is used with a warning; a folder without a checkpoint, or a
    path that is not there, is refused (:func:`actionlab.evaluate.runs.run_checkpoint`).
    """
    from actionlab.errors import CheckpointError

    path = Path(source)
    if path.is_dir():
        from actionlab.evaluate.runs import run_checkpoint

        return run_checkpoint(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint, .onnx file or run folder")
    return path


def load(source: str | Path, device: str = "auto", fast: bool = False,
         threads: int | None = None) -> Recognizer:
    """Load a model for inference.

    Args:
        source: A run folder (the file ``run.json`` names, else best, else last), a
            ``.safetensors`` checkpoint, an exported ``.onnx`` file, or pretrained weights by
            name, ``torchvision:<model>/KINETICS400_V1`` (r3d_18, mc3_18, r2plus1d_18: 400
            Kinetics actions; the file is taken from ``$TORCH_HOME/hub/checkpoints``, where
            torchvision keeps it, and downloaded there once when it is missing).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (see ``actionlab.runtime``).
        fast: Run a PyTorch checkpoint with onnxruntime, exported in memory and checked
            against PyTorch first (falls back to PyTorch); pays off on long or many videos.
        threads: onnxruntime intra-op threads for ``.onnx`` files and ``fast``.

    Returns:
        A :class:`Recognizer`.

    Raises:
        actionlab.errors.CheckpointError: nothing loadable at ``source``.
    """
    from actionlab.infer.export import accelerate
    from actionlab.infer.runner import OnnxRunner, load_runner
    from actionlab.models.weights import is_named

    if is_named(str(source)):  # pretrained weights by name: the Kinetics-400 video models
        from actionlab.checkpoint import load_named
        from actionlab.infer.runner import TorchRunner
        from actionlab.runtime import resolve_device

        loaded = load_named(str(source), device=str(resolve_device(device)))
        torch_runner = TorchRunner(loaded.model, loaded.meta)
        runner = accelerate(torch_runner, threads=threads) if fast else torch_runner
        return Recognizer(runner, loaded.path, device, _torch=torch_runner)
    path = model_file(source)
    if path.suffix.lower() == ".onnx":
        return Recognizer(OnnxRunner(path, threads=threads, device=device), path, device)
    torch_runner = load_runner(path, device=device)
    runner = accelerate(torch_runner, threads=threads) if fast else torch_runner
    return Recognizer(runner, path, device, _torch=torch_runner)


def train(config: Any, resume: str | Path | None = None, **overrides: Any) -> Path:
    """Train an experiment config; ``actionlab train CONFIG a.b=c ...`` as a function.

    ``actionlab.train`` is this function's twin on the ``actionlab.train`` package itself.

    Args:
        config: A YAML path, a shipped config's name, or an ``ExperimentConfig``.
        resume: A run folder to continue exactly.
        **overrides: Config values by dotted key with ``__`` for the dots
            (``train__epochs=2``), and/or ``overrides=["train.epochs=2"]``.

    Returns:
        The run folder.
    """
    from actionlab.config.files import keyword_overrides
    from actionlab.train.run import train as run_train

    return run_train(config, resume=resume, overrides=keyword_overrides(overrides))


def crossval(config: Any, out: str | Path, folds: str | int = "logo",
             **options: Any) -> dict[str, Any]:
    """Cross-validate a config by group (``actionlab crossval``); see ``run_crossval``.

    Args:
        config: A YAML path, a shipped config's name, or an ``ExperimentConfig``.
        out: Output folder (one run per fold, ``crossval.json``, ``crossval.md``).
        folds: ``logo`` (leave one group out) or a number of folds.
        **options: ``group_pattern``, ``fold``, ``short_side``, ``clips``, ``crops``,
            ``workers``, ``overrides`` (a list of ``a.b=c``).

    Returns:
        The summary document (mean, std, per-fold results).
    """
    from actionlab.experiment.crossval import run_crossval

    return run_crossval(config, out, folds=folds, **options)


def fit(data: str | Path, out: str | Path, group_pattern: str | None = None,
        folds: str | int = "logo", **options: Any) -> dict[str, Any]:
    """Nested group cross-validation and a final model (``actionlab fit``); see ``run_fit``.

    Args:
        data: A folder of class folders of videos, or a CSV manifest ``path,label,group``.
        out: Output folder (``fit.json``, ``fit.md``, the final run folder ``model``).
        group_pattern: Regex whose first capture group is a file's group.
        folds: Outer folds: ``logo`` or a number of group folds.
        **options: ``search`` (a search-space YAML), ``budget`` (``"30m"``), ``workers``,
            ``progress``.

    Returns:
        The ``fit.json`` document: ``mean``, ``std``, per-fold choices, per-class accuracy.
    """
    from actionlab.experiment.fit import run_fit

    return run_fit(data, out, group_pattern, folds, **options)


def prepare(dataset: str, root: str | Path, out: str | Path, config: Any = None,
            workers: int | None = None, **manifest_options: Any) -> Any:
    """Decode a dataset's videos once into the cache (``actionlab prepare``).

    Args:
        dataset: An adapter name (``ucf101``, ``hmdb51``, ``stanford40``, ``folder``, ...).
        root: The dataset's root folder.
        out: The cache folder.
        config: A ``PrepareConfig`` (size, frames and/or flow, compression); default settings
            when None.
        workers: Processes (default: the CPU budget).
        **manifest_options: For :func:`actionlab.data.adapters.load_manifest` (``classes``,
            ``group_pattern``, the adapter's own options).

    Returns:
        A ``PrepareResult``.
    """
    from actionlab.data.adapters import load_manifest
    from actionlab.data.prepare import prepare as run_prepare

    manifest = load_manifest(dataset, root, **manifest_options)
    return run_prepare(manifest, out, config=config, workers=workers, progress=False)


def synth(out: str | Path, **options: Any) -> Any:
    """Write the synthetic benchmark (``actionlab synth``); see ``actionlab.synth.synth``."""
    from actionlab.synth.api import synth as run_synth

    return run_synth(out, **options)


def list_models(video_only: bool = True) -> list[str]:
    """Every registered model name (``actionlab models``)."""
    from actionlab.models.registry import list_models as names

    return names(video_only=video_only)


def load_config(path: str | Path | None = None, *overrides: str) -> Any:
    """An experiment config from YAML (or a shipped config's name), with ``a.b=c`` overrides."""
    from actionlab.config import load_config as read

    return read(path, list(overrides))
