"""The model registry: a dict of builders and a decorator that refuses duplicate names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from actionlab.errors import ModelError

F = TypeVar("F", bound=Callable[..., nn.Module])
_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: F) -> F:
    """Register ``fn`` under its ``__name__``; a second model with the same name is refused."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_MODELS)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model, e.g. ``build_model('resnet18', num_classes=12, in_channels=3)``.

    Raises:
        ModelError: ``name`` is not registered (the message lists the valid names).
    """
    if name not in _MODELS:
        raise ModelError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
