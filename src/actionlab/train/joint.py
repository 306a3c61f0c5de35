"""Joint training on two datasets: a shared backbone, one head per dataset, alternating batches.

The study (UCF101 + HMDB51) feeds the model "two different batches of the two datasets, changing
the last fully connected layer correspondingly". :class:`JointModel` holds the backbone and a
``ModuleDict`` of heads; :class:`~actionlab.train.trainer.Trainer` alternates batches when its
loaders are a mapping ``{dataset: loader}`` and calls ``model(*x, task=dataset)``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actionlab.config import ExperimentConfig
from actionlab.models.joint import JointModel

log = logging.getLogger(__name__)


def feature_dim(backbone: nn.Module, sample: Any) -> int:
    """The backbone's pre-logits width, by running one sample (eval, no grad)."""
    xs = tuple(sample) if isinstance(sample, (tuple, list)) else (sample,)
    was = backbone.training
    backbone.eval()
    with torch.no_grad():
        f = backbone.forward_head(backbone.forward_features(*(t.unsqueeze(0) for t in xs)),
                                  pre_logits=True)
    backbone.train(was)
    return int(f.reshape(1, -1).shape[1])


def train_joint(cfg: ExperimentConfig, resume: str | Path | None = None) -> Path:
    """Train one backbone on ``data`` and ``joint.second`` with a head each; return the run dir.

    The checkpoint's ``model`` is ``{"name": "joint", ...}`` with the backbone's spec and the
    heads, and ``classes`` maps each dataset to its class names.
    """
    from actionlab.train import distributed as D
    from actionlab.train.run import (
        auto_workers,
        build_datasets,
        build_model_from_config,
        dataset_spec,
        make_loader,
        make_run_dir,
    )
    from actionlab.models.surgery import apply_freeze
    from actionlab.train.trainer import Trainer
    from actionlab.config import save_config

    first, second = cfg.data, cfg.second_data()
    names = [first.dataset, second.dataset]
    if names[0] == names[1]:
        names = [f"{names[0]}_a", f"{names[1]}_b"]
    tr_a, va_a, cls_a = build_datasets(first, cfg.train.seed, "data")
    tr_b, va_b, cls_b = build_datasets(second, cfg.train.seed, "joint.second")
    backbone, spec = build_model_from_config(cfg, len(cls_a))
    from actionlab.train.transfer import initialize

    initialize(backbone, cfg.model.init, cls_a)
    dim = feature_dim(backbone, tr_a[0][0])
    dropout = float(cfg.model.kwargs.get("dropout", 0.0))
    model = JointModel(backbone, {names[0]: len(cls_a), names[1]: len(cls_b)}, dim, dropout)
    apply_freeze(model, cfg.model.freeze.train_last, cfg.model.freeze.policy)
    run_dir = D.broadcast_object(Path(resume) if resume is not None else make_run_dir(cfg))
    if D.current().is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    bs, seed = cfg.data.batch_size, cfg.train.seed
    w = auto_workers(first.source) if first.workers is None else first.workers
    train_loaders = {names[0]: make_loader(tr_a, bs, True, seed, w),
                     names[1]: make_loader(tr_b, second.batch_size, True, seed, w)}
    val_loaders = {n: make_loader(v, bs, False, seed, w)
                   for n, v in zip(names, (va_a, va_b)) if v is not None}
    meta = {
        "model": {"name": "joint", "kwargs": {"backbone": spec, "heads": {names[0]: len(cls_a),
                                                                            names[1]: len(cls_b)},
                                              "feature_dim": dim}},
        "classes": {names[0]: cls_a, names[1]: cls_b},
        "input": dataset_spec(tr_a).to_dict(),
    }
    trainer = Trainer(model, train_loaders, val_loaders or None, cfg, run_dir, meta=meta)
    trainer.fit(resume=resume is not None)
    return run_dir
