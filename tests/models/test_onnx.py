"""ONNX export (torch.onnx, TorchScript-based exporter) of each family round-trips through
onnxruntime within 1e-4 of PyTorch, with a dynamic batch axis."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

from actionlab.models import build_model

from _model_tiny import TINY, tiny_inputs

ort = pytest.importorskip("onnxruntime")

FAMILIES = ["resnet18", "resnet50", "vgg16_bn", "resnet_like", "r2plus1d_flow", "r3d_18",
            "mc3_18", "r2plus1d_18", "i3d", "c3d", "tsn", "lrcn", "two_stream", "motion_histograms"]


@pytest.mark.parametrize("name", FAMILIES)
def test_onnx_round_trip(name: str) -> None:
    kw, shape = TINY[name]
    if name == "two_stream":
        kw = {**kw, "fusion": "mid", "hidden": 8, "mid_path": "conv"}
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, **kw).eval()
    example = tiny_inputs(shape, batch=2)
    names = [f"input{i}" for i in range(len(example))]
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, buf, input_names=names, output_names=["logits"],
                          dynamic_axes={n: {0: "batch"} for n in [*names, "logits"]},
                          opset_version=17, dynamo=False)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    xs = tiny_inputs(shape, batch=3, seed=1)
    got = sess.run(None, {n: x.numpy() for n, x in zip(names, xs)})[0]
    with torch.no_grad():
        want = model(*xs).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
