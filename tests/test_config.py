"""Experiment configs: strict loading, typed overrides, round trip, every file in configs/."""

from __future__ import annotations

from pathlib import Path

import pytest

from actionlab.config import (
    ExperimentConfig,
    dump_config,
    from_dict,
    load_config,
    parse_override,
    save_config,
)
from actionlab.errors import InputError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_validate() -> None:
    cfg = from_dict({})
    assert cfg == ExperimentConfig()


def test_round_trip(tmp_path: Path) -> None:
    cfg = load_config(None, ["name=x", "optim.lr=1e-5", "optim.head_lr=0.01",
                             "model.kwargs={dropout: 0.5}", "data.size=[72,72]",
                             "schedule.name=cyclic", "schedule.mode=triangular2",
                             "joint.second={dataset: hmdb51}"])
    path = save_config(cfg, tmp_path / "config.yaml")
    again = load_config(path)
    assert again == cfg
    assert again.optim.lr == 1e-5 and again.data.size == [72, 72]
    assert again.model.kwargs == {"dropout": 0.5}
    assert dump_config(again) == dump_config(cfg)


def test_overrides_are_yaml_typed() -> None:
    assert parse_override("train.bf16=true") == (["train", "bf16"], True)
    assert parse_override("optim.lr=1e-4") == (["optim", "lr"], 1e-4)
    cfg = load_config(None, ["train.epochs=3", "optim.lr=1", "data.split=2"])
    assert cfg.train.epochs == 3 and isinstance(cfg.optim.lr, float) and cfg.data.split == "2"


@pytest.mark.parametrize(
    "override, needle",
    [
        ("optim.lrr=0.1", "did you mean 'optim.lr'"),
        ("data.bach_size=4", "data.batch_size"),
        ("model.init.pth=x", "valid keys in model.init: path"),
        ("traine.epochs=2", "valid keys at the top level"),
    ],
)
def test_unknown_keys_list_valid_ones(override: str, needle: str) -> None:
    with pytest.raises(InputError, match="unknown key") as err:
        load_config(None, [override])
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "override",
    ["train.epochs=2.5", "train.bf16=yes please", "data.size=72", "optim.lr=fast",
     "optim.name=rmsprop", "schedule.mode=sine", "data.batch_size=0", "model.kwargs=3",
     "joint.second={bach_size: 2}"],
)
def test_wrong_values_are_errors(override: str) -> None:
    overrides = [override] + (["joint.enabled=true"] if override.startswith("joint") else [])
    with pytest.raises(InputError):
        load_config(None, overrides)


def test_yaml_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 0.1\n  momentun: 0.9\n")
    with pytest.raises(InputError, match=r"bad.yaml.*optim.momentun.*did you mean 'optim.momentum'"):
        load_config(bad)
    with pytest.raises(InputError, match="no such config"):
        load_config(tmp_path / "missing.yaml")


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    p = tmp_path / "tsn_r50_3seg_sgd50e_slip-rgb.yaml"
    p.write_text("train: {epochs: 2}\n")
    assert load_config(p).name == "tsn_r50_3seg_sgd50e_slip-rgb"


def test_every_config_in_configs_loads() -> None:
    files = sorted(CONFIGS.glob("*.yaml"))
    assert files, "configs/ holds no YAML"
    names = set()
    for path in files:
        cfg = load_config(path)
        assert cfg.name == path.stem
        names.add(path.stem)
    for stem in names:  # every real-data config has a runnable synthetic twin
        if not stem.endswith("-synth"):
            assert f"{stem}-synth" in names, f"{stem} has no -synth twin"


def test_every_config_names_a_registered_model() -> None:
    models = pytest.importorskip("actionlab.models")
    registered = set(models.list_models())
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load_config(path)
        if cfg.data.kind == "sequence":  # the LRCN path's LSTM on features (actionlab.train.lrcn)
            continue
        assert cfg.model.name in registered, f"{path.name}: unknown model {cfg.model.name!r}"
