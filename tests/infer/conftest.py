"""Fixtures for the inference tests: synthetic videos and tiny models (see _infer_fakes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _infer_fakes  # noqa: E402


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def clip_mp4(video_dir: Path) -> Path:
    """40 frames, 64x48, 25 fps, H.264."""
    return _infer_fakes.write_video(video_dir / "clip.mp4")


@pytest.fixture(scope="session")
def clip_avi(video_dir: Path) -> Path:
    """30 frames, 48x40, 30 fps, MPEG-4 part 2 in AVI."""
    return _infer_fakes.write_video(video_dir / "clip.avi", frames=30, size=(48, 40), fps=30)


@pytest.fixture(scope="session")
def short_mp4(video_dir: Path) -> Path:
    """2 frames only: shorter than any clip window."""
    return _infer_fakes.write_video(video_dir / "short.mp4", frames=2)


@pytest.fixture(scope="session")
def not_a_video(video_dir: Path) -> Path:
    p = video_dir / "notes.mp4"
    p.write_bytes(b"this is not a video at all\n" * 20)
    return p


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint: the registry's two_stream model (small widths, random weights)."""
    return _infer_fakes.registry_checkpoint(tmp_path_factory.mktemp("ckpt") / "two_stream.safetensors")


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny two-stream model exported to ONNX (no export on the tests' clock)."""
    import torch

    from actionlab.infer.export import export_onnx

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    model = _infer_fakes.TinyTwoStream()
    meta = _infer_fakes.meta("tiny_two_stream", _infer_fakes.spec("two_stream", "rgb+flow"))
    return export_onnx(model, meta, out).path
