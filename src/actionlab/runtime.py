"""Process-wide settings that make CPU training and loading faster: glibc's allocator.

By default glibc serves every allocation of more than 128 kB with a fresh ``mmap`` and returns
it to the system when freed (and the threshold only adapts part-way). A training step allocates
and frees tensors of a few MB thousands of times, so every one of them is page-faulted in anew:
in the demo that was a quarter of all CPU time (95 million minor faults, 224 s of system time in
a 9-minute run). Keeping allocations under 64 MB on the heap and freed memory up to 128 MB in
the process lets them be reused instead. Measured on the 2-core development machine, 3 epochs
of the demo's flow stream: 9.3 -> 6.2 s per epoch, system time 19.6 -> 6.1 s, identical results.

This is what the environment variables ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
do, set from inside the process with ``mallopt`` (no library exposes it; ctypes is enough).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

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
