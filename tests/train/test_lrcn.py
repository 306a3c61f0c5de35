"""The LRCN path: features to HDF5, ping-pong padding, windows, end-weighted loss, training."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from actionlab import models
from actionlab.data.sampling import spread_starts
from actionlab.train.lrcn import (
    SequenceDataset,
    SequenceLoss,
    extract_features,
    pingpong_indices,
    sequence_scores,
    step_weights,
)
from train_helpers import config


class FrameNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(-2, -1))  # (B, 4)
        return x if pre_logits else self.fc(x)


def _features(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    lengths = {"train": [3, 9, 12, 5, 7, 10], "val": [4, 11, 6]}
    videos = [(split, f"{split}{i}", torch.randn(n, 3, 8, 8, generator=g) + i % 3, i % 3)
              for split, ns in lengths.items() for i, n in enumerate(ns)]
    return extract_features(FrameNet(), videos, tmp_path / "f.h5", ["a", "b", "c"], batch_size=4)


def test_extract_layout_and_train_statistics(tmp_path: Path) -> None:
    path = _features(tmp_path)
    with h5py.File(path) as f:
        assert f["videos/train/train1"].shape == (9, 4)
        assert f["labels/val"][()].tolist() == [0, 1, 2]
        feats = np.concatenate([f[f"videos/train/{k.decode()}"][()] for k in f["keys/train"]])
        np.testing.assert_allclose(f["mean"][()], feats.mean(0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(f["std"][()], feats.std(0), rtol=1e-3, atol=1e-5)


def test_pingpong_and_windows() -> None:
    assert pingpong_indices(3, 7).tolist() == [0, 1, 2, 1, 0, 1, 2]
    assert pingpong_indices(1, 3).tolist() == [0, 0, 0]
    assert pingpong_indices(5, 4).tolist() == [0, 1, 2, 3]
    assert spread_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert spread_starts(3, 4, 2).tolist() == [0, 0]


def test_sequence_dataset_shapes(tmp_path: Path) -> None:
    path = _features(tmp_path)
    train = SequenceDataset(path, "train", 6, train=True)
    assert [tuple(train[i][0].shape) for i in range(len(train))] == [(6, 4)] * 6
    full = SequenceDataset(path, "val", 6)
    assert full[1][0].shape == (11, 4)
    wins = SequenceDataset(path, "val", 6, windows=3)
    assert wins[1][0].shape == (3, 6, 4) and wins[0][0].shape == (3, 6, 4)
    full_train = SequenceDataset(path, "train", 12)
    x = torch.cat([full_train[i][0] for i in range(len(full_train))])  # every train frame
    torch.testing.assert_close(x.mean(0), torch.zeros(4), atol=1e-4, rtol=0)  # train mean/std
    torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)


def test_end_weighted_loss_and_scores() -> None:
    assert step_weights(4, "linear").tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert step_weights(3, "last").tolist() == [0.0, 0.0, 1.0]
    logits = torch.zeros(2, 3, 4)
    logits[:, -1, 1] = 10.0  # only the last step is confident
    y = torch.tensor([1, 1])
    assert SequenceLoss("last")(logits, y) < SequenceLoss("uniform")(logits, y)
    assert sequence_scores(logits).argmax(-1).tolist() == [1, 1]
    assert sequence_scores(logits.unsqueeze(1).expand(2, 3, 3, 4)).shape == (2, 4)


@pytest.mark.parametrize("windows", [0, 2])
def test_train_lrcn_two_epochs(tmp_path: Path, windows: int) -> None:
    from actionlab.train.run import train

    path = _features(tmp_path)
    cfg = config(tmp_path, "data.kind=sequence", f"sequence.features={path}",
                 "sequence.length=5", f"sequence.eval_windows={windows}",
                 "model.name=lstm_features", "model.kwargs={hidden: 8, dropout: 0.1}")
    run = train(cfg)
    meta_rows = (run / "metrics.csv").read_text().splitlines()
    assert len(meta_rows) == 3
    from actionlab.checkpoint import read_meta

    meta = read_meta(run / "last.safetensors")
    assert meta["input"]["kind"] == "sequence" and meta["model"]["kwargs"]["in_features"] == 4


def test_extract_features_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from actionlab.cli import app
    from actionlab.checkpoint import save_checkpoint
    from train_helpers import fake_cache

    cache = fake_cache(tmp_path / "cache")
    kwargs = {"num_classes": 3, "width": 0.125}
    model = models.build_model("resnet18", **kwargs)
    ckpt = save_checkpoint(tmp_path / "run" / "best.safetensors", model,
                           {"model": {"name": "resnet18", "kwargs": kwargs},
                            "classes": ["jump", "run", "wave"], "input": {"size": [16, 16]}})
    out = tmp_path / "f.h5"
    res = CliRunner().invoke(app, ["extract-features", str(ckpt.parent), str(cache), str(out)])
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert sorted(f["labels"]) == ["test", "train", "val"]
        assert f["videos/train/jump__jump_0"].shape == (12, model.num_features)
        assert f["mean"].shape == (model.num_features,)


def test_sequence_checkpoint_predicts_alone(tmp_path: Path) -> None:
    from actionlab.checkpoint import load
    from actionlab.train.lrcn import predict_sequence
    from actionlab.train.run import train

    path = _features(tmp_path)
    cfg = config(tmp_path, "data.kind=sequence", f"sequence.features={path}",
                 "sequence.length=5", "model.kwargs={hidden: 8}", "train.epochs=1")
    model = load(train(cfg)).model  # the one loader rebuilds lstm_features
    x = SequenceDataset(path, "val", 5)[1][0]  # (11, 4)
    full = predict_sequence(model, x)
    wins = predict_sequence(model, x, length=5, windows=3)
    assert full.shape == wins.shape == (3,)
    assert float(full.sum()) == pytest.approx(1.0) and float(wins.sum()) == pytest.approx(1.0)
