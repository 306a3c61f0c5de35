"""Experiment configs: typed dataclasses, loaded from YAML, overridable as ``a.b=c``.

One :class:`ExperimentConfig` describes a whole training run, in sections that follow the data's
journey: ``data`` (where the videos are and how a sample is cut), ``model`` (which recognizer, how
it is initialised and what is frozen), ``optim`` and ``schedule`` (how it learns), ``train`` (the
loop), plus ``sequence`` (the LRCN path on cached features) and ``joint`` (a second dataset with
its own head).

Loading is strict: an unknown key anywhere (``optim.lrr``, ``data.bach_size``) or a value of the
wrong type is an :class:`~actionlab.errors.InputError` that names the file, the key and the valid
keys; so are values out of range (NaN anywhere, ``data.size=[0,0]``, ``train.seed=-5``).
Overrides are parsed as YAML scalars, so ``optim.lr=1e-5``, ``train.bf16=true`` and
``data.size=[72,72]`` all get their natural types before the same checks run. A file may start
from another with ``base:`` (:mod:`actionlab.config.files`); the study's configs ship with the
package (:data:`CONFIGS`) and load by bare name.

.. code-block:: python

    cfg = load_config("resnetlike_frame_adam50e_stanford40-rgb",
                      overrides=["data.root=/data/stanford40", "train.epochs=5"])
    save_config(cfg, run_dir / "config.yaml")
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from actionlab.config.files import (  # noqa: F401  (CONFIGS and the overrides are public here)
    CONFIGS,
    FLOAT,
    apply_overrides,
    parse_override,
    read_config_file,
    resolve_config,
)
from actionlab.errors import InputError
from actionlab.io import write_text_atomic
from actionlab.spec import KINDS
from actionlab.spec import MODALITIES as INPUT_MODALITIES

# The values a few string fields may take; checked after loading.
# "features" is what a sequence checkpoint records as its input, not a modality to configure
MODALITIES = tuple(m for m in INPUT_MODALITIES if m != "features")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "step", "exponential", "cosine", "cyclic")
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
INIT_FORMATS = ("auto", "run", "torchvision", "inflate")
LOG_FORMATS = ("csv", "jsonl", "tensorboard")
SEQ_LOSS_WEIGHTS = ("uniform", "linear", "last")


@dataclass
class DataConfig:
    """Where the samples come from and how one sample is cut from a video."""

    dataset: str = "synth"  # adapter name (hmdb51, ucf101, stanford40, synth, folder, ...)
    root: str = ""  # the dataset as downloaded
    split: str = "1"  # the dataset's official split (e.g. HMDB51 split 1)
    cache_dir: str = ""  # the prepared cache (`actionlab prepare`)
    kind: str = "frame"  # frame | clip | tsn | two_stream | sequence
    modality: str = "rgb"  # rgb | flow | rgbdiff | rgb+flow
    size: list[int] = field(default_factory=lambda: [112, 112])  # [H, W]
    frames: int = 1  # T: frames per clip or per stacked snippet
    stride: int = 1  # step between the frames of a clip
    segments: int = 1  # S: TSN segments
    flow_method: str = "dis"  # dis | dis_fast | tvl1 | tvl1_fast | farneback, +homography
    flow_bound: float = 20.0  # flow is clipped to [-bound, bound]
    mean: list[float] = field(default_factory=list)  # per-channel mean (empty: the data default)
    std: list[float] = field(default_factory=list)
    val_fraction: float = 0.1  # stratified share of the train split used for validation
    batch_size: int = 8  # global batch: divided between processes under torchrun
    workers: int | None = None  # DataLoader worker processes (None: auto, see train.run)
    source: str = "cache"  # cache | video: RGB decoded from the source videos on the fly
    params: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments for the dataset
    group_pattern: str = ""  # regex: a file's group (actor, sequence) from its name (crossval)


@dataclass
class InitConfig:
    """Where the starting weights come from (empty ``path``: random initialisation)."""

    path: str = ""  # a run dir / .safetensors checkpoint, a torchvision .pth, or a 2D checkpoint
    weights: str = ""  # named weights, e.g. torchvision:r2plus1d_18/KINETICS400_V1
    format: str = "auto"  # auto | run | torchvision | inflate
    reset_head: bool = False  # re-initialise the classifier when the class sets differ
    strict: bool = True  # every weight of the file must fit (except a reset head)
    streams: dict[str, str] = field(default_factory=dict)  # submodule -> checkpoint (two-stream)
    cross_modality: bool = False  # average RGB first-conv kernels over a flow/rgbdiff stack (TSN)


@dataclass
class FreezeConfig:
    """What is trained: everything, or only the last N layers."""

    train_last: int = 0  # > 0: freeze all but the last N parameterised layers
    policy: str = ""  # a named policy of actionlab.models.freeze (e.g. "backbone")


@dataclass
class ModelConfig:
    """Which recognizer, built by ``actionlab.models.build_model(name, **kwargs)``."""

    name: str = "resnetlike"
    kwargs: dict[str, Any] = field(default_factory=dict)
    init: InitConfig = field(default_factory=InitConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)


@dataclass
class OptimConfig:
    """The optimizer; the head may learn at its own rate."""

    name: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    momentum: float = 0.9  # sgd
    nesterov: bool = False  # sgd
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adam, adamw
    head_lr: float | None = None  # lr of the classifier's parameters (None: lr)
    head_names: list[str] = field(default_factory=lambda: ["fc", "head", "classifier"])


@dataclass
class ScheduleConfig:
    """How the learning rate changes.

    constant; step (x gamma every ``step_epochs``); exponential (x gamma every epoch); cosine
    (linear warm-up for ``warmup_epochs``, then cosine to ``min_lr``); cyclic (Smith 2017,
    stepped per iteration between ``base_lr`` and ``max_lr``, ``step_size`` iterations per
    half cycle, 0 meaning 2 x the iterations of one epoch).
    """

    name: str = "constant"
    gamma: float = 0.1
    step_epochs: int = 10
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    mode: str = "triangular"  # cyclic: triangular | triangular2 | exp_range
    base_lr: float = 1e-4
    max_lr: float = 1e-2
    step_size: int = 0


@dataclass
class TrainConfig:
    """The loop: epochs, stopping, numerics, where the run is written."""

    epochs: int = 10
    patience: int = 0  # early stopping after N epochs without a better val accuracy (0: off)
    grad_clip: float = 0.0  # max gradient norm (0: off)
    # mixed precision: auto (null) = what is faster on this hardware (train/precision.py)
    bf16: bool | str | None = None  # true | false | auto
    channels_last: bool | str | None = None  # true | false | auto (on with CPU bf16)
    compile: bool = False  # torch.compile the model (benchmarks/README: measured on CPU)
    partial_bn: bool = False  # all BatchNorm layers but the first in eval mode (TSN)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out_dir: str = "runs"
    run_name: str = ""  # empty: the config's name
    log: list[str] = field(default_factory=lambda: ["csv", "jsonl", "tensorboard"])
    progress: bool = True  # rich progress bar
    max_steps: int = 0  # > 0: at most N batches per epoch (smoke tests)
    val_every: int = 1  # validate every N epochs


@dataclass
class SequenceConfig:
    """The LRCN path: an RNN trained on per-frame features cached in HDF5."""

    features: str = ""  # the .h5 written by `actionlab extract-features`
    length: int = 120  # frames per training sequence
    loss_weight: str = "linear"  # uniform | linear | last: weights of the per-step losses
    eval_windows: int = 0  # 0: the full sequence; N: N windows of `length`, averaged


@dataclass
class JointConfig:
    """Joint training on a second dataset: one shared backbone, one head per dataset."""

    enabled: bool = False
    second: dict[str, Any] = field(default_factory=dict)  # data.* overrides for the 2nd dataset


@dataclass
class ExperimentConfig:
    """One training run."""

    name: str = ""
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    joint: JointConfig = field(default_factory=JointConfig)

    def second_data(self, source: str = "config") -> DataConfig:
        """The joint-training dataset: ``data`` with ``joint.second`` applied."""
        raw = {**to_dict(self.data), **self.joint.second}
        return _validate_data(_build(DataConfig, raw, "joint.second", source), "joint.second", source)


# --------------------------------------------------------------------------- building


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, source)
            except InputError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{source}: {where} must be a mapping with keys {_keys(tp)}")
        return _build(tp, value, where, source)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{source}: {where} must be a list, got {value!r}")
        (arg,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, arg, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{source}: {where} must be a mapping, got {value!r}")
        _check_finite(value, where, source)
        return dict(value)
    if tp is Any:
        _check_finite(value, where, source)
        return value
    if tp is float and isinstance(value, str) and FLOAT.fullmatch(value.strip()):
        value = float(value)  # PyYAML reads `1e-5` (no dot) as a string
    if tp is float and isinstance(value, str) and value.strip().lower().lstrip("+-.") in _NONFINITE:
        raise InputError(f"{source}: {where} must be a finite number, got {value}")
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InputError(f"{source}: {where} must be a finite number, got {value}")
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # `split: 1` means the split named "1"
    raise InputError(
        f"{source}: {where} must be {_type_name(tp)}, got {type(value).__name__} {value!r}"
    )


_NONFINITE = ("nan", "inf", "infinity")


def _check_finite(value: Any, where: str, source: str) -> None:
    """Refuse NaN and infinity anywhere in free-form mappings (model kwargs, dataset params)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{source}: {where} must be a finite number, got {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}", source)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]", source)


def _keys(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _build(cls: type, raw: dict[str, Any], path: str, source: str) -> Any:
    """Build dataclass ``cls`` from ``raw``, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {_where(path, close[0])!r}?)" if close else ""
            section = f"in {path}" if path else "at the top level"
            raise InputError(
                f"{source}: unknown key {_where(path, str(key))!r}{hint}; "
                f"valid keys {section}: {', '.join(names)}"
            )
    kwargs = {k: _coerce(v, hints[k], _where(path, k), source) for k, v in raw.items()}
    return cls(**kwargs)


def _check_choice(value: str, choices: Sequence[str], where: str, source: str) -> None:
    if value not in choices:
        raise InputError(f"{source}: {where}={value!r} is not one of {', '.join(choices)}")


def _check_range(values: dict[str, float | int | None], low: float, strict: bool,
                 source: str) -> None:
    """Each value (None skipped) must be > ``low`` (``strict``) or >= ``low``."""
    for where, value in values.items():
        if value is not None and (value <= low if strict else value < low):
            bound = f"> {low:g}" if strict else f">= {low:g}"
            raise InputError(f"{source}: {where} must be {bound}, got {value}")


def _validate_data(d: DataConfig, where: str, source: str) -> DataConfig:
    _check_choice(d.kind, KINDS, f"{where}.kind", source)
    _check_choice(d.modality, MODALITIES, f"{where}.modality", source)
    if len(d.size) != 2:
        raise InputError(f"{source}: {where}.size must be [H, W], got {d.size}")
    _check_range({f"{where}.size[{i}]": v for i, v in enumerate(d.size)}, 0, True, source)
    _check_range({f"{where}.{k}": getattr(d, k) for k in
                  ("batch_size", "frames", "stride", "segments", "flow_bound")}, 0, True, source)
    if d.workers is not None:
        _check_range({f"{where}.workers": d.workers}, 0, False, source)
    from actionlab.spec import check_flow_method

    try:
        check_flow_method(d.flow_method)
    except InputError as exc:
        raise InputError(f"{source}: {where}.flow_method: {exc}") from None
    _check_choice(d.source, ("cache", "video"), f"{where}.source", source)
    _check_range({f"{where}.std[{i}]": v for i, v in enumerate(d.std)}, 0, True, source)
    if d.mean and d.std and len(d.mean) != len(d.std):
        raise InputError(f"{source}: {where}.mean and {where}.std must have one value per "
                         f"channel each, got {len(d.mean)} and {len(d.std)}")
    if not 0.0 <= d.val_fraction < 1.0:
        raise InputError(f"{source}: {where}.val_fraction must be in [0, 1), got {d.val_fraction}")
    return d


def validate(cfg: ExperimentConfig, source: str = "config") -> ExperimentConfig:
    """Check values that types alone do not catch (choices, ranges); return ``cfg``."""
    _validate_data(cfg.data, "data", source)
    _check_choice(cfg.model.init.format, INIT_FORMATS, "model.init.format", source)
    _check_choice(cfg.optim.name, OPTIMIZERS, "optim.name", source)
    _check_choice(cfg.schedule.name, SCHEDULES, "schedule.name", source)
    _check_choice(cfg.schedule.mode, CYCLIC_MODES, "schedule.mode", source)
    _check_choice(cfg.sequence.loss_weight, SEQ_LOSS_WEIGHTS, "sequence.loss_weight", source)
    for key in ("bf16", "channels_last"):
        value = getattr(cfg.train, key)
        if isinstance(value, str) and value != "auto":
            raise InputError(f"{source}: train.{key}={value!r} is not one of true, false, auto")
    for fmt in cfg.train.log:
        _check_choice(fmt, LOG_FORMATS, "train.log[]", source)
    o, sch, t = cfg.optim, cfg.schedule, cfg.train
    _check_range({"train.epochs": t.epochs, "train.val_every": t.val_every,
                  "sequence.length": cfg.sequence.length, "optim.lr": o.lr,
                  "optim.head_lr": o.head_lr, "schedule.gamma": sch.gamma,
                  "schedule.step_epochs": sch.step_epochs, "schedule.base_lr": sch.base_lr,
                  "schedule.max_lr": sch.max_lr}, 0, True, source)
    _check_range({"train.seed": t.seed, "train.patience": t.patience,
                  "train.grad_clip": t.grad_clip, "train.max_steps": t.max_steps,
                  "optim.momentum": o.momentum, "optim.weight_decay": o.weight_decay,
                  "schedule.warmup_epochs": sch.warmup_epochs, "schedule.min_lr": sch.min_lr,
                  "schedule.step_size": sch.step_size,
                  "model.freeze.train_last": cfg.model.freeze.train_last,
                  "sequence.eval_windows": cfg.sequence.eval_windows}, 0, False, source)
    if len(o.betas) != 2 or not all(0.0 <= b < 1.0 for b in o.betas):
        raise InputError(f"{source}: optim.betas must be two numbers in [0, 1), got {o.betas}")
    if sch.name == "cyclic" and sch.max_lr < sch.base_lr:
        raise InputError(f"{source}: schedule.max_lr must be >= schedule.base_lr")
    if cfg.joint.enabled:
        cfg.second_data(source)  # unknown keys and bad values in joint.second are errors too
    return cfg


def from_dict(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Build and validate a config from a plain mapping (as read from YAML)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    return validate(_build(ExperimentConfig, raw, "", source), source)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain Python data (what ``config.yaml`` holds)."""
    return dataclasses.asdict(cfg)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a YAML config (with its ``base:`` chain), apply ``a.b=c`` overrides, check it all.

    Args:
        path: The YAML file, or the bare name of a shipped config
            (``resnetlike_frame_adam50e_stanford40-rgb``); None: the defaults.
        overrides: ``key.path=value`` strings; values are parsed as YAML.

    Returns:
        The validated config. Its ``name`` defaults to the file's stem.

    Raises:
        InputError: for a missing or unreadable file, bad YAML, a missing base or a cycle of
            bases, unknown keys, wrong types or values out of range.
    """
    raw: dict[str, Any] = {}
    source = "config"
    if path is not None:
        path = resolve_config(path)
        source = str(path)
        raw = read_config_file(path)
        raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, overrides)
    src = source + (" (with overrides)" if overrides else "")
    return from_dict(raw, src)


def rebuild(cfg: ExperimentConfig, overrides: Sequence[str] = (),
            source: str = "config") -> ExperimentConfig:
    """A copy of a config changed in code, checked as a loaded one is (keys, types, ranges).

    Code that loads a config and sets fields (``cfg.data = dataclasses.replace(cfg.data,
    size=[64, 64])``) passes the result through here before training; ``overrides`` are applied
    first, as :func:`load_config` applies them.

    Raises:
        InputError: for a field set to a wrong type or an out-of-range value.
    """
    return from_dict(apply_overrides(to_dict(cfg), overrides), source)


def dump_config(cfg: ExperimentConfig) -> str:
    """The config as YAML text (sections in declaration order)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)


def save_config(cfg: ExperimentConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically; :func:`load_config` reads it back equal."""
    path = Path(path)
    write_text_atomic(path, dump_config(cfg))
    return path
