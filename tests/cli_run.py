"""Run ``actionlab ARGS`` in-process as a user does, and check a refusal is one clear line.

Imported by the reliability tests as ``cli_run`` (the tests folder is on sys.path through its
conftest). The console entry point is used, so an ActionlabError becomes ``error: ...`` and an
exit code; anything else escapes as a traceback and fails the test.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object) -> Result:
    """``actionlab ARGS`` through :func:`actionlab.cli.run`; stdout and stderr captured."""
    from actionlab import cli as cli_mod

    monkeypatch.setattr(sys, "argv", ["actionlab", *map(str, args)])
    code = 0
    try:
        cli_mod.run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return Result(code, out.out, out.err)


def refused(res: Result, *needles: str, code: int | None = None) -> str:
    """Assert a refusal: non-zero exit, exactly one ``error:`` line holding every needle, no
    traceback; return that line."""
    assert res.code != 0, f"exit 0 for a refusal:\n{res.out}\n{res.err}"
    if code is not None:
        assert res.code == code, res.err
    assert "Traceback" not in res.err + res.out
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def listing(root: Path) -> set[str]:
    """Every path under ``root`` (to show nothing was written)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
