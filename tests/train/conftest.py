"""Fixtures for the trainer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import PoolNet, config

from actionlab.spec import in_channels


@pytest.fixture()
def tiny_cfg(tmp_path: Path):
    return lambda *ov: config(tmp_path, *ov)


@pytest.fixture()
def registry(monkeypatch):
    """A stand-in ``build_model`` (the test does not depend on the models package)."""
    import actionlab.train.run as run

    def build_model_from_config(cfg, num_classes):
        kwargs = {"num_classes": num_classes, "in_channels": in_channels(cfg.data.kind, cfg.data.modality, cfg.data.frames) or 3,
                  **cfg.model.kwargs}
        return PoolNet(**kwargs), {"name": "poolnet", "kwargs": kwargs}

    monkeypatch.setattr(run, "build_model_from_config", build_model_from_config)
