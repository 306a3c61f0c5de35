"""Data: video I/O, dataset adapters and splits, sampling, optical flow, the prepared cache,
transforms and PyTorch datasets.

Read in the order the data flows: :mod:`.video` (decode) -> :mod:`.adapters` / :mod:`.manifest`
(which videos, which labels, which split) -> :mod:`.flow` and :mod:`.prepare` (decode once, write
the cache, :mod:`.cache`) -> :mod:`.sampling` and :mod:`.transforms` -> :mod:`.datasets`.

This package imports no torch at import time; :mod:`.datasets` and :mod:`.transforms` do.
"""

from actionlab.data.adapters import ADAPTERS, load_manifest
from actionlab.data.manifest import (
    CANONICAL_12,
    HMDB51_TO_CANONICAL,
    STANFORD40_TO_CANONICAL,
    Manifest,
    Record,
    carve_validation,
    select_classes,
)
from actionlab.data.video import VideoInfo, probe, read_frames

__all__ = [
    "ADAPTERS",
    "CANONICAL_12",
    "HMDB51_TO_CANONICAL",
    "STANFORD40_TO_CANONICAL",
    "Manifest",
    "Record",
    "VideoInfo",
    "build_dataset",
    "carve_validation",
    "load_manifest",
    "probe",
    "read_frames",
    "select_classes",
]


def build_dataset(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy wrapper, see datasets
    """Lazy alias of :func:`actionlab.data.datasets.build_dataset` (imports torch on use)."""
    from actionlab.data.datasets import build_dataset as _build

    return _build(*args, **kwargs)
