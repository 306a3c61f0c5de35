"""One loader for every checkpoint kind, and one clear line for every malformed one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from actionlab.checkpoint import check_classes, load, read_meta, save_checkpoint
from actionlab.errors import CheckpointError, DatasetError
from actionlab.models import build_model

SMALL_2D = {"name": "resnetlike", "width": 0.25, "input_size": 32}
SMALL_FLOW = {"name": "r2plus1d_flow", "width": 0.25, "input_shape": [4, 32, 32]}
# name, kwargs, input spec, one batch of inputs
KINDS = {
    "2d": ("resnet18", {"num_classes": 3, "width": 0.125}, {"kind": "frame", "size": [32, 32]},
           [(2, 3, 32, 32)]),
    "3d": ("r2plus1d_flow", {"num_classes": 3, "in_channels": 2, "width": 0.25,
                             "input_shape": [4, 32, 32]},
           {"kind": "clip", "modality": "flow", "frames": 4, "size": [32, 32]},
           [(2, 2, 4, 32, 32)]),
    "tsn": ("tsn", {"num_classes": 3, "backbone": "resnet18", "backbone_kwargs": {"width": 0.125},
                    "num_segments": 2}, {"kind": "tsn", "segments": 2, "size": [32, 32]},
            [(2, 2, 3, 32, 32)]),
    "lrcn": ("lrcn", {"num_classes": 3, "backbone": "resnet18",
                      "backbone_kwargs": {"width": 0.125}, "hidden_size": 8, "num_frames": 3},
             {"kind": "tsn", "segments": 3, "size": [32, 32]}, [(2, 3, 3, 32, 32)]),
    "two_stream": ("two_stream", {"num_classes": 3, "rgb": SMALL_2D, "flow": SMALL_FLOW,
                                  "fusion": "concat", "hidden": 8},
                   {"kind": "two_stream", "modality": "rgb+flow", "frames": 4, "size": [32, 32]},
                   [(2, 3, 32, 32), (2, 2, 4, 32, 32)]),
    "lstm_features": ("lstm_features", {"in_features": 6, "num_classes": 3, "hidden": 8},
                      {"kind": "sequence", "modality": "features", "frames": 5}, [(2, 5, 6)]),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_rebuilds_from_the_file_alone(kind: str, tmp_path: Path) -> None:
    name, kwargs, spec, shapes = KINDS[kind]
    torch.manual_seed(0)
    model = build_model(name, **kwargs).eval()
    run = tmp_path / "run"
    save_checkpoint(run / "best.safetensors", model,
                    {"model": {"name": name, "kwargs": kwargs}, "classes": ["a", "b", "c"],
                     "input": spec})
    loaded = load(run)  # a run folder means its best checkpoint
    assert loaded.path == run / "best.safetensors" and loaded.classes == ["a", "b", "c"]
    assert (loaded.spec is None) == (kind == "lstm_features")
    xs = [torch.randn(*s) for s in shapes]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(*xs), model(*xs))


def test_joint_checkpoint_rebuilds(tmp_path: Path) -> None:
    from actionlab.train.joint import feature_dim

    backbone = {"name": "resnet18", "kwargs": {"num_classes": 3, "width": 0.125}}
    dim = feature_dim(build_model(backbone["name"], **backbone["kwargs"]), torch.zeros(3, 16, 16))
    kwargs = {"backbone": backbone, "heads": {"ucf101": 3, "hmdb51": 2}, "feature_dim": dim}
    model = build_model("joint", **kwargs).eval()
    path = save_checkpoint(tmp_path / "j.safetensors", model, {
        "model": {"name": "joint", "kwargs": kwargs},
        "classes": {"ucf101": ["a", "b", "c"], "hmdb51": ["x", "y"]},
        "input": {"kind": "frame", "size": [16, 16]}})
    loaded = load(path)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(loaded.model(x, task="hmdb51"), model(x, task="hmdb51"))
    assert loaded.classes["hmdb51"] == ["x", "y"]


def _raw(path: Path, meta: object, state: dict | None = None) -> Path:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    save_file(state or {"w": torch.zeros(1)}, str(path), metadata={"actionlab": text})
    return path


def _good(tmp_path: Path, **change: object) -> Path:
    model = build_model("resnet18", num_classes=3, width=0.125)
    meta = {"model": {"name": "resnet18", "kwargs": {"num_classes": 3, "width": 0.125}},
            "classes": ["a", "b", "c"], "input": {"kind": "frame", "size": [32, 32]}, **change}
    return save_checkpoint(tmp_path / "c.safetensors", model, meta)


@pytest.mark.parametrize(("meta", "message"), [
    ("{not json", "not valid JSON"),
    ([1, 2], "must be a JSON object"),
    ({"format_version": 1}, "no model"),
    ({"format_version": 1, "model": "resnet18"}, "no model"),
    ({"format_version": 7, "model": {"name": "x"}}, "format 7"),
])
def test_malformed_meta_is_one_line(tmp_path: Path, meta: object, message: str) -> None:
    with pytest.raises(CheckpointError, match=message) as exc:
        load(_raw(tmp_path / "bad.safetensors", meta))
    assert "\n" not in str(exc.value) and "bad.safetensors" in str(exc.value)


def test_meta_checked_against_the_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="5 classes but the model's head has 3"):
        load(_good(tmp_path, classes=["a", "b", "c", "d", "e"]))
    with pytest.raises(CheckpointError, match="does not take"):
        load(_good(tmp_path, model={"name": "resnet18",
                                    "kwargs": {"num_classes": 3, "wings": 2}}))
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load(_good(tmp_path, model={"name": "resnet34",
                                    "kwargs": {"num_classes": 3, "width": 0.125}}))
    with pytest.raises(CheckpointError, match="size"):
        load(_good(tmp_path, input={"kind": "frame", "size": [0, 0]}))
    with pytest.raises(CheckpointError, match=r"c\.safetensors: input spec: size") as exc:
        load(_good(tmp_path, input={"kind": "frame", "size": [100000, 100000]}))
    assert "\n" not in str(exc.value)
    with pytest.raises(CheckpointError, match="unknown model"):
        load(_good(tmp_path, model={"name": "hologram", "kwargs": {}}))


def test_paths(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_meta(tmp_path / "missing.safetensors")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="without best.safetensors or last"):
        load(tmp_path / "empty_run")


def test_classes_must_match_the_data() -> None:
    check_classes(["a", "b"], ["a", "b"], "cache")
    with pytest.raises(DatasetError, match="class 1 is 'c', the checkpoint's 'b'"):
        check_classes(["a", "b"], ["a", "c"], "cache")
    with pytest.raises(DatasetError, match="3 vs 2"):
        check_classes(["a", "b"], ["a", "b", "x"], "cache")
