"""Two gloo processes train to the same weights as one process with the same global batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from actionlab.train import distributed as D
from actionlab.train.trainer import Trainer
from train_helpers import TinyNet, config, loader, tiny_data

OVERRIDES = ("optim.name=sgd", "optim.lr=0.1", "optim.momentum=0.9", "train.epochs=2",
             "data.batch_size=8", "schedule.name=step", "schedule.step_epochs=1")


def _run(tmp: Path, run: str) -> None:
    cfg = config(tmp, *OVERRIDES)
    torch.manual_seed(0)
    model = TinyNet()
    data = tiny_data(24)
    val = tiny_data(23, seed=1)  # odd: evaluation shards of unequal size
    Trainer(model, loader(data, 8, True), loader(val, 8, False), cfg, tmp / run,
            meta={"model": {"name": "tiny", "kwargs": {}}}).fit()


def _worker(rank: int, tmp: str) -> None:
    torch.set_num_threads(1)
    D.setup(rank, 2, f"file://{tmp}/rendezvous")
    try:
        _run(Path(tmp), "ddp")
    finally:
        D.cleanup()


@pytest.mark.heavy
def test_two_processes_match_one(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=2, join=True)
    _run(tmp_path, "single")
    ddp = load_file(str(tmp_path / "ddp" / "last.safetensors"))
    single = load_file(str(tmp_path / "single" / "last.safetensors"))
    assert ddp.keys() == single.keys()
    for k in ddp:
        torch.testing.assert_close(ddp[k], single[k], rtol=1e-5, atol=1e-6)
    # only rank 0 wrote: one metrics file with one row per epoch; evaluation saw every
    # sample once, as one process does (no padding), so the validation loss agrees
    rows = (tmp_path / "ddp" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    one = (tmp_path / "single" / "metrics.csv").read_text().splitlines()
    val_loss = rows[0].split(",").index("val_loss")
    for a, b in zip(rows[1:], one[1:]):
        assert abs(float(a.split(",")[val_loss]) - float(b.split(",")[val_loss])) < 1e-5
