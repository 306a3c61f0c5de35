"""Distributed set-up: the same command alone or under ``torchrun --nproc_per_node=N``.

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; with them the
trainer joins a process group (NCCL when CUDA is available, gloo otherwise), wraps the model in
DistributedDataParallel, and shards the data with a DistributedSampler. Rank 0 alone writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def current() -> DistInfo:
    """The process group's view, or a single process when none is initialised."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local)
    return DistInfo()


def init_from_env() -> DistInfo:
    """Join the process group described by torchrun's environment variables, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return current()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
        global _OWNED
        _OWNED = True
    return current()


_OWNED = False  # whether init_from_env created the process group (then it also ends it)


def cleanup_owned() -> None:
    """End the process group :func:`init_from_env` started (a caller's own group stays)."""
    global _OWNED
    if _OWNED:
        cleanup()
        _OWNED = False


def setup(rank: int, world_size: int, init_method: str, backend: str = "gloo") -> DistInfo:
    """Join a process group explicitly (tests, ``torch.multiprocessing.spawn``)."""
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size)
    return current()


def cleanup() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum a few numbers over all processes (a no-op alone)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def any_flag(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every process when it is true on any (early stopping, NaN)."""
    return all_reduce_sum([1.0 if flag else 0.0], device)[0] > 0


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every process (a no-op alone)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
