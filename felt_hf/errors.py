"""The project's own exceptions and warnings.

Every error that comes from bad input names the file it came from (and the archive, row and
column where they are known), so a user with 2452 CSVs can find the one that broke.
"""

from __future__ import annotations


class FeltError(Exception):
    """Base class of every error this package raises on purpose."""


class FeltFormatError(FeltError, ValueError):
    """A tracking CSV (or an archive member) that cannot be read as FELT data."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        archive: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.archive = archive
        self.reason = message
        where = f"{archive}:{file}" if archive else file
        parts = [where]
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column!r}")
        super().__init__(f"{', '.join(parts)}: {message}")

    def __reduce__(self):  # keep the keyword fields across multiprocessing pickling
        # type(self): subclasses (FeltArchiveError, FeltValueRangeError) keep their type across processes
        return (_rebuild_format_error, (self.file, self.reason, self.row, self.column, self.archive, type(self)))


def _rebuild_format_error(file, message, row, column, archive, cls=None) -> FeltFormatError:
    return (cls or FeltFormatError)(file, message, row=row, column=column, archive=archive)


class FeltMissingColumnsError(FeltFormatError):
    """A required column group is absent from a CSV header."""

    def __init__(self, file: str, missing: list[str], *, archive: str | None = None) -> None:
        self.missing = list(missing)
        shown = ", ".join(missing[:12]) + (f" (+{len(missing) - 12} more)" if len(missing) > 12 else "")
        super().__init__(file, f"missing required column(s): {shown}", archive=archive)

    def __reduce__(self):
        return (_rebuild_missing_error, (self.file, self.missing, self.archive))


def _rebuild_missing_error(file, missing, archive) -> FeltMissingColumnsError:
    return FeltMissingColumnsError(file, missing, archive=archive)


class FeltNameError(FeltError, ValueError):
    """A file name that is not a valid RAVDESS trial id."""


class FeltSmoothingError(FeltError, ValueError):
    """A clip FELT's smoothing cannot process the way FELT did (too short).

    Its text names the library's keyword (``short_clip='pad'``); ``command_line`` is the same
    message naming the option (``--short-clip pad``), which a command prints instead: the
    keyword meant nothing to someone running ``scripts/regenerate.py``.
    """

    def __init__(self, message: str, *, command_line: str | None = None) -> None:
        super().__init__(message)
        self.command_line = command_line or message

    def __reduce__(self):  # keep command_line across multiprocessing pickling
        return (_rebuild_smoothing_error, (str(self), self.command_line))


def _rebuild_smoothing_error(message: str, command_line: str) -> FeltSmoothingError:
    return FeltSmoothingError(message, command_line=command_line)


def command_line_text(e: BaseException) -> str:
    """``e``'s message as a command prints it: the ``command_line`` text of an error that has one
    (it names options, not keywords), else ``str(e)``."""
    return getattr(e, "command_line", None) or str(e)


class FeltWarning(UserWarning):
    """Something was filled in or guessed, such as an embedding missing from a CSV."""


# --- added by issue 11: every user-facing failure has a FeltError type -----------------------
# Exit codes of the ``felt-hf`` command (README "Exit codes"): 0 success, 1 a ``verify`` check
# failed, 2 a user or input error (any FeltError, a bad path, an unreachable hub), 130 interrupted,
# 143 terminated (SIGTERM).
EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process SIGTERM ended


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a scheduler, ``docker stop``), raised like a Ctrl-C so every
    cleanup a Ctrl-C runs (temporary files, a half-made output folder) runs for it too."""


class FeltArchiveError(FeltFormatError):
    """An archive member that must not be read: encrypted, an unsupported compression method,
    or one that would inflate to more than a tracking CSV can be (a zip bomb)."""


class FeltValueRangeError(FeltFormatError):
    """A number the typed row cannot hold as written: beyond float32 (would become inf) or a
    frame number beyond int32 (would wrap). Named by file, row and column."""


class FeltPathError(FeltError, FileNotFoundError):
    """A path the user gave that does not exist or lacks what it must hold (still a
    ``FileNotFoundError``, so callers that caught that keep working)."""


class FeltOutputError(FeltError, ValueError):
    """An output folder that a conversion must not write into as it is (a ``.py`` file in it,
    configs of an earlier build that the new one would leave behind)."""


class FeltHubError(FeltError, ConnectionError):
    """The hub could not be reached or refused the request (no network, no token, no rights)."""


class FeltLookupError(FeltError, ValueError):
    """A trial, config or folder that was asked for (``felt-hf show/render``, ``from_fex``) and is not
    there, or an optional dependency that the asked-for picture or video needs."""


class FeltMediaError(FeltError, ValueError):
    """Media that cannot be paired with the tracking one row per trial (e.g. a trial without its video)."""


class FeltDuplicateTrialError(FeltFormatError):
    """The same trial found twice among the inputs (CSVs, media or regeneration videos): which copy
    is used would be an accident of file order. Names the second copy's archive and member, and the first."""
