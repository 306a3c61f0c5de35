"""Export a model to ONNX with a dynamic batch axis and its meta embedded, then check it.

The ONNX file carries the checkpoint's meta JSON in ``metadata_props`` (key ``"actionlab"``), so
:class:`actionlab.infer.runner.OnnxRunner` can preprocess and label with onnxruntime alone.
Two-stream models export with two inputs, ``rgb`` and ``flow``.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import ModelError
from actionlab.infer.preprocess import dummy_inputs, stream_specs
from actionlab.infer.runner import ONNX_META_KEY, OnnxRunner, input_spec
from actionlab.io import atomic_path

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 1e-3


def input_names(spec: dict[str, Any]) -> list[str]:
    """ONNX input names: ``input`` for one input, else each stream's modality."""
    streams = stream_specs(spec)
    if len(streams) == 1:
        return ["input"]
    names = [s.get("modality", f"input{i}") for i, s in enumerate(streams)]
    return names if len(set(names)) == len(names) else [f"input{i}" for i in range(len(names))]


@dataclass
class ExportResult:
    """Where the model went and how closely onnxruntime reproduces PyTorch."""

    path: Path
    max_abs_diff: float
    inputs: list[str]
    ok: bool


def export_onnx(
    model: Any,
    meta: dict[str, Any],
    out: str | Path,
    opset: int = 17,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> ExportResult:
    """Export ``model`` to ``out`` and compare it with onnxruntime on random inputs.

    Args:
        model: A torch module taking the inputs :func:`preprocess` makes for ``meta``'s spec.
        meta: The checkpoint meta (embedded in the ONNX file).
        out: The ``.onnx`` path (written atomically; left alone when the check fails).
        opset: ONNX opset.
        tolerance: Largest allowed absolute difference between PyTorch and onnxruntime logits.
        seed: For the random check inputs.

    Raises:
        ModelError: the export fails or the outputs differ by more than ``tolerance``.
    """
    import onnx
    import torch

    spec = input_spec(meta)
    names = input_names(spec)
    model = model.eval()
    # Batch 2 when tracing so nothing specialises on a batch of one.
    example = tuple(torch.from_numpy(x) for x in dummy_inputs(spec, batch=2))
    rng = np.random.default_rng(seed)
    check = tuple(rng.standard_normal((3, *x.shape[1:])).astype(np.float32) for x in example)
    out = Path(out)
    with atomic_path(out) as tmp:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    example,
                    str(tmp),
                    input_names=names,
                    output_names=["logits"],
                    dynamic_axes={n: {0: "batch"} for n in [*names, "logits"]},
                    opset_version=opset,
                    dynamo=False,
                )
        except Exception as exc:  # tracing errors come in many types
            raise ModelError(f"{out}: ONNX export of {meta['model']['name']!r} failed: {exc}") from exc
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = ONNX_META_KEY, json.dumps(meta)
        onnx.save(proto, str(tmp))
        with torch.no_grad():
            ref = model(*(torch.from_numpy(x) for x in check)).float().numpy()
        got = OnnxRunner(tmp).logits(check)
        diff = float(np.abs(ref - got).max())
        if not diff <= tolerance:
            raise ModelError(
                f"{out}: onnxruntime differs from PyTorch by {diff:.3g} (> {tolerance:g}); "
                "the model uses an operator that does not export faithfully"
            )
    return ExportResult(path=out, max_abs_diff=diff, inputs=names, ok=True)
