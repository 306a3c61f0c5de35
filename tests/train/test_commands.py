"""``actionlab train``: config + overrides, --resume, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actionlab.cli import app
from train_helpers import fake_cache

REPO = Path(__file__).resolve().parents[2]


def test_train_and_resume_through_the_cli(tmp_path: Path, registry) -> None:
    cache = fake_cache(tmp_path / "cache")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("data: {kind: frame, size: [16, 16], batch_size: 4}\ntrain: {epochs: 1}\n")
    runner = CliRunner()
    res = runner.invoke(app, ["train", str(cfg), f"data.cache_dir={cache}",
                              f"train.out_dir={tmp_path}/runs", "train.progress=false"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "runs" / "exp"
    assert Path(res.output.strip().splitlines()[-1]) == run
    res = runner.invoke(app, ["train", "--resume", str(run), "train.epochs=2"])
    assert res.exit_code == 0, res.output
    assert len((run / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("optim: {lrr: 0.1}\n")
    exe = Path(sys.executable).with_name("actionlab")
    res = subprocess.run([str(exe), "train", str(cfg)], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'optim.lrr'" in lines[0] and "optim.lr" in lines[0]


def test_train_takes_a_shipped_config_by_name(tmp_path: Path, monkeypatch) -> None:
    cache = fake_cache(tmp_path / "cache", size=32, frames=10)
    monkeypatch.chdir(tmp_path)  # no configs/ folder here: the name is found as package data
    res = CliRunner().invoke(app, [
        "train", "resnetlike_frame_adam2e_stanford40-rgb-synth", f"data.cache_dir={cache}",
        f"train.out_dir={tmp_path}/runs", "train.epochs=1", "train.max_steps=1",
        "train.progress=false"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "runs" / "resnetlike_frame_adam2e_stanford40-rgb-synth"
    saved = (run / "config.yaml").read_text()
    assert "base:" not in saved and "size: [32, 32]" in saved and "dataset: synth" in saved


@pytest.mark.parametrize("content, override, needle", [
    (bytes(range(128, 256)), [], "not a UTF-8 text file"),
    (b"train: {epochs: 2}\n", ["optim.lr=nan"], "optim.lr must be a finite number"),
    (b"data: {size: [0, 0]}\n", [], "data.size[0] must be > 0"),
])
def test_bad_values_are_one_line(tmp_path: Path, content: bytes, override: list[str],
                                 needle: str, actionlab, monkeypatch) -> None:
    from cli_run import refused

    cfg = tmp_path / "exp.yaml"
    cfg.write_bytes(content)
    monkeypatch.chdir(REPO)
    line = refused(actionlab("train", cfg, *override), needle, code=2)
    assert line.startswith(f"error: {cfg}")
