"""benchmarks/gpu_check.py: honest without a GPU, and its pipeline runs (on the CPU here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def check() -> ModuleType:
    from bench_helpers import load_script

    return load_script("gpu_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_and_measures_nothing() -> None:
    res = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no CUDA GPU present (")
    assert "nothing was measured" in lines[0]


def test_reasons_and_table(check: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", None)
    assert "CPU-only build" in check.no_gpu_reason()
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "CUDA 12.4) sees no GPU" in check.no_gpu_reason()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert check.no_gpu_reason() is None
    text = check.table({"torch cuda": {"a/s": 10.0, "b/s": 2.5}, "torch cpu": {"a/s": 1.0},
                        "onnxruntime cuda": "no CUDA provider"})
    lines = text.splitlines()
    assert lines[1].split() == ["a/s", "10.00", "1.00", "-"]
    assert lines[2].split() == ["b/s", "2.50", "-", "-"]
    assert lines[-1].strip() == "onnxruntime cuda: no CUDA provider"


@pytest.mark.slow
def test_quick_run_on_the_cpu_measures_every_step(tmp_path: Path, check: ModuleType) -> None:
    out = tmp_path / "figures.json"
    assert check.main(["--devices", "cpu", "--quick", "--json", str(out)]) == 0
    cols = json.loads(out.read_text())["columns"]
    steps = {"train samples/s", "evaluate videos/s", "model clips/s (batch 16)",
             "predict videos/s", "timeline x real time", "explain videos/s"}
    assert set(cols["torch cpu"]) == steps
    assert all(v > 0 for v in cols["torch cpu"].values())
    assert set(cols["onnxruntime cpu"]) == steps - {"train samples/s", "evaluate videos/s",
                                                    "explain videos/s"}
