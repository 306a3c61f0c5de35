"""preprocess(): one function, every kind and modality, exact layouts and indices."""

from __future__ import annotations

import numpy as np
import pytest
from _infer_fakes import spec

from actionlab.errors import CheckpointError
from actionlab.infer.preprocess import (
    dummy_inputs,
    preprocess,
    sample_indices,
    stream_specs,
    window_span,
)


def _frames(n: int = 20, h: int = 32, w: int = 32) -> np.ndarray:
    # Frame i is filled with value i, so gathered values reveal the indices used.
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, h, w, 3)).copy()


def _raw(s: dict) -> dict:
    return {**s, "mean": [0.0] * 3, "std": [1.0] * 3}


@pytest.mark.parametrize(
    ("kind", "modality", "shape"),
    [
        ("frame", "rgb", (2, 3, 32, 32)),
        ("frame", "flow", (2, 8, 32, 32)),
        ("frame", "rgbdiff", (2, 9, 32, 32)),  # 4 frames, 3 differences
        ("clip", "rgb", (2, 3, 4, 32, 32)),
        ("clip", "flow", (2, 2, 4, 32, 32)),
        ("sequence", "rgb", (2, 4, 3, 32, 32)),
        ("tsn", "rgb", (2, 3, 3, 32, 32)),
        ("tsn", "flow", (2, 3, 8, 32, 32)),
    ],
)
def test_layouts(kind: str, modality: str, shape: tuple) -> None:
    s = spec(kind, modality)
    flow = np.zeros((20, 32, 32, 2), np.float32)
    (x,) = preprocess(_frames(), s, flow=flow, starts=[0, 5], length=window_span(s))
    assert x.shape == shape and x.dtype == np.float32


def test_two_stream_default_streams() -> None:
    s = spec("two_stream", "rgb+flow", frames=4)
    rgb, flow = stream_specs(s)
    assert (rgb["kind"], rgb["modality"], flow["kind"], flow["modality"]) == (
        "frame", "rgb", "clip", "flow")
    x = preprocess(_frames(), s, flow=np.ones((20, 32, 32, 2), np.float32), starts=[0, 3, 6])
    assert [a.shape for a in x] == [(3, 3, 32, 32), (3, 2, 4, 32, 32)]
    # Quantised with the bound as the cache does, then q / 127.5 - 1; no RGB statistics.
    assert np.allclose(x[1], np.rint(21 * 255 / 40) / 127.5 - 1)


def test_two_stream_explicit_streams_inherit_size() -> None:
    s = {"kind": "two_stream", "modality": "rgb+flow", "size": [16, 24], "streams": [
        {"kind": "frame", "modality": "rgb"},
        {"kind": "frame", "modality": "flow", "frames": 5},
    ]}
    x = preprocess(_frames(h=16, w=24), s, flow=np.zeros((20, 16, 24, 2), np.float32))
    assert [a.shape for a in x] == [(1, 3, 16, 24), (1, 10, 16, 24)]


def test_rgb_normalisation_and_centre_frame() -> None:
    s = _raw(spec("frame", "rgb"))
    (x,) = preprocess(_frames(), s, starts=[0], length=9)
    assert np.allclose(x, 4 / 255)  # the middle of frames 0..8
    s2 = spec("frame", "rgb", mean=[0.5] * 3, std=[0.25] * 3)
    (y,) = preprocess(np.full((1, 8, 8, 3), 255, np.uint8), {**s2, "size": [8, 8]})
    assert np.allclose(y, 2.0)


def test_clip_indices_and_stride() -> None:
    s = _raw(spec("clip", "rgb", frames=4, stride=2))
    assert window_span(s) == 7
    assert list(sample_indices(s, 7)) == [0, 2, 4, 6]
    (x,) = preprocess(_frames(), s, starts=[3], length=7)
    assert np.allclose(x[0, 0, :, 0, 0] * 255, [3, 5, 7, 9])


def test_tsn_segments_cover_the_window() -> None:
    s = _raw(spec("tsn", "rgb", segments=3))
    assert list(sample_indices(s, 12)[:, 0]) == [2, 6, 10]
    f = _raw(spec("tsn", "flow", segments=2, frames=3))
    assert sample_indices(f, 13).tolist() == [[2, 3, 4], [7, 8, 9]]  # 12 flows, 10 starts


def test_flow_snippet_is_centred() -> None:
    s = _raw(spec("frame", "flow", frames=4, stride=1))
    assert window_span(s) == 5
    assert list(sample_indices(s, 5)) == [0, 1, 2, 3]


def test_short_video_loops_like_training_data() -> None:
    s = _raw(spec("clip", "rgb", frames=4, stride=2))
    (x,) = preprocess(_frames(2), s, starts=[0], length=window_span(s))
    assert np.allclose(x[0, 0, :, 0, 0] * 255, [0, 1, 0, 1])
    (y,) = preprocess(_frames(5), s, starts=[0], length=window_span(s))
    assert np.allclose(y[0, 0, :, 0, 0] * 255, [0, 1, 2, 3])  # stride falls back to 1


def test_windows_past_the_end_are_cut() -> None:
    s = _raw(spec("clip", "rgb", frames=4))
    (x,) = preprocess(_frames(10), s, starts=[8], length=4)
    assert np.allclose(x[0, 0, :, 0, 0] * 255, [8, 9, 8, 9])


def test_rgbdiff() -> None:
    s = spec("frame", "rgbdiff", frames=2)  # 2 frames, 1 difference; never mean/std
    (x,) = preprocess(_frames(), s, starts=[0], length=5)
    assert np.allclose(x, 1 / 255)


def test_unknown_kind_is_a_checkpoint_error() -> None:
    with pytest.raises(CheckpointError, match="unknown kind"):
        stream_specs({"kind": "hologram", "size": [8, 8]})
    with pytest.raises(CheckpointError, match="size"):
        dummy_inputs({"kind": "frame", "modality": "rgb"})


def test_dummy_inputs() -> None:
    shapes = [a.shape for a in dummy_inputs(spec("two_stream", "rgb+flow"), batch=2)]
    assert shapes == [(2, 3, 32, 32), (2, 2, 4, 32, 32)]


def test_dataset_style_spec_keys() -> None:
    tsn = {"kind": "tsn", "modality": "flow", "size": [32, 32], "num_segments": 3, "length": 5}
    (x,) = preprocess(_frames(), tsn, flow=np.zeros((19, 32, 32, 2), np.float32))
    assert x.shape == (1, 3, 10, 32, 32)
    two = {"kind": "two_stream", "modality": "rgb+flow", "size": [32, 32], "rgb": "frame",
           "flow_length": 6, "flow_stride": 2, "flow_layout": "stack"}
    rgb, flow = preprocess(_frames(), two, flow=np.zeros((19, 32, 32, 2), np.float32))
    assert rgb.shape == (1, 3, 32, 32) and flow.shape == (1, 12, 32, 32)
    assert window_span(two) == 12


def test_imagenet_defaults_match_the_data_stage() -> None:
    from actionlab.data import transforms
    from actionlab.infer import preprocess as pp

    assert pp.IMAGENET_MEAN == transforms.IMAGENET_MEAN and pp.IMAGENET_STD == transforms.IMAGENET_STD


def test_fit_frames_follows_the_cache_geometry() -> None:
    from actionlab.infer.preprocess import decode_size, fit_frames

    s = spec("frame", "rgb", size=[32, 32])
    assert decode_size(s, 320, 240) == (32, 32)  # cache at the model size: squashed
    assert decode_size({**s, "prepare": {"short_side": 40}}, 320, 240) == (53, 40)
    assert decode_size({**s, "prepare": {"size": [40, 32]}}, 320, 240) == (40, 32)
    wide = np.zeros((1, 40, 80, 3), np.uint8)
    wide[:, :, 20:60] = 255  # the centre half is white
    assert fit_frames(wide, s).shape == (1, 32, 32, 3) and fit_frames(wide, s).min() == 0
    cropped = fit_frames(wide, {**s, "prepare": {"short_side": 32}})  # 64x32, centre 32x32
    assert cropped.shape == (1, 32, 32, 3) and cropped.min() == 255


def test_feature_sequence_models_get_a_clear_message() -> None:
    with pytest.raises(CheckpointError, match="LRCN"):
        stream_specs({"kind": "sequence", "modality": "features", "frames": 120})


def test_flow_only_where_it_is_read() -> None:
    from actionlab.data.flow import compute_flow
    from actionlab.infer.preprocess import flow_for_video, needed_flow

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (21, 32, 32, 3), dtype=np.uint8)
    s = spec("clip", "flow", frames=4, stride=2, flow={"method": "farneback", "bound": 20.0})
    need = needed_flow(s, 21, [0, 8], 9)
    assert need.tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
    part = flow_for_video(frames, s, need)
    full = compute_flow(frames, "farneback")
    assert np.array_equal(part[need], full[need]) and not part[1].any()
    a = preprocess(frames, s, flow=full, starts=[0, 8], length=9)
    b = preprocess(frames, s, starts=[0, 8], length=9)  # computes just what it reads
    assert np.array_equal(a[0], b[0])
