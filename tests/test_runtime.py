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
