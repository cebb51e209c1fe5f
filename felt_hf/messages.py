"""The one-line texts of a command's end, shared by ``felt-hf`` and ``scripts/regenerate.py``.

Both are documented as one implementation with the same exit status and messages; the script had
its own copy of part of this, and printed tracebacks where ``felt-hf`` printed one line. Both now
take their error line, warning format and interrupt message from here.
"""

from __future__ import annotations

import os
import sys
import warnings

from .atomic import final_path_of
from .errors import EXIT_INTERRUPTED, EXIT_TERMINATED, FeltError, FeltWarning, Terminated

DEBUG_VARIABLE = "FELT_HF_DEBUG"  # set: the traceback instead of the one line


def os_error_text(e: OSError) -> str:
    """An OSError as ``path: what is wrong`` instead of ``[Errno 17] File exists: 'x'``; for a
    rename, the destination the user named rather than the hidden temporary source."""
    path = e.filename2 if e.filename2 is not None else e.filename
    if path is None or not e.strerror:
        return " ".join(str(e).split())
    path = final_path_of(path)  # (a hidden temporary name: the file it was to become)
    what = {
        FileExistsError: "exists and is not a folder",
        IsADirectoryError: "is a folder; a file is needed here",
        NotADirectoryError: "a part of this path is a file, not a folder",
    }.get(type(e), e.strerror)
    return f"{os.fsdecode(path)}: {what}"


def user_error(e: BaseException) -> BaseException | None:
    """The user-facing error behind ``e``: itself, or the FeltError a library wrapped it in
    (``datasets`` raises ``DatasetGenerationError`` from the builder's FeltFormatError)."""
    seen, cur = set(), e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, FeltError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return e if isinstance(e, (OSError, ValueError)) else None


def error_line(e: BaseException) -> str | None:
    """``felt-hf: error: ...`` for a user or input error; None for a bug (or with
    ``FELT_HF_DEBUG`` set), which the caller re-raises so its traceback is seen."""
    cause = user_error(e)
    if cause is None or os.environ.get(DEBUG_VARIABLE):
        return None
    return f"felt-hf: error: {os_error_text(cause) if isinstance(cause, OSError) else cause}"


def interrupted(e: KeyboardInterrupt) -> int:
    """Ctrl-C (``interrupted``, 130) or SIGTERM (``terminated``, 143) said in one word on stderr,
    without the traceback Python prints for an uncaught KeyboardInterrupt; returns the exit status."""
    terminated = isinstance(e, Terminated)
    print("terminated" if terminated else "interrupted", file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def format_warning(message, category, filename, lineno, line=None) -> str:
    """The package's own warnings as one ``felt-hf: warning: ...`` line (they name the archive and
    member); Python's default (source path, line number, code line) for everyone else's."""
    if issubclass(category, FeltWarning):
        return f"felt-hf: warning: {message}\n"
    return _PYTHON_FORMAT_WARNING(message, category, filename, lineno, line)


_PYTHON_FORMAT_WARNING = warnings.formatwarning


__all__ = ["DEBUG_VARIABLE", "error_line", "format_warning", "interrupted", "os_error_text", "user_error"]
