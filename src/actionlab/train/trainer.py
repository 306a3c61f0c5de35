"""The training loop: one :class:`Trainer` for every recognizer, alone or under DDP.

.. code-block:: python

    trainer = Trainer(model, train_loader, val_loader, cfg, run_dir, meta=meta)
    summary = trainer.fit()            # or fit(resume=True) to continue run_dir exactly

A run directory holds ``config.yaml``, ``run.json`` (running / complete / interrupted /
failed, and which checkpoint is the model), ``best.safetensors`` (best validation accuracy; not
written without a validation set, where ``last`` is the model), ``last.safetensors`` +
``last.state.pt`` (resumable), ``metrics.csv``, ``metrics.jsonl`` and ``tb/`` (TensorBoard).
Each epoch is seeded from ``(train.seed, epoch)``, and an interrupted epoch is replayed by
skipping the batches it had already seen, so a resumed run ends with the same weights as one
that never stopped. ``train_loader`` may be a mapping ``{dataset: loader}`` for joint training:
batches then alternate between the datasets and the model is called with ``task=dataset``.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader

from actionlab.config import ExperimentConfig, to_dict
from actionlab.errors import ActionlabError, CheckpointError
from actionlab.machine import describe
from actionlab.models.base import model_info
from actionlab.models.surgery import channels_last, channels_last_input, partial_bn
from actionlab.runtime import ThreadGovernor, resolve_device, tune_malloc
from actionlab.train import distributed as D
from actionlab.train.console import DeferredInterrupt, progress_bar
from actionlab.train.metrics_log import MetricsLog, count_topk
from actionlab.train.optim import build_optimizer, build_scheduler
from actionlab.train.precision import Precision, choose_precision
from actionlab.train.state import (
    load_state,
    rng_state,
    save_pair,
    seed_everything,
    set_rng_state,
    write_run_status,
)

log = logging.getLogger(__name__)

Loaders = DataLoader | Mapping[str, DataLoader]


class TrainingError(ActionlabError):
    """Training cannot go on (a non-finite loss); the message says what is kept and what to do."""


class TrainingInterrupted(ActionlabError):
    """Ctrl-C: a resumable checkpoint was saved; the message says how to resume."""

    exit_code = 130


class Trainer:
    """Fits a model with the optimizer, schedule and loop settings of an experiment config.

    Args:
        model: Any module; called as ``model(*inputs)`` (``task=`` added in joint training).
        train_loader: A DataLoader of ``(x, label)``, x a tensor or a tuple of tensors; or a
            mapping ``{dataset: loader}`` for joint training with alternating batches.
        val_loader: The same kind, or None: then no ``best.safetensors`` is written (training
            accuracy on augmented batches cannot pick an epoch) and ``last`` is the model.
        config: The experiment config (``optim``, ``schedule``, ``train`` sections are used).
        run_dir: Where checkpoints and metrics go (rank 0 writes).
        meta: Checkpoint meta: ``model`` (name, kwargs), ``classes``, ``input``; the config,
            epoch and metrics are added.
        loss_fn: ``(outputs, labels) -> loss``; cross-entropy by default.
        logits_fn: ``outputs -> (B, K) scores`` for accuracy; identity by default.
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: Loaders,
        val_loader: Loaders | None,
        config: ExperimentConfig,
        run_dir: str | Path,
        meta: dict[str, Any] | None = None,
        loss_fn: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
        logits_fn: Callable[[Any], torch.Tensor] | None = None,
    ) -> None:
        self.cfg = config
        self.run_dir = Path(run_dir)
        self.dist = D.current()
        self.device = resolve_device(config.train.device, "train.device", self.dist.local_rank)
        self.train_loaders = _as_dict(train_loader)
        self.val_loaders = _as_dict(val_loader) if val_loader is not None else {}
        self.joint = isinstance(train_loader, Mapping)
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()
        self.logits_fn = logits_fn or (lambda out: out)
        meta = dict(meta or {})
        meta.setdefault("model", {"name": type(model).__name__, "kwargs": {}})
        meta["config"] = to_dict(config)
        if config.train.partial_bn:  # before the optimizer: the frozen BN affines stay out of it
            partial_bn(model)
        meta["size"] = model_info(model)
        self.meta = meta

        # every process trains with rank 0's choice (the CPU probe runs once, not per process)
        self.precision: Precision = D.broadcast_object(
            choose_precision(config.train, self.device) if self.dist.is_main else None)
        if self.dist.is_main:
            log.info("precision: %s%s%s (%s)", _dtype_name(self.precision.dtype),
                     " + GradScaler" if self.precision.scaler else "",
                     " + channels-last" if self.precision.channels_last else "",
                     self.precision.reason)
        self.meta["precision"] = {"dtype": _dtype_name(self.precision.dtype),
                                  "grad_scaler": self.precision.scaler,
                                  "channels_last": self.precision.channels_last,
                                  "reason": self.precision.reason}
        self.raw_model = model.to(self.device)
        if self.precision.channels_last:
            channels_last(self.raw_model)
        self.model: nn.Module = self.raw_model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.raw_model, device_ids=ids)
        if config.train.compile:
            self.model = torch.compile(self.model)
        self.scaler = self.precision.grad_scaler(self.device)
        self.optimizer = build_optimizer(self.raw_model, config.optim)
        self.steps_per_epoch = self._steps_per_epoch()
        self.scheduler = build_scheduler(
            self.optimizer, config.schedule, config.optim.lr, self.steps_per_epoch,
            config.train.epochs,
        )
        self.epoch = 0  # the epoch in progress (completed epochs at an epoch boundary)
        self.governor = ThreadGovernor()  # inactive when --threads or the env fixed it
        if self.dist.is_main:
            log.info("%s", describe(torch.get_num_threads()))
        self.step = 0  # batches done in that epoch
        self.best_metric = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self._sums = [0.0, 0.0, 0.0]  # loss sum, correct, samples of the epoch in progress
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ set-up helpers

    def _steps_per_epoch(self) -> int:
        lengths = [len(loader) for loader in self.train_loaders.values()]
        if not lengths or min(lengths) == 0:
            raise ActionlabError(
                "the training split is empty (no batches): check data.cache_dir and data.split, "
                "or lower data.batch_size"
            )
        n = max(lengths) * len(lengths)
        if self.cfg.train.max_steps > 0:
            n = min(n, self.cfg.train.max_steps)
        return n

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.safetensors"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.safetensors"

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train for ``train.epochs`` (or until early stopping); return a summary.

        Args:
            resume: Continue from ``run_dir/last.safetensors`` and its training state.

        Raises:
            TrainingError: on a non-finite loss (the last good checkpoint is kept).
            TrainingInterrupted: on Ctrl-C, after saving a resumable checkpoint.
        """
        tune_malloc()  # for Python API users too: page faults were a quarter of CPU time
        if resume:
            self._resume()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics_log = MetricsLog(self.run_dir, self.cfg.train.log if self.dist.is_main else [],
                                 resume_epoch=self.epoch)
        size = model_info(self.raw_model)
        if self.dist.is_main:
            log.info("training %s: %d of %d parameters trainable, %d steps per epoch, on %s "
                     "(%d processes)", self.meta["model"]["name"], size["trainable"],
                     size["params"],
                     self.steps_per_epoch, self.device, self.dist.world_size)
        if self.cfg.train.patience > 0 and not self.val_loaders and self.dist.is_main:
            log.warning("train.patience=%d needs a validation set; training runs all %d epochs",
                        self.cfg.train.patience, self.cfg.train.epochs)
        self._status(status="running", epochs=self.cfg.train.epochs, epochs_done=self.epoch,
                     validation=bool(self.val_loaders), model_file=self.model_file.name)
        stopped = "completed"
        try:
            while self.epoch < self.cfg.train.epochs:
                row = self._run_epoch()
                if self.dist.is_main:
                    metrics_log.write(row)
                self.history.append(row)
                self._status(epochs_done=self.epoch)
                if self._early_stop():
                    stopped = "early"
                    log.info("early stopping: no better validation accuracy for %d epochs",
                             self.bad_epochs)
                    break
        except TrainingInterrupted as exc:
            self._status(status="interrupted", error=str(exc))
            raise
        except BaseException as exc:
            self._status(status="failed", error=_one_line(exc))
            raise
        finally:
            metrics_log.close()
        self._status(status="complete", stopped=stopped)
        return {
            "run_dir": str(self.run_dir),
            "validation": bool(self.val_loaders),
            "model_file": str(self.model_file),
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "epochs": self.epoch,
            "stopped": stopped,
            "last": self.history[-1] if self.history else {},
        }

    @property
    def model_file(self) -> Path:
        """The checkpoint to use: the best on validation, else the last (training accuracy
        on augmented batches says nothing about which epoch generalises best)."""
        return self.best_path if self.val_loaders else self.last_path

    def _status(self, **fields: Any) -> None:
        if self.dist.is_main:
            write_run_status(self.run_dir, **fields)

    def _run_epoch(self) -> dict[str, Any]:
        start = time.time()
        epoch = self.epoch
        lr = self.optimizer.param_groups[-1]["lr"]
        try:
            train_loss, train_acc = self._train_epoch()
            row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss,
                                   "train_acc": train_acc}
            if self.val_loaders and (epoch + 1) % self.cfg.train.val_every == 0:
                row.update(self.evaluate())
            else:
                row.update({"val_loss": float("nan"), "val_acc": float("nan")})
        except KeyboardInterrupt:
            self._on_interrupt()
        row["time"] = round(time.time() - start, 3)
        self.epoch, self.step = epoch + 1, 0
        self._sums = [0.0, 0.0, 0.0]
        # without validation data nothing is "best": the last checkpoint is the model
        metric = row["val_acc"] if self.val_loaders else math.nan
        improved = not math.isnan(metric) and metric > self.best_metric
        if improved:
            self.best_metric, self.best_epoch, self.bad_epochs = metric, epoch + 1, 0
        elif not math.isnan(metric):
            self.bad_epochs += 1
        metrics = {k: v for k, v in row.items() if k not in ("epoch", "time")}
        if self.dist.is_main:
            if improved:
                self._save(self.best_path, metrics, with_state=False)
            self._save(self.last_path, metrics, with_state=True)
        if self.dist.is_main and self.val_loaders:
            log.info("epoch %d/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f",
                     epoch + 1, self.cfg.train.epochs, train_loss, train_acc, row["val_loss"],
                     row["val_acc"])
        elif self.dist.is_main:
            log.info("epoch %d/%d  loss %.4f  train acc %.4f (augmented batches; no validation "
                     "set)", epoch + 1, self.cfg.train.epochs, train_loss, train_acc)
        return row

    def _early_stop(self) -> bool:
        patience = self.cfg.train.patience
        return patience > 0 and self.bad_epochs >= patience

    def _seed_epoch(self, epoch: int) -> None:
        # Every epoch starts from a state that depends only on (seed, epoch): shuffling,
        # augmentation and dropout replay exactly when a run is resumed.
        seed_everything(self.cfg.train.seed * 100_003 + epoch)
        for loader in self.train_loaders.values():
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            if loader.generator is not None:
                loader.generator.manual_seed(self.cfg.train.seed * 100_003 + epoch)

    def _batches(self) -> Iterator[tuple[str | None, Any]]:
        """Training batches of one epoch; datasets alternate in joint training."""
        if not self.joint:
            (loader,) = self.train_loaders.values()
            for batch in loader:
                yield None, batch
            return
        longest = max(len(loader) for loader in self.train_loaders.values())
        iters = {name: _cycle(loader) for name, loader in self.train_loaders.items()}
        for _ in range(longest):
            for name, it in iters.items():
                yield name, next(it)

    def _train_epoch(self) -> tuple[float, float]:
        self.model.train()
        if self.cfg.train.partial_bn:
            partial_bn(self.raw_model)
        self._seed_epoch(self.epoch)
        skip, resume_rng = self.step, getattr(self, "_resume_rng", None)
        self._resume_rng = None
        total = self.steps_per_epoch
        with progress_bar(self.dist.is_main and self.cfg.train.progress) as progress, \
                DeferredInterrupt() as ctrl_c:
            task = progress.add_task(f"epoch {self.epoch + 1}", total=total, completed=skip,
                                     stats="")
            for i, (name, batch) in enumerate(itertools.islice(self._batches(), total)):
                if i < skip:  # replaying an interrupted epoch: these batches were done
                    if i == skip - 1 and resume_rng is not None:
                        # the next batch is fetched (and augmented) as in the run that stopped
                        set_rng_state(resume_rng)
                    continue
                self._train_step(name, batch)
                self.step = i + 1
                self.governor.update()  # fewer threads while a neighbour holds a core
                if D.any_flag(ctrl_c.requested, self.device):  # stop between steps, not inside
                    raise KeyboardInterrupt
                loss_sum, correct, seen = self._sums
                progress.update(task, advance=1,
                                stats=f"loss {loss_sum / max(seen, 1):.4f} "
                                      f"acc {correct / max(seen, 1):.4f}")
        loss_sum, correct, seen = D.all_reduce_sum(self._sums, self.device)
        return loss_sum / max(seen, 1), correct / max(seen, 1)

    def _forward(self, name: str | None, x: Any) -> Any:
        xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
        xs = tuple(self._to_device(t) for t in xs)
        with self.precision.autocast(self.device):
            return self.model(*xs) if name is None else self.model(*xs, task=name)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        return channels_last_input(t) if self.precision.channels_last else t

    def _train_step(self, name: str | None, batch: Any) -> None:
        x, y = batch
        y = y.to(self.device)
        out = self._forward(name, x)
        loss = self.loss_fn(_float(out), y)
        if D.any_flag(not bool(torch.isfinite(loss)), self.device):
            self._on_nonfinite(loss.detach().item())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # float16 only: scaled; otherwise as it is
        if self.cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients
            nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)  # skipped when float16 gradients overflowed
        self.scaler.update()
        self.scheduler.step()
        with torch.no_grad():
            logits = self.logits_fn(_float(out))
            self._sums[0] += loss.detach().item() * len(y)
            self._sums[1] += count_topk(logits, _final_labels(y))
            self._sums[2] += len(y)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation loss, top-1 and top-5 accuracy (averaged over datasets in joint training)."""
        self.model.eval()
        rows: dict[str, float] = {}
        losses, accs, top5s = [], [], []
        for name, loader in self.val_loaders.items():
            sums = [0.0, 0.0, 0.0, 0.0]  # loss sum, top-1 hits, samples, top-5 hits
            for x, y in loader:
                y = y.to(self.device)
                out = _float(self._forward(name if self.joint else None, x))
                scores, labels = self.logits_fn(out), _final_labels(y)
                sums[0] += float(self.loss_fn(out, y)) * len(y)
                sums[1] += count_topk(scores, labels)
                sums[2] += len(y)
                sums[3] += count_topk(scores, labels, 5)
            loss_sum, correct, seen, top5 = D.all_reduce_sum(sums, self.device)
            if seen == 0:
                raise ActionlabError("the validation split is empty: raise data.val_fraction")
            losses.append(loss_sum / seen)
            accs.append(correct / seen)
            top5s.append(top5 / seen)
            if self.joint:
                rows[f"val_loss_{name}"], rows[f"val_acc_{name}"] = losses[-1], accs[-1]
        rows["val_loss"] = sum(losses) / len(losses)
        rows["val_acc"] = sum(accs) / len(accs)
        rows["val_top5"] = sum(top5s) / len(top5s)
        return rows

    # ------------------------------------------------------------------ checkpoints

    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "sums": list(self._sums),
        }

    def _save(self, path: Path, metrics: dict[str, Any], with_state: bool) -> None:
        meta = {**self.meta, "epoch": self.epoch, "step": self.step,
                "metrics": {k: _finite_or_none(v) for k, v in metrics.items()}}
        if with_state:
            save_pair(path, self.raw_model, meta, self._state())
        else:
            from actionlab.checkpoint import save_checkpoint

            try:
                save_checkpoint(path, self.raw_model, meta)
            except OSError as exc:
                raise CheckpointError(
                    f"{path}: could not write the checkpoint ({exc.strerror or exc}); "
                    "the previous one is intact"
                ) from exc

    def _resume(self) -> None:
        if not self.last_path.is_file():
            raise CheckpointError(
                f"{self.last_path}: nothing to resume (no last checkpoint in {self.run_dir})"
            )
        state = load_state(self.last_path)
        weights = load_file(str(self.last_path))
        self.raw_model.load_state_dict(weights, strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # float16 runs; older states have none
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best_metric = float(state["best_metric"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self._sums = [float(v) for v in state["sums"]]
        # Mid-epoch: restore the RNG after replaying the skipped batches; at a boundary the
        # epoch seed already fixes everything.
        self._resume_rng = state["rng"] if self.step else None
        set_rng_state(state["rng"])
        log.info("resuming %s at epoch %d, step %d", self.run_dir, self.epoch + 1, self.step)

    def _on_interrupt(self) -> None:
        if self.dist.is_main:
            self._save(self.last_path, {}, with_state=True)
        raise TrainingInterrupted(
            f"interrupted at epoch {self.epoch + 1}, step {self.step}; a resumable checkpoint is "
            f"in {self.last_path}; continue with: actionlab train "
            f"{self.run_dir / 'config.yaml'} --resume {self.run_dir}"
        )

    def _on_nonfinite(self, value: float) -> None:
        kept = (f"the last good checkpoint is {self.last_path} (epoch {self.epoch})"
                if self.last_path.is_file() else "no checkpoint was written yet")
        raise TrainingError(
            f"the loss became {value} at epoch {self.epoch + 1}, step {self.step + 1}; training "
            f"stopped; {kept}; lower optim.lr or set train.grad_clip, then resume or restart"
        )


# ---------------------------------------------------------------------- small helpers


def _dtype_name(dtype: torch.dtype | None) -> str:
    return {torch.bfloat16: "bfloat16 autocast", torch.float16: "float16 autocast"}.get(
        dtype, "float32")


def _as_dict(loaders: Loaders) -> dict[str, DataLoader]:
    if isinstance(loaders, Mapping):
        return dict(loaders)
    return {"main": loaders}


def _cycle(loader: DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


def _float(out: Any) -> Any:
    """bf16 autocast outputs back to float32 for the loss and metrics."""
    if isinstance(out, torch.Tensor) and out.is_floating_point():
        return out.float()
    return out


def _final_labels(y: torch.Tensor) -> torch.Tensor:
    return y if y.dim() == 1 else y[:, -1]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, ActionlabError) else f"{type(exc).__name__}: {text}"


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


