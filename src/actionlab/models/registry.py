"""The model registry: a dict of builders and a decorator that refuses duplicate names."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from actionlab.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

F = TypeVar("F", bound=Callable[..., "nn.Module"])
_MODELS: dict[str, Callable[..., nn.Module]] = {}
# The modules whose import registers the built-in models (the package imports nothing eagerly).
FAMILIES = ("resnet2d", "video", "i3d", "c3d", "compact", "recognizers", "fusion", "sequence",
            "joint")


def load_families() -> None:
    """Import the built-in model modules, registering their models (a no-op after the first call)."""
    for name in FAMILIES:
        importlib.import_module(f"actionlab.models.{name}")


def register_model(fn: F) -> F:
    """Register ``fn`` under its ``__name__``; a second model with the same name is refused."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    load_families()
    return sorted(_MODELS)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model, e.g. ``build_model('resnet18', num_classes=12, in_channels=3)``.

    Raises:
        ModelError: ``name`` is not registered (the message lists the valid names).
    """
    load_families()
    if name not in _MODELS:
        raise ModelError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
