"""Per-epoch metrics: ``metrics.csv``, ``metrics.jsonl`` and TensorBoard (``RUN/tb``).

TensorBoard is a dependency (it is what people in this field look at: ``tensorboard --logdir
runs``); an install without it gets one warning naming the fix, never silence.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time")


def count_topk(logits: torch.Tensor, target: torch.Tensor, k: int = 1) -> int:
    """How many rows of ``logits`` (B, K) have ``target`` among their ``k`` largest scores
    (``actionlab.metrics.topk_correct``: ties broken by class index, k capped at K)."""
    from actionlab.metrics import topk_correct as hits

    return int(hits(logits.detach().float().cpu().numpy(), target.cpu().numpy(), k).sum())


class MetricsLog:
    """Appends one row per epoch to the formats named in ``train.log``.

    On resume the files are truncated to the epochs the checkpoint has seen, so a resumed run's
    files read as if it had never stopped.
    """

    def __init__(self, run_dir: Path, formats: Sequence[str], resume_epoch: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.formats = set(formats)
        self.csv_path = self.run_dir / "metrics.csv"
        self.jsonl_path = self.run_dir / "metrics.jsonl"
        self._columns: list[str] | None = None
        self._tb = None
        if self.formats:  # only the writing process touches the files
            self._truncate(resume_epoch)
        if "tensorboard" in self.formats:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                _warn_no_tensorboard()
            else:
                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tb"),
                                         purge_step=resume_epoch + 1)

    def _truncate(self, keep_epochs: int) -> None:
        for path in (self.csv_path, self.jsonl_path):
            if not path.is_file():
                continue
            if keep_epochs <= 0:
                path.unlink()
                continue
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            header = 1 if path.suffix == ".csv" else 0
            if path.suffix == ".csv" and lines:
                self._columns = lines[0].strip().split(",")
            kept = lines[:header] + [
                ln for ln in lines[header:] if _epoch_of(ln, path.suffix) <= keep_epochs
            ]
            path.write_text("".join(kept), encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        """Record one epoch's metrics (keys beyond :data:`COLUMNS` are kept too)."""
        row = {k: _plain(v) for k, v in row.items()}
        if "jsonl" in self.formats:
            with open(self.jsonl_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        if "csv" in self.formats:
            if self._columns is None:
                self._columns = list(COLUMNS) + sorted(k for k in row if k not in COLUMNS)
            new = not self.csv_path.is_file()
            with open(self.csv_path, "a", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerow({k: row.get(k, "") for k in self._columns})
        if self._tb is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)) and not math.isnan(value):
                    self._tb.add_scalar(key, value, global_step=row["epoch"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


_warned = False


def _warn_no_tensorboard() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("train.log names tensorboard but it is not installed: pip install "
                    "tensorboard (or drop it from train.log); metrics.csv is written")


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item()
    return value


def _epoch_of(line: str, suffix: str) -> int:
    try:
        if suffix == ".csv":
            return int(line.split(",", 1)[0])
        return int(json.loads(line)["epoch"])
    except (ValueError, KeyError, json.JSONDecodeError):
        return 10**9  # unreadable lines are dropped
