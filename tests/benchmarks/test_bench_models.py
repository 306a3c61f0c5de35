"""benchmarks/bench_models.py on tiny models: FLOPs match a hand count, figures are sane."""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
from torch import nn

from actionlab.models import build_model


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    from bench_helpers import load_script

    return load_script("bench_models")


def tiny_net() -> nn.Module:
    """(B, 3, 8, 8) -> conv 3x3 to (B, 4, 6, 6) -> linear to 5 classes."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def test_flops_match_a_hand_count(bench: ModuleType) -> None:
    b = 2
    conv = 2 * b * (4 * 6 * 6) * (3 * 3 * 3)  # 2 FLOPs per multiply-add of each output value
    linear = 2 * b * (4 * 6 * 6) * 5
    # backward: the conv needs only its weight gradient (the input needs none), the linear
    # layer its weight gradient and its input gradient
    expected = 2 * conv + 3 * linear
    x, target = torch.randn(b, 3, 8, 8), torch.tensor([0, 3])
    assert bench.count_flops(tiny_net(), (x,), target) == expected


def test_measure_gives_sane_figures(bench: ModuleType) -> None:
    peaks = {"fp32": bench.matmul_peak(torch.float32, 256, 1),
             "bf16": bench.matmul_peak(torch.bfloat16, 256, 1)}
    assert all(p > 0 for p in peaks.values())
    row = bench.measure(tiny_net(), (torch.randn(2, 3, 8, 8),), peaks, repeats=1, num_classes=5)
    assert row["batch"] == 2 and row["gflop"] == pytest.approx(39_744 / 2 / 1e9)
    for key in ("fp32_sps", "bf16_sps", "speedup", "fp32_gflops", "bf16_gflops"):
        assert row[key] > 0, key
    assert row["fp32_gflops"] == pytest.approx(row["gflop"] * row["fp32_sps"])
    # a tiny net is all overhead: far below the matmul peak, never above it
    assert 0 < row["fp32_peak_frac"] <= 1 and 0 < row["bf16_peak_frac"] <= 1


def test_registry_model_row_and_markdown(bench: ModuleType) -> None:
    model = build_model("tsn", num_classes=3, num_segments=2, backbone="resnet18",
                        backbone_kwargs={"width": 0.125})
    xs = (torch.randn(2, 2, 3, 32, 32),)
    row = bench.measure(model, xs, {"fp32": 1e3, "bf16": 1e3}, repeats=1)
    assert row["gflop"] > 0 and row["fp32_sps"] > 0 and row["bf16_sps"] > 0
    assert bench.input_text(model) == "2 x 3x224x224"
    row.update(model="tsn", input="2 x 3x32x32", params_m=0.1, size_mb=0.4)
    table = bench.markdown([row, {**row, "model": "c3d"}]).splitlines()
    assert len(table) == 4 and table[2].startswith("| tsn | 2 x 3x32x32 | 2 |")


def test_frame_first_inputs_become_channels_last_frames(bench: ModuleType) -> None:
    """TSN/LRCN inputs (B, S, C, H, W): every frame NHWC, so flatten(0, 1) is a view."""
    x = torch.randn(2, 3, 4, 5, 6)
    y = bench.frame_channels_last(x)
    assert torch.equal(x, y)
    flat = y.flatten(0, 1)
    assert flat.data_ptr() == y.data_ptr()
    assert flat.is_contiguous(memory_format=torch.channels_last)
