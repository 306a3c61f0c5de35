"""The allocator tuning keeps a training loop's MB-sized tensors from being page-faulted anew."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD = r"""
import json, resource, sys
import torch
from actionlab.runtime import tune_malloc
tuned = tune_malloc() if sys.argv[1] == "tune" else False
x = torch.ones(10 * 2**20)  # 40 MB: the size of one activation of the demo's flow stream
y = x * 2  # first use (its pages are faulted in once either way)
del y
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a training loop makes and frees such tensors every step
    y = x * 2
    del y
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"tuned": tuned, "faults": faults}))
"""


def _run(mode: str, **env: str) -> dict:
    import os

    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocator_reuses_memory_instead_of_faulting_it_in() -> None:
    plain, tuned = _run("plain"), _run("tune")
    assert tuned["tuned"] is True
    # above glibc's largest automatic mmap threshold (32 MB) every such tensor is mapped and
    # faulted in afresh, 10k pages each time; tuned, the heap mostly reuses the freed block
    assert plain["faults"] > 20 * 5_000, plain
    assert tuned["faults"] < plain["faults"] / 2, (plain, tuned)  # 20-60k here


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_users_own_malloc_settings_win() -> None:
    assert _run("tune", MALLOC_MMAP_THRESHOLD_="1048576")["tuned"] is False


def test_thread_budget_follows_threads_then_the_environment(monkeypatch) -> None:
    from actionlab import runtime as R
    from actionlab.errors import InputError
    from actionlab.machine import available_cores

    monkeypatch.delenv(R.THREADS_ENV, raising=False)
    assert R.thread_budget() == available_cores() >= 1
    monkeypatch.setenv(R.THREADS_ENV, "3")
    assert R.thread_budget() == 3 and R.thread_budget(1) == 1
    monkeypatch.setenv(R.THREADS_ENV, "lots")
    with pytest.raises(InputError, match="ACTIONLAB_THREADS"):
        R.thread_budget()


def test_cgroup_quota_caps_the_cores(tmp_path) -> None:
    from actionlab.machine import cgroup_quota

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
def test_governor_drops_a_thread_while_a_neighbour_holds_a_core(monkeypatch) -> None:
    from actionlab import runtime as R

    monkeypatch.delenv(R.THREADS_ENV, raising=False)
    monkeypatch.setattr(R, "_fixed", None)
    monkeypatch.setattr("actionlab.machine.available_cores", lambda: 2)
    clock = iter([0.0, 10.0, 10.0, 20.0, 20.0])  # (update reads it twice)
    busy = iter([0.0, 100.0, 115.0, 118.0, 0.0])  # (the first for __init__) the machine: 15 s of CPU in 10 s, then 3 s
    own = iter([0.0, 50.0, 55.0, 56.5, 0.0])  # this process: 5 s, then 1.5 s
    monkeypatch.setattr(R, "_machine_busy_seconds", lambda: next(busy))
    monkeypatch.setattr(R, "_cpu_seconds_of", lambda pids: next(own))
    applied = []
    monkeypatch.setattr(R, "_apply", applied.append)
    g = R.ThreadGovernor(interval=1.0)
    g._clock = lambda: next(clock)
    g._mark = g._sample()
    assert g.update() == 1 and applied == [1] and abs(g.others - 1.0) < 1e-9  # 1 core elsewhere
    assert g.update() == 2 and applied == [1, 2]  # the neighbour stopped (0.15 cores)
    fixed = R.ThreadGovernor(threads=2)
    assert not fixed.active


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
def test_governor_judges_early_then_every_interval(monkeypatch) -> None:
    """A neighbour already there is seen after the first quarter second, not after a whole
    interval of batches whose threads wait for each other; later windows are the interval."""
    from actionlab import runtime as R

    monkeypatch.delenv(R.THREADS_ENV, raising=False)
    monkeypatch.setattr(R, "_fixed", None)
    monkeypatch.setattr("actionlab.machine.available_cores", lambda: 2)
    now = [0.0]
    busy, own = [0.0], [0.0]
    monkeypatch.setattr(R, "_machine_busy_seconds", lambda: busy[0])
    monkeypatch.setattr(R, "_cpu_seconds_of", lambda pids: own[0])
    applied = []
    monkeypatch.setattr(R, "_apply", applied.append)
    g = R.ThreadGovernor(interval=2.0)
    g._clock = lambda: now[0]
    g._mark = g._sample()

    def advance(seconds: float, others: float) -> int:  # ``others`` cores busy elsewhere
        now[0] += seconds
        own[0] += seconds * (2 - others)
        busy[0] += seconds * 2
        return g.update()

    assert advance(0.1, 1.0) == 2 and applied == []  # too early to judge
    assert advance(0.2, 1.0) == 1 and applied == [1]  # 0.3 s: a neighbour holds a core
    assert advance(1.0, 0.0) == 1  # within the 2 s interval: no judgement yet
    assert advance(1.1, 0.0) == 2 and applied == [1, 2]  # the neighbour left
