from __future__ import annotations

import numpy as np
import pytest

from actionlab.data import sampling as S


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_middle_frame() -> None:
    assert S.middle_frame(1).tolist() == [0]
    assert S.middle_frame(10).tolist() == [5]
    assert S.middle_frame(11).tolist() == [5]
    with pytest.raises(ValueError):
        S.middle_frame(0)


def test_random_frame_in_range() -> None:
    r = rng()
    vals = {int(S.random_frame(7, r)[0]) for _ in range(200)}
    assert vals == set(range(7))


def test_centered_clip_strided_study_case() -> None:
    # The study: 16 flow frames, step 2, centred on the middle frame.
    idx = S.centered_clip(100, 16, 2)
    assert idx.tolist() == list(range(34, 66, 2))
    assert idx[8] == 50  # frame L//2 of the clip is the middle frame


def test_centered_clip_consecutive_fallback() -> None:
    # 20 frames: 16 at stride 2 spans 31 > 20, so consecutive, centred and kept inside.
    assert S.centered_clip(20, 16, 2).tolist() == list(range(2, 18))
    assert S.centered_clip(16, 16, 2).tolist() == list(range(16))


def test_centered_clip_loops_short_videos() -> None:
    assert S.centered_clip(5, 8, 2).tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert S.centered_clip(1, 3).tolist() == [0, 0, 0]


def test_centered_clip_shifted_inside() -> None:
    # 35 frames, span 31: start 17 - 16 = 1 fits.
    assert S.centered_clip(35, 16, 2).tolist() == list(range(1, 32, 2))
    # 31 frames, span 31: whole video.
    assert S.centered_clip(31, 16, 2).tolist() == list(range(0, 31, 2))


def test_random_clip() -> None:
    idx = S.random_clip(50, 4, 3, rng(1))
    assert np.all(np.diff(idx) == 3) and 0 <= idx[0] and idx[-1] < 50
    assert S.random_clip(6, 4, 3, rng()).tolist() in [[i, i + 1, i + 2, i + 3] for i in range(3)]
    looped = S.random_clip(3, 5, 1, rng(2))
    assert sorted(set(looped.tolist())) == [0, 1, 2] and len(looped) == 5


def test_tsn_test_centres() -> None:
    # 30 frames, 3 segments of 10: centres 5, 15, 25.
    assert S.tsn_segments(30, 3).tolist() == [5, 15, 25]
    # Flow snippets of 5 over 30 flow frames: 26 starts, segments of 26/3.
    assert S.tsn_segments(30, 3, 5).tolist() == [
        4, 5, 6, 7, 8, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25]


def test_tsn_train_random_offsets_in_segments() -> None:
    r = rng(3)
    for _ in range(50):
        idx = S.tsn_segments(30, 3, 1, train=True, rng=r)
        assert 0 <= idx[0] < 10 <= idx[1] < 20 <= idx[2] < 30
    # Exact: offsets = [0, 10, 20] + rng.integers(10, size=3).
    expect = np.arange(3) * 10 + np.random.default_rng(7).integers(10, size=3)
    assert S.tsn_segments(30, 3, train=True, rng=rng(7)).tolist() == expect.tolist()



def test_tsn_train_segments_cover_the_whole_video() -> None:
    # 64 segments of a 100-frame video are 1.5625 frames wide: training must still reach the
    # last frames (a whole-number width of 1 kept every draw within frames 0-63).
    r, seen = rng(5), set()
    edges = np.floor(np.arange(65) * 100 / 64).astype(int)
    for _ in range(200):
        idx = S.tsn_segments(100, 64, 1, train=True, rng=r)
        assert np.all((edges[:-1] <= idx) & (idx < np.maximum(edges[1:], edges[:-1] + 1)))
        seen.update(idx.tolist())
    assert seen == set(range(100))

def test_tsn_short_videos() -> None:
    assert S.tsn_segments(2, 3).tolist() == [0, 0, 1]
    assert S.tsn_segments(2, 3, train=True, rng=rng()).tolist() == [0, 0, 1]
    # Snippet longer than the video: loops.
    assert S.tsn_segments(3, 2, 5).tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 0, 1]


def test_sliding_windows() -> None:
    w = S.sliding_windows(10, 4)
    assert w.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]]
    w = S.sliding_windows(10, 3, stride=2, step=2)
    assert w[:, 0].tolist() == [0, 2, 4, 5] and w[0].tolist() == [0, 2, 4]
    assert S.sliding_windows(12, 4, step=4).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert S.sliding_windows(3, 4).tolist() == [[0, 1, 2, 0]]


def test_multi_clip() -> None:
    assert S.multi_clip(20, 3, 4).tolist() == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    assert S.multi_clip(20, 1, 4).tolist() == [S.centered_clip(20, 4).tolist()]
    assert S.multi_clip(3, 2, 4).tolist() == [[0, 1, 2, 0], [0, 1, 2, 0]]
    assert S.multi_clip(9, 2, 4, stride=3).tolist() == [[0, 1, 2, 3], [5, 6, 7, 8]]
