from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actionlab.data.video import output_size, probe, read_frames
from actionlab.errors import VideoError
from _data_media import level_of, ramp_frames, write_video

# Decoded counts of the shared clips (headers of the .avi ones claim one more).
REAL_FRAMES = {
    "sample.avi": 164,
    "RATRACE_wave_f_nm_np1_fr_goo_37.avi": 72,
    "SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi": 74,
    "TrumanShow_wave_f_nm_np1_fr_med_26.avi": 48,
    "demo.mp4": 280,
}


def test_probe_counts_decoded_frames(tmp_path: Path) -> None:
    p = write_video(tmp_path / "a.mp4", ramp_frames(17), fps=30)
    info = probe(p)
    assert (info.frames, info.fps, info.width, info.height) == (17, 30.0, 64, 48)
    assert info.duration == pytest.approx(17 / 30)


def test_read_frames_indices_order_and_repeats(tmp_path: Path) -> None:
    p = write_video(tmp_path / "a.mp4", ramp_frames(20))
    out = read_frames(p, [7, 2, 2, 15])
    assert out.shape == (4, 48, 64, 3) and out.dtype == np.uint8
    assert [level_of(f) for f in out] == [7, 2, 2, 15]
    assert len(read_frames(p)) == 20


def test_read_frames_resize(tmp_path: Path) -> None:
    p = write_video(tmp_path / "a.mp4", ramp_frames(5))
    assert read_frames(p, [0], size=(32, 20)).shape == (1, 20, 32, 3)
    assert read_frames(p, [0], short_side=24).shape == (1, 24, 32, 3)
    assert output_size(320, 240, short_side=128) == (171, 128)
    assert output_size(240, 320, short_side=128) == (128, 171)


def test_index_past_end_names_file(tmp_path: Path) -> None:
    p = write_video(tmp_path / "a.mp4", ramp_frames(5))
    with pytest.raises(VideoError, match=r"a\.mp4.*frame 9.*5 frames"):
        read_frames(p, [9])


@pytest.mark.parametrize("kind,reason", [
    ("missing", "not found"),
    ("empty", "empty file"),
    ("text", "not a readable video"),
    ("truncated", "truncated"),
    ("audio", "no video stream"),
])
def test_bad_files_raise_video_error(bad_files: dict[str, Path], kind: str, reason: str) -> None:
    for fn in (probe, read_frames):
        with pytest.raises(VideoError, match=reason) as exc:
            fn(bad_files[kind])
        assert exc.value.path == str(bad_files[kind])
        assert str(bad_files[kind]) in str(exc.value)


def test_still_is_one_frame(clip_tree: Path) -> None:
    still = clip_tree / "waving" / "still.jpg"
    info = probe(still)
    assert (info.frames, info.width, info.height) == (1, 64, 48)
    assert read_frames(still, size=(32, 32)).shape == (1, 32, 32, 3)


def _ut_manifest(real_videos: list[Path]) -> dict[str, dict[str, str]]:
    """UT-Interaction's manifest rows by file name (its crops are 216-332 px high)."""
    import csv

    found = [p for p in real_videos if p.parent.parent.name == "ut_interaction_set1"]
    if not found:
        return {}
    with open(found[0].parent.parent / "manifest.csv", newline="") as f:
        return {Path(r["path"]).name: r for r in csv.DictReader(f)}


def test_every_real_clip(real_videos: list[Path]) -> None:
    ut = _ut_manifest(real_videos)
    for p in real_videos:
        info = probe(p, threads=1)
        if p.name in REAL_FRAMES:
            assert info.frames == REAL_FRAMES[p.name], p
        if p.name in ut:  # the manifest's size; header frame counts may be 1-2 high
            row = ut[p.name]
            assert (info.width, info.height) == (int(row["width"]), int(row["height"])), p
            assert abs(info.frames - int(row["frames"])) <= 2, p
        else:
            assert 240 <= info.height <= 480, p
        assert 25 <= info.fps <= 30
        last = read_frames(p, [0, info.frames - 1], size=(56, 56), threads=1)
        assert last.shape == (2, 56, 56, 3)
        with pytest.raises(VideoError):
            read_frames(p, [info.frames], threads=1)


def test_read_video_returns_frames_and_source_info(tmp_path: Path) -> None:
    from actionlab.data.video import read_video

    p = write_video(tmp_path / "a.mp4", ramp_frames(9), fps=30)
    frames, info = read_video(p, size=(32, 16))
    assert frames.shape == (9, 16, 32, 3)
    assert (info.frames, info.fps, info.width, info.height) == (9, 30.0, 64, 48)
    assert [level_of(f) for f in frames] == list(range(9))
