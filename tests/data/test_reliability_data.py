"""Reproducers of issue 17's data items, run through the console entry point.

Every bad case must end in one ``error:`` line, a non-zero exit, no traceback (any exception
other than SystemExit fails the test) and nothing written outside the target. Videos are
generated here (PyAV); "outside" is checked by listing every file under the test's folder.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _data_media import level_of, ramp_frames, write_video
from cli_run import cli, listing, refused

from actionlab.data.cache import Cache
from actionlab.data.manifest import Manifest, Record, make_key

# A folder kernel and root alike refuse to write into (chmod does not stop root).
UNWRITABLE = Path("/sys/kernel")


def assert_refused(res, *needles: str) -> None:
    """One ``error:`` line holding the needles, non-zero exit, no traceback, no "wrote"."""
    refused(res, *needles)
    assert len(res.err.strip().splitlines()) == 1 and "wrote" not in res.out, res.err


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """Six videos whose names collide under the old keys, each of a different length."""
    root = tmp_path / "data"
    names = ["k/a b.mp4", "k/a_b.mp4", "k/c.avi", "k/c.mp4", "x/y__z.mp4", "x__y/z.mp4"]
    for n, name in enumerate(names):
        codec = "mpeg4" if name.endswith(".avi") else "libx264"
        write_video(root / name, ramp_frames(6 + n), codec=codec)
    return root


PREP = ("--size", "32x24", "--workers", "1", "--no-progress")


def test_colliding_names_each_get_their_own_entry(monkeypatch, capsys, tmp_path: Path,
                                                  tree: Path) -> None:
    out = tmp_path / "cache"
    res = cli(monkeypatch, capsys, "prepare", "folder", tree, out, *PREP)
    assert res.code == 0, res.err
    assert "6 prepared, 0 already there, 0 skipped" in res.out
    recs = Cache(out).records()
    assert len(recs) == 6 and len({r.key for r in recs}) == 6
    assert len(list((out / "videos").glob("*.h5"))) == 6
    # Each entry holds its own video: lengths 6..11 in the order written above.
    frames = {r.path: r.frames for r in recs}
    assert frames == {"k/a b.mp4": 6, "k/a_b.mp4": 7, "k/c.avi": 8, "k/c.mp4": 9,
                      "x/y__z.mp4": 10, "x__y/z.mp4": 11}
    cache = Cache(out)
    for r in recs:
        assert [level_of(f) for f in cache.rgb(r, np.arange(r.frames))] == list(range(r.frames))


def test_resume_redoes_an_entry_whose_source_changed(monkeypatch, capsys, tmp_path: Path,
                                                     tree: Path) -> None:
    out = tmp_path / "cache"
    assert cli(monkeypatch, capsys, "prepare", "folder", tree, out, *PREP).code == 0
    write_video(tree / "x__y" / "z.mp4", ramp_frames(15))  # another video at the same path
    res = cli(monkeypatch, capsys, "prepare", "folder", tree, out, *PREP)
    assert res.code == 0 and "1 prepared, 5 already there" in res.out
    rec = next(r for r in Cache(out).records() if r.path == "x__y/z.mp4")
    assert rec.frames == 15


@pytest.mark.parametrize("key", ["../../x", "/tmp/actionlab-outside", "..", ".hidden", "a/b"])
def test_manifest_keys_cannot_leave_the_cache(monkeypatch, capsys, tmp_path: Path,
                                              key: str) -> None:
    video = write_video(tmp_path / "v.mp4", ramp_frames(6))
    m = Manifest(["a"], [Record(str(video), 0, "a", "train", key=key)], "manifest")
    m.save(tmp_path / "m.json")
    before = listing(tmp_path)
    res = cli(monkeypatch, capsys, "prepare", "manifest", tmp_path / "m.json",
                         tmp_path / "deep" / "cache", *PREP)
    assert_refused(res, "record key", repr(key))
    assert listing(tmp_path) == before
    assert not Path("/tmp/actionlab-outside.h5").exists()


def test_repeated_manifest_keys_are_refused(monkeypatch, capsys, tmp_path: Path) -> None:
    a, b = (write_video(tmp_path / f"{n}.mp4", ramp_frames(6)) for n in "ab")
    m = Manifest(["a"], [Record(str(p), 0, "a", "train", key="same") for p in (a, b)], "m")
    m.save(tmp_path / "m.json")
    res = cli(monkeypatch, capsys, "prepare", "manifest", tmp_path / "m.json",
                         tmp_path / "cache", *PREP)
    assert_refused(res, "'same'", "its own key")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("opts", [
    ("--bound", "-5"), ("--bound", "0"), ("--bound", "nan"), ("--short-side", "0"),
    ("--short-side", "-5"), ("--size", ""), ("--quality", "0"), ("--compression", "png"),
    ("--workers", "-1"),
])
def test_prepare_options_checked_before_any_video(monkeypatch, capsys, tmp_path: Path,
                                                  opts: tuple[str, str]) -> None:
    # The dataset root does not even exist: the options are refused first.
    res = cli(monkeypatch, capsys, "prepare", "folder", tmp_path / "nowhere",
                         tmp_path / "cache", "--workers", "1", *opts)
    assert_refused(res, opts[0].split("-")[-1])
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("opts", [("--frames", "0"), ("--frames", "-3"), ("--stride", "0"),
                                  ("--size", "")])
def test_flow_options_checked_before_decoding(monkeypatch, capsys, tmp_path: Path,
                                              opts: tuple[str, str]) -> None:
    res = cli(monkeypatch, capsys, "flow", tmp_path / "missing.mp4",
                         tmp_path / "f.png", *opts)
    assert_refused(res, opts[0])
    assert not (tmp_path / "f.png").exists()


def _bad_outputs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    return {"unwritable": UNWRITABLE / "out.png", "folder": tmp_path / "a_folder",
            "under_a_file": tmp_path / "a_file" / "out.png"}


@pytest.mark.parametrize("case", ["unwritable", "folder", "under_a_file"])
def test_flow_into_a_bad_path(monkeypatch, capsys, tmp_path: Path, case: str) -> None:
    video = write_video(tmp_path / "v.mp4", ramp_frames(12))
    target = _bad_outputs(tmp_path)[case]
    before = listing(tmp_path)
    res = cli(monkeypatch, capsys, "flow", video, target, "--frames", "2")
    assert_refused(res, str(target) if case != "folder" else "folder")
    assert listing(tmp_path) == before


@pytest.mark.parametrize("case", ["unwritable", "folder", "under_a_file"])
def test_manifest_out_to_a_bad_path(monkeypatch, capsys, tmp_path: Path, tree: Path,
                                    case: str) -> None:
    target = _bad_outputs(tmp_path)[case].with_suffix(".json")
    if case == "folder":
        target = tmp_path / "a_folder"
    before = listing(tmp_path)
    res = cli(monkeypatch, capsys, "manifest", "folder", tree, "--out", target)
    assert_refused(res, str(target))
    assert listing(tmp_path) == before


@pytest.mark.parametrize("case", ["unwritable", "a_file", "under_a_file"])
def test_prepare_into_a_bad_folder(monkeypatch, capsys, tmp_path: Path, tree: Path,
                                   case: str) -> None:
    (tmp_path / "a_file").write_text("x")
    target = {"unwritable": UNWRITABLE / "cache", "a_file": tmp_path / "a_file",
              "under_a_file": tmp_path / "a_file" / "cache"}[case]
    before = listing(tmp_path)
    res = cli(monkeypatch, capsys, "prepare", "folder", tree, target, *PREP)
    assert_refused(res, str(target))
    assert listing(tmp_path) == before


def test_manifest_error_names_the_cli_flag(monkeypatch, capsys, tmp_path: Path) -> None:
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Jump\n")
    (splits / "trainlist01.txt").write_text("Jump/v_Jump_g01_c01.avi 1\n")
    (splits / "testlist01.txt").write_text("Jump/v_Jump_g02_c01.avi\n")
    res = cli(monkeypatch, capsys, "manifest", "ucf101", tmp_path,
                         "--splits-dir", splits)
    assert_refused(res, "--no-check-files", "missing")
    res = cli(monkeypatch, capsys, "manifest", "ucf101", tmp_path, "--splits-dir", splits,
              "--no-check-files")
    assert res.code == 0 and "train 1" in res.out


def test_killed_prepare_temp_files_are_removed_on_rerun(tmp_path: Path, tree: Path) -> None:
    from actionlab.data.adapters import folder
    from actionlab.data.prepare import PrepareConfig, prepare

    m = folder(tree)
    out = tmp_path / "cache"
    (out / "videos").mkdir(parents=True)
    own = out / "videos" / f".{m.records[0].key}.tmp-k1ll3d.h5"
    other = out / "videos" / f".{make_key('other/shard.mp4')}.tmp-busy.h5"
    junk = out / "videos" / "notes.tmp-x.h5"  # not a temp name of ours
    for p in (own, other, junk):
        p.write_bytes(b"\0" * 1000)
    cfg = PrepareConfig(size=(32, 24))
    res = prepare(m, out, cfg, workers=1, progress=False)
    assert res.done == 6 and not own.exists()
    assert other.exists() and junk.exists()  # another shard's, and not ours at all


def _rotated_mp4(path: Path, degrees: int) -> Path:
    """A 64x32 landscape stream (white left quarter) whose display matrix turns it."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.set_display_rotation(degrees)  # counter-clockwise, as read back by frame.rotation
        for _ in range(5):
            f = np.zeros((32, 64, 3), np.uint8)
            f[:, :16] = 255
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


@pytest.mark.parametrize(("degrees", "white"), [(90, "bottom"), (-90, "top"), (180, "right")])
def test_display_rotation_is_applied(tmp_path: Path, degrees: int, white: str) -> None:
    from actionlab.data.video import probe, read_frames, read_video

    path = _rotated_mp4(tmp_path / "r.mp4", degrees)
    info = probe(path)
    frames, _ = read_video(path)
    assert (info.width, info.height) == ((64, 32) if degrees == 180 else (32, 64))
    assert frames.shape[1:3] == (info.height, info.width)
    g = frames[0, :, :, 0].astype(float)
    h, w = g.shape
    region = {"bottom": g[3 * h // 4 :], "top": g[: h // 4], "right": g[:, 3 * w // 4 :]}[white]
    assert region.mean() > 240 and g.mean() < 80  # the white quarter is where it is shown
    np.testing.assert_array_equal(read_frames(path, [2], size=(16, 32))[0].shape, (32, 16, 3))


def test_variable_frame_rate_uses_timestamps(tmp_path: Path) -> None:
    from actionlab.data.video import frame_times, probe

    pts_ms = [0, 40, 80, 120, 1000, 1040, 3000, 3040, 3080, 10930]
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.codec_context.time_base = s.time_base = Fraction(1, 1000)
        s.options = {"preset": "ultrafast", "bf": "0"}
        for t in pts_ms:
            f = av.VideoFrame.from_ndarray(np.full((32, 64, 3), 99, np.uint8), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    np.testing.assert_allclose(frame_times(path), np.array(pts_ms) / 1000, atol=1e-6)
    info = probe(path)
    assert info.frames == 10
    assert info.duration == pytest.approx(10.97, abs=1e-3)  # last frame at 10.93 s + 40 ms
    assert info.fps == pytest.approx(10 / 10.97, rel=1e-3)
    # A constant-rate file keeps its stream rate and frames / fps.
    cfr = probe(write_video(tmp_path / "cfr.mp4", ramp_frames(10)))
    assert (cfr.fps, cfr.duration) == (25.0, 0.4)


def test_prepare_stores_rotated_videos_upright(tmp_path: Path) -> None:
    from actionlab.data.adapters import folder
    from actionlab.data.prepare import PrepareConfig, prepare

    (tmp_path / "d" / "a").mkdir(parents=True)
    _rotated_mp4(tmp_path / "d" / "a" / "r.mp4", -90)
    prepare(folder(tmp_path / "d"), tmp_path / "c", PrepareConfig(short_side=16, inputs=("rgb",)),
            workers=1, progress=False)
    cache = Cache(tmp_path / "c")
    rec = cache.records()[0]
    assert (rec.width, rec.height) == (32, 64)
    assert cache.rgb(rec, np.array([0])).shape == (1, 32, 16, 3)
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["records"][0]["key"] == \
        make_key("a/r.mp4")
    assert os.path.isfile(tmp_path / "c" / "prepare.json")
