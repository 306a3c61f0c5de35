"""Training: the trainer, optimizers and schedules, checkpoints, transfer, distributed set-up,
joint training and the LRCN feature path.

Imports are lazy (``from actionlab.train.trainer import Trainer``) so that ``actionlab.train``
itself costs nothing to import.
"""

import sys
import types
from pathlib import Path
from typing import Any


class _TrainPackage(types.ModuleType):
    """``actionlab.train(config, **overrides)`` calls the trainer: the package is callable
    because it shares its name with the public function (see :func:`actionlab.api.train`)."""

    def __call__(self, config: Any, resume: str | Path | None = None, **overrides: Any) -> Path:
        from actionlab.config.files import keyword_overrides
        from actionlab.train.run import train

        return train(config, resume=resume, overrides=keyword_overrides(overrides))


sys.modules[__name__].__class__ = _TrainPackage
