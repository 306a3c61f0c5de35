"""``actionlab demo``: the study, end to end, on the built-in synthetic benchmark.

The chain follows the Stanford40 -> HMDB51 study (``../shared/study/000_*``), each step a
shipped experiment config (its ``-synth`` twin) set to the demo's sizes in code and run by the
one trainer:

1. ``synth``: clips (UCF101 layout), stills (Stanford40 layout) and long videos;
2. ``prepare``: one cache of frames + DIS flow for the clips, one of frames for the stills;
3. stills pretraining of the compact ResNet-like model, and the cyclical-LR variant;
4. middle-frame fine-tuning of that model on the clips (last layers only);
5. the compact (2+1)D network on optical-flow stacks;
6. two-stream fusion of 4. and 5.: average, max, min, concatenation, 1x1-conv mid fusion;
7. evaluation of every run on the test split, the results table, the fusion table, the
   motion-only pairs table (how often each pair is confused, per stream);
8. Grad-CAM, activation maps, guided backprop and t-SNE of the frame and flow models on one
   test clip per class;
9. the slip-detector study (:mod:`actionlab.studies.slip`): a binary two-stream detector trained
   on windows of some long videos labels the held-out ones over time, scored with frame
   P/R/F1 and segment AP;
10. one HTML report with everything.

Demo sizes (64x64 frames, width-0.5 models, a few epochs) are chosen to finish in minutes on
2 CPU cores; the real-data configs (``actionlab.config.CONFIGS``) use the study's sizes.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import typer

from actionlab.config import ExperimentConfig, load_config, rebuild
from actionlab.config.files import merge
from actionlab.io import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)


@dataclass
class DemoSettings:
    """Sizes of the demo; ``quick`` shrinks everything for a smoke run."""

    # 48 clips (36 train, 12 test) per class: with 32 the flow stream was much weaker and the
    # motion pairs' figures rested on 8 test clips a class (docs/training.md has the figures)
    clips_per_class: int = 48
    stills_per_class: int = 100  # single frames train fast; the frame stream needs them
    long_videos: int = 6
    difficulty: str = "easy"  # medium's camera shake and pan swamp 64x64 flow (docs/training.md)
    size: int = 64  # working side of frames and flow
    width: float = 0.5  # channel multiplier of both compact models
    # 32 flow frames, every 2nd: the stack spans the whole 64-frame clip (the slow rhythm of
    # drinking/smoking) and samples fast motion without aliasing; 16 frames every 4th would be
    # faster but clearly less accurate (docs/training.md has the figures)
    flow_frames: int = 32
    flow_stride: int = 2
    flow_bound: float = 4.0  # px; sub-pixel motion at 64x64 needs a tight quantisation bound
    # the frame model at 64x64: a 4x4 head grid (the study's 17x17 is the identity at 72x72 and
    # gives 74k inputs per class here, which made Adam's first epoch diverge), light dropout and
    # whole-frame resizing instead of TSN multi-scale crops (docs/training.md)
    frame_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"head_grid": 4, "drop_rate": 0.2})
    frame_crop: str = "resize"
    stills_epochs: int = 15
    frame_epochs: int = 10
    flow_epochs: int = 20
    # the flow and fusion runs: bf16 autocast + channels-last where the CPU probe measures them
    # faster (docs/models.md; None: that probe, true/false force it)
    bf16: bool | None = None
    fusion_epochs: int = 4
    fusions: tuple[str, ...] = ("average", "max", "min", "concat", "mid")
    slip: bool = True  # run the slip-detector study (docs/inference.md)
    # the clip cache: raw, as the published tables were made; jpeg (the prepare default) gives
    # the tables of README's JPEG comparison
    compression: str = "raw"
    seed: int = 0
    workers: int = 2

    @classmethod
    def quick(cls) -> "DemoSettings":
        return cls(clips_per_class=4, stills_per_class=6, long_videos=2, size=32, width=0.25,
                   stills_epochs=1, frame_epochs=1, flow_epochs=1, fusion_epochs=1,
                   fusions=("average", "concat"))


@dataclass
class DemoResult:
    out: Path
    runs: dict[str, Path] = field(default_factory=dict)
    results_md: str = ""
    fusion_md: str = ""
    pairs_md: str = ""
    slip_md: str = ""
    report: Path | None = None
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # wall seconds per stage

    def stage_table(self) -> str:
        """Where the time went, a markdown table (the share of the whole run per stage)."""
        total = self.seconds or sum(self.stages.values()) or 1.0
        rows = [[k, f"{v:.1f}", f"{100 * v / total:.0f}%"] for k, v in self.stages.items()]
        from actionlab.evaluate.runs import markdown_table

        return markdown_table(["Stage", "Wall s", "Share"], [*rows, ["total", f"{total:.1f}",
                                                                     "100%"]])


class _Clock:
    """Times the demo's stages into ``DemoResult.stages``."""

    def __init__(self, res: DemoResult) -> None:
        self.res, self.mark = res, time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.res.stages[stage] = self.res.stages.get(stage, 0.0) + now - self.mark
        self.mark = now


def _train(cfg: ExperimentConfig, out: Path, name: str, overrides: Sequence[str] = ()) -> Path:
    """Train ``cfg`` as ``out/runs/name`` (a finished run of that name is reused).

    ``overrides``: what :func:`actionlab.train.run.fast_cpu_overrides` gives (bf16 auto for the
    3D runs, float32 for the frame runs).
    """
    from actionlab.train.run import train

    run_dir = out / "runs" / name
    if (run_dir / "best.safetensors").is_file() and (run_dir / "eval.json").is_file():
        log.info("demo: %s already trained, reusing %s", name, run_dir)
        return run_dir
    if run_dir.exists():  # an unfinished earlier attempt: start it again cleanly
        shutil.rmtree(run_dir)
    cfg.train = replace(cfg.train, out_dir=str(out / "runs"), run_name=name)
    return train(rebuild(cfg, overrides, f"demo run {name}"))


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo's data and caches are: each run's config points at them."""

    data: Path  # the synthetic benchmark (clips/, stills/, long/)
    cache: Path  # the prepared caches (clips/, stills/)


def stills_config(s: DemoSettings, p: DemoPaths, clr: bool = False) -> ExperimentConfig:
    """Stills pretraining of the compact ResNet-like model (Adam, or the cyclical-LR variant)."""
    name = "resnetlike_frame_clr2e_stanford40-rgb-synth" if clr else \
        "resnetlike_frame_adam2e_stanford40-rgb-synth"
    cfg = _frame_model(load_config(name), s)
    cfg.data = replace(cfg.data, root=str(p.data / "stills"), cache_dir=str(p.cache / "stills"),
                       size=[s.size, s.size], batch_size=16)
    cfg.train = replace(cfg.train, seed=s.seed, epochs=s.stills_epochs)
    if clr:
        cfg.schedule = replace(cfg.schedule, max_lr=3e-3)
    else:
        cfg.optim = replace(cfg.optim, lr=1e-3)
    return cfg


def frame_config(s: DemoSettings, p: DemoPaths, stills: Path) -> ExperimentConfig:
    """Middle-frame fine-tuning of the stills run ``stills`` on the clips (last layers only)."""
    cfg = _frame_model(_clips(load_config("resnetlike_midframe_adam_hmdb12-rgb-synth"), s, p), s)
    cfg.data.params = merge(cfg.data.params, {"sample": "random"})
    cfg.model.init = replace(cfg.model.init, path=str(stills))
    cfg.optim = replace(cfg.optim, lr=1e-4)
    cfg.train = replace(cfg.train, epochs=s.frame_epochs)
    return cfg


def flow_config(s: DemoSettings, p: DemoPaths) -> ExperimentConfig:
    """The compact (2+1)D network on optical-flow stacks."""
    cfg = _flow_shape(_clips(load_config("r2plus1d_flow8_adam_hmdb12-flow-synth"), s, p), s)
    cfg.model.kwargs = merge(cfg.model.kwargs, {"width": s.width})
    cfg.train = replace(cfg.train, epochs=s.flow_epochs)
    return cfg


def fusion_config(s: DemoSettings, p: DemoPaths, fusion: str, frame: Path,
                  flow: Path) -> ExperimentConfig:
    """Two-stream ``fusion`` of the frame run ``frame`` and the flow run ``flow``."""
    cfg = _flow_shape(_clips(load_config("twostream_avg_adam_hmdb12-rgbflow-synth"), s, p), s)
    cfg.model.kwargs = merge(cfg.model.kwargs, {
        "fusion": fusion, "rgb": {"width": s.width, **s.frame_kwargs}, "flow": {"width": s.width}})
    cfg.model.init = replace(cfg.model.init, streams={"rgb": str(frame), "flow": str(flow)})
    cfg.train = replace(cfg.train, epochs=s.fusion_epochs)
    return cfg


def _clips(cfg: ExperimentConfig, s: DemoSettings, p: DemoPaths) -> ExperimentConfig:
    cfg.data = replace(cfg.data, root=str(p.data / "clips"), cache_dir=str(p.cache / "clips"),
                       size=[s.size, s.size], batch_size=16, flow_bound=s.flow_bound,
                       flow_method="dis")
    cfg.train = replace(cfg.train, seed=s.seed)
    return cfg


def _frame_model(cfg: ExperimentConfig, s: DemoSettings) -> ExperimentConfig:
    cfg.model.kwargs = merge(cfg.model.kwargs, {"width": s.width, **s.frame_kwargs})
    cfg.data.params = merge(cfg.data.params, {"transform_kw": {"crop": s.frame_crop}})
    return cfg


def _flow_shape(cfg: ExperimentConfig, s: DemoSettings) -> ExperimentConfig:
    cfg.data = replace(cfg.data, frames=s.flow_frames, stride=s.flow_stride)
    return cfg


def _prepare(dataset: str, root: Path, cache: Path, s: DemoSettings, inputs: tuple[str, ...],
             val_fraction: float) -> None:
    from actionlab.data.adapters import load_manifest
    from actionlab.data.prepare import PrepareConfig, prepare

    manifest = load_manifest(dataset, root, val_fraction=val_fraction, seed=s.seed)
    cfg = PrepareConfig(size=(s.size, s.size), inputs=inputs, flow_method="dis",
                        flow_bound=s.flow_bound, compression=s.compression)
    result = prepare(manifest, cache, cfg, workers=s.workers)
    if result.skipped:
        log.warning("demo: %d videos skipped while preparing %s", len(result.skipped), root)


def pair_confusion(eval_doc: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, float]:
    """For each motion-only pair, the within-pair error: of the pair's test clips that the model
    gives to either class of the pair, the share given to the wrong one.

    Counting only those clips keeps the figure about telling *the two* apart: a weak model that
    scatters a pair's clips over other classes would otherwise look as if it separated them.

    Args:
        eval_doc: An ``eval.json`` document (``classes`` and ``confusion``).
        pairs: Class-name pairs.

    Returns:
        ``{"a/b": rate}``: 0 means the model never mixes the two up; about 0.5 means it cannot
        tell them apart (NaN when no clip of the pair went to either class).
    """
    classes = list(eval_doc["classes"])
    cm = np.asarray(eval_doc["metrics"]["confusion"] if "metrics" in eval_doc
                    else eval_doc["confusion"], dtype=float)
    out = {}
    for a, b in pairs:
        i, j = classes.index(a), classes.index(b)
        total = cm[i, i] + cm[i, j] + cm[j, i] + cm[j, j]
        out[f"{a}/{b}"] = float((cm[i, j] + cm[j, i]) / total) if total else float("nan")
    return out


def _eval(run: Path) -> dict[str, Any]:
    from actionlab.evaluate.run_eval import evaluate_checkpoint

    doc, _ = evaluate_checkpoint(run / "best.safetensors", split="test")
    return doc


def _explain(runs: dict[str, Path], data: Path, seed: int) -> None:
    """Grad-CAM & co. of the frame and flow models on one test clip per class (t-SNE of all)."""
    from actionlab.data.adapters import load_manifest
    from actionlab.explain.commands import explain_videos

    manifest = load_manifest("ucf101", data / "clips", seed=seed)
    first: dict[str, Path] = {}
    for r in manifest.records:
        if r.split == "test":
            first.setdefault(r.label_name, manifest.abspath(r))
    videos = [first[c] for c in sorted(first)]
    for name in ("frame", "flow"):
        if not (runs[name] / "explain" / "tsne.png").is_file():
            explain_videos(runs[name] / "best.safetensors", videos, runs[name] / "explain",
                           color_by="folder")


def run_demo(out: Path, settings: DemoSettings | None = None) -> DemoResult:
    """Run the whole study on the synthetic benchmark; see the module docstring."""
    from actionlab.evaluate.runs import markdown_table, results_table, table_cells
    from actionlab.report.html import build_report
    from actionlab.studies.slip import SlipSettings, run_slip_study
    from actionlab.synth import MOTION_PAIRS
    from actionlab.synth.api import synth
    from actionlab.machine import describe
    from actionlab.runtime import set_threads
    from actionlab.train.run import fast_cpu_overrides

    s = settings or DemoSettings()
    t0 = time.perf_counter()
    out = Path(out)
    res = DemoResult(out)
    clock = _Clock(res)
    threads = set_threads(None)
    log.info("%s", describe(threads))
    data = out / "data"
    if not (data / "synth_manifest.json").is_file():
        synth(data, clips_per_class=s.clips_per_class, stills_per_class=s.stills_per_class,
              long_videos=s.long_videos, difficulty=s.difficulty, seed=s.seed, workers=s.workers)
    clock.done("synth")
    _prepare("ucf101", data / "clips", out / "cache" / "clips", s, ("rgb", "flow"), 0.2)
    _prepare("stanford40", data / "stills", out / "cache" / "stills", s, ("rgb",), 0.2)
    clock.done("prepare")

    p = DemoPaths(data, out / "cache")
    runs = res.runs
    fp32 = fast_cpu_overrides(False)  # the frame models were tuned in float32; bf16 is auto now
    runs["stills"] = _train(stills_config(s, p), out, "stills", fp32)
    runs["stills-clr"] = _train(stills_config(s, p, clr=True), out, "stills-clr", fp32)
    clock.done("stills (2 runs)")
    runs["frame"] = _train(frame_config(s, p, runs["stills"]), out, "frame", fp32)
    clock.done("frame stream")
    fast = fast_cpu_overrides(s.bf16)
    runs["flow"] = _train(flow_config(s, p), out, "flow", fast)
    clock.done("flow stream")
    for fusion in s.fusions:
        runs[f"fusion-{fusion}"] = _train(
            fusion_config(s, p, fusion, runs["frame"], runs["flow"]), out, f"fusion-{fusion}",
            fast)
    clock.done(f"fusion ({len(s.fusions)} runs)")
    evals = {name: _eval(run) for name, run in runs.items()}
    clock.done("evaluate")

    main = ["stills", "stills-clr", "frame", "flow", "fusion-average"]
    header, body = table_cells(results_table([runs[k] for k in main if k in runs]))
    res.results_md = markdown_table(header, body)
    fusions = [k for k in runs if k.startswith("fusion-")]
    header, body = table_cells(results_table([runs[k] for k in fusions]))
    res.fusion_md = markdown_table(header, body)

    pairs = [tuple(p) for p in MOTION_PAIRS]
    rows = []
    for name in ("frame", "flow", *fusions):
        rates = pair_confusion(evals[name], pairs)
        rows.append([name, *(f"{v:.2f}" for v in rates.values())])
    res.pairs_md = markdown_table(["Run", *(f"{a}/{b}" for a, b in pairs)], rows)

    summary = [
        "# actionlab demo results\n",
        "## Results (the study's table 1)\n", res.results_md,
        "## Fusion (the study's table 3)\n", res.fusion_md,
        "## Motion-only pairs: within-pair error (0 = always told apart, 0.5 = chance)\n",
        res.pairs_md,
    ]
    _explain(runs, data, s.seed)
    clock.done("explain")
    if s.slip:
        slip_s = SlipSettings.quick() if s.size < 64 else SlipSettings()
        slip_s.seed, slip_s.workers, slip_s.difficulty = s.seed, s.workers, s.difficulty
        slip = run_slip_study(data, out / "slip", slip_s)
        runs["slip"] = slip.run
        res.slip_md = slip.markdown
        summary += ["## Slip detector over time (held-out long videos)\n", res.slip_md]
        clock.done("slip study")
    write_text_atomic(out / "results.md", "\n".join(summary))
    write_json_atomic(out / "results.json", {
        "runs": {k: str(v) for k, v in runs.items()},
        "test_top1": {k: float(v["metrics"]["top1"]) if "metrics" in v and "top1" in v["metrics"]
                      else v.get("top1") for k, v in evals.items()},
        "pairs": {r[0]: r[1:] for r in rows},
    })
    res.report = build_report(list(runs.values()), out / "report.html",
                              title="actionlab demo: the study on the synthetic benchmark")
    clock.done("report")
    res.seconds = time.perf_counter() - t0
    write_json_atomic(out / "stages.json", {"stages": res.stages, "seconds": res.seconds,
                                            "machine": describe(threads)})
    return res


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Where everything goes."),
        quick: bool = typer.Option(False, "--quick", help="Tiny sizes: a smoke run in a minute."),
        seed: int = typer.Option(0, help="Seed of the data and of every run."),
        workers: int = typer.Option(2, help="Processes for synthesis and preparation."),
        compression: str = typer.Option(
            "raw", help="Cache of the clips and stills: raw (the published tables) or jpeg."),
    ) -> None:
        """Run the study on the synthetic benchmark: results, fusion and pair tables, report."""
        from rich.console import Console
        from rich.markdown import Markdown

        s = DemoSettings.quick() if quick else DemoSettings()
        s.seed, s.workers, s.compression = seed, workers, compression
        res = run_demo(out, s)
        console = Console()
        console.print(Markdown((out / "results.md").read_text()))
        console.print(f"report: {res.report}")
        console.print(Markdown("## Where the time went\n\n" + res.stage_table()))
        console.print(f"demo finished in {res.seconds / 60:.1f} min")
