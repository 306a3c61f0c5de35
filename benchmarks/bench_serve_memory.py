"""Open files, threads and resident memory of ``actionlab serve`` over rounds of concurrent uploads.

The server (uvicorn on 127.0.0.1, an ephemeral port, in this process) runs the tests' small
two-stream registry model (random weights) on a 30-frame 64x48 clip. Each round posts N uploads
at once; after each round the process's open files (/proc/self/fd), threads and VmRSS are
printed. Before analysis ran on one dedicated thread (commit 022b5ba), open files grew with
FastAPI's worker threads (matplotlib opens its fonts once per thread): 13 -> 53 after one round
of 20.

Run:  .venv/bin/python benchmarks/bench_serve_memory.py [--rounds 4] [--concurrent 20]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """This process's resident memory, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_files() -> int:
    """This process's open file descriptors."""
    return len(os.listdir("/proc/self/fd"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--concurrent", type=int, default=20)
    args = ap.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "infer"))
    import _infer_fakes
    import httpx
    import uvicorn

    from actionlab.infer.runner import load_runner
    from actionlab.serve.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    ckpt = _infer_fakes.registry_checkpoint(tmp / "m.safetensors")
    data = _infer_fakes.write_video(tmp / "clip.mp4", frames=30).read_bytes()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(load_runner(ckpt), max_upload_mb=5, work_dir=tmp / "work")
    server = uvicorn.Server(uvicorn.Config(app, log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def upload(_: int) -> int:
        return httpx.post(f"http://127.0.0.1:{port}/api/analyze", timeout=600,
                          files={"file": ("clip.mp4", data, "video/mp4")}).status_code

    print(f"start: {open_files()} open files, {threading.active_count()} threads, "
          f"{rss_mb():.0f} MB")
    for r in range(args.rounds):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrent) as pool:
            codes = list(pool.map(upload, range(args.concurrent)))
        print(f"round {r + 1}: {codes.count(200)}/{len(codes)} ok, {open_files()} open files, "
              f"{threading.active_count()} threads, {rss_mb():.0f} MB, "
              f"{time.perf_counter() - t0:.1f} s")
    server.should_exit = True
    thread.join(30)


if __name__ == "__main__":
    main()
