from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from _data_media import level_of
from typer.testing import CliRunner

from actionlab.data.adapters import folder
from actionlab.data.cache import Cache, merge_shards, video_file
from actionlab.data.manifest import Manifest, Record, make_key
from actionlab.data.prepare import PrepareConfig, prepare
from actionlab.errors import InputError

CFG = PrepareConfig(size=(32, 24), inputs=("rgb", "flow"), flow_method="dis")


def test_prepare_tree_frames_flow_and_stills(tmp_path: Path, clip_tree: Path) -> None:
    m = folder(clip_tree)
    res = prepare(m, tmp_path / "c", CFG, workers=2, progress=False)
    assert (res.done, res.reused, res.skipped, res.exit_code) == (13, 0, [], 0)
    cache = Cache(tmp_path / "c")
    assert len(cache.records()) == 13 and cache.classes == m.classes
    rec = next(r for r in cache.records() if r.key == make_key("running/running_2.mp4"))
    assert rec.key.startswith("running__running_2-")
    assert (rec.frames, rec.fps, rec.width, rec.height) == (27, 25.0, 64, 48)
    with h5py.File(video_file(tmp_path / "c", rec.key)) as f:  # JPEG frames by default
        assert tuple(f["rgb_jpeg"].attrs["shape"]) == (27, 24, 32, 3)
        assert tuple(f["flow_jpeg"].attrs["shape"]) == (26, 24, 32, 2)
        assert f["rgb_index"].shape == (28,) and f.attrs["cache_format"] == 2
    assert cache.flow(rec, np.arange(26)).shape == (26, 24, 32, 2)
    # Frames are the decoded ones, in order.
    assert [level_of(f) for f in cache.rgb(rec, np.array([3, 0, 3]))] == [3, 0, 3]
    still = next(r for r in cache.records() if r.key == make_key("waving/still.jpg"))
    assert still.frames == 1 and cache.rgb(still, np.array([0])).shape == (1, 24, 32, 3)
    assert cache.num_flow(still) == 0
    on_disk = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert on_disk["meta"]["prepare"]["size"] == [32, 24]


def test_bad_inputs_are_skipped_and_reported(tmp_path: Path, bad_files: dict[str, Path]) -> None:
    recs = [Record(str(p), 0, "x", "train", key=k) for k, p in bad_files.items()]
    m = Manifest(["x"], recs, "bad")
    res = prepare(m, tmp_path / "c", CFG, workers=2, progress=False)
    assert res.exit_code == 3
    reasons = {s["key"]: s["reason"] for s in res.skipped}
    assert set(reasons) == {"truncated", "empty", "text", "audio", "missing"}
    assert "empty file" in reasons["empty"] and "no video stream" in reasons["audio"]
    assert "not found" in reasons["missing"]
    report = json.loads((tmp_path / "c" / "skipped.json").read_text())
    assert {s["path"] for s in report} == {str(bad_files[k]) for k in reasons}
    assert {r.key for r in Cache(tmp_path / "c").records()} == {"good", "short"}


def test_resume_does_not_redo_finished_videos(tmp_path: Path, clip_tree: Path) -> None:
    m = folder(clip_tree, stills=False)
    first = Manifest(m.classes, m.records[:5], m.dataset, m.root)
    prepare(first, tmp_path / "c", CFG, workers=1, progress=False)
    f0 = video_file(tmp_path / "c", m.records[0].key)
    stamp = f0.stat().st_mtime_ns
    # A leftover temp file from a killed run does not count as done.
    (tmp_path / "c" / "videos" / ".x.tmp-123.h5").write_bytes(b"junk")
    res = prepare(m, tmp_path / "c", CFG, workers=2, progress=False)
    assert (res.reused, res.done) == (5, 7)
    assert f0.stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="other settings"):
        prepare(m, tmp_path / "c", PrepareConfig(size=(16, 16)), progress=False)


def test_shards_merge_to_the_full_set(tmp_path: Path, clip_tree: Path) -> None:
    m = folder(clip_tree)
    out = tmp_path / "c"
    r1 = prepare(m, out, CFG, workers=1, shard=(1, 3), progress=False)
    assert r1.manifest is None and not (out / "manifest.json").exists()
    prepare(m, out, CFG, workers=1, shard=(3, 3), progress=False)
    assert len(Cache(out).records()) == 9  # a reader reads the parts before the merge
    r2 = prepare(m, out, CFG, workers=1, shard=(2, 3), progress=False)
    assert r2.manifest is not None
    assert sorted(r.key for r in Cache(out).records()) == sorted(r.key for r in m.records)
    assert merge_shards(out) is not None


def test_cli_prepare_exit_code_and_report(tmp_path: Path, clip_tree: Path,
                                          bad_files: dict[str, Path]) -> None:
    from actionlab.cli import app

    tree = tmp_path / "tree"
    shutil.copytree(clip_tree / "running", tree / "running")
    shutil.copy(bad_files["text"], tree / "running" / "broken.mp4")
    runner = CliRunner()
    args = ["prepare", "folder", str(tree), str(tmp_path / "c"), "--size", "32x24",
            "--workers", "2", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 3, res.output
    assert "broken.mp4" in res.output and "4 prepared" in res.output
    skipped = json.loads((tmp_path / "c" / "skipped.json").read_text())
    assert skipped[0]["key"] == make_key("running/broken.mp4")
    res = runner.invoke(app, args)
    assert "4 already there" in res.output and res.exit_code == 3
    res = runner.invoke(app, ["manifest", "folder", str(tree)])
    assert res.exit_code == 0 and "train 5" in res.output


@pytest.mark.heavy
def test_prepare_real_clips(tmp_path: Path, real_videos: list[Path]) -> None:
    tree = tmp_path / "real"
    for p in real_videos:
        (tree / p.parent.name).mkdir(parents=True, exist_ok=True)
        os.symlink(p, tree / p.parent.name / p.name)
    m = folder(tree)
    cfg = PrepareConfig(size=(56, 56), inputs=("rgb", "flow"), flow_method="dis")
    res = prepare(m, tmp_path / "c", cfg, workers=2, progress=False)
    assert res.skipped == [] and res.done == len(real_videos)
    frames = {Path(r.path).name: r.frames for r in Cache(tmp_path / "c").records()}
    assert frames["sample.avi"] == 164 and frames["demo.mp4"] == 280


def test_compressed_cache_is_chunked_per_frame(tmp_path: Path, clip_tree: Path) -> None:
    m = folder(clip_tree)
    one = Manifest(m.classes, m.records[:1], m.dataset, m.root)
    cfg = PrepareConfig(size=(32, 24), compression="lzf")
    prepare(one, tmp_path / "c", cfg, workers=1, progress=False)
    with h5py.File(video_file(tmp_path / "c", one.records[0].key)) as f:
        assert f["rgb"].chunks == (1, 24, 32, 3) and f["rgb"].compression == "lzf"
        assert f["flow"].chunks == (1, 24, 32, 2)
