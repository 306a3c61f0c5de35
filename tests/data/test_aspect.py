"""Aspect-true inputs: a portrait, a 4:3 and a 16:9 video keep their shape in the cache (stored
at a short side) and in what the datasets yield (crops, never squashes), within a pixel."""

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


def _extent(img: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """(width, height) of the bright disc in a (H, W) image, with sub-pixel edges."""
    a = np.asarray(img, dtype=np.float64)
    a = (a - a.min()) / max(a.max() - a.min(), 1e-9)
    return float(a.max(0).sum()), float(a.max(1).sum())  # mass of the brightest row/column


@pytest.fixture(scope="module")
def shaped_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    for name, (w, h) in SHAPES.items():
        write_video(root / name / f"{name}.mp4", _disc_frames(w, h))
    out = tmp_path_factory.mktemp("shapes_cache")
    prepare(folder(root), out, PrepareConfig(size=None, short_side=SHORT, inputs=("rgb",)),
            workers=1, progress=False)
    return out


def test_cache_keeps_the_aspect_ratio(shaped_cache: Path) -> None:
    cache = Cache(shaped_cache)
    for rec in cache.records():
        w, h = SHAPES[rec.label_name]
        frame = cache.rgb(rec, np.array([0]))[0]
        fh, fw = frame.shape[:2]
        assert min(fh, fw) == SHORT
        assert abs(fw - fh * w / h) <= 1.0, (rec.label_name, fw, fh)
        dw, dh = _extent(frame[..., 0])
        assert abs(dw - dh) <= 1.0, (rec.label_name, dw, dh)


@pytest.mark.parametrize("size", [SHORT, 40])
def test_eval_crops_keep_the_aspect_ratio(shaped_cache: Path, size: int) -> None:
    """What the model sees at evaluation: the disc stays round (a squash makes an ellipse)."""
    ds = build_dataset(shaped_cache, "clip", "train", train=False, modality="rgb", length=4,
                       size=(size, size))
    for i, rec in enumerate(ds.records):
        x, _ = ds[i]  # (3, T, H, W)
        assert tuple(x.shape[-2:]) == (size, size)
        dw, dh = _extent(x[0, 0])
        assert abs(dw - dh) <= 1.0, (rec.label_name, dw, dh)
        assert abs(dw - 0.7 * SHORT) <= 2.0  # cropped, not scaled


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


def test_the_squash_option_is_still_there_and_distorts(shaped_cache: Path) -> None:
    """``crop: resize`` squashes the whole frame: the check above would catch it."""
    ds = build_dataset(shaped_cache, "frame", "train", train=False, size=(SHORT, SHORT),
                       transform_kw={"crop": "resize"})
    ratios = {}
    for i, rec in enumerate(ds.records):
        dw, dh = _extent(ds[i][0][0])
        ratios[rec.label_name] = dw / dh
    assert ratios["portrait"] > 1.4 and ratios["sixteen_nine"] < 0.7
