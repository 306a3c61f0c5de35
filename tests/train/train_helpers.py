"""Tiny models and datasets for trainer tests (CPU, a few milliseconds per step).

Imported by the tests as ``train_helpers`` (pytest puts this folder on sys.path).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from actionlab.config import ExperimentConfig, load_config


class TinyNet(nn.Module):
    """A two-layer MLP with the timm-style interface (no BN, no dropout: deterministic)."""

    classifier_name = "fc"

    def __init__(self, num_classes: int = 3, in_features: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.body = nn.Linear(in_features, hidden)
        self.fc = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, n: int) -> None:
        self.fc = nn.Linear(self.fc.in_features, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class TinyConvBN(nn.Module):
    """A 2D conv net with two BatchNorms and dropout (for partial BN, channels_last, bf16)."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(self.drop(x.mean(dim=(-2, -1))))


def tiny_data(n: int = 24, features: int = 8, classes: int = 3, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, features, generator=g) + y.unsqueeze(1).float()
    return TensorDataset(x, y)


def image_data(n: int = 12, classes: int = 3) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(n, 3, 8, 8, generator=g), torch.arange(n) % classes)


def loader(ds: TensorDataset, batch: int = 4, shuffle: bool = True, seed: int = 0) -> DataLoader:
    from actionlab.train.run import make_loader

    return make_loader(ds, batch, shuffle, seed)


def config(tmp_path: Path, *overrides: str) -> ExperimentConfig:
    base = [f"train.out_dir={tmp_path}", "train.progress=false", "train.epochs=2",
            "name=tiny", "data.batch_size=4"]
    return load_config(None, base + list(overrides))



def fake_cache(root: Path, classes: tuple[str, ...] = ("jump", "run", "wave"), per_class: int = 4,
               splits: tuple[str, ...] = ("train", "train", "val", "test"), frames: int = 12,
               size: int = 16, seed: int = 0) -> Path:
    """A prepared cache written directly (no video decoding): random frames, flow and
    keypoints (a person in most frames) per video."""
    import numpy as np

    from actionlab.data.cache import video_file, write_entry
    from actionlab.data.manifest import Manifest, Record

    rng = np.random.default_rng(seed)
    records = []
    for label, cls in enumerate(classes):
        for k in range(per_class):
            key = f"{cls}__{cls}_{k}"
            n = frames + k
            rgb = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
            rgb[..., label % 3] = 200  # a colour per class: learnable
            flow = rng.integers(0, 255, (n - 1, size, size, 2), dtype=np.uint8)
            pose = rng.random((n, 33, 4), dtype=np.float32)
            pose[..., 3] = (rng.random((n, 1)) < 0.8)  # present in most frames
            pose *= pose[..., 3:]
            write_entry(video_file(root, key), rgb, flow, {"frames": n, "fps": 25.0}, pose=pose)
            records.append(Record(f"{cls}/{cls}_{k}.mp4", label, cls, splits[k % len(splits)],
                                  n, 25.0, size, size, key))
    meta = {"prepare": {"size": [size, size], "inputs": ["rgb", "flow", "pose"],
                        "flow_bound": 20.0, "pose_model": "random"}}
    Manifest(list(classes), records, "folder", str(root), meta).save(root / "manifest.json")
    return root


class PoolNet(nn.Module):
    """Any input layout -> global average over all but the channel dim -> linear."""

    classifier_name = "fc"

    def __init__(self, num_classes: int, in_channels: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.stem = nn.Linear(in_channels, 8)
        self.fc = nn.Linear(8, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5 and x.shape[1] != self.in_channels:  # TSN (B, S, C, H, W)
            x = x.transpose(1, 2)  # (B, C, S, H, W)
        dims = [d for d in range(2, x.dim())]
        return torch.relu(self.stem(x.mean(dim=dims) if dims else x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, n: int) -> None:
        self.fc = nn.Linear(8, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class Noisy(torch.utils.data.Dataset):
    """Adds noise from torch's global RNG in ``__getitem__`` (augmentation in the main process)."""

    def __init__(self, base: TensorDataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x + 0.1 * torch.randn_like(x), y
