"""Process-wide settings: glibc's allocator (:func:`tune_malloc`), where models run
(:func:`resolve_device`, :func:`onnx_providers`) and CPU threads.

By default glibc serves every allocation of more than 128 kB with a fresh ``mmap`` and returns
it to the system when freed (and the threshold only adapts part-way). A training step allocates
and frees tensors of a few MB thousands of times, so every one of them is page-faulted in anew:
in the demo that was a quarter of all CPU time (95 million minor faults, 224 s of system time in
a 9-minute run). Keeping allocations under 64 MB on the heap and freed memory up to 128 MB in
the process lets them be reused instead. Measured on the 2-core development machine, 3 epochs
of the demo's flow stream: 9.3 -> 6.2 s per epoch, system time 19.6 -> 6.1 s, identical results.

This is what the environment variables ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
do, set from inside the process with ``mallopt`` (no library exposes it; ctypes is enough).

**Devices and threads.** Every command that runs a model takes ``--device auto|cpu|cuda|cuda:N``:
:func:`resolve_device` turns it into a torch device and :func:`onnx_providers` into
onnxruntime's providers, or into one clear line when the GPU is not there;
:func:`threads_option` / :func:`set_threads` are the ``--threads N`` option.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from actionlab.errors import InputError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 2**20
TRIM_THRESHOLD = 128 * 2**20

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


THREADS_HELP = ("CPU threads for PyTorch (and onnxruntime, for an .onnx model or with --fast); "
                "default: one per core. Fewer threads suit a shared machine.")


def threads_option() -> Any:
    """The ``--threads N`` option every compute command takes (a typer Option)."""
    import typer

    return typer.Option(None, "--threads", min=1, max=1024, help=THREADS_HELP)


def set_threads(threads: int | None) -> int:
    """Apply ``--threads``: ``torch.set_num_threads`` (unchanged when None).

    Returns:
        The number of threads PyTorch now uses.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(int(threads))
        log.debug("torch threads: %d", threads)
    return torch.get_num_threads()
