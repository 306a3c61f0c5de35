"""Video backbones: inflation from 2D, non-local blocks, C3D's published shapes."""

from __future__ import annotations

import re

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models import build_model, inflate_state_dict, inflate_weight, model_info


@pytest.mark.parametrize("depth", [18, 50])
@pytest.mark.parametrize("mode", ["mean", "center"])
def test_inflated_i3d_matches_2d_on_identical_frames(depth: int, mode: str) -> None:
    torch.manual_seed(0)
    net2d = build_model(f"resnet{depth}", num_classes=3, width=0.125)
    with torch.no_grad():  # non-trivial BN statistics
        for m in net2d.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    net3d = build_model("i3d", depth=depth, num_classes=3, width=0.125, drop_rate=0.0)
    net3d.load_state_dict(inflate_state_dict(net2d.state_dict(), net3d, mode=mode), strict=True)
    net2d.eval(), net3d.eval()
    img = torch.randn(2, 3, 32, 32)
    clip = img.unsqueeze(2).expand(-1, -1, 6, -1, -1)  # (B, C, T, H, W), identical frames
    with torch.no_grad():
        assert torch.allclose(net3d(clip), net2d(img), atol=1e-4, rtol=1e-4)


def test_inflate_modes_and_int_sizes() -> None:
    w = torch.randn(4, 3, 7, 7)
    assert torch.allclose(inflate_weight(w, 5, "mean").sum(2), w, atol=1e-6)
    c = inflate_weight(w, 3, "center")
    assert torch.equal(c[:, :, 1], w) and not c[:, :, 0].any()
    state = inflate_state_dict({"conv1.weight": w, "fc.weight": torch.randn(2, 4)}, 3)
    assert state["conv1.weight"].shape == (4, 3, 3, 7, 7) and state["fc.weight"].dim() == 2
    with pytest.raises(ModelError, match="inflation mode"):
        inflate_weight(w, 3, "edge")


def test_non_local_blocks_start_as_identity_and_sit_after_chosen_stages() -> None:
    torch.manual_seed(0)
    plain = build_model("r2plus1d_18", num_classes=3, width=0.125).eval()
    nl = build_model("r2plus1d_18", num_classes=3, width=0.125, non_local_stages=(2, 3)).eval()
    assert sorted(nl.non_local) == ["layer2", "layer3"]
    missing = nl.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("non_local.") for k in missing)
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(nl(x), plain(x), atol=1e-6)  # zero-initialised output BN
    with pytest.raises(ModelError, match="non_local_stages"):
        build_model("r3d_18", non_local_stages=(5,))


def test_c3d_as_published() -> None:
    with torch.device("meta"):
        m = build_model("c3d", num_classes=487)
        f = m.forward_features(torch.empty(1, 3, 16, 112, 112))
    assert f.shape == (1, 512, 1, 4, 4)
    assert m.fc6.in_features == 8192 and m.fc7.out_features == 4096
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv3d)]
    assert len(convs) == 8
    assert 75e6 < model_info(m)["params"] < 80e6  # ~78 M with 487 classes


def test_video_models_take_any_in_channels() -> None:
    m = build_model("r3d_18", num_classes=2, in_channels=2, width=0.125).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 2, 4, 32, 32)).shape == (1, 2)
    with pytest.raises(ModelError, match=r"\(B, C, T, H, W\) with C=2"):
        m(torch.randn(1, 3, 4, 32, 32))


def test_one_2plus1d_layer_with_torchvision_names_and_old_flow_checkpoints_load() -> None:
    from actionlab.models.video import Conv2Plus1D

    tv = build_model("r2plus1d_18", num_classes=2, width=0.125)
    flow = build_model("r2plus1d_flow", num_classes=2, width=0.25, hidden=8, head_grid=(1, 2, 2))
    assert type(tv.layer1[0].conv1[0]) is Conv2Plus1D and type(flow.stem) is Conv2Plus1D
    # torchvision's R(2+1)D names: spatial conv 0, BN 1, temporal conv 3
    assert {"layer1.0.conv1.0.0.weight", "layer1.0.conv1.0.1.running_var",
            "layer1.0.conv1.0.3.weight"} <= set(tv.state_dict())
    # the flow net's layers were written with the temporal conv as "2" before: still loads
    old = {re.sub(r"\.3\.(weight|bias)$", r".2.\1", k): v for k, v in flow.state_dict().items()}
    assert "stem.2.weight" in old and "stem.3.weight" not in old
    again = build_model("r2plus1d_flow", num_classes=2, width=0.25, hidden=8, head_grid=(1, 2, 2))
    again.load_state_dict(old, strict=True)
    x = torch.randn(1, 2, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(again.eval()(x), flow.eval()(x))
