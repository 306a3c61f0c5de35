"""Models over per-frame feature sequences (the LRCN path on cached CNN features).

Input (B, T, F) features, or (B, N, T, F) windows; output per-step logits (B, T, K) (or
(B, N, T, K)); ``actionlab.train.lrcn`` weights the steps into a video's score.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from actionlab.models.registry import register_model


class SequenceClassifier(nn.Module):
    """LSTM over feature sequences with per-step logits (the study: 1 LSTM layer + linear).

    Args:
        in_features: F.
        num_classes: K.
        hidden: LSTM width.
        layers: Stacked LSTM layers.
        dropout: Before the classifier (and between LSTM layers).
    """

    classifier_name = "fc"

    def __init__(self, in_features: int, num_classes: int, hidden: int = 512, layers: int = 1,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.rnn = nn.LSTM(in_features, hidden, layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # (B, N, T, F) windows
            B, N = x.shape[:2]
            return self.rnn(x.flatten(0, 1))[0].unflatten(0, (B, N))  # (B, N, T, H)
        return self.rnn(x)[0]  # (B, T, H)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, n: int) -> None:
        self.num_classes = n
        self.fc = nn.Linear(self.fc.in_features, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))  # (B, T, K) or (B, N, T, K)


@register_model(video=False)
def lstm_features(**kw: Any) -> SequenceClassifier:
    """LSTM over cached per-frame features. kwargs: in_features, num_classes, hidden, layers,
    dropout."""
    return SequenceClassifier(**kw)
