"""The console side of the loop: the progress bar and a Ctrl-C that waits for the step to end."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger("actionlab.train.trainer")


class DeferredInterrupt:
    """Turns the first Ctrl-C (SIGINT) into a flag the loop checks between steps, so the saved
    state never holds half a step; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._installed = False
        self._old: Any = signal.default_int_handler

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._old)  # a second Ctrl-C acts at once
        log.warning("Ctrl-C: stopping after this step and saving a resumable checkpoint "
                    "(press again to abort at once)")

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            old = signal.getsignal(signal.SIGINT)
            self._old = old if old is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed and not self.requested:
            signal.signal(signal.SIGINT, self._old)


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def progress_bar(enabled: bool) -> Any:
    """A rich progress bar with a ``stats`` field (loss, accuracy); a no-op when disabled."""
    if not enabled:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("{task.fields[stats]}"), transient=True,
    )
