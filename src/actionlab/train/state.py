"""Training state for exact resume: written beside a checkpoint, atomically, as a pair.

``<name>.safetensors`` (weights + meta, :mod:`actionlab.checkpoint`) and
``<name>.state.pt`` (optimizer, scheduler, RNG states, loop counters) are written to temporary
files first and renamed only when both are complete, so a failure while writing (a full disk)
leaves the previous pair as it was. The state file holds only tensors and plain Python values,
so it loads with ``torch.load(weights_only=True)``.

``run.json`` says where a run stands (running, complete, interrupted, failed and why), so that
readers never mistake a failed attempt for a result.
"""

from __future__ import annotations

import os
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


# ---------------------------------------------------------------------- the run's status

RUN_FILE = "run.json"


def write_run_status(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Update ``run_dir/run.json``, the run's own account of itself, atomically.

    Keys: ``status`` (``running``, ``complete``, ``interrupted``, ``failed``), ``started``,
    ``updated``, ``epochs_done``, ``epochs``, ``validation`` (whether there was a validation
    set), ``model_file`` (the checkpoint to use: ``best.safetensors``, or
    ``last.safetensors`` without validation), ``error`` (why it failed), ``pid``, ``host``.
    Readers (``compare``, ``report``, ``evaluate RUN``) name a run that is not complete.

    Returns:
        The status written.
    """
    import datetime as dt
    import socket

    from actionlab.io import write_json_atomic

    status = read_run_status(run_dir) or {}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if fields.get("status") == "running":
        status.pop("error", None)
        status.update(started=now, pid=os.getpid(), host=socket.gethostname())
    status.update(fields, updated=now)
    write_json_atomic(Path(run_dir) / RUN_FILE, status)
    return status


def read_run_status(run_dir: str | Path) -> dict[str, Any] | None:
    """``run_dir/run.json`` (None when absent or unreadable: a run from before it existed)."""
    import json

    path = Path(run_dir) / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def process_alive(status: dict[str, Any]) -> bool:
    """Whether the process that wrote a ``running`` status still runs (False when it was
    killed; True when it ran on another host, which cannot be checked from here)."""
    import socket

    pid = status.get("pid")
    if status.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
