"""``timeline --fuse``: two models over the same classes, fused late on the same windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _infer_fakes import CLASSES, TinyClipNet, TinyFrameNet, meta, spec

from actionlab.errors import InputError
from actionlab.infer.runner import TorchRunner
from actionlab.infer.timeline import fuse_timelines, run_timeline


@pytest.fixture(scope="module")
def pair() -> tuple[TorchRunner, TorchRunner]:
    torch.manual_seed(0)
    return (TorchRunner(TinyClipNet(), meta("tiny", spec("clip", "rgb", frames=8))),
            TorchRunner(TinyFrameNet(), meta("tiny", spec("frame", "rgb"))))


def test_fused_curve_is_the_weighted_mean_on_the_first_models_windows(pair, clip_mp4) -> None:
    a, b = pair
    alone_a, _ = run_timeline(a, clip_mp4)
    alone_b, _ = run_timeline(b, clip_mp4, window=alone_a.window, step=alone_a.step)
    assert alone_b.times == alone_a.times
    for w in (0.0, 0.3, 1.0):
        tl, _ = fuse_timelines(pair, clip_mp4, w)
        assert tl.times == alone_a.times and (tl.window, tl.step) == (alone_a.window, alone_a.step)
        np.testing.assert_allclose(tl.probs, (1 - w) * alone_a.probs + w * alone_b.probs,
                                   atol=1e-6)
        assert tl.fusion == {"models": ["a", "b"], "weights": [round(1 - w, 6), w]}
    tl, _ = fuse_timelines(pair, clip_mp4, 0.0)
    assert tl.segments == alone_a.segments and tl.events == alone_a.events
    assert "fusion" in tl.to_dict() and "fusion" not in alone_a.to_dict()


def test_fusion_refuses_other_classes_and_bad_weights(pair, clip_mp4) -> None:
    a, _ = pair
    other = TorchRunner(TinyFrameNet(), meta("tiny", spec("frame", "rgb"),
                                             classes=[c + "_x" for c in CLASSES]))
    with pytest.raises(InputError, match="classes differ"):
        fuse_timelines((a, other), clip_mp4)
    with pytest.raises(InputError, match="from 0 to 1"):
        fuse_timelines(pair, clip_mp4, 1.5)


def _frame_checkpoint(path: Path) -> Path:
    """A registry frame model over the fakes' classes, saved as a real checkpoint."""
    from actionlab.checkpoint import save_checkpoint
    from actionlab.models import build_model

    torch.manual_seed(1)
    kw = {"num_classes": len(CLASSES), "width": 0.125, "head_grid": 2, "input_size": 32}
    return save_checkpoint(path, build_model("resnetlike", **kw),
                           {"model": {"name": "resnetlike", "kwargs": kw}, "classes": CLASSES,
                            "input": spec("frame", "rgb"), "epoch": 0, "metrics": {}})


def test_cli_fuse_writes_the_weights(checkpoint, clip_mp4, tmp_path, actionlab) -> None:
    from cli_run import refused

    frame = _frame_checkpoint(tmp_path / "frame.safetensors")
    out = tmp_path / "tl"
    res = actionlab("timeline", checkpoint, clip_mp4, "--fuse", frame, "--fuse-weight", "0.25",
                    "--no-video", "--no-fast", "--out", out)
    assert res.code == 0, res.err
    doc = json.loads((out / "timeline.json").read_text())
    assert doc["fusion"]["weights"] == [0.75, 0.25]
    assert doc["fusion"]["models"] == [str(checkpoint), str(frame)]
    assert len(doc["probs"]) == len(doc["times"]) and doc["classes"] == CLASSES
    refused(actionlab("timeline", checkpoint, clip_mp4, "--fuse", frame, "--fuse-weight", "2",
                      "--out", tmp_path / "x"), "from 0 to 1", code=2)
    refused(actionlab("timeline", checkpoint, clip_mp4, "--fuse-weight", "0.3",
                      "--out", tmp_path / "y"), "give --fuse", code=2)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
