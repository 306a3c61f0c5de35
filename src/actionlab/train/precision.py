"""Mixed precision that fits the hardware: which autocast dtype, gradient scaler and memory
layout a run trains with.

``train.bf16`` and ``train.channels_last`` are ``auto`` (null) by default; ``true``/``false``
always win.

- **CUDA**: mixed precision is on: bfloat16 autocast where the GPU supports it (Ampere and
  later), else float16 autocast with a ``GradScaler`` (float16's range needs loss scaling).
- **CPU**: whatever :func:`actionlab.machine.profile` measured fastest for a small (2+1)D conv
  net's training step: float32, float32 with channels-last, or bfloat16 autocast with
  channels-last. bfloat16 only pays on CPUs with bfloat16 arithmetic (AMX, AVX512-BF16); an
  AVX2-only CPU emulates it many times slower, and there channels-last float32 is usually the
  fastest. bf16 must beat the best float32 variant by :data:`FASTER` (a tie is not worth the
  rounding). Explicit ``train.bf16`` with ``channels_last`` on auto keeps the pair together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from actionlab import machine
from actionlab.config import TrainConfig

log = logging.getLogger(__name__)

FASTER = 0.9  # a variant must take under 90% of the other's time: a tie is not worth a change


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
        bf16, measured_cl, reason = cpu_choice(machine.profile())
        cl = measured_cl if cl is None else cl
    else:
        reason = f"train.bf16={str(bf16).lower()}"
    return Precision(torch.bfloat16 if bf16 else None, False, bf16 if cl is None else cl, reason)


# ---------------------------------------------------------------------- the CPU probe


def cpu_choice(probe: dict[str, Any]) -> tuple[bool, bool, str]:
    """``(bf16, channels_last, reason)`` from a machine profile's step times."""
    s = probe["step_s"]
    cl = s["fp32_cl"] < FASTER * s["fp32"]
    best_fp32 = s["fp32_cl"] if cl else s["fp32"]
    bf16 = s["bf16_cl"] < FASTER * best_fp32
    reason = (f"measured on {probe['cpu']}: fp32 {s['fp32']:.3f} s, fp32+CL {s['fp32_cl']:.3f} s,"
              f" bf16+CL {s['bf16_cl']:.3f} s per probe step")
    return bf16, bf16 or cl, reason
