"""Fixtures for the trainer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import config


@pytest.fixture()
def tiny_cfg(tmp_path: Path):
    return lambda *ov: config(tmp_path, *ov)
