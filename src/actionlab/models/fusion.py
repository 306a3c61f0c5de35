"""Two-stream fusion (``two_stream``) of two recognizers, and an SVM on their features.

Fusion kinds:

* late, on the scores (logits): ``average``, ``max``, ``min``, ``weighted`` (fixed ``weights``,
  e.g. (1, 1.5) for RGB + 1.5 x flow as in TSN, or learned with ``learn_weights=True``);
* ``concat``: the penultimate features of both streams, concatenated, then FC, ReLU, dropout, FC;
* ``mid``: the last convolutional maps (``forward_features``). The RGB map goes through a 1x1
  convolution to ``mid_channels`` (the study: 512 -> 128, the flow map's width), is pooled to
  the flow map's size and, when it is 2D and the flow map 3D, tiled over time; the two are
  concatenated on channels and go through a common path: ``fc`` (global pool, FC, ReLU, dropout,
  FC) or ``conv`` (two (2+1)D convolutions, global pool, then the same FC path).

Layers a fusion does not use (a stream's classifier for ``concat``, its whole head for ``mid``)
are frozen, so every trainable parameter gets a gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from actionlab.errors import ModelError
from actionlab.models.base import ActionModel, adaptive_avg_pool
from actionlab.models.registry import build_model, register_model
from actionlab.models.surgery import freeze
from actionlab.models.video import Conv2Plus1D

SCORE_FUSIONS = ("average", "max", "min", "weighted")
FUSIONS = (*SCORE_FUSIONS, "concat", "mid")


def _stream(spec: Mapping[str, Any] | str, num_classes: int) -> ActionModel:
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    if "name" not in spec:
        raise ModelError(f"a stream spec needs a 'name' (a registered model); got {spec}")
    net = build_model(spec.pop("name"), **{"num_classes": num_classes, **spec})
    if not isinstance(net, ActionModel):
        raise ModelError("two_stream streams must be single-input actionlab models")
    return net


def _as_3d(x: torch.Tensor) -> torch.Tensor:
    return x if x.dim() == 5 else x.unsqueeze(2)  # (B, C, H, W) -> (B, C, 1, H, W)


class TwoStream(ActionModel):
    """Two recognizers (``rgb``, ``flow``) fused; ``model(rgb, flow)``.

    Args:
        num_classes: Outputs.
        rgb, flow: Stream specs ``{'name': registered model, **kwargs}``.
        fusion: One of ``average``, ``max``, ``min``, ``weighted``, ``concat``, ``mid``.
        weights: (rgb, flow) weights of ``weighted`` fusion; ``learn_weights`` makes them trainable.
        hidden: Width of the fused FC layer (``concat``, ``mid``); ``drop_rate`` its dropout.
        mid_channels: 1x1-convolution output width for ``mid`` (default: the flow map's width).
        mid_path: ``fc`` or ``conv``.
        freeze_streams: Freezing policy per stream, e.g. ``{'rgb': 'all', 'flow': 'last:2'}``.
        in_channels: Ignored (each stream has its own); accepted for the common build call.
    """

    layout = "(rgb, flow)"

    def __init__(self, num_classes: int = 12, rgb: Mapping[str, Any] | str = "resnet_like",
                 flow: Mapping[str, Any] | str = "r2plus1d_flow", fusion: str = "average",
                 weights: tuple[float, float] = (1.0, 1.5), learn_weights: bool = False,
                 hidden: int = 512, drop_rate: float = 0.5, mid_channels: int | None = None,
                 mid_path: str = "fc", freeze_streams: Mapping[str, str] | None = None,
                 in_channels: int | None = None) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ModelError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
        if mid_path not in ("fc", "conv"):
            raise ModelError(f"unknown mid_path {mid_path!r}; use 'fc' or 'conv'")
        self.num_classes, self.fusion, self.mid_path, self.drop_rate = num_classes, fusion, mid_path, drop_rate
        self.rgb = _stream(rgb, num_classes)
        self.flow = _stream(flow, num_classes)
        self.input_shape = ()
        self.in_channels = 0
        if fusion == "weighted":
            w = torch.tensor([float(v) for v in weights])
            if learn_weights:
                self.weights = nn.Parameter(w)
            else:
                self.register_buffer("weights", w)
        if fusion == "concat":
            self.fuse = nn.Linear(self.rgb.num_features + self.flow.num_features, hidden)
        elif fusion == "mid":
            c_rgb, c_flow = self._map_channels()
            mid = mid_channels or c_flow
            self.reduce = (nn.Conv3d(c_rgb, mid, 1))  # 1x1(x1) convolution matching widths
            width = mid + c_flow
            if mid_path == "conv":
                self.common = nn.Sequential(
                    Conv2Plus1D(width, width, norm=False), nn.ReLU(inplace=True),
                    Conv2Plus1D(width, width, norm=False), nn.ReLU(inplace=True))
            self.fuse = nn.Linear(width, hidden)
        if fusion in ("concat", "mid"):
            self.num_features = hidden
            self.fc = nn.Linear(hidden, num_classes) if num_classes > 0 else nn.Identity()
        else:
            self.num_features = self.rgb.num_features + self.flow.num_features
        for name, policy in (freeze_streams or {}).items():
            freeze(self._get(name), policy)
        self.freeze_unused()

    # ------------------------------------------------------------------ helpers
    def _get(self, name: str) -> ActionModel:
        if name not in ("rgb", "flow"):
            raise ModelError(f"unknown stream {name!r}; use 'rgb' or 'flow'")
        return getattr(self, name)

    def _map_channels(self) -> tuple[int, int]:
        """Channel widths of both streams' ``forward_features`` maps (their ``channels``)."""
        for s in (self.rgb, self.flow):
            if not getattr(s, "channels", 0) or s.layout not in ("(B, C, H, W)", "(B, C, T, H, W)"):
                raise ModelError(f"mid fusion needs (B, C, [T,] H, W) backbones; {type(s).__name__} is not one")
        return self.rgb.channels, self.flow.channels

    def freeze_unused(self) -> None:
        """Freeze what the fusion never uses (``surgery.freeze`` calls this after any policy)."""
        for s in (self.rgb, self.flow):
            if self.fusion == "concat":
                s.get_classifier().requires_grad_(False)
            elif self.fusion == "mid":
                for name in s.head_modules:
                    getattr(s, name).requires_grad_(False)

    def load_stream(self, name: str, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Load one stream's weights from a single-stream checkpoint's state dict."""
        out = self._get(name).load_state_dict(state_dict, strict=strict)
        self.freeze_unused()
        return out

    def freeze_stream(self, name: str, policy: str) -> None:
        """Apply a :func:`freeze` policy to one stream (unused head layers stay frozen)."""
        freeze(self._get(name), policy)
        self.freeze_unused()

    def reset_classifier(self, num_classes: int) -> None:
        if self.fusion in ("concat", "mid"):
            super().reset_classifier(num_classes)
        else:
            self.rgb.reset_classifier(num_classes)
            self.flow.reset_classifier(num_classes)
            self.num_classes = num_classes
        self.freeze_unused()

    def get_classifier(self) -> nn.Module:
        if self.fusion in ("concat", "mid"):
            return self.fc
        return nn.ModuleList([self.rgb.get_classifier(), self.flow.get_classifier()])

    def default_input(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        return self.rgb.default_input(batch), self.flow.default_input(batch)

    # ------------------------------------------------------------------ forward
    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.forward_head(self.forward_features(rgb, flow))

    def forward_features(self, rgb: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        return self.rgb.forward_features(rgb), self.flow.forward_features(flow)

    def forward_head(self, x: tuple[torch.Tensor, torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        fa, fb = x
        if self.fusion in SCORE_FUSIONS:
            if pre_logits:
                return torch.cat([self.rgb.forward_head(fa, True), self.flow.forward_head(fb, True)], 1)
            a, b = self.rgb.forward_head(fa), self.flow.forward_head(fb)  # (B, K) each
            if self.fusion == "average":
                return (a + b) / 2
            if self.fusion == "max":
                return torch.maximum(a, b)
            if self.fusion == "min":
                return torch.minimum(a, b)
            w = self.weights.to(a.dtype)
            return (w[0] * a + w[1] * b) / w.sum()
        if self.fusion == "concat":
            z = torch.cat([self.rgb.forward_head(fa, True), self.flow.forward_head(fb, True)], 1)  # (B, Da+Db)
        else:
            z = self._mid(fa, fb)  # (B, mid + C_flow)
        z = F.dropout(F.relu(self.fuse(z)), self.drop_rate, self.training)  # (B, hidden)
        return z if pre_logits else self.fc(z)

    def _mid(self, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        a, b = _as_3d(fa), _as_3d(fb)  # (B, Ca, Ta, Ha, Wa), (B, Cb, Tb, Hb, Wb)
        a = self.reduce(a)  # (B, mid, Ta, Ha, Wa)
        if a.shape[-2:] != b.shape[-2:]:
            a = adaptive_avg_pool(a, tuple(b.shape[-2:]))  # (B, mid, Ta, Hb, Wb)
        if a.shape[2] != b.shape[2]:
            if a.shape[2] == 1:
                a = a.expand(-1, -1, b.shape[2], -1, -1)  # a 2D map tiled over time
            else:
                a = adaptive_avg_pool(a, tuple(b.shape[-3:]))
        z = torch.cat([a, b], 1)  # (B, mid + Cb, Tb, Hb, Wb)
        if self.mid_path == "conv":
            z = self.common(z)
        return z.mean(dim=(2, 3, 4))  # (B, mid + Cb)


@register_model
def two_stream(**kw: Any) -> TwoStream:
    """Two-stream fusion. kwargs: num_classes, rgb, flow (specs), fusion, weights, learn_weights,
    hidden, drop_rate, mid_channels, mid_path, freeze_streams."""
    return TwoStream(**kw)


class SVMFusion:
    """A linear SVM on the concatenated, L2-normalised features of two streams (not a module).

    Args:
        C: scikit-learn ``LinearSVC`` regularisation; other keyword arguments go to it too.
    """

    def __init__(self, C: float = 1.0, **svc_kwargs: Any) -> None:
        from sklearn.svm import LinearSVC

        self.svm = LinearSVC(C=C, **svc_kwargs)

    @staticmethod
    def features(a: Any, b: Any) -> np.ndarray:
        """(N, Da + Db): each stream's rows scaled to unit L2 norm, then concatenated."""
        out = []
        for f in (a, b):
            f = f.detach().float().cpu().numpy() if isinstance(f, torch.Tensor) else np.asarray(f, np.float64)
            f = f.reshape(len(f), -1)
            out.append(f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out, axis=1)

    def fit(self, a: Any, b: Any, y: Any) -> SVMFusion:
        self.svm.fit(self.features(a, b), np.asarray(y))
        return self

    def predict(self, a: Any, b: Any) -> np.ndarray:
        return self.svm.predict(self.features(a, b))

    def decision_function(self, a: Any, b: Any) -> np.ndarray:
        return self.svm.decision_function(self.features(a, b))
