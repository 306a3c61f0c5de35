"""Self-describing checkpoints: write them, read their meta, rebuild any of them with one loader.

A checkpoint is one ``.safetensors`` file: the model's weights, plus a JSON document in the
safetensors metadata (key ``"actionlab"``) that carries everything inference needs:

.. code-block:: python

    {
      "format_version": 1,
      "actionlab_version": "0.1.0",
      "model": {"name": "resnet18", "kwargs": {"num_classes": 12, "in_channels": 3}},
      "classes": ["applauding", ...],          # a mapping {dataset: [...]} for joint models
      "input": {...},                          # actionlab.spec.InputSpec.to_dict()
      "config": {...},                         # the resolved experiment config
      "epoch": 7, "metrics": {"val_top1": 0.81, ...}
    }

:func:`load` rebuilds every checkpoint the toolkit writes (2D, 3D, TSN, LRCN over features,
two-stream, joint) from the file alone, through the model registry, and checks the meta against
the weights. A run folder stands for the file its ``run.json`` names, else its
``best.safetensors``, else ``last.safetensors`` (:func:`run_model_file`). Weights are
safetensors, so loading never unpickles anything. Training state for exact resume lives
beside it in ``<name>.state.pt`` (the trainer's business).

This module sits below train, evaluate, infer and explain: it imports only the spec, the errors,
io and (late) the models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from actionlab import __version__
from actionlab.errors import ActionlabError, CheckpointError, DatasetError, InputError
from actionlab.io import atomic_path
from actionlab.spec import InputSpec

FORMAT_VERSION = 1
META_KEY = "actionlab"
CHECKPOINT_NAMES = ("best.safetensors", "last.safetensors")


def run_model_file(run_dir: str | Path) -> Path | None:
    """Which file a run folder means: the one rule every command uses.

    The file ``run.json`` names (``model_file``), else ``best.safetensors``, else
    ``last.safetensors`` (a run without validation data); None when there is none of them.

    Args:
        run_dir: A run folder.

    Returns:
        The checkpoint file, or None.
    """
    run_dir = Path(run_dir)
    named = None
    try:
        named = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("model_file")
    except (OSError, ValueError, AttributeError):
        pass  # no run.json, or an unreadable one: the fixed names decide
    names = [Path(named).name] if isinstance(named, str) and named else []
    names += list(CHECKPOINT_NAMES)
    for name in names:
        if (run_dir / name).is_file():
            return run_dir / name
    return None


def resolve(path: str | Path) -> Path:
    """A checkpoint file; a run folder means :func:`run_model_file`'s answer.

    Raises:
        CheckpointError: nothing loadable at ``path``.
    """
    path = Path(path)
    if path.is_dir():
        found = run_model_file(path)
        if found is None:
            raise CheckpointError(f"{path}: a folder without best.safetensors or "
                                  "last.safetensors (a run that never finished an epoch?)")
        return found
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or run folder")
    return path


def save_checkpoint(path: str | Path, model: Any, meta: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``meta`` to ``path`` atomically.

    Args:
        path: Destination ``.safetensors`` file.
        model: The model; its ``state_dict()`` is saved (tensors made contiguous, shared
            storage de-duplicated by cloning).
        meta: Description of the model; must hold ``model.name`` and ``model.kwargs``.
            ``format_version`` and ``actionlab_version`` are filled in.

    Returns:
        The path written.
    """
    if "model" not in meta or "name" not in meta["model"]:
        raise ValueError("checkpoint meta needs model.name and model.kwargs")
    meta = {"format_version": FORMAT_VERSION, "actionlab_version": __version__, **meta}
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={META_KEY: json.dumps(meta)})
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint or run folder (cheap: the weights are not loaded).

    Raises:
        CheckpointError: missing file, not a checkpoint, malformed meta or unknown version.
    """
    path = resolve(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not an actionlab checkpoint (safetensors: {exc})") from None
    if raw is None:
        raise CheckpointError(
            f"{path}: a safetensors file without actionlab metadata; to use plain weights, "
            "build the model with build_model() and load them with load_state_dict()"
        )
    try:
        meta = json.loads(raw)
    except ValueError:
        raise CheckpointError(f"{path}: the checkpoint's meta is not valid JSON") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the checkpoint's meta must be a JSON object, got "
                              f"{type(meta).__name__}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version!r} is not supported by actionlab {__version__} "
            f"(expects {FORMAT_VERSION}); re-export it with the actionlab version that wrote it"
        )
    model = meta.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) \
            or not isinstance(model.get("kwargs", {}), dict):
        raise CheckpointError(f"{path}: the meta has no model {{name, kwargs}} entry")
    return meta


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A checkpoint's state dict and metadata (no model is built).

    Raises:
        CheckpointError: if the file is missing, not a checkpoint, or of an unknown version.
    """
    path = resolve(path)
    meta = read_meta(path)
    return load_file(str(path)), meta


def spec_of(meta: dict[str, Any], where: str = "checkpoint") -> InputSpec | None:
    """The checkpoint's :class:`InputSpec` (None for feature-sequence models).

    Checkpoints written before the spec held the training transform's options get them from
    their config (``data.params.transform_kw``).
    """
    raw = meta.get("input")
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{where}: the meta has no input spec; retrain or re-save it "
                              "with an 'input' entry")
    if raw.get("kind") == "sequence":
        return None
    if "transform" not in raw:
        params = ((meta.get("config") or {}).get("data") or {}).get("params") or {}
        if isinstance(params.get("transform_kw"), dict):
            raw = {**raw, "transform": params["transform_kw"]}
    try:
        return InputSpec.from_dict(raw, where=f"{where}: input spec")
    except InputError as exc:
        raise CheckpointError(str(exc)) from None


def classes_of(meta: dict[str, Any]) -> list[str]:
    """Class names of a single-head checkpoint (``class_0..`` when it names none)."""
    classes = meta.get("classes")
    if isinstance(classes, list) and classes:
        return [str(c) for c in classes]
    n = int((meta.get("model") or {}).get("kwargs", {}).get("num_classes", 0) or 0)
    return [f"class_{i}" for i in range(n)]


@dataclass
class Loaded:
    """A rebuilt checkpoint: the model (eval mode), its input spec (None for feature-sequence
    models and for checkpoints saved without one), its classes and the meta."""

    model: Any
    spec: InputSpec | None
    classes: list[str] | dict[str, list[str]]
    meta: dict[str, Any]
    path: Path


def load(path: str | Path, device: str = "cpu") -> Loaded:
    """Rebuild the model a checkpoint (or run folder) describes and load its weights.

    Every kind the toolkit writes is rebuilt through the model registry from ``model.name``
    and ``model.kwargs`` (two-stream, TSN, LRCN, feature-sequence ``lstm_features`` and
    ``joint`` models included). The meta is checked against the weights: a head whose size
    differs from the class list, or weights of another model, is one clear error.

    Raises:
        CheckpointError: for anything that does not rebuild, naming the file.
    """
    from actionlab.models import build_model

    path = resolve(path)
    state, meta = load_checkpoint(path)
    name, kwargs = meta["model"]["name"], meta["model"].get("kwargs", {})
    spec = spec_of(meta, str(path)) if meta.get("input") else None
    try:
        model = build_model(name, **kwargs)
    except ActionlabError as exc:
        raise CheckpointError(f"{path}: model {name!r} does not build ({exc})") from None
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: model {name!r} does not take the meta's kwargs "
                              f"({exc})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit model {name!r} "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    classes = _check_classes(path, meta, model)
    return Loaded(model.to(device).eval(), spec, classes, meta, path)


def load_named(name: str, device: str = "cpu") -> Loaded:
    """Pretrained weights by name (``torchvision:r2plus1d_18/KINETICS400_V1``) as a model that
    predicts: the verified file (:func:`actionlab.models.weights.fetch_weights`, no network when
    it is in place) loaded strictly into the registry model it fits, with the meta a
    checkpoint of it would carry (model, the shipped class names, the input it was trained on).

    Raises:
        InputError: an unknown name, or weights with no shipped class list.
        CheckpointError: a missing file offline, a wrong checksum, or weights that do not fit.
    """
    import torch

    from actionlab.models import build_model
    from actionlab.models.weights import fetch_weights, weights_entry

    entry = weights_entry(name)
    classes = entry.classes()  # refused before any file is looked for
    path = fetch_weights(name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and OS errors alike
        raise CheckpointError(f"{path}: not a readable weights file ({exc})") from None
    model = build_model(entry.model, **entry.model_kwargs())
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[:2]
        raise CheckpointError(f"{path}: weights do not fit model {entry.model!r} "
                              f"({' '.join(first)})") from None
    meta = {"format_version": FORMAT_VERSION, "actionlab_version": __version__,
            "model": {"name": entry.model, "kwargs": entry.model_kwargs()}, "classes": classes,
            "input": entry.spec().to_dict(), "pretrained": entry.preprocessing()}
    return Loaded(model.to(device).eval(), entry.spec(), classes, meta, path)


def _check_classes(path: Path, meta: dict[str, Any], model: Any) -> Any:
    """The meta's classes, checked against the size of each head."""
    raw = meta.get("classes")
    heads = getattr(model, "heads", None)
    if isinstance(raw, dict) and heads is not None:
        for task, names in raw.items():
            if task not in heads or heads[task].out_features != len(names):
                raise CheckpointError(f"{path}: the meta's classes for {task!r} do not match "
                                      "the model's heads")
        return {k: list(v) for k, v in raw.items()}
    classes = classes_of(meta)
    out = _num_outputs(model)
    if out is not None and classes and out != len(classes):
        raise CheckpointError(f"{path}: the meta lists {len(classes)} classes but the model's "
                              f"head has {out} outputs; the checkpoint is inconsistent")
    return classes


def _num_outputs(model: Any) -> int | None:
    """Outputs of the model's classifier (its last linear or 1x1-conv layer), if it has one."""
    import torch

    last = None
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            last = m.out_features
        elif isinstance(m, (torch.nn.Conv3d, torch.nn.Conv2d)) and m.kernel_size in ((1, 1),
                                                                                    (1, 1, 1)):
            last = m.out_channels
    return getattr(model, "num_classes", None) or last


def check_classes(checkpoint_classes: list[str], data_classes: list[str], where: str) -> None:
    """Refuse to score a checkpoint on data with other class names (or another order).

    Raises:
        DatasetError: naming both sides' first difference.
    """
    if list(checkpoint_classes) == list(data_classes):
        return
    a, b = list(checkpoint_classes), list(data_classes)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    got = b[first] if first < len(b) else "(none)"
    want = a[first] if first < len(a) else "(none)"
    raise DatasetError(
        f"{where}: the data's classes differ from the checkpoint's ({len(b)} vs {len(a)}; "
        f"class {first} is {got!r}, the checkpoint's {want!r}); evaluate on data prepared "
        "with the checkpoint's classes"
    )
