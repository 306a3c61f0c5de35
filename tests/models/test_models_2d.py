"""2D backbones: cross-modality initialisation, errors, freezing, the study's frame model."""

from __future__ import annotations

import math

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models import build_model, cross_modality_init, freeze, layers, model_info


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ModelError, match="unknown model 'resnet19'.*resnet18.*two_stream"):
        build_model("resnet19")


def test_registry_refuses_duplicates() -> None:
    from actionlab.models.registry import register_model

    def resnet18() -> None: ...

    with pytest.raises(ValueError, match="already registered"):
        register_model(resnet18)


def test_head_mismatch_explains_reset() -> None:
    src = build_model("resnet18", num_classes=5, width=0.125)
    dst = build_model("resnet18", num_classes=3, width=0.125)
    with pytest.raises(ModelError, match=r"5 classes.*reset_classifier\(5\).*strict=False"):
        dst.load_state_dict(src.state_dict())
    dst.reset_classifier(5)
    dst.load_state_dict(src.state_dict())
    state = {k: v for k, v in src.state_dict().items() if not k.startswith("fc.")}
    dst.reset_classifier(3)
    missing = dst.load_state_dict(state, strict=False).missing_keys
    assert missing == ["fc.weight", "fc.bias"]


def test_cross_modality_init_flow_stack() -> None:
    rgb = build_model("resnet18", num_classes=4, width=0.125).state_dict()
    flow = build_model("resnet18", num_classes=4, width=0.125, in_channels=10)
    state = cross_modality_init(rgb, 10)
    flow.load_state_dict(state, strict=True)
    w = flow.conv1.weight
    assert w.shape[1] == 10
    mean = rgb["conv1.weight"].mean(1)
    assert all(torch.allclose(w[:, c], mean) for c in range(10))
    assert torch.equal(state["layer1.0.conv1.weight"], rgb["layer1.0.conv1.weight"])


def test_cross_modality_init_is_used_with_vgg() -> None:
    rgb = build_model("vgg16_bn", num_classes=4, width=0.125, hidden=8).state_dict()
    net = build_model("vgg16_bn", num_classes=4, width=0.125, hidden=8, in_channels=6)
    net.load_state_dict(cross_modality_init(rgb, 6))


def test_freeze_policies() -> None:
    m = build_model("resnet18", num_classes=2, width=0.125)
    names = [n for n, _ in layers(m)]
    assert names[:3] == ["conv1", "bn1", "layer1.0.conv1"] and len(names) == 2 + 8 * 4 + 3 * 2 + 1
    assert names[-4:] == ["layer4.1.bn1", "layer4.1.conv2", "layer4.1.bn2", "fc"]
    freeze(m, "last:3")
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable == ["layer4.1.conv2.weight", "layer4.1.bn2.weight", "layer4.1.bn2.bias",
                         "fc.weight", "fc.bias"]
    freeze(m, "all")
    assert not any(p.requires_grad for p in m.parameters())
    freeze(m, "none")
    assert all(p.requires_grad for p in m.parameters())
    for bad in ("last:x", "last:99", "some"):
        with pytest.raises(ModelError, match="freeze policy|N must"):
            freeze(m, bad)


def test_study_frame_model_size() -> None:
    with torch.device("meta"):
        m = build_model("resnet_like", num_classes=12)
    info = model_info(m)
    assert 9.5 < info["size_mb"] < 11.0  # the study: 10.3 MB
    assert not any(isinstance(x, torch.nn.modules.batchnorm._BatchNorm) for x in m.modules())
    assert m.drop_rate == 0.5
    assert m.default_input(1).shape == (1, 3, 72, 72)
    f = m.forward_features(torch.empty(1, 3, 72, 72, device="meta"))
    assert f.shape == (1, 512, 17, 17)


def test_study_flow_model_size() -> None:
    with torch.device("meta"):
        m = build_model("r2plus1d_flow", num_classes=12)
    info = model_info(m)
    assert 4.5 < info["size_mb"] < 5.6  # the study: 5.2 MB
    f = m.forward_features(torch.empty(1, 2, 16, 72, 72, device="meta"))
    assert f.shape == (1, 128, 1, 4, 4)
    assert m.drop_rate == 0.35


def test_width_scales_the_frame_model() -> None:
    small = model_info(build_model("resnet_like", num_classes=12, width=0.25, head_grid=4))
    assert small["size_mb"] < 1.0


@pytest.mark.parametrize("shape,size", [((2, 3, 7, 9), (2, 4)), ((1, 2, 3, 5, 5), (2, 17, 1)),
                                        ((1, 1, 1, 1), (7, 7))])
def test_exportable_adaptive_pool_equals_torch(shape: tuple, size: tuple) -> None:
    from actionlab.models.base import adaptive_avg_pool

    x = torch.randn(*shape)
    ref = (torch.nn.functional.adaptive_avg_pool2d if len(size) == 2 else torch.nn.functional.adaptive_avg_pool3d)
    assert torch.allclose(adaptive_avg_pool(x, size), ref(x, size), atol=1e-6)


def test_compact_models_start_near_chance_loss() -> None:
    # the classifier starts small: the first loss is close to ln(12), not ~10 (He-initialised head)
    torch.manual_seed(0)
    for name, x in (("resnetlike", torch.randn(8, 3, 64, 64)),
                    ("r2plus1d_flow", torch.randn(8, 2, 8, 64, 64))):
        m = build_model(name, num_classes=12, width=0.5).eval()
        loss = torch.nn.functional.cross_entropy(m(x), torch.randint(0, 12, (8,)))
        assert abs(loss.item() - math.log(12)) < 0.5, (name, loss.item())


def test_flow_model_trains_in_bf16_on_cpu() -> None:
    # PyTorch 2.13's CPU bf16 weight gradient of a (3,1,1) conv on a 2-step input is non-finite;
    # the flow net's TemporalConv works around it (8 frames reach T=2 at the third block)
    torch.manual_seed(0)
    m = build_model("r2plus1d_flow", num_classes=12, width=0.5)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x, y = torch.randn(8, 2, 8, 32, 32), torch.randint(0, 12, (8,))
    for _ in range(3):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in m.parameters())
        opt.step()
    assert torch.isfinite(loss)
