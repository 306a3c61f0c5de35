"""Models: the registry, 2D and video backbones, recognizers (TSN, LRCN) and two-stream fusion.

Shape letters, used in every shape comment: B batch, S segments, T time, C channels, H height,
W width, K classes, F/D feature width. 2D models take (B, C, H, W), video models (B, C, T, H, W),
TSN (B, S, C, H, W), LRCN (B, T, C, H, W), two-stream ``model(rgb, flow)``.

Every model has ``forward_features``, ``forward_head(x, pre_logits=False)``,
``reset_classifier(n)``, ``default_input(batch)``; :func:`model_info` gives its size.
"""

from actionlab.models import compact, fusion, recognizers, resnet2d  # noqa: F401  (registers)
from actionlab.models.base import ActionModel, freeze, layers, model_info
from actionlab.models.fusion import SVMFusion, TwoStream
from actionlab.models.recognizers import LRCN, TSN
from actionlab.models.registry import build_model, list_models, register_model
from actionlab.models.resnet2d import VGG, ResNet, cross_modality_init

__all__ = [
    "LRCN", "TSN", "VGG", "ActionModel", "ResNet", "SVMFusion", "TwoStream", "build_model",
    "cross_modality_init", "freeze", "layers", "list_models", "model_info", "register_model",
]
