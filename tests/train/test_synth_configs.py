"""Every ``-synth`` config trains for one batch with the real registry and data factory
(on a tiny cache written by the test; transfer from earlier runs switched off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actionlab.config import CONFIGS as SHIPPED
from actionlab.config import load_config
from train_helpers import fake_cache

CONFIGS = sorted(SHIPPED.glob("*-synth.yaml"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return fake_cache(tmp_path_factory.mktemp("cache32"), size=32, frames=10)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_synth_config_runs(tmp_path: Path, cache: Path, path: Path) -> None:
    from actionlab.train.run import train

    cfg = load_config(path)
    if cfg.data.kind == "sequence":
        pytest.skip("trains on extracted features (tests/train/test_lrcn.py)")
    cfg = load_config(path, [f"data.cache_dir={cache}", f"train.out_dir={tmp_path}",
                             "train.epochs=1", "train.max_steps=1", "train.progress=false",
                             "model.init.path=", "model.init.streams={}",
                             "data.batch_size=2", f"joint.second.cache_dir={cache}"])
    run = train(cfg)
    assert (run / "last.safetensors").is_file()
