"""Run folders a failed or hostile ``train`` could leave (issue 17 item 8, 11, 13, 17).

Each case: one clear line, a non-zero exit, no traceback, nothing written outside the target;
a failed attempt is named as such by ``compare`` and ``evaluate``, and a retry reuses its folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import cli, listing, refused
from train_helpers import fake_cache

from actionlab.evaluate import runs as R


@pytest.fixture()
def setup(tmp_path: Path):
    cache = fake_cache(tmp_path / "cache")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("data: {kind: frame, size: [16, 16], batch_size: 2}\n"
                   "train: {epochs: 1, progress: false}\n")
    return tmp_path, cfg, [f"data.cache_dir={cache}", f"train.out_dir={tmp_path}/runs"]


@pytest.mark.parametrize("name", ["../../x", "../x", "a/b", "/tmp/actionlab-abs-run", ".."])
def test_run_name_is_confined_to_out_dir(monkeypatch, capsys, setup, registry, name) -> None:
    root, cfg, ov = setup
    before = listing(root.parent)
    res = cli(monkeypatch, capsys, "train", cfg, *ov, f"train.run_name={name}")
    refused(res, "train.run_name", "one folder name", code=2)
    assert listing(root.parent) == before  # nothing written anywhere
    assert not Path("/tmp/actionlab-abs-run").exists()


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_out_dir_that_is_a_file(monkeypatch, capsys, setup, registry, where) -> None:
    root, cfg, ov = setup
    blocker = root / "blocker"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "runs"
    before = listing(root)
    res = cli(monkeypatch, capsys, "train", cfg, ov[0], f"train.out_dir={out}")
    refused(res, "train.out_dir", str(blocker), code=2)
    assert listing(root) == before


def _fail_in_first_epoch(monkeypatch) -> None:
    """The loss becomes NaN at the second step (a real TrainingError from the loop)."""
    from actionlab.train.trainer import Trainer

    real = Trainer._forward

    def forward(self, name, x):
        out = real(self, name, x)
        return out * float("nan") if self.step >= 1 else out

    monkeypatch.setattr(Trainer, "_forward", forward)


def test_failed_run_is_named_and_retried_in_place(monkeypatch, capsys, setup, registry) -> None:
    root, cfg, ov = setup
    with monkeypatch.context() as m:
        _fail_in_first_epoch(m)
        res = cli(monkeypatch, capsys, "train", cfg, *ov)
    refused(res, "the loss became nan", "no checkpoint was written yet")
    run = root / "runs" / "exp"
    status = json.loads((run / "run.json").read_text())
    assert status["status"] == "failed" and "loss became nan" in status["error"]
    assert not list(run.glob("*.safetensors"))
    # compare names it, evaluate refuses it in one line
    res = cli(monkeypatch, capsys, "compare", run)
    assert res.code == 0 and "exp (failed at epoch 0 of 1" in res.out
    refused(cli(monkeypatch, capsys, "evaluate", run), str(run), "not a usable run", "failed")
    # the retry takes the failed attempt's folder over: no exp-2
    res = cli(monkeypatch, capsys, "train", cfg, *ov)
    assert res.code == 0, res.err
    assert Path(res.out.strip().splitlines()[-1]) == run
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["exp"]
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert R.run_state(run) == "complete"
    # a completed run is taken: the next one is exp-2
    res = cli(monkeypatch, capsys, "train", cfg, *ov)
    assert res.code == 0 and Path(res.out.strip().splitlines()[-1]) == root / "runs" / "exp-2"


def test_config_only_folder_is_not_a_result(monkeypatch, capsys, tmp_path: Path) -> None:
    """A folder from before run.json with only config.yaml (training failed before epoch 1)."""
    run = tmp_path / "old"
    run.mkdir()
    (run / "config.yaml").write_text("name: old\n")
    res = cli(monkeypatch, capsys, "compare", run)
    assert res.code == 0 and "old (no checkpoint" in res.out
    refused(cli(monkeypatch, capsys, "evaluate", run), "not a usable run", "no checkpoint")


def test_killed_run_is_named_and_its_folder_reused(tmp_path: Path, setup, registry) -> None:
    from actionlab.config import load_config
    from actionlab.train.run import make_run_dir
    from actionlab.train.state import write_run_status

    root, cfg, ov = setup
    run = root / "runs" / "exp"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: exp\n")
    write_run_status(run, status="running", epochs=3, epochs_done=0)
    assert R.run_state(run).startswith("still running")  # this very process wrote it
    status = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**status, "pid": 2**22 + 12345}))  # no such pid
    assert R.run_state(run) == "killed at epoch 0 of 3"
    assert make_run_dir(load_config(cfg, ov)) == run and not any(run.iterdir())


def test_a_folder_with_other_files_is_never_cleared(tmp_path: Path, setup, registry) -> None:
    from actionlab.config import load_config
    from actionlab.train.run import make_run_dir

    root, cfg, ov = setup
    mine = root / "runs" / "exp"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    assert make_run_dir(load_config(cfg, ov)) == root / "runs" / "exp-2"
    assert (mine / "notes.txt").read_text() == "mine"


def test_without_validation_last_is_the_model(monkeypatch, capsys, setup, registry,
                                              caplog) -> None:
    root, cfg, ov = setup
    cache = root / "cache"
    # a cache without a val split, and no carved validation share
    man = json.loads((cache / "manifest.json").read_text())
    for rec in man["records"]:
        if rec["split"] == "val":
            rec["split"] = "train"
    (cache / "manifest.json").write_text(json.dumps(man))
    with caplog.at_level("INFO"):
        res = cli(monkeypatch, capsys, "train", cfg, *ov, "data.val_fraction=0",
                  "train.epochs=2", "train.patience=1")
    assert res.code == 0, res.err
    run = Path(res.out.strip().splitlines()[-1])
    assert not (run / "best.safetensors").exists() and (run / "last.safetensors").is_file()
    assert json.loads((run / "run.json").read_text())["model_file"] == "last.safetensors"
    assert R.find_checkpoint(run) == run / "last.safetensors"
    text = caplog.text
    assert "best val accuracy" not in text
    assert "no validation set, so the model is last.safetensors (epoch 2)" in text
    assert "augmented batches" in text and "needs a validation set" in text
    rows = R.read_metrics(run)
    assert len(rows) == 2  # patience did not stop it on training accuracy
    s = R.summarize_run(run)
    assert s.best_epoch == 2 and s.train_top1 == pytest.approx(rows[-1]["train_acc"])
    assert s.val_top1 is None and s.state == "complete"


def test_tensorboard_is_written(setup, registry) -> None:
    from actionlab.train.run import train

    root, cfg, ov = setup
    run = train(cfg, overrides=ov)
    assert list((run / "tb").glob("events.out.tfevents.*"))


def test_device_refusals(monkeypatch, capsys, setup, registry) -> None:
    import torch

    root, cfg, ov = setup
    before = listing(root)
    refused(cli(monkeypatch, capsys, "train", cfg, *ov, "train.device=tpu"),
            "train.device", "'tpu'", "not a device")
    if not torch.cuda.is_available():
        refused(cli(monkeypatch, capsys, "train", cfg, *ov, "train.device=cuda"),
                "train.device", "CUDA is not available")
    assert listing(root) == before  # refused before any folder is made
