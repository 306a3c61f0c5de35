"""Person keypoints per frame: the pose stream's input, computed once like optical flow.

MediaPipe's Pose (BlazePose, 33 landmarks, one person) runs in video mode over a whole video in
one sequential pass: after the first detection it tracks the person from frame to frame and
detects again only when the track is lost, so, as with DIS flow, only the same pass gives the
same keypoints, and ``prepare`` and inference both make it over the whole video.

A track is float32 (T, 33, 4) per video: x and y divided by the frame's shorter side (so both
axes have one unit and a 640x480 frame spans x in [0, 1.33]), the landmark's visibility, and
1 where a person was found in that frame; a frame without a person is all zeros, and a video
without a person an all-zero track, not an error.

MediaPipe is an optional extra (:data:`POSE_EXTRA`): its wheel declares jax and the
non-headless OpenCV as dependencies, which must not be installed beside ours, so it is installed
without its dependencies. Only the ``full`` landmark model ships in the wheel (``lite`` and
``heavy`` download at run time), so that is the one used.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any, Self

import numpy as np
import torch

from actionlab.errors import InputError

log = logging.getLogger(__name__)

POSE_EXTRA = ("pip install 'actionlab[pose]' && pip install --no-deps mediapipe==0.10.14")
NUM_JOINTS = 33
CHANNELS = 4  # x, y, visibility, present
COMPLEXITY = 1  # the "full" landmark model: the one the wheel ships
LANDMARK_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite",
                  2: "pose_landmark_heavy.tflite"}
# MediaPipe's landmark order: each joint's mirror image (a horizontal flip swaps left and right)
FLIP_INDEX = (0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
              24, 23, 26, 25, 28, 27, 30, 29, 32, 31)
LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER = 23, 24, 11, 12


def _protobuf_shim() -> None:
    """MediaPipe 0.10.14 asks protobuf for ``GetPrototype``, which protobuf 5 removed; onnx
    needs protobuf 6, so give the old name the documented replacement (``GetMessageClass``)."""
    from google.protobuf import message_factory, symbol_database

    def get_prototype(self: Any, descriptor: Any) -> Any:
        return message_factory.GetMessageClass(descriptor)

    for cls in (message_factory.MessageFactory, symbol_database.SymbolDatabase):
        if not hasattr(cls, "GetPrototype"):
            cls.GetPrototype = get_prototype


def load_mediapipe() -> Any:
    """MediaPipe's pose solution module, or one :class:`InputError` line saying how to install it.

    Raises:
        InputError: the ``pose`` extra (or mediapipe itself) is not installed.
    """
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
    try:
        _protobuf_shim()
        import mediapipe  # noqa: F401  (the package first: its own import errors show here)
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError as exc:
        raise InputError(f"pose keypoints need the optional extra ({exc}): {POSE_EXTRA}") from None
    return mp_pose


def model_name(complexity: int = COMPLEXITY) -> str:
    """The estimator's name as caches and checkpoints record it (``mediapipe-0.10.14-full``)."""
    import mediapipe

    kind = LANDMARK_FILES[complexity].removeprefix("pose_landmark_").removesuffix(".tflite")
    return f"mediapipe-{mediapipe.__version__}-{kind}"


def _check_model_file(mp_pose: Any, complexity: int) -> None:
    if complexity not in LANDMARK_FILES:
        raise InputError(f"pose model complexity {complexity}: use 0, 1 or 2")
    import mediapipe

    path = os.path.join(os.path.dirname(mediapipe.__file__), "modules", "pose_landmark",
                        LANDMARK_FILES[complexity])
    if not os.path.isfile(path):
        raise InputError(f"{path}: pose model complexity {complexity} needs this file, which "
                         f"the mediapipe wheel does not ship (MediaPipe downloads it at run "
                         f"time); use complexity {COMPLEXITY}")


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what MediaPipe's C++ side writes to file descriptor 2 while it starts (absl
    warnings about TFLite's feedback tensors, once per model: the landmark model loads at the
    first frame with a person)."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def estimator(complexity: int = COMPLEXITY) -> Any:
    """A MediaPipe ``Pose`` in video (tracking) mode, one person; close it after the video."""
    mp_pose = load_mediapipe()
    _check_model_file(mp_pose, complexity)
    with _quiet_native_stderr():
        return mp_pose.Pose(static_image_mode=False, model_complexity=complexity,
                            smooth_landmarks=True, min_detection_confidence=0.5,
                            min_tracking_confidence=0.5)


def empty_track(num_frames: int) -> np.ndarray:
    """The track of a video without a person: (T, 33, 4) zeros."""
    return np.zeros((num_frames, NUM_JOINTS, CHANNELS), np.float32)


class PoseTracker:
    """MediaPipe Pose in video mode, fed one frame at a time (``prepare``, ``timeline`` and
    ``live`` all make this one sequential pass); use as a context manager or ``close()`` it.

    Args:
        complexity: MediaPipe's landmark model (only 1, ``full``, ships in the wheel).

    Raises:
        InputError: the pose extra is not installed.
    """

    def __init__(self, complexity: int = COMPLEXITY) -> None:
        self.est = estimator(complexity)
        self.started = False  # whether the landmark model has run (and said its piece)

    def push(self, frame: np.ndarray) -> np.ndarray:
        """The keypoints of the next frame, (H, W, 3) uint8 RGB -> float32 (33, 4)."""
        h, w = frame.shape[:2]
        if self.started:
            res = self.est.process(np.ascontiguousarray(frame))
        else:
            with _quiet_native_stderr():
                res = self.est.process(np.ascontiguousarray(frame))
        row = np.zeros((NUM_JOINTS, CHANNELS), np.float32)
        if res.pose_landmarks is not None:
            self.started = True
            s = float(min(w, h))
            row[:, :3] = [(p.x * w / s, p.y * h / s, p.visibility)
                          for p in res.pose_landmarks.landmark]
            row[:, 3] = 1.0
        return row

    def close(self) -> None:
        self.est.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def keypoints(frames: np.ndarray, complexity: int = COMPLEXITY) -> np.ndarray:
    """The pose track of a video: one sequential pass of MediaPipe Pose over its frames.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        complexity: MediaPipe's landmark model (only 1, ``full``, ships in the wheel).

    Returns:
        float32 (T, 33, 4): x, y by the shorter side, visibility, present (see the module);
        all zeros for a video without a person.

    Raises:
        InputError: the pose extra is not installed.
    """
    if not len(frames):
        return empty_track(0)
    with PoseTracker(complexity) as tracker:
        return np.stack([tracker.push(f) for f in frames])


def present_share(track: np.ndarray) -> float:
    """The share of frames in which a person was found."""
    return float(track[:, 0, 3].mean()) if len(track) else 0.0


def pose_tensor(track: np.ndarray) -> torch.Tensor:
    """float32 (T, J, 4) track rows -> (4, T, J), the layout pose models take (channels first,
    like a clip's (C, T, H, W))."""
    return torch.from_numpy(np.ascontiguousarray(track, dtype=np.float32)).permute(2, 0, 1)


def flip(x: torch.Tensor) -> torch.Tensor:
    """The mirror image of a (4, T, J) pose input: x negated where a person is, left and right
    joints swapped. Models centre on the hips, so the mirror's offset does not matter."""
    out = x[:, :, list(FLIP_INDEX)].clone()
    out[0] = -out[0]
    return out


class PoseTransform:
    """The pose stream's transform: at training a horizontal flip with probability 1/2.

    Args:
        train: Whether to augment.
        flip: Flip at training (``transform_kw: {flip: true}``).
    """

    def __init__(self, train: bool, flip: bool = False) -> None:
        self.train, self.flip = train, flip

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        if self.train and self.flip and float(torch.rand((), generator=gen)) < 0.5:
            return flip(x)
        return x


def pose_transform(train: bool, **kw: Any) -> PoseTransform:
    """The pose preset from a run's ``transform_kw``: only ``flip`` applies to keypoints."""
    unknown = sorted(set(kw) - {"flip"})
    if unknown:
        raise InputError(f"transform options {', '.join(unknown)}: not for pose inputs; "
                         "the pose transform takes only flip")
    return PoseTransform(train, bool(kw.get("flip", False)))
