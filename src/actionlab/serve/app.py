"""The local web page: upload a video, see the top-k, the timeline and a Grad-CAM GIF.

Safety rules for uploads:

- the request body is capped (``max_upload_mb``): a ``Content-Length`` over the cap is refused
  before anything is read, and a body that grows past it while streaming is cut off (413);
- only video extensions are accepted (415), and the file must decode (422);
- the upload is written under a server-generated name in a private temporary folder and
  deleted as soon as it has been analysed; nothing the client sends becomes a path;
- results (the timeline PNG, the Grad-CAM GIF) are served only by a server-generated id and a
  fixed file name, and the oldest are deleted beyond ``keep_results``.

Every refusal, whatever refuses it (our checks, FastAPI's validation, an unknown route, an
internal error), answers with a JSON body ``{"error": "<reason>"}``; the server keeps serving.

Analysis runs one request at a time on **one** dedicated thread (the model and the CPU are shared
anyway). Libraries keep per-thread state: matplotlib opens its fonts once per thread, glibc gives
each thread its own malloc arena. On FastAPI's pool of up to 40 worker threads that state grew
with every new thread (open files 10 -> 104, resident memory by hundreds of MB under concurrent
uploads); on one thread it is made once. At most ``max_queue`` uploads wait (503 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from actionlab.errors import ActionlabError, VideoError
from actionlab.infer.export import accelerate
from actionlab.infer.runner import Runner, TorchRunner
from actionlab.serve.page import PAGE

log = logging.getLogger(__name__)

VIDEO_EXTS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
RESULT_FILES = ("timeline.png", "gradcam.gif")
_RID = re.compile(r"^[0-9a-f]{32}$")
ANALYZE_PATH = "/api/analyze"


class UploadLimit:
    """ASGI middleware capping the upload body before FastAPI parses it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != ANALYZE_PATH:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse({"error": self._message()}, status_code=413)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside FastAPI's body parsing, which re-raises HTTPExceptions.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"upload too large: the limit is {self.max_bytes / 2**20:.0f} MB"


class Busy(Exception):
    """Too many uploads are waiting for the analysis thread."""


class Analyzer:
    """Runs the model on uploaded videos and keeps the latest results' pictures."""

    def __init__(self, runner: Runner, work_dir: Path, top_k: int = 5,
                 window: str | None = None, step: str | None = None,
                 keep_results: int = 20, explain: bool = True, fast: bool = True,
                 max_queue: int = 32) -> None:
        self.spec = runner.spec
        self.top_k, self.window, self.step = top_k, window, step
        # Grad-CAM needs the PyTorch model; labels and timelines run with onnxruntime.
        self.torch_model = runner.model if isinstance(runner, TorchRunner) else None
        self.explain = explain and self.torch_model is not None
        self.runner = accelerate(runner) if fast else runner
        self.uploads = work_dir / "uploads"
        self.results = work_dir / "results"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)
        self.keep_results = keep_results
        self._order: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()  # for direct callers of analyze(); the server has one thread
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="actionlab-analyze")
        self.max_queue = max_queue
        self._waiting = 0  # only touched on the event loop's thread

    async def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the analysis thread and await its result.

        Raises:
            Busy: ``max_queue`` requests are already waiting or running.
        """
        if self._waiting >= self.max_queue:
            raise Busy(f"busy: {self._waiting} uploads are waiting; try again in a moment")
        self._waiting += 1
        try:
            return await asyncio.wrap_future(self._pool.submit(fn, *args))
        finally:
            self._waiting -= 1

    def close(self) -> None:
        """Stop the analysis thread (waiting uploads are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def analyze(self, video: Path, title: str | None = None) -> dict[str, Any]:
        """Top-k, timeline (with plot) and Grad-CAM GIF for one uploaded video.

        Args:
            video: The saved upload.
            title: Shown on the plot (the client's file name, as text only).

        Raises:
            VideoError: the file does not decode, or is shorter than one window.
        """
        from actionlab.data.video import probe
        from actionlab.infer.outputs import save_timeline_plot
        from actionlab.infer.predict import predict_frames
        from actionlab.infer.preprocess import decode_video
        from actionlab.infer.timeline import parse_length, run_timeline

        info = probe(video)  # the content check: counts frames by decoding, VideoError if none
        if info.fps <= 0:
            raise VideoError(video, "a still image, not a video")
        # One model window at least (the configured timeline window when one is set).
        need = parse_length(self.window, info.fps, self.spec.window_span())
        if info.frames < need:
            raise VideoError(
                video, f"too short: {info.frames} frames, the model's window is {need} frames "
                f"({need / info.fps:.2f} s at {info.fps:g} fps)"
            )
        with self._lock:
            decoded = decode_video(video, self.spec)
            pred = predict_frames(self.runner, decoded, k=self.top_k)
            tl, _ = run_timeline(self.runner, decoded, window=self.window, step=self.step)
            rid = uuid.uuid4().hex
            out = self.results / rid
            out.mkdir()
            save_timeline_plot(tl, out / "timeline.png", title=title)
            files = {"timeline": f"/api/results/{rid}/timeline.png"}
            if self.explain:
                files["gradcam"] = self._gradcam(decoded, out)
            self._remember(rid, out)
        return {
            "id": rid,
            "top": [{"label": lab, "prob": round(p, 4)} for lab, p in pred.topk],
            "segments": tl.segments,
            "duration": round(tl.duration, 3),
            "fps": tl.fps,
            "frames": len(decoded.frames),
            "files": files,
        }

    def _gradcam(self, decoded: Any, out: Path) -> str | None:
        from actionlab.explain.visual import explain_window, gradcam_gif_frames, save_gif

        try:
            exp = explain_window(self.torch_model, self.runner.meta, decoded)
            save_gif(gradcam_gif_frames(exp), out / "gradcam.gif")
        except Exception:  # noqa: BLE001 - the page still shows the labels without it
            log.exception("Grad-CAM failed")
            return None
        return f"/api/results/{out.name}/gradcam.gif"

    def _remember(self, rid: str, out: Path) -> None:
        self._order[rid] = out
        while len(self._order) > self.keep_results:
            _, old = self._order.popitem(last=False)
            shutil.rmtree(old, ignore_errors=True)

    def result_file(self, rid: str, name: str) -> Path | None:
        if not _RID.match(rid) or name not in RESULT_FILES:
            return None
        path = self.results / rid / name
        return path if path.is_file() else None


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def create_app(
    runner: Runner,
    max_upload_mb: float = 200.0,
    top_k: int = 5,
    window: str | None = None,
    step: str | None = None,
    work_dir: str | Path | None = None,
    explain: bool = True,
    fast: bool = True,
    max_queue: int = 32,
    live: Any = None,
) -> FastAPI:
    """The FastAPI app serving the page and ``POST /api/analyze``.

    Args:
        runner: The model (a :class:`TorchRunner` also gives Grad-CAM GIFs).
        max_upload_mb: Largest accepted upload.
        top_k: Labels shown.
        window: Timeline window (frames or ``"0.5s"``); default the model's.
        step: Timeline step; default half the window.
        work_dir: Where uploads and results live; default a fresh temporary folder,
            removed when the app shuts down.
        explain: Make the Grad-CAM GIF (PyTorch models only).
        fast: Run a PyTorch model with onnxruntime for labels and timelines (see
            :func:`actionlab.infer.export.accelerate`).
        max_queue: Uploads allowed to wait for the analysis thread; more get a 503.
        live: A :class:`actionlab.serve.live_view.LiveView` (already open): the page at
            ``/live`` shows it; started with the app, closed when it shuts down.
    """
    owned = work_dir is None
    base = Path(tempfile.mkdtemp(prefix="actionlab-serve-")) if owned else Path(work_dir)
    analyzer = Analyzer(runner, base, top_k=top_k, window=window, step=step, explain=explain,
                        fast=fast, max_queue=max_queue)
    max_bytes = int(max_upload_mb * 2**20)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if live is not None:
            live.start()
        yield
        if live is not None:
            live.close()
        analyzer.close()
        if owned:
            shutil.rmtree(base, ignore_errors=True)

    app = FastAPI(title="actionlab", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.analyzer = analyzer
    app.add_middleware(UploadLimit, max_bytes=max_bytes)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, _http_reason(request, exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_reason(exc))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after answering, so the server's log still gets the traceback.
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {
            "model": runner.meta.get("model", {}).get("name"),
            "classes": runner.classes,
            "max_upload_mb": max_upload_mb,
            "extensions": sorted(VIDEO_EXTS),
            "gradcam": analyzer.explain,
            "live": None if live is None else live.source,
        }

    @app.post(ANALYZE_PATH)
    async def analyze(file: UploadFile = File(...)) -> JSONResponse:  # noqa: B008 - FastAPI idiom
        ext = Path(file.filename or "").suffix.lower()
        if ext not in VIDEO_EXTS:
            return _error(415, f"not a video file ({ext or 'no extension'}); "
                               f"upload one of {', '.join(sorted(VIDEO_EXTS))}")
        try:
            return await analyzer.submit(_analyze_upload, analyzer, file, ext, max_bytes)
        except Busy as exc:
            return _error(503, str(exc))

    @app.get("/live", response_class=HTMLResponse)
    def live_page() -> str:
        if live is None:
            raise HTTPException(404, "no live source: start the server with --live SOURCE")
        from actionlab.serve.live_view import LIVE_PAGE

        return LIVE_PAGE

    @app.get("/api/live")
    def live_status() -> dict[str, Any]:
        if live is None:
            raise HTTPException(404, "no live source: start the server with --live SOURCE")
        return live.status()

    @app.get("/api/live/frame.jpg")
    def live_frame() -> Response:
        jpeg = None if live is None else live.frame_jpeg()
        if jpeg is None:
            raise HTTPException(404, "no live frame yet")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/api/results/{rid}/{name}")
    def result(rid: str, name: str) -> FileResponse:
        path = analyzer.result_file(rid, name)
        if path is None:
            raise HTTPException(404, "no such result")
        return FileResponse(path)

    return app


def _analyze_upload(analyzer: Analyzer, file: UploadFile, ext: str,
                    max_bytes: int) -> JSONResponse:
    """Save, check and analyse one upload (on the analysis thread); always delete it."""
    # A server-side name: nothing from the client becomes part of a path.
    path = analyzer.uploads / f"{uuid.uuid4().hex}{ext}"
    try:
        size = _save(file, path, max_bytes)
        if size > max_bytes:
            return _error(413, f"upload too large: the limit is {max_bytes / 2**20:.0f} MB")
        if size == 0:
            return _error(422, "empty upload")
        return JSONResponse(analyzer.analyze(path, title=_display_name(file.filename)))
    except VideoError as exc:
        return _error(422, f"{_display_name(file.filename)}: {exc.reason}")
    except ActionlabError as exc:
        return _error(422, str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad upload must not take the page down
        log.exception("analysis of %s failed", _display_name(file.filename))
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        path.unlink(missing_ok=True)
        file.file.close()


def _http_reason(request: Request, exc: StarletteHTTPException) -> str:
    """Starlette's bare reason phrases ("Not Found") made to say what was asked for."""
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"no such page: {request.url.path}"
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        return f"{request.method} is not allowed on {request.url.path}"
    return str(exc.detail)


def _validation_reason(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    hint = "; send the video as the multipart form field 'file'"
    return "invalid request: " + "; ".join(parts) + hint


def _display_name(name: str | None) -> str:
    """The client's file name as a short printable label (never used as a path)."""
    base = re.split(r"[\\/]", name or "")[-1]
    return "".join(c for c in base if c.isprintable())[:80] or "upload"


def _save(file: UploadFile, path: Path, max_bytes: int) -> int:
    """Copy the upload to ``path`` in chunks; stop one chunk past ``max_bytes``."""
    size = 0
    with open(path, "wb") as f:
        while chunk := file.file.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                break
            f.write(chunk)
    return size
