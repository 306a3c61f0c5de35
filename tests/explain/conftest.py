"""The explain tests share the inference tests' helpers (tests/infer/_infer_fakes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "infer"))

import _infer_fakes  # noqa: E402


@pytest.fixture(scope="session")
def explain_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _infer_fakes.write_video(tmp_path_factory.mktemp("explain") / "clip.mp4", frames=24)


@pytest.fixture(scope="session")
def explain_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint: the registry's two_stream model (small widths, random weights)."""
    folder = tmp_path_factory.mktemp("ckpt")
    return _infer_fakes.registry_checkpoint(folder / "two_stream.safetensors")
