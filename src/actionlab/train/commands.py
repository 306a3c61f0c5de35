"""``actionlab train`` and ``actionlab extract-features``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from actionlab.runtime import threads_option


def register(app: typer.Typer) -> None:
    """Add the training commands to the ``actionlab`` app."""

    @app.command("train")
    def train_cmd(
        config: Path = typer.Argument(
            None, help="Experiment YAML, or a shipped config's name (see docs/training.md); "
            "optional with --resume."),
        overrides: list[str] = typer.Argument(None, help="Overrides as key.path=value, e.g. optim.lr=1e-4."),
        resume: Path = typer.Option(None, "--resume", help="Continue this run directory exactly."),
        threads: int | None = threads_option(),
        device: str = typer.Option(
            None, "--device", help="auto, cpu, cuda or cuda:N; overrides train.device (auto)."
        ),
    ) -> None:
        """Train the experiment a config describes (also under torchrun --nproc_per_node=N).

        The run folder is train.out_dir/NAME (NAME: train.run_name, else the config's name,
        one plain folder name); run.json in it says whether the run completed.
        """
        from actionlab.config import load_config
        from actionlab.errors import InputError
        from actionlab.runtime import resolve_device, set_threads
        from actionlab.train.run import train

        set_threads(threads)
        if config is None and resume is None:
            raise InputError("give a config file or a shipped config's name, or --resume RUN_DIR")
        if config is not None and "=" in config.name and not config.exists():
            overrides = [str(config), *(overrides or [])]  # `train --resume run a.b=c`
            config = None
        if config is None:
            config = resume / "config.yaml"
        if device is not None:
            resolve_device(device)  # a GPU that is not there fails before any data is read
            overrides = [*(overrides or []), f"train.device={device}"]
        cfg = load_config(config, overrides or [])
        run_dir = train(cfg, resume=resume)
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one line, from rank 0
            typer.echo(str(run_dir))

    @app.command("extract-features")
    def extract_cmd(
        checkpoint: Path = typer.Argument(..., help="A trained 2D model (run dir or .safetensors)."),
        cache: Path = typer.Argument(..., help="The prepared cache of the videos."),
        out: Path = typer.Argument(..., help="The HDF5 file to write."),
        batch_size: int = typer.Option(64, help="Frames per forward pass."),
        splits: str = typer.Option("train,val,test", help="Comma-separated splits to extract."),
        threads: int | None = threads_option(),
    ) -> None:
        """Per-frame features of every video into HDF5, normalised with the train mean/std (LRCN)."""
        from actionlab.io import check_output_file, writing
        from actionlab.runtime import set_threads
        from actionlab.train.lrcn import extract_features_from_cache

        set_threads(threads)
        check_output_file(out, "OUT")
        with writing(out, "OUT"):
            path = extract_features_from_cache(checkpoint, cache, out, splits.split(","),
                                               batch_size)
        typer.echo(str(path))
