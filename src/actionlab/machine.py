"""What this machine can do, measured once and cached: the cores this process may really use
and how fast it computes in each precision.

Every speed choice the toolkit makes on a CPU (bf16 or float32, channels-last or not, how many
threads) comes from here, never from a CPU's name: the same name covers very different
machines (an AMD EPYC with AVX512-BF16 runs the flow net's training step faster in bf16, a Zen 3
EPYC with AVX2 alone emulates bf16 and runs it many times slower).

- :func:`available_cores`: the CPUs this process may run on (``os.sched_getaffinity``) capped by
  the cgroup's CPU quota (``cpu.max``, or cgroup v1's ``cpu.cfs_quota_us``), which is what a
  container or CI runner grants; ``os.cpu_count()`` counts the host's CPUs and overstates both.
- :func:`profile`: matmul GFLOP/s in float32 and bfloat16, and a training step of a small
  (2+1)D conv net (the layers that dominate the compact flow stream) in float32, float32 with
  channels-last and bfloat16 autocast with channels-last. About 3 s, once per CPU model, torch
  version, ISA limit and core count; then read from ``~/.cache/actionlab/machine.json``
  (``$ACTIONLAB_CACHE`` or ``$XDG_CACHE_HOME`` move it).
- :func:`describe`: the one line every command logs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROFILE_VERSION = 2
PROBE_SHAPE = (4, 2, 8, 48, 48)  # (B, C, T, H, W): a flow stack, as the demo's flow net eats
MATMUL_N = 512
# the CPU features worth naming beside a figure (stated in the log, never used to choose)
NAMED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
VARIANTS = ("fp32", "fp32_cl", "bf16_cl")  # precision x memory layout of a training step


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> list[str]:
    """The vector extensions of :data:`NAMED_FLAGS` this CPU reports."""
    for line in _cpuinfo():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return [f for f in NAMED_FLAGS if f in have]
    return []


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup's quota grants (``2.5`` for a 250 ms / 100 ms quota), None when unlimited."""
    try:
        text = (root / "cpu.max").read_text().split()  # cgroup v2: "max 100000" or "250000 100000"
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v1
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def affinity_cores() -> int:
    """CPUs this process may be scheduled on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def available_cores() -> int:
    """The cores this process can really use: its affinity, capped by the cgroup quota."""
    cores = affinity_cores()
    quota = cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota + 0.25)))  # 1.8 CPUs of quota: 2 threads
    return max(1, cores)


def cache_dir() -> Path:
    """Where per-machine measurements are kept."""
    root = os.environ.get("ACTIONLAB_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "actionlab"
    return Path(root)


def profile_key(threads: int | None = None) -> str:
    """What the measurements depend on: the CPU, the torch build (its kernels), an ISA limit
    set for oneDNN, and the threads they ran on."""
    import torch

    n = threads or torch.get_num_threads()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    return (f"v{PROFILE_VERSION} | {cpu_model()} | torch {torch.__version__} | {n} threads"
            + (f" | isa {isa}" if isa else ""))


def cached_profile(threads: int | None = None) -> dict[str, Any] | None:
    """The stored profile for this machine and thread count, None when not measured yet."""
    entry = _read_cache().get(profile_key(threads))
    return {**entry, "cached": True} if isinstance(entry, dict) else None


def _read_cache() -> dict[str, Any]:
    path = cache_dir() / "machine.json"
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        known = {}  # a damaged cache is measured again and rewritten
    return known if isinstance(known, dict) else {}


def profile(refresh: bool = False, steps: int = 3,
            shape: tuple[int, ...] = PROBE_SHAPE) -> dict[str, Any]:
    """This machine's measured speeds (measured on first use, then cached).

    Args:
        refresh: Measure again even when a profile is cached.
        steps: Timed training steps per variant (the fastest counts).
        shape: The probe's input (B, C, T, H, W).

    Returns:
        ``{"cpu", "flags", "torch", "threads", "cores", "matmul_gflops": {"fp32", "bf16"},
        "step_s": {"fp32", "fp32_cl", "bf16_cl"}, "fastest", "cached"}``.
    """
    import torch

    from actionlab.io import write_json_atomic

    key = profile_key()
    if not refresh and (known := cached_profile()) is not None:
        return known
    t0 = time.perf_counter()
    entry = {
        "cpu": cpu_model(), "flags": cpu_flags(), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cores": available_cores(),
        "matmul_gflops": {"fp32": round(matmul_gflops(torch.float32), 1),
                          "bf16": round(matmul_gflops(torch.bfloat16), 1)},
        "step_s": {v: round(step_seconds(v, steps, shape), 5) for v in VARIANTS},
    }
    entry["fastest"] = min(VARIANTS, key=lambda v: entry["step_s"][v])
    try:
        write_json_atomic(cache_dir() / "machine.json", {**_read_cache(), key: entry})
    except OSError as exc:  # a read-only home: measure again next time
        log.warning("could not cache the machine profile in %s (%s)", cache_dir(), exc)
    log.info("measured this machine in %.1f s: %s", time.perf_counter() - t0, _speeds(entry))
    return {**entry, "cached": False}


def matmul_gflops(dtype: Any, n: int = MATMUL_N, repeats: int = 5) -> float:
    """GFLOP/s of an n x n matmul in ``dtype`` on the current threads (best of ``repeats``)."""
    import torch

    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.matmul(a, b)  # kernels chosen, memory touched
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def _probe_net(cin: int) -> Any:
    """A small (2+1)D conv net: the layers that dominate the compact flow stream's step."""
    from torch import nn

    def block(a: int, b: int, stride: int) -> list[nn.Module]:
        return [nn.Conv3d(a, b, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
                nn.BatchNorm3d(b), nn.ReLU(inplace=True),
                nn.Conv3d(b, b, (3, 1, 1), padding=(1, 0, 0), bias=False),
                nn.BatchNorm3d(b), nn.ReLU(inplace=True)]

    return nn.Sequential(*block(cin, 32, 1), *block(32, 64, 2), nn.AdaptiveAvgPool3d(1),
                         nn.Flatten(), nn.Linear(64, 8))


def step_seconds(variant: str, steps: int = 3, shape: tuple[int, ...] = PROBE_SHAPE) -> float:
    """Seconds per training step (forward, loss, backward, SGD) of the probe net in
    ``variant`` (one of :data:`VARIANTS`), the fastest of ``steps`` after a warm-up step."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = _probe_net(shape[1])
    x = torch.randn(*shape)
    if variant.endswith("_cl"):
        net = net.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    bf16 = variant.startswith("bf16")
    y = torch.arange(shape[0]) % 8
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    best = math.inf
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        nn.functional.cross_entropy(out.float(), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:  # the first step allocates and picks kernels
            best = min(best, time.perf_counter() - t0)
    return best


def _speeds(p: dict[str, Any]) -> str:
    s, m = p["step_s"], p["matmul_gflops"]
    return (f"matmul fp32 {m['fp32']:.0f} / bf16 {m['bf16']:.0f} GFLOP/s; conv3d step fp32 "
            f"{s['fp32']:.3f} s, fp32+CL {s['fp32_cl']:.3f} s, bf16+CL {s['bf16_cl']:.3f} s")


def describe(threads: int | None = None) -> str:
    """One line about this machine: CPU, vector extensions, usable cores, threads in use and,
    once measured, its speeds."""
    quota = cgroup_quota()
    cores = f"{available_cores()} usable cores (affinity {affinity_cores()}" + (
        f", cgroup quota {quota:g})" if quota is not None else ", no cgroup quota)")
    flags = ", ".join(cpu_flags()) or "no AVX2"
    line = f"machine: {cpu_model()} ({flags}); {cores}"
    if threads is not None:
        line += f"; {threads} threads"
    p = cached_profile()
    return line + (f"; {_speeds(p)}" if p else "")
