"""Data subcommands: ``prepare``, ``prepare-merge``, ``manifest`` and ``flow``.

Thin wrappers: each parses options and calls a function from this package.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from actionlab.errors import InputError
from actionlab.io import check_output_dir, check_output_file, writing

log = logging.getLogger(__name__)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"112x112"`` or ``"112"`` -> (W, H); ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise InputError(f"--size {text!r}: expected WxH such as 112x112") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        raise InputError(f"--size {text!r}: expected WxH such as 112x112")
    return parts[0], parts[1]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4)."""
    try:
        k, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r}: expected K/N such as 1/4") from None
    if not 1 <= k <= n:
        raise InputError(f"--shard {text!r}: need 1 <= K <= N")
    return k, n


def _classes(text: str | None) -> object:
    if not text:
        return None
    if "," not in text and "=" not in text:
        return text  # a named map such as hmdb51_12, or one class
    items = [t.strip() for t in text.split(",") if t.strip()]
    if all("=" in t for t in items):
        return dict(t.split("=", 1) for t in items)
    return items


def _manifest(dataset: str, root: Path, split: int, splits_dir: Optional[Path],
              csv_path: Optional[Path], classes: Optional[str], val_fraction: float, seed: int,
              check_files: bool, group_pattern: Optional[str] = None,
              group_column: str = "group"):
    from actionlab.data.adapters import load_manifest

    opts: dict[str, object] = {}
    if dataset in ("ucf101", "hmdb51"):
        opts.update(split=split, splits_dir=splits_dir)
    if dataset in ("kinetics", "csv"):
        opts.update(csv_path=csv_path)
    if dataset == "csv":
        opts.update(group_column=group_column)
    if dataset != "manifest":
        opts["check_files"] = check_files
    return load_manifest(dataset, root, classes=_classes(classes),
                         val_fraction=val_fraction or None, seed=seed,
                         group_pattern=group_pattern or None, **opts)


GROUP_PATTERN_HELP = ("Regex giving each file's group (actor, sequence) from its name: the first "
                      r"capture group, e.g. '^\d+_(\d+)_' (UT-Interaction) or '_g(\d+)_'.")
GROUP_COLUMN_HELP = "CSV manifests: the column holding the groups."


def register(app: typer.Typer) -> None:
    """Add the data subcommands to the ``actionlab`` app."""

    @app.command("prepare")
    def prepare_cmd(
        dataset: str = typer.Argument(..., help="ucf101, hmdb51, stanford40, kinetics, folder, csv (ROOT is the CSV), or manifest (ROOT is a manifest.json)."),
        root: Path = typer.Argument(..., help="Dataset root (or manifest file)."),
        out: Path = typer.Argument(..., help="Cache folder to write (resumed if it exists)."),
        split: int = typer.Option(1, help="Official split number (UCF101, HMDB51)."),
        splits_dir: Optional[Path] = typer.Option(None, help="Folder with the split files."),
        csv_path: Optional[Path] = typer.Option(None, "--csv", help="Kinetics annotation CSV (or the csv dataset's list)."),
        classes: Optional[str] = typer.Option(None, help="Class subset: a map (hmdb51_12, stanford40_12), a,b,c or old=new,..."),
        val_fraction: float = typer.Option(0.0, help="Carve this stratified share of train as val."),
        seed: int = typer.Option(0, help="Seed of the validation split."),
        group_pattern: Optional[str] = typer.Option(None, help=GROUP_PATTERN_HELP),
        group_column: str = typer.Option("group", help=GROUP_COLUMN_HELP),
        size: Optional[str] = typer.Option("112x112", help="Working size WxH (empty with --short-side)."),
        short_side: Optional[int] = typer.Option(None, help="Resize the shorter side to this instead of --size."),
        inputs: str = typer.Option("rgb,flow", help="What to store: rgb, flow or rgb,flow."),
        flow: str = typer.Option("dis", help="Flow method: dis, dis_fast, tvl1, tvl1_fast, farneback; "
                                   "METHOD+homography removes the camera's motion."),
        bound: float = typer.Option(20.0, help="Flow quantisation bound in pixels."),
        compression: str = typer.Option("jpeg", help="jpeg (per-frame JPEG), raw, or lzf/gzip (raw under an HDF5 filter)."),
        quality: int = typer.Option(90, help="JPEG quality 1..100 (with --compression jpeg)."),
        workers: int = typer.Option(0, help="Processes (0 = all cores)."),
        shard: str = typer.Option("1/1", help="Prepare only shard K of N (array jobs)."),
        progress: bool = typer.Option(True, help="Show a progress bar."),
        estimate: bool = typer.Option(False, "--estimate", help="Only project cache size and time from a sample of the videos (written to a temporary folder), and check the free space."),
        space_check: bool = typer.Option(True, help="Refuse when the projected cache exceeds the free disk space."),
    ) -> None:
        """Decode every video once and write frames and/or flow into an HDF5 cache.

        The first few videos give a projection of the cache's size and time, printed first;
        the run stops when it exceeds the free disk space (unless --no-space-check).
        Unreadable videos are skipped and listed in OUT/skipped.json; the exit code is then 3.
        """
        from actionlab.data.estimate import check_space
        from actionlab.data.prepare import PrepareConfig
        from actionlab.data.prepare import estimate as estimate_fn
        from actionlab.data.prepare import prepare

        if workers < 0:
            raise InputError(f"--workers {workers}: give 0 (all cores) or a positive count")
        cfg = PrepareConfig(  # checked before anything is read
            size=None if short_side is not None else parse_size(size), short_side=short_side,
            inputs=tuple(i.strip() for i in inputs.split(",") if i.strip()),
            flow_method=flow, flow_bound=bound, compression=compression, quality=quality,
        )
        sh = parse_shard(shard)
        if not estimate:
            check_output_dir(out, "OUT")
        m = _manifest(dataset, root, split, splits_dir, csv_path, classes, val_fraction, seed,
                      check_files=False, group_pattern=group_pattern, group_column=group_column)
        if estimate:
            est = estimate_fn(m, out, cfg, workers=workers or None, shard=sh)
            if est is None:
                raise InputError(f"{root}: none of the sampled videos could be prepared; "
                                 "run prepare to see why")
            typer.echo(est.line(out))
            if space_check:
                check_space(est, out)
            return
        res = prepare(m, out, cfg, workers=workers or None, shard=sh, progress=progress,
                      space_check=space_check, on_estimate=typer.echo)
        msg = (f"{out}: {res.done} prepared, {res.reused} already there, "
               f"{len(res.skipped)} skipped in {res.seconds:.1f}s")
        typer.echo(msg)
        if res.manifest is None:
            typer.echo("other shards still running; the last one merges (or run prepare-merge)")
        if res.skipped:
            for s in res.skipped[:10]:
                typer.secho(f"skipped {s['path']}: {s['reason']}", err=True, fg=typer.colors.YELLOW)
            typer.secho(f"{len(res.skipped)} skipped; see {out / 'skipped.json'}", err=True,
                        fg=typer.colors.YELLOW)
            raise typer.Exit(res.exit_code)

    @app.command("prepare-merge")
    def merge_cmd(out: Path = typer.Argument(..., help="Cache folder holding parts/.")) -> None:
        """Merge the shard parts of a cache into manifest.json and skipped.json."""
        from actionlab.data.cache import merge_shards

        m = merge_shards(out, require_all=True)
        if m is None:
            raise InputError(f"{out}: some shards have not finished; re-run them first")
        typer.echo(f"{out}: {len(m.records)} records merged")

    @app.command("manifest")
    def manifest_cmd(
        dataset: str = typer.Argument(..., help="ucf101, hmdb51, stanford40, kinetics, folder or csv."),
        root: Path = typer.Argument(..., help="Dataset root."),
        out: Optional[Path] = typer.Option(None, help="Write the manifest JSON here."),
        split: int = typer.Option(1, help="Official split number."),
        splits_dir: Optional[Path] = typer.Option(None, help="Folder with the split files."),
        csv_path: Optional[Path] = typer.Option(None, "--csv", help="Kinetics annotation CSV (or the csv dataset's list)."),
        classes: Optional[str] = typer.Option(None, help="Class subset or map."),
        val_fraction: float = typer.Option(0.0, help="Stratified validation share of train."),
        seed: int = typer.Option(0, help="Validation seed."),
        check_files: bool = typer.Option(True, help="Fail if a listed file is missing."),
        group_pattern: Optional[str] = typer.Option(None, help=GROUP_PATTERN_HELP),
        group_column: str = typer.Option("group", help=GROUP_COLUMN_HELP),
    ) -> None:
        """List a dataset's splits (counts per split) without decoding anything."""
        if out:
            check_output_file(out, "--out")
        m = _manifest(dataset, root, split, splits_dir, csv_path, classes, val_fraction, seed,
                      check_files, group_pattern, group_column)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(m.counts().items()))
        typer.echo(f"{m.dataset}: {len(m.classes)} classes; {counts}")
        if out:
            with writing(out, "--out"):
                m.save(out)
            typer.echo(f"wrote {out}")

    @app.command("flow")
    def flow_cmd(
        video: Path = typer.Argument(..., help="A video."),
        out: Path = typer.Argument(..., help="Picture to write (.png or .jpg)."),
        method: str = typer.Option("dis", help="dis, dis_fast, tvl1, tvl1_fast, farneback."),
        size: str = typer.Option("224x168", help="Frame size WxH."),
        frames: int = typer.Option(6, help="Flow frames to show, centred on the middle."),
        stride: int = typer.Option(2, help="Step between shown frames."),
    ) -> None:
        """Picture a video's optical flow: frames on top, flow colour-coded below."""
        from actionlab.data.visualize import flow_sheet

        if frames < 1:
            raise InputError(f"--frames {frames}: show at least 1 flow frame")
        if stride < 1:
            raise InputError(f"--stride {stride}: must be at least 1")
        wh = parse_size(size)
        if wh is None or min(wh) < 8:
            raise InputError(f"--size {size!r}: expected WxH of at least 8x8, such as 224x168")
        check_output_file(out, "OUT")
        flow_sheet(video, out, method=method, size=wh, count=frames, stride=stride)
        typer.echo(f"wrote {out}")
