"""A clip of any shape reaches the model without distortion: cached by its short side, cropped.

Each video shows a bright square (side a third of the short side) on black. Through prepare
(``--short-side``), the cached dataset and inference (predict/timeline/serve share
``preprocess``), the square must stay square in what the model sees; squashing the frame to a
fixed size, the old default, would stretch it for every non-square video.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

SHAPES = {"portrait": (120, 216), "4x3": (160, 120), "16x9": (224, 126), "1080p": (1920, 1080)}


def _square_video(path: Path, w: int, h: int, frames: int = 6) -> Path:
    side = min(w, h) // 3
    img = np.zeros((h, w, 3), np.uint8)
    top, left = (h - side) // 2, (w - side) // 2
    img[top : top + side, left : left + side] = 255
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _square_aspect(x: np.ndarray) -> float:
    """Width / height of the bright region of a (3, H, W) normalised frame."""
    bright = x.mean(0) > x.mean()
    rows, cols = np.flatnonzero(bright.any(1)), np.flatnonzero(bright.any(0))
    return (cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1)


@pytest.fixture(scope="module")
def shaped_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from actionlab.data.adapters import folder
    from actionlab.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("shapes")
    for name, (w, h) in SHAPES.items():
        (root / name).mkdir()
        _square_video(root / name / f"{name}.mp4", w, h)
    out = tmp_path_factory.mktemp("cache")
    prepare(folder(root), out, PrepareConfig(size=None, short_side=48, inputs=("rgb",)),
            workers=1, progress=False)  # JPEG: inference codes its frames the same way
    return root, out


def test_cache_dataset_and_inference_keep_the_aspect(shaped_cache: tuple[Path, Path]) -> None:
    from actionlab.data import build_dataset
    from actionlab.infer.preprocess import decode_video, preprocess

    _, cache = shaped_cache
    ds = build_dataset(cache, "frame", "all", train=False, size=(32, 32))
    assert ds.input_spec.short_side == 48 and ds.input_spec.cache_size is None
    seen = set()
    for i, rec in enumerate(ds.records):
        w, h = SHAPES[rec.label_name]
        stored = ds.cache.rgb(rec, np.array([0]))[0]
        assert min(stored.shape[:2]) == 48
        assert stored.shape[1] / stored.shape[0] == pytest.approx(w / h, rel=0.03)  # aspect kept
        x, _ = ds[i]
        assert _square_aspect(x.numpy()) == pytest.approx(1.0, abs=0.1), rec.label_name
        video = ds.cache.manifest.abspath(rec)
        (got,) = preprocess(decode_video(video, ds.input_spec), ds.input_spec)
        assert np.array_equal(got[0], x.numpy()), rec.label_name  # inference sees the same
        seen.add(rec.label_name)
    assert seen == set(SHAPES)


def test_squashing_would_distort(shaped_cache: tuple[Path, Path], tmp_path: Path) -> None:
    """The check above can fail: an exact-size cache squashes the portrait square."""
    from actionlab.data import build_dataset
    from actionlab.data.adapters import folder
    from actionlab.data.prepare import PrepareConfig, prepare

    root, _ = shaped_cache
    prepare(folder(root), tmp_path / "c", PrepareConfig(size=(32, 32), inputs=("rgb",)),
            workers=1, progress=False)
    ds = build_dataset(tmp_path / "c", "frame", "all", train=False, size=(32, 32))
    portrait = next(i for i, r in enumerate(ds.records) if r.label_name == "portrait")
    assert _square_aspect(ds[portrait][0].numpy()) > 1.4  # stretched sideways


def test_fit_shows_the_whole_frame_undistorted(shaped_cache: tuple[Path, Path]) -> None:
    """``crop: fit`` (the UT-Interaction recipe's view): the whole frame, aspect kept, padded
    with the mean colour (zero after normalising), the same in training, evaluation and
    inference."""
    from dataclasses import replace

    from actionlab.data import build_dataset
    from actionlab.infer.preprocess import decode_video, preprocess

    _, cache = shaped_cache
    base = build_dataset(cache, "frame", "all", train=False, size=(32, 32)).input_spec
    spec = replace(base, size=(60, 100), transform=(("crop", "fit"),))
    ds = build_dataset(cache, spec, "all", train=False)
    for i, rec in enumerate(ds.records):
        w, h = SHAPES[rec.label_name]
        x = ds[i][0].numpy()  # (3, 60, 100)
        content = np.abs(x).max(0) > 1e-6  # black frame != the zero padding
        rows, cols = np.flatnonzero(content.any(1)), np.flatnonzero(content.any(0))
        fh, fw = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert fh == 60 or fw == 100, rec.label_name  # as large as the canvas allows
        assert fw / fh == pytest.approx(w / h, rel=0.12), rec.label_name  # the whole frame
        bright = x.mean(0) > 1.0  # white; black is about -2 and the padding 0 after normalising
        rows, cols = np.flatnonzero(bright.any(1)), np.flatnonzero(bright.any(0))
        side_w, side_h = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
        assert side_w / side_h == pytest.approx(1.0, abs=0.2), rec.label_name  # still square
        (got,) = preprocess(decode_video(ds.cache.manifest.abspath(rec), spec), spec)
        assert np.array_equal(got[0], x), rec.label_name
