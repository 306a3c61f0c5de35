"""Serve tests: a tiny two-stream model behind the app, synthetic uploads."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "infer"))

import _infer_fakes  # noqa: E402


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory):
    """The registry's two_stream model from a real checkpoint (small widths, random weights)."""
    from actionlab.infer.runner import load_runner

    path = _infer_fakes.registry_checkpoint(tmp_path_factory.mktemp("ckpt") / "two_stream.safetensors")
    return load_runner(path)


@pytest.fixture(scope="session")
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def good_clip(upload_dir: Path) -> Path:
    return _infer_fakes.write_video(upload_dir / "jump.mp4", frames=30)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at an empty folder, to see what `serve` leaves there."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _infer_fakes.registry_checkpoint(tmp_path_factory.mktemp("serve-ckpt") / "m.safetensors")


@pytest.fixture
def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
