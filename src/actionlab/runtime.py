"""Process-wide settings: glibc's allocator (:func:`tune_malloc`), where models run
(:func:`resolve_device`, :func:`onnx_providers`) and CPU threads.

By default glibc serves every allocation of more than 128 kB with a fresh ``mmap`` and returns
it to the system when freed (and the threshold only adapts part-way, up to 32 MB). A training
step allocates and frees tensors of a few MB to a few hundred MB thousands of times, so every one
of them is page-faulted in anew: in the demo that was a third of all CPU time. Keeping
allocations under 256 MB on the heap and up to 1 GB of freed memory in the process lets them be
reused instead (the figures are in the README's Speed table).

This is what the environment variables ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
do, set from inside the process with ``mallopt`` (no library exposes it; ctypes is enough).

**Devices.** Every command that runs a model takes ``--device auto|cpu|cuda|cuda:N``:
:func:`resolve_device` turns it into a torch device and :func:`onnx_providers` into
onnxruntime's providers, or into one clear line when the GPU is not there.

**The thread budget.** :func:`thread_budget` is the one answer to "how many threads": ``--threads
N``, else ``$ACTIONLAB_THREADS``, else the cores this process can really use
(:func:`actionlab.machine.available_cores`: affinity and cgroup quota). :func:`set_threads`
applies it to every pool at once (torch intra-op, torch inter-op at 1, OpenCV); onnxruntime
sessions, DataLoader workers and the prepare/synth process pools read the same budget.
OpenMP threads spin only briefly before they sleep (``GOMP_SPINCOUNT``, set in
``actionlab/__init__.py`` before torch loads) so they do not spin against a neighbour for a core. When the budget was not
given, a :class:`ThreadGovernor` re-measures between batches how much CPU *other* processes
take (``/proc/stat`` less this process; first after a quarter second, then every couple of
seconds) and drops to fewer threads while a neighbour holds a
core: two cores shared by three busy threads make every OpenMP barrier wait for the thread the
scheduler parked.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actionlab.errors import InputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 2**20
TRIM_THRESHOLD = 2**30

_tuned: bool | None = None


def tune_malloc() -> bool:
    """Keep mid-sized allocations on the heap and freed memory in the process (glibc only).

    Idempotent; a no-op (returning False) on other C libraries and platforms, or when the
    user set either ``MALLOC_*_THRESHOLD_`` variable themselves (theirs wins).

    Returns:
        True when the allocator runs with these settings.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("glibc malloc tuned: %s", _tuned)
    return _tuned


# ---------------------------------------------------------------------- devices and threads


DEVICES = "auto, cpu, cuda or cuda:N"
DEVICE_HELP = "Where the model runs: auto (a GPU when one is visible), cpu, cuda or cuda:N."


def _cuda_missing(text: str, option: str) -> InputError:
    import torch

    why = ("this PyTorch build is CPU-only; install a CUDA build (README, GPU)"
           if torch.version.cuda is None else
           "no GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)")
    return InputError(f"{option} {text!r}: CUDA is not available ({why}); use {option} cpu "
                      "or auto")


def resolve_device(text: str | None = "auto", option: str = "--device",
                   local_rank: int = 0) -> torch.device:
    """The torch device a ``--device`` (or ``train.device``) value names, refused in one line
    when this build or machine lacks it.

    Args:
        text: ``auto`` (the GPU when one is visible, else the CPU), ``cpu``, ``cuda`` or
            ``cuda:N``; None means ``auto``.
        option: Names the option or config key in the message (``--device``, ``train.device``).
        local_rank: The GPU ``auto`` and ``cuda`` pick: a torchrun process's local rank.

    Raises:
        InputError: an unknown device (``tpu``), CUDA on a CPU-only build or without a GPU, or
            a GPU index out of range.
    """
    import torch

    text = str(text or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    head, _, index = text.partition(":")
    if head != "cuda" or (index and not index.isdigit()):
        raise InputError(f"{option} {text!r}: not a device; use {DEVICES}")
    if not torch.cuda.is_available():
        raise _cuda_missing(text, option)
    n = int(index) if index else local_rank
    count = torch.cuda.device_count()
    if n >= count:
        raise InputError(f"{option} {text!r}: only {count} CUDA device(s) here, cuda:0 to "
                         f"cuda:{count - 1}")
    return torch.device("cuda", n)


def onnx_providers(device: str | None = "auto", option: str = "--device") -> list[Any]:
    """onnxruntime execution providers for a ``--device`` value.

    ``auto`` takes the CUDA provider when onnxruntime has it (the ``onnxruntime-gpu``
    package) and a GPU is visible; ``cuda[:N]`` requires both; ``cpu`` and everything else
    end with the CPU provider, which is always there.

    Raises:
        InputError: ``cuda`` asked for without the CUDA provider or a GPU, or an unknown device.
    """
    import onnxruntime as ort

    text = (device or "auto").strip().lower()
    head, _, index = text.partition(":")
    if text not in ("auto", "cpu") and (head != "cuda" or (index and not index.isdigit())):
        raise InputError(f"{option} {text!r}: not a device; use {DEVICES}")
    cpu = ["CPUExecutionProvider"]
    if text == "cpu":
        return cpu
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers() and _gpu_visible()
    if text == "auto":
        return ["CUDAExecutionProvider", *cpu] if has_cuda else cpu
    if not has_cuda:
        raise InputError(
            f"{option} {text!r}: onnxruntime has no usable CUDA provider (providers: "
            f"{', '.join(ort.get_available_providers())}); pip install onnxruntime-gpu on a "
            f"machine with a GPU, or use {option} cpu")
    return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), *cpu]


def _gpu_visible() -> bool:
    """A CUDA GPU is visible: asked of torch when it is installed, else of the NVIDIA driver."""
    try:
        import torch
    except ImportError:  # a deployed ONNX model needs no torch
        return ctypes.util.find_library("cuda") is not None
    return torch.cuda.is_available()


THREADS_HELP = ("CPU threads for PyTorch, OpenCV and onnxruntime (and the processes of a "
                "pool); default: $ACTIONLAB_THREADS, else the usable cores, fewer while another "
                "program keeps a core busy. --threads 1 is fully deterministic.")
THREADS_ENV = "ACTIONLAB_THREADS"


def threads_option() -> Any:
    """The ``--threads N`` option every compute command takes (a typer Option)."""
    import typer

    return typer.Option(None, "--threads", min=1, max=1024, help=THREADS_HELP)


def explicit_threads(threads: int | None = None) -> int | None:
    """``--threads`` when given, else ``$ACTIONLAB_THREADS`` when set, else None.

    Raises:
        InputError: ``$ACTIONLAB_THREADS`` is not a whole number >= 1.
    """
    if threads is not None:
        return int(threads)
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(f"${THREADS_ENV}={raw!r}: give a whole number of threads >= 1")
    return int(raw)


def process_context(preload: Sequence[str] = ()) -> Any:
    """The multiprocessing context every worker pool uses: never plain fork.

    A parent that already runs threads (torch/OpenMP, FFmpeg, OpenBLAS: a notebook, a test
    session, a DataLoader) can leave a forked child deadlocked on a lock it copied, mid-way
    through a library call. ``forkserver`` forks from a clean server that has imported
    ``preload`` once (cheap per worker); ``spawn`` where there is no forkserver.
    """
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        if preload:
            ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


def thread_budget(threads: int | None = None) -> int:
    """How many busy threads this process may run: ``--threads``, ``$ACTIONLAB_THREADS``, or
    the usable cores (affinity and cgroup quota)."""
    from actionlab.machine import available_cores

    return explicit_threads(threads) or available_cores()


_interop_set = False
_fixed: int | None = None  # the budget a --threads or $ACTIONLAB_THREADS fixed in set_threads


def set_threads(threads: int | None = None) -> int:
    """Apply the thread budget to torch (intra-op; inter-op once, to 1) and OpenCV.

    Args:
        threads: ``--threads`` (None: ``$ACTIONLAB_THREADS`` or the usable cores).

    Returns:
        The number of threads now in use.
    """
    global _interop_set, _fixed
    import torch

    _fixed = explicit_threads(threads)
    n = thread_budget(threads)
    if not _interop_set:
        try:  # only the first call before any inter-op work may set it
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        _interop_set = True
    _apply(n)
    return n


def _apply(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:  # a deployed ONNX model needs no OpenCV
        pass
    log.debug("threads: %d", n)


def onnx_session_options(threads: int | None = None) -> Any:
    """onnxruntime session options on the thread budget, threads waiting without spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = thread_budget(threads)
    opts.inter_op_num_threads = 1
    # spinning worker threads burn a core a neighbour (or our own decoder) could use
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _cpu_seconds_of(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (all their threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            pass  # a worker that has just exited
    return total


def _machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used (``/proc/stat``), None off Linux."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class ThreadGovernor:
    """Fewer threads while other processes keep cores busy, the full budget when they stop.

    Call :meth:`update` between batches; every ``interval`` seconds it compares the machine's
    CPU use with this process's own (and its DataLoader workers') and sets torch's threads to
    the usable cores less the cores others kept busy (at least 1). Only active when neither
    ``--threads`` nor ``$ACTIONLAB_THREADS`` fixed the budget, so an explicit budget stays
    deterministic.

    Args:
        threads: ``--threads``.
        interval: Seconds between measurements.
    """

    BUSY = 0.5  # another process using half a core or more counts as holding it
    FIRST = 0.25  # seconds: the first judgement comes after the first batch or so

    def __init__(self, threads: int | None = None, interval: float = 2.0) -> None:
        import time

        self.fixed = explicit_threads(threads) or _fixed
        self.cores = self.fixed or thread_budget(threads)
        self.threads = self.cores
        self.interval = interval
        # a neighbour already there costs every batch until the first judgement: make it early
        self._window = min(self.FIRST, interval)
        self.active = self.fixed is None and self.cores > 1 and Path("/proc/stat").is_file()
        self.others = 0.0
        self._clock = time.monotonic
        self._mark = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        import multiprocessing

        pids = [os.getpid(), *(c.pid for c in multiprocessing.active_children() if c.pid)]
        return self._clock(), _machine_busy_seconds() or 0.0, _cpu_seconds_of(pids)

    def update(self) -> int:
        """Re-measure when the window (first short, then ``interval``) has passed; returns the
        threads in use."""
        if not self.active or self._clock() - self._mark[0] < self._window:
            return self.threads
        now = self._sample()
        wall = now[0] - self._mark[0]
        others = max(0.0, (now[1] - self._mark[1]) - (now[2] - self._mark[2])) / wall
        self._mark, self.others, self._window = now, others, self.interval
        # 0.5-1.5 cores used by others: one core fewer, 1.5-2.5: two fewer, ...
        want = max(1, self.cores - math.floor(others + self.BUSY))
        if want != self.threads:
            log.info("threads: %d -> %d (other processes use %.1f of %d cores)", self.threads,
                     want, others, self.cores)
            self.threads = want
            _apply(want)
        return self.threads
