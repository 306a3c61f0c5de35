"""A two-batch run of every recognizer family of the registry, on tiny inputs, and the
checkpoint it writes rebuilt by ``load_model`` from the file alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from actionlab import models
from actionlab.checkpoint import load
from actionlab.train.trainer import Trainer
from train_helpers import config

SMALL_2D = {"name": "resnetlike", "width": 0.25, "input_size": 32}
SMALL_FLOW = {"name": "r2plus1d_flow", "width": 0.25, "input_shape": [4, 32, 32]}
CASES = {  # name: (kwargs, one sample's input shape(s))
    "resnetlike": ({"width": 0.25, "input_size": 32}, [(3, 32, 32)]),
    "r2plus1d_flow": ({"in_channels": 2, "width": 0.25, "input_shape": [4, 32, 32]},
                      [(2, 4, 32, 32)]),
    "resnet18": ({"width": 0.125}, [(3, 32, 32)]),
    "tsn": ({"backbone": "resnet18", "backbone_kwargs": {"width": 0.125}, "num_segments": 2},
            [(2, 3, 32, 32)]),
    "lrcn": ({"backbone": "resnet18", "backbone_kwargs": {"width": 0.125}, "hidden_size": 8,
              "num_frames": 3}, [(3, 3, 32, 32)]),
    "two_stream": ({"rgb": SMALL_2D, "flow": SMALL_FLOW, "fusion": "concat", "hidden": 8},
                   [(3, 32, 32), (2, 4, 32, 32)]),
}


class RandomInputs(Dataset):
    def __init__(self, shapes: list[tuple[int, ...]], n: int = 4) -> None:
        g = torch.Generator().manual_seed(0)
        self.xs = [torch.randn(n, *s, generator=g) for s in shapes]
        self.y = torch.arange(n) % 3

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        x = tuple(t[i] for t in self.xs)
        return (x if len(x) > 1 else x[0]), self.y[i]


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_batch_run(tmp_path: Path, name: str) -> None:
    kwargs, shapes = CASES[name]
    kwargs = {"num_classes": 3, **kwargs}
    torch.manual_seed(0)
    model = models.build_model(name, **kwargs)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ds = RandomInputs(shapes)
    cfg = config(tmp_path, "train.epochs=1", "train.max_steps=2", "data.batch_size=2",
                 "optim.lr=1e-2")
    run = tmp_path / name
    meta = {"model": {"name": name, "kwargs": kwargs}, "classes": ["a", "b", "c"],
            "input": {"kind": "frame"}}
    Trainer(model, DataLoader(ds, batch_size=2), DataLoader(ds, batch_size=2), cfg, run,
            meta=meta).fit()
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "nothing learned"
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    rebuilt = load(run).model  # the run folder: its best (here: last) checkpoint
    model.eval()
    x = ds[0][0]
    xs = tuple(t.unsqueeze(0) for t in (x if isinstance(x, tuple) else (x,)))
    torch.testing.assert_close(rebuilt(*xs), model(*xs))
