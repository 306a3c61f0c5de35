"""Export a model to ONNX with a dynamic batch axis and its meta embedded, then check it.

The ONNX file carries the checkpoint's meta JSON in ``metadata_props`` (key ``"actionlab"``), so
:class:`actionlab.infer.runner.OnnxRunner` can preprocess and label with onnxruntime alone.
Two-stream models export with two inputs, ``rgb`` and ``flow``.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import ActionlabError, ModelError
from actionlab.infer.preprocess import as_spec, dummy_inputs
from actionlab.infer.runner import ONNX_META_KEY, OnnxRunner, Runner, TorchRunner
from actionlab.spec import InputSpec
from actionlab.io import write_bytes_atomic
from actionlab.runtime import onnx_providers

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 1e-3


def input_names(spec: InputSpec) -> list[str]:
    """ONNX input names: ``input`` for one input, else each stream's modality."""
    streams = spec.streams()
    if len(streams) == 1:
        return ["input"]
    names = [s.modality for s in streams]
    return names if len(set(names)) == len(names) else [f"input{i}" for i in range(len(names))]


@dataclass
class ExportResult:
    """Where the model went and how closely onnxruntime reproduces PyTorch."""

    path: Path
    max_abs_diff: float
    inputs: list[str]


def onnx_bytes(model: Any, meta: dict[str, Any], opset: int = 17) -> bytes:
    """Trace ``model`` to ONNX in memory, with a dynamic batch axis and ``meta`` embedded.

    Raises:
        ModelError: the model does not trace.
    """
    import onnx
    import torch

    spec = as_spec(meta)
    names = input_names(spec)
    model = model.eval()
    # Batch 2 when tracing so nothing specialises on a batch of one.
    device = _device_of(model)
    example = tuple(torch.from_numpy(x).to(device) for x in dummy_inputs(spec, batch=2))
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                example,
                buf,
                input_names=names,
                output_names=["logits"],
                dynamic_axes={n: {0: "batch"} for n in [*names, "logits"]},
                opset_version=opset,
                dynamo=False,
            )
    except Exception as exc:  # tracing errors come in many types
        name = meta.get("model", {}).get("name")
        raise ModelError(f"ONNX export of {name!r} failed: {exc}") from exc
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_META_KEY, json.dumps(meta)
    return proto.SerializeToString()


def max_difference(model: Any, runner: OnnxRunner, spec: InputSpec, seed: int = 0) -> float:
    """Largest |PyTorch - onnxruntime| over the logits of a random batch of three."""
    import torch

    rng = np.random.default_rng(seed)
    check = tuple(rng.standard_normal((3, *x.shape[1:])).astype(np.float32)
                  for x in dummy_inputs(spec, batch=1))
    device = _device_of(model)
    with torch.no_grad():
        ref = model.eval()(*(torch.from_numpy(x).to(device) for x in check)).float().cpu().numpy()
    return float(np.abs(ref - runner.logits(check)).max())


def _device_of(model: Any) -> Any:
    import torch

    return next((p.device for p in model.parameters()), torch.device("cpu"))


def export_onnx(
    model: Any,
    meta: dict[str, Any],
    out: str | Path,
    opset: int = 17,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    device: str = "cpu",
) -> ExportResult:
    """Export ``model`` to ``out`` and compare it with onnxruntime on random inputs.

    Args:
        model: A torch module taking the inputs :func:`preprocess` makes for ``meta``'s spec.
        meta: The checkpoint meta (embedded in the ONNX file).
        out: The ``.onnx`` path (written atomically; left alone when the check fails).
        opset: ONNX opset.
        tolerance: Largest allowed absolute difference between PyTorch and onnxruntime logits.
        seed: For the random check inputs.
        device: The onnxruntime provider the check runs the exported file with (a
            ``--device`` value: ``cpu``, ``auto``, ``cuda``, ``cuda:N``).

    Raises:
        ModelError: the export fails or the outputs differ by more than ``tolerance``.
    """
    spec = as_spec(meta)
    out = Path(out)
    data = onnx_bytes(model, meta, opset)
    diff = max_difference(model, OnnxRunner(data, device=device), spec, seed)
    if not diff <= tolerance:
        raise ModelError(
            f"{out}: onnxruntime differs from PyTorch by {diff:.3g} (> {tolerance:g}); "
            "the model uses an operator that does not export faithfully"
        )
    write_bytes_atomic(out, data)
    return ExportResult(path=out, max_abs_diff=diff, inputs=input_names(spec))


def accelerate(runner: Runner, threads: int | None = None,
               tolerance: float = DEFAULT_TOLERANCE) -> Runner:
    """Run a PyTorch model with onnxruntime instead (in memory; nothing is written).

    onnxruntime runs the compact video models several times faster than eager PyTorch on a
    CPU (the (2+1)D flow stream especially). The exported model is checked against PyTorch
    first; any failure keeps the PyTorch runner (logged), so this is always safe to call.

    Args:
        runner: A :class:`TorchRunner` (anything else is returned as it is).
        threads: onnxruntime intra-op threads.
        tolerance: Largest allowed |PyTorch - onnxruntime| on a random batch.
    """
    if not isinstance(runner, TorchRunner):
        return runner
    device = "cpu"
    if runner.device.type == "cuda":  # onnxruntime on the CPU would be slower than the GPU
        device = f"cuda:{runner.device.index or 0}"
        try:
            onnx_providers(device)
        except ActionlabError as exc:
            log.info("staying with PyTorch on %s (%s)", runner.device, exc)
            return runner
    try:
        fast = OnnxRunner(onnx_bytes(runner.model, runner.meta), threads=threads, device=device)
        diff = max_difference(runner.model, fast, runner.spec)
    except Exception as exc:  # noqa: BLE001 - any failure: stay with PyTorch
        log.info("onnxruntime acceleration unavailable (%s); running PyTorch", exc)
        return runner
    if not diff <= tolerance:
        log.info("onnxruntime differs from PyTorch by %.3g; running PyTorch", diff)
        return runner
    fast.meta, fast.spec, fast.classes = runner.meta, runner.spec, runner.classes
    return fast
