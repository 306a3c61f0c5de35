"""The web API with FastAPI's TestClient: results, and a 4xx with a JSON reason for bad input."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from _infer_fakes import CLASSES, write_video
from fastapi.testclient import TestClient

from actionlab.serve.app import create_app


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-work")


@pytest.fixture(scope="module")
def client(runner, work: Path):
    with TestClient(create_app(runner, max_upload_mb=0.5, work_dir=work)) as c:
        yield c


def _post(client: TestClient, path: Path, name: str | None = None, data: bytes | None = None):
    content = data if data is not None else path.read_bytes()
    return client.post("/api/analyze", files={"file": (name or path.name, content, "video/mp4")})


def test_page_and_info(client: TestClient) -> None:
    assert "Upload a video" in client.get("/").text
    info = client.get("/api/info").json()
    assert info["classes"] == CLASSES and info["max_upload_mb"] == 0.5 and info["gradcam"]


def test_analyze_a_clip(client: TestClient, good_clip: Path, work: Path) -> None:
    res = _post(client, good_clip)
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["top"][0]["label"] in CLASSES and len(data["top"]) == 3
    assert data["frames"] == 30 and data["fps"] == 25
    assert client.get("/api/info").json()["model"] == "two_stream"
    for seg in data["segments"]:
        assert set(seg) == {"label", "start", "end", "score"}
    png = client.get(data["files"]["timeline"])
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    gif = client.get(data["files"]["gradcam"])
    assert gif.status_code == 200 and gif.content[:3] == b"GIF"
    assert list((work / "uploads").iterdir()) == []  # the upload is gone


@pytest.mark.parametrize(
    ("name", "data", "status", "reason"),
    [
        ("notes.txt", b"hello", 415, "not a video file"),
        ("noext", b"hello", 415, "no extension"),
        ("fake.mp4", b"this is not a video" * 50, 422, "fake.mp4"),
        ("empty.mp4", b"", 422, "empty"),
    ],
)
def test_bad_uploads(client: TestClient, name: str, data: bytes, status: int, reason: str,
                     work: Path) -> None:
    res = _post(client, Path(name), name=name, data=data)
    assert res.status_code == status, res.text
    assert reason in res.json()["error"]
    assert list((work / "uploads").iterdir()) == []


def test_too_short_and_too_large(client: TestClient, upload_dir: Path, good_clip: Path) -> None:
    short = write_video(upload_dir / "short.mp4", frames=5)  # the window is 9 frames
    res = _post(client, short)
    assert res.status_code == 422 and "too short" in res.json()["error"]
    res = _post(client, short, data=b"\0" * (600 * 1024))
    assert res.status_code == 413 and "too large" in res.json()["error"]
    # Streaming without a Content-Length is cut off too.
    body = (b"\0" * 4096 for _ in range(200))
    res = client.post("/api/analyze", content=body,
                      headers={"content-type": "multipart/form-data; boundary=x"})
    assert res.status_code == 413 and "too large" in res.json()["error"]
    # ... and the server keeps serving.
    assert _post(client, good_clip).status_code == 200


def test_no_path_from_the_client(client: TestClient, good_clip: Path, work: Path) -> None:
    res = _post(client, good_clip, name="../../../../tmp/evil.mp4")
    assert res.status_code == 200
    assert not Path("/tmp/evil.mp4").exists()
    assert client.get("/api/results/../../etc/passwd").status_code == 404
    assert client.get("/api/results/" + "0" * 32 + "/timeline.png").status_code == 404
    rid = res.json()["id"]
    assert client.get(f"/api/results/{rid}/secret.txt").status_code == 404


def test_serve_runs_on_localhost_and_removes_its_folder(actionlab, ckpt: Path, temp_root: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        free_port: int) -> None:
    """`serve CKPT` listens on 127.0.0.1 and its temporary folder goes when it stops."""
    import uvicorn

    seen: dict = {}

    def fake_run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        seen["host"], seen["port"] = sockets[0].getsockname()[:2]
        seen["folders"] = list(temp_root.iterdir())
        with TestClient(server.config.app) as c:
            seen["info"] = c.get("/api/info").json()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    port = free_port
    res = actionlab("serve", ckpt, "--port", port, "--max-upload-mb", "5")
    assert res.code == 0, res.err
    assert res.out == f"serving {ckpt} on http://127.0.0.1:{port}/\n"
    assert seen["host"] == "127.0.0.1" and seen["port"] == port
    assert seen["info"]["max_upload_mb"] == 5
    assert [p.name[:16] for p in seen["folders"]] == ["actionlab-serve-"]
    assert list(temp_root.iterdir()) == []


def test_onnx_model_page_has_labels_but_no_gradcam(runner, good_clip: Path) -> None:
    from actionlab.infer.export import accelerate
    from actionlab.infer.runner import OnnxRunner

    onnx_runner = accelerate(runner)
    assert isinstance(onnx_runner, OnnxRunner)
    with TestClient(create_app(onnx_runner)) as c:
        assert c.get("/api/info").json()["gradcam"] is False
        data = _post(c, good_clip).json()
        assert data["top"][0]["label"] in CLASSES and "gradcam" not in data["files"]
