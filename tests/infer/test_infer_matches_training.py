"""What predict feeds a model equals what the data stage's eval datasets feed it in training.

A tiny dataset is prepared into a real cache (actionlab.data.prepare); each dataset kind's eval
sample is compared with preprocess() on the same video, decoded by inference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _infer_fakes import write_video

from actionlab.infer.preprocess import decode_video, preprocess


@pytest.fixture(scope="module", params=["jpeg", "raw"])
def cache(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
          ) -> tuple[Path, Path]:
    """A real cache, JPEG-coded (the default; inference codes its frames the same way) or raw."""
    from actionlab.data import load_manifest
    from actionlab.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("ds")
    (root / "a").mkdir()
    video = write_video(root / "a" / "v.mp4", frames=30, size=(64, 48))
    manifest = load_manifest("folder", root)
    out = tmp_path_factory.mktemp("cache")
    prepare(manifest, out, PrepareConfig(size=(40, 32), flow_method="farneback",
                                         compression=request.param), workers=1,
            progress=False)
    return out, video


CASES = [
    ("frame", {}, {"kind": "frame", "modality": "rgb"}),
    ("clip", {"modality": "rgb", "length": 8, "stride": 2},
     {"kind": "clip", "modality": "rgb", "frames": 8, "stride": 2}),
    ("clip", {"modality": "flow", "length": 8, "stride": 2},
     {"kind": "clip", "modality": "flow", "frames": 8, "stride": 2}),
    ("tsn", {"modality": "flow", "num_segments": 3, "length": 5},
     {"kind": "tsn", "modality": "flow", "segments": 3, "frames": 5}),
    ("tsn", {"modality": "rgbdiff", "num_segments": 3, "length": 4},
     {"kind": "tsn", "modality": "rgbdiff", "segments": 3, "frames": 4}),
    ("two_stream", {"flow_length": 8, "flow_stride": 2},
     {"kind": "two_stream", "modality": "rgb+flow", "frames": 8, "stride": 2}),
    ("two_stream", {"flow_length": 6, "flow_stride": 1, "rgb": "clip", "flow_layout": "stack"},
     {"kind": "two_stream", "modality": "rgb+flow", "frames": 6, "stride": 1,
      "params": {"rgb": "clip", "flow_layout": "stack"}}),
]


@pytest.mark.parametrize(("kind", "params", "input_spec"), CASES)
def test_inference_input_equals_eval_sample(cache: tuple[Path, Path], kind: str, params: dict,
                                            input_spec: dict) -> None:
    """By construction: the dataset's spec, stored as a checkpoint stores it and read back,
    drives the same make_input on frames decoded (and flow computed) as prepare does."""
    from actionlab.data import build_dataset
    from actionlab.spec import InputSpec

    cache_dir, video = cache
    ds = build_dataset(cache_dir, kind, "train", train=False, size=(32, 32), **params)
    x, _ = ds[0]
    expected = [t.numpy() for t in (x if isinstance(x, tuple) else (x,))]
    spec = InputSpec.from_dict(ds.spec())  # what a checkpoint stores and inference reads
    assert spec == ds.input_spec and spec.cache_size == (40, 32)
    decoded = decode_video(video, spec)
    got = preprocess(decoded, spec)  # the whole video as one window
    assert [g.shape[1:] for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert np.array_equal(g[0], e), kind  # identical, flow included


def test_old_spec_keys_still_read(cache: tuple[Path, Path]) -> None:
    """A checkpoint written before the InputSpec (dataset keys, params) reads the same spec."""
    from actionlab.spec import InputSpec

    for kind, params, old in CASES:
        old = {"size": [32, 32], "flow": {"method": "farneback", "bound": 20.0},
               "prepare": {"size": [40, 32]}, **old}
        spec = InputSpec.from_dict(old)
        assert (spec.kind, spec.cache_size, spec.flow_method) == (kind, (40, 32), "farneback")
        if kind == "two_stream":
            assert spec.rgb == params.get("rgb", "frame")
            assert spec.flow_layout == params.get("flow_layout", "clip")
            assert (spec.frames, spec.stride) == (params["flow_length"], params["flow_stride"])
