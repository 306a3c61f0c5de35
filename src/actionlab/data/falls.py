"""Fall / background training windows cut from clip-labelled fall videos (UP-Fall).

Fall data sets such as UP-Fall label clips, not times: a fall clip holds one fall somewhere
(standing -> falling -> lying), a daily-activity (ADL) clip none. A detector that says *when*
a person fell is trained on windows instead, labelled the multiple-instance way:

- in a fall clip, the window centred on the clip's burst of motion (the largest smoothed
  frame-difference energy in its first ``fall_search_s`` seconds) is ``fall``, and so are
  copies shifted by ``jitter_s``; the windows from ``after_s`` past that peak (lying still,
  getting up) are ``background``;
- every window of an ADL clip is ``background`` (at most ``adl_windows`` per clip, spread
  evenly over it).

The windows are written once as small H.264 files under ``out`` (a folder per class, the
source clip's group kept) and listed as a manifest, so ``prepare`` and ``train`` treat them as
any other data set. The adapter ``fall_windows`` reads UP-Fall's ``manifest.csv``
(``path,label,group,...,is_fall``); a CSV of your own with ``path,label,group,is_fall`` works
the same way.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from actionlab.data.adapters import adapter
from actionlab.data.manifest import Manifest, Record, make_key
from actionlab.errors import DatasetError
from actionlab.io import write_json_atomic

log = logging.getLogger(__name__)

FALL, BACKGROUND = "fall", "background"
DEFAULT_OUT = "data/fall_windows"
FALL_AFTER_ONSET_S = 0.5  # an annotated onset: the fall's motion is centred this much later


@dataclass(frozen=True)
class WindowSettings:
    """How windows are cut (seconds); the defaults are the shipped recipe's."""

    window_s: float = 2.0
    jitter_s: float = 0.25  # positives at peak - jitter, peak, peak + jitter
    fall_search_s: float = 4.5  # the fall lies in a fall clip's first seconds
    after_s: float = 2.0  # background windows start this long after the fall's peak
    adl_windows: int = 10
    width: int = 320  # windows are stored at this width (aspect kept)


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """Mean absolute grey-level difference to the previous frame, per frame (first = 0)."""
    g = frames.astype(np.float32).mean(-1)
    d = np.abs(np.diff(g, axis=0)).mean((1, 2))
    return np.concatenate([[0.0], d])


def fall_peak(frames: np.ndarray, fps: float, search_s: float) -> int:
    """The frame where a fall clip moves most (0.5 s moving average) in its first seconds."""
    e = motion_energy(frames)
    w = max(1, int(round(0.5 * fps)))
    smooth = np.convolve(e, np.ones(w) / w, mode="same")
    stop = max(1, min(len(smooth), int(round(search_s * fps))))
    return int(np.argmax(smooth[:stop]))


def probe_header(path: Path, n: int, times: list[float]) -> "_Rate":
    """The clip's mean frame rate from its timestamps (phone videos vary their rate)."""
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    return _Rate(fps=(len(times) - 1) / span if span > 0 else 18.0)


@dataclass(frozen=True)
class _Rate:
    fps: float


def _write(path: Path, frames: np.ndarray, fps: float) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.mp4")
    h, w = frames.shape[1:3]
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for f in frames:
            img = np.ascontiguousarray(f[: h - h % 2, : w - w % 2])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(path)


def clip_windows(frames: np.ndarray, fps: float, is_fall: bool, s: WindowSettings,
                 onset_s: float | None = None, times: np.ndarray | None = None,
                 ) -> list[tuple[str, int]]:
    """``(label, start frame)`` of the windows of one clip (see the module docstring).

    ``onset_s``, when the clip's fall onset is annotated (GMDCSA24's ``fall_start_s``), places
    the fall at ``onset_s + FALL_AFTER_ONSET_S`` instead of the motion burst, and windows that
    end before the onset are ``background`` too. ``times`` are the frames' timestamps.
    """
    n, win = len(frames), max(2, int(round(s.window_s * fps)))
    last = max(0, n - win)
    if not is_fall:
        count = min(s.adl_windows, max(1, n // win))
        return [(BACKGROUND, int(x)) for x in np.linspace(0, last, count).round()]
    out = []
    if onset_s is None:
        peak = fall_peak(frames, fps, s.fall_search_s)
    else:
        t = np.arange(n) / fps if times is None else np.asarray(times)
        peak = int(np.searchsorted(t, onset_s + FALL_AFTER_ONSET_S))
        first = int(np.searchsorted(t, onset_s))
        out += [(BACKGROUND, st) for st in range(0, first - win + 1, win)]
    for shift in (-s.jitter_s, 0.0, s.jitter_s):
        out.append((FALL, int(np.clip(peak + round(shift * fps) - win // 2, 0, last))))
    after = peak + int(round(s.after_s * fps))
    for start in range(after, n - win + 1, win):
        out.append((BACKGROUND, start))
    return out


def _rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    cols = set(rows[0]) if rows else set()
    if not rows or not {"path", "group"} <= cols or not cols & {"is_fall", "label"}:
        raise DatasetError(f"{csv_path}: needs the columns path, group and is_fall (or label)")
    return rows


def _is_fall(row: dict[str, str]) -> bool:
    if "is_fall" in row:
        return row["is_fall"].strip().lower() in ("1", "true", "fall", "yes")
    return "fall" in row["label"].strip().lower()


@adapter("fall_windows")
def fall_windows(root: str | Path, out: str | Path = DEFAULT_OUT, check_files: bool = True,
                 **settings: float) -> Manifest:
    """Windows ``fall`` / ``background`` from a clip-labelled fall data set (UP-Fall layout).

    Args:
        root: A folder with ``manifest.csv`` (``path,label,group,is_fall``; UP-Fall's), or
            that CSV.
        out: Where the windows are written (once per settings and source list; reused).
        check_files: Unused (every listed clip is read); kept for a uniform signature.
            Rows whose ``fold_leave_one_trial_out`` is ``extra`` (UP-Fall's other-person
            clip, kept for testing) are left out.
        **settings: :class:`WindowSettings` fields.

    Raises:
        DatasetError: No manifest, a missing column or file, or a clip that does not decode.
    """

    s = WindowSettings(**settings)
    sources = [Path(r.strip()) for r in str(root).split(",") if r.strip()]
    listed: list[tuple[Path, Path, dict[str, str]]] = []  # (csv, clip, row)
    for src_root in sources:
        csv_path = src_root if src_root.suffix == ".csv" else src_root / "manifest.csv"
        if not csv_path.is_file():
            raise DatasetError(f"{csv_path}: no manifest.csv (path,label,group,is_fall) here")
        listed += [(csv_path, (csv_path.parent / r["path"]).resolve(), r)
                   for r in _rows(csv_path) if r.get("fold_leave_one_trial_out") != "extra"]
    tag = hashlib.sha1(json.dumps(asdict(s), sort_keys=True).encode()).hexdigest()
    folder = Path(out) / tag[:10]
    found: list[dict] = []
    made = 0
    for csv_path, src, row in listed:
        listing = folder / "clips" / f"{make_key(str(src))}.json"
        if listing.is_file():
            found += json.loads(listing.read_text())
            continue
        found += _cut_clip(src, row, folder, s, csv_path)
        write_json_atomic(listing, [f for f in found if f["source"] == str(src)])
        made += 1
    if made:
        log.info("%s: windows cut from %d of %d clips", folder, made, len(listed))
    classes = [BACKGROUND, FALL]
    records = [Record(f["path"], classes.index(f["label"]), f["label"], "train",
                      key=make_key(f["path"]), group=f["group"]) for f in found]
    return Manifest(classes, records, "fall_windows", str(folder),
                    {"source": [str(x) for x in sources], "settings": asdict(s)})


def _cut_clip(src: Path, row: dict[str, str], folder: Path, s: WindowSettings, csv_path: Path
              ) -> list[dict]:
    """Cut and write one clip's windows; their listing entries."""
    import cv2

    from actionlab.data.video import read_frames
    from actionlab.errors import VideoError

    if not src.is_file():
        raise DatasetError(f"{src}: listed in {csv_path} but missing")
    times: list[float] = []
    try:
        frames = read_frames(src, times=times)
        info = probe_header(src, len(frames), times)
    except VideoError as exc:
        raise DatasetError(str(exc)) from None
    h, w = frames.shape[1:3]
    if w > s.width:
        size = (s.width, int(round(h * s.width / w)))
        frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
    fps = info.fps or 18.0
    win = max(2, int(round(s.window_s * fps)))
    onset = (row.get("fall_start_s") or "").strip()
    stem = make_key(str(src))
    out = []
    cut = clip_windows(frames, fps, _is_fall(row), s, float(onset) if onset else None, times)
    for i, (label, start) in enumerate(cut):
        rel = f"{label}/{stem}_w{i:02d}.mp4"
        _write(folder / rel, frames[start : start + win], fps)
        out.append({"path": rel, "label": label, "group": row["group"], "source": str(src),
                    "start_s": round(start / fps, 3)})
    return out
