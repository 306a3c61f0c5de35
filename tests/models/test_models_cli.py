"""The ``actionlab models`` command."""

from __future__ import annotations

from typer.testing import CliRunner

from actionlab.models import list_models
from actionlab.models.commands import model_table


def test_model_table_has_every_model() -> None:
    rows = {r["name"]: r for r in model_table(num_classes=12)}
    assert sorted(rows) == list_models()
    assert 10.0 < rows["resnet_like"]["size_mb"] < 10.7
    assert rows["resnet18"]["params"] == 11_182_668  # torchvision's resnet18 with a 12-class head


def test_models_command_prints_the_table() -> None:
    from actionlab.cli import app

    out = CliRunner().invoke(app, ["models", "--num-classes", "12"])
    assert out.exit_code == 0, out.output
    assert "resnet_like" in out.output and "r2plus1d_flow" in out.output


def test_command_module_imports_no_torch() -> None:
    """The CLI starts fast: the models command module (and its package) import torch lazily."""
    import subprocess
    import sys

    code = "import sys, actionlab.models.commands; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
