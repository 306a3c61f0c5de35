"""Run a trained model on preprocessed inputs: a PyTorch checkpoint or an exported ONNX file.

Both runners take the numpy arrays :func:`actionlab.infer.preprocess.preprocess` makes and return
logits as numpy, so everything above them (predict, timeline, serve) is the same for both. The
ONNX runner imports onnxruntime only: a deployed model needs neither torch nor the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from actionlab.checkpoint import classes_of
from actionlab.errors import CheckpointError
from actionlab.infer.preprocess import as_spec
from actionlab.metrics import softmax  # noqa: F401 - predict, timeline, live use it from here
from actionlab.spec import InputSpec

ONNX_META_KEY = "actionlab"


class Runner(Protocol):
    """What predict and timeline need from a model: its meta, input spec and classes."""

    meta: dict[str, Any]
    spec: InputSpec
    classes: list[str]

    def logits(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        """(B, K) logits for a batch of inputs."""
        ...


class TorchRunner:
    """A PyTorch model (eval mode, no gradients) and its checkpoint meta; inputs go to the
    model's device and logits come back to the CPU."""

    def __init__(self, model: Any, meta: dict[str, Any]) -> None:
        import torch

        self.model = model.eval()
        self.meta = meta
        self.spec = as_spec(meta)
        self.classes = classes_of(meta)
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def logits(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(*(torch.from_numpy(x).to(self.device) for x in inputs))
        return out.float().cpu().numpy()


class OnnxRunner:
    """An exported ONNX model run with onnxruntime; the meta comes from its metadata_props."""

    def __init__(self, path: str | Path | bytes, threads: int | None = None,
                 device: str = "auto") -> None:
        """Args:
            path: An ``.onnx`` file, or the model's serialized bytes.
            threads: onnxruntime intra-op threads (default: the thread budget).
            device: ``auto`` (onnxruntime's CUDA provider when it has one and a GPU is
                visible), ``cpu``, ``cuda`` or ``cuda:N`` (see ``runtime.onnx_providers``).
        """
        import onnxruntime as ort

        from actionlab.runtime import onnx_providers

        where = "<in-memory ONNX model>" if isinstance(path, bytes) else str(path)
        if not isinstance(path, bytes):
            path = Path(path)
            if not path.is_file():
                raise CheckpointError(f"{path}: no such ONNX file")
        from actionlab.runtime import onnx_session_options

        opts = onnx_session_options(threads)
        try:
            self.session = ort.InferenceSession(
                path if isinstance(path, bytes) else str(path), sess_options=opts,
                providers=onnx_providers(device),
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise CheckpointError(f"{where}: not a loadable ONNX model ({exc})") from None
        raw = self.session.get_modelmeta().custom_metadata_map.get(ONNX_META_KEY)
        if raw is None:
            raise CheckpointError(
                f"{where}: an ONNX file without actionlab metadata; export it with "
                "`actionlab export CHECKPOINT --onnx OUT.onnx`"
            )
        try:
            self.meta = json.loads(raw)
            self.spec = as_spec(self.meta, where)
        except ValueError:
            raise CheckpointError(f"{where}: its actionlab metadata is not valid JSON") from None
        self.classes = classes_of(self.meta)
        self.providers = self.session.get_providers()  # what onnxruntime really runs on
        self.input_names = [i.name for i in self.session.get_inputs()]

    def logits(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        feed = dict(zip(self.input_names, inputs, strict=True))
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def load_runner(path: str | Path, onnx: str | Path | None = None, device: str = "auto") -> Runner:
    """A runner for a checkpoint or run folder, or, when ``onnx`` is given (or the path ends
    in ``.onnx``), an ONNX file run with onnxruntime. ``device`` is a ``--device`` value: where
    PyTorch runs the model, or which onnxruntime provider runs the ONNX file."""
    if onnx is not None:
        return OnnxRunner(onnx, device=device)
    if str(path).endswith(".onnx"):
        return OnnxRunner(path, device=device)
    from actionlab.checkpoint import load
    from actionlab.runtime import resolve_device

    torch_device = resolve_device(device)  # a GPU that is not there fails first, in one line
    loaded = load(path, device=str(torch_device))
    return TorchRunner(loaded.model, loaded.meta)
