"""Models: the registry, 2D and video backbones, recognizers (TSN, LRCN) and two-stream fusion.

Shape letters, used in every shape comment: B batch, S segments, T time, C channels, H height,
W width, K classes, F/D feature width, J joints (keypoints). 2D models take (B, C, H, W), video
models (B, C, T, H, W), TSN (B, S, C, H, W), LRCN (B, T, C, H, W), pose models (B, C, T, J),
two-stream ``model(rgb, flow)``.

Every model has ``forward_features``, ``forward_head(x, pre_logits=False)``,
``reset_classifier(n)``, ``get_classifier()``, ``default_input(batch)``; :func:`model_info` gives
its size and :mod:`actionlab.models.surgery` freezes, finds the classifier, sets partial BN and
channels-last.

Importing this package costs nothing (no torch): the names below load on first use, so
``actionlab.models.commands`` and the CLI start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actionlab.models.base import ActionModel, model_info
    from actionlab.models.c3d import C3D
    from actionlab.models.fusion import SVMFusion, TwoStream
    from actionlab.models.i3d import I3DResNet, inflate_state_dict, inflate_weight
    from actionlab.models.recognizers import LRCN, TSN
    from actionlab.models.registry import build_model, list_models, register_model
    from actionlab.models.resnet2d import VGG, ResNet, cross_modality_init
    from actionlab.models.surgery import freeze, layers
    from actionlab.models.video import NonLocal3d, VideoResNet

# public name -> the submodule that defines it
_WHERE = {
    "C3D": "c3d", "LRCN": "recognizers", "TSN": "recognizers", "VGG": "resnet2d",
    "ActionModel": "base", "I3DResNet": "i3d", "NonLocal3d": "video", "ResNet": "resnet2d",
    "SVMFusion": "fusion", "TwoStream": "fusion", "VideoResNet": "video",
    "build_model": "registry", "cross_modality_init": "resnet2d", "freeze": "surgery",
    "inflate_state_dict": "i3d", "inflate_weight": "i3d", "layers": "surgery",
    "list_models": "registry", "model_info": "base", "register_model": "registry",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    from actionlab.models.registry import FAMILIES, load_families

    if name not in _WHERE and name not in (*FAMILIES, "base", "registry", "surgery"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    load_families()  # as the eager package did: every model is registered once anything is used
    if name not in _WHERE:
        return importlib.import_module(f"{__name__}.{name}")  # a submodule: models.video
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
