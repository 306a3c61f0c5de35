"""The slip-detector study (study 001, issue 6) on the synthetic long videos.

A binary slipping / not-slipping detector is trained on short windows cut from some long
videos and then labels the other, held-out long videos over time, as the study's final script
did on phone videos; its segments are scored against the annotations:

1. ``long videos``: the data folder's ``long/`` (plus extra ones synthesised here when it holds
   fewer than :attr:`SlipSettings.long_videos`); every ``test_every``-th video is held out;
2. ``windows``: fixed-length windows cut from the training videos into a folder-per-class tree
   (``windows/slipping``, ``windows/not_slipping``) as H.264 files; a window is ``slipping``
   when at least ``pos_overlap`` of its frames lie inside an annotated slip, ``not_slipping``
   when at most ``neg_overlap`` do (windows in between are left out), negatives sampled to
   balance the positives of each video;
3. ``prepare`` (RGB + DIS flow) and ``train`` the shipped config
   ``twostream_avg_adam_slip-rgbflow-synth`` set to these settings (:func:`detector_config`);
4. ``timeline`` on every held-out video (JSON and plot each, annotated MP4 for the first)
   into the run's ``timeline/`` folder, where ``actionlab report`` finds them;
5. ``evaluate_timeline``: frame P/R/F1 and segment AP at tIoU 0.3/0.5/0.7, beside two trivial
   detectors (always slipping, never slipping) -> ``slip_results.md`` and ``slip_results.json``.

Every stage reuses what an earlier call with the same settings left in ``out``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.config import ExperimentConfig, load_config, rebuild
from actionlab.config.files import merge
from actionlab.errors import InputError
from actionlab.io import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

CONFIG = "twostream_avg_adam_slip-rgbflow-synth.yaml"
LABEL = "slipping"
CLASSES = ("not_slipping", LABEL)
EXTRA_SEED = 1000  # extra long videos must differ from the data folder's (same seed, same video)


@dataclass
class SlipSettings:
    """Sizes and choices of the study; :meth:`quick` shrinks everything for a smoke run."""

    long_videos: int = 12  # long videos in all; extra ones are synthesised when data has fewer
    extra_duration: tuple[float, float] = (20.0, 30.0)  # seconds, of each extra video
    difficulty: str = "easy"  # of the extra videos; the demo's data folder uses the same
    test_every: int = 3  # videos 2, 5, 8, ... (0-based) are held out
    window: float = 1.28  # seconds per window (32 frames at 25 fps: the flow stack's span)
    window_step: float = 0.16  # seconds between candidate window starts
    pos_overlap: float = 0.5  # share of a window inside a slip that makes it a positive
    neg_overlap: float = 0.0  # at most this share inside a slip for a negative
    neg_ratio: float = 1.0  # negatives per positive, per video
    near: float = 3.0  # seconds: negatives this close to a slip are "near" ones
    near_share: float = 0.5  # share of the negatives drawn from near ones
    crf: int = 12  # x264 quality of the cut windows (near-lossless, the source is already H.264)
    size: int = 64  # working side of frames and flow
    width: float = 0.5  # channel multiplier of both streams
    flow_frames: int = 8
    flow_stride: int = 4
    flow_bound: float = 4.0
    epochs: int = 8
    lr: float = 1e-3
    # bf16 autocast + channels-last: faster, same scores (docs/inference.md), where the CPU
    # probe measures them faster (None: that probe, train/precision.py; true/false force it)
    bf16: bool | None = None
    batch_size: int = 16
    val_fraction: float = 0.15
    config: str = CONFIG  # a shipped experiment config's name, or a path
    overrides: tuple[str, ...] = ()  # more `a.b=c` config overrides for training, applied last
    step: float = 0.32  # timeline: seconds between windows
    threshold: float = 0.5  # timeline: slip probability that starts a segment
    smooth: float = 0.96  # timeline: moving average over this many seconds
    min_duration: float = 0.5
    merge_gap: float = 0.64
    annotate: int = 1  # held-out videos that get an annotated MP4
    seed: int = 0
    workers: int = 2  # processes for synthesis and preparation
    threads: int = 1  # torch and onnxruntime threads (see run_slip_study)

    @classmethod
    def quick(cls) -> SlipSettings:
        """Tiny sizes: 3 short videos, small frames, one epoch (a smoke run in seconds)."""
        return cls(long_videos=3, extra_duration=(10.0, 10.0), window=0.64, window_step=0.32,
                   size=32, width=0.25, flow_frames=4, epochs=1, val_fraction=0.0, step=0.32)


@dataclass(frozen=True)
class Window:
    """One window cut from a long video: ``length`` frames from ``start``."""

    video: str  # the long video's stem, e.g. long_003
    start: int
    length: int
    label: str
    overlap: float  # share of its frames inside a slip

    @property
    def file(self) -> str:
        return f"{self.label}/{self.video}_s{self.start:05d}_n{self.length}.mp4"


@dataclass
class SlipStudyResult:
    out: Path
    run: Path | None = None
    train_videos: list[str] = field(default_factory=list)
    test_videos: list[str] = field(default_factory=list)
    windows: dict[str, int] = field(default_factory=dict)  # windows per class
    metrics: dict[str, Any] = field(default_factory=dict)  # evaluate_timeline of the detector
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # always / never
    timelines: dict[str, dict[str, Path]] = field(default_factory=dict)  # video -> json/plot/video
    speed: float = 0.0  # seconds of video labelled per second of wall time
    speed_with_outputs: float = 0.0  # the same, writing JSON, plot (and MP4) included
    markdown: str = ""
    stages: dict[str, float] = field(default_factory=dict)  # wall seconds per stage
    seconds: float = 0.0


# --------------------------------------------------------------------------- videos


def long_videos(data: Path, out: Path, s: SlipSettings) -> list[Path]:
    """The long videos' JSON annotations: ``data/long`` first, then extra synthesised ones.

    Extra videos (``s.long_videos`` minus what ``data/long`` holds) go to ``out/synth/long``,
    drawn with seed ``s.seed + EXTRA_SEED`` so they are not copies of the data folder's.
    """
    from actionlab.synth.api import generate_long_videos

    have = sorted((Path(data) / "long").glob("long_*.json"))
    need = s.long_videos - len(have)
    extra: list[Path] = []
    if need > 0:
        folder = Path(out) / "synth"
        extra = sorted((folder / "long").glob("long_*.json"))
        if len(extra) != need:
            log.info("slip study: synthesising %d more long videos in %s", need, folder)
            generate_long_videos(folder, long_videos=need, duration=s.extra_duration,
                                 difficulty=s.difficulty, seed=s.seed + EXTRA_SEED,
                                 workers=s.workers, overwrite=True,
                                 progress=False)
            extra = sorted((folder / "long").glob("long_*.json"))
    videos = have[: s.long_videos] + extra
    if len(videos) < 2:
        raise InputError(f"{data}/long: the slip study needs at least 2 long videos "
                         f"(`actionlab synth {data} --only long`)")
    return videos


def split_videos(videos: list[Path], test_every: int) -> tuple[list[Path], list[Path]]:
    """Every ``test_every``-th video (indices test_every-1, 2*test_every-1, ...) is held out."""
    test = [v for i, v in enumerate(videos) if i % test_every == test_every - 1]
    train = [v for v in videos if v not in test]
    if not test or not train:
        raise InputError(f"{len(videos)} long videos cannot be split with test_every="
                         f"{test_every}; give at least {test_every} videos")
    return train, test


def read_annotation(path: Path, name: str | None = None) -> dict[str, Any]:
    """A long video's JSON with only its slip events kept (the ground truth of this study).

    ``name`` (default: the file's stem) names the video's windows and timeline folder.
    """
    doc = json.loads(Path(path).read_text())
    events = [e for e in doc["events"] if e["label"] == LABEL]
    return {"video": str(Path(path).with_suffix(".mp4")), "name": name or Path(path).stem,
            "fps": float(doc["fps"]),
            "frames": int(doc["frames"]), "duration": float(doc["duration"]), "events": events}


# --------------------------------------------------------------------------- windows


def overlap_share(start: int, length: int, fps: float, events: list[dict]) -> float:
    """Share of the frames ``start .. start+length-1`` whose centre lies inside an event."""
    t = (np.arange(start, start + length) + 0.5) / fps
    inside = np.zeros(length, bool)
    for e in events:
        inside |= (t >= e["start"]) & (t < e["end"])
    return float(inside.mean())


def plan_windows(ann: dict[str, Any], s: SlipSettings) -> list[Window]:
    """The windows cut from one video: every positive, and as many sampled negatives.

    Candidates start every ``s.window_step`` seconds; the negatives are drawn without
    replacement by a generator seeded with the settings' seed and the video's name.
    """
    fps, n = ann["fps"], ann["frames"]
    length = max(2, int(round(s.window * fps)))
    step = max(1, int(round(s.window_step * fps)))
    stem = ann["name"]
    pos, neg = [], []
    for start in range(0, n - length + 1, step):
        share = overlap_share(start, length, fps, ann["events"])
        if share >= s.pos_overlap:
            pos.append(Window(stem, start, length, LABEL, share))
        elif share <= s.neg_overlap:
            neg.append(Window(stem, start, length, "not_slipping", share))
    rng = np.random.default_rng([s.seed, zlib.crc32(stem.encode())])
    k = min(len(neg), int(round(len(pos) * s.neg_ratio)) if pos else 1)
    # the background during a slip looks like the background just before and after it, so
    # windows there teach the pose, not the scene; the rest come from anywhere in the video
    near = [i for i, w in enumerate(neg) if _gap(w, fps, ann["events"]) <= s.near]
    far = [i for i in range(len(neg)) if i not in set(near)]
    k_near = min(len(near), int(round(k * s.near_share)))
    keep = _draw(rng, near, k_near) + _draw(rng, far, min(len(far), k - k_near))
    keep += _draw(rng, [i for i in near if i not in set(keep)], k - len(keep))
    return pos + [neg[i] for i in sorted(keep)]


def _gap(w: Window, fps: float, events: list[dict]) -> float:
    """Seconds between a window and the nearest event (0 when they overlap)."""
    a, b = w.start / fps, (w.start + w.length) / fps
    return min((max(e["start"] - b, a - e["end"], 0.0) for e in events), default=np.inf)


def _draw(rng: np.random.Generator, items: list[int], k: int) -> list[int]:
    return rng.choice(items, size=k, replace=False).tolist() if k > 0 else []


def cut_windows(anns: list[dict[str, Any]], root: Path, s: SlipSettings) -> list[Window]:
    """Write every planned window of ``anns`` under ``root`` (``root/<label>/<name>.mp4``).

    Each video is decoded once, and only when one of its windows is missing; files are written
    atomically, so an interrupted call leaves whole windows, and a second call writes nothing.
    Window files of another plan are removed.
    """
    from actionlab.data.video import read_video
    from actionlab.synth.video_writer import write_video

    plan = [w for ann in anns for w in plan_windows(ann, s)]
    wanted = {w.file for w in plan}
    for label in CLASSES:  # windows of an earlier plan would join the training set
        for old in (root / label).glob("*.mp4"):
            if f"{label}/{old.name}" not in wanted:
                old.unlink()
    for ann in anns:
        todo = [w for w in plan if w.video == ann["name"] and not (root / w.file).is_file()]
        if not todo:
            continue
        frames, _ = read_video(ann["video"], threads=1)
        for w in todo:
            write_video(root / w.file, frames[w.start : w.start + w.length], ann["fps"], crf=s.crf,
                        preset="ultrafast")
    write_json_atomic(root / "windows.json", [asdict(w) for w in plan])
    return plan


# --------------------------------------------------------------------------- training


def _stamp(s: SlipSettings, *keys: str) -> dict[str, Any]:
    d = asdict(s)
    return {k: d[k] for k in keys}


TRAIN_KEYS = ("size", "width", "flow_frames", "flow_stride", "flow_bound", "epochs", "lr",
              "bf16", "batch_size", "val_fraction", "config", "overrides", "seed")


def prepare_windows(root: Path, cache: Path, s: SlipSettings) -> None:
    """RGB + DIS flow of every window into ``cache`` (a cache of other settings is replaced)."""
    from actionlab.data.adapters import load_manifest
    from actionlab.data.prepare import PrepareConfig, prepare

    cfg = PrepareConfig(size=(s.size, s.size), inputs=("rgb", "flow"), flow_method="dis",
                        flow_bound=s.flow_bound, compression="raw")  # as its figures were made
    old = cache / "prepare.json"
    if old.is_file() and json.loads(old.read_text()).get("config") != cfg.to_dict():
        shutil.rmtree(cache)
    result = prepare(load_manifest("folder", root), cache, cfg, workers=s.workers, progress=False)
    if result.skipped:
        log.warning("slip study: %d windows skipped while preparing", len(result.skipped))


def detector_config(s: SlipSettings, root: Path, cache: Path) -> ExperimentConfig:
    """``s.config`` set to the study's sizes, on the windows in ``root`` prepared in ``cache``.

    A two-stream config gets the flow stack's length and stride and both streams' width; any
    other (e.g. a TSN config) the width of its ``backbone_kwargs``.
    """
    cfg = load_config(s.config)
    cfg.data = replace(cfg.data, root=str(root), cache_dir=str(cache), size=[s.size, s.size],
                       flow_bound=s.flow_bound, batch_size=s.batch_size,
                       val_fraction=s.val_fraction)
    if cfg.model.name == "two_stream":
        cfg.data = replace(cfg.data, frames=s.flow_frames, stride=s.flow_stride)
        width = {"rgb": {"width": s.width}, "flow": {"width": s.width}}
    else:
        width = {"backbone_kwargs": {"width": s.width}}
    cfg.model.kwargs = merge(cfg.model.kwargs, width)
    cfg.optim = replace(cfg.optim, lr=s.lr)
    cfg.train = replace(cfg.train, epochs=s.epochs, seed=s.seed)
    return cfg


def train_detector(root: Path, cache: Path, runs: Path, s: SlipSettings, plan_digest: str) -> Path:
    """Train the two-stream detector (or reuse the run an earlier call left for these windows)."""
    from actionlab.evaluate.runs import find_checkpoint
    from actionlab.train.run import fast_cpu_overrides, train

    run = runs / "slip"
    # through JSON, so it compares equal to the stamp read back (tuples become lists)
    stamp = json.loads(json.dumps({**_stamp(s, *TRAIN_KEYS), "windows": plan_digest}))
    done = run / "slip_stamp.json"
    if (find_checkpoint(run) is not None and done.is_file()
            and json.loads(done.read_text()) == stamp):
        log.info("slip study: reusing the trained detector in %s", run)
        return run
    if run.exists():  # other settings or an unfinished attempt: train again cleanly
        shutil.rmtree(run)
    cfg = detector_config(s, root, cache)
    cfg.train = replace(cfg.train, out_dir=str(runs), run_name="slip", progress=False)
    run = train(rebuild(cfg, [*fast_cpu_overrides(s.bf16), *s.overrides], "slip study"))
    write_json_atomic(done, stamp)
    return run


# --------------------------------------------------------------------------- timeline and scores


def label_videos(run: Path, anns: list[dict[str, Any]], out: Path,
                 s: SlipSettings) -> tuple[list[dict], dict[str, dict[str, Path]], float, float]:
    """``run_timeline`` on each video: prediction documents, output paths, and speeds.

    Returns:
        ``(docs, paths, speed, speed_with_outputs)``; speeds are seconds of video per second
        of wall time, the first for decoding through segments, the second with the JSON, plot
        and annotated MP4 written too. Loading the model (and its ONNX export) is not counted.
    """
    from actionlab.api import load
    from actionlab.infer.outputs import save_timeline
    from actionlab.infer.timeline import run_timeline

    # best on validation, or last when the quick settings hold out no validation windows
    runner = load(run, fast=True, threads=s.threads).runner
    kw = {"threshold": s.threshold, "smooth": s.smooth, "min_duration": s.min_duration,
          "merge_gap": s.merge_gap, "background": "not_slipping"}
    window = max(2, int(round(s.window * anns[0]["fps"])))
    docs, paths, video_s, label_s, total_s = [], {}, 0.0, 0.0, 0.0
    for i, ann in enumerate(anns):
        annotate = i < s.annotate
        t0 = time.perf_counter()
        tl, decoded = run_timeline(runner, ann["video"], window=window, step=f"{s.step}s",
                                   segment_kw=kw, keep_native=annotate)
        t1 = time.perf_counter()
        paths[ann["name"]] = save_timeline(tl, out / ann["name"], frames=decoded.native,
                                           video=annotate)
        t2 = time.perf_counter()
        docs.append(tl.to_dict())
        video_s += tl.duration
        label_s += t1 - t0
        total_s += t2 - t0
    return docs, paths, video_s / label_s, video_s / total_s


def trivial(anns: list[dict[str, Any]], always: bool) -> list[dict[str, Any]]:
    """Prediction documents of a detector that says ``slipping`` everywhere, or nowhere."""
    return [{"video": a["video"], "fps": a["fps"], "duration": a["duration"],
             "segments": [{"label": LABEL, "start": 0.0, "end": a["duration"], "score": 1.0}]
             if always else []} for a in anns]


def summary_row(name: str, m: dict[str, Any]) -> list[str]:
    f, ap = m["frame"], m["segment"]["map"]
    return [name, f"{f['precision']:.3f}", f"{f['recall']:.3f}", f"{f['f1']:.3f}",
            *(f"{ap[k]:.3f}" for k in ("0.3", "0.5", "0.7"))]


def results_markdown(res: SlipStudyResult) -> str:
    """The results table (detector and trivial baselines) with a line on data, time and speed."""
    from actionlab.evaluate.runs import markdown_table

    header = ["Detector", "Frame precision", "Frame recall", "Frame F1", "AP@0.3", "AP@0.5",
              "AP@0.7"]
    rows = [summary_row("two-stream slip detector", res.metrics)]
    rows += [summary_row(f"trivial: {k} slipping", m) for k, m in res.baselines.items()]
    m = res.metrics
    lines = [
        markdown_table(header, rows),
        f"Held-out videos: {', '.join(res.test_videos)} ({m['num_gt']} slips, "
        f"{m['num_pred']} predicted segments); trained on {len(res.train_videos)} videos, "
        f"{res.windows.get(LABEL, 0)} slipping / {res.windows.get('not_slipping', 0)} "
        f"not-slipping windows.",
        f"Timeline speed: {res.speed:.1f}x real time ({res.speed_with_outputs:.1f}x with JSON, "
        f"plot and annotated MP4 written); study wall time {res.seconds:.0f} s.",
    ]
    return "\n\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the study


def run_slip_study(data: Path, out: Path, settings: SlipSettings | None = None) -> SlipStudyResult:
    """Train a slipping detector on some long videos and score its timeline on the others.

    Args:
        data: A synthetic benchmark folder holding ``long/`` (``actionlab synth``).
        out: Where everything goes: ``windows/``, ``cache/``, ``runs/slip`` (with its
            ``timeline/``), ``synth/`` (extra long videos), ``slip_results.md`` and
            ``slip_results.json``.
        settings: :class:`SlipSettings` (defaults: the demo's sizes; time in docs/inference.md).

    Returns:
        A :class:`SlipStudyResult`.
    """
    import torch

    s = settings or SlipSettings()
    threads = torch.get_num_threads()
    # One thread: on a shared 2-core machine two spinning OpenMP threads ran far slower than
    # one whenever other jobs held a core (docs/inference.md).
    torch.set_num_threads(s.threads)
    try:
        return _study(Path(data), Path(out), s)
    finally:
        torch.set_num_threads(threads)


def _study(data: Path, out: Path, s: SlipSettings) -> SlipStudyResult:
    t_start = time.perf_counter()
    res = SlipStudyResult(out)
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        res.stages[name] = round(now - clock[0], 2)
        clock[0] = now

    train_json, test_json = split_videos(long_videos(data, out, s), s.test_every)
    extra = (out / "synth").resolve()

    def name(p: Path) -> str:  # extra videos reuse the data folder's file names
        return f"extra_{p.stem}" if p.resolve().parent.parent == extra else p.stem

    train_anns = [read_annotation(p, name(p)) for p in train_json]
    test_anns = [read_annotation(p, name(p)) for p in test_json]
    res.train_videos = [a["name"] for a in train_anns]
    res.test_videos = [a["name"] for a in test_anns]
    lap("synth")

    root = out / "windows"
    plan = cut_windows(train_anns, root, s)
    for label in CLASSES:
        res.windows[label] = sum(w.label == label for w in plan)
    if not res.windows[LABEL]:
        raise InputError(f"{data}/long: no slip in the training videos")
    lap("windows")
    prepare_windows(root, out / "cache", s)
    lap("prepare")
    digest = f"{zlib.crc32(json.dumps([asdict(w) for w in plan]).encode()):08x}"
    res.run = train_detector(root, out / "cache", out / "runs", s, digest)
    lap("train")

    docs, res.timelines, res.speed, res.speed_with_outputs = label_videos(
        res.run, test_anns, res.run / "timeline", s)
    lap("timeline")
    from actionlab.evaluate.timeline import evaluate_timeline

    res.metrics = evaluate_timeline(docs, test_anns)
    res.baselines = {k: evaluate_timeline(trivial(test_anns, k == "always"), test_anns)
                     for k in ("always", "never")}
    res.seconds = time.perf_counter() - t_start
    res.markdown = results_markdown(res)
    write_text_atomic(out / "slip_results.md", "# Slip-detector study\n\n" + res.markdown)
    write_json_atomic(out / "slip_results.json", {
        "run": str(res.run), "train_videos": res.train_videos, "test_videos": res.test_videos,
        "windows": res.windows, "metrics": res.metrics, "baselines": res.baselines,
        "timelines": {k: {n: str(p) for n, p in v.items()} for k, v in res.timelines.items()},
        "speed": res.speed, "speed_with_outputs": res.speed_with_outputs,
        "stages": res.stages, "seconds": res.seconds, "settings": asdict(s)})
    return res
