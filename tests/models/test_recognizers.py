"""TSN and LRCN specifics: input layouts, consensus, partial BN, cached features."""

from __future__ import annotations

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models import build_model
from actionlab.models.recognizers import consensus

BB = {"backbone": "resnet18", "backbone_kwargs": {"width": 0.125}}


def test_tsn_flat_and_segment_layouts_agree() -> None:
    m = build_model("tsn", num_classes=3, in_channels=4, num_segments=2, **BB).eval()
    x = torch.randn(2, 2, 4, 32, 32)  # (B, S, C, H, W)
    with torch.no_grad():
        assert torch.allclose(m(x), m(x.flatten(1, 2)), atol=1e-6)  # (B, S*C, H, W)


def test_consensus_kinds() -> None:
    x = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [2.0, 5.0]]])  # (B=1, S=3, K=2)
    assert torch.allclose(consensus(x, "avg"), torch.tensor([[2.0, 7 / 3]]))
    assert consensus(x, "max").tolist() == [[3.0, 5.0]]
    assert consensus(x, "topk", 2).tolist() == [[2.5, 3.5]]
    with pytest.raises(ModelError):
        consensus(x, "median")


def test_tsn_partial_bn_freezes_all_but_the_first() -> None:
    m = build_model("tsn", num_classes=3, num_segments=2, **BB)
    m.train()
    bns = [x for x in m.backbone.modules() if isinstance(x, torch.nn.BatchNorm2d)]
    assert bns[0].training and not any(b.training for b in bns[1:])
    assert bns[0].weight.requires_grad and not bns[1].weight.requires_grad
    before = bns[1].running_mean.clone()
    m(torch.randn(2, 2, 3, 32, 32))
    assert torch.equal(bns[1].running_mean, before)
    m2 = build_model("tsn", num_classes=3, num_segments=2, partial_bn=False, **BB).train()
    assert all(b.training for b in m2.modules() if isinstance(b, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("output", ["mean", "last"])
def test_lrcn_steps_and_cached_features(rnn: str, output: str) -> None:
    m = build_model("lrcn", num_classes=3, rnn=rnn, output=output, hidden_size=6, **BB).eval()
    x = torch.randn(2, 4, 3, 32, 32)  # (B, T, C, H, W)
    with torch.no_grad():
        steps = m.forward_steps(x)
        assert steps.shape == (2, 4, 3)
        video = m(x)
        expect = steps.mean(1) if output == "mean" else steps[:, -1]
        assert torch.allclose(video, expect, atol=1e-5)
        feats = m.backbone.forward_head(m.backbone.forward_features(x.flatten(0, 1)), True)
        feats = feats.unflatten(0, (2, 4))  # (B, T, D)
        assert torch.allclose(m.forward_sequence(feats), video, atol=1e-5)
        assert m.forward_sequence(feats, steps=True).shape == (2, 4, 3)
    with pytest.raises(ModelError, match=r"\(B, T, D\)"):
        m.forward_sequence(torch.randn(2, 4, 5))
