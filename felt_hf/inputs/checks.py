"""Value checks applied to a parsed trial, independent of the CSV parse engine.

The parser (pyarrow today) turns text into arrays; these functions look only at the header text
and the parsed numpy arrays, so they stay correct whatever engine does the parsing. Each is one
vectorised pass (``np.isinf`` over a ~150 x 680 float32 block costs microseconds against the
milliseconds of parsing), so the conversion's hot path does not slow down.

Why they exist: a parser silently rounds ``1e39`` to ``inf`` in float32 and ``astype(int32)``
silently wraps a frame number of ``2**31``; a stray carriage return inside the header line makes
Python's ``csv`` module raise its own exception type. Each becomes a :class:`FeltFormatError`
naming the file, the data row (1-based, as a spreadsheet shows it) and the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import FeltFormatError, FeltValueRangeError

INT32_MAX = int(np.iinfo(np.int32).max)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_header_line(text: str, name: str) -> None:
    """A header line (already stripped of its line ending) must not hold a carriage return:
    one inside would split the header for the parser and shift every column name after it."""
    pos = text.find("\r")
    if pos >= 0:
        before = text[:pos].count(",")
        raise FeltFormatError(
            name,
            f"stray carriage return inside the header line (in header field {before + 1}, after "
            f"{text[max(0, pos - 20) : pos]!r}); the file was edited or re-encoded",
            row=0,
        )


def lone_carriage_return(data: bytes) -> bool:
    """A carriage return that does not end a line (``\r\n``): one per ``find``, and FELT's files
    end their ~120 lines with ``\r\n``, about 0.1 ms of a 1.6 MB file."""
    at = data.find(b"\r")
    while at >= 0:
        if data[at + 1 : at + 2] != b"\n":
            return True
        at = data.find(b"\r", at + 2)
    return False


def check_float_range(matrix: np.ndarray, columns: Sequence[str], name: str) -> None:
    """No value of the parsed float block may be infinite.

    FELT's CSVs hold finite numbers or empty cells (NaN); an infinite float32 is either text
    beyond float32's range (about 3.4e38) that the parser rounded to inf, or a literal ``inf``:
    neither can be stored without silently changing the number. Raises on the first one.
    """
    bad = np.isinf(matrix)
    if not bad.any():
        return
    row, col = (int(i[0]) for i in np.nonzero(bad))
    raise FeltValueRangeError(
        name,
        f"value is infinite or beyond float32's range (+-{FLOAT32_MAX:.4g}); it cannot be stored as float32 "
        "without changing it",
        row=row + 1,
        column=columns[col] if col < len(columns) else f"#{col}",
    )


def check_frame_range(values: np.ndarray, name: str, column: str) -> None:
    """Frame numbers are stored as int32: one beyond that range would wrap to another number."""
    if values.size == 0:
        return
    big = np.flatnonzero(values > INT32_MAX)
    if big.size:
        raise FeltValueRangeError(
            name,
            f"frame number {values[big[0]]:.0f} is beyond int32's range ({INT32_MAX}) and would wrap",
            row=int(big[0]) + 1,
            column=column,
        )


__all__ = ["check_header_line", "check_float_range", "check_frame_range", "INT32_MAX", "FLOAT32_MAX"]
