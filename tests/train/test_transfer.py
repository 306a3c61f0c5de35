"""Transfer: from a run, from a torchvision-layout file, another class set, freezing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from actionlab import models
from actionlab.config import InitConfig
from actionlab.checkpoint import save_checkpoint
from actionlab.errors import CheckpointError, ModelError
from actionlab.models.surgery import apply_freeze
from actionlab.train.transfer import initialize
from train_helpers import TinyNet


def _run_ckpt(tmp_path: Path, classes: list[str]) -> tuple[Path, TinyNet]:
    torch.manual_seed(1)
    src = TinyNet(num_classes=len(classes))
    path = tmp_path / "run" / "best.safetensors"
    save_checkpoint(path, src, {"model": {"name": "tiny", "kwargs": {}}, "classes": classes})
    return path, src


def test_from_run_same_classes(tmp_path: Path) -> None:
    path, src = _run_ckpt(tmp_path, ["a", "b", "c"])
    model = TinyNet()
    initialize(model, InitConfig(path=str(path.parent)), ["a", "b", "c"])  # a run dir works
    assert torch.equal(model.body.weight, src.body.weight)
    assert torch.equal(model.fc.weight, src.fc.weight)


def test_other_class_set_needs_reset_head(tmp_path: Path, caplog) -> None:
    path, src = _run_ckpt(tmp_path, ["a", "b", "c", "d"])
    with pytest.raises(CheckpointError, match="another class set.*reset_head=true"):
        initialize(TinyNet(), InitConfig(path=str(path)), ["a", "b", "c"])
    # same count, different names: still another class set
    path3, _ = _run_ckpt(tmp_path / "3", ["x", "y", "z"])
    with pytest.raises(CheckpointError, match="another class set"):
        initialize(TinyNet(), InitConfig(path=str(path3)), ["a", "b", "c"])
    model = TinyNet()
    with caplog.at_level("INFO"):
        initialize(model, InitConfig(path=str(path), reset_head=True), ["a", "b", "c"])
    assert torch.equal(model.body.weight, src.body.weight)
    assert model.fc.out_features == 3
    assert "re-initialised the classifier" in caplog.text


def test_torchvision_layout_files(tmp_path: Path) -> None:
    torch.manual_seed(2)
    src = TinyNet(num_classes=10)
    pth = tmp_path / "w.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, pth)
    model = TinyNet()
    initialize(model, InitConfig(path=str(pth), reset_head=True), ["a", "b", "c"])
    assert torch.equal(model.body.weight, src.body.weight)
    st = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(st))
    with pytest.raises(CheckpointError, match="reset_head"):
        initialize(TinyNet(), InitConfig(path=str(st)), ["a", "b", "c"])
    bad = tmp_path / "code.pth"
    torch.save({"fn": print}, bad)  # a pickle with code: refused by weights_only
    with pytest.raises(CheckpointError, match="weights-only"):
        initialize(TinyNet(), InitConfig(path=str(bad)), ["a"])
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        initialize(TinyNet(), InitConfig(path=str(tmp_path / "missing.pth")), ["a"])


def test_train_last_layers() -> None:
    model = apply_freeze(TinyNet(), train_last=1)
    assert not model.body.weight.requires_grad and model.fc.weight.requires_grad
    with pytest.raises(ModelError, match=r"train_last=5: .*0\.\.2, the model's parameterised"):
        apply_freeze(model, train_last=5)


def test_streams_from_their_own_runs(tmp_path: Path) -> None:
    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rgb, self.flow = TinyNet(), TinyNet()

    a, src_a = _run_ckpt(tmp_path / "a", ["a", "b", "c"])
    b, src_b = _run_ckpt(tmp_path / "b", ["a", "b", "c"])
    model = Two()
    initialize(model, InitConfig(streams={"rgb": str(a), "flow": str(b)}), ["a", "b", "c"])
    assert torch.equal(model.rgb.body.weight, src_a.body.weight)
    assert torch.equal(model.flow.fc.weight, src_b.fc.weight)
    with pytest.raises(CheckpointError, match="no submodule 'depth'"):
        initialize(model, InitConfig(streams={"depth": str(a)}), ["a", "b", "c"])


def test_imagenet_into_a_tsn_flow_backbone(tmp_path: Path) -> None:
    """torchvision ResNet weights into TSN's backbone, first conv averaged over 10 channels."""
    src = models.build_model("resnet18", num_classes=1000, width=0.125)
    pth = tmp_path / "r18.pth"
    torch.save(src.state_dict(), pth)
    tsn = models.build_model("tsn", num_classes=3, in_channels=10, backbone="resnet18",
                             backbone_kwargs={"width": 0.125})
    with pytest.raises(CheckpointError):
        initialize(tsn, InitConfig(streams={"backbone": str(pth)}, reset_head=True), ["a"] * 3)
    initialize(tsn, InitConfig(streams={"backbone": str(pth)}, reset_head=True,
                               cross_modality=True), ["a", "b", "c"])
    w = tsn.backbone.conv1.weight
    assert w.shape[1] == 10
    torch.testing.assert_close(w[:, 4], src.conv1.weight.mean(dim=1))
    torch.testing.assert_close(tsn.backbone.layer1[0].conv1.weight, src.layer1[0].conv1.weight)


def test_inflate_2d_into_i3d(tmp_path: Path) -> None:
    src = models.build_model("resnet18", num_classes=1000, width=0.125)
    pth = tmp_path / "r18.pth"
    torch.save(src.state_dict(), pth)
    i3d = models.build_model("i3d", depth=18, num_classes=3, width=0.125)
    initialize(i3d, InitConfig(path=str(pth), format="inflate", reset_head=True), ["a", "b", "c"])
    w2, w3 = src.layer1[0].conv1.weight, i3d.state_dict()["layer1.0.conv1.weight"]
    if w3.dim() == 5 and w3.shape[2] > 1:  # mean inflation: the sum over time is the 2D kernel
        torch.testing.assert_close(w3.sum(dim=2), w2)
