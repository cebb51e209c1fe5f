"""How a command stops on a signal, for ``felt-hf`` and ``scripts/regenerate.py`` alike.

SIGTERM (``kill``, ``timeout``, ``docker stop``, a batch scheduler ending a job) is raised as
:class:`~felt_hf.errors.Terminated`, a ``KeyboardInterrupt``, so it takes the path a Ctrl-C takes:
the run stops, removes its temporary files, says ``terminated`` and exits 143. Python's default
kills the process on the spot: temporary shards, a half-made folder and, during a conversion's swap,
old and new shards mixed. ``scripts/regenerate.py`` had no handler at all (a scheduler's SIGTERM
ended a regeneration mid-trial without a word); both entry points now install the same ones.

In a worker forked from the command that has not yet replaced the inherited handlers (a SIGTERM
from ``Pool.terminate`` right after the worker started, the terminal's Ctrl-C to the whole group),
the handlers exit at once and quietly: raising there printed a worker traceback above the
command's one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from .errors import Terminated

_MAIN_PID = os.getpid()


def _exit_if_forked(signum: int) -> None:
    if os.getpid() != _MAIN_PID:
        os._exit(128 + signum)


def _raise_terminated(signum, frame) -> None:
    _exit_if_forked(signum)
    raise Terminated


def _raise_interrupt(signum, frame) -> None:
    """Ctrl-C: Python's own KeyboardInterrupt here (its default handler's), a quiet exit in a worker."""
    _exit_if_forked(signum)
    raise KeyboardInterrupt


def interrupt_quietly_in_workers():
    """Install :func:`_raise_interrupt` in place of Python's default SIGINT handler (only that one:
    a caller's own handler, or SIGINT ignored, is left alone); returns the handler replaced, or
    None where nothing was installed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return None
    signal.signal(signal.SIGINT, _raise_interrupt)
    return previous


def terminate_as_interrupt():
    """SIGTERM handled like Ctrl-C (see the module docstring). Returns the handler it replaced
    (None where it cannot install one: not the main thread, or SIGTERM ignored by whoever started
    us)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        return None
    signal.signal(signal.SIGTERM, _raise_terminated)
    return previous


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Both handlers for the duration of a command; the caller's own put back after it."""
    previous = terminate_as_interrupt()
    previous_int = interrupt_quietly_in_workers()
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


__all__ = ["interrupt_quietly_in_workers", "stop_signals", "terminate_as_interrupt"]
