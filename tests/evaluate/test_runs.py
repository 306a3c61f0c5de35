"""Run dirs -> results table, Markdown, per-class improvement; multi-view averaging."""

from __future__ import annotations

from pathlib import Path

import pytest
import numpy as np
import torch
from eval_helpers import METRICS, MeanLinear, make_run

from actionlab.errors import InputError
from actionlab.evaluate import multiview as MV
from actionlab.evaluate import runs as R

CM_A = [[2, 1, 1], [0, 4, 0], [1, 1, 2]]  # test top-1 8/12
CM_B = [[4, 0, 0], [1, 3, 0], [0, 1, 3]]  # 10/12


def test_summary_from_a_run_dir(tmp_path: Path) -> None:
    run = make_run(tmp_path, confusion=CM_A)
    s = R.summarize_run(run)
    # best val_acc 0.70 first reached at epoch 2 (epoch 3 ties; the first best wins)
    assert s.best_epoch == 2 and s.epochs == len(METRICS)
    assert (s.train_top1, s.val_top1, s.train_loss) == (0.60, 0.70, 0.9)
    assert s.test_top1 == pytest.approx(8 / 12)
    assert s.dataset == "synth" and s.model == "meanlinear"
    # MeanLinear(3 classes): 3x3 weight + 3 bias float32 = 48 bytes
    assert s.size_mb == pytest.approx(48 / 1e6)
    # the study's convention: train loss at the minimum validation loss
    s2 = R.summarize_run(run, best_by="val_loss")
    assert s2.best_epoch == 2 and s2.train_loss == 0.9


def test_jsonl_fallback_and_missing_pieces(tmp_path: Path) -> None:
    run = tmp_path / "bare"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        '{"epoch": 1, "train_acc": 0.5, "val_acc": 0.4, "train_loss": 1.0}\n'
        '{"epoch": 2, "train_acc": 0.6, "val_acc": NaN, "train_loss": 0.8}\n')
    s = R.summarize_run(run)
    assert s.best_epoch == 1 and s.test_top1 is None and s.size_mb is None
    with pytest.raises(InputError, match="not a run directory"):
        R.summarize_run(tmp_path / "nope")


def test_markdown_table(tmp_path: Path) -> None:
    rows = R.results_table([make_run(tmp_path, "a", confusion=CM_A), make_run(tmp_path, "b")])
    md = R.markdown_table(*R.table_cells(rows))
    lines = md.strip().splitlines()
    assert lines[0].startswith("| Run | Dataset | Model |") and "Size (MB)" in lines[0]
    assert lines[2].startswith("| a | synth | meanlinear | 2 | 0.600 / 0.700 / 0.667 | 0.900 |")
    assert "0.600 / 0.700 / - |" in lines[3]


def test_improvement_between_runs(tmp_path: Path) -> None:
    a = make_run(tmp_path, "frame", confusion=CM_A)
    b = make_run(tmp_path, "lstm", confusion=CM_B)
    rows = R.improvement_between(a, b)
    assert [r["class"] for r in rows] == ["jump", "wave", "run"]
    assert rows[0]["gain"] == pytest.approx(0.5) and rows[-1]["gain"] == pytest.approx(-0.25)
    with pytest.raises(InputError, match="actionlab evaluate"):
        R.improvement_between(a, make_run(tmp_path, "unevaluated"))


def test_average_view_scores_is_mean_softmax() -> None:
    torch.manual_seed(0)
    model = MeanLinear(4).eval()
    views = torch.randn(6, 3, 5, 5)  # (V, C, H, W)
    expected = torch.softmax(model(views), -1).mean(0)
    torch.testing.assert_close(MV.average_view_scores(model, views), expected)
    torch.testing.assert_close(MV.average_view_scores(model, views, batch_size=4), expected)


def test_two_input_views_and_score_videos() -> None:
    class Two(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.stack([a.sum((1, 2)), b.sum((1, 2))], 1)

    vids = [((torch.ones(2, 2, 2), torch.zeros(2, 2, 2)), 0),
            ((torch.zeros(3, 2, 2), torch.ones(3, 2, 2)), 1)]
    scores, labels = MV.score_videos(Two(), vids)
    assert scores.shape == (2, 2) and labels.tolist() == [0, 1]
    assert scores.argmax(1).tolist() == [0, 1]
    with pytest.raises(InputError, match="disagree"):
        MV.average_view_scores(Two(), (torch.ones(2, 2, 2), torch.ones(3, 2, 2)))


def test_score_videos_batches_across_videos_but_averages_each_alone() -> None:
    torch.manual_seed(0)
    model = MeanLinear(4).eval()
    calls: list[int] = []
    model.register_forward_pre_hook(lambda _m, args: calls.append(int(args[0].shape[0])))
    counts = [1, 3, 2, 5, 1]  # views per video
    vids = [(torch.randn(v, 3, 5, 5), i % 4) for i, v in enumerate(counts)]
    scores, labels = MV.score_videos(model, vids, batch_size=4)
    expected = np.stack([MV.average_view_scores(model, v).numpy() for v, _ in vids])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert labels.tolist() == [0, 1, 2, 3, 0]
    # videos 0-1 fill one call of 4; 2-3 (7 views) go as 4 + 3; the last one alone
    assert calls[:4] == [4, 4, 3, 1]


def test_video_views_joins_crops_and_clips() -> None:
    ds_a = [(torch.zeros(2, 3, 4), 1)]  # stacked: K = 2 clips
    ds_b = [(torch.ones(2, 3, 4), 1)]
    views, label = next(MV.video_views([ds_a, ds_b], stacked=True))
    assert views.shape == (4, 3, 4) and label == 1
    views, _ = next(MV.video_views([[(torch.zeros(3, 4), 0)]] * 3))
    assert views.shape == (3, 3, 4)
    assert MV.crop_positions(3) == ("center", "top_left", "bottom_right")
    with pytest.raises(InputError):
        MV.crop_positions(4)
