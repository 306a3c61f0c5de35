"""Recognizers built around a 2D backbone: TSN (segments + consensus) and LRCN (frames + RNN)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionlab.errors import ModelError
from actionlab.models.base import ActionModel
from actionlab.models.registry import build_model, register_model
from actionlab.models.surgery import partial_bn as set_partial_bn


def _backbone(name: str, in_channels: int, kwargs: dict[str, Any] | None) -> ActionModel:
    """A registered 2D backbone without classifier (``num_classes=0``: its head gives pre-logits)."""
    kw = {**(kwargs or {}), "in_channels": in_channels, "num_classes": 0}
    net = build_model(name, **kw)
    if not isinstance(net, ActionModel) or net.layout != "(B, C, H, W)":
        raise ModelError(f"backbone {name!r} must be a 2D model taking (B, C, H, W)")
    return net


def consensus(x: torch.Tensor, kind: str, k: int = 1) -> torch.Tensor:
    """Segment consensus over dim 1: ``avg``, ``max`` or ``topk`` (mean of the k largest)."""
    if kind == "avg":
        return x.mean(1)
    if kind == "max":
        return x.amax(1)
    if kind == "topk":
        return x.topk(min(k, x.shape[1]), dim=1).values.mean(1)
    raise ModelError(f"unknown consensus {kind!r}; use 'avg', 'max' or 'topk'")


class TSN(ActionModel):
    """Temporal Segment Network: S snippets through one shared 2D backbone, then a consensus.

    Input (B, S, C, H, W): S segments of C channels each (C = 3 RGB, 2L a flow stack of L frames,
    3(L-1) an RGB-difference stack), which is what ``actionlab.data`` yields for ``kind=tsn``.
    A flat (B, S*C, H, W) input is accepted too and split into S = ``num_segments`` groups.

    Args:
        num_classes: Outputs.
        in_channels: Channels per segment (C).
        backbone: A registered 2D backbone name; ``backbone_kwargs`` its extra arguments.
        num_segments: S (used for flat inputs and the default input).
        consensus: ``avg``, ``max`` or ``topk`` (``topk``: mean of the ``k`` largest scores).
        partial_bn: TSN's partial BN: every BatchNorm but the first keeps its running statistics
            (eval mode in training) and its affine parameters frozen, as in TSN's reference code.
        drop_rate: Dropout before the classifier (TSN: 0.8 RGB, 0.7 flow).
    """

    layout = "(B, S, C, H, W)"

    def __init__(self, num_classes: int = 101, in_channels: int = 3, backbone: str = "resnet50",
                 backbone_kwargs: dict[str, Any] | None = None, num_segments: int = 3,
                 consensus: str = "avg", k: int = 2, partial_bn: bool = True,
                 drop_rate: float = 0.5) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.num_segments, self.consensus, self.k, self.drop_rate = num_segments, consensus, k, drop_rate
        self.backbone = _backbone(backbone, in_channels, backbone_kwargs)
        self.input_shape = (num_segments, *self.backbone.input_shape)
        self.num_features = self.backbone.num_features
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.partial_bn = partial_bn
        if partial_bn:
            set_partial_bn(self.backbone)

    def train(self, mode: bool = True) -> TSN:
        super().train(mode)
        if mode and self.partial_bn:
            set_partial_bn(self.backbone)
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == self.num_segments * self.in_channels:
            x = x.unflatten(1, (self.num_segments, self.in_channels))  # (B, S, C, H, W)
        self.check_input(x)
        s = x.shape[1]  # -1 for B below: a traced (ONNX) batch stays dynamic
        f = self.backbone.forward_features(x.flatten(0, 1))  # (B*S, F, h, w)
        return f.unflatten(0, (-1, s))  # (B, S, F, h, w)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        s = x.shape[1]  # -1 for B below: a traced (ONNX) batch stays dynamic
        f = self.backbone.forward_head(x.flatten(0, 1), pre_logits=True)  # (B*S, F)
        f = F.dropout(f, self.drop_rate, self.training).unflatten(0, (-1, s))  # (B, S, F)
        if pre_logits:
            return f.mean(1)  # (B, F)
        return consensus(self.fc(f), self.consensus, self.k)  # (B, S, K) -> (B, K)


class LRCN(ActionModel):
    """Long-term recurrent convolutional network: a per-frame 2D backbone, then an LSTM or GRU.

    Input (B, T, C, H, W). ``forward`` gives the video-level logits (mean of the per-step logits
    or the last step's), ``forward_steps`` the per-step logits (B, T, K), and
    ``forward_sequence(features)`` runs from cached per-frame features (B, T, D).

    Args:
        num_classes: Outputs.
        in_channels: Channels per frame.
        backbone: A registered 2D backbone; ``backbone_kwargs`` its extra arguments.
        rnn: ``lstm`` or ``gru``; ``hidden_size``, ``num_layers``, ``rnn_dropout`` (between layers).
        output: ``mean`` or ``last``: how per-step outputs become the video's.
        num_frames: T of the default input.
    """

    layout = "(B, T, C, H, W)"
    head_modules = ("rnn", "fc")

    def __init__(self, num_classes: int = 101, in_channels: int = 3, backbone: str = "resnet18",
                 backbone_kwargs: dict[str, Any] | None = None, rnn: str = "lstm",
                 hidden_size: int = 256, num_layers: int = 1, rnn_dropout: float = 0.0,
                 output: str = "mean", num_frames: int = 8, drop_rate: float = 0.0) -> None:
        super().__init__()
        if rnn not in ("lstm", "gru"):
            raise ModelError(f"unknown rnn {rnn!r}; use 'lstm' or 'gru'")
        if output not in ("mean", "last"):
            raise ModelError(f"unknown output {output!r}; use 'mean' or 'last'")
        self.in_channels, self.num_classes, self.output, self.drop_rate = in_channels, num_classes, output, drop_rate
        self.backbone = _backbone(backbone, in_channels, backbone_kwargs)
        self.input_shape = (num_frames, *self.backbone.input_shape)
        self.feature_dim = self.backbone.num_features
        cls = nn.LSTM if rnn == "lstm" else nn.GRU
        self.rnn = cls(self.feature_dim, hidden_size, num_layers, batch_first=True,
                       dropout=rnn_dropout if num_layers > 1 else 0.0)
        self.num_features = hidden_size
        self.fc = nn.Linear(hidden_size, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t = x.shape[1]
        f = self.backbone.forward_features(x.flatten(0, 1))  # (B*T, F, h, w)
        return f.unflatten(0, (-1, t))  # (B, T, F, h, w)

    def _steps(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.dim() != 3 or feats.shape[-1] != self.feature_dim:
            raise ModelError(f"LRCN expects per-frame features (B, T, D) with D={self.feature_dim}; "
                             f"got {tuple(feats.shape)}")
        feats = F.dropout(feats, self.drop_rate, self.training)
        # An explicit zero state derived from the input keeps B dynamic in a traced (ONNX) graph.
        zero = (feats[:, 0, :1] * 0).expand(-1, self.rnn.hidden_size)  # (B, hidden)
        h0 = zero.unsqueeze(0).repeat(self.rnn.num_layers, 1, 1).contiguous()  # (layers, B, hidden)
        state = (h0, h0) if isinstance(self.rnn, nn.LSTM) else h0
        h, _ = self.rnn(feats, state)  # (B, T, hidden)
        return h

    def _video(self, steps: torch.Tensor) -> torch.Tensor:
        return steps.mean(1) if self.output == "mean" else steps[:, -1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        t = x.shape[1]
        f = self.backbone.forward_head(x.flatten(0, 1), pre_logits=True).unflatten(0, (-1, t))  # (B, T, D)
        h = self._steps(f)
        return self._video(h) if pre_logits else self._video(self.fc(h))  # (B, K)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-time-step logits (B, T, K) of a clip (B, T, C, H, W)."""
        feats = self.forward_features(x)
        t = feats.shape[1]
        f = self.backbone.forward_head(feats.flatten(0, 1), pre_logits=True).unflatten(0, (-1, t))
        return self.fc(self._steps(f))

    def forward_sequence(self, features: torch.Tensor, steps: bool = False) -> torch.Tensor:
        """Logits from cached per-frame features (B, T, D): video-level (B, K), or (B, T, K)."""
        logits = self.fc(self._steps(features))  # (B, T, K)
        return logits if steps else self._video(logits)


@register_model
def tsn(**kw: Any) -> TSN:
    """TSN. kwargs: num_classes, in_channels (per segment), backbone, backbone_kwargs,
    num_segments, consensus (avg|max|topk), k, partial_bn, drop_rate."""
    return TSN(**kw)


@register_model
def lrcn(**kw: Any) -> LRCN:
    """LRCN. kwargs: num_classes, in_channels, backbone, backbone_kwargs, rnn (lstm|gru),
    hidden_size, num_layers, rnn_dropout, output (mean|last), num_frames, drop_rate."""
    return LRCN(**kw)
