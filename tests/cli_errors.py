"""Run ``actionlab`` in-process as a user does and check a refusal is one clear line.

The real entry point (:func:`actionlab.cli.run`) is what turns an ActionlabError into
``error: ...`` and an exit code, so it is what is called; a traceback escapes as an exception
and fails the test.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``actionlab ARGS`` in this process: (exit code, stdout, stderr)."""
    from actionlab import cli

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["actionlab", *map(str, args)]
    code: int = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.run()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def files_under(root: Path) -> set[Path]:
    """Every file and folder below ``root`` (to show nothing else was written)."""
    return set(root.rglob("*")) if root.exists() else set()


def assert_one_line_error(args: list[str], words: str, code: int | None = None) -> str:
    """Run ``actionlab ARGS``; assert a non-zero exit and one ``error:`` line containing words.

    Returns:
        The error line.
    """
    status, _, err = run_cli(args)
    assert status != 0, f"exit 0 for {args}: {err}"
    if code is not None:
        assert status == code, (status, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert words in lines[0], lines[0]
    return lines[0]
