"""Serve tests: a tiny two-stream model behind the app, synthetic uploads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "infer"))

import _fakes  # noqa: E402
import _standins  # noqa: E402

_standins.install()


@pytest.fixture(scope="session")
def runner():
    import torch

    from actionlab.infer.runner import TorchRunner

    torch.manual_seed(0)
    return TorchRunner(
        _fakes.TinyTwoStream(),
        _fakes.meta("tiny_two_stream", _fakes.spec("two_stream", "rgb+flow", frames=4, stride=2)),
    )


@pytest.fixture(scope="session")
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def good_clip(upload_dir: Path) -> Path:
    return _fakes.write_video(upload_dir / "jump.mp4", frames=30)
