"""Mixed precision by hardware: explicit settings win, ``auto`` follows CUDA or the CPU probe,
float16 trains through a GradScaler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from actionlab.config import TrainConfig
from actionlab.train import precision as P
from actionlab.train.state import load_state

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def test_explicit_settings_win_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(P, "cpu_bf16_probe", lambda: pytest.fail("no probe when explicit"))
    on = P.choose_precision(TrainConfig(bf16=True), CPU)
    assert (on.dtype, on.scaler, on.channels_last) == (torch.bfloat16, False, True)
    off = P.choose_precision(TrainConfig(bf16=False), CPU)
    assert (off.dtype, off.channels_last) == (None, False)
    mixed = P.choose_precision(TrainConfig(bf16=True, channels_last=False), CPU)
    assert (mixed.dtype, mixed.channels_last) == (torch.bfloat16, False)


@pytest.mark.parametrize("faster", [True, False])
def test_auto_on_the_cpu_follows_the_cached_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 faster: bool) -> None:
    monkeypatch.setenv("ACTIONLAB_CACHE", str(tmp_path))
    entry = {"cpu": P.cpu_model(), "torch": torch.__version__, "threads": 1, "fp32_s": 2.29,
             "bf16_s": 3.59 if not faster else 0.5, "bf16_faster": faster}
    (tmp_path / "cpu_probe.json").write_text(json.dumps({P.probe_key(): entry}))
    monkeypatch.setattr(P, "_time_steps", lambda *a: pytest.fail("the cached answer is used"))
    for value in (None, "auto"):
        p = P.choose_precision(TrainConfig(bf16=value), CPU)
        assert p.dtype == (torch.bfloat16 if faster else None)
        assert p.channels_last is faster and not p.scaler
        assert "fp32 2.290 s" in p.reason


@pytest.mark.parametrize("bf16_ok", [True, False])
def test_auto_on_cuda_is_mixed_precision(monkeypatch: pytest.MonkeyPatch, bf16_ok: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    monkeypatch.setattr(P, "cpu_bf16_probe", lambda: pytest.fail("no CPU probe on CUDA"))
    p = P.choose_precision(TrainConfig(), CUDA)
    assert p.dtype == (torch.bfloat16 if bf16_ok else torch.float16)
    assert p.scaler is (not bf16_ok) and not p.channels_last
    assert P.choose_precision(TrainConfig(bf16=False), CUDA).dtype is None
    assert P.choose_precision(TrainConfig(channels_last=True), CUDA).channels_last


def test_probe_measures_caches_and_remeasures_a_damaged_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONLAB_CACHE", str(tmp_path / "c"))
    shape = (2, 2, 4, 16, 16)
    first = P.cpu_bf16_probe(steps=1, shape=shape)
    assert not first["cached"] and first["fp32_s"] > 0 and first["bf16_s"] > 0
    assert first["bf16_faster"] == (first["bf16_s"] < P.FASTER * first["fp32_s"])
    stored = json.loads((tmp_path / "c" / "cpu_probe.json").read_text())
    assert stored[P.probe_key()]["fp32_s"] == first["fp32_s"]
    again = P.cpu_bf16_probe(steps=1, shape=shape)
    assert again["cached"] and again["fp32_s"] == first["fp32_s"]
    (tmp_path / "c" / "cpu_probe.json").write_text("{not json")
    assert not P.cpu_bf16_probe(steps=1, shape=shape)["cached"]


def test_float16_trains_through_the_grad_scaler_and_resumes(tiny_cfg, monkeypatch) -> None:
    """The CUDA float16 path, run on the CPU (autocast and GradScaler both support it)."""
    from actionlab.train import trainer as T
    from train_helpers import TinyConvBN, image_data, loader

    fp16 = P.Precision(torch.float16, True, False, "test: float16 + GradScaler")
    monkeypatch.setattr(T, "choose_precision", lambda train, device: fp16)
    cfg = tiny_cfg("train.grad_clip=1.0", "train.epochs=1", "optim.lr=1e-3")
    data = image_data()
    tr = T.Trainer(TinyConvBN(), loader(data), loader(data, shuffle=False), cfg,
                  cfg.train.out_dir)
    before = [p.detach().clone() for p in tr.raw_model.parameters()]
    summary = tr.fit()
    assert summary["epochs"] == 1
    assert tr.scaler.is_enabled() and tr.scaler.get_scale() > 0
    moved = sum(not torch.equal(a, b) for a, b in zip(before, tr.raw_model.parameters()))
    assert moved > 0  # the scaler stepped the optimizer
    state = load_state(Path(cfg.train.out_dir) / "last.safetensors")
    assert state["scaler"]["scale"] == tr.scaler.get_scale()
    assert tr.meta["precision"]["dtype"] == "float16 autocast"


def test_compile_wraps_the_model_that_trains(tiny_cfg, monkeypatch) -> None:
    """train.compile=true trains through torch.compile's module (a real compile takes minutes
    on this 2-core machine, so the wrapper is recorded instead)."""
    from actionlab.train import trainer as T
    from train_helpers import TinyConvBN, image_data, loader

    wrapped = []

    def compile_(model):
        wrapped.append(model)
        return model

    monkeypatch.setattr(torch, "compile", compile_)
    cfg = tiny_cfg("train.compile=true", "train.epochs=1")
    data = image_data()
    tr = T.Trainer(TinyConvBN(), loader(data), None, cfg, cfg.train.out_dir)
    assert wrapped == [tr.raw_model] and tr.fit()["epochs"] == 1
