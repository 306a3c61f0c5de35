"""Fixtures: tiny test videos and bad files, written by the tests (see _data_media)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _data_media import ramp_frames, write_audio_only, write_video


@pytest.fixture(scope="session")
def clip_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder-per-class tree: 3 classes x 4 ramp videos (20-30 frames, 64x48) + one still."""
    root = tmp_path_factory.mktemp("tree")
    for c, cls in enumerate(("jumping", "running", "waving")):
        for k in range(4):
            n = 20 + 3 * k + c
            ext = ".avi" if k == 3 else ".mp4"
            codec = "mpeg4" if ext == ".avi" else "libx264"
            write_video(root / cls / f"{cls}_{k}{ext}", ramp_frames(n), codec=codec)
    import cv2

    cv2.imwrite(str(root / "waving" / "still.jpg"), np.full((48, 64, 3), 90, np.uint8))
    return root


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per kind of bad input."""
    d = tmp_path_factory.mktemp("bad")
    good = write_video(d / "good.mp4", ramp_frames(30))
    data = good.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n")
    return {
        "good": good,
        "truncated": d / "truncated.mp4",
        "empty": d / "empty.mp4",
        "text": d / "text.mp4",
        "audio": write_audio_only(d / "audio.mp4"),
        "short": write_video(d / "short.mp4", ramp_frames(3)),
        "missing": d / "missing.mp4",
    }


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory, clip_tree: Path) -> Path:
    """The clip tree (videos only, plus a 3-frame clip) prepared at 40x32 with rgb and flow."""
    from actionlab.data.adapters import folder
    from actionlab.data.manifest import carve_validation
    from actionlab.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("tree_prep")
    import shutil

    for cls in ("jumping", "running", "waving"):
        shutil.copytree(clip_tree / cls, root / cls, ignore=shutil.ignore_patterns("*.jpg"))
    write_video(root / "waving" / "tiny.mp4", ramp_frames(3))
    m = carve_validation(folder(root), 0.25, seed=0)
    out = tmp_path_factory.mktemp("cache")
    # raw: dataset tests compare samples bit for bit with frames decoded on the fly (the JPEG
    # cache against raw: test_cache_compressed.py)
    prepare(m, out, PrepareConfig(size=(40, 32), inputs=("rgb", "flow"), compression="raw"),
            workers=2, progress=False)
    return out
