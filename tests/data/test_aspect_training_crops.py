"""Aspect-true training inputs: from a portrait, a 4:3 and a 16:9 video cached at a short side,
the training crops are windows of the cached frames, so no training sample is resampled or
distorted (tests/infer/test_aspect.py checks the cache, evaluation and inference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _data_media import write_video

from actionlab.data import build_dataset
from actionlab.data.adapters import folder
from actionlab.data.cache import Cache
from actionlab.data.prepare import PrepareConfig, prepare

SHAPES = {"portrait": (72, 128), "four_three": (128, 96), "sixteen_nine": (160, 90)}  # (W, H)
SHORT = 48


def _disc_frames(w: int, h: int, n: int = 6) -> np.ndarray:
    """n frames: a white disc (diameter 0.7 x the short side) centred on black."""
    yy, xx = np.mgrid[:h, :w]
    r = 0.35 * min(w, h)
    disc = ((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) <= r * r
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, disc] = 255
    return frames


@pytest.fixture(scope="module")
def shaped_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    for name, (w, h) in SHAPES.items():
        write_video(root / name / f"{name}.mp4", _disc_frames(w, h))
    out = tmp_path_factory.mktemp("shapes_cache")
    prepare(folder(root), out, PrepareConfig(size=None, short_side=SHORT, inputs=("rgb",)),
            workers=1, progress=False)
    return out


@pytest.mark.parametrize("size", [SHORT, 40])
def test_training_crops_are_windows_of_the_cached_frame(shaped_cache: Path, size: int) -> None:
    """In training the model sees a window of the aspect-true frame (maybe mirrored), at the
    cache's scale: no resampling, so no distortion, wherever the random crop falls."""
    torch.manual_seed(0)
    ds = build_dataset(shaped_cache, "frame", "train", train=True, size=(size, size),
                       transform_kw={"crop": "random", "flip": True})
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    cache = Cache(shaped_cache)
    for _ in range(3):
        for i, rec in enumerate(ds.records):
            x = (ds[i][0] * std + mean).numpy()[0]  # (H, W), the red channel in [0, 1]
            n = int(rec.frames or 1)
            frame = cache.rgb(rec, np.array([n // 2]))[0][..., 0] / 255.0
            fh, fw = frame.shape
            found = any(
                np.abs(win - x).max() < 1e-4
                for top in range(fh - size + 1) for left in range(fw - size + 1)
                for win in (frame[top:top + size, left:left + size],
                            frame[top:top + size, left:left + size][:, ::-1])
            )
            assert found, rec.label_name
