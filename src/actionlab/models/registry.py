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
# Registered models that take no video (feature sequences, multi-task wrappers of a backbone):
# built like any other, but not in the table of video models.
_AUXILIARY: set[str] = set()
# The modules whose import registers the built-in models (the package imports nothing eagerly).
FAMILIES = ("resnet2d", "video", "i3d", "c3d", "compact", "recognizers", "fusion", "sequence",
            "joint", "descriptors", "pose")


def load_families() -> None:
    """Import the built-in model modules, registering their models (a no-op after the first call)."""
    for name in FAMILIES:
        importlib.import_module(f"actionlab.models.{name}")


def register_model(fn: F | None = None, *, video: bool = True) -> Any:
    """Register ``fn`` under its ``__name__``; a second model with the same name is refused.

    ``@register_model(video=False)`` registers a model that takes no video (it is built by
    :func:`build_model` and checkpoints rebuild it, but :func:`list_models` leaves it out).
    """
    def add(f: F) -> F:
        name = f.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = f
        if not video:
            _AUXILIARY.add(name)
        return f

    return add(fn) if fn is not None else add


def list_models(video_only: bool = True) -> list[str]:
    """Registered model names, sorted: the video models, or every one."""
    load_families()
    return sorted(n for n in _MODELS if not (video_only and n in _AUXILIARY))


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model, e.g. ``build_model('resnet18', num_classes=12, in_channels=3)``.

    Raises:
        ModelError: ``name`` is not registered (the message lists the valid names).
    """
    load_families()
    if name not in _MODELS:
        raise ModelError(f"unknown model {name!r}; valid names: "
                         f"{', '.join(list_models(video_only=False))}")
    return _MODELS[name](**kwargs)
