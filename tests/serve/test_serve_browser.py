"""End to end in headless Chromium: upload a synthetic clip, wait for the label, screenshot."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _wait_for_background_install(timeout: float = 600.0) -> None:
    """``./dev test`` starts apt-get for chromium before pip (ACTIONLAB_CHROMIUM_PID): wait."""
    pid = int(os.environ.get("ACTIONLAB_CHROMIUM_PID") or 0)
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:  # ./dev exec'd pytest, which never reaps it: finished may mean a zombie
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state == "Z":
            return
        time.sleep(0.5)


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """Debian's chromium and chromium-driver, installed with apt-get when missing."""
    _wait_for_background_install()
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if shutil.which("apt-get") is None:
            pytest.skip("chromium is not installed and apt-get is not available")
        try:
            subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "chromium", "chromium-driver"], check=True,
                           capture_output=True, timeout=600,
                           env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"could not install chromium with apt-get: {exc}")
        if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            pytest.skip("apt-get ran but chromium or chromedriver is still missing")
    return CHROMIUM, CHROMEDRIVER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runner) -> Iterator[str]:
    """uvicorn on 127.0.0.1 and a free port, in a thread."""
    import uvicorn

    from actionlab.serve.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(runner, max_upload_mb=1), host="127.0.0.1", port=port,
                            log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(chromium: tuple[Path, Path]) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(binary)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1100,1400"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(str(driver)), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_upload_in_chromium(server: str, browser, good_clip: Path, tmp_path: Path,
                            upload_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from _infer_fakes import CLASSES

    browser.get(server + "/")
    WebDriverWait(browser, 20).until(
        lambda d: "classes" in d.find_element(By.ID, "model-info").text)
    browser.find_element(By.ID, "video-input").send_keys(str(good_clip))
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 60).until(ec.visibility_of_element_located((By.ID, "results")))
    label = browser.find_element(By.ID, "top-label").text
    assert label.split(" (")[0] in CLASSES and label.endswith("%)")
    WebDriverWait(browser, 20).until(lambda d: d.execute_script(
        "const a = document.getElementById('timeline-img'), b = document.getElementById('gradcam-img');"
        "return a.complete && a.naturalWidth > 0 && b.complete && b.naturalWidth > 0;"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#topk tbody tr")
    assert len(rows) == 3
    browser.save_screenshot(str(tmp_path / "result.png"))
    assert (tmp_path / "result.png").stat().st_size > 10_000

    # A file that is not a video: the page shows the server's reason, then works again.
    bad = upload_dir / "not_video.mp4"
    bad.write_bytes(b"definitely not a video" * 40)
    browser.find_element(By.ID, "video-input").send_keys(str(bad))
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "error")))
    assert "not_video.mp4" in browser.find_element(By.ID, "error").text
    browser.save_screenshot(str(tmp_path / "error.png"))
