"""Repeated concurrent uploads to a real server on 127.0.0.1: open files, threads and resident
memory stay bounded, and uploads and old results are deleted."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROUNDS, CONCURRENT = 4, 5
PROC = Path("/proc/self")


def _open_files() -> int:
    return len(os.listdir(PROC / "fd"))


def _rss_mb() -> float:
    for line in (PROC / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _settled_files(limit: int, seconds: float = 5.0) -> int:
    """Open files once closing connections have gone (polls briefly, never waits long)."""
    deadline = time.monotonic() + seconds
    while (n := _open_files()) > limit and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


@pytest.mark.heavy
@pytest.mark.skipif(not (PROC / "fd").is_dir(), reason="needs /proc (Linux)")
def test_repeated_concurrent_uploads_stay_bounded(runner, good_clip: Path, tmp_path: Path) -> None:
    import httpx
    import uvicorn

    from actionlab.serve.app import create_app

    work = tmp_path / "work"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runner, max_upload_mb=5, work_dir=work),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    data = good_clip.read_bytes()

    def upload(_: int) -> int:
        res = httpx.post(f"http://127.0.0.1:{port}/api/analyze", timeout=120,
                         files={"file": ("clip.mp4", data, "video/mp4")})
        return res.status_code

    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        assert upload(0) == 200  # warm-up: fonts, the ONNX session and the model are loaded
        files0, threads0 = _settled_files(0, 0.5), threading.active_count()
        rss = []
        for _ in range(ROUNDS):
            with ThreadPoolExecutor(CONCURRENT) as pool:
                assert list(pool.map(upload, range(CONCURRENT))) == [200] * CONCURRENT
            # Before: every new worker thread opened matplotlib's fonts again (+2 files each).
            assert _settled_files(files0) <= files0, (files0, _open_files())
            assert threading.active_count() <= threads0
            rss.append(_rss_mb())
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
    # The first round may still grow caches; after it, memory must not keep growing.
    assert rss[-1] - rss[0] < 40, f"resident memory grew {rss} MB"
    assert list((work / "uploads").iterdir()) == []
    assert len(list((work / "results").iterdir())) == 20  # keep_results: the oldest are deleted
