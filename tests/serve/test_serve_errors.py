"""Every refusal of the server is ``{"error": "<one line>"}``; `serve`'s own errors are one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from cli_run import refused

from actionlab.serve.app import create_app


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-errors")


@pytest.fixture(scope="module")
def client(runner, work: Path):
    # raise_server_exceptions=False: see the 500 the client gets, as with a real server.
    app = create_app(runner, max_upload_mb=0.5, work_dir=work, fast=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _one_json_error(res, status: int, words: str) -> str:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/json"), res.headers
    body = res.json()
    assert set(body) == {"error"}, body  # never FastAPI's {"detail": [...]}
    reason = body["error"]
    assert isinstance(reason, str) and "\n" not in reason and "Traceback" not in reason
    assert words in reason, reason
    return reason


def _multipart(name: str, data: bytes) -> dict:
    return {"files": {"file": (name, data, "video/mp4")}}


REFUSALS = [
    # (method, url, request kwargs, status, words in the reason)
    ("get", "/nope", {}, 404, "no such page: /nope"),
    ("get", "/api/results/" + "0" * 32 + "/timeline.png", {}, 404, "no such result"),
    ("get", "/api/results/x/../../etc/passwd", {}, 404, "no such page"),
    ("get", "/api/analyze", {}, 405, "GET is not allowed on /api/analyze"),
    ("delete", "/api/info", {}, 405, "DELETE is not allowed"),
    ("post", "/api/analyze", {}, 422, "file: Field required"),
    ("post", "/api/analyze", {"json": {"file": "clip.mp4"}}, 422, "multipart form field 'file'"),
    ("post", "/api/analyze", {"data": {"file": "not an upload"}}, 422, "invalid request"),
    ("post", "/api/analyze", {"content": b"--x\r\ngarbage",
                              "headers": {"content-type": "multipart/form-data; boundary=x"}},
     422, "file: Field required"),
    ("post", "/api/analyze", _multipart("a.txt", b"hi"), 415, "not a video file (.txt)"),
    ("post", "/api/analyze", _multipart("noext", b"hi"), 415, "no extension"),
    ("post", "/api/analyze", _multipart("big.mp4", b"\0" * (600 * 1024)), 413, "too large"),
    ("post", "/api/analyze", _multipart("empty.mkv", b""), 422, "empty upload"),
    ("post", "/api/analyze", _multipart("fake.mp4", b"not a video" * 100), 422, "fake.mp4:"),
    ("post", "/api/analyze", _multipart("../../x/junk.avi", b"RIFF" + b"\1" * 500), 422,
     "junk.avi:"),
]


@pytest.mark.parametrize(("method", "url", "kw", "status", "words"), REFUSALS,
                         ids=[f"{r[3]}-{r[1]}-{i}" for i, r in enumerate(REFUSALS)])
def test_every_refusal_is_a_json_error(client: TestClient, work: Path, method: str, url: str,
                                       kw: dict, status: int, words: str) -> None:
    _one_json_error(getattr(client, method)(url, **kw), status, words)
    assert list((work / "uploads").iterdir()) == []  # nothing left behind


def test_too_short_video_is_a_json_error(client: TestClient, upload_dir: Path) -> None:
    from _infer_fakes import write_video

    short = write_video(upload_dir / "short3.mp4", frames=3)
    res = client.post("/api/analyze", **_multipart("short3.mp4", short.read_bytes()))
    _one_json_error(res, 422, "too short: 3 frames")


def test_internal_errors_are_json(client: TestClient, good_clip: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    analyzer = client.app.state.analyzer

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    # Inside an analysis (the upload handler) ...
    monkeypatch.setattr(analyzer, "analyze", broken)
    res = client.post("/api/analyze", **_multipart("ok.mp4", good_clip.read_bytes()))
    _one_json_error(res, 500, "internal error: RuntimeError: disk on fire")
    # ... and anywhere else (the app-wide handler).
    monkeypatch.setattr(analyzer, "result_file", broken)
    _one_json_error(client.get("/api/results/" + "a" * 32 + "/timeline.png"), 500,
                    "internal error: RuntimeError")
    monkeypatch.undo()
    assert client.post("/api/analyze", **_multipart("ok.mp4", good_clip.read_bytes())
                       ).status_code == 200  # still serving


def test_a_full_queue_is_a_json_503(runner, good_clip: Path, tmp_path: Path) -> None:
    with TestClient(create_app(runner, work_dir=tmp_path, fast=False, max_queue=0)) as c:
        res = c.post("/api/analyze", **_multipart("ok.mp4", good_clip.read_bytes()))
        _one_json_error(res, 503, "busy")


# ---- the `serve` command's own errors: one line, non-zero exit, no temporary folder left



@pytest.mark.parametrize(("port", "words"), [
    ("99999", "--port 99999: use a port between 1 and 65535"),
    ("0", "--port 0: use a port between 1 and 65535"),
    ("-1", "--port -1"),
])
def test_serve_bad_port_is_one_line(actionlab, ckpt: Path, temp_root: Path, port: str,
                                    words: str) -> None:
    refused(actionlab("serve", ckpt, "--port", port), words, code=2)
    assert list(temp_root.iterdir()) == []


def test_serve_port_in_use_is_one_line(actionlab, ckpt: Path, temp_root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        refused(actionlab("serve", ckpt, "--port", port),
                f"cannot listen on 127.0.0.1:{port}: Address already in use", code=2)
    assert list(temp_root.iterdir()) == []


def test_serve_bad_host_and_checkpoint_are_one_line(actionlab, ckpt: Path, temp_root: Path,
                                                    tmp_path: Path,
                                                    free_port: int) -> None:
    refused(actionlab("serve", ckpt, "--host", "no-such-host.invalid"),
            "--host no-such-host.invalid: not an address", code=2)
    refused(actionlab("serve", tmp_path / "missing.safetensors", "--port", free_port),
            "missing.safetensors", code=1)
    assert list(temp_root.iterdir()) == []


def _raw_checkpoint(path: Path, meta_text: str) -> Path:
    """The tests' two-stream weights with ``meta_text`` stored as the meta, as it is."""
    import torch
    from _infer_fakes import TWO_STREAM_KWARGS
    from safetensors.torch import save_file

    from actionlab.checkpoint import META_KEY
    from actionlab.models import build_model

    torch.manual_seed(0)
    state = {k: v.contiguous().clone() for k, v in
             build_model("two_stream", **TWO_STREAM_KWARGS).state_dict().items()}
    save_file(state, str(path), metadata={META_KEY: meta_text})
    return path


def _meta(**change: object) -> str:
    import json

    from _infer_fakes import CLASSES, TWO_STREAM_INPUT, TWO_STREAM_KWARGS

    from actionlab.checkpoint import FORMAT_VERSION

    meta = {"format_version": FORMAT_VERSION, "classes": CLASSES, "input": TWO_STREAM_INPUT,
            "model": {"name": "two_stream", "kwargs": TWO_STREAM_KWARGS}}
    meta.update(change)
    return json.dumps({k: v for k, v in meta.items() if v is not None})


BAD_METAS = {
    "not JSON": ("{model: two_stream", "not valid JSON"),
    "a list": ("[1, 2]", "must be a JSON object"),
    "no model": (_meta(model=None), "no model {name, kwargs}"),
    "5 classes, 3-way head": (_meta(classes=list("abcde")), "lists 5 classes"),
}


@pytest.mark.parametrize("case", list(BAD_METAS))
def test_serve_refuses_a_malformed_checkpoint_in_one_line(actionlab, case: str, tmp_path: Path,
                                                          temp_root: Path, free_port: int) -> None:
    """Before: `serve` started and answered every upload with a 500 in text/plain."""
    text, words = BAD_METAS[case]
    bad = _raw_checkpoint(tmp_path / "bad.safetensors", text)
    refused(actionlab("serve", bad, "--port", free_port), words)
    assert list(temp_root.iterdir()) == []
