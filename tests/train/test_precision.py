"""Mixed precision by hardware: explicit settings win, ``auto`` follows CUDA or the CPU probe,
float16 trains through a GradScaler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from actionlab import machine as M
from actionlab.config import TrainConfig
from actionlab.train import precision as P
from actionlab.train.state import load_state

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def test_explicit_settings_win_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(M, "profile", lambda: pytest.fail("no probe when explicit"))
    on = P.choose_precision(TrainConfig(bf16=True), CPU)
    assert (on.dtype, on.scaler, on.channels_last) == (torch.bfloat16, False, True)
    off = P.choose_precision(TrainConfig(bf16=False), CPU)
    assert (off.dtype, off.channels_last) == (None, False)
    mixed = P.choose_precision(TrainConfig(bf16=True, channels_last=False), CPU)
    assert (mixed.dtype, mixed.channels_last) == (torch.bfloat16, False)


@pytest.mark.parametrize("steps,want", [
    ({"fp32": 2.29, "fp32_cl": 2.2, "bf16_cl": 3.59}, (None, False)),  # nothing pays
    ({"fp32": 1.8, "fp32_cl": 0.95, "bf16_cl": 29.4}, (None, True)),  # AVX2 only: fp32 + CL
    ({"fp32": 1.0, "fp32_cl": 0.5, "bf16_cl": 0.32}, (torch.bfloat16, True)),  # AVX512-BF16
    ({"fp32": 1.0, "fp32_cl": 0.5, "bf16_cl": 0.48}, (None, True)),  # bf16 barely faster: a tie
])
def test_auto_on_the_cpu_follows_the_cached_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: dict, want: tuple) -> None:
    monkeypatch.setenv("ACTIONLAB_CACHE", str(tmp_path))
    entry = {"cpu": M.cpu_model(), "torch": torch.__version__, "threads": 1, "step_s": steps,
             "matmul_gflops": {"fp32": 1.0, "bf16": 1.0}}
    (tmp_path / "machine.json").write_text(json.dumps({M.profile_key(): entry}))
    monkeypatch.setattr(M, "step_seconds", lambda *a: pytest.fail("the cached answer is used"))
    for value in (None, "auto"):
        p = P.choose_precision(TrainConfig(bf16=value), CPU)
        assert (p.dtype, p.channels_last) == want and not p.scaler
        assert f"fp32 {steps['fp32']:.3f} s" in p.reason
    # an explicit layout wins over the measured one
    assert P.choose_precision(TrainConfig(channels_last=False), CPU).channels_last is False


@pytest.mark.parametrize("bf16_ok", [True, False])
def test_auto_on_cuda_is_mixed_precision(monkeypatch: pytest.MonkeyPatch, bf16_ok: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    monkeypatch.setattr(M, "profile", lambda: pytest.fail("no CPU probe on CUDA"))
    p = P.choose_precision(TrainConfig(), CUDA)
    assert p.dtype == (torch.bfloat16 if bf16_ok else torch.float16)
    assert p.scaler is (not bf16_ok) and not p.channels_last
    assert P.choose_precision(TrainConfig(bf16=False), CUDA).dtype is None
    assert P.choose_precision(TrainConfig(channels_last=True), CUDA).channels_last


def test_profile_measures_caches_and_remeasures_a_damaged_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONLAB_CACHE", str(tmp_path / "c"))
    shape = (2, 2, 4, 16, 16)
    first = M.profile(steps=1, shape=shape)
    assert not first["cached"] and set(first["step_s"]) == set(M.VARIANTS)
    assert all(v > 0 for v in first["step_s"].values())
    assert first["matmul_gflops"]["fp32"] > 0 and first["cores"] >= 1
    assert first["fastest"] == min(first["step_s"], key=first["step_s"].get)
    stored = json.loads((tmp_path / "c" / "machine.json").read_text())
    assert stored[M.profile_key()]["step_s"] == first["step_s"]
    again = M.profile(steps=1, shape=shape)
    assert again["cached"] and again["step_s"] == first["step_s"]
    assert "conv3d step fp32" in M.describe(2) and "2 threads" in M.describe(2)
    (tmp_path / "c" / "machine.json").write_text("{not json")
    assert not M.profile(steps=1, shape=shape)["cached"]


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
