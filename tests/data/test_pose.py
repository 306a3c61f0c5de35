"""The pose stream's data side: keypoints on real video, a video without a person, the missing
extra, and the cache (prepare once, read back what inference finds)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _data_media import write_video
from cli_run import cli, listing, refused

from actionlab.data import pose
from actionlab.data.cache import Cache
from actionlab.data.inputs import CacheSource, make_input
from actionlab.data.manifest import Manifest, Record, make_key
from actionlab.data.prepare import PrepareConfig, prepare
from actionlab.data.video import read_frames
from actionlab.errors import InputError
from actionlab.spec import InputSpec

VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos"
FALL_CLIP = VIDEOS / "upfall_subject1" / "Activity1" / "Subject1" / "Trial1Cam1.mp4"
WAVE = VIDEOS / "hmdb51" / "wave" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi"
needs_mediapipe = pytest.mark.skipif(
    not any((Path(p) / "mediapipe").is_dir() for p in sys.path if p),
    reason="the pose extra is not installed (./dev test installs it)")


def _torso(track: np.ndarray, t: int) -> np.ndarray:
    """Shoulder centre minus hip centre (x, y) in frame t."""
    return track[t, [11, 12], :2].mean(0) - track[t, [23, 24], :2].mean(0)


@needs_mediapipe
@pytest.mark.heavy
@pytest.mark.skipif(not FALL_CLIP.is_file(), reason="needs ../shared/data/videos/upfall_subject1")
def test_keypoints_follow_the_person_through_a_real_fall() -> None:
    frames = np.asarray(read_frames(FALL_CLIP, np.r_[0:12, 130:142], size=(320, 240)))
    track = pose.keypoints(frames)
    assert track.shape == (24, 33, 4) and track.dtype == np.float32
    assert pose.present_share(track) >= 0.9
    found = track[track[:, 0, 3] == 1]
    assert (found[..., 0] > -0.2).all() and (found[..., 0] < 320 / 240 + 0.2).all()
    assert (found[..., 1] > -0.2).all() and (found[..., 1] < 1.2).all()
    standing, lying = _torso(track, 0), _torso(track, 23)  # the clip starts up, ends down
    assert standing[1] < -0.1 and abs(standing[1]) > 2 * abs(standing[0])  # shoulders above
    assert abs(lying[0]) > 2 * abs(lying[1])  # a horizontal torso


@needs_mediapipe
def test_a_video_without_a_person_gives_an_empty_track(tmp_path: Path) -> None:
    frames = np.full((10, 48, 64, 3), 90, np.uint8)
    frames[:, 10:20, 5:15] = 200  # a grey box moving nowhere: no person
    video = write_video(tmp_path / "v" / "empty" / "room.mp4", frames)
    rec = Record("empty/room.mp4", 0, "empty", "train", key=make_key("empty/room.mp4"))
    m = Manifest(["empty"], [rec], "folder", str(tmp_path / "v"))
    res = prepare(m, tmp_path / "c", PrepareConfig(size=(64, 48), inputs=("pose",)), workers=1,
                  progress=False)
    assert res.exit_code == 0 and res.skipped == []
    cache = Cache(tmp_path / "c")
    r = cache.records()[0]
    track = cache.pose(r, np.arange(r.frames))
    assert track.shape == (10, 33, 4) and not track.any()
    spec = InputSpec(kind="tsn", modality="pose", segments=6, pose_model="x")
    x = make_input(spec, CacheSource(cache, r))
    assert x.shape == (4, 6, 33) and not x.any()
    assert video.is_file()


def test_missing_extra_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` now fails
    with pytest.raises(InputError) as err:
        pose.load_mediapipe()
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("pose keypoints need the optional extra")
    assert msg.endswith(pose.POSE_EXTRA)
    assert "pip install 'actionlab[pose]' && pip install --no-deps mediapipe==0.10.14" in msg
    frames = np.full((4, 48, 64, 3), 90, np.uint8)
    write_video(tmp_path / "v" / "a" / "x.mp4", frames)
    res = cli(monkeypatch, capsys, "prepare", "folder", tmp_path / "v", tmp_path / "out",
              "--inputs", "rgb,pose", "--size", "64x48")
    refused(res, "actionlab[pose]", "--no-deps mediapipe==0.10.14", code=2)
    assert not (tmp_path / "out").exists() or listing(tmp_path / "out") == set()


@needs_mediapipe
@pytest.mark.heavy
@pytest.mark.skipif(not WAVE.is_file(), reason="needs ../shared/data/videos/hmdb51")
def test_prepared_keypoints_are_what_inference_finds(tmp_path: Path) -> None:
    from actionlab.infer.preprocess import decode_video

    rel = f"wave/{WAVE.name}"
    rec = Record(rel, 0, "wave", "train", key=make_key(rel))
    m = Manifest(["wave"], [rec], "hmdb51", str(WAVE.parents[1]))
    prepare(m, tmp_path / "c", PrepareConfig(size=None, short_side=120, inputs=("pose",)),
            workers=1, progress=False)
    cache = Cache(tmp_path / "c")
    r = cache.records()[0]
    stored = cache.pose(r, np.arange(r.frames))
    assert pose.present_share(stored) >= 0.5  # a person waving
    prep = cache.manifest.meta["prepare"]
    assert prep["inputs"] == ["pose"] and prep["pose_model"] == pose.model_name()
    spec = InputSpec.from_dict({"kind": "tsn", "modality": "pose", "segments": 8,
                                "prepare": prep, "pose_model": prep["pose_model"]})
    decoded = decode_video(WAVE, spec)
    assert np.array_equal(decoded.source.all_pose(), stored)  # one pass, the same keypoints
    a, b = make_input(spec, CacheSource(cache, r)), make_input(spec, decoded.source)
    assert a.shape == (4, 8, 33) and torch.equal(a, b)
    window = decoded.source.window(10, 20)  # a window reads the whole video's pass
    assert np.array_equal(window.pose(np.arange(20)), stored[10:30])


def test_flip_mirrors_and_swaps_left_and_right() -> None:
    x = torch.rand(4, 5, 33)
    f = pose.flip(x)
    assert torch.equal(f[0, :, 23], -x[0, :, 24]) and torch.equal(f[1, :, 11], x[1, :, 12])
    assert torch.equal(f[:, :, 0], x[:, :, 0] * torch.tensor([-1, 1, 1, 1.0])[:, None])
    assert torch.equal(pose.flip(f), x)
    g = torch.Generator().manual_seed(0)
    t = pose.pose_transform(True, flip=True)
    outs = {bool(torch.equal(t(x, g), x)) for _ in range(20)}
    assert outs == {True, False}  # sometimes flipped
    assert torch.equal(pose.pose_transform(False, flip=True)(x), x)  # never at evaluation


def test_pose_transform_refuses_image_options() -> None:
    with pytest.raises(InputError, match="crop: not for pose inputs"):
        pose.pose_transform(True, crop="fit")


def test_a_pose_spec_round_trips_and_needs_pose() -> None:
    from actionlab.spec import cache_inputs

    spec = InputSpec(kind="clip", modality="pose", frames=16, pose_model="mediapipe-x-full")
    back = InputSpec.from_dict(spec.to_dict())
    assert back == spec and back.needs_pose and not back.needs_flow
    assert spec.in_channels() == 4 and spec.window_span() == 16
    assert cache_inputs(["pose", "flow"]) == ("flow", "pose")
    with pytest.raises(InputError, match="modality 'pose' does not fit kind 'frame'"):
        InputSpec(kind="frame", modality="pose")
