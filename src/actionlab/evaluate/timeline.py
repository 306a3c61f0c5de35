"""Scoring action segments over time against ground truth (pure functions).

Turning window probabilities into segments is inference: :mod:`actionlab.infer.segments`.

* :func:`evaluate_timeline` scores predicted segments against ground truth: frame-level
  precision / recall / F1 on a fixed time grid, and segment average precision at temporal IoU
  thresholds (ActivityNet / THUMOS convention: predictions ranked by score, greedy matching to
  the unmatched ground truth of highest IoU, AP = area under the interpolated PR curve).

Segment documents are ``{"video", "fps", "duration", "segments": [{"label", "start", "end",
"score"}]}``; ground truth may name its list ``events`` instead (the synthetic long-video
annotations) and needs no scores. Times are in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import InputError

DEFAULT_TIOUS = (0.3, 0.5, 0.7)
DEFAULT_RESOLUTION = 0.04  # seconds: one frame at 25 fps
MAX_SECONDS = 366 * 24 * 3600.0  # no segment time beyond a year
MAX_BINS = 10_000_000  # frame-level bins per video: 4.6 days at 0.04 s, ~200 MB to score
MAX_CELLS = 400_000_000  # bins x classes of one video: a few seconds of work
MAX_FILE_BYTES = 256 * 10**6  # a segment file larger than this is not one


# --------------------------------------------------------------------------- loading


def _number(value: Any, where: str, what: str, low: float = 0.0) -> float:
    """A finite JSON number ``>= low`` (a string, bool, NaN or Infinity is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {what} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < low:
        raise InputError(f"{where}: {what} must be a finite number >= {low:g}, got {value!r}")
    if value > MAX_SECONDS and what != "score":
        raise InputError(f"{where}: {what} {value:g} is beyond {MAX_SECONDS:g} s (a year)")
    return value


def _optional(doc: dict, key: str, where: str, low: float = 0.0) -> float | None:
    value = doc.get(key)
    return None if value is None else _number(value, where, key, low)


def normalize_document(doc: Any, where: str = "segments") -> dict[str, Any]:
    """A segment document with its list under ``segments`` (``events`` preferred), scores filled.

    Every number is checked before anything is allocated from it: times are finite, in
    [0, a year], ``fps`` positive, scores finite numbers (strings are refused, not parsed).

    Args:
        doc: A parsed JSON object.
        where: Names the source in error messages.

    Returns:
        ``{"video", "fps", "duration", "segments": [{"label", "start", "end", "score"}]}``.

    Raises:
        InputError: on anything else, naming the document and the segment.
    """
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a JSON object with a 'segments' or 'events' list")
    # the synthetic annotations carry both: ``events`` (the actions) and ``segments`` (the
    # background motion, keyed by ``kind``), so ``events`` wins when present
    # (a timeline.json, which has ``probs``, also lists ``events``: its segments are scored)
    raw = doc["events"] if "events" in doc and "probs" not in doc else doc.get("segments")
    if not isinstance(raw, list):
        raise InputError(f"{where}: no 'segments' or 'events' list")
    fps = _optional(doc, "fps", where)
    if fps is not None and fps <= 0:
        raise InputError(f"{where}: fps must be positive, got {fps:g}")
    duration = _optional(doc, "duration", where)
    segs = []
    for i, s in enumerate(raw):
        at = f"{where}: segment {i}"
        if not isinstance(s, dict) or not {"label", "start", "end"} <= s.keys():
            raise InputError(f"{at} needs label, start and end (seconds); got {_short(s)}")
        if not isinstance(s["label"], (str, int)) or isinstance(s["label"], bool):
            raise InputError(f"{at}: label must be a string, got {_short(s['label'])}")
        start, end = _number(s["start"], at, "start"), _number(s["end"], at, "end")
        if end < start:
            raise InputError(f"{at} ends ({end}) before it starts ({start})")
        score = _number(s.get("score", 1.0), at, "score", low=-np.inf)
        segs.append({"label": str(s["label"]), "start": start, "end": end, "score": score})
    return {"video": doc.get("video"), "fps": fps, "duration": duration, "segments": segs}


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def load_segments(path: str | Path) -> list[dict[str, Any]]:
    """Read a segment file: one document or a list of documents (several videos).

    Raises:
        InputError: if the file is missing, too large, not strict JSON (``NaN``,
            ``Infinity``, nesting deeper than Python can parse), or not in the segment format.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {path.stat().st_size / 1e6:.0f} MB is more than a segment "
                         f"file holds (at most {MAX_FILE_BYTES // 10**6} MB)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to be a segment file") from None
    docs = data if isinstance(data, list) else [data]
    return [normalize_document(d, f"{path}" + (f"[{i}]" if len(docs) > 1 else ""))
            for i, d in enumerate(docs)]


# --------------------------------------------------------------------------- scoring


def temporal_iou(seg: Sequence[float], others: np.ndarray) -> np.ndarray:
    """IoU in time of one (start, end) interval with each row of ``others`` (M, 2)."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 2)
    inter = np.clip(np.minimum(seg[1], others[:, 1]) - np.maximum(seg[0], others[:, 0]), 0, None)
    union = (seg[1] - seg[0]) + (others[:, 1] - others[:, 0]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the interpolated precision-recall curve (all-point, VOC 2010+ / ActivityNet).

    Precision at each recall is replaced by the best precision at any higher recall, and the
    area is summed over the recall steps.
    """
    mprec = np.concatenate([[0.0], np.asarray(precision, float), [0.0]])
    mrec = np.concatenate([[0.0], np.asarray(recall, float), [1.0]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def segment_ap(
    preds: Sequence[tuple[int, float, float, float]],
    gts: Sequence[tuple[int, float, float]],
    tiou: float,
) -> float:
    """Average precision of one class's predicted segments at one temporal IoU threshold.

    Args:
        preds: ``(video_index, start, end, score)`` per predicted segment.
        gts: ``(video_index, start, end)`` per ground-truth segment.
        tiou: A prediction is a true positive when its IoU with a not yet matched ground truth
            segment of the same video reaches this.

    Returns:
        AP in [0, 1]; NaN when there is no ground truth.
    """
    if not gts:
        return float("nan")
    if not preds:
        return 0.0
    order = sorted(range(len(preds)), key=lambda i: -preds[i][3])  # stable: ties keep file order
    by_video: dict[int, list[int]] = {}
    for j, g in enumerate(gts):
        by_video.setdefault(g[0], []).append(j)
    gt_arr = np.asarray([[g[1], g[2]] for g in gts], dtype=np.float64)
    used = np.zeros(len(gts), dtype=bool)
    tp = np.zeros(len(preds))
    for rank, i in enumerate(order):
        v, s, e, _ = preds[i]
        cand = by_video.get(v, [])
        if not cand:
            continue
        ious = temporal_iou((s, e), gt_arr[cand])
        for k in np.argsort(-ious, kind="stable"):
            if ious[k] < tiou:
                break
            if not used[cand[k]]:
                used[cand[k]] = True
                tp[rank] = 1
                break
    ctp = np.cumsum(tp)
    precision = ctp / np.arange(1, len(preds) + 1)
    recall = ctp / len(gts)
    return interpolated_ap(precision, recall)


def _grid_masks(segs: list[dict], label: str, centers: np.ndarray) -> np.ndarray:
    """Bins whose centre lies in a ``label`` segment: O(bins + segments) whatever the
    segments' lengths and overlaps (a difference array, not a mask per segment)."""
    n = len(centers)
    bounds = np.asarray([(s["start"], s["end"]) for s in segs if s["label"] == label],
                        dtype=np.float64).reshape(-1, 2)
    # centre >= start and centre < end, as index ranges of the sorted centres
    lo = np.searchsorted(centers, bounds[:, 0], side="left")
    hi = np.searchsorted(centers, bounds[:, 1], side="left")
    delta = np.zeros(n + 1, dtype=np.int32)
    np.add.at(delta, lo, 1)
    np.add.at(delta, hi, -1)
    return np.cumsum(delta[:n]) > 0


def _bins(pd: dict, gd: dict, resolution: float | None, where: str) -> tuple[float, int]:
    """The bin width and count of one video's grid, refused when it would not fit in memory."""
    res = resolution or (1.0 / gd["fps"] if gd.get("fps") else DEFAULT_RESOLUTION)
    ends = [s["end"] for s in pd["segments"] + gd["segments"]]
    total = max([gd.get("duration") or 0.0, pd.get("duration") or 0.0] + ends)
    n = int(np.ceil(total / res - 1e-9))
    labels = len({s["label"] for s in pd["segments"] + gd["segments"]})
    if n > MAX_BINS or n * labels > MAX_CELLS:
        raise InputError(
            f"{where}: {total:g} s in {res:g} s bins is {n:,} bins x {labels} classes, more "
            f"than frame-level scoring allows ({MAX_BINS:,} bins, {MAX_CELLS:,} cells); "
            "give a larger --resolution or check the times"
        )
    return res, n


def check_resolution(resolution: float | None) -> float | None:
    """``--resolution``: None (the ground truth's frame) or a finite number of seconds > 0."""
    if resolution is None:
        return None
    if isinstance(resolution, bool) or not np.isfinite(resolution) or resolution <= 0:
        raise InputError(f"--resolution {resolution!r}: give a bin width in seconds > 0")
    return float(resolution)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def frame_scores(
    preds: Sequence[dict], gts: Sequence[dict], resolution: float | None = None
) -> dict[str, Any]:
    """Frame-level precision, recall and F1 per class and micro-averaged over classes.

    Time is cut into bins of ``resolution`` seconds (default: one frame of the ground truth's
    fps, else 0.04 s); a bin belongs to a segment when its centre lies inside it.

    Args:
        preds: Normalised prediction documents (one per video, paired with ``gts`` by index).
        gts: Normalised ground-truth documents.
        resolution: Bin width in seconds.
    """
    resolution = check_resolution(resolution)
    labels = sorted({s["label"] for d in list(preds) + list(gts) for s in d["segments"]})
    counts = {lab: [0, 0, 0] for lab in labels}
    # every video's grid is sized and bounded before the first one is allocated
    grids = [_bins(pd, gd, resolution, f"video {i} ({gd.get('video') or pd.get('video')})")
             for i, (pd, gd) in enumerate(zip(preds, gts))]
    used_res = resolution
    for pd, gd, (res, n) in zip(preds, gts, grids):
        used_res = res
        present = {s["label"] for s in pd["segments"] + gd["segments"]}
        centers = (np.arange(n) + 0.5) * res
        for lab in sorted(present):  # a class absent from both adds nothing
            pm = _grid_masks(pd["segments"], lab, centers)
            gm = _grid_masks(gd["segments"], lab, centers)
            c = counts[lab]
            c[0] += int((pm & gm).sum())
            c[1] += int((pm & ~gm).sum())
            c[2] += int((~pm & gm).sum())
    per_class = {lab: _prf(*c) for lab, c in counts.items()}
    micro = _prf(*(int(sum(c[i] for c in counts.values())) for i in range(3)))
    return {"resolution": used_res, "per_class": per_class, **micro}


def evaluate_timeline(
    preds: Sequence[dict] | dict,
    gts: Sequence[dict] | dict,
    tious: Sequence[float] = DEFAULT_TIOUS,
    resolution: float | None = None,
) -> dict[str, Any]:
    """Score predicted segments against ground truth (one or several videos).

    Args:
        preds: Prediction documents (``segments`` with scores), or one document.
        gts: Ground-truth documents (``segments`` or ``events``), paired with ``preds`` by
            index, or one document.
        tious: Temporal IoU thresholds for segment AP.
        resolution: Frame-level bin width in seconds (see :func:`frame_scores`).

    Returns:
        ``{"frame": {precision, recall, f1, per_class, resolution}, "segment": {"tiou": [...],
        "ap": {label: {tiou: ap}}, "map": {tiou: mean AP over ground-truth classes}},
        "num_videos", "num_pred", "num_gt"}``. Threshold keys are strings like ``"0.5"``.
    """
    resolution = check_resolution(resolution)
    for t in tious:
        if isinstance(t, bool) or not 0 < float(t) <= 1:
            raise InputError(f"--tiou {t!r}: a temporal IoU threshold is in (0, 1]")
    preds = [preds] if isinstance(preds, dict) else list(preds)
    gts = [gts] if isinstance(gts, dict) else list(gts)
    preds = [normalize_document(d, "predictions") for d in preds]
    gts = [normalize_document(d, "ground truth") for d in gts]
    if len(preds) != len(gts):
        raise InputError(f"{len(preds)} prediction documents but {len(gts)} ground-truth ones")
    gt_labels = sorted({s["label"] for d in gts for s in d["segments"]})
    ap: dict[str, dict[str, float]] = {}
    for lab in gt_labels:
        p = [(v, s["start"], s["end"], s["score"]) for v, d in enumerate(preds)
             for s in d["segments"] if s["label"] == lab]
        g = [(v, s["start"], s["end"]) for v, d in enumerate(gts)
             for s in d["segments"] if s["label"] == lab]
        ap[lab] = {_key(t): segment_ap(p, g, t) for t in tious}
    mean_ap = {_key(t): (float(np.mean([ap[lab][_key(t)] for lab in gt_labels]))
                         if gt_labels else float("nan")) for t in tious}
    return {
        "num_videos": len(gts),
        "num_pred": sum(len(d["segments"]) for d in preds),
        "num_gt": sum(len(d["segments"]) for d in gts),
        "frame": frame_scores(preds, gts, resolution),
        "segment": {"tiou": [float(t) for t in tious], "ap": ap, "map": mean_ap},
    }


def _key(t: float) -> str:
    return f"{float(t):g}"


# --------------------------------------------------------------------------- events (onsets)

DEFAULT_TOLERANCE = 1.0  # seconds either side of an annotated onset


def match_onsets(pred: Sequence[float], gt: Sequence[float], tolerance: float
                 ) -> list[tuple[int, int]]:
    """Pairs ``(pred index, gt index)``: each annotation matched at most once, each detection
    at most once, closest pairs first, only where ``|pred - gt| <= tolerance``."""
    pairs = sorted((abs(p - g), i, j) for i, p in enumerate(pred) for j, g in enumerate(gt)
                   if abs(p - g) <= tolerance + 1e-9)
    used_p, used_g, out = set(), set(), []
    for _, i, j in pairs:
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            out.append((i, j))
    return sorted(out)


def _wanted(label: str, want: str | None) -> bool:
    return want is None or want.lower() in str(label).lower()


def event_scores(preds: Sequence[dict] | dict, gts: Sequence[dict] | dict,
                 tolerance: float = DEFAULT_TOLERANCE, label: str | None = None,
                 min_score: float = 0.0) -> dict[str, Any]:
    """Event-level scores: a detection is a hit when its onset lies within ``tolerance``
    seconds of an annotated onset (each annotation matched once).

    Args:
        preds: Prediction documents (``timeline.json``: its ``events``, else its segments),
            paired with ``gts`` by index.
        gts: Ground-truth documents; each segment's ``start`` is an annotated onset.
        tolerance: Seconds either side of an onset.
        label: Keep only events whose label contains this (case-insensitive; ``"fall"``
            takes the detector's ``fall`` and GMDCSA24's ``Falling``); ``None``: all.
        min_score: Ignore detections scoring below this.

    Returns:
        ``{"tolerance", "num_videos", "num_gt", "num_pred", "hits", "recall", "precision",
        "false_alarms", "false_alarms_per_clip", "false_alarms_per_hour", "hours",
        "median_onset_error_s", "median_abs_onset_error_s", "videos": [...]}``.
    """
    if isinstance(tolerance, bool) or not np.isfinite(tolerance) or tolerance < 0:
        raise InputError(f"--tolerance {tolerance!r}: give seconds >= 0")
    preds = [preds] if isinstance(preds, dict) else list(preds)
    gts = [gts] if isinstance(gts, dict) else list(gts)
    if len(preds) != len(gts):
        raise InputError(f"{len(preds)} prediction documents but {len(gts)} ground-truth ones")
    rows, errors, hours = [], [], 0.0
    hits = n_pred = n_gt = 0
    for pd_raw, gd_raw in zip(preds, gts, strict=True):
        pd = _event_doc(pd_raw, "predictions")
        gd = normalize_document(gd_raw, "ground truth")
        p = sorted(s["start"] for s in pd["segments"]
                   if _wanted(s["label"], label) and s["score"] >= min_score)
        g = sorted(s["start"] for s in gd["segments"] if _wanted(s["label"], label))
        m = match_onsets(p, g, tolerance)
        errs = [p[i] - g[j] for i, j in m]
        errors += errs
        hits, n_pred, n_gt = hits + len(m), n_pred + len(p), n_gt + len(g)
        dur = pd.get("duration") or gd.get("duration") or 0.0
        hours += dur / 3600
        rows.append({"video": gd.get("video") or pd.get("video"), "gt_onsets": g,
                     "pred_onsets": [round(x, 4) for x in p], "hits": len(m),
                     "false_alarms": len(p) - len(m), "missed": len(g) - len(m),
                     "onset_errors_s": [round(e, 4) for e in errs]})
    fa = n_pred - hits
    nan = float("nan")
    return {
        "tolerance": float(tolerance), "label": label, "num_videos": len(gts),
        "num_gt": n_gt, "num_pred": n_pred, "hits": hits,
        "recall": hits / n_gt if n_gt else nan,
        "precision": hits / n_pred if n_pred else nan,
        "false_alarms": fa,
        "false_alarms_per_clip": fa / len(gts) if gts else nan,
        "hours": hours,
        "false_alarms_per_hour": fa / hours if hours > 0 else nan,
        "median_onset_error_s": float(np.median(errors)) if errors else nan,
        "median_abs_onset_error_s": float(np.median(np.abs(errors))) if errors else nan,
        "videos": rows,
    }


def _event_doc(doc: Any, where: str) -> dict[str, Any]:
    """A prediction document's events as segments (``onset`` as ``start``); a document
    without ``events`` gives its segments."""
    if isinstance(doc, dict) and "probs" in doc and isinstance(doc.get("events"), list):
        doc = {**doc, "segments": [{**e, "start": e.get("onset", e.get("start"))}
                                   for e in doc["events"]]}
        doc.pop("events")
    return normalize_document(doc, where)


def load_gmdcsa24(path: str | Path) -> list[dict[str, Any]]:
    """Ground truth in GMDCSA24's layout: one document per video.

    ``path`` is the data set folder or its ``segments.csv`` (``path,label,...,start_s,end_s``:
    one row per labelled range, e.g. ``Falling`` from the onset to the clip's end) or its
    ``manifest.csv`` (``path,label,...,fall_start_s``: one row per video, ``fall`` or ``adl``,
    the onset empty for ADL). Both are read when the folder holds both: the manifest lists the
    videos (ADL ones with no fall included), the segments give the ranges. Video paths are
    relative to the CSV's folder.

    Returns:
        ``[{"video", "duration", "segments": [{"label", "start", "end"}]}]``.

    Raises:
        InputError: Missing files or columns, or a time that is not a number.
    """
    import csv

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    seg_csv = path if path.name == "segments.csv" else folder / "segments.csv"
    man_csv = path if path.name == "manifest.csv" else folder / "manifest.csv"
    if path.is_file() and path.name not in ("segments.csv", "manifest.csv"):
        seg_csv = path
    if not seg_csv.is_file() and not man_csv.is_file():
        raise InputError(f"{path}: no segments.csv or manifest.csv (GMDCSA24 layout) here")

    def rows(p: Path, need: set[str]) -> list[dict[str, str]]:
        with p.open(newline="", encoding="utf-8") as f:
            r = list(csv.DictReader(f))
        if r and not need <= set(r[0]):
            raise InputError(f"{p}: needs the columns {', '.join(sorted(need))}")
        return r

    def num(v: str, p: Path, i: int, col: str) -> float:
        try:
            return _number(float(v), f"{p}: row {i + 2}", col)
        except ValueError:
            raise InputError(f"{p}: row {i + 2}: {col} {v!r} is not a number") from None

    docs: dict[str, dict[str, Any]] = {}
    use_manifest = man_csv.is_file() and (path.is_dir() or path == man_csv)
    use_segments = seg_csv.is_file() and (path.is_dir() or path == seg_csv)
    if use_manifest:
        for i, r in enumerate(rows(man_csv, {"path", "label", "fall_start_s"})):
            d = docs.setdefault(r["path"], {"video": r["path"], "segments": []})
            if r.get("duration_s"):
                d["duration"] = num(r["duration_s"], man_csv, i, "duration_s")
            if r["fall_start_s"].strip() and not use_segments:
                t = num(r["fall_start_s"], man_csv, i, "fall_start_s")
                d["segments"].append({"label": "Falling", "start": t,
                                      "end": max(t, d.get("duration", t))})
    if use_segments:
        for i, r in enumerate(rows(seg_csv, {"path", "label", "start_s", "end_s"})):
            d = docs.setdefault(r["path"], {"video": r["path"], "segments": []})
            start = num(r["start_s"], seg_csv, i, "start_s")
            end = max(start, num(r["end_s"], seg_csv, i, "end_s"))
            d["segments"].append({"label": r["label"], "start": start, "end": end})
            if r.get("video_last_pts_s") and "duration" not in d:
                d["duration"] = num(r["video_last_pts_s"], seg_csv, i, "video_last_pts_s")
    return list(docs.values())


def pair_by_video(preds: Sequence[dict], gts: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """Predictions and ground truth paired by video: a prediction's ``video`` path ends with
    the annotation's relative one (or has its file name, when that is unique).

    Raises:
        InputError: An annotated video with no prediction.
    """
    out_p, out_g = [], []
    for g in gts:
        name = str(g.get("video") or "").replace("\\", "/")
        hit = [p for p in preds if str(p.get("video") or "").replace("\\", "/").endswith(name)]
        if not hit:
            stem = Path(name).name
            hit = [p for p in preds if Path(str(p.get("video") or "")).name == stem]
        if len(hit) != 1:
            raise InputError(f"{name}: {'no' if not hit else len(hit)} prediction documents "
                             "name this video (timeline.json's 'video')")
        out_p.append(hit[0])
        out_g.append(g)
    return out_p, out_g


def read_for_events(pred: str | Path, gt: str | Path) -> tuple[list[dict], list[dict]]:
    """Raw prediction and ground-truth documents for ``evaluate-timeline``, paired.

    ``pred``: a JSON file, or a folder whose ``**/timeline.json`` are read. ``gt``: a JSON
    file, or GMDCSA24's ``segments.csv`` / ``manifest.csv`` or their folder
    (:func:`load_gmdcsa24`). Two JSON files pair their documents in order; a folder or a CSV
    pairs them by video (:func:`pair_by_video`).
    """
    pred, gt = Path(pred), Path(gt)
    if pred.is_dir():
        files = sorted(pred.rglob("timeline.json"))
        if not files:
            raise InputError(f"{pred}: no timeline.json under this folder")
    else:
        files = [pred]
    raw_p = [d for f in files for d in _raw_docs(f)]
    if gt.is_dir() or gt.suffix.lower() == ".csv":
        raw_g = load_gmdcsa24(gt)
    else:
        raw_g = _raw_docs(gt)
    if (len(raw_p) == 1 and len(raw_g) == 1) or not (pred.is_dir() or gt.is_dir()
                                                       or gt.suffix.lower() == ".csv"):
        return raw_p, raw_g  # two JSON files: paired in order, as before
    return pair_by_video(raw_p, raw_g)


def _raw_docs(path: Path) -> list[dict]:
    load_segments(path)  # every check, with the file named
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, list) else [data]
