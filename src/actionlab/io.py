"""Small file helpers shared by every stage: atomic writes, JSON, output-path checks."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actionlab.errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) and keeps
    the target's extension (so libraries that choose a format by extension still work). If the
    body raises, the temporary file is removed and ``path`` is left as it was.

    Args:
        path: The final file path.
        suffix: Extension for the temporary file; defaults to ``path``'s own suffix.

    Yields:
        The temporary path to write to.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=ext, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp creates 0600; give the file the mode a plain open() would have.
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsynced before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


# ---------------------------------------------------------------------- output paths


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def _check_creatable(path: Path, what: str) -> None:
    """``path`` (absent) can be created: its nearest existing ancestor is a writable folder."""
    base = _nearest_existing(path.parent if path.parent != path else path)
    if not base.is_dir():
        raise OutputError(f"{what} {path}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path}: {base} is not writable; choose another place")


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Refuse, before any work, an output folder that cannot be made or written.

    Nothing is created: a command validates its inputs first and writes last.

    Args:
        path: The folder the command will write into (created later when absent).
        what: Names the option in the message, e.g. ``"--out"``.

    Raises:
        OutputError: ``path`` is a file, lies under a file, or is not writable.
    """
    path = Path(path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"{what} {path}: a file is there, not a folder; give a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"{what} {path}: the folder is not writable; choose another place")
    else:
        _check_creatable(path, what)
    return path


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Refuse, before any work, an output file that cannot be written.

    Args:
        path: The file the command will write (atomically, later).
        what: Names the option in the message, e.g. ``"-o"``.

    Raises:
        OutputError: ``path`` is a folder, lies under a file, or its folder is not writable.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{what} {path}: a folder is there; give a file name")
    if path.name in ("", ".", ".."):
        raise OutputError(f"{what} {path}: give a file name, not a folder")
    _check_creatable(path, what)
    return path


@contextlib.contextmanager
def writing(path: str | Path, what: str = "output") -> Iterator[None]:
    """Turn an OSError while writing ``path`` (a full disk, a vanished folder) into one line.

    Only errors about ``path`` or a file beside it (the temporary files of an atomic write)
    are translated; an OSError about some other file (an input) passes through unchanged.
    """
    try:
        yield
    except OSError as exc:
        if exc.filename is not None and not _near(Path(os.fsdecode(exc.filename)), Path(path)):
            raise
        raise OutputError(
            f"{what} {path}: could not write ({exc.strerror or exc}); nothing was kept"
        ) from None


def _near(name: Path, target: Path) -> bool:
    """``name`` is ``target``, lies inside it, or beside it (in its folder, at any depth)."""
    try:
        name.absolute().relative_to(target.absolute().parent)
    except ValueError:
        return False
    return True
