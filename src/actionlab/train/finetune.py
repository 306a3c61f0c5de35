"""Fine-tuning helpers: freeze all but the last N layers, and partial batch normalisation."""

from __future__ import annotations

import logging

import torch
from torch import nn

from actionlab.errors import InputError

log = logging.getLogger(__name__)

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's parameterised layers in definition order: modules with their own parameters."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if any(True for _ in m.parameters(recurse=False))
    ]


def train_last_layers(model: nn.Module, n: int) -> list[str]:
    """Freeze every parameter but those of the last ``n`` layers (Keras-style fine-tuning).

    Args:
        model: The model.
        n: How many parameterised layers, counted from the output, stay trainable.

    Returns:
        The names of the trainable layers.
    """
    all_layers = layers(model)
    if n <= 0 or n > len(all_layers):
        raise InputError(
            f"model.freeze.train_last={n}: the model has {len(all_layers)} parameterised layers"
        )
    for p in model.parameters():
        p.requires_grad_(False)
    kept = all_layers[-n:]
    for _, m in kept:
        for p in m.parameters(recurse=False):
            p.requires_grad_(True)
    names = [name for name, _ in kept]
    log.info("fine-tuning the last %d layers: %s", n, ", ".join(names))
    return names


def apply_freeze(model: nn.Module, train_last: int = 0, policy: str = "") -> None:
    """Apply the config's freeze section: a models-package policy, then ``train_last``."""
    if policy:
        try:
            from actionlab.models import freeze
        except ImportError as exc:
            raise InputError(f"model.freeze.policy={policy!r} needs actionlab.models ({exc})") from None
        freeze(model, policy)
    if train_last:
        train_last_layers(model, train_last)


def set_partial_bn(model: nn.Module) -> int:
    """Put every BatchNorm layer but the first in eval mode (TSN's partial BN).

    Call after ``model.train()``. The frozen layers keep their running statistics; their affine
    parameters still learn.

    Returns:
        How many BatchNorm layers were frozen.
    """
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    for m in bns[1:]:
        m.eval()
    return max(0, len(bns) - 1)


def count_trainable(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last layout for 4D (NHWC) and 5D (NDHWC) tensors; others unchanged."""
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x
