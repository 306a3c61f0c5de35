"""Self-describing checkpoints.

A checkpoint is one ``.safetensors`` file: the model's weights, plus a JSON document in the
safetensors metadata (key ``"actionlab"``) that carries everything inference needs:

.. code-block:: python

    {
      "format_version": 1,
      "actionlab_version": "0.1.0",
      "model": {"name": "resnet18", "kwargs": {"num_classes": 12, "in_channels": 3}},
      "classes": ["applauding", ...],
      "input": {                      # how to turn a video into the model's input
        "kind": "frame" | "clip" | "tsn" | "two_stream" | "sequence",
        "modality": "rgb" | "flow" | "rgbdiff" | "rgb+flow",
        "size": [H, W], "frames": T, "stride": s, "segments": S,
        "flow": {"method": "dis", "bound": 20.0},
        "mean": [...], "std": [...]
      },
      "config": {...},                # the resolved experiment config, when trained by a config
      "epoch": 7, "metrics": {"val_top1": 0.81, ...}
    }

Weights are safetensors so that loading never unpickles anything. Training state for exact
resume (optimizer, scheduler, RNG) lives beside it in ``<name>.state.pt``, written by the trainer
and read with ``torch.load(weights_only=True)``; inference never needs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from actionlab import __version__
from actionlab.errors import CheckpointError
from actionlab.io import atomic_path

FORMAT_VERSION = 1
META_KEY = "actionlab"


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any]) -> Path:
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
    """Read only the metadata of a checkpoint (cheap: the weights are not loaded)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
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
    meta = json.loads(raw)
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version!r} is not supported by actionlab {__version__} "
            f"(expects {FORMAT_VERSION}); re-export it with the actionlab version that wrote it"
        )
    return meta


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a checkpoint's state dict and metadata.

    Raises:
        CheckpointError: if the file is missing, not a checkpoint, or of an unknown version.
    """
    meta = read_meta(path)
    return load_file(str(path)), meta


def load_model(path: str | Path, map_location: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model described by a checkpoint and load its weights (eval mode).

    Returns:
        ``(model, meta)``.
    """
    from actionlab.models import build_model  # late: models import nothing from train

    state, meta = load_checkpoint(path)
    spec = meta["model"]
    model = build_model(spec["name"], **spec.get("kwargs", {}))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit model {spec['name']!r} "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    return model.to(map_location).eval(), meta
