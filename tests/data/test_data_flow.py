from __future__ import annotations

import numpy as np
import pytest

from actionlab.data import flow as F
from actionlab.errors import InputError


def shifted_pair(dx: int, dy: int, size: int = 64) -> np.ndarray:
    """Two frames of smooth texture, the second moved by (dx, dy) pixels."""
    yy, xx = np.mgrid[0 : size + 20, 0 : size + 20].astype(np.float32)
    tex = 127 + 60 * np.sin(xx / 3.1) * np.cos(yy / 4.3) + 40 * np.sin((xx + yy) / 7.0)
    tex = np.clip(tex, 0, 255).astype(np.uint8)
    a = tex[10 : 10 + size, 10 : 10 + size]
    b = tex[10 - dy : 10 - dy + size, 10 - dx : 10 - dx + size]
    return np.stack([np.repeat(a[..., None], 3, -1), np.repeat(b[..., None], 3, -1)])


@pytest.mark.parametrize("method", ["farneback", "tvl1_fast", "dis", "dis_fast"])
def test_flow_recovers_a_shift(method: str) -> None:
    frames = shifted_pair(2, -1)
    f = F.compute_flow(frames, method)
    assert f.shape == (1, 64, 64, 2) and f.dtype == np.float32
    inner = f[0, 16:-16, 16:-16]
    assert np.median(inner[..., 0]) == pytest.approx(2.0, abs=0.4)
    assert np.median(inner[..., 1]) == pytest.approx(-1.0, abs=0.4)


@pytest.mark.parametrize("method", F.FLOW_METHODS)
def test_quantised_flow_pair_by_pair_equals_quantising_the_float_flow(method: str) -> None:
    # three frames: the second pair moves the other way, so each pair's field is its own
    frames = np.concatenate([shifted_pair(2, -1, 32), shifted_pair(-1, 1, 32)[1:]])
    q = F.compute_flow(frames, method, bound=3.0)
    assert q.dtype == np.uint8 and q.shape == (2, 32, 32, 2)
    np.testing.assert_array_equal(q, F.quantize(F.compute_flow(frames, method), 3.0))
    assert q[0, 8:-8, 8:-8, 0].mean() > 127.5 > q[1, 8:-8, 8:-8, 0].mean()


def test_tvl1_default_runs() -> None:
    f = F.tvl1(shifted_pair(1, 0, size=32))
    assert f.shape == (1, 32, 32, 2)
    assert np.median(f[0, 8:-8, 8:-8, 0]) == pytest.approx(1.0, abs=0.4)


def test_flow_bad_input() -> None:
    with pytest.raises(InputError, match="unknown flow method"):
        F.compute_flow(shifted_pair(1, 0), "lucas")
    with pytest.raises(InputError, match="RGB frames"):
        F.compute_flow(np.zeros((2, 8, 8), np.uint8))


def test_quantize_roundtrip_and_clip() -> None:
    flow = np.array([-30.0, -20.0, -1.3, 0.0, 0.7, 19.9, 25.0], np.float32)
    q = F.quantize(flow, bound=20)
    assert q.dtype == np.uint8
    assert q[0] == 0 and q[1] == 0 and q[-1] == 255 and q[3] in (127, 128)
    back = F.dequantize(q, bound=20)
    inside = np.abs(flow) <= 20
    assert np.all(np.abs(back[inside] - flow[inside]) <= 20 / 255 + 1e-6)
    assert back[-1] == pytest.approx(20.0)


def test_to_color_and_rgb_diff() -> None:
    flow = np.zeros((3, 8, 8, 2), np.float32)
    flow[..., 0] = 1.0
    img = F.to_color(flow)
    assert img.shape == (3, 8, 8, 3) and img.dtype == np.uint8
    assert F.to_color(np.zeros((8, 8, 2), np.float32)).max() == 0
    frames = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (0, 255, 255)])
    d = F.rgb_diff(frames)
    assert d.shape == (2, 4, 4, 3) and d[0].min() == 1.0 and d[1].max() == 0.0
