"""Predict the action in a video: top-k labels, multi-clip averaging, flow on the fly.

:func:`~actionlab.infer.preprocess.decode_video` reads a video once; :func:`predict_video`
averages the softmax of several clips spread over the video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.data.sampling import clip_starts
from actionlab.infer.preprocess import Decoded, decode_video, preprocess
from actionlab.infer.runner import Runner, softmax

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """Top-k labels for one video, and the averaged class probabilities."""

    video: str
    topk: list[tuple[str, float]]
    probs: list[float]
    classes: list[str]
    clips: int
    frames: int
    fps: float
    padded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``actionlab predict --json`` prints for one video."""
        return {
            "video": self.video,
            # ``score`` is the public name; ``prob`` (the same number) stays for older readers
            "top": [{"label": lab, "score": round(p, 6), "prob": round(p, 6)}
                    for lab, p in self.topk],
            "clips": self.clips,
            "frames": self.frames,
            "fps": self.fps,
            "padded": self.padded,
        }


def predict_frames(
    runner: Runner,
    decoded: Decoded,
    k: int = 5,
    clips: int = 3,
) -> Prediction:
    """Top-k for an already decoded video (see :func:`predict_video`)."""
    spec, classes = runner.spec, runner.classes
    n = len(decoded.frames)
    span = spec.window_span()
    if clips <= 1 or spec.kind == "tsn":
        # The whole video as one window: exactly the eval sample training computed (TSN's
        # segments span the whole video anyway).
        starts, length = [0], n
    else:
        starts, length = clip_starts(n, span, clips), span
    inputs = preprocess(decoded, spec, starts=starts, length=length)
    probs = softmax(runner.logits(inputs)).mean(axis=0)
    order = np.argsort(-probs)[: max(1, k)]
    return Prediction(
        video=str(decoded.path),
        topk=[(classes[i], float(probs[i])) for i in order],
        probs=[float(p) for p in probs],
        classes=classes,
        clips=len(inputs[0]),
        frames=n,
        fps=decoded.fps,
        padded=n < span,
    )


def predict_video(
    runner: Runner, path: str | Path, k: int = 5, clips: int = 3
) -> Prediction:
    """Top-k labels for a video, averaging the softmax over ``clips`` clips.

    Two-stream and flow models get their flow computed here, once, with the method, size and
    stride the checkpoint's input spec names. A video shorter than one window is sampled as
    training data is (consecutive frames, then looping; ``Prediction.padded`` says so and a
    warning is logged).

    Args:
        runner: From :func:`actionlab.infer.runner.load_runner`.
        path: The video.
        k: How many labels to return.
        clips: Clips averaged, evenly spaced; 1 samples the whole video as the eval datasets do
            (TSN models: always one, their segments cover the video).
    """
    decoded = decode_video(path, runner.spec)
    pred = predict_frames(runner, decoded, k=k, clips=clips)
    if pred.padded:
        log.warning(
            "%s: %d frames is shorter than one window (%d); sampled with looping",
            path, pred.frames, runner.spec.window_span(),
        )
    return pred
