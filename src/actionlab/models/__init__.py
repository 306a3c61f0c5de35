"""Models: the registry, 2D and video backbones, recognizers (TSN, LRCN) and two-stream fusion.

Shape letters, used in every shape comment: B batch, S segments, T time, C channels, H height,
W width, K classes, F/D feature width. 2D models take (B, C, H, W), video models (B, C, T, H, W),
TSN (B, S, C, H, W), LRCN (B, T, C, H, W), two-stream ``model(rgb, flow)``.

Every model has ``forward_features``, ``forward_head(x, pre_logits=False)``,
``reset_classifier(n)``, ``default_input(batch)``; :func:`model_info` gives its size.
"""

from actionlab.models import c3d, compact, fusion, i3d, recognizers, resnet2d, video  # noqa: F401
from actionlab.models.base import ActionModel, freeze, layers, model_info
from actionlab.models.c3d import C3D
from actionlab.models.fusion import SVMFusion, TwoStream
from actionlab.models.i3d import I3DResNet, inflate_state_dict, inflate_weight
from actionlab.models.recognizers import LRCN, TSN
from actionlab.models.registry import build_model, list_models, register_model
from actionlab.models.resnet2d import VGG, ResNet, cross_modality_init
from actionlab.models.video import NonLocal3d, VideoResNet

__all__ = [
    "C3D", "LRCN", "TSN", "VGG", "ActionModel", "I3DResNet", "NonLocal3d", "ResNet", "SVMFusion",
    "TwoStream", "VideoResNet", "build_model", "cross_modality_init", "freeze", "inflate_state_dict",
    "inflate_weight", "layers", "list_models", "model_info", "register_model",
]
