"""Errors a user can cause.

Every error the user can fix is an :class:`ActionlabError` whose message names the file (or
option) and the problem; the CLI prints it on one line and exits non-zero, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class ActionlabError(Exception):
    """Base class for errors caused by user input, with a one-line, actionable message."""

    exit_code = 1


class InputError(ActionlabError):
    """An argument, option or config value is invalid."""

    exit_code = 2


class OutputError(ActionlabError):
    """An output path cannot be written: a file where a folder belongs, or no permission."""

    exit_code = 2


class VideoError(ActionlabError):
    """A video cannot be read: missing, empty, truncated, not a video, or without a video stream."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class DatasetError(ActionlabError):
    """A dataset root, split file or manifest is missing or inconsistent."""


class CheckpointError(ActionlabError):
    """A checkpoint is missing, from another version, or does not fit the model or classes."""


class ModelError(ActionlabError):
    """An unknown model name, a wrong input layout, or an incompatible state dict."""
