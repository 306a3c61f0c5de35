"""Transfer: start a model from another run's checkpoint, a torchvision-layout file, or a 2D
checkpoint inflated into a 3D model (I3D).

The classifier is re-initialised only when asked (``model.init.reset_head``), and it is said in
the log; a checkpoint trained on another class set without ``reset_head`` is a
:class:`~actionlab.errors.CheckpointError` that says which option to set.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from actionlab.config import InitConfig
from actionlab.checkpoint import load_checkpoint, resolve
from actionlab.errors import CheckpointError, ModelError
from actionlab.models.surgery import classifier, is_classifier_key
from actionlab.models.weights import fetch_weights, is_named

log = logging.getLogger(__name__)


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Weights (and actionlab meta when present) of a checkpoint or plain weights file.

    ``.safetensors`` files are read as they are; ``.pth``/``.pt`` files are read with
    ``torch.load(weights_only=True)`` (never unpickling code), unwrapping ``state_dict`` /
    ``model`` entries and a DataParallel ``module.`` prefix.
    """
    path = resolve(path)
    if path.suffix == ".safetensors":
        try:
            state, meta = load_checkpoint(path)
            return state, meta
        except CheckpointError:
            try:
                return load_file(str(path)), None
            except (SafetensorError, OSError) as exc:
                raise CheckpointError(f"{path}: unreadable safetensors file ({exc})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (pickle errors of many kinds)
        raise CheckpointError(
            f"{path}: cannot be read as a weights-only state dict ({exc}); save it with "
            "torch.save(model.state_dict(), path) or as .safetensors"
        ) from None
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}, None


def reset_head(model: nn.Module, num_classes: int) -> None:
    """Re-initialise the classifier (:func:`actionlab.models.surgery.classifier`):
    ``reset_classifier`` when the model has it, else the classifier's ``reset_parameters``."""
    if hasattr(model, "reset_classifier"):
        model.reset_classifier(num_classes)
        return
    for _, m in classifier(model):
        for sub in m.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()


def load_into(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    reset: bool,
    strict: bool,
    num_classes: int,
    class_mismatch: str = "",
) -> None:
    """Load ``state`` into ``model``; drop and re-initialise the classifier when ``reset``.

    Raises:
        CheckpointError: for shapes that do not fit (the head without ``reset``) or, when
            ``strict``, missing or unexpected weights.
    """
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if (mismatched or class_mismatch) and not reset:
        what = class_mismatch or f"shapes differ for {mismatched[:4]}"
        raise CheckpointError(
            f"{source}: {what}; set model.init.reset_head=true to re-initialise the classifier "
            "for this run's classes"
        )
    if reset:
        try:
            state = {k: v for k, v in state.items() if not is_classifier_key(model, k)}
        except ModelError as exc:
            raise CheckpointError(f"model.init.reset_head: {exc}") from None
        bad = [k for k in mismatched if k in state]
        if bad:
            raise CheckpointError(f"{source}: weights do not fit the model: {bad[:4]}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (reset and is_classifier_key(model, k))]
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{source}: weights do not fit the model (missing {sorted(missing)[:4]}, "
            f"unexpected {sorted(unexpected)[:4]}); set model.init.strict=false to load what fits"
        )
    if missing or unexpected:
        log.warning("%s: %d weights missing, %d unexpected (not strict)", source, len(missing),
                    len(unexpected))
    if reset:
        reset_head(model, num_classes)
        log.info("%s: re-initialised the classifier for %d classes (model.init.reset_head)",
                 source, num_classes)


def _cross_modality(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> dict:
    """TSN's cross-modality start: RGB first-conv kernels averaged and replicated over the
    model's input channels (a flow or RGB-difference stack)."""
    from actionlab.models import cross_modality_init

    own = model.state_dict()
    for key, v in state.items():
        mine = own.get(key)
        if (mine is not None and v.dim() in (4, 5) and mine.shape != v.shape
                and mine.shape[:1] + mine.shape[2:] == v.shape[:1] + v.shape[2:]):
            log.info("%s: cross-modality init of %s (%d -> %d input channels)", source, key,
                     v.shape[1], mine.shape[1])
            return cross_modality_init(state, mine.shape[1], key)
    return state


def initialize(model: nn.Module, init: InitConfig, classes: list[str]) -> None:
    """Load the starting weights the ``model.init`` section names (nothing when path is empty).

    Args:
        model: The freshly built model (this run's number of classes).
        init: ``model.init``: path or named ``weights`` (``torchvision:resnet50/IMAGENET1K_V1``,
            also accepted wherever a path is, e.g. in ``streams``; see
            :mod:`actionlab.models.weights`), format (auto | run | torchvision | inflate), reset_head,
            strict, and ``streams`` (``{submodule: checkpoint}``, e.g. the two streams of a
            two-stream model, each from its own run).
        classes: This run's class names.
    """
    if init.path and init.weights:
        raise CheckpointError(
            f"model.init.path={init.path} and model.init.weights={init.weights}: set one of them")
    if init.path or init.weights:
        _initialize_one(model, init.path or init.weights, init, classes)
    for name, stream_path in init.streams.items():
        try:
            sub = model.get_submodule(name)
        except AttributeError:
            children = [n for n, _ in model.named_children()]
            raise CheckpointError(
                f"model.init.streams: the model has no submodule {name!r} (it has {children})"
            ) from None
        _initialize_one(sub, stream_path, init, classes)


def _initialize_one(
    model: nn.Module,
    source: str,
    init: InitConfig,
    classes: list[str],
) -> None:
    fmt = init.format
    if is_named(source):  # torchvision's file, verified; it is a torchvision state dict
        path = fetch_weights(source)
        fmt = "torchvision" if fmt in ("auto", "run") else fmt
    else:
        path = resolve(source)
    state, meta = read_state_dict(path)
    if fmt == "auto":
        fmt = "run" if meta is not None else "torchvision"
    if fmt == "run" and meta is None:
        raise CheckpointError(f"{path}: not an actionlab checkpoint; use model.init.format=torchvision")
    mismatch = ""
    if meta is not None and meta.get("classes") and list(meta["classes"]) != list(classes):
        theirs = meta["classes"]
        mismatch = (
            f"trained on another class set ({len(theirs)} classes: {theirs[:4]}...; this run has "
            f"{len(classes)}: {classes[:4]}...)"
        )
    if fmt == "inflate":
        try:
            from actionlab.models.i3d import inflate_state_dict
        except ImportError as exc:
            raise CheckpointError(f"model.init.format=inflate needs actionlab.models ({exc})") from None
        state = inflate_state_dict(state, model)
        log.info("%s: inflated 2D weights into %s", path, type(model).__name__)
    if init.cross_modality:
        state = _cross_modality(model, state, str(path))
    load_into(model, state, str(path), init.reset_head, init.strict, len(classes),
              class_mismatch=mismatch)
    log.info("initialised from %s (%s)", path, fmt)
