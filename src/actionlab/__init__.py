"""actionlab: human action recognition in video, end to end.

The public API (:mod:`actionlab.api`) is exported lazily, so ``import actionlab`` imports
neither torch nor numpy:

.. code-block:: python

    import actionlab

    rec = actionlab.load("runs/flow")            # a run folder, a checkpoint or an .onnx
    print(rec.predict("clip.mp4").to_dict())
"""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"

# OpenMP threads that wait for work sleep instead of spinning: a spinning thread holds a core that
# a neighbour (or our own decoder) needs, and under load every barrier then waits for the thread
# the scheduler parked. libgomp reads this when torch loads it, so it is set before any import of
# torch; a user's own setting wins (actionlab.runtime has the thread budget).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# ``train`` and ``synth`` are also subpackages: importing one sets it as this package's
# attribute, so they are not listed here; the subpackages themselves are callable
# (see actionlab/train/__init__.py and actionlab/synth/__init__.py).
API = ("load", "Recognizer", "crossval", "prepare", "list_models", "load_config")
CALLABLE_PACKAGES = ("train", "synth")
__all__ = ["__version__", *API, *CALLABLE_PACKAGES]


def __getattr__(name: str) -> Any:
    import importlib

    if name in API:
        return getattr(importlib.import_module("actionlab.api"), name)
    if name in CALLABLE_PACKAGES:
        return importlib.import_module(f"actionlab.{name}")
    raise AttributeError(f"module 'actionlab' has no attribute {name!r}")
