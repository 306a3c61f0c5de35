"""``train(config)`` end to end: data factory, model registry, run dir, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from actionlab.errors import CheckpointError, DatasetError
from actionlab.checkpoint import read_meta
from train_helpers import PoolNet, config, fake_cache


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return fake_cache(tmp_path_factory.mktemp("cache"))


def test_train_from_config(tmp_path: Path, cache: Path, registry) -> None:
    from actionlab.config import load_config
    from actionlab.train.run import train

    cfg = config(tmp_path, f"data.cache_dir={cache}", "data.size=[16,16]", "train.epochs=2")
    run = train(cfg)
    assert run == tmp_path / "tiny"
    assert load_config(run / "config.yaml") == cfg
    meta = read_meta(run / "best.safetensors")
    assert meta["classes"] == ["jump", "run", "wave"]
    assert meta["input"]["kind"] == "frame" and meta["input"]["size"] == [16, 16]
    assert meta["model"]["kwargs"]["num_classes"] == 3
    torch.rand(7)  # whatever ran before in the process must not change the run
    again = train(cfg)  # a second run gets its own directory
    assert again.name == "tiny-2"
    a, b = _weights(run / "best.safetensors"), _weights(again / "best.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.mark.parametrize("kind", ["clip", "tsn", "two_stream"])
def test_other_kinds_run(tmp_path: Path, cache: Path, registry, kind: str, monkeypatch) -> None:
    from actionlab.train.run import train

    over = [f"data.cache_dir={cache}", "data.size=[16,16]", "train.epochs=1",
            f"data.kind={kind}", "data.frames=4", "data.segments=2"]
    if kind == "two_stream":
        import actionlab.train.run as run

        class Fuse(PoolNet):
            def forward(self, rgb, flow):  # two inputs, as two-stream models take them
                return self.fc(torch.relu(self.stem(rgb.mean(dim=(-2, -1)))) )

        monkeypatch.setattr(run, "build_model_from_config",
                            lambda cfg, n: (Fuse(n), {"name": "fuse", "kwargs": {}}))
    run_dir = train(config(tmp_path, *over))
    assert (run_dir / "last.safetensors").is_file()


def test_missing_cache_and_class_mismatch(tmp_path: Path, cache: Path, registry) -> None:
    from actionlab.train.run import train

    with pytest.raises(DatasetError, match="cache_dir is not set"):
        train(config(tmp_path))
    with pytest.raises(DatasetError, match="no prepared cache.*data.cache_dir="):
        train(config(tmp_path, "data.cache_dir=/path/to/hmdb51"))
    other = fake_cache(tmp_path / "other", classes=("a", "b"))
    first = train(config(tmp_path, f"data.cache_dir={other}", "train.epochs=1",
                         "train.run_name=src"))
    with pytest.raises(CheckpointError, match="another class set.*reset_head"):
        train(config(tmp_path, f"data.cache_dir={cache}", f"model.init.path={first}"))
    run = train(config(tmp_path, f"data.cache_dir={cache}", f"model.init.path={first}",
                       "model.init.reset_head=true", "model.freeze.train_last=1",
                       "optim.lr=1e-5", "train.epochs=1"))
    assert read_meta(run / "last.safetensors")["classes"] == ["jump", "run", "wave"]


def test_empty_split_is_clear(tmp_path: Path, registry) -> None:
    from actionlab.train.run import train

    no_train = fake_cache(tmp_path / "c", splits=("val", "test"))
    with pytest.raises(DatasetError, match="no records in split 'train'"):
        train(config(tmp_path, f"data.cache_dir={no_train}"))


def test_joint_from_config(tmp_path: Path, cache: Path, registry) -> None:
    from actionlab.train.run import train

    other = fake_cache(tmp_path / "other", classes=("a", "b"), seed=1)
    run = train(config(tmp_path, f"data.cache_dir={cache}", "data.dataset=ucf101",
                       "joint.enabled=true", "train.epochs=1",
                       f"joint.second={{dataset: hmdb51, cache_dir: {other}}}"))
    meta = read_meta(run / "last.safetensors")
    assert meta["classes"] == {"ucf101": ["jump", "run", "wave"], "hmdb51": ["a", "b"]}
    assert {"val_acc_ucf101", "val_acc_hmdb51"} <= set(meta["metrics"])
