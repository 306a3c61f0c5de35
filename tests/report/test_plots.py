"""Each plot writes a real PNG atomically, for small and large inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actionlab.report import plots as P

PNG = b"\x89PNG\r\n\x1a\n"
ROWS = [{"epoch": e, "lr": 0.1 / e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.1 * e,
         "val_acc": 0.08 * e} for e in range(1, 6)]


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG


def test_every_plot_writes_a_png_and_leaves_no_temp_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    paths = [
        P.plot_training_curves(ROWS, tmp_path / "curves.png", "run", best_epoch=3),
        P.plot_lr(ROWS, tmp_path / "lr.png"),
        P.plot_confusion(rng.integers(0, 9, (12, 12)), [f"c{i}" for i in range(12)], tmp_path / "cm12.png"),
        P.plot_confusion(rng.integers(0, 9, (101, 101)), [f"class_{i}" for i in range(101)],
                         tmp_path / "cm101.png", normalize=False),
        P.plot_improvement([{"class": "a", "gain": 0.2}, {"class": "b", "gain": -0.1}],
                           tmp_path / "gain.png"),
        P.plot_fusion(["minimum", "maximum", "concatenation", "average"], [0.383, 0.347, 0.403, None],
                      tmp_path / "fusion.png"),
        P.plot_timeline([0.5, 1.5, 2.5], np.full((3, 2), 0.5), ["walk", "slip"], tmp_path / "tl.png",
                        segments=[{"label": "slip", "start": 1.0, "end": 2.0, "score": 0.5}],
                        ground_truth=[{"label": "slip", "start": 1.2, "end": 2.2}], duration=3.0),
    ]
    assert all(_is_png(p) for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_lr_series_per_iteration_or_epoch() -> None:
    x, y, per = P.lr_series(ROWS)
    assert per == "epoch" and x.tolist() == [1, 2, 3, 4, 5] and y[0] == pytest.approx(0.1)
    rows = [{"epoch": 1, "lr_iter": [0.1, 0.2]}, {"epoch": 2, "lr_iter": "[0.3, 0.4]"}]
    x, y, per = P.lr_series(rows)
    assert per == "iteration"
    assert x.tolist() == [0.5, 1.0, 1.5, 2.0] and y.tolist() == [0.1, 0.2, 0.3, 0.4]


def test_failed_plot_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "cm.png"
    out.write_bytes(b"old")
    with pytest.raises(Exception):
        P.plot_confusion(np.ones((3, 3)), ["a", "b"], out)  # wrong number of names
    assert out.read_bytes() == b"old"
