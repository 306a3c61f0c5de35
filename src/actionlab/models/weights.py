"""Pretrained weights by name: ``model.init.weights=torchvision:r2plus1d_18/KINETICS400_V1``.

A table of torchvision's official files (URL, SHA-256 and the preprocessing they were trained
with) for the models whose parameter names match torchvision's (docs/models.md). Files live
where torchvision keeps them, ``$TORCH_HOME/hub/checkpoints`` (default
``~/.cache/torch/hub/checkpoints``), so a file a user already has is used with no network. Like
torchvision's ``check_hash``, the first hex digits of the SHA-256 are the ones in the file's name
(``resnet18-f37072fd.pth``); the full digest is compared too where the table has it. A download
(``torch.hub.download_url_to_file``) is checked before it is kept; offline, the error names the
file to place and where.

.. code-block:: python

    path = fetch_weights("torchvision:resnet50/IMAGENET1K_V1")   # verified .pth
    entry = weights_entry("torchvision:r2plus1d_18/KINETICS400_V1")  # mean, std, size, frames
    entry.spec(), entry.classes()   # the InputSpec they eat and their 400 Kinetics classes

The Kinetics-400 class names ship with the package (``categories/kinetics400.txt``, torchvision's
order), so ``actionlab.load("torchvision:r2plus1d_18/KINETICS400_V1")`` recognises actions with
no other file than the weights. The ImageNet entries name objects, not actions, and carry no
class list: they start training (``model.init.weights``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionlab.errors import CheckpointError, InputError
from actionlab.io import atomic_path
from actionlab.spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec

log = logging.getLogger(__name__)

PREFIX = "torchvision:"
_URL = "https://download.pytorch.org/models/"
# torchvision's presets: ImageClassification (resize 256, crop 224) and VideoClassification
# for Kinetics-400 (resize 128x171, crop 112x112, 16-frame clips at 15 fps for its accuracy)
KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class NamedWeights:
    """One pretrained file and how its inputs were prepared.

    Attributes:
        name: ``torchvision:<model>/<weights>``.
        model: The actionlab registry model whose parameter names it fits.
        url: The official download.
        num_classes: Classes of its classifier (reset it for yours: ``model.init.reset_head``).
        mean: Per-channel mean of its input normalisation.
        std: Per-channel standard deviation.
        size: Input ``[H, W]`` (the centre crop).
        resize: The resize before the crop (``[short side]`` or ``[H, W]``).
        frames: Frames per clip (1 for image weights).
        sha256: The full SHA-256 where known ("" to check the file name's prefix only).
        categories: The shipped class-name list of its classifier (a file in ``categories/``),
            "" where none ships.
        kwargs: Further registry arguments of ``model`` besides ``num_classes``.
    """

    name: str
    model: str
    url: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: tuple[int, int]
    resize: tuple[int, ...]
    frames: int = 1
    sha256: str = ""
    categories: str = ""
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str:
        """The hex digits after the last ``-`` of the file name (torchvision's convention)."""
        return self.file_name.rsplit(".", 1)[0].rsplit("-", 1)[-1]

    def preprocessing(self) -> dict[str, Any]:
        """What the checkpoint meta records about these weights."""
        return {"name": self.name, "file": self.file_name, "mean": list(self.mean),
                "std": list(self.std), "size": list(self.size), "resize": list(self.resize),
                "frames": self.frames}

    def spec(self) -> InputSpec:
        """The input they were trained on: the short side resized, a centre crop of ``size``;
        a clip of ``frames`` at stride 2 for video weights (torchvision resamples Kinetics to
        15 frames/s: every second frame of a 30 frames/s video)."""
        clip = self.frames > 1
        return InputSpec(kind="clip" if clip else "frame", modality="rgb", size=self.size,
                         frames=self.frames, stride=2 if clip else 1, mean=self.mean,
                         std=self.std, short_side=min(self.resize))

    def classes(self) -> list[str]:
        """The class names in the classifier's order.

        Raises:
            InputError: no class list ships for these weights.
        """
        if not self.categories:
            raise InputError(f"{self.name}: no class list ships for these weights (they classify "
                             "objects, not actions); start training from them with "
                             f"model.init.weights={self.name}")
        names = (Path(__file__).parent / "categories" / f"{self.categories}.txt").read_text(
            encoding="utf-8").splitlines()
        if len(names) != self.num_classes:
            raise InputError(f"{self.name}: categories/{self.categories}.txt has {len(names)} "
                             f"names for {self.num_classes} classes")
        return names

    def model_kwargs(self) -> dict[str, Any]:
        """Registry arguments that rebuild the model these weights fit."""
        return {"num_classes": self.num_classes, **dict(self.kwargs)}


WEIGHTS: dict[str, NamedWeights] = {}


def register_weights(entry: NamedWeights) -> NamedWeights:
    """Add a table entry (a name may be registered once)."""
    if entry.name in WEIGHTS:
        raise ValueError(f"weights {entry.name!r} are already registered")
    if not entry.name.startswith(PREFIX):
        raise ValueError(f"weights names start with {PREFIX!r}: {entry.name!r}")
    WEIGHTS[entry.name] = entry
    return entry


def _imagenet(model: str, file: str, tag: str = "IMAGENET1K_V1", resize: int = 256) -> None:
    register_weights(NamedWeights(f"{PREFIX}{model}/{tag}", model, _URL + file, 1000,
                                  IMAGENET_MEAN, IMAGENET_STD, (224, 224), (resize,)))


def _kinetics(model: str, file: str) -> None:
    register_weights(NamedWeights(f"{PREFIX}{model}/KINETICS400_V1", model, _URL + file, 400,
                                  KINETICS_MEAN, KINETICS_STD, (112, 112), (128, 171), 16,
                                  categories="kinetics400"))


# URLs as torchvision's models/resnet.py, vgg.py and video/resnet.py give them
_imagenet("resnet18", "resnet18-f37072fd.pth")
_imagenet("resnet34", "resnet34-b627a593.pth")
_imagenet("resnet50", "resnet50-0676ba61.pth")
_imagenet("resnet50", "resnet50-11ad3fa6.pth", "IMAGENET1K_V2", resize=232)
_imagenet("resnet101", "resnet101-63fe2227.pth")
_imagenet("resnet152", "resnet152-394f9c45.pth")
_imagenet("vgg16", "vgg16-397923af.pth")
_imagenet("vgg16_bn", "vgg16_bn-6c64b313.pth")
_kinetics("r3d_18", "r3d_18-b3b3357e.pth")
_kinetics("mc3_18", "mc3_18-a90a0ba3.pth")
_kinetics("r2plus1d_18", "r2plus1d_18-91a641e6.pth")


def is_named(source: str) -> bool:
    """``source`` names table weights (``torchvision:...``) rather than a file."""
    return str(source).startswith(PREFIX)


def weights_entry(name: str) -> NamedWeights:
    """The table entry of ``name``.

    Raises:
        InputError: an unknown name; the message lists the known ones.
    """
    try:
        return WEIGHTS[name]
    except KeyError:
        raise InputError(f"unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS))}") from None


def hub_checkpoints() -> Path:
    """torchvision's download folder: ``$TORCH_HOME/hub/checkpoints``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, entry: NamedWeights) -> None:
    """Refuse a file whose SHA-256 is not the table's (prefix, and full digest where known).

    Raises:
        CheckpointError: naming the file, both digests and what to do.
    """
    digest = sha256_of(path)
    want = entry.sha256 or entry.hash_prefix
    if not digest.startswith(want):
        raise CheckpointError(
            f"{path}: SHA-256 {digest[:16]}... does not match {entry.name} (expected {want[:16]}"
            f"...); the file is damaged or another one; delete it and download {entry.url} again")


def fetch_weights(name: str) -> Path:
    """The verified local file of named weights, downloaded once when it is not there.

    Raises:
        InputError: an unknown name.
        CheckpointError: a file with the wrong checksum, or no file and no network (the message
            names the file to place and the folder).
    """
    import torch

    entry = weights_entry(name)
    folder = hub_checkpoints()
    path = folder / entry.file_name
    if path.is_file():
        verify(path, entry)
        return path
    log.info("downloading %s to %s", entry.url, path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.hub.download_url_to_file(entry.url, str(tmp), progress=True)
            verify(tmp, entry)  # a bad download never takes the file's place
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - urllib, socket and OS errors alike
        raise CheckpointError(
            f"{name}: cannot download {entry.url} ({type(exc).__name__}: {exc}); place "
            f"{entry.file_name} in {folder} (or set TORCH_HOME) and run again") from None
    return path


def weights_sources(init: Any) -> list[str]:
    """The named weights a ``model.init`` section uses (``weights`` and ``streams``)."""
    sources = [init.weights, *init.streams.values()]
    return [s for s in sources if s and is_named(s)]


def apply_preprocessing(data: Any, init: Any) -> dict[str, Any] | None:
    """Fill ``data.mean``/``data.std`` from the named weights a run starts from (when unset)
    and warn where ``data.size``/``data.frames`` differ from theirs.

    Returns:
        The weights' preprocessing for the checkpoint meta, or None without named weights.
    """
    names = sorted(set(weights_sources(init)))
    if not names:
        return None
    entry = weights_entry(names[0])
    if len(names) > 1:
        log.info("named weights %s: the input normalisation follows %s", names, entry.name)
    if data.modality in ("rgb", "rgb+flow") and not data.mean and not data.std:
        data.mean, data.std = list(entry.mean), list(entry.std)
    if list(data.size) != list(entry.size):
        log.warning("data.size=%s; %s were trained at %s", list(data.size), entry.name,
                    list(entry.size))
    if entry.frames > 1 and data.frames != entry.frames:
        log.warning("data.frames=%d; %s were trained on %d-frame clips", data.frames,
                    entry.name, entry.frames)
    return entry.preprocessing()
