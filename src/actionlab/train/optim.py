"""Optimizers and learning-rate schedules.

Every schedule is a pure function of the iteration (``lr_factor``) wrapped in one
:class:`torch.optim.lr_scheduler.LambdaLR` that is stepped after every batch. Epoch-based
schedules (step, exponential) change only at epoch boundaries, so they match their per-epoch
definitions; cyclical ones (Smith 2017) change every iteration. A factor multiplies each
parameter group's own learning rate, so a head trained at its own rate keeps its ratio to the body.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch

from actionlab.config import OptimConfig, ScheduleConfig
from actionlab.errors import InputError, ModelError
from actionlab.models.surgery import classifier_parameter_names

log = logging.getLogger(__name__)


def cyclic_lr(
    iteration: int,
    base_lr: float,
    max_lr: float,
    step_size: int,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> float:
    """The cyclical learning rate of Smith (2017), "Cyclical learning rates for training NNs".

    ``cycle = floor(1 + it / (2 step_size))``, ``x = |it / step_size - 2 cycle + 1|``,
    ``lr = base_lr + (max_lr - base_lr) max(0, 1 - x) scale`` with ``scale`` 1 (triangular),
    ``1 / 2^(cycle - 1)`` (triangular2) or ``gamma^it`` (exp_range).

    Args:
        iteration: The iteration (batch) count, from 0.
        base_lr: Lower bound.
        max_lr: Upper bound, reached after ``step_size`` iterations.
        step_size: Iterations in half a cycle.
        mode: triangular | triangular2 | exp_range.
        gamma: Decay per iteration of exp_range.

    Returns:
        The learning rate at ``iteration``.
    """
    cycle = math.floor(1 + iteration / (2 * step_size))
    x = abs(iteration / step_size - 2 * cycle + 1)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1.0 / (2 ** (cycle - 1))
    elif mode == "exp_range":
        scale = gamma**iteration
    else:
        raise InputError(f"schedule.mode={mode!r} is not one of triangular, triangular2, exp_range")
    return base_lr + (max_lr - base_lr) * max(0.0, 1.0 - x) * scale


def lr_factor(
    cfg: ScheduleConfig, base_lr: float, steps_per_epoch: int, epochs: int
) -> Callable[[int], float]:
    """The multiplier of the optimizer's learning rate at each iteration.

    Args:
        cfg: The schedule section.
        base_lr: ``optim.lr`` (cyclic bounds are absolute, so they are divided by it).
        steps_per_epoch: Optimizer steps in one epoch.
        epochs: Epochs in the run (for cosine).
    """
    spe = max(1, steps_per_epoch)
    name = cfg.name
    if name == "constant":
        return lambda it: 1.0
    if name == "step":
        every = max(1, cfg.step_epochs) * spe
        return lambda it: cfg.gamma ** (it // every)
    if name == "exponential":
        return lambda it: cfg.gamma ** (it // spe)
    if name == "cosine":
        warm = int(round(cfg.warmup_epochs * spe))
        total = max(1, epochs * spe)
        floor = cfg.min_lr / base_lr

        def cosine(it: int) -> float:
            if it < warm:
                return (it + 1) / warm
            t = min(1.0, (it - warm) / max(1, total - warm))
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

        return cosine
    if name == "cyclic":
        step_size = cfg.step_size or 2 * spe
        return lambda it: (
            cyclic_lr(it, cfg.base_lr, cfg.max_lr, step_size, cfg.mode, cfg.gamma) / base_lr
        )
    raise InputError(f"schedule.name={name!r} is not one of constant, step, exponential, cosine, cyclic")


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: ScheduleConfig,
    base_lr: float,
    steps_per_epoch: int,
    epochs: int,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-iteration scheduler for ``optimizer`` (call ``.step()`` after every batch)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_factor(cfg, base_lr, steps_per_epoch, epochs)
    )


def param_groups(model: torch.nn.Module, cfg: OptimConfig) -> list[dict]:
    """Trainable parameters split into body and head groups (frozen ones are left out).

    The head is the model's own classifier (:func:`actionlab.models.surgery.classifier`: its
    ``get_classifier()`` or ``classifier_name``; C3D's ``fc8``, VGG's ``classifier.6``, both
    stream classifiers of a score-fusion two-stream model). With ``head_lr`` unset there is one
    group.
    """
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise InputError("no trainable parameters: model.freeze leaves nothing to train")
    if cfg.head_lr is None:
        return [{"params": [p for _, p in params], "name": "all", "lr": cfg.lr}]
    if list(cfg.head_names) != OptimConfig().head_names:
        log.warning("optim.head_names is deprecated and ignored: optim.head_lr applies to the "
                    "model's own classifier (its classifier_name)")
    try:
        names = classifier_parameter_names(model)
    except ModelError as exc:
        raise InputError(f"optim.head_lr: {exc}") from None
    head = [p for n, p in params if n in names]
    body = [p for n, p in params if n not in names]
    if not head:
        raise InputError(f"optim.head_lr is set but the classifier of {type(model).__name__} "
                         "is frozen (model.freeze) or has no parameters")
    groups = [{"params": head, "name": "head", "lr": cfg.head_lr}]
    if body:
        groups.insert(0, {"params": body, "name": "body", "lr": cfg.lr})
    return groups


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum, Nesterov, weight decay) over the trainable parameters."""
    groups = param_groups(model, cfg)
    if cfg.name == "adam":
        return torch.optim.Adam(
            groups, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
    if cfg.name == "adamw":
        return torch.optim.AdamW(
            groups, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
    if cfg.name == "sgd":
        if cfg.nesterov and cfg.momentum <= 0:
            raise InputError("optim.nesterov needs optim.momentum > 0")
        return torch.optim.SGD(
            groups,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    raise InputError(f"optim.name={cfg.name!r} is not one of adam, adamw, sgd")
