from __future__ import annotations

import pytest
import torch

from actionlab.data import transforms as T
from actionlab.errors import InputError


def grid(t: int = 2, c: int = 3, h: int = 12, w: int = 16) -> torch.Tensor:
    return torch.arange(t * c * h * w, dtype=torch.float32).reshape(t, c, h, w)


def test_crops() -> None:
    x = grid()
    assert T.center_crop(x, (4, 6)).equal(x[..., 4:8, 5:11])
    assert T.corner_crop(x, 4, "top_left").equal(x[..., :4, :4])
    assert T.corner_crop(x, 4, "bottom_right").equal(x[..., -4:, -4:])
    g = torch.Generator().manual_seed(0)
    r = T.random_crop(x, (5, 5), g)
    assert r.shape == (2, 3, 5, 5)
    # Same crop for every frame of the stack.
    assert (r[1] - r[0]).unique().numel() == 1


def test_multi_scale_crop_sides_from_tsn_scales() -> None:
    g = torch.Generator().manual_seed(1)
    allowed = {int(112 * s) for s in T.TSN_SCALES}  # {112, 98, 84, 73}
    seen = set()
    for _ in range(200):
        top, left, h, w = T.multi_scale_crop_box(112, 150, gen=g)
        assert h in allowed and w in allowed
        assert 0 <= top <= 112 - h and 0 <= left <= 150 - w
        seen.add((h, w))
    assert (112, 98) in seen and (98, 112) in seen and (112, 84) not in seen  # max_distort 1
    out = T.multi_scale_crop(torch.rand(4, 3, 112, 150), (96, 96), gen=g)
    assert out.shape == (4, 3, 96, 96)


def test_hflip_negates_flow_x() -> None:
    flow = torch.zeros(3, 2, 4, 5)
    flow[:, 0] = 0.5
    flow[:, 1] = -0.25
    flow[:, :, :, 0] = 0.9  # a marked column
    out = T.hflip(flow, flow=True)
    assert torch.allclose(out[:, 0, :, 1:-1], torch.full((3, 4, 3), -0.5))
    assert torch.allclose(out[:, 1, :, 1:-1], torch.full((3, 4, 3), -0.25))
    assert torch.allclose(out[:, 0, :, -1], torch.full((3, 4), -0.9))
    rgb = grid()
    assert T.hflip(rgb).equal(rgb.flip(-1))


def test_rotate_rotates_image_and_flow_vectors() -> None:
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 15] = 1.0  # right of centre
    y = T.rotate(x, 90)
    r, c = divmod(int(y[0, 0].argmax()), 21)
    assert (r, c) == (5, 10)  # counter-clockwise on screen: now above the centre
    flow = torch.zeros(1, 2, 21, 21)
    flow[:, 0] = 1.0  # moving right
    f = T.rotate(flow, 90, flow=True)
    assert f[0, 0, 10, 10] == pytest.approx(0.0, abs=1e-5)
    assert f[0, 1, 10, 10] == pytest.approx(-1.0, abs=1e-5)  # now moving up
    assert T.rotate(x, 0).equal(x)


def test_color_jitter_and_normalize() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    y = T.color_jitter(x, 0.4, 0.4, 0.4, g)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert not torch.allclose(x, y)
    n = T.normalize(torch.ones(1, 3, 2, 2) * torch.tensor(T.IMAGENET_MEAN).view(1, 3, 1, 1))
    assert torch.allclose(n, torch.zeros_like(n), atol=1e-6)


def test_presets() -> None:
    x = torch.rand(5, 3, 64, 80)
    train = T.default_transform("rgb", True, 56, rotation=10, brightness=0.2)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = train(x, g1), train(x, g2)
    assert a.shape == (5, 3, 56, 56) and torch.equal(a, b)  # same generator, same output
    ev = T.default_transform("rgb", False, 56)
    assert torch.equal(ev(x), ev(x))
    f = T.default_transform("flow", False, (48, 48), crop="resize")(torch.zeros(5, 2, 64, 80))
    assert f.shape == (5, 2, 48, 48) and f.abs().max() == 0  # flow is not normalised
    for crop in ("corner", "random", "resize"):
        assert T.TrainTransform((32, 32), crop=crop)(x).shape == (5, 3, 32, 32)


def test_one_set_of_options_serves_training_and_evaluation() -> None:
    # a run passes the same transform_kw to its training and its validation/test datasets
    kw = {"crop": "multiscale", "rotation": 10, "brightness": 0.2}
    assert isinstance(T.default_transform("rgb", True, 32, **kw), T.TrainTransform)
    ev = T.default_transform("rgb", False, 32, **kw)
    assert isinstance(ev, T.EvalTransform) and ev.crop == "center"
    assert T.default_transform("rgb", False, 32, crop="resize").crop == "resize"
    with pytest.raises(InputError, match="rotaton: unknown; valid: brightness, contrast, crop"):
        T.default_transform("rgb", True, 32, rotaton=10)
    with pytest.raises(InputError, match="'diagonal': unknown; training crops: multiscale"):
        T.default_transform("rgb", False, 32, crop="diagonal")
    with pytest.raises(InputError, match="'top_left' is an evaluation crop"):
        T.default_transform("rgb", True, 32, crop="top_left")
