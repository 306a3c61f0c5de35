"""Experiment configs: strict loading, typed overrides, round trip, inheritance, range checks,
and every shipped config (found as package data)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from actionlab import models
from actionlab.config import (
    CONFIGS,
    ExperimentConfig,
    dump_config,
    from_dict,
    load_config,
    parse_override,
    save_config,
)
from actionlab.errors import InputError


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


def test_every_shipped_config_loads_and_validates() -> None:
    files = sorted(CONFIGS.glob("*.yaml"))
    assert len(files) >= 30, "the package ships the study's configs"
    names = set()
    for path in files:
        cfg = load_config(path)
        assert cfg.name == path.stem
        names.add(path.stem)
    real = {n for n in names if not n.endswith("-synth")}
    bases = {}
    for stem in names - real:  # each -synth config states only what differs from its twin
        base = yaml.safe_load((CONFIGS / f"{stem}.yaml").read_text())["base"]
        assert base.removesuffix(".yaml") in real, f"{stem}: base {base} is not a real config"
        bases[stem] = base.removesuffix(".yaml")
    assert set(bases.values()) == real, "every real-data config has a runnable synthetic twin"


def test_shipped_configs_are_package_data() -> None:
    shipped = resources.files("actionlab").joinpath("configs")
    assert Path(str(shipped)) == CONFIGS
    assert shipped.joinpath("resnetlike_frame_adam50e_stanford40-rgb.yaml").is_file()
    # the top-level configs/ of a checkout is the same folder (README paths keep working)
    top = Path(__file__).resolve().parents[1] / "configs"
    assert top.resolve() == CONFIGS.resolve()


@pytest.mark.parametrize("name", ["resnetlike_frame_adam50e_stanford40-rgb",
                                  "resnetlike_frame_adam50e_stanford40-rgb.yaml"])
def test_bare_name_loads_the_shipped_config(name: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not found relative to the working folder
    cfg = load_config(name, ["train.epochs=3"])
    assert cfg.name == "resnetlike_frame_adam50e_stanford40-rgb"
    assert cfg.data.dataset == "stanford40" and cfg.data.size == [72, 72]
    assert cfg.train.epochs == 3


def test_unknown_bare_name_suggests_close_ones() -> None:
    with pytest.raises(InputError, match="close names: resnetlike_frame_adam50e_stanford40-rgb"):
        load_config("resnetlike_frame_adam50_stanford40-rgb")


def test_every_config_names_a_registered_model() -> None:
    registered = set(models.list_models())
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load_config(path)
        if cfg.data.kind == "sequence":  # the LRCN path's LSTM on features (actionlab.train.lrcn)
            continue
        assert cfg.model.name in registered, f"{path.name}: unknown model {cfg.model.name!r}"


# --------------------------------------------------------------------------- inheritance


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_chain_deep_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    _write(tmp_path / "real.yaml", (
        "data: {dataset: ucf101, size: [112, 112], frames: 16, params: {sample: random}}\n"
        "model: {name: tsn, kwargs: {backbone: resnet50, num_segments: 3, drop_rate: 0.8}}\n"
        "optim: {name: sgd, lr: 0.001, betas: [0.8, 0.9]}\n"
        "train: {epochs: 50, log: [csv, jsonl]}\n"))
    _write(tmp_path / "twins" / "mid.yaml", (
        "base: ../real.yaml\n"
        "data: {size: [32, 32], params: {transform_kw: {crop: resize}}}\n"
        "model: {kwargs: {backbone: resnet18}}\n"))
    leaf = _write(tmp_path / "twins" / "leaf.yaml", (
        "base: mid.yaml\n"  # relative to this file, not to the working folder
        "optim: {betas: [0.5, 0.6]}\n"
        "train: {epochs: 2, log: [csv]}\n"))
    cfg = load_config(leaf)
    assert cfg.name == "leaf"
    assert cfg.data.dataset == "ucf101" and cfg.data.frames == 16  # from the first file
    assert cfg.data.size == [32, 32]  # a list replaces
    assert cfg.data.params == {"sample": "random", "transform_kw": {"crop": "resize"}}
    assert cfg.model.kwargs == {"backbone": "resnet18", "num_segments": 3, "drop_rate": 0.8}
    assert cfg.optim.name == "sgd" and cfg.optim.betas == [0.5, 0.6]
    assert cfg.train.epochs == 2 and cfg.train.log == ["csv"]


def test_replace_marker_drops_the_base_mapping(tmp_path: Path) -> None:
    _write(tmp_path / "real.yaml", (
        "model:\n  kwargs: {backbone: resnet50, drop_rate: 0.8}\n"
        "  init: {format: torchvision, streams: {backbone: /w.pth}, reset_head: true}\n"))
    twin = _write(tmp_path / "twin.yaml", (
        "base: real.yaml\nmodel:\n  kwargs: {_replace_: true, backbone: resnet18}\n"
        "  init: {_replace_: true}\n"))
    cfg = load_config(twin)
    assert cfg.model.kwargs == {"backbone": "resnet18"}
    assert cfg.model.init == ExperimentConfig().model.init


def test_saved_config_is_flat_and_loads_back_equal(tmp_path: Path) -> None:
    _write(tmp_path / "real.yaml", "optim: {lr: 0.01}\ntrain: {epochs: 9}\n")
    twin = _write(tmp_path / "twin.yaml", "base: real.yaml\ntrain: {epochs: 2}\n")
    cfg = load_config(twin)
    saved = save_config(cfg, tmp_path / "run" / "config.yaml")
    doc = yaml.safe_load(saved.read_text())
    assert "base" not in doc and doc["optim"]["lr"] == 0.01 and doc["train"]["epochs"] == 2
    assert doc["name"] == "twin"
    (tmp_path / "real.yaml").unlink()  # the run's copy no longer needs its base
    assert load_config(saved) == cfg


def test_base_cycle_is_one_error_naming_the_files(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "base: b.yaml\n")
    _write(tmp_path / "b.yaml", "base: c.yaml\n")
    _write(tmp_path / "c.yaml", "base: a.yaml\n")
    with pytest.raises(InputError, match="cycle") as err:
        load_config(tmp_path / "a.yaml")
    assert all(f"{n}.yaml" in str(err.value) for n in "abc")
    _write(tmp_path / "self.yaml", "base: self.yaml\n")
    with pytest.raises(InputError, match="cycle"):
        load_config(tmp_path / "self.yaml")


def test_missing_or_malformed_base_names_the_file(tmp_path: Path) -> None:
    twin = _write(tmp_path / "twin.yaml", "base: nowhere.yaml\n")
    with pytest.raises(InputError, match=r"twin.yaml: base 'nowhere.yaml' not found"):
        load_config(twin)
    _write(twin, "base: [a, b]\n")
    with pytest.raises(InputError, match=r"twin.yaml: base must be a file name"):
        load_config(twin)
    _write(twin, "base: bad.yaml\n")
    _write(tmp_path / "bad.yaml", "optim: {lr: 0.1, momentun: 0.9}\n")
    with pytest.raises(InputError, match="did you mean 'optim.momentum'"):
        load_config(twin)


def test_user_config_may_base_on_a_shipped_one(tmp_path: Path) -> None:
    mine = _write(tmp_path / "mine.yaml", (
        "base: resnetlike_frame_adam50e_stanford40-rgb.yaml\ndata: {root: /data/s40}\n"))
    cfg = load_config(mine)
    assert cfg.data.root == "/data/s40" and cfg.data.size == [72, 72] and cfg.name == "mine"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("override, key", [
    ("optim.lr=nan", "optim.lr"), ("optim.lr=.nan", "optim.lr"), ("optim.lr=-.inf", "optim.lr"),
    ("data.flow_bound=.inf", "data.flow_bound"), ("train.grad_clip=.nan", "train.grad_clip"),
    ("model.kwargs.drop_rate=.nan", "model.kwargs.drop_rate"),
    ("data.params.transform_kw.rotation=.inf", "data.params.transform_kw.rotation"),
])
def test_non_finite_numbers_are_refused(override: str, key: str) -> None:
    with pytest.raises(InputError, match=rf"{key} must be a finite number"):
        load_config(None, [override])


@pytest.mark.parametrize("override, message", [
    ("data.size=[0,0]", "data.size[0] must be > 0, got 0"),
    ("data.size=[72,-1]", "data.size[1] must be > 0, got -1"),
    ("data.workers=-1", "data.workers must be >= 0, got -1"),
    ("train.seed=-5", "train.seed must be >= 0, got -5"),
    ("optim.lr=0", "optim.lr must be > 0"),
    ("optim.weight_decay=-1e-4", "optim.weight_decay must be >= 0"),
    ("data.flow_bound=0", "data.flow_bound must be > 0"),
    ("optim.betas=[0.9,1.5]", "optim.betas must be two numbers in [0, 1)"),
    ("model.freeze.train_last=-2", "model.freeze.train_last must be >= 0"),
])
def test_out_of_range_values_name_file_and_key(tmp_path: Path, override: str,
                                               message: str) -> None:
    path = _write(tmp_path / "exp.yaml", "train: {epochs: 2}\n")
    with pytest.raises(InputError) as err:
        load_config(path, [override])
    assert str(err.value).startswith(f"{path} (with overrides): {message}")
    key, _, value = override.partition("=")
    section, _, leaf = key.partition(".")
    _write(path, f"{section}:\n  {leaf.replace('.', ': {')}: {value}{'}' * leaf.count('.')}\n")
    with pytest.raises(InputError, match=rf"^{path}: "):  # the same from the file itself
        load_config(path)


def test_binary_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "weights.yaml"
    path.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(InputError, match=rf"^{path}: not a UTF-8 text file"):
        load_config(path)
    path.write_bytes(b"optim: {lr: 0.1}\n\x00\x01\x02")  # UTF-8, but not YAML
    with pytest.raises(InputError, match=rf"^{path}: not valid YAML"):
        load_config(path)
