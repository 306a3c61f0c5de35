"""Named pretrained weights: name -> file and checksum, a placed file loaded strictly with no
network, a wrong checksum refused, the offline case in one line. Nothing is downloaded: a
tiny model's state dict is placed under a temporary TORCH_HOME and registered for the test."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from actionlab.config import CONFIGS, InitConfig, load_config
from actionlab.errors import CheckpointError, InputError
from actionlab.models import build_model, list_models
from actionlab.models import weights as W
from actionlab.train.transfer import initialize

TINY = {"num_classes": 5, "width": 0.25, "input_size": 16, "head_grid": 4}


@pytest.fixture()
def placed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A tiny resnetlike's state dict saved with torch.save, as torchvision names its files
    (``<model>-<first 8 hex digits of its SHA-256>.pth``), registered as a table entry; the
    file is at ``src`` (the 'server') and not yet in the hub folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(3)
    model = build_model("resnetlike", **TINY)
    raw = tmp_path / "raw.pth"
    torch.save(model.state_dict(), raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    src = tmp_path / "server" / f"resnetlike-{digest[:8]}.pth"
    src.parent.mkdir()
    shutil.move(raw, src)
    entry = W.NamedWeights("torchvision:resnetlike/TEST_V1", "resnetlike",
                           f"https://download.invalid/models/{src.name}", 5,
                           (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), (16, 16), (18,), 1, digest)
    monkeypatch.setitem(W.WEIGHTS, entry.name, entry)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    return {"entry": entry, "src": src, "hub": hub, "model": model, "digest": digest}


def _no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def offline(url: str, dst: str, **kw) -> None:
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return calls


def test_builtin_table_names_files_checksums_and_models() -> None:
    e = W.weights_entry("torchvision:r2plus1d_18/KINETICS400_V1")
    assert e.url == "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth"
    assert (e.file_name, e.hash_prefix, e.model) == ("r2plus1d_18-91a641e6.pth", "91a641e6",
                                                     "r2plus1d_18")
    assert (e.num_classes, e.size, e.frames, e.mean[0]) == (400, (112, 112), 16, 0.43216)
    r18 = W.weights_entry("torchvision:resnet18/IMAGENET1K_V1")
    assert (r18.file_name, r18.num_classes, r18.std) == ("resnet18-f37072fd.pth", 1000,
                                                         (0.229, 0.224, 0.225))
    wanted = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg16", "vgg16_bn",
              "r3d_18", "mc3_18", "r2plus1d_18"}
    assert {w.model for w in W.WEIGHTS.values()} == wanted
    for w in W.WEIGHTS.values():
        assert w.model in list_models()
        assert len(w.hash_prefix) == 8 and int(w.hash_prefix, 16) >= 0
        assert w.url.startswith("https://download.pytorch.org/models/")
    with pytest.raises(InputError, match="unknown weights 'torchvision:resnet18/V9'.*resnet50"):
        W.weights_entry("torchvision:resnet18/V9")


def test_placed_file_is_used_offline_and_loads_strictly(placed, monkeypatch) -> None:
    calls = _no_network(monkeypatch)
    placed["hub"].mkdir(parents=True)
    shutil.copy(placed["src"], placed["hub"])
    name = placed["entry"].name
    assert W.fetch_weights(name) == placed["hub"] / placed["src"].name
    assert calls == []  # no network
    torch.manual_seed(99)  # other initial weights
    fresh = build_model("resnetlike", **TINY)
    initialize(fresh, InitConfig(weights=name, strict=True), [f"c{i}" for i in range(5)])
    for (k, a), b in zip(fresh.state_dict().items(), placed["model"].state_dict().values()):
        assert torch.equal(a, b), k
    # strict: a model the file does not fit is refused, not half-loaded
    other = build_model("resnetlike", **{**TINY, "width": 0.5})
    with pytest.raises(CheckpointError, match="shapes differ"):
        initialize(other, InitConfig(weights=name), [f"c{i}" for i in range(5)])


def test_wrong_checksum_is_refused(placed, monkeypatch) -> None:
    _no_network(monkeypatch)
    placed["hub"].mkdir(parents=True)
    bad = placed["hub"] / placed["src"].name
    data = bytearray(placed["src"].read_bytes())
    data[len(data) // 2] ^= 1  # one bit differs
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as exc:
        W.fetch_weights(placed["entry"].name)
    msg = str(exc.value)
    assert msg.startswith(f"{bad}: SHA-256") and placed["digest"][:16] in msg
    assert "\n" not in msg


def test_prefix_only_entries_check_the_file_name_digits(placed, monkeypatch) -> None:
    _no_network(monkeypatch)
    entry = placed["entry"]
    monkeypatch.setitem(W.WEIGHTS, entry.name, W.NamedWeights(**{**entry.__dict__, "sha256": ""}))
    placed["hub"].mkdir(parents=True)
    shutil.copy(placed["src"], placed["hub"])
    assert W.fetch_weights(entry.name).is_file()
    (placed["hub"] / placed["src"].name).write_bytes(b"something else")
    with pytest.raises(CheckpointError, match=f"expected {placed['digest'][:8]}"):
        W.fetch_weights(entry.name)


def test_offline_without_the_file_names_it_and_the_folder(placed, monkeypatch) -> None:
    calls = _no_network(monkeypatch)
    with pytest.raises(CheckpointError) as exc:
        W.fetch_weights(placed["entry"].name)
    msg = str(exc.value)
    assert calls == [placed["entry"].url]
    assert f"place {placed['src'].name} in {placed['hub']}" in msg
    assert "URLError" in msg and "\n" not in msg
    assert not any(placed["hub"].iterdir())  # nothing half-written left behind


def test_download_is_verified_before_it_is_kept(placed, monkeypatch) -> None:
    served = {"bytes": placed["src"].read_bytes()}

    def download(url: str, dst: str, **kw) -> None:
        Path(dst).write_bytes(served["bytes"])

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    path = W.fetch_weights(placed["entry"].name)
    assert path.read_bytes() == placed["src"].read_bytes()
    path.unlink()
    served["bytes"] = b"a truncated download"
    with pytest.raises(CheckpointError, match="SHA-256"):
        W.fetch_weights(placed["entry"].name)
    assert not path.exists()


def test_preprocessing_goes_into_the_config_and_the_meta(placed, tmp_path, monkeypatch) -> None:
    _no_network(monkeypatch)
    cfg = load_config(None, [f"model.init.weights={placed['entry'].name}", "data.size=[16,16]"])
    pre = W.apply_preprocessing(cfg.data, cfg.model.init)
    assert cfg.data.mean == [0.1, 0.2, 0.3] and cfg.data.std == [0.4, 0.5, 0.6]
    assert pre["file"] == placed["src"].name and pre["size"] == [16, 16]
    set_by_user = load_config(None, [f"model.init.weights={placed['entry'].name}",
                                     "data.mean=[0.5,0.5,0.5]", "data.std=[0.2,0.2,0.2]"])
    W.apply_preprocessing(set_by_user.data, set_by_user.model.init)
    assert set_by_user.data.mean == [0.5, 0.5, 0.5]  # the user's values win
    assert W.apply_preprocessing(load_config(None).data, InitConfig()) is None


def test_path_and_weights_together_are_refused(placed) -> None:
    with pytest.raises(CheckpointError, match="set one of them"):
        initialize(build_model("resnetlike", **TINY),
                   InitConfig(path="x.pth", weights=placed["entry"].name), ["a"] * 5)


RECIPES = sorted(p for p in CONFIGS.glob("*.yaml")
                 if ("-k400_" in p.name or "-in1k_" in p.name) and "-synth" not in p.name)


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipes_name_weights_that_fit_their_model(path: Path) -> None:
    cfg = load_config(path)
    names = W.weights_sources(cfg.model.init)
    assert len(names) == 1 and cfg.model.init.reset_head
    entry = W.weights_entry(names[0])
    model = cfg.model.kwargs.get("backbone", cfg.model.name)  # TSN: the backbone stream
    assert entry.model == model
    assert list(cfg.data.size) == list(entry.size) and cfg.data.frames in (1, entry.frames)
    assert cfg.data.dataset in path.name and not cfg.data.mean  # the weights bring mean/std


def test_tsn_backbone_stream_loads_named_image_weights(tmp_path: Path, monkeypatch) -> None:
    """The TSN recipes' ``streams: {backbone: torchvision:...}``: an ImageNet-layout ResNet
    state dict (1000 classes) goes into the TSN's backbone, its classifier dropped."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _no_network(monkeypatch)
    torch.manual_seed(0)
    net = build_model("resnet18", num_classes=1000, width=0.25)
    raw = tmp_path / "r.pth"
    torch.save(net.state_dict(), raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    raw.rename(hub / f"resnet18-{digest[:8]}.pth")
    name = "torchvision:resnet18/TEST_V1"
    monkeypatch.setitem(W.WEIGHTS, name, W.NamedWeights(
        name, "resnet18", f"https://download.invalid/resnet18-{digest[:8]}.pth", 1000,
        W.IMAGENET_MEAN, W.IMAGENET_STD, (224, 224), (256,)))
    tsn = build_model("tsn", num_classes=7, backbone="resnet18", num_segments=3,
                      backbone_kwargs={"width": 0.25})
    initialize(tsn, InitConfig(streams={"backbone": name}, reset_head=True), list("abcdefg"))
    assert torch.equal(tsn.backbone.conv1.weight, net.conv1.weight)
    assert torch.equal(tsn.backbone.layer4[1].bn2.running_var, net.layer4[1].bn2.running_var)


def test_kinetics_entries_carry_their_input_and_the_400_classes() -> None:
    e = W.weights_entry("torchvision:r2plus1d_18/KINETICS400_V1")
    spec = e.spec()
    assert (spec.kind, spec.modality, spec.size, spec.frames, spec.stride, spec.short_side) == (
        "clip", "rgb", (112, 112), 16, 2, 128)
    assert spec.mean == W.KINETICS_MEAN and spec.std == W.KINETICS_STD
    names = e.classes()
    # torchvision's order: alphabetical without regard to case, 400 distinct names
    assert len(names) == len(set(names)) == 400
    assert names == sorted(names, key=str.lower)
    assert (names[0], names[5], names[-1]) == ("abseiling", "archery", "zumba")
    assert "passing American football (in game)" in names
    for model in ("r3d_18", "mc3_18"):
        assert W.weights_entry(f"torchvision:{model}/KINETICS400_V1").classes() == names


def test_load_refuses_object_weights_in_one_line(tmp_path: Path, monkeypatch) -> None:
    import actionlab

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = _no_network(monkeypatch)
    with pytest.raises(InputError, match="resnet18/IMAGENET1K_V1: no class list ships.*"
                       "model.init.weights="):
        actionlab.load("torchvision:resnet18/IMAGENET1K_V1")
    assert calls == []  # refused before any file is looked for
    with pytest.raises(CheckpointError, match="place r2plus1d_18-91a641e6.pth in"):
        actionlab.load("torchvision:r2plus1d_18/KINETICS400_V1")


def test_load_by_name_recognises_kinetics_actions_offline(tmp_path: Path, monkeypatch) -> None:
    """A placed file named like torchvision's becomes a Recognizer with the Kinetics classes,
    the entry's input and the file's exact weights; its ONNX export predicts the same."""
    import actionlab

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = _no_network(monkeypatch)
    kw = {k: v for k, v in TINY.items() if k != "num_classes"}
    torch.manual_seed(5)
    model = build_model("resnetlike", num_classes=400, **kw)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    raw = hub / "raw.pth"
    torch.save(model.state_dict(), raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    raw.rename(hub / f"resnetlike-{digest[:8]}.pth")
    entry = W.NamedWeights("torchvision:resnetlike/KINETICS400_TEST", "resnetlike",
                           f"https://download.invalid/models/resnetlike-{digest[:8]}.pth", 400,
                           W.KINETICS_MEAN, W.KINETICS_STD, (16, 16), (18,),
                           categories="kinetics400", kwargs=tuple(sorted(kw.items())))
    monkeypatch.setitem(W.WEIGHTS, entry.name, entry)

    rec = actionlab.load(entry.name, device="cpu")
    assert calls == []
    assert rec.classes == W.weights_entry("torchvision:r2plus1d_18/KINETICS400_V1").classes()
    assert (rec.spec.kind, rec.spec.size, rec.spec.short_side) == ("frame", (16, 16), 18)
    for k, v in model.state_dict().items():
        assert torch.equal(rec.runner.model.state_dict()[k], v), k
    frames = np.random.default_rng(0).integers(0, 255, (6, 24, 32, 3), dtype=np.uint8)
    pred = rec.predict(frames, k=3).to_dict()
    assert [t["label"] for t in pred["top"]][0] in rec.classes
    exported = rec.export(tmp_path / "k400.onnx")
    assert exported.max_abs_diff < 1e-3
    again = actionlab.load(exported.path).predict(frames, k=3).to_dict()
    assert again["top"][0]["label"] == pred["top"][0]["label"]
    assert abs(again["top"][0]["score"] - pred["top"][0]["score"]) < 1e-3
