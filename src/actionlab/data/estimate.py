"""Projected cache size and preparation time, from a sample of the videos, against free disk.

``prepare`` prepares a few videos spread over the list first (real work: they are cache
entries like any other), projects the rest from them, prints the projection, and refuses to go
on when it exceeds the free space of the cache's disk. ``prepare --estimate`` does the same
into a temporary folder and stops there.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from actionlab.errors import InputError

SAMPLE = 4  # videos prepared to project the rest


@dataclass(frozen=True)
class Estimate:
    """A projection for the videos a run still has to prepare.

    Attributes:
        sampled: Videos the projection is made from (those that prepared).
        todo: Videos the run prepares in all (the sample included).
        bytes_per_video: Mean entry size of the sample.
        seconds_per_video: Mean time one process spent on a sample video.
        workers: Processes the run uses.
        free_bytes: Free space on the cache's disk.
    """

    sampled: int
    todo: int
    bytes_per_video: float
    seconds_per_video: float
    workers: int
    free_bytes: int

    @property
    def total_bytes(self) -> float:
        return self.bytes_per_video * self.todo

    @property
    def seconds(self) -> float:
        return self.seconds_per_video * self.todo / max(1, min(self.workers, self.todo))

    def line(self, out_dir: Path) -> str:
        """One line for the user: what the projection says and where it comes from."""
        return (f"{out_dir}: projected {human_bytes(self.total_bytes)} of cache and "
                f"{human_seconds(self.seconds)} with {self.workers} processes for {self.todo} "
                f"videos (from {self.sampled} prepared as a sample; "
                f"{human_bytes(self.bytes_per_video)} and {self.seconds_per_video:.2f} s a "
                f"video); {human_bytes(self.free_bytes)} free on that disk")


def human_bytes(n: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (powers of 1000, as disks are sold)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_seconds(s: float) -> str:
    """Seconds as ``"42 s"``, ``"3.5 min"`` or ``"2.1 h"``."""
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h"


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds ``path`` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def sample_tasks(n: int, k: int = SAMPLE) -> list[int]:
    """Positions of ``k`` of ``n`` tasks spread evenly over the list (all when n <= k)."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def estimate_from(
    done: list[tuple[int, float]], todo: int, workers: int, out_dir: Path
) -> Estimate | None:
    """Project from the sample's ``(entry bytes, seconds)``; ``None`` when none prepared."""
    if not done:
        return None
    return Estimate(len(done), todo, sum(b for b, _ in done) / len(done),
                    sum(s for _, s in done) / len(done), workers, free_bytes(out_dir))


def check_space(est: Estimate, out_dir: Path, done_bytes: float = 0.0) -> None:
    """Refuse when what is still to write exceeds the free space.

    Args:
        est: The projection.
        out_dir: The cache folder (named in the message).
        done_bytes: Bytes of the projection already on disk (the sample, when it was prepared
            into the cache itself).

    Raises:
        InputError: The rest would not fit.
    """
    need = est.total_bytes - done_bytes
    if need > est.free_bytes:
        raise InputError(
            f"{out_dir}: the cache needs about {human_bytes(need)} more but only "
            f"{human_bytes(est.free_bytes)} are free on that disk (projected from "
            f"{est.sampled} videos); free space, prepare fewer videos (--shard, --classes) or "
            "a smaller --size, or pass --no-space-check to go on anyway"
        )
