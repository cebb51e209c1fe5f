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
        return (_rebuild_format_error, (self.file, self.reason, self.row, self.column, self.archive))


def _rebuild_format_error(file, message, row, column, archive) -> FeltFormatError:
    return FeltFormatError(file, message, row=row, column=column, archive=archive)


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
    """A clip FELT's smoothing cannot process the way FELT did (too short)."""


class FeltWarning(UserWarning):
    """Something was filled in or guessed, such as an embedding missing from a CSV."""


class FeltLookupError(FeltError, ValueError):
    """A trial, config or folder that was asked for (``felt-hf show/render``, ``from_fex``) and is not
    there, or an optional dependency that the asked-for picture or video needs."""


class FeltMediaError(FeltError, ValueError):
    """Media that cannot be paired with the tracking one row per trial (e.g. a trial without its video)."""
