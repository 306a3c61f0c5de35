"""Joint training on two datasets: one shared backbone, one linear head per dataset.

The study (UCF101 + HMDB51) feeds the model "two different batches of the two datasets, changing
the last fully connected layer correspondingly"; the trainer alternates batches and calls
``model(*x, task=dataset)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from actionlab.models.registry import build_model, register_model


class JointModel(nn.Module):
    """A backbone with the timm-style interface and one linear head per dataset.

    Args:
        backbone: Any model with ``forward_features`` and ``forward_head(x, pre_logits=True)``.
        heads: ``{dataset: num_classes}``.
        feature_dim: Size of the backbone's pre-logits features.
        dropout: Dropout before each head.
    """

    classifier_name = "heads"  # every dataset's head (optim.head_lr, the backbone freeze policy)

    def __init__(self, backbone: nn.Module, heads: dict[str, int], feature_dim: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(feature_dim, n) for name, n in heads.items()})

    def features(self, *x: torch.Tensor) -> torch.Tensor:
        """Pre-logits features (B, F) of the shared backbone."""
        return self.backbone.forward_head(self.backbone.forward_features(*x), pre_logits=True)

    def forward(self, *x: torch.Tensor, task: str) -> torch.Tensor:
        return self.heads[task](self.drop(self.features(*x)))


@register_model(video=False)
def joint(backbone: dict[str, Any], heads: dict[str, int], feature_dim: int,
          dropout: float = 0.0) -> JointModel:
    """A joint model. kwargs: backbone ({name, kwargs} of a registered model), heads
    ({dataset: classes}), feature_dim, dropout."""
    return JointModel(build_model(backbone["name"], **backbone.get("kwargs", {})), heads,
                      feature_dim, dropout)
