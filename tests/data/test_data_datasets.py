from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _data_media import level_of
from torch.utils.data import DataLoader

from actionlab.data.cache import Cache
from actionlab.data.datasets import build_dataset
from actionlab.spec import CACHE_KINDS
from actionlab.errors import DatasetError, InputError

H = W = 32  # default output: the cache's shorter side, square

CASES = [
    ("frame", {}, (3, H, W)),
    ("frame", {"sample": "random"}, (3, H, W)),
    ("tsn", {}, (3, 3, H, W)),
    ("tsn", {"modality": "flow", "num_segments": 2, "length": 5}, (2, 10, H, W)),
    ("tsn", {"modality": "rgbdiff", "length": 4}, (3, 9, H, W)),
    ("clip", {"length": 8, "stride": 2}, (3, 8, H, W)),
    ("clip", {"modality": "flow", "length": 16}, (2, 16, H, W)),
]


@pytest.mark.parametrize("kind,params,shape", CASES)
@pytest.mark.parametrize("train", [True, False])
def test_shapes(prepared: Path, kind: str, params: dict, shape: tuple, train: bool) -> None:
    ds = build_dataset(prepared, kind, "train", train=train, **params)
    for i in range(len(ds)):  # includes the 3-frame clip: loops, never fails
        x, y = ds[i]
        assert tuple(x.shape) == shape and x.dtype == torch.float32
        assert torch.isfinite(x).all() and y == ds.records[i].label
    assert ds.num_classes == 3 and ds.spec()["kind"] == kind


def test_eval_is_deterministic_and_uses_the_middle_frame(prepared: Path) -> None:
    ds = build_dataset(prepared, "frame", "val", transform=lambda x, gen=None: x)
    for i, rec in enumerate(ds.records):
        x, _ = ds[i]
        frame = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert level_of(frame) == rec.frames // 2
    ds = build_dataset(prepared, "tsn", "val", modality="flow")
    assert torch.equal(ds[0][0], ds[0][0])


def test_multi_clip_eval(prepared: Path) -> None:
    ds = build_dataset(prepared, "clip", "val", num_clips=3, length=4)
    assert tuple(ds[0][0].shape) == (3, 3, 4, H, W)


def test_two_stream(prepared: Path) -> None:
    ds = build_dataset(prepared, "two_stream", "train", flow_length=16, flow_stride=2)
    (rgb, flow), y = ds[0]
    assert rgb.shape == (3, H, W) and flow.shape == (2, 16, H, W)
    ds = build_dataset(prepared, "two_stream", "val", rgb="clip", flow_layout="stack",
                       flow_length=4)
    (rgb, flow), _ = ds[0]
    assert rgb.shape == (3, 4, H, W) and flow.shape == (8, H, W)


def test_loader_batches_with_workers(prepared: Path) -> None:
    ds = build_dataset(prepared, "two_stream", "train", flow_length=4, size=24)
    torch.manual_seed(0)
    (rgb, flow), y = next(iter(DataLoader(ds, batch_size=4, num_workers=2)))
    assert rgb.shape == (4, 3, 24, 24) and flow.shape == (4, 2, 4, 24, 24) and y.shape == (4,)


def test_training_samples_reproducible_from_torch_seed(prepared: Path) -> None:
    ds = build_dataset(prepared, "tsn", "train", modality="rgb", transform_kw={"rotation": 5})
    torch.manual_seed(1)
    a = ds[0][0]
    torch.manual_seed(1)
    assert torch.equal(a, ds[0][0])


def test_errors(prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown dataset kind"):
        build_dataset(prepared, "video", "train")
    with pytest.raises(DatasetError, match="no records in split 'test'"):
        build_dataset(prepared, "frame", "test")
    with pytest.raises(DatasetError, match="run `actionlab prepare`"):
        Cache(tmp_path)
    assert set(CACHE_KINDS) == {"frame", "tsn", "clip", "two_stream"}


def test_tensors_from_the_cache_are_planar_and_exact() -> None:
    # channels-last strided float tensors made the resize 1.8x and the normalisation 9x slower
    from actionlab.data.datasets import flow_tensor, rgb_tensor

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x = rgb_tensor(frames)
    assert x.shape == (3, 3, 5, 7) and x.is_contiguous()
    assert torch.equal(x[1, 2], torch.from_numpy(frames[1, :, :, 2]).float() / 255.0)
    q = rng.integers(0, 256, (2, 4, 6, 2), dtype=np.uint8)
    f = flow_tensor(q)
    assert f.shape == (2, 2, 4, 6) and f.is_contiguous()
    assert torch.allclose(f[0, 1], torch.from_numpy(q[0, :, :, 1]).float() / 127.5 - 1.0)


@pytest.mark.parametrize("kind,params", [
    ("clip", {"length": 4, "stride": 2}),
    ("tsn", {"modality": "rgbdiff", "num_segments": 2, "length": 3}),
    ("frame", {"sample": "random"}),
])
def test_video_source_gives_the_cached_sample(prepared: Path, kind: str, params: dict) -> None:
    """Decoding the source video on the fly gives the cached RGB sample, indices and
    augmentation included, for the same seed: the same make_input on another FrameSource."""
    from actionlab.data.inputs import VideoSource, make_input

    ds = build_dataset(prepared, kind, "train", train=True, **params)
    rec = ds.records[0]
    spec = ds.input_spec
    video = VideoSource(str(ds.cache.manifest.abspath(rec)), int(rec.frames), spec.cache_size,
                        spec.flow_method, spec.flow_bound)
    for seed in (0, 1):
        torch.manual_seed(seed)
        cached, _ = ds[0]
        torch.manual_seed(seed)
        rng, gen = ds._rng()
        live = make_input(spec, video, True, rng, gen, ds.transforms)
        for a, b in zip(cached if isinstance(cached, tuple) else (cached,),
                        live if isinstance(live, tuple) else (live,), strict=True):
            assert torch.equal(a, b), kind


def test_source_video_reads_rgb_from_the_videos(prepared: Path, monkeypatch) -> None:
    """data.source=video: RGB decoded from the source files (the cache's RGB is never read),
    flow from the cache; the same sample for the same seed."""
    from actionlab.data.cache import Cache

    cached = build_dataset(prepared, "two_stream", "train", flow_length=4, flow_stride=1)
    live = build_dataset(prepared, "two_stream", "train", flow_length=4, flow_stride=1,
                         source="video")
    monkeypatch.setattr(Cache, "rgb", lambda *a: (_ for _ in ()).throw(AssertionError("cache")))
    torch.manual_seed(3)
    rgb, flow = live[1][0]
    monkeypatch.undo()
    torch.manual_seed(3)
    rgb0, flow0 = cached[1][0]
    assert torch.equal(rgb, rgb0) and torch.equal(flow, flow0)
    with pytest.raises(InputError, match="data source"):
        build_dataset(prepared, "frame", "train", source="tape")


def test_auto_workers() -> None:
    from actionlab.train.run import auto_workers

    assert auto_workers("cache", cuda=False) == 0
    assert 1 <= auto_workers("video", cuda=False) <= 8
    assert 1 <= auto_workers("cache", cuda=True) <= 8
