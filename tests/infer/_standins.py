"""Stand-ins for stages that have not landed yet, installed only when the real module is absent."""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np


def _missing(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        return True
    return False


def _probs_to_segments(times, probs, classes, threshold=0.5, **kw):
    segs, cur = [], None
    for t, j, p in zip(times, np.argmax(probs, 1), np.max(probs, 1)):
        if p < threshold:
            cur = None
        elif cur and cur["label"] == classes[j]:
            cur["end"], cur["score"] = float(t), max(cur["score"], float(p))
        else:
            cur = {"label": classes[j], "start": float(t), "end": float(t), "score": float(p)}
            segs.append(cur)
    return segs


def install() -> None:
    if _missing("actionlab.evaluate.timeline"):
        mod = types.ModuleType("actionlab.evaluate.timeline")
        mod.probs_to_segments = _probs_to_segments
        if _missing("actionlab.evaluate"):
            sys.modules["actionlab.evaluate"] = types.ModuleType("actionlab.evaluate")
        sys.modules["actionlab.evaluate.timeline"] = mod
