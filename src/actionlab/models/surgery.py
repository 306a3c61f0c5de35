"""Model surgery: what training changes on a built model, each done one way.

* :func:`freeze` / :func:`apply_freeze`: which parameters learn. A "layer" is a parameterised
  layer: a module with parameters of its own (a convolution, a BatchNorm, a linear layer, an
  LSTM), in definition order (:func:`layers`), as Keras counts the layers the study fine-tunes.
  ``last:N`` and ``model.freeze.train_last: N`` both leave the last N of them trainable.
* :func:`classifier`: the final layer(s) that make the class scores, named by the model itself
  (``get_classifier()`` or ``classifier_name``), never guessed from module names.
  ``optim.head_lr``, ``model.init.reset_head`` and the ``backbone`` policy all use it.
* :func:`partial_bn`: TSN's partial batch normalisation.
* :func:`channels_last` / :func:`channels_last_input`: the channels-last memory format.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from actionlab.errors import ModelError

log = logging.getLogger(__name__)

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
POLICIES = ("none", "all", "backbone", "last:N")


# ---------------------------------------------------------------------- the classifier


def classifier(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's classifier as ``[(dotted name, module), ...]`` (two for score fusion).

    A model of your own names it with a ``classifier_name`` attribute (a dotted path; it may
    name a ModuleList or ModuleDict of several) or a ``get_classifier()`` method.

    Raises:
        ModelError: the model names no classifier (no ``get_classifier`` nor ``classifier_name``).
    """
    if hasattr(model, "get_classifier"):
        found = model.get_classifier()
    elif isinstance(getattr(model, "classifier_name", None), str):
        found = model.get_submodule(model.classifier_name)
    else:
        raise ModelError(
            f"{type(model).__name__} does not name its classifier: give it a classifier_name "
            "(the dotted path of its last layer) or a get_classifier() method"
        )
    names = {id(m): n for n, m in model.named_modules()}
    # a container (a score-fusion model's two stream classifiers, one head per dataset) is its parts
    parts = list(found.children()) if isinstance(found, (nn.ModuleList, nn.ModuleDict)) else [found]
    return [(names[id(m)], m) for m in parts]


def classifier_parameter_names(model: nn.Module) -> set[str]:
    """Names (as in ``named_parameters``) of the classifier's parameters."""
    return {f"{name}.{p}" if name else p
            for name, m in classifier(model) for p, _ in m.named_parameters()}


def is_classifier_key(model: nn.Module, key: str) -> bool:
    """Whether a state-dict key belongs to the model's classifier."""
    return any(name and key.startswith(name + ".") for name, _ in classifier(model))


# ---------------------------------------------------------------------- freezing


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The parameterised layers in definition order: modules with parameters of their own.

    Every registered model defines its classifier last, so ``layers(m)[-1]`` is it.
    """
    return [(name, m) for name, m in model.named_modules()
            if any(True for _ in m.parameters(recurse=False))]


def freeze(model: nn.Module, policy: str) -> nn.Module:
    """Set ``requires_grad`` by a policy: ``none``, ``all``, ``backbone`` or ``last:N``.

    ``backbone`` freezes everything but the classifier (:func:`classifier`); ``last:N`` leaves
    the last N parameterised layers (:func:`layers`) trainable. Layers a model never uses
    (a two-stream model's stream classifiers under feature fusion) stay frozen.

    Raises:
        ModelError: an unknown policy or a bad N.
    """
    policy = policy.strip()
    if policy == "none":
        model.requires_grad_(True)
    elif policy == "all":
        model.requires_grad_(False)
    elif policy == "backbone":
        model.requires_grad_(False)
        for _, m in classifier(model):
            m.requires_grad_(True)
    elif policy.startswith("last:"):
        _train_last(model, policy[5:], f"freeze policy {policy!r}")
    else:
        raise ModelError(f"unknown freeze policy {policy!r}; use {', '.join(POLICIES)}")
    for m in model.modules():
        if hasattr(m, "freeze_unused"):
            m.freeze_unused()
    return model


def _train_last(model: nn.Module, n_text: str, what: str) -> None:
    items = layers(model)
    try:
        n = int(n_text)
    except ValueError:
        n = -1
    if not 0 <= n <= len(items):
        last = ", ".join(name for name, _ in items[-3:])
        raise ModelError(f"{what}: N must be an integer in 0..{len(items)}, the model's "
                         f"parameterised layers (the last ones: {last})")
    model.requires_grad_(False)
    kept = items[len(items) - n:]
    for _, m in kept:
        for p in m.parameters(recurse=False):
            p.requires_grad_(True)
    log.info("training the last %d layers: %s", n, ", ".join(name for name, _ in kept))


def apply_freeze(model: nn.Module, train_last: int = 0, policy: str = "") -> nn.Module:
    """The config's ``model.freeze`` section: ``policy``, then ``train_last`` (``last:N``)."""
    if policy:
        freeze(model, policy)
    if train_last:
        if train_last < 0:
            raise ModelError(f"model.freeze.train_last={train_last}: use a count >= 1 (0: off)")
        try:
            freeze(model, f"last:{train_last}")
        except ModelError as exc:
            raise ModelError(f"model.freeze.train_last={train_last}: {exc}") from None
    return model


# ---------------------------------------------------------------------- batch norm


def partial_bn(model: nn.Module) -> int:
    """TSN's partial BN: every BatchNorm but the first in eval mode, its affine parameters frozen.

    The first one adapts to the new input (flow, RGB differences); the others keep their
    (pretrained) statistics, as TSN's reference code does. ``model.train()`` puts them back in
    training mode, so call this after it (the Trainer does, every epoch; TSN's ``train`` does).

    Returns:
        How many BatchNorm layers were frozen.
    """
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    for m in bns[1:]:
        m.eval()
        m.requires_grad_(False)
    return max(0, len(bns) - 1)


# ---------------------------------------------------------------------- memory format


def channels_last(model: nn.Module) -> nn.Module:
    """Every 4D parameter/buffer to ``channels_last`` and every 5D one to ``channels_last_3d``.

    ``Module.to(memory_format=...)`` accepts one format for the whole model, which a model
    mixing 2D and 3D convolutions (two-stream) cannot use. Parameters keep their identity.
    """
    return model._apply(channels_last_input)


def channels_last_input(x: torch.Tensor) -> torch.Tensor:
    """A (B, C, H, W) or (B, C, T, H, W) tensor in the matching channels-last layout."""
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x
