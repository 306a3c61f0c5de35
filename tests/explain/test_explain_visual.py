"""explain_window and its pictures, for every input kind, on tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _infer_fakes import TinyClipNet, TinyFrameNet, TinyTSN, TinyTwoStream, meta, spec
from PIL import Image

from actionlab.explain.visual import (
    explain_window,
    penultimate_features,
    plot_tsne,
    save_explanation,
)
from actionlab.infer.preprocess import decode_video, preprocess
from actionlab.spec import InputSpec

CASES = {
    "frame": (TinyFrameNet, spec("frame", "rgb")),
    "clip": (TinyClipNet, spec("clip", "rgb", frames=6)),
    "tsn": (TinyTSN, spec("tsn", "rgb", segments=3, frames=1)),
    "two_stream": (TinyTwoStream, spec("two_stream", "rgb+flow", frames=4)),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_explain_window_writes_pictures(kind: str, explain_clip: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cls, s = CASES[kind]
    m = meta("tiny", s)
    dec = decode_video(explain_clip, InputSpec.from_dict(s))
    exp = explain_window(cls(), m, dec)
    assert exp.label in m["classes"] and 0 <= exp.prob <= 1
    for st in exp.streams:
        assert st.gradcam and len(st.gradcam) == len(st.images) == len(st.guided)
    paths = save_explanation(exp, tmp_path)
    gif = Image.open(paths["gradcam_gif"])
    n_frames = getattr(gif, "n_frames", 1)
    expected = {"frame": 1, "clip": 6, "tsn": 3, "two_stream": 4}[kind]
    assert n_frames == expected
    for key in ("gradcam", "activation", "guided"):
        assert paths[key].read_bytes()[:4] == b"\x89PNG"
    assert ("flow" in paths) == (kind == "two_stream")


def test_tsne_plot(tmp_path: Path, explain_clip: Path) -> None:
    s = InputSpec.from_dict(spec("frame", "rgb"))
    dec = decode_video(explain_clip, s)
    x = preprocess(dec, s, starts=list(range(0, 24, 2)), length=2)
    feats, logits = penultimate_features(TinyFrameNet(), x, with_logits=True)
    assert feats.shape == (12, 8) and logits.shape == (12, 3)
    labels = ["a" if i < 6 else "b" for i in range(12)]
    path = plot_tsne(feats + np.random.default_rng(0).normal(0, 1e-3, feats.shape), labels,
                     tmp_path / "tsne.png")
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    assert plot_tsne(feats[:3], labels[:3], tmp_path / "few.png") is None


@pytest.mark.parametrize(
    ("name", "kwargs", "input_spec", "images"),
    [
        ("tsn", {"backbone": "resnetlike", "num_segments": 3, "in_channels": 10,
                 "backbone_kwargs": {"width": 0.125, "head_grid": 2, "input_size": 32}},
         spec("tsn", "flow", segments=3, frames=5), 15),
        ("lrcn", {"backbone": "resnetlike", "num_frames": 4, "hidden_size": 8,
                  "backbone_kwargs": {"width": 0.125, "head_grid": 2, "input_size": 32}},
         spec("tsn", "rgb", segments=4, frames=1), 4),
    ],
)
def test_registry_tsn_and_lrcn(name: str, kwargs: dict, input_spec: dict, images: int,
                               explain_clip: Path, tmp_path: Path) -> None:
    """Segment- and time-major feature maps (B, S|T, C, h, w) get one map per segment/frame."""
    from actionlab.models import build_model

    torch.manual_seed(0)
    model = build_model(name, num_classes=3, **kwargs)
    dec = decode_video(explain_clip, InputSpec.from_dict(input_spec))
    exp = explain_window(model, meta(name, input_spec), dec)
    (st,) = exp.streams
    assert len(st.images) == len(st.gradcam) == images
    assert save_explanation(exp, tmp_path)["gradcam_gif"].is_file()


def test_sheets_have_row_titles_and_frame_captions(explain_clip: Path, tmp_path: Path) -> None:
    """Each row of a sheet is titled (stream, method, class) and each image captioned (frame,
    time); four frames are four different columns."""
    from actionlab.explain.visual import _captions, _sheet

    torch.manual_seed(0)
    s = spec("two_stream", "rgb+flow", frames=4)
    dec = decode_video(explain_clip, InputSpec.from_dict(s))
    exp = explain_window(TinyTwoStream(), meta("tiny", s), dec)
    flow = exp.streams[1]
    assert len(flow.frames) == 4 and exp.fps == 25
    assert 8 <= flow.frames[0] < flow.frames[-1] <= 15  # the centred window of 24 frames
    assert _captions(exp, flow) == [f"frame {f}, {f / 25:.2f} s" for f in flow.frames]
    paths = save_explanation(exp, tmp_path)
    sheet = np.asarray(Image.open(paths["gradcam"]).convert("RGB"))
    h, w = flow.images[0].shape[:2]
    assert sheet.shape == (4 * (22 + h), 4 * w, 3)  # 2 streams x (input, Grad-CAM), 4 columns
    for r in range(4):
        strip = sheet[r * (22 + h): r * (22 + h) + 22]
        assert (strip == 255).mean() > 0.8 and (strip < 100).any()  # white, with dark text
    # Without captions, the four flow columns' top bands would be the same dark band.
    flow_row = sheet[2 * (22 + h) + 22: 3 * (22 + h)]
    bands = [flow_row[:16, c * w: (c + 1) * w] for c in range(4)]
    assert all(not np.array_equal(bands[0], b) for b in bands[1:])
    # Images are spread over the columns, none repeated (8 columns of 4 images repeated each).
    imgs = [np.full((8, 8, 3), v, np.uint8) for v in (10, 60, 110, 160)]
    tiled = _sheet([("t", imgs, [])])[22:]
    assert [int(tiled[0, c * 8, 0]) for c in range(4)] == [10, 60, 110, 160]
