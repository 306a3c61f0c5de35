"""Shared test set-up: few threads (the machine has 2 cores), paths to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ACTIONLAB_THREADS", "1")  # the thread budget too: two test workers share 2 cores

import torch  # noqa: E402  (after the thread setting)

torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``heavy`` tests first: xdist hands tests out in this order, and a 40 s test picked
    up last would leave the other worker idle at the end."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)  # stable

@pytest.fixture(scope="session", autouse=True)
def _float32_unless_asked(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests train in float32 unless they set train.bf16: a private machine profile that
    answers "fp32" for this machine (no probe runs; subprocesses inherit the variable)."""
    import json

    from actionlab.machine import cache_dir, profile_key

    os.environ["ACTIONLAB_CACHE"] = str(tmp_path_factory.mktemp("actionlab-cache"))
    entry = {"cpu": "test", "flags": [], "torch": torch.__version__, "cores": 1,
             "matmul_gflops": {"fp32": 1.0, "bf16": 1.0},
             "step_s": {"fp32": 1.0, "fp32_cl": 1.0, "bf16_cl": 1.0}, "fastest": "fp32"}
    keys = {profile_key(n): {**entry, "threads": n} for n in range(1, (os.cpu_count() or 1) + 1)}
    cache_dir().mkdir(parents=True, exist_ok=True)
    (cache_dir() / "machine.json").write_text(json.dumps(keys))


REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_VIDEOS = SHARED / "data" / "videos"
SHARED_SPLITS = SHARED / "data" / "splits"
WEIGHT_MANIFESTS = SHARED / "data" / "weights-manifests"
FALL_SETS = {"falls_gmdcsa24", "upfall_subject1"}


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder next to the repository (CI has it)."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present")
    return SHARED


@pytest.fixture(scope="session")
def real_videos() -> list[Path]:
    """Every real clip in ../shared/data/videos."""
    # the fall sets (720p phone video at variable rates, 18 fps lab video, names repeated per
    # subject) are the real-falls work's data, read by its own tests
    vids = sorted(p for p in SHARED_VIDEOS.rglob("*") if p.suffix in {".avi", ".mp4", ".mkv"}
                  and not set(p.relative_to(SHARED_VIDEOS).parts) & FALL_SETS)
    if not vids:
        pytest.skip(f"no videos under {SHARED_VIDEOS}")
    return vids


@pytest.fixture
def actionlab(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``actionlab(*args)`` runs the command as a user does (:func:`cli_run.cli`) -> Result."""
    from cli_run import cli

    return lambda *args: cli(monkeypatch, capsys, *args)
