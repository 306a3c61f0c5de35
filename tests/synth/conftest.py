"""A tiny synthetic set shared by the synth tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actionlab.synth import synth

TINY = dict(
    clips_per_class=2, stills_per_class=2, long_videos=2, size=(32, 32), still_size=(32, 32),
    long_size=(64, 48), fps=10.0, frames=8, long_duration=(10.0, 12.0), seed=3, workers=1,
    progress=False,
)


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "set"
    synth(out, **TINY)
    return out
