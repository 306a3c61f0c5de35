"""preprocess(): windows of a decoded video through the data stage's make_input.

Frame i is filled with value i and normalisation is off (mean 0, std 1), so the values of an
input reveal the frame indices it was built from.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from actionlab.errors import CheckpointError, InputError
from actionlab.infer.preprocess import as_spec, dummy_inputs, preprocess
from actionlab.spec import InputSpec


def _frames(n: int = 20, h: int = 32, w: int = 32) -> np.ndarray:
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, h, w, 3)).copy()


def _spec(kind: str = "frame", modality: str = "rgb", **kw: object) -> InputSpec:
    base = {"kind": kind, "modality": modality, "size": (32, 32), "frames": 4, "segments": 3,
            "mean": (0.0,) * 3, "std": (1.0,) * 3, "flow_method": "farneback"}
    if kind == "two_stream":
        base["modality"] = "rgb+flow"
    return InputSpec(**{**base, **kw})


def _values(x: np.ndarray) -> list[int]:
    return [int(round(v)) for v in np.asarray(x).reshape(-1) * 255]


@pytest.mark.parametrize(
    ("kind", "modality", "shape"),
    [
        ("frame", "rgb", (2, 3, 32, 32)),
        ("clip", "rgb", (2, 3, 4, 32, 32)),
        ("clip", "flow", (2, 2, 4, 32, 32)),
        ("tsn", "rgb", (2, 3, 12, 32, 32)),
        ("tsn", "flow", (2, 3, 8, 32, 32)),
        ("tsn", "rgbdiff", (2, 3, 9, 32, 32)),
    ],
)
def test_layouts(kind: str, modality: str, shape: tuple) -> None:
    s = _spec(kind, modality)
    (x,) = preprocess(_frames(), s, starts=[0, 5], length=s.window_span())
    assert x.shape == shape and x.dtype == np.float32


def test_two_stream_streams_and_shapes() -> None:
    s = _spec("two_stream", frames=4)
    rgb, flow = s.streams()
    assert (rgb.kind, rgb.modality, flow.kind, flow.modality) == ("frame", "rgb", "clip", "flow")
    x = preprocess(_frames(), s, starts=[0, 3, 6])
    assert [a.shape for a in x] == [(3, 3, 32, 32), (3, 2, 4, 32, 32)]
    stacked = preprocess(_frames(), dataclasses.replace(s, flow_layout="stack", rgb="clip"))
    assert [a.shape for a in stacked] == [(1, 3, 4, 32, 32), (1, 8, 32, 32)]


def test_precomputed_flow_is_quantised_like_the_cache() -> None:
    s = _spec("two_stream", frames=4)
    q = np.full((19, 32, 32, 2), 200, np.uint8)  # quantised flow as the cache stores it
    _, flow = preprocess(_frames(), s, flow=q)
    assert np.allclose(flow, 200 / 127.5 - 1)


def test_rgb_normalisation_and_centre_frame() -> None:
    (x,) = preprocess(_frames(), _spec("frame"), starts=[0], length=9)
    assert _values(x[0, 0, 0, 0]) == [4]  # the middle of frames 0..8
    s2 = _spec("frame", mean=(0.5,) * 3, std=(0.25,) * 3, size=(8, 8))
    (y,) = preprocess(np.full((1, 8, 8, 3), 255, np.uint8), s2)
    assert np.allclose(y, 2.0)


def test_clip_indices_and_stride() -> None:
    s = _spec("clip", frames=4, stride=2)
    assert s.window_span() == 7
    (x,) = preprocess(_frames(), s, starts=[3], length=7)
    assert _values(x[0, 0, :, 0, 0]) == [3, 5, 7, 9]


def test_tsn_segments_cover_the_window() -> None:
    (x,) = preprocess(_frames(12), _spec("tsn", frames=1, segments=3))
    assert _values(x[0, :, 0, 0, 0]) == [2, 6, 10]


def test_short_video_loops_like_training_data() -> None:
    s = _spec("clip", frames=4, stride=2)
    (x,) = preprocess(_frames(2), s, starts=[0], length=s.window_span())
    assert _values(x[0, 0, :, 0, 0]) == [0, 1, 0, 1]
    (y,) = preprocess(_frames(5), s, starts=[0], length=s.window_span())
    assert _values(y[0, 0, :, 0, 0]) == [0, 1, 2, 3]  # stride falls back to 1


def test_windows_past_the_end_are_cut() -> None:
    (x,) = preprocess(_frames(10), _spec("clip", frames=4), starts=[8], length=4)
    assert _values(x[0, 0, :, 0, 0]) == [8, 9, 8, 9]


def test_rgbdiff() -> None:
    s = _spec("tsn", "rgbdiff", frames=2, segments=1)  # 2 frames, 1 difference; no mean/std
    (x,) = preprocess(_frames(), s, starts=[0], length=5)
    assert np.allclose(x, 1 / 255)


def test_bad_specs_are_one_line() -> None:
    with pytest.raises(InputError, match="unknown kind"):
        InputSpec.from_dict({"kind": "hologram", "size": [8, 8]})
    with pytest.raises(InputError, match="size"):
        InputSpec.from_dict({"kind": "frame", "size": [0, 0]})
    with pytest.raises(InputError, match="size"):
        InputSpec.from_dict({"kind": "frame", "size": [100000, 100000]})
    with pytest.raises(CheckpointError, match="sequence model"):
        as_spec({"input": {"kind": "sequence", "modality": "features", "frames": 8}})


def test_dummy_inputs() -> None:
    shapes = [a.shape for a in dummy_inputs(_spec("two_stream"), batch=2)]
    assert shapes == [(2, 3, 32, 32), (2, 2, 4, 32, 32)]


def test_decoding_follows_the_cache_geometry() -> None:
    short = _spec(short_side=48)
    assert short.decode_size(640, 360) == (85, 48)  # aspect kept
    assert short.decode_size(240, 320) == (48, 64)  # portrait too
    assert _spec(cache_size=(40, 30)).decode_size(640, 360) == (40, 30)
    assert _spec(size=(24, 32)).decode_size(640, 360) == (32, 24)  # default: the model's size


def test_flow_is_the_cache_pass() -> None:
    """Flow is computed once, for the whole video in one sequential pass, as prepare does
    (DIS carries state from pair to pair, so a pair alone would differ)."""
    from actionlab.data.flow import compute_flow
    from actionlab.infer.preprocess import source_of

    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 40, 3), dtype=np.uint8)
    s = _spec("clip", "flow", frames=3, stride=2, flow_method="dis")
    src = source_of(frames, s)
    preprocess(src, s, starts=[4], length=s.window_span())
    assert np.array_equal(src._flow, compute_flow(frames, "dis", 20.0))
