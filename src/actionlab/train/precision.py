"""Mixed precision that fits the hardware: which autocast dtype, gradient scaler and memory
layout a run trains with.

``train.bf16`` is ``auto`` (null) by default; ``true``/``false`` always win.

- **CUDA**: mixed precision is on: bfloat16 autocast where the GPU supports it (Ampere and
  later), else float16 autocast with a ``GradScaler`` (float16's range needs loss scaling).
- **CPU**: bfloat16 autocast + channels-last help only where the CPU has fast bfloat16 matrix
  units. With Intel AMX a 3D-conv training step is 2-7x faster; on an AMD EPYC with AVX512-BF16
  and no AMX the demo's flow-net step took 3.59 s in bf16 against 2.29 s in fp32. So ``auto``
  runs a short probe (:func:`cpu_bf16_probe`: a few training steps of a small (2+1)D conv net
  in each precision, about a second or two) and keeps bf16 only where it measured faster. The
  answer is cached per machine, keyed by CPU model, torch version and thread count, in
  ``~/.cache/actionlab/cpu_probe.json`` (``$ACTIONLAB_CACHE`` or ``$XDG_CACHE_HOME`` move it).

``train.channels_last`` is also ``auto`` by default: on wherever bf16 is chosen on the CPU (the
pair that was measured), off on CUDA (not measured here; set it to true to try).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actionlab.config import TrainConfig
from actionlab.io import write_json_atomic

log = logging.getLogger(__name__)

FASTER = 0.9  # bf16 must take under 90% of the fp32 time: a tie is not worth the rounding
PROBE_SHAPE = (4, 2, 8, 48, 48)  # (B, C, T, H, W): a flow stack, as the demo's flow net eats


@dataclass(frozen=True)
class Precision:
    """How a run computes.

    Attributes:
        dtype: The autocast dtype (None: float32 throughout).
        scaler: A gradient scaler is needed (float16 autocast).
        channels_last: Channels-last weights and inputs.
        reason: Why, for the log.
    """

    dtype: torch.dtype | None
    scaler: bool
    channels_last: bool
    reason: str

    def autocast(self, device: torch.device) -> Any:
        """The autocast context for this precision on ``device`` (disabled for float32)."""
        return torch.autocast(device.type, dtype=self.dtype or torch.bfloat16,
                              enabled=self.dtype is not None)

    def grad_scaler(self, device: torch.device) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for float16 (a no-op pass-through otherwise)."""
        return torch.amp.GradScaler(device.type, enabled=self.scaler)


def _explicit(value: bool | str | None) -> bool | None:
    return None if value is None or value == "auto" else bool(value)


def choose_precision(train: TrainConfig, device: torch.device) -> Precision:
    """The precision ``train.bf16`` and ``train.channels_last`` ask for on ``device``.

    Args:
        train: The ``train`` section (``bf16``, ``channels_last``: true, false or auto/null).
        device: Where the run trains.
    """
    bf16, cl = _explicit(train.bf16), _explicit(train.channels_last)
    if device.type == "cuda":
        if bf16 is False:
            p = Precision(None, False, False, "train.bf16=false")
        elif torch.cuda.is_bf16_supported():
            p = Precision(torch.bfloat16, False, False, "CUDA with bfloat16 support")
        else:
            p = Precision(torch.float16, True, False, "CUDA without bfloat16: float16 + GradScaler")
        return Precision(p.dtype, p.scaler, bool(cl), p.reason)
    if bf16 is None:
        probe = cpu_bf16_probe()
        bf16 = bool(probe["bf16_faster"])
        reason = (f"CPU probe on {probe['cpu']}: fp32 {probe['fp32_s']:.3f} s, bf16 "
                  f"{probe['bf16_s']:.3f} s per step")
    else:
        reason = f"train.bf16={str(bf16).lower()}"
    return Precision(torch.bfloat16 if bf16 else None, False, bf16 if cl is None else cl, reason)


# ---------------------------------------------------------------------- the CPU probe


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cache_file() -> Path:
    """Where per-machine measurements are kept."""
    root = os.environ.get("ACTIONLAB_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "actionlab"
    return Path(root) / "cpu_probe.json"


def probe_key(threads: int | None = None) -> str:
    """What the answer depends on: the CPU, the torch build (its kernels) and the threads
    (default: torch's current number)."""
    n = threads or torch.get_num_threads()
    return f"{cpu_model()} | torch {torch.__version__} | {n} threads"


class _ProbeNet(nn.Module):
    """A small (2+1)D conv net: the layers that dominate the demo's flow-stream step."""

    def __init__(self, cin: int = 2, width: int = 32, classes: int = 8) -> None:
        super().__init__()

        def block(a: int, b: int, stride: int) -> list[nn.Module]:
            return [nn.Conv3d(a, b, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
                    nn.BatchNorm3d(b), nn.ReLU(inplace=True),
                    nn.Conv3d(b, b, (3, 1, 1), padding=(1, 0, 0), bias=False),
                    nn.BatchNorm3d(b), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(cin, width, 1), *block(width, 2 * width, 2),
                                  nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


def _time_steps(bf16: bool, steps: int, shape: tuple[int, ...]) -> float:
    """Seconds per training step (forward, loss, backward, SGD) after one warm-up step."""
    from actionlab.models.surgery import channels_last, channels_last_input

    torch.manual_seed(0)
    net = _ProbeNet(cin=shape[1])
    x = torch.randn(*shape)
    if bf16:
        net, x = channels_last(net), channels_last_input(x)
    y = torch.arange(shape[0]) % 8
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        nn.functional.cross_entropy(out.float(), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:  # the first step allocates and picks kernels
            times.append(time.perf_counter() - t0)
    return min(times)


def cpu_bf16_probe(refresh: bool = False, steps: int = 3,
                   shape: tuple[int, ...] = PROBE_SHAPE) -> dict[str, Any]:
    """Is bfloat16 autocast + channels-last faster than float32 for training on this CPU?

    Measured once per CPU model, torch version and thread count, then read from
    :func:`cache_file`.

    Args:
        refresh: Measure again even when the answer is cached.
        steps: Timed steps per precision (the fastest counts).
        shape: The probe's input (B, C, T, H, W).

    Returns:
        ``{"cpu", "torch", "threads", "fp32_s", "bf16_s", "bf16_faster", "cached"}``.
    """
    path, key = cache_file(), probe_key()
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        known = {}  # a damaged cache is measured again and rewritten
    if not refresh and isinstance(known.get(key), dict):
        return {**known[key], "cached": True}
    fp32 = round(_time_steps(False, steps, shape), 5)
    bf16 = round(_time_steps(True, steps, shape), 5)
    entry = {"cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
             "fp32_s": fp32, "bf16_s": bf16, "bf16_faster": bool(bf16 < FASTER * fp32)}
    try:
        write_json_atomic(path, {**known, key: entry})
    except OSError as exc:  # a read-only home: measure again next time
        log.warning("could not cache the CPU probe in %s (%s)", path, exc)
    log.info("CPU probe (%s): fp32 %.3f s, bf16 + channels-last %.3f s per step: %s", key, fp32,
             bf16, "bf16" if entry["bf16_faster"] else "fp32")
    return {**entry, "cached": False}
