"""The ``models`` subcommand: every registered model with its parameters and size."""

from __future__ import annotations

from typing import Any, Optional

import typer


def model_table(num_classes: int | None = None) -> list[dict[str, Any]]:
    """One row per registered model at its default arguments: name, params, size_mb, input.

    Models are built on the meta device, so even VGG-16 costs no memory or time.
    """
    import torch

    from actionlab.models import build_model, list_models, model_info

    rows = []
    for name in list_models():
        kw = {} if num_classes is None else {"num_classes": num_classes}
        with torch.device("meta"):
            model = build_model(name, **kw)
        shape = getattr(model, "input_shape", ())
        if name == "two_stream":
            shape = f"{tuple(model.rgb.input_shape)} + {tuple(model.flow.input_shape)}"
        text = shape if isinstance(shape, str) else str(tuple(shape))
        rows.append({"name": name, **model_info(model), "input": text, "layout": model.layout})
    return rows


def register(app: typer.Typer) -> None:
    """Add ``models`` to the ``actionlab`` app."""

    @app.command("models")
    def models_cmd(
        num_classes: Optional[int] = typer.Option(None, help="Classes of the head (default: each model's own)."),
    ) -> None:
        """List the registered models with their parameter count, size (MB) and default input."""
        rows = model_table(num_classes)
        typer.echo(f"{'name':<14} {'params':>12} {'MB':>9}  {'layout':<16} default input (no batch)")
        for r in rows:
            typer.echo(f"{r['name']:<14} {r['params']:>12,} {r['size_mb']:>9.2f}  {r['layout']:<16} {r['input']}")
