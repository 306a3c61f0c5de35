"""fall_windows: fall / background windows cut from clip-labelled fall videos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from actionlab.data.adapters import load_manifest
from actionlab.data.falls import WindowSettings, clip_windows, fall_peak
from actionlab.data.video import read_frames
from actionlab.errors import DatasetError

FPS = 10


def _clip(path: Path, frames: int, burst: tuple[int, int] | None) -> Path:
    """Grey frames; during ``burst`` a bright bar drops down the frame (a 'fall')."""
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=Fraction(FPS))
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), 60, np.uint8)
            if burst and burst[0] <= i < burst[1]:
                y = 4 * (i - burst[0])
                img[y : y + 8, 10:54] = 240
            elif burst and i >= burst[1]:
                img[40:48, 10:54] = 240  # lying still at the bottom
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


@pytest.fixture(scope="module")
def fall_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("falls")
    _clip(root / "fall1.mp4", 80, (12, 22))  # the fall: frames 12-21 (1.2-2.2 s)
    _clip(root / "adl1.mp4", 60, None)
    (root / "manifest.csv").write_text(
        "path,label,group,is_fall,fold_leave_one_trial_out\n"
        "fall1.mp4,falling,T1,1,1\nadl1.mp4,walking,T2,0,2\nother.mp4,falling,X,1,extra\n")
    return root


def test_fall_peak_finds_the_burst(fall_set: Path) -> None:
    frames = read_frames(fall_set / "fall1.mp4")
    assert 12 <= fall_peak(frames, FPS, 4.5) <= 22
    wins = clip_windows(frames, FPS, True, WindowSettings())
    falls = [s for lab, s in wins if lab == "fall"]
    assert len(falls) == 3 and all(s <= 17 < s + 20 for s in falls)  # each window holds the fall
    assert [lab for lab, _ in wins].count("background") >= 1
    assert all(s >= 30 for lab, s in wins if lab == "background")  # after the fall + 2 s


def test_adapter_writes_windows_once_and_skips_the_extra_fold(fall_set: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "w"
    m = load_manifest("fall_windows", fall_set, out=out, adl_windows=2)
    labels = [r.label_name for r in m.records]
    assert m.classes == ["background", "fall"]
    assert labels.count("fall") == 3 and labels.count("background") >= 3
    assert {r.group for r in m.records} == {"T1", "T2"}  # other.mp4 (fold 'extra') left out
    first = [r.path for r in m.records]
    for r in m.records:
        assert len(read_frames(Path(m.root) / r.path)) == 20  # 2 s at 10 fps
    stamp = (Path(m.root) / first[0]).stat().st_mtime_ns
    again = load_manifest("fall_windows", fall_set, out=out, adl_windows=2)
    assert [r.path for r in again.records] == first
    assert (Path(m.root) / first[0]).stat().st_mtime_ns == stamp  # reused, not rewritten


def test_adapter_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="manifest.csv"):
        load_manifest("fall_windows", tmp_path)
    (tmp_path / "manifest.csv").write_text("path,label,group,is_fall\nnope.mp4,falling,T1,1\n")
    with pytest.raises(DatasetError, match="nope.mp4.*missing"):
        load_manifest("fall_windows", tmp_path, out=tmp_path / "w")


def test_annotated_onset_places_the_fall_window(fall_set: Path) -> None:
    frames = read_frames(fall_set / "fall1.mp4")
    # onset 4.0 s: the fall window is centred at 4.5 s, whatever moves in the first seconds
    wins = clip_windows(frames, FPS, True, WindowSettings(), onset_s=4.0)
    falls = [s for lab, s in wins if lab == "fall"]
    assert falls == [33, 35, 37]  # 45 -/+ round(2.5) = 2 frames, minus half a window (10)
    before = [s for lab, s in wins if lab == "background" and s + 20 <= 40]
    assert before == [0, 20]  # the windows that end before the onset are background
