"""Training state for exact resume: written beside a checkpoint, atomically, as a pair.

``<name>.safetensors`` (weights + meta, :mod:`actionlab.checkpoint`) and
``<name>.state.pt`` (optimizer, scheduler, RNG states, loop counters) are written to temporary
files first and renamed only when both are complete, so a failure while writing (a full disk)
leaves the previous pair as it was. The state file holds only tensors and plain Python values,
so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actionlab.errors import CheckpointError
from actionlab.io import atomic_path
from actionlab.checkpoint import read_meta, save_checkpoint

STATE_SUFFIX = ".state.pt"


def rng_state() -> dict[str, Any]:
    """The torch, CUDA, numpy and Python random states, as weights-only-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's random."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def state_path(weights: str | Path) -> Path:
    """``run/last.safetensors`` -> ``run/last.state.pt``."""
    weights = Path(weights)
    return weights.with_name(weights.name.removesuffix(".safetensors") + STATE_SUFFIX)


def save_pair(
    weights: str | Path, model: torch.nn.Module, meta: dict[str, Any], state: dict[str, Any]
) -> Path:
    """Write the weights checkpoint and its training state; both or neither replace the old pair.

    Raises:
        CheckpointError: when writing fails (e.g. the disk is full); the previous files are intact.
    """
    weights = Path(weights)
    try:
        with atomic_path(weights) as tmp_w, atomic_path(state_path(weights)) as tmp_s:
            save_checkpoint(tmp_w, model, meta)
            torch.save(state, tmp_s)
    except OSError as exc:
        raise CheckpointError(
            f"{weights}: could not write the checkpoint ({exc.strerror or exc}); "
            "the previous checkpoint is intact; free some space and resume the run"
        ) from exc
    return weights


def load_state(weights: str | Path) -> dict[str, Any]:
    """Read the training state saved beside ``weights`` and check it belongs to them."""
    weights = Path(weights)
    path = state_path(weights)
    if not path.is_file():
        raise CheckpointError(f"{path}: no training state to resume from (was the run started?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unpickling failure means a bad file)
        raise CheckpointError(f"{path}: unreadable training state ({exc})") from None
    meta = read_meta(weights)
    if meta.get("epoch") != state.get("epoch") or meta.get("step") != state.get("step"):
        raise CheckpointError(
            f"{path}: the training state (epoch {state.get('epoch')}) does not match "
            f"{weights.name} (epoch {meta.get('epoch')}); the pair was not written together"
        )
    return state
