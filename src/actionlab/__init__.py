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

# OpenMP threads that wait for work spin only briefly, then sleep: a long spin holds a core that a
# neighbour (or our own decoder) needs, and under load every barrier waits for the thread the
# scheduler parked; never spinning (OMP_WAIT_POLICY=PASSIVE) made small-op work (the frame models,
# evaluation) 1.6x slower quiet. libgomp reads this when torch loads it, so it is set before any
# import of torch; a user's own setting wins (actionlab.runtime has the thread budget).
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "30000")

# ``train`` and ``synth`` are also subpackages: importing one sets it as this package's
# attribute, so they are not listed here; the subpackages themselves are callable
# (see actionlab/train/__init__.py and actionlab/synth/__init__.py).
API = ("load", "Recognizer", "crossval", "fit", "prepare", "list_models", "load_config")
CALLABLE_PACKAGES = ("train", "synth")
__all__ = ["__version__", *API, *CALLABLE_PACKAGES]


def __getattr__(name: str) -> Any:
    import importlib

    if name in API:
        return getattr(importlib.import_module("actionlab.api"), name)
    if name in CALLABLE_PACKAGES:
        return importlib.import_module(f"actionlab.{name}")
    raise AttributeError(f"module 'actionlab' has no attribute {name!r}")
