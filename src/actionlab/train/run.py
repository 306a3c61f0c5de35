"""``train(config)``: from an experiment config to a run directory.

Builds the datasets (``actionlab.data.build_dataset`` over the prepared cache), the model
(``actionlab.models.build_model``), applies transfer and freezing, joins a process group when
launched by torchrun, and hands everything to :class:`~actionlab.train.trainer.Trainer`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from actionlab.config import DataConfig, ExperimentConfig, load_config, save_config
from actionlab.errors import DatasetError, InputError
from actionlab.io import writing
from actionlab.runtime import thread_budget
from actionlab.models.surgery import apply_freeze
from actionlab.spec import InputSpec, in_channels
from actionlab.train import distributed as D
from actionlab.train.state import RUN_FILE, process_alive, read_run_status, seed_everything
from actionlab.train.transfer import initialize
from actionlab.models.weights import apply_preprocessing

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------- data


PREPARED_ON_DEMAND = ("fall_windows",)  # adapters whose cache train prepares when missing


def check_data_paths(data: DataConfig, where: str = "data") -> Path:
    """The prepared cache folder; a clear error when it (or the config's placeholder) is missing."""
    if not data.cache_dir:
        raise DatasetError(
            f"{where}.cache_dir is not set: prepare the dataset (actionlab prepare ...) and pass "
            f"{where}.cache_dir=/path/to/cache"
        )
    cache = Path(data.cache_dir).expanduser()
    if not (cache / "manifest.json").is_file() and data.dataset in PREPARED_ON_DEMAND:
        _prepare_from_root(data, cache)
    if not (cache / "manifest.json").is_file():
        hint = f" (prepared from {where}.root={data.root})" if data.root else ""
        raise DatasetError(
            f"{cache}: no prepared cache here{hint}; run `actionlab prepare` first or set "
            f"{where}.cache_dir=/path/to/cache"
        )
    return cache


def _prepare_from_root(data: DataConfig, cache: Path) -> None:
    """Prepare ``cache`` from ``data.root`` for adapters that build their own data (the fall
    detector's windows), so such a config trains from a fresh clone in one command."""
    from actionlab.data.adapters import load_manifest
    from actionlab.data.prepare import PrepareConfig, prepare
    from actionlab.spec import cache_inputs

    if not data.root or data.root.startswith("/path/to"):
        return
    log.info("%s: preparing the cache from %s (%s)", cache, data.root, data.dataset)
    m = load_manifest(data.dataset, data.root)
    pc = PrepareConfig(size=None, short_side=int(round(max(data.size) * 8 / 7)),
                       inputs=cache_inputs([data.modality]),
                       flow_method=data.flow_method, flow_bound=data.flow_bound)
    res = prepare(m, cache, pc, progress=False)
    if res.skipped:
        first = res.skipped[0]
        raise DatasetError(f"{first['path']}: could not be prepared ({first['reason']})")


def data_spec(data: DataConfig, cache: Any, where: str = "data") -> InputSpec:
    """The run's input contract: the data config read against its prepared cache."""
    if data.kind == "sequence":
        raise InputError("data.kind=sequence trains on cached features: use actionlab.train.lrcn")
    return InputSpec.from_config(data, cache.manifest.meta.get("prepare"), where)


def build_datasets(data: DataConfig, seed: int, where: str = "data",
                   ) -> tuple[Dataset, Dataset | None, list[str]]:
    """Train and validation datasets (validation carved from train when the cache has none).

    Both carry the run's :class:`~actionlab.spec.InputSpec` as ``input_spec`` (a carved
    subset's ``dataset`` does), which the checkpoint stores.
    """
    from actionlab.data import build_dataset
    from actionlab.data.cache import Cache

    cache = Cache(check_data_paths(data, where))
    spec = data_spec(data, cache, where)
    train_ds = build_dataset(cache, spec, "train", train=True, source=data.source)
    classes = list(train_ds.classes)
    if len(train_ds) == 0:
        raise DatasetError(f"{cache.dir}: the train split is empty")
    if cache.manifest.counts().get("val"):
        val_ds: Dataset | None = build_dataset(cache, spec, "val", train=False,
                                               source=data.source)
    elif data.val_fraction > 0:
        train_ds, val_ds = _carve(cache, data, spec, train_ds, seed)
    else:
        val_ds = None
    return train_ds, val_ds, classes


def dataset_spec(ds: Dataset) -> InputSpec:
    """The input spec a (possibly carved) dataset samples with."""
    return getattr(ds, "dataset", ds).input_spec


def _carve(cache: Any, data: DataConfig, spec: InputSpec, train_ds: Any, seed: int,
           ) -> tuple[Dataset, Dataset]:
    from sklearn.model_selection import train_test_split

    from actionlab.data import build_dataset

    labels = np.asarray(train_ds.labels)
    idx = np.arange(len(labels))
    groups = [r.group for r in train_ds.records]
    if any(groups):  # whole groups (actors, sequences) go to validation, never half of one
        from actionlab.data.groups import group_holdout

        tr, va = group_holdout(labels, groups, data.val_fraction, seed)
    else:
        _, counts = np.unique(labels, return_counts=True)
        strat = labels if counts.min() >= 2 else None
        tr, va = train_test_split(idx, test_size=data.val_fraction, random_state=seed,
                                  stratify=strat)
    eval_ds = build_dataset(cache, spec, "train", train=False, source=data.source)
    log.info("no val split in %s: %d of %d train videos held out for validation",
             cache.dir, len(va), len(idx))
    return Subset(train_ds, sorted(tr.tolist())), Subset(eval_ds, sorted(va.tolist()))


class ShardSampler(Sampler):
    """Indices ``rank, rank + world, ...``: an evaluation shard with no padding."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, n, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def auto_workers(source: str = "cache", cuda: bool | None = None) -> int:
    """DataLoader workers when ``data.workers`` is unset.

    Cached samples cost well under a millisecond of reading each, so on a CPU-only machine the
    main process loads them (worker processes would take cores from the model); decoding videos
    on the fly, or feeding a GPU, gets up to 8 workers, one core left for the main process.
    """
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if source == "cache" and not cuda:
        return 0
    return max(1, min(8, thread_budget() - 1))  # the usable cores (affinity, cgroup quota)


def make_loader(ds: Dataset, batch_size: int, train: bool, seed: int, workers: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A loader sharded over the processes of the job (one process: the whole dataset).

    ``batch_size`` is global; each of N processes takes ``batch_size / N``. Training order comes
    from a DistributedSampler seeded with ``seed`` and the epoch, so one process and N processes
    see the same global batches; evaluation visits every sample exactly once.
    """
    info = D.current()
    if batch_size % info.world_size:
        raise InputError(
            f"data.batch_size={batch_size} does not divide between {info.world_size} processes"
        )
    if len(ds) == 0:
        raise DatasetError("an empty split: no samples to load")
    if train:
        sampler: Sampler = DistributedSampler(ds, num_replicas=info.world_size, rank=info.rank,
                                              shuffle=True, seed=seed, drop_last=False)
    else:  # every sample exactly once over the processes (DistributedSampler would pad)
        sampler = ShardSampler(len(ds), info.rank, info.world_size)
    return DataLoader(ds, batch_size=batch_size // info.world_size, sampler=sampler,
                      num_workers=workers, drop_last=drop_last,
                      persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())


# ---------------------------------------------------------------------- model


def build_model_from_config(cfg: ExperimentConfig, num_classes: int) -> tuple[torch.nn.Module, dict]:
    """The registry model and its ``{name, kwargs}`` spec (what ``load_model`` rebuilds)."""
    from actionlab.models import build_model

    kwargs = {"num_classes": num_classes, **cfg.model.kwargs}
    channels = in_channels(cfg.data.kind, cfg.data.modality, cfg.data.frames)
    if channels is not None:
        kwargs.setdefault("in_channels", channels)
    try:
        model = build_model(cfg.model.name, **kwargs)
    except TypeError as exc:  # a keyword the model does not take
        raise InputError(f"model.kwargs for {cfg.model.name!r}: {exc}") from None
    return model, {"name": cfg.model.name, "kwargs": kwargs}


# ---------------------------------------------------------------------- run dir


# What a failed attempt leaves in its run folder; a folder holding only these (no checkpoint)
# is taken over by the next attempt instead of making ``-2``, ``-3`` ...
_ATTEMPT_FILES = {"config.yaml", RUN_FILE, "metrics.csv", "metrics.jsonl", "tb"}


def run_name(cfg: ExperimentConfig) -> str:
    """The run folder's name: ``train.run_name``, else the config's ``name``; one plain name.

    Raises:
        InputError: a name with a path separator, ``..``, or an absolute path (a run never
            leaves ``train.out_dir``).
    """
    key = "train.run_name" if cfg.train.run_name else "name"
    name = str(cfg.train.run_name or cfg.name or "run")
    if (name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or Path(name).is_absolute() or name != name.strip()):
        raise InputError(
            f"{key}={name!r}: a run name is one folder name inside train.out_dir (no '/', "
            "'..' or absolute path); set train.out_dir to choose where runs go"
        )
    return name


def check_run_target(cfg: ExperimentConfig) -> Path:
    """``train.out_dir`` can take the run folder (checked before any data is loaded).

    Raises:
        InputError: a bad run name; OutputError: ``train.out_dir`` is a file or unwritable.
    """
    from actionlab.io import check_output_dir

    run_name(cfg)
    return check_output_dir(Path(cfg.train.out_dir).expanduser(), "train.out_dir")


def _failed_attempt(path: Path) -> bool:
    """A folder a failed (or killed) attempt left: no checkpoint, only the files a run writes."""
    status = read_run_status(path) or {}
    if status.get("status") == "running" and process_alive(status):
        return False  # another process is training here right now
    names = {p.name for p in path.iterdir()}
    return names <= _ATTEMPT_FILES


def make_run_dir(cfg: ExperimentConfig) -> Path:
    """``train.out_dir / (train.run_name or name)``, with ``-2``, ``-3`` ... if taken.

    A folder that holds a failed attempt (no checkpoint; see :data:`_ATTEMPT_FILES`) is not
    "taken": its files are removed and the folder reused, so retries do not pile up suffixes.
    """
    import shutil

    out_dir = check_run_target(cfg)
    base = out_dir / run_name(cfg)
    path, n = base, 1
    while path.exists():
        if path.is_dir() and _failed_attempt(path):
            if D.current().is_main:  # under torchrun every rank picks the name; one clears
                log.info("%s holds a failed attempt (no checkpoint); starting over in it", path)
                for child in path.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
            return path
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def fast_cpu_overrides(on: bool | None) -> list[str]:
    """``train.bf16`` and ``train.channels_last`` overrides, both on, both off, or both ``auto``
    (None: bf16 + channels-last where the CPU probe measured them faster, see
    ``train/precision.py``; 3.4x faster for the compact 3D models on an AMX CPU)."""
    value = "auto" if on is None else str(on).lower()
    return [f"train.bf16={value}", f"train.channels_last={value}"]


def train(config: ExperimentConfig | str | Path | None, resume: str | Path | None = None,
          overrides: list[str] | tuple[str, ...] = ()) -> Path:
    """Train the experiment a config describes; return the run directory.

    Args:
        config: A config, or a YAML path (with ``overrides``).
        resume: A run directory to continue exactly (its ``config.yaml`` is used when
            ``config`` is None).

    Returns:
        The run directory (``config.yaml``, checkpoints, metrics).
    """
    if resume is not None:
        resume = Path(resume)
        if not (resume / "last.safetensors").is_file():
            raise InputError(f"--resume {resume}: no last.safetensors there to resume from")
        if config is None:
            config = resume / "config.yaml"
    if not isinstance(config, ExperimentConfig):
        config = load_config(config, overrides)
    from actionlab.runtime import resolve_device

    # a bad device, out_dir or run name fails before any data is loaded or folder made
    resolve_device(config.train.device, "train.device")
    if resume is None:
        check_run_target(config)
    D.init_from_env()
    try:
        return _train(config, resume)
    finally:
        D.cleanup_owned()


def _train(cfg: ExperimentConfig, resume: Path | None) -> Path:
    from actionlab.train.trainer import Trainer

    info = D.current()
    # named weights bring their normalisation (data.mean/std when unset) before anything reads it
    pretrained = apply_preprocessing(cfg.data, cfg.model.init)
    if cfg.data.kind == "sequence":
        from actionlab.train.lrcn import train_lrcn

        return train_lrcn(cfg, resume=resume)
    if cfg.joint.enabled:
        from actionlab.train.joint import train_joint

        return train_joint(cfg, resume=resume)
    # the weights' initialisation must not depend on what ran before in this process
    seed_everything(cfg.train.seed)
    train_ds, val_ds, classes = build_datasets(cfg.data, cfg.train.seed)
    model, spec = build_model_from_config(cfg, len(classes))
    initialize(model, cfg.model.init, classes)
    apply_freeze(model, cfg.model.freeze.train_last, cfg.model.freeze.policy)
    run_dir = D.broadcast_object(Path(resume) if resume is not None else make_run_dir(cfg))
    if info.is_main:
        with writing(run_dir, "train.out_dir"):
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, run_dir / "config.yaml")
    D.barrier()
    bs, seed = cfg.data.batch_size, cfg.train.seed
    workers = auto_workers(cfg.data.source) if cfg.data.workers is None else cfg.data.workers
    meta = {"model": spec, "classes": classes, "input": dataset_spec(train_ds).to_dict()}
    if pretrained:
        meta["pretrained"] = pretrained
    trainer = Trainer(
        model,
        make_loader(train_ds, bs, True, seed, workers),
        make_loader(val_ds, bs, False, seed, workers) if val_ds is not None else None,
        cfg,
        run_dir,
        meta=meta,
    )
    summary = trainer.fit(resume=resume is not None)
    if info.is_main:
        log_summary(run_dir, summary)
    return run_dir


def log_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """The run's last log line: which checkpoint is the model, and what its accuracy means."""
    if summary.get("validation", True):
        log.info("run %s: best val accuracy %.4f at epoch %d (best.safetensors)", run_dir,
                 summary["best_metric"], summary["best_epoch"])
    else:
        log.info("run %s: no validation set, so the model is last.safetensors (epoch %d); its "
                 "training accuracy on augmented batches was %.4f", run_dir, summary["epochs"],
                 summary.get("last", {}).get("train_acc", float("nan")))


__all__ = ["build_datasets", "build_model_from_config", "data_spec", "dataset_spec", "make_loader",
           "train"]
