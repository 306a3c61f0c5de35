"""The JPEG cache (format 2): same frames as raw within the codec's tolerance, clear failures.

Also the projection every prepare prints and its refusal on a full disk (``shutil.disk_usage``
is replaced by a tiny quota), and caches of the older format.
"""

from __future__ import annotations

import json
import shutil
from collections import namedtuple
from pathlib import Path

import h5py
import numpy as np
import pytest
from _data_media import level_of
from cli_run import cli, refused

from actionlab.data.adapters import folder
from actionlab.data.cache import Cache, video_file
from actionlab.data.manifest import Manifest
from actionlab.data.prepare import PrepareConfig, prepare
from actionlab.errors import DatasetError, InputError

Usage = namedtuple("Usage", "total used free")


def _prep(tree: Path, out: Path, compression: str) -> Cache:
    m = folder(tree, stills=False)
    cfg = PrepareConfig(size=(40, 32), compression=compression)
    res = prepare(Manifest(m.classes, m.records[:4], m.dataset, m.root), out, cfg, workers=1,
                  progress=False)
    assert res.done == 4 and not res.skipped
    return Cache(out)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, clip_tree: Path) -> tuple[Cache, Cache]:
    root = tmp_path_factory.mktemp("pair")
    return _prep(clip_tree, root / "raw", "raw"), _prep(clip_tree, root / "jpeg", "jpeg")


def test_jpeg_and_raw_give_the_same_frames_within_tolerance(pair: tuple[Cache, Cache]) -> None:
    raw, jpeg = pair
    for a, b in zip(raw.records(), jpeg.records(), strict=True):
        assert a.key == b.key and a.frames == b.frames
        idx = np.arange(a.frames)[::-1]  # any order
        x, y = raw.rgb(a, idx).astype(int), jpeg.rgb(b, idx).astype(int)
        assert x.shape == y.shape
        # Quality 90, 4:2:0: on real clips the mean error is 2.2 levels (docs/data.md); these
        # flat frames with a sharp white square stay well inside these bounds.
        assert np.abs(x - y).mean() < 2.5 and np.percentile(np.abs(x - y), 99) <= 16
        assert [level_of(f) for f in y.astype(np.uint8)] == [level_of(f) for f in
                                                              x.astype(np.uint8)]
        fi = np.arange(a.frames - 1)
        fx, fy = raw.flow(a, fi).astype(int), jpeg.flow(b, fi).astype(int)
        assert np.abs(fx - fy).mean() < 0.5 and np.abs(fx - fy).max() <= 8  # 8 steps = 1.25 px
    sizes = [sum(p.stat().st_size for p in (c.dir / "videos").glob("*.h5")) for c in pair]
    assert sizes[1] < sizes[0] / 3  # even on 40x32 frames, where HDF5 metadata weighs most


def test_repeated_and_empty_indices(pair: tuple[Cache, Cache]) -> None:
    _, jpeg = pair
    rec = jpeg.records()[0]
    out = jpeg.rgb(rec, np.array([4, 4, 0, 4]))
    assert [level_of(f) for f in out] == [4, 4, 0, 4] and (out[0] == out[1]).all()
    assert jpeg.rgb(rec, np.array([], int)).shape == (0, 32, 40, 3)


def test_frame_past_the_end_is_one_clear_error(pair: tuple[Cache, Cache]) -> None:
    _, jpeg = pair
    rec = jpeg.records()[0]
    with pytest.raises(DatasetError, match=rf"rgb frame {rec.frames} asked for, the entry holds "
                                           rf"{rec.frames}"):
        jpeg.rgb(rec, np.array([0, rec.frames]))
    with pytest.raises(DatasetError, match="flow frame -1 asked for"):
        jpeg.flow(rec, np.array([-1]))


@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_entry_is_one_clear_error(tmp_path: Path, clip_tree: Path, keep: float) -> None:
    cache = _prep(clip_tree, tmp_path / "c", "jpeg")
    rec = cache.records()[1]
    path = video_file(cache.dir, rec.key)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DatasetError) as err:
        Cache(cache.dir).rgb(rec, np.arange(rec.frames))
    msg = str(err.value)
    assert str(path) in msg and "re-run prepare" in msg and "\n" not in msg


def test_damaged_jpeg_bytes_are_one_clear_error(tmp_path: Path, clip_tree: Path) -> None:
    cache = _prep(clip_tree, tmp_path / "c", "jpeg")
    rec = cache.records()[0]
    path = video_file(cache.dir, rec.key)
    with h5py.File(path, "r+") as f:
        f["rgb_jpeg"][:] = 7  # right length, not a JPEG
    with pytest.raises(DatasetError, match="not a valid JPEG"):
        Cache(cache.dir).rgb(rec, np.array([2]))


def _format_1_cache(root: Path) -> tuple[Cache, np.ndarray]:
    """A cache as the previous version wrote it: raw arrays, no format or source attributes."""
    rgb = np.random.default_rng(0).integers(0, 256, (5, 8, 10, 3), dtype=np.uint8)
    (root / "videos").mkdir(parents=True)
    with h5py.File(root / "videos" / "a__v.h5", "w") as f:
        f["rgb"] = rgb
        f["flow"] = rgb[:4, :, :, :2]
        f.attrs.update(frames=5, fps=25.0, src_width=10, src_height=8)
    m = {"version": 1, "dataset": "folder", "root": str(root), "classes": ["a"],
         "meta": {"prepare": {"inputs": ["rgb", "flow"], "compression": "none"}},
         "records": [{"path": "a/v.mp4", "label": 0, "label_name": "a", "split": "train",
                      "frames": 5, "fps": 25.0, "width": 10, "height": 8, "key": "a__v"}]}
    (root / "manifest.json").write_text(json.dumps(m))
    (root / "prepare.json").write_text(json.dumps({"config": {}, "dataset": "folder",
                                                   "classes": ["a"]}))
    return Cache(root), rgb


def test_older_cache_still_loads_and_resume_says_how_to_rebuild(tmp_path: Path,
                                                                clip_tree: Path) -> None:
    cache, rgb = _format_1_cache(tmp_path / "old")
    rec = cache.records()[0]
    np.testing.assert_array_equal(cache.rgb(rec, np.array([3, 1])), rgb[[3, 1]])
    assert cache.flow(rec, np.arange(4)).shape == (4, 8, 10, 2)
    with pytest.raises(InputError, match=r"format 1 \(an older actionlab\).*new folder"):
        prepare(folder(clip_tree), tmp_path / "old", PrepareConfig(size=(40, 32)),
                progress=False)


def test_newer_entry_format_names_the_fix(tmp_path: Path) -> None:
    cache, _ = _format_1_cache(tmp_path / "c")
    with h5py.File(video_file(cache.dir, "a__v"), "r+") as f:
        f.attrs["cache_format"] = 99
    with pytest.raises(DatasetError, match="cache format 99 is newer.*upgrade actionlab or"):
        cache.rgb(cache.records()[0], np.array([0]))


def test_estimate_and_every_prepare_refuse_on_a_tiny_disk(monkeypatch, capsys, tmp_path: Path,
                                                          clip_tree: Path) -> None:
    args = ("prepare", "folder", clip_tree, tmp_path / "c", "--size", "40x32", "--workers", "1",
            "--no-progress")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 5000, 5000))
    res = cli(monkeypatch, capsys, *args, "--estimate")
    assert res.code == 2 and "projected" in res.out and "13 videos" in res.out
    assert "5.0 kB free" in res.out
    assert refused(res, "--no-space-check") and res.err.count("\n") == 1
    assert not (tmp_path / "c").exists()  # an estimate writes nothing there
    res = cli(monkeypatch, capsys, *args)
    assert res.code == 2 and res.out.startswith(f"{tmp_path / 'c'}: projected")
    assert "only 5.0 kB" in refused(res)
    assert len(list((tmp_path / "c" / "videos").glob("*.h5"))) == 4  # the sample, resumable
    res = cli(monkeypatch, capsys, *args, "--no-space-check")
    assert res.code == 0 and "9 prepared, 4 already there" in res.out, res.err


def test_estimate_projects_what_prepare_writes(monkeypatch, capsys, tmp_path: Path,
                                               clip_tree: Path) -> None:
    from actionlab.data.prepare import estimate

    m = folder(clip_tree, stills=False)
    cfg = PrepareConfig(size=(40, 32))
    est = estimate(m, tmp_path / "c", cfg, workers=1)
    assert est is not None and est.sampled == 4 and est.todo == 12
    prepare(m, tmp_path / "c", cfg, workers=1, progress=False)
    real = sum(p.stat().st_size for p in (tmp_path / "c" / "videos").glob("*.h5"))
    assert 0.7 < est.total_bytes / real < 1.3  # clips of 20-30 frames, sampled across classes
