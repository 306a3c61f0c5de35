"""torchvision-compatible models match torchvision's state-dict manifests exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from actionlab.models import build_model, list_models


# tests/conftest.py: WEIGHT_MANIFESTS (../shared next to the repository)
WEIGHT_MANIFESTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "weights-manifests"

NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg16", "vgg16_bn",
         "r3d_18", "mc3_18", "r2plus1d_18"]


def _manifest(name: str) -> dict:
    path = WEIGHT_MANIFESTS / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_matches_torchvision(name: str) -> None:
    if name not in list_models():
        pytest.skip(f"{name} not registered")
    man = _manifest(name)
    with torch.device("meta"):
        model = build_model(name, num_classes=man["num_classes"], in_channels=3)
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
    theirs = [(k, list(s), d) for k, s, d in man["tensors"]]
    assert ours == theirs


def test_torchvision_style_state_dict_loads_strictly() -> None:
    """A state dict built from the manifest (random values) loads with strict=True."""
    man = _manifest("resnet18")
    state = {k: (torch.zeros(s, dtype=torch.int64) if d == "int64" else torch.randn(s))
             for k, s, d in man["tensors"]}
    model = build_model("resnet18", num_classes=1000)
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
