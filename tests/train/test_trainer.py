"""The trainer on tiny models: a two-batch run, exact resume, NaN, Ctrl-C, a full disk."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from actionlab import checkpoint, models
from actionlab.errors import ActionlabError, CheckpointError, DatasetError
from actionlab.checkpoint import read_meta
from actionlab.train.trainer import Trainer, TrainingError, TrainingInterrupted

from train_helpers import Noisy, TinyConvBN, TinyNet, image_data, loader, tiny_data

META = {"model": {"name": "tiny", "kwargs": {"num_classes": 3}}, "classes": ["a", "b", "c"],
        "input": {"kind": "frame", "modality": "rgb", "size": [8, 8]}}


def _trainer(cfg, model=None, data=None, run="run", **kw) -> Trainer:
    torch.manual_seed(0)  # the same initial weights in every run of a test
    model = (model or TinyNet)()
    data = data or tiny_data()
    run_dir = Path(cfg.train.out_dir) / run
    return Trainer(model, loader(data, 4, True), loader(data, 4, False), cfg, run_dir,
                   meta=META, **kw)


def test_two_batch_run_writes_everything(tiny_cfg) -> None:
    cfg = tiny_cfg("train.max_steps=2", "train.epochs=1")
    tr = _trainer(cfg)
    before = {k: v.clone() for k, v in tr.raw_model.state_dict().items()}
    summary = tr.fit()
    run = tr.run_dir
    assert summary["epochs"] == 1 and tr.step == 0
    assert any(not torch.equal(before[k], v) for k, v in tr.raw_model.state_dict().items())
    for name in ("best.safetensors", "last.safetensors", "last.state.pt", "metrics.csv",
                 "metrics.jsonl"):
        assert (run / name).is_file(), name
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time"]
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert row["epoch"] == 1 and 0.0 <= row["val_acc"] <= 1.0
    meta = read_meta(run / "best.safetensors")
    assert meta["model"]["name"] == "tiny" and meta["classes"] == ["a", "b", "c"]
    assert meta["input"]["kind"] == "frame" and meta["config"]["optim"]["name"] == "adam"
    assert meta["epoch"] == 1 and "val_acc" in meta["metrics"]
    assert meta["size"]["params"] == 8 * 16 + 16 + 16 * 3 + 3 and meta["size"]["size_mb"] > 0


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "last.safetensors"))


@pytest.mark.parametrize("opt", ["optim.name=sgd", "optim.name=adamw"])
def test_resume_after_ctrl_c_matches_uninterrupted(tiny_cfg, opt: str) -> None:
    """Ctrl-C mid-epoch, then --resume: the same final weights as a run that never stopped."""
    over = (opt, "train.epochs=3", "schedule.name=cyclic", "schedule.step_size=2",
            "train.partial_bn=true")
    data = Noisy(image_data())  # augmentation, dropout and BN all draw on the RNG
    ref = _trainer(tiny_cfg(*over), TinyConvBN, data, run="ref")
    ref.fit()

    calls = {"n": 0}

    def interrupting(out, y):
        calls["n"] += torch.is_grad_enabled()  # count training batches only
        if calls["n"] == 5 and torch.is_grad_enabled():  # epoch 2, second batch
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of a step
        return torch.nn.functional.cross_entropy(out, y)

    cut = _trainer(tiny_cfg(*over), TinyConvBN, data, run="cut", loss_fn=interrupting)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        cut.fit()
    assert read_meta(cut.last_path)["step"] == 2  # the step in flight was finished
    from actionlab.evaluate.runs import run_state

    assert run_state(cut.run_dir).startswith("interrupted at epoch 1 of 3")
    again = _trainer(tiny_cfg(*over), TinyConvBN, data, run="cut")
    again.fit(resume=True)
    assert run_state(again.run_dir) == "complete"
    a, b = _weights(ref.run_dir), _weights(again.run_dir)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = (again.run_dir / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_resume_at_epoch_boundary(tiny_cfg) -> None:
    ref = _trainer(tiny_cfg("train.epochs=3", "optim.name=sgd"), run="ref")
    ref.fit()
    part = _trainer(tiny_cfg("train.epochs=1", "optim.name=sgd"), run="part")
    part.fit()
    rest = _trainer(tiny_cfg("train.epochs=3", "optim.name=sgd"), run="part")
    rest.fit(resume=True)
    a, b = _weights(ref.run_dir), _weights(rest.run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_cfg) -> None:
    calls = {"n": 0}

    def exploding(out, y):
        calls["n"] += torch.is_grad_enabled()  # 6 training batches per epoch
        loss = torch.nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] == 8 else loss  # epoch 2

    tr = _trainer(tiny_cfg("train.epochs=3"), loss_fn=exploding)
    with pytest.raises(TrainingError, match=r"nan.*epoch 2.*last good checkpoint"):
        tr.fit()
    assert read_meta(tr.last_path)["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in _weights(tr.run_dir).values())


def test_full_disk_keeps_previous_checkpoint(tiny_cfg, monkeypatch) -> None:
    tr = _trainer(tiny_cfg("train.epochs=3"))
    real = checkpoint.save_file
    calls = {"n": 0}

    def failing(state, path, metadata=None):
        calls["n"] += 1
        if calls["n"] > 2:  # epoch 1 writes best + last; epoch 2 runs out of space
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(state, path, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", failing)
    with pytest.raises(CheckpointError, match="No space left.*previous"):
        tr.fit()
    meta = read_meta(tr.last_path)
    assert meta["epoch"] == 1
    state = torch.load(tr.run_dir / "last.state.pt", weights_only=True)
    assert state["epoch"] == 1
    assert not [p for p in tr.run_dir.iterdir() if ".tmp-" in p.name]


def test_early_stopping(tiny_cfg) -> None:
    tr = _trainer(tiny_cfg("train.epochs=6", "train.patience=2", "optim.lr=1e-12"))
    summary = tr.fit()
    assert summary["stopped"] == "early" and summary["epochs"] == 3


def test_empty_split_is_a_clear_error(tiny_cfg) -> None:
    empty = torch.utils.data.TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(DatasetError, match="empty"):
        loader(empty)
    cfg = tiny_cfg()
    with pytest.raises(ActionlabError, match="training split is empty"):
        Trainer(TinyNet(), torch.utils.data.DataLoader(empty, batch_size=2), None, cfg,
                Path(cfg.train.out_dir) / "e")


def test_bf16_channels_last_grad_clip(tiny_cfg) -> None:
    cfg = tiny_cfg("train.bf16=true", "train.channels_last=true", "train.grad_clip=0.5",
                   "train.max_steps=2", "train.epochs=1")
    tr = _trainer(cfg, TinyConvBN, image_data())
    tr.fit()
    assert tr.raw_model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(v).all() for v in _weights(tr.run_dir).values())


def test_partial_bn_freezes_all_but_first(tiny_cfg) -> None:
    tr = _trainer(tiny_cfg("train.partial_bn=true", "train.epochs=1"), TinyConvBN, image_data())
    bn2_mean = tr.raw_model.bn2.running_mean.clone()
    bn2_weight = tr.raw_model.bn2.weight.detach().clone()
    tr.fit()
    assert torch.equal(tr.raw_model.bn2.running_mean, bn2_mean)
    assert torch.equal(tr.raw_model.bn2.weight, bn2_weight)  # TSN's reference: affine frozen too
    assert not torch.equal(tr.raw_model.bn1.running_mean, torch.zeros(4))


def test_joint_alternates_datasets(tiny_cfg) -> None:
    from actionlab.models.joint import JointModel

    torch.manual_seed(0)
    backbone = TinyNet()
    model = JointModel(backbone, {"a": 3, "b": 2}, feature_dim=16)
    a, b = tiny_data(12, classes=3), tiny_data(8, classes=2, seed=1)
    seen = []
    model.register_forward_pre_hook(lambda m, args, kw: seen.append(kw["task"]), with_kwargs=True)
    cfg = tiny_cfg("train.epochs=1")
    tr = Trainer(model, {"a": loader(a), "b": loader(b)}, {"a": loader(a, shuffle=False),
                 "b": loader(b, shuffle=False)}, cfg, Path(cfg.train.out_dir) / "j", meta=META)
    tr.fit()
    assert seen[:6] == ["a", "b", "a", "b", "a", "b"]
    row = json.loads((tr.run_dir / "metrics.jsonl").read_text())
    assert {"val_acc_a", "val_acc_b", "val_acc"} <= row.keys()


def test_joint_checkpoint_rebuilds(tmp_path: Path) -> None:
    from actionlab.checkpoint import save_checkpoint
    from actionlab.checkpoint import load
    from actionlab.models.joint import JointModel
    from actionlab.train.joint import feature_dim

    spec = {"name": "resnet18", "kwargs": {"num_classes": 3, "width": 0.125}}
    backbone = models.build_model(spec["name"], **spec["kwargs"])
    dim = feature_dim(backbone, torch.zeros(3, 16, 16))
    model = JointModel(backbone, {"ucf101": 3, "hmdb51": 2}, dim).eval()
    path = save_checkpoint(tmp_path / "j.safetensors", model, {"model": {
        "name": "joint", "kwargs": {"backbone": spec, "heads": {"ucf101": 3, "hmdb51": 2},
                                    "feature_dim": dim}}})
    again = load(path).model  # the one loader rebuilds joint models
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(again(x, task="hmdb51"), model(x, task="hmdb51"))


def test_bad_device_is_clear(tiny_cfg) -> None:
    from actionlab.errors import InputError

    with pytest.raises(InputError, match="train.device"):
        _trainer(tiny_cfg("train.device=gpu0"))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            _trainer(tiny_cfg("train.device=cuda"))
