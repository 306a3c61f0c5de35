"""Fast paths of the cache and the transforms give what the plain ways give.

Cache reads: uncompressed entries are read through a memory map, compressed ones through
h5py; both must equal a frame-by-frame h5py read for any index order. Transforms: the faster
upsampling, in-place flip and in-place normalisation must stay within a stated tolerance of
the formulas they replace (antialiased ``F.interpolate``, ``x.flip(-1)``, ``(x - mean) / std``).
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actionlab.data import transforms as T
from actionlab.data.cache import Cache, _Contiguous, video_file, write_entry
from actionlab.data.manifest import Manifest, Record
from actionlab.errors import DatasetError

# Upsampling: OpenCV's and torch's bilinear weights differ in float rounding only. Measured
# worst case 1.7e-5 on [-1, 1] data (torch's own error against a float64 reference, e.g. at
# 73 -> 112; OpenCV's is 2e-7 there), about 1/230 of one uint8 step of [0, 1] RGB.
UPSAMPLE_ATOL = 3e-5

FRAMES, H, W = 12, 9, 7
INDICES = {
    "increasing": [0, 1, 2, 3],
    "strided": [1, 3, 5, 7, 9],
    "repeated": [4, 4, 0, 0, 4],
    "unordered": [8, 2, 10, 0, 5],
    "one": [6],
    "none": [],
}


def _cache(root: Path) -> tuple[Cache, dict[str, Record], dict[str, dict[str, np.ndarray]]]:
    """One entry per compression, random rgb and flow."""
    rng = np.random.default_rng(0)
    records, data = {}, {}
    for comp in ("none", "lzf", "gzip"):
        rgb = rng.integers(0, 256, (FRAMES, H, W, 3), dtype=np.uint8)
        flow = rng.integers(0, 256, (FRAMES - 1, H, W, 2), dtype=np.uint8)
        write_entry(video_file(root, comp), rgb, flow, {"frames": FRAMES, "fps": 25.0}, comp)
        records[comp] = Record(f"a/{comp}.mp4", 0, "a", "train", FRAMES, 25.0, W, H, comp)
        data[comp] = {"rgb": rgb, "flow": flow}
    Manifest(["a"], list(records.values()), "folder", str(root),
             {"prepare": {"inputs": ["rgb", "flow"]}}).save(root / "manifest.json")
    return Cache(root), records, data


@pytest.fixture()
def entries(tmp_path: Path):
    return _cache(tmp_path)


@pytest.mark.parametrize("comp", ["none", "lzf", "gzip"])
@pytest.mark.parametrize("order", sorted(INDICES))
def test_reads_equal_h5py_frame_by_frame(entries, comp: str, order: str) -> None:
    cache, records, data = entries
    rec, idx = records[comp], np.array(INDICES[order], dtype=np.int64)
    with h5py.File(video_file(cache.dir, rec.key), "r") as f:
        for name, read in (("rgb", cache.rgb), ("flow", cache.flow)):  # 12 and 11 frames
            want = np.stack([f[name][i] for i in idx]) if len(idx) else f[name][:0]
            got = read(rec, idx)
            assert got.dtype == np.uint8 and got.shape == want.shape
            assert np.array_equal(got, want), (name, comp, order)
            assert np.array_equal(got, data[comp][name][idx])
            # An array of its own: writable and contiguous (torch.from_numpy needs that).
            assert got.flags.writeable and got.flags.c_contiguous
            got[...] = 0
            assert np.array_equal(read(rec, idx), want)


def test_uncompressed_entries_are_read_directly_compressed_ones_by_h5py(entries) -> None:
    cache, records, _ = entries
    cache.rgb(records["none"], [0])
    cache.rgb(records["lzf"], [0])
    direct, chunked = cache._files["none"], cache._files["lzf"]
    assert all(isinstance(a, _Contiguous) for a in direct.arrays.values())
    assert direct.file is None  # nothing left for h5py: its file is closed again
    assert all(isinstance(a, h5py.Dataset) for a in chunked.arrays.values())
    assert chunked.file is not None and chunked.file.id.valid


def test_out_of_range_index_raises_alike_on_both_paths(entries) -> None:
    cache, records, _ = entries
    for comp in ("none", "lzf"):
        with pytest.raises(DatasetError, match=f"rgb frame {FRAMES} asked for, the entry holds"):
            cache.rgb(records[comp], np.array([0, FRAMES]))
        with pytest.raises(DatasetError, match="flow frame -1 asked for"):
            cache.flow(records[comp], np.array([-1]))


def test_empty_and_missing_datasets(tmp_path: Path) -> None:
    # An empty dataset has no storage (offset None): read by h5py.
    path = video_file(tmp_path, "e")
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("rgb", shape=(0, H, W, 3), dtype=np.uint8)
    rec = Record("a/e.mp4", 0, "a", "train", 1, 25.0, W, H, "e")
    Manifest(["a"], [rec], "folder", str(tmp_path)).save(tmp_path / "manifest.json")
    cache = Cache(tmp_path)
    assert cache.rgb(rec, np.array([], dtype=np.int64)).shape == (0, H, W, 3)
    assert isinstance(cache._files["e"].arrays["rgb"], h5py.Dataset)
    with pytest.raises(DatasetError, match="no flow stored"):
        cache.flow(rec, np.array([0]))


def test_truncated_entry_is_a_dataset_error(entries) -> None:
    cache, records, _ = entries
    path = video_file(cache.dir, "none")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="cannot open cache entry"):
        cache.rgb(records["none"], np.array([0]))


def test_open_entries_are_bounded_least_recently_used_first(entries) -> None:
    cache, records, data = entries
    cache.max_open = 2
    for comp in ("none", "lzf", "none", "gzip"):  # "none" used again: "lzf" is the oldest
        cache.rgb(records[comp], np.array([1]))
    assert list(cache._files) == ["none", "gzip"]
    assert np.array_equal(cache.flow(records["lzf"], np.array([2])), data["lzf"]["flow"][[2]])
    cache.close()
    assert cache._files == {}
    assert np.array_equal(cache.rgb(records["none"], np.array([3])), data["none"]["rgb"][[3]])


def _read_in_child(cache: Cache, rec: Record, out) -> None:
    out.put(cache.rgb(rec, np.array([5, 1])).tolist())


def test_open_entries_do_not_cross_a_fork(entries) -> None:
    cache, records, data = entries
    cache.rgb(records["none"], np.array([0]))  # opened in the parent
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    p = ctx.Process(target=_read_in_child, args=(cache, records["none"], out))
    p.start()
    got = np.array(out.get(timeout=60), dtype=np.uint8)
    p.join(timeout=60)
    assert p.exitcode == 0 and np.array_equal(got, data["none"]["rgb"][[5, 1]])
    assert "none" in cache._files  # the parent's entry is untouched
    assert cache.__getstate__()["_files"] == {}  # and never pickled


# ---- transforms --------------------------------------------------------------------------

def _old_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _old_normalize(x: torch.Tensor) -> torch.Tensor:
    m = torch.tensor(T.IMAGENET_MEAN).view(1, -1, 1, 1)
    s = torch.tensor(T.IMAGENET_STD).view(1, -1, 1, 1)
    return (x - m) / s


@pytest.mark.parametrize("crop", [(73, 73), (98, 84), (84, 112), (112, 98), (1, 5), (111, 73)])
def test_upsampling_matches_antialiased_interpolate(crop: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(5, 3, 112, 112, generator=g) * 2 - 1
    x = frames[..., 3 : 3 + crop[0], 1 : 1 + crop[1]]  # a crop view, as the presets resize
    for size in ((112, 112), (128, 171)):
        got, want = T.resize(x, size), _old_resize(x, size)
        assert got.shape == want.shape and got.is_contiguous()
        assert (got - want).abs().max() <= UPSAMPLE_ATOL
    # Shrinking keeps the antialiased kernel itself.
    assert torch.equal(T.resize(frames, (56, 100)), _old_resize(frames, (56, 100)))
    # Off the OpenCV path (float64 here) the plain torch kernel gives the same values.
    xd = x.double()
    assert (T.resize(xd, (112, 112)) - _old_resize(xd, (112, 112))).abs().max() <= 1e-9


def test_normalize_and_flip_equal_the_plain_formulas() -> None:
    x = torch.rand(4, 3, 6, 5)
    before = x.clone()
    assert torch.equal(T.normalize(x), _old_normalize(x))  # the same arithmetic: exact
    assert torch.equal(x, before)
    y = x.clone()
    assert T.normalize(y, inplace=True).data_ptr() == y.data_ptr()
    assert torch.equal(y, _old_normalize(x))
    for flow in (False, True):
        want = x.flip(-1)
        if flow:
            want[:, 0] = -want[:, 0]
        assert torch.equal(T.hflip(x, flow), want) and torch.equal(x, before)
        y = x.clone()
        assert T.hflip(y, flow, inplace=True).data_ptr() == y.data_ptr()
        assert torch.equal(y, want)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_presets_stay_close_to_the_old_formulas_and_leave_the_input_alone(modality: str) -> None:
    c = 3 if modality == "rgb" else 2
    x = torch.rand(6, c, 112, 112)
    before = x.clone()
    train = T.default_transform(modality, True, 112)
    # Every training draw: multi-scale crop box (of which one in ten is the whole frame, so
    # no resize and a flip of the caller's tensor), then the flip coin, as before.
    for seed in range(40):
        g_new, g_old = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        got = train(x, g_new)
        box = T.multi_scale_crop_box(112, 112, gen=g_old)
        want = _old_resize(T.crop(x, *box), (112, 112))
        if T._rand(g_old) < 0.5:
            want = want.flip(-1)
            if modality == "flow":
                want[:, 0] = -want[:, 0]
        if modality == "rgb":
            want = _old_normalize(want)
        tol = UPSAMPLE_ATOL / min(T.IMAGENET_STD) if modality == "rgb" else UPSAMPLE_ATOL
        assert (got - want).abs().max() <= tol, seed
        assert torch.equal(x, before)
    # Evaluation: crops with no resize, shrinking (antialiased) and growing (the fast path).
    for size in ((96, 80), (128, 128)):
        for crop in ("center", "resize", "top_left"):
            got = T.default_transform(modality, False, size, crop=crop)(x)
            src = x if crop == "resize" else T.corner_crop(x, T._fit(size, x), crop)
            want = _old_resize(src, size)
            want = _old_normalize(want) if modality == "rgb" else want
            assert (got - want).abs().max() <= tol, (size, crop)
            assert torch.equal(x, before)


def test_a_file_cut_short_after_opening_is_a_dataset_error(entries) -> None:
    cache, records, _ = entries
    cache.rgb(records["none"], np.array([0]))  # open: the reader knows its offset
    path = video_file(cache.dir, "none")
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(DatasetError, match="cannot read rgb .*short read"):
        cache.rgb(records["none"], np.array([FRAMES - 1]))
