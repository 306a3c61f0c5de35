"""``actionlab report``: one self-contained HTML page for a set of runs.

Everything is inline: CSS in a ``<style>`` block, figures as base64 PNG (or GIF) data URIs, so
the page can be mailed or archived as one file. Every piece of text taken from the run dirs
(names, config, class names, labels) goes through :func:`html.escape`.

What is read from each run dir: ``config.yaml``, ``metrics.csv``/``metrics.jsonl``, the
checkpoint (size), ``eval.json`` (test metrics and confusion), images under ``explain/``
(Grad-CAM GIFs and PNGs, any depth) and ``timeline/`` (``*.png`` as they are; ``*.json``
timelines are plotted with their segments, ``evaluate-timeline`` scores are tabulated).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actionlab import __version__
from actionlab.errors import ActionlabError, InputError
from actionlab.evaluate import runs as R
from actionlab.evaluate.timeline import evaluate_timeline, normalize_document
from actionlab.io import check_output_file, write_text_atomic, writing
from actionlab.metrics import per_class_improvement
from actionlab.report import plots as P

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 8_000_000  # larger files are listed, not embedded
_MIME = {b"\x89PNG": "image/png", b"GIF8": "image/gif", b"\xff\xd8\xff": "image/jpeg"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:2em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
img{max-width:100%;height:auto;border:1px solid #eee;margin:.3em 0}
figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:.85em;color:#555}
.note{color:#777;font-size:.9em}
"""


def esc(x: Any) -> str:
    """HTML-escaped text of anything (None as a dash)."""
    return "-" if x is None else html.escape(str(x), quote=True)


def img_tag(data: bytes, alt: str, mime: str = "image/png") -> str:
    """An ``<img>`` with the bytes inline as a base64 data URI."""
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:{mime};base64,{b64}">'


def figure_tag(data: bytes, caption: str, mime: str = "image/png") -> str:
    return f"<figure>{img_tag(data, caption, mime)}<figcaption>{esc(caption)}</figcaption></figure>"


def html_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A ``<table>`` with every cell escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _mime_of(data: bytes) -> str | None:
    for magic, mime in _MIME.items():
        if data.startswith(magic):
            return mime
    return None


def _image_files(folder: Path, patterns: Sequence[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    found = {p for pat in patterns for p in folder.rglob(pat) if p.is_file()}
    return sorted(found)


def _embed_file(path: Path, caption: str) -> str:
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        return f'<p class="note">{esc(caption)}: {size / 1e6:.1f} MB, too large to embed</p>'
    data = path.read_bytes()
    mime = _mime_of(data)
    if mime is None:
        return f'<p class="note">{esc(caption)}: not a PNG, GIF or JPEG image</p>'
    return figure_tag(data, caption, mime)


# --------------------------------------------------------------------------- sections


def _results_section(summaries: list[R.RunSummary]) -> str:
    header, body = R.table_cells(summaries)
    parts = ["<h2>Results</h2>", html_table(header, body),
             '<p class="note">Top-1 train and validation accuracy and the train loss are those of '
             "the best validation epoch; test accuracy is from <code>eval.json</code> "
             "(<code>actionlab evaluate</code>). Size: bytes of the checkpoint's tensors, "
             "1 MB = 10<sup>6</sup> bytes.</p>"]
    tested = [s for s in summaries if s.test_top1 is not None]
    if len(tested) >= 2:
        fusions = [_fusion_of(s) for s in tested]
        names = [f"{s.name} ({f})" if f else s.name for s, f in zip(tested, fusions, strict=True)]
        # Only runs that all fuse two streams make a fusion comparison.
        title = "test top-1 per run" + (" (fusion comparison)" if all(fusions) else "")
        fig = P.bars_figure(names, [s.test_top1 for s in tested], "test top-1", title)
        parts.append(figure_tag(P.png_bytes(fig), title))
    return "\n".join(parts)


def _fusion_of(s: R.RunSummary) -> str | None:
    """The fusion method of a two-stream run (the study's comparison), else None."""
    model = R.read_config(s.path).get("model")
    kwargs = model.get("kwargs") if isinstance(model, dict) else None
    fusion = kwargs.get("fusion") if isinstance(kwargs, dict) else None
    return str(fusion) if fusion else None


def _improvement_section(run_dirs: list[Path], top: int = 10) -> str:
    """Per-class gains from the first evaluated run to each later one with the same classes."""
    evaluated = []
    for d in run_dirs:
        try:
            evaluated.append((d, *R.run_confusion(d)))
        except Exception:  # noqa: BLE001 - a run without eval.json simply has no gains section
            continue
    if len(evaluated) < 2:
        return ""
    base_dir, base_cm, base_cls = evaluated[0]
    parts = ["<h2>Per-class improvement</h2>",
             f'<p class="note">Change in per-class test accuracy from {esc(base_dir.name)} '
             "to each other run over the same classes.</p>"]
    for d, cm, cls in evaluated[1:]:
        if cls != base_cls or cm.shape != base_cm.shape:
            continue
        rows = per_class_improvement(base_cm, cm, cls)
        title = f"{base_dir.name} -> {d.name}"
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append(html_table(*R.improvement_cells(rows, top)))
        parts.append(figure_tag(P.png_bytes(P.improvement_figure(rows, top, title)), title))
    return "\n".join(parts)


def _config_block(run_dir: Path) -> str:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return '<p class="note">no config.yaml</p>'
    text = path.read_text(encoding="utf-8", errors="replace")
    return f"<details><summary>config.yaml</summary><pre>{esc(text)}</pre></details>"


def _curves_block(run_dir: Path, summary: R.RunSummary) -> str:
    rows = R.read_metrics(run_dir)
    if not rows:
        return '<p class="note">no metrics.csv / metrics.jsonl</p>'
    parts = [figure_tag(P.png_bytes(P.training_curves_figure(rows, None, summary.best_epoch)),
                        "training curves: train vs validation loss and accuracy")]
    x, y, per = P.lr_series(rows)
    if len(x):
        parts.append(figure_tag(P.png_bytes(P.lr_figure(x, y, per)), f"learning rate per {per}"))
    return "\n".join(parts)


def _eval_block(run_dir: Path) -> str:
    ev = R.read_eval(run_dir)
    if ev is None:
        return ('<p class="note">not evaluated (run <code>actionlab evaluate</code> to add '
                "test metrics)</p>")
    m = ev.get("metrics") or {}
    keys = [k for k in m if k.startswith("top")] + ["mean_class_accuracy", "num_samples"]
    cells = [[k, f"{m[k]:.3f}" if isinstance(m[k], float) else m[k]] for k in keys if k in m]
    views = f"{ev.get('num_clips', 1)} clip(s) x {len(ev.get('crops') or ['center'])} crop(s)"
    parts = [f"<h3>Test ({esc(ev.get('split', 'test'))}, {esc(views)})</h3>",
             html_table(["metric", "value"], cells)]
    if "confusion" in m:
        cm = _confusion(m["confusion"], run_dir / R.EVAL_FILE)
        classes = ev.get("classes") or [str(i) for i in range(len(cm))]
        if not isinstance(classes, list) or len(classes) != len(cm):
            raise InputError(f"{run_dir / R.EVAL_FILE}: {len(cm)}x{len(cm)} confusion matrix "
                             f"but classes is not a list of {len(cm)} names; re-run actionlab "
                             "evaluate")
        fig = P.confusion_figure(cm, [str(c) for c in classes], True)
        parts.append(figure_tag(P.png_bytes(fig), "confusion matrix (row-normalised)"))
    return "\n".join(parts)


def _confusion(raw: Any, path: Path) -> np.ndarray:
    """An eval.json's confusion matrix as a square array of finite counts, or one clear error."""
    try:
        cm = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        cm = np.zeros((0, 1))
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or not cm.size or not np.isfinite(cm).all():
        raise InputError(f"{path}: 'confusion' is not a square matrix of counts; re-run "
                         "actionlab evaluate")
    return cm


def _explain_block(run_dir: Path, max_images: int) -> str:
    files = _image_files(run_dir / "explain", ("*.gif", "*.png", "*.jpg"))
    if not files:
        return ""
    parts = ["<h3>Explanations</h3>"]
    for p in files[:max_images]:
        parts.append(_embed_file(p, str(p.relative_to(run_dir))))
    if len(files) > max_images:
        more = len(files) - max_images
        parts.append(f'<p class="note">{more} more image(s) under explain/ not shown</p>')
    return "\n".join(parts)


def read_timeline(path: Path) -> dict[str, Any]:
    """A ``timeline.json`` (or ``evaluate-timeline`` scores), checked before anything is drawn.

    Raises:
        InputError: the file is not JSON, or not a timeline: one line naming the file and what is
            wrong (wrong types, probabilities that do not fit the times and classes, NaN times).
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not a timeline (JSON nested too deeply)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a timeline (a JSON {type(doc).__name__}, expected an "
                         "object as `actionlab timeline` writes)")
    if "frame" in doc and "segment" in doc:  # evaluate-timeline scores
        frame, seg = doc["frame"], doc["segment"]
        if not isinstance(frame, dict) or not isinstance(seg, dict):
            raise InputError(f"{path}: 'frame' and 'segment' must be objects of scores")
        maps = seg.get("map") or {}
        scores = [frame.get(k, 0) for k in ("precision", "recall", "f1")]
        if not isinstance(maps, dict) or not all(_is_number(v) for v in [*scores, *maps.values()]):
            raise InputError(f"{path}: scores must be numbers")
        return doc
    try:  # segments, fps and duration (a timeline without segments has an empty list)
        segs = normalize_document({"segments": [], **doc}, str(path))["segments"]
    except RecursionError:
        raise InputError(f"{path}: not a timeline (JSON nested too deeply)") from None
    if {"times", "probs", "classes"} <= doc.keys():
        classes = doc["classes"]
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise InputError(f"{path}: 'classes' must be a list of names")
        try:
            times = np.asarray(doc["times"], dtype=np.float64)
            probs = np.asarray(doc["probs"], dtype=np.float64)
        except (TypeError, ValueError, RecursionError):
            raise InputError(f"{path}: 'times' and 'probs' must be lists of numbers") from None
        if times.ndim != 1 or probs.shape != (len(times), len(classes)):
            raise InputError(f"{path}: 'probs' is {list(probs.shape)}, expected [times, classes] "
                             f"= [{len(times)}, {len(classes)}]")
        if not (np.isfinite(times).all() and np.isfinite(probs).all()):
            raise InputError(f"{path}: 'times' and 'probs' must be finite numbers")
    return {**doc, "segments": segs}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _timeline_json_block(path: Path, run_dir: Path, has_png: bool) -> str:
    doc = read_timeline(path)
    rel = str(path.relative_to(run_dir))
    parts = []
    if "frame" in doc and "segment" in doc:  # evaluate-timeline scores
        f, seg = doc["frame"], doc["segment"]
        cells = [[f"frame {k}", f"{f.get(k, 0):.3f}"] for k in ("precision", "recall", "f1")]
        cells += [[f"segment mAP@{t}", f"{v:.3f}"] for t, v in (seg.get("map") or {}).items()]
        return f"<h4>{esc(rel)}</h4>" + html_table(["score", "value"], cells)
    segs = doc["segments"]
    gt = _ground_truth_for(doc, path)
    if {"times", "probs", "classes"} <= doc.keys() and (not has_png or gt is not None):
        fig = P.timeline_figure(doc["times"], doc["probs"], doc["classes"], segs,
                                gt["segments"] if gt else None, duration=doc.get("duration"),
                                title=doc.get("video"))
        parts.append(figure_tag(P.png_bytes(fig), rel + (" with ground truth" if gt else "")))
    if gt is not None:
        try:
            scores = evaluate_timeline(doc, gt)
        except ActionlabError as exc:
            parts.append(f'<p class="note">{esc(rel)}: not scored ({esc(exc)})</p>')
        else:
            f = scores["frame"]
            cells = [["frame precision / recall / F1",
                      f"{f['precision']:.3f} / {f['recall']:.3f} / {f['f1']:.3f}"]]
            cells += [[f"segment mAP@{t}", f"{v:.3f}"] for t, v in scores["segment"]["map"].items()]
            parts.append(f"<h4>{esc(rel)}: scored against {esc(gt['path'])}</h4>"
                         + html_table(["score", "value"], cells))
    if segs:
        body = [[s["label"], f"{s['start']:.2f}", f"{s['end']:.2f}", f"{s['score']:.3f}"]
                for s in segs]
        parts.append(f"<h4>{esc(rel)}: segments</h4>" +
                     html_table(["label", "start (s)", "end (s)", "score"], body))
    return "\n".join(parts)


def _ground_truth_for(doc: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The annotation of a timeline's video, when one lies beside the video or the timeline.

    The synthetic long videos ship ``long_000.mp4`` with ``long_000.json`` (``events``); a
    ``<timeline stem>.gt.json`` next to the timeline JSON is used too.
    """
    candidates = [path.with_name(path.stem + ".gt.json")]
    video = doc.get("video")
    if isinstance(video, str) and video:
        ann = Path(video).with_suffix(".json")
        candidates += [ann] if ann.is_absolute() else [path.parent / ann, ann]
    for c in candidates:
        try:
            if c.is_file() and c.resolve() != path.resolve():
                gt = normalize_document(json.loads(c.read_text(encoding="utf-8")), str(c))
                return {**gt, "path": str(c)}
        except (OSError, ValueError, RecursionError, ActionlabError):
            continue
    return None


def _timeline_block(run_dir: Path, max_images: int) -> str:
    folder = run_dir / "timeline"
    pngs = _image_files(folder, ("*.png",))
    jsons = _image_files(folder, ("*.json",))
    if not pngs and not jsons:
        return ""
    parts = ["<h3>Timelines</h3>"]
    for p in pngs[:max_images]:
        parts.append(_embed_file(p, str(p.relative_to(run_dir))))
    png_stems = {(p.parent, p.stem) for p in pngs}
    for j in jsons:
        if j.name.endswith(".gt.json"):
            continue
        parts.append(_timeline_json_block(j, run_dir, (j.parent, j.stem) in png_stems))
    return "\n".join(parts)


def _run_section(run_dir: Path, summary: R.RunSummary, anchor: str, max_images: int) -> str:
    title = summary.name + (f" - {summary.model}" if summary.model else "")
    return "\n".join([
        f'<h2 id="{esc(anchor)}">{esc(title)}</h2>',
        f'<p class="note">{esc(run_dir)}</p>',
        _config_block(run_dir),
        _curves_block(run_dir, summary),
        _eval_block(run_dir),
        _explain_block(run_dir, max_images),
        _timeline_block(run_dir, max_images),
    ])


# --------------------------------------------------------------------------- the page


def render_report(run_dirs: Sequence[str | Path], title: str = "actionlab report",
                  best_by: str = "val_acc", max_images: int = 24) -> str:
    """The report page as a string.

    Args:
        run_dirs: Run directories, in the order they are shown (the first is the baseline
            of the per-class improvement section).
        title: Page title.
        best_by: ``val_acc`` or ``val_loss``: which epoch the table reports.
        max_images: Most explanation / timeline images embedded per run.

    Raises:
        InputError: a path is not a folder, or a timeline JSON in it is malformed.
    """
    dirs = [Path(d) for d in run_dirs]
    summaries = R.results_table(dirs, best_by)
    anchors = [f"run-{i}" for i in range(len(dirs))]
    toc = "".join(f'<li><a href="#{a}">{esc(s.name)}</a></li>' for a, s in zip(anchors, summaries))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="note">actionlab {esc(__version__)}, {esc(now)}, {len(dirs)} run(s)</p>',
        f"<ul>{toc}</ul>",
        _results_section(summaries),
        _improvement_section(dirs),
    ]
    for d, s, a in zip(dirs, summaries, anchors):
        log.info("report: %s", d)
        body.append(_run_section(d, s, a, max_images))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(b for b in body if b) + "\n</body></html>\n")


def build_report(run_dirs: Sequence[str | Path], out: str | Path, title: str = "actionlab report",
                 best_by: str = "val_acc", max_images: int = 24) -> Path:
    """Write the self-contained report for ``run_dirs`` to ``out`` (atomically).

    See :func:`render_report` for the arguments. Returns the path written.
    """
    out = check_output_file(out, "--out")  # before the work: a wrong -o costs nothing
    page = render_report(run_dirs, title, best_by, max_images)
    with writing(out, "--out"):
        write_text_atomic(out, page)
    return out
