"""ONNX export: dynamic batch, meta embedded, two inputs for two-stream, onnxruntime agrees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from _infer_fakes import TinyClipNet, TinyTwoStream, meta, spec

from actionlab.errors import CheckpointError, ModelError
from actionlab.infer.export import export_onnx
from actionlab.infer.predict import predict_video
from actionlab.infer.runner import OnnxRunner, TorchRunner


def test_two_stream_export_round_trip(tmp_path: Path, clip_mp4: Path) -> None:
    torch.manual_seed(0)
    model = TinyTwoStream()
    m = meta("tiny_two_stream", spec("two_stream", "rgb+flow", frames=4))
    res = export_onnx(model, m, tmp_path / "m.onnx")
    assert res.max_abs_diff <= 1e-3 and res.inputs == ["rgb", "flow"]
    proto = onnx.load(str(res.path))
    assert json.loads({p.key: p.value for p in proto.metadata_props}["actionlab"]) == m
    dims = [d.dim_param for d in proto.graph.input[1].type.tensor_type.shape.dim]
    assert dims[0] == "batch"
    runner = OnnxRunner(res.path)
    assert runner.meta == m
    for batch in (1, 5):  # the batch axis is dynamic
        x = (np.random.rand(batch, 3, 32, 32).astype(np.float32),
             np.random.rand(batch, 2, 4, 32, 32).astype(np.float32))
        assert runner.logits(x).shape == (batch, 3)
    a = predict_video(runner, clip_mp4)
    b = predict_video(TorchRunner(model, m), clip_mp4)
    assert np.allclose(a.probs, b.probs, atol=1e-4)


def test_export_fails_when_onnxruntime_disagrees(tmp_path: Path) -> None:
    class Drifting(TinyClipNet):
        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # Traced once with one constant, then run eagerly with another.
            Drifting.calls += 1
            return super().forward(x) + (0.0 if Drifting.calls == 1 else 1.0)

    with pytest.raises(ModelError, match="differs"):
        export_onnx(Drifting(), meta("tiny", spec("clip", "rgb")), tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_onnx_without_meta_is_refused(tmp_path: Path) -> None:
    model = TinyClipNet()
    path = tmp_path / "plain.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 4, 32, 32),), str(path), dynamo=False)
    with pytest.raises(CheckpointError, match="actionlab metadata"):
        OnnxRunner(path)
    with pytest.raises(CheckpointError, match="no such"):
        OnnxRunner(tmp_path / "missing.onnx")


def test_accelerate_runs_pytorch_models_with_onnxruntime(clip_mp4: Path) -> None:
    from actionlab.infer.export import accelerate

    torch.manual_seed(0)
    runner = TorchRunner(TinyTwoStream(), meta("tiny", spec("two_stream", "rgb+flow")))
    fast = accelerate(runner)
    assert isinstance(fast, OnnxRunner) and fast.meta == runner.meta
    assert np.allclose(predict_video(fast, clip_mp4).probs, predict_video(runner, clip_mp4).probs,
                       atol=1e-4)

    class Untraceable(TinyClipNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) if x.sum() > 0 else -super().forward(x)  # data-dependent

    slow = TorchRunner(Untraceable(), meta("tiny", spec("clip", "rgb")))
    assert accelerate(slow) is slow  # the check fails: PyTorch stays
