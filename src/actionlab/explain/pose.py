"""Explanations of a pose model: *when* it looked (Grad-CAM and activation over time) and
*which joints* moved its score (guided backpropagation on the keypoints), drawn on the frames.

A pose model's last feature map is (B, C, T): one column per input frame, no space. So its
Grad-CAM is a curve over the window's frames, drawn as a heat bar under each frame; the
keypoints themselves are the input, so guided backpropagation gives each joint of each frame
an importance (the size of the gradient on its x and y), drawn as the joint's colour on the
skeleton. :func:`explain_pose_window` returns the same :class:`Explanation` as the frame and
flow streams, so ``explain``, its sheets and its GIF treat it alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from actionlab.checkpoint import classes_of
from actionlab.explain.cam import activation_maps, grad_cam, guided_backprop
from actionlab.explain.visual import (
    Explanation,
    StreamExplanation,
    grow_for_display,
    window_inputs,
)
from actionlab.infer.preprocess import Decoded
from actionlab.infer.runner import softmax

# MediaPipe Pose's 33-landmark skeleton (its documented topology): face, arms, hands, torso,
# legs, feet
EDGES = ((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
         (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
         (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
         (11, 12), (11, 23), (12, 24), (23, 24),
         (23, 25), (25, 27), (27, 29), (29, 31), (27, 31),
         (24, 26), (26, 28), (28, 30), (30, 32), (28, 32))
BAR = 10  # pixels: the height of the heat bar under a frame


def _jet(v: float) -> tuple[int, int, int]:
    """An RGB jet colour for a value in [0, 1] (the colours of the frame streams' overlays)."""
    import cv2

    bgr = cv2.applyColorMap(np.array([[int(np.clip(v, 0, 1) * 255)]], np.uint8),
                            cv2.COLORMAP_JET)[0, 0]
    return int(bgr[2]), int(bgr[1]), int(bgr[0])


def draw_skeleton(frame: np.ndarray, joints: np.ndarray,
                  importance: np.ndarray | None = None) -> np.ndarray:
    """The skeleton of one frame's keypoints drawn on a copy of ``frame``.

    Args:
        frame: (H, W, 3) uint8 RGB, the frame the keypoints were found on, at any scale.
        joints: (33, 4) x, y (by the frame's shorter side), visibility, present.
        importance: (33,) in [0, 1]: each joint drawn in its jet colour; None: white joints.
    """
    import cv2

    out = frame.copy()
    if joints[0, 3] <= 0:  # no person in this frame
        return out
    s = float(min(out.shape[:2]))
    pts = [(int(round(x * s)), int(round(y * s))) for x, y in joints[:, :2]]
    r = max(2, int(s / 60))
    for a, b in EDGES:
        cv2.line(out, pts[a], pts[b], (255, 255, 255), max(1, r // 2), cv2.LINE_AA)
    for j, p in enumerate(pts):
        colour = (255, 255, 255) if importance is None else _jet(float(importance[j]))
        cv2.circle(out, p, r, colour, -1, cv2.LINE_AA)
    return out


def with_bar(image: np.ndarray, value: float) -> np.ndarray:
    """``image`` with a heat bar of ``value`` (jet, [0, 1]) over its bottom ``BAR`` rows."""
    out = image.copy()
    out[-BAR:] = _jet(value)
    return out


def explain_pose_window(model: torch.nn.Module, meta: dict[str, Any], decoded: Decoded,
                        start: int | None = None, target: int | None = None) -> Explanation:
    """Grad-CAM and activation over time, and guided backprop per joint, for one pose window.

    Args:
        model: A pose model (input (B, 4, T, 33), ``forward_features`` -> (B, C, T')).
        meta: Its checkpoint meta.
        decoded: The decoded video (its keypoints are found as ``predict`` finds them).
        start: First frame of the window (clip models); default the centred window. A
            segment (TSN-style) model sees the whole video.
        target: Class index to explain; default the predicted class.
    """
    from actionlab.explain.cam import upsample

    _, start, src, inputs = window_inputs(model, meta, decoded, start)  # (1, 4, T, J)
    window = src.src
    cams, logits = grad_cam(model, inputs, target)
    acts = activation_maps(model, inputs)
    probs = softmax(logits)[0]
    j = int(np.argmax(probs)) if target is None else int(target)
    guided = guided_backprop(model, inputs, j)[0][0]  # (4, T, J)
    _, idx = src.reads[0]
    idx = np.asarray(idx)
    t = len(idx)

    def per_frame(curve: np.ndarray) -> np.ndarray:  # (T',) -> (T,) in [0, 1]
        c = np.asarray(curve, np.float32).reshape(-1)
        return c if len(c) == t else upsample(c[None], (1, t))[0]

    cam, act = per_frame(cams[0][0]), per_frame(acts[0][0])
    joint = np.linalg.norm(guided[:2], axis=0)  # (T, J): the gradient on each joint's x, y
    joint = joint / (joint.max() or 1.0)
    track = window.pose(idx)  # (T, J, 4), what the model read
    frames = window.rgb(idx)  # (T, H, W, 3) at the cache geometry
    raw = [grow_for_display(f) for f in frames]
    st = StreamExplanation(name="pose", frames=[int(start + k) for k in idx],
                           images=[draw_skeleton(f, k) for f, k in zip(raw, track, strict=True)])
    st.gradcam = [with_bar(im, float(v)) for im, v in zip(st.images, cam, strict=True)]
    st.activation = [with_bar(im, float(v)) for im, v in zip(st.images, act, strict=True)]
    st.guided = [draw_skeleton(f, k, g) for f, k, g in zip(raw, track, joint, strict=True)]
    st.series = {"gradcam": cam.tolist(), "activation": act.tolist(),
                 "joints": joint.tolist()}
    classes = classes_of(meta)
    return Explanation(label=classes[j], prob=float(probs[j]), start=int(start), streams=[st],
                       fps=float(decoded.fps))
