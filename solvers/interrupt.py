"""Ctrl-C as a request to stop: the first press asks every stage to wrap up and keep its best plan,
a second press aborts. A flag rather than an exception, because a KeyboardInterrupt raised inside a
native solver's callback can be swallowed by the solver, and the press would be lost."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_requested = threading.Event()
_installed = False


def requested() -> bool:
    """True once Ctrl-C was pressed inside `stop_on_ctrl_c`."""
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt in a Python loop if a stop was requested (callers keep their best plan)."""
    if _requested.is_set():
        raise KeyboardInterrupt


def request() -> None:
    """Ask every stage to stop (what the first Ctrl-C does; tests call it directly)."""
    _requested.set()


def _on_sigint(signum, frame) -> None:
    if _requested.is_set():
        raise KeyboardInterrupt  # second press: abort now
    _requested.set()


@contextmanager
def stop_on_ctrl_c() -> Iterator[None]:
    """Within the block, Ctrl-C (or SIGTERM) sets the stop flag instead of raising (nested blocks share one flag).
    Outside the main thread signals cannot be caught, and the block does nothing."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    previous_term = signal.signal(signal.SIGTERM, _on_sigint)  # a scheduler's kill asks the same: keep the best plan
    _installed = True
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        _installed = False
        _requested.clear()
