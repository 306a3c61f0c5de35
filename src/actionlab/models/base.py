"""What every model shares: input checks, the head interface, state-dict checks, size, pooling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from actionlab.errors import ModelError
from actionlab.models.surgery import is_classifier_key


class ActionModel(nn.Module):
    """Base of every registered model.

    Subclasses set ``layout`` ("(B, C, H, W)" or "(B, C, T, H, W)" ...), ``in_channels``,
    ``input_shape`` (default input without the batch), ``num_features`` (the pre-logits width),
    ``classifier_name`` (dotted path of the final ``nn.Linear``) and ``head_modules`` (top-level
    attributes used only by ``forward_head``), and implement ``forward_features`` and
    ``forward_head``.
    """

    layout: str = "(B, C, H, W)"
    input_shape: tuple[int, ...] = (3, 224, 224)
    in_channels: int = 3
    num_features: int = 0
    channels: int = 0  # channels of the forward_features map
    classifier_name: str = "fc"
    head_modules: tuple[str, ...] = ("fc",)

    # ------------------------------------------------------------------ interface
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: torch.Tensor) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, x: Any, pre_logits: bool = False) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def default_input(self, batch: int = 1) -> torch.Tensor:
        """A random input of the model's default shape, ``(batch, *input_shape)``."""
        return torch.randn(batch, *self.input_shape)

    def get_classifier(self) -> nn.Module:
        """The final layer (``classifier_name``): the head of :mod:`actionlab.models.surgery`."""
        return self.get_submodule(self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh final layer with ``num_classes`` outputs (0: no layer, pre-logits come out)."""
        parent_name, _, leaf = self.classifier_name.rpartition(".")
        parent = self.get_submodule(parent_name) if parent_name else self
        new: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        setattr(parent, leaf, new)
        self.num_classes = num_classes

    # ------------------------------------------------------------------ checks
    def check_input(self, x: torch.Tensor) -> None:
        """Raise ModelError unless ``x`` has the rank of ``layout`` and ``in_channels`` channels."""
        rank = len(self.layout.strip("()").split(","))
        ch_dim = self.layout.strip("()").replace(" ", "").split(",").index("C")
        if not isinstance(x, torch.Tensor) or x.dim() != rank or x.shape[ch_dim] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ModelError(
                f"{type(self).__name__} expects input {self.layout} with C={self.in_channels}, "
                f"e.g. {(1, *self.input_shape)}; got {got}"
            )

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """``nn.Module.load_state_dict`` that explains a classifier with another class count."""
        check_head(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def check_head(model: nn.Module, state_dict: Mapping[str, Any]) -> None:
    """Raise ModelError when a state dict's classifier has another shape than the model's."""
    own = model.state_dict()
    for key, value in state_dict.items():
        if key in own and hasattr(value, "shape") and tuple(value.shape) != tuple(own[key].shape):
            if _is_head_key(model, key):
                name = key.rsplit(".", 1)[0]
                raise ModelError(
                    f"the state dict's classifier {key!r} has shape {tuple(value.shape)} "
                    f"({value.shape[0]} classes) but the model's is {tuple(own[key].shape)}: call "
                    f"model.reset_classifier({value.shape[0]}) before loading to keep the file's head, "
                    f"or drop the head keys ({name}.*) and load with strict=False to train a new head"
                )
            raise ModelError(
                f"state dict tensor {key!r} has shape {tuple(value.shape)}, the model's is "
                f"{tuple(own[key].shape)}: build the model with the arguments the file was saved with"
            )


def _is_head_key(model: nn.Module, key: str) -> bool:
    """Whether ``key`` is in the classifier of the model or of an ActionModel inside it."""
    for name, sub in model.named_modules():
        prefix = name + "." if name else ""
        if isinstance(sub, ActionModel) and key.startswith(prefix):
            if is_classifier_key(sub, key[len(prefix):]):
                return True
    return False


def model_info(model: nn.Module) -> dict[str, float]:
    """``{'params': N, 'trainable': N, 'size_mb': MB}``: parameter counts (all, trainable) and
    the size of parameters + buffers in MB (1e6 B)."""
    params = sum(p.numel() for p in model.parameters())
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    size += sum(b.numel() * b.element_size() for b in model.buffers())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"params": int(params), "trainable": int(trainable), "size_mb": round(size / 1e6, 3)}


def zero_init_last(model: nn.Module) -> None:
    """Start every residual block as its shortcut: each block's ``zero_init_last()`` zeroes the
    last layer of its branch (the last BN's scale, or the last convolution without BN).

    The scale of the residual sum then stays that of the stem instead of growing block by
    block: a fresh ResNet in eval mode (BN statistics still 0 and 1) gives logits near zero,
    and a net without BN feeds its head features of the stem's size (timm's default; Goyal et
    al. 2017; Fixup). ``docs/models.md`` gives the measured effect.
    """
    for m in model.modules():
        if m is not model and hasattr(m, "zero_init_last"):
            m.zero_init_last()


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1."""
    return max(1, int(round(channels * width)))


def _pool_matrix(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """(n_out, n_in) averaging weights of adaptive pooling's bins (torch's bin edges).

    Built from Python numbers so that tracing (ONNX export) records a constant.
    """
    rows = []
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        rows.append([1.0 / (hi - lo) if lo <= j < hi else 0.0 for j in range(n_in)])
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def adaptive_avg_pool(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """``adaptive_avg_pool{2,3}d`` over the last ``len(size)`` dims, exportable to ONNX at any size.

    torch's ONNX exporter only handles adaptive pooling whose input is a multiple of the output;
    written as a product with fixed bin-averaging matrices it exports for any input size.
    """
    if tuple(x.shape[-len(size):]) == tuple(size):
        return x
    for k, n_out in enumerate(size):
        dim = x.dim() - len(size) + k
        mat = _pool_matrix(int(x.shape[dim]), n_out, x)  # (n_out, n_in)
        last = x.dim() - 1  # positive dims: the ONNX exporter writes a negative one into perm
        x = (x.transpose(dim, last) @ mat.t()).transpose(dim, last)
    return x
