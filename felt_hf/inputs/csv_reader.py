"""Reading one Py-Feat / FELT tracking CSV into a trial record.

pyarrow's CSV reader with explicit float32 column types and one thread parsed FELT-shaped files
fastest here (about 1.5x pandas' C engine), so it does the parsing; this module only decides
which columns to ask for and turns its errors into ones that name the file, row and column.
This is the strict reader: the converter parses with polars first (:mod:`felt_hf.csv_fast`,
about 1.4x faster) and comes here for any file that is not plain, and so for every error.

Columns are always selected by name: FELT has three header variants (see
:func:`felt_hf.schema.header_for`) and other Py-Feat versions order, omit or add columns.
Duplicate names are renamed the way pandas does (second ``frame`` -> ``frame.1``, empty ->
``Unnamed: i``), so every variant resolves to the same names.

Two-face frames (two rows with one ``frame`` number) are reduced to one face per frame by a
deterministic rule: the row with the highest ``FaceScore`` wins, and on a tie (or when every
score is NaN) the earlier row wins. ``num_faces`` keeps how many faces were seen.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import FeltFormatError, FeltMissingColumnsError, FeltWarning, _rebuild_format_error
from ..schema import (
    FACE_BOX_COLUMNS,
    FACE_SCORE_COLUMN,
    FPS,
    FRAME_ARRAYS,
    FRAME_COLUMN,
    INPUT_COLUMN,
    SECOND_FRAME_COLUMN,
    FrameArray,
)
from .checks import check_float_range, check_frame_range, check_header_line, lone_carriage_return

_CELL_ERROR = re.compile(r"CSV column #(\d+): Row #(\d+): (.*)")
_ROW_ERROR = re.compile(r"Row #(\d+): (.*)")


@dataclass
class TrialRecord:
    """One trial as read from its CSV: per-frame arrays keyed by the schema's names.

    ``arrays`` holds float32 arrays of shape ``(T, *FrameArray.shape)``; ``frame`` the frame
    numbers (sorted, one per frame), ``num_faces`` how many faces the CSV had for each.
    """

    name: str
    frame: np.ndarray
    num_faces: np.ndarray
    arrays: dict[str, np.ndarray]
    source_video: str | None = None
    num_csv_rows: int = 0
    filled: tuple[str, ...] = field(default_factory=tuple)

    @property
    def num_frames(self) -> int:
        return int(self.frame.shape[0])

    @property
    def time_s(self) -> np.ndarray:
        """Seconds from the frame number at 29.97 fps (Py-Feat's ``approx_time`` is whole seconds)."""
        return (self.frame.astype(np.float64) / FPS).astype(np.float32)


def dedupe_header(names: list[str]) -> list[str]:
    """Rename duplicate and empty names exactly as ``pandas.read_csv`` would."""
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        name = name if name != "" else f"Unnamed: {i}"
        base, k = name, 0
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen.add(name)
        out.append(name)
    return out


def _header(data: bytes, name: str) -> tuple[list[str], int]:
    """The header names and the byte offset where the data rows start."""
    if not data.strip():
        raise FeltFormatError(name, "empty file")
    end = data.find(b"\n")
    line = data if end < 0 else data[:end]
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError as e:
        raise FeltFormatError(name, f"header is not UTF-8 text ({e})", row=0) from None
    check_header_line(text, name)  # engine-independent check (felt_hf.checks)
    try:
        names = next(csv.reader([text]))
    except csv.Error as e:
        raise FeltFormatError(name, f"header line is not valid CSV ({e})", row=0) from None
    if len(names) < 2:
        raise FeltFormatError(name, f"first line is not a CSV header: {text[:80]!r}", row=0)
    _refuse_duplicate_data_columns(names, name)
    return dedupe_header(names), (len(data) if end < 0 else end + 1)


# The cells read as NaN: empty (what pandas' to_csv, and so Py-Feat and FELT, write for NaN) and the
# spellings of NaN itself (C's and MSVC's printf). pyarrow's default list also turned the words NA,
# N/A, n/a, NULL, null, #N/A, #N/A N/A and #NA into NaN without a word; they are not numbers, so a
# cell holding one is now an error naming its row and column, like any other text.
NAN_SPELLINGS = ("", "nan", "NaN", "-nan", "-NaN", "1.#QNAN", "-1.#QNAN", "1.#IND", "-1.#IND")

_READ_COLUMNS = frozenset(c for arr in FRAME_ARRAYS for c in arr.csv_columns) | {INPUT_COLUMN}


def _refuse_duplicate_data_columns(names: list[str], name: str) -> None:
    """A column the reader takes values from may appear once: with two, which one holds the data is
    a guess (pandas would keep the first and rename the second ``x_3.1``, dropping its values
    unseen). ``frame`` is FELT's own duplicate (the raw files' index column) and stays allowed."""
    first: dict[str, int] = {}
    for i, col in enumerate(names):
        if col in _READ_COLUMNS and col in first:
            raise FeltFormatError(
                name,
                f"column {col!r} appears twice (columns {first[col] + 1} and {i + 1}); which one holds the data "
                "is ambiguous",
                row=0,
                column=col,
            )
        first.setdefault(col, i)


def _frame_source(names: set[str]) -> str | None:
    if FRAME_COLUMN in names:
        return FRAME_COLUMN
    if SECOND_FRAME_COLUMN in names:
        return SECOND_FRAME_COLUMN
    return None


def _plan(names: list[str], name: str) -> tuple[list[FrameArray], list[FrameArray]]:
    """Split the schema's arrays into present and absent-but-optional; raise on missing required."""
    have = set(names)
    present, absent, missing = [], [], []
    for arr in FRAME_ARRAYS:
        lacking = [c for c in arr.csv_columns if c not in have]
        if not lacking:
            present.append(arr)
        elif arr.required or len(lacking) < arr.width:
            missing.extend(lacking)  # a partial optional group is as broken as a missing required one
        else:
            absent.append(arr)
    if missing:
        raise FeltMissingColumnsError(name, missing)
    return present, absent


def _read_table(data: bytes, names: list[str], start: int, include: list[str], types: dict, name: str) -> pa.Table:
    read_options = pacsv.ReadOptions(column_names=names, use_threads=False, block_size=max(1 << 20, len(data) + 1))
    convert_options = pacsv.ConvertOptions(
        column_types=types, include_columns=include, strings_can_be_null=True, null_values=NAN_SPELLINGS
    )
    try:
        body = pa.py_buffer(data).slice(start)  # zero-copy: a FELT CSV is ~1.6 MB
        return pacsv.read_csv(pa.BufferReader(body), read_options=read_options, convert_options=convert_options)
    except pa.ArrowInvalid as e:
        raise _located_error(str(e), names, name) from None


def _located_error(message: str, names: list[str], name: str) -> FeltFormatError:
    """Turn pyarrow's ``In CSV column #c: Row #r`` into the file's row and column name.

    pyarrow counts rows of the text it was given (the data rows, 1-based), which is the
    data-row number a user sees in a spreadsheet.
    """
    m = _CELL_ERROR.search(message)
    if m:
        col, row, why = int(m.group(1)), int(m.group(2)), m.group(3)
        why = re.sub(r"CSV conversion error to (?:float|double): invalid value", "not a number:", why)
        return FeltFormatError(name, why, row=row, column=names[col] if col < len(names) else f"#{col}")
    m = _ROW_ERROR.search(message)
    if m:
        return FeltFormatError(name, m.group(2), row=int(m.group(1)))
    return FeltFormatError(name, message)


def _frames(table: pa.Table, source: str | None, n: int, name: str) -> np.ndarray:
    return checked_frames(table.column(source).to_numpy() if source is not None else None, source, n, name)


def checked_frames(values: np.ndarray | None, source: str | None, n: int, name: str) -> np.ndarray:
    """The frame numbers of ``n`` parsed rows (``values``, float64, from column ``source``), or
    ``0..n-1`` with a warning when the file has no frame column.

    One check for every reader of tracking (FELT's CSVs, Py-Feat 2.x's, a ``Fex``): a frame number
    that is missing, negative, fractional, beyond int32 (it would wrap when stored) or that goes
    back (a repeat elsewhere would merge two frames as two faces of one, silently) is an error
    naming the file, the data row and the column."""
    if source is None or values is None:
        warnings.warn(f"{name}: no 'frame' column; numbering rows 0..{n - 1} as frames", FeltWarning, stacklevel=4)
        return np.arange(n, dtype=np.int64)
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)) | (values < 0))
    if bad.size:
        raise FeltFormatError(name, _bad_frame(float(values[bad[0]])), row=int(bad[0]) + 1, column=source)
    check_frame_range(values, name, source)  # value check (felt_hf.checks): before any integer cast
    back = np.flatnonzero(values[1:] < values[:-1])
    if back.size:  # Py-Feat writes frames in order; a repeat elsewhere would merge two frames silently
        i = int(back[0]) + 1
        raise FeltFormatError(
            name,
            f"frame {values[i]:.0f} comes after frame {values[i - 1]:.0f}: frame numbers must not go back "
            "(the rows of a two-face frame are adjacent)",
            row=i + 1,
            column=source,
        )
    return values.astype(np.int64)


def _bad_frame(value: float) -> str:
    if not np.isfinite(value):
        return "frame number is missing (empty or NaN)"
    if value < 0:
        return f"frame number {value:g} is negative"
    return f"frame number {value:g} is not a whole number"


def face_rows(matrix: np.ndarray, columns: list[str]) -> np.ndarray:
    """Per CSV row: whether it holds a face box (any finite ``FaceRect*`` value), whatever its
    ``FaceScore`` says; Py-Feat writes a no-face row NaN throughout."""
    idx = [columns.index(c) for c in FACE_BOX_COLUMNS if c in columns]
    return np.isfinite(matrix[:, idx]).any(axis=1) if idx else np.zeros(matrix.shape[0], dtype=bool)


def select_faces(
    frame: np.ndarray, score: np.ndarray, has_box: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices that keep one face per frame (sorted by frame), and faces seen per frame.

    Highest ``FaceScore`` wins; ties and all-NaN frames keep the earliest row. Scores compare as
    read into float32 (two scores equal to 8 digits tie; Py-Feat writes a frame's faces highest
    first, so on its files the earlier row is also the higher text). A row whose score is NaN is a
    no-face row and does not count as a face, unless ``has_box`` says it holds a face box
    (:func:`face_rows`): then it is a face without a score, counted, and kept only where the frame
    has no scored face (an empty ``FaceScore`` cell had made a frame with a box and landmarks
    "no face" while its values were kept).
    """
    n = frame.shape[0]
    scored = np.isfinite(score)
    is_face = scored if has_box is None else scored | has_box
    if n == 0 or np.all(frame[1:] > frame[:-1]):
        return np.arange(n), is_face.astype(np.uint8)
    priority = np.where(scored, -score.astype(np.float64), np.where(is_face, np.finfo(np.float64).max, np.inf))
    order = np.lexsort((np.arange(n), priority, frame))
    sorted_frames = frame[order]
    first = np.r_[True, sorted_frames[1:] != sorted_frames[:-1]]
    starts = np.flatnonzero(first)
    faces = np.add.reduceat(is_face[order].astype(np.int64), starts)
    return order[first], np.minimum(faces, 255).astype(np.uint8)


def _float_matrix(table: pa.Table, columns: list[str]) -> np.ndarray:
    """All float32 columns as one row-major ``(n, len(columns))`` array, nulls as NaN.

    One ``RecordBatch.to_tensor`` call instead of hundreds of per-column conversions.
    """
    batch = table.select(columns).combine_chunks().to_batches()
    if not batch:
        return np.empty((0, len(columns)), dtype=np.float32)
    return np.asarray(batch[0].to_tensor(null_to_nan=True, row_major=True))


def _split_groups(matrix: np.ndarray, present: list[FrameArray], rows: np.ndarray | None) -> dict[str, np.ndarray]:
    if rows is not None:
        matrix = matrix[rows]
    out, col = {}, 0
    for arr in present:
        block = matrix[:, col : col + arr.width]
        out[arr.name] = np.ascontiguousarray(block).reshape((matrix.shape[0], *arr.shape))
        col += arr.width
    return out


def read_trial_csv(source: bytes | str | os.PathLike, name: str | None = None) -> TrialRecord:
    """Parse one tracking CSV (bytes or a path) into a :class:`TrialRecord`.

    ``name`` labels errors and warnings (defaults to the path); pass the archive member name
    when reading from a zip. Optional groups that are absent (the identity embedding in older
    Py-Feat output) are filled with NaN and reported once with a :class:`FeltWarning`.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "<bytes>"
    else:
        name = name or os.fspath(source)
        with open(source, "rb") as fh:
            data = fh.read()
    names, start = _header(data, name)
    from .pyfeat2 import detect_layout, read_pyfeat2  # Py-Feat 2.x output: its own layout module

    if detect_layout(names, name) == "pyfeat2":
        try:
            return read_pyfeat2(data, names, start, name)
        except FeltFormatError as e:  # the same pyarrow row counting as below
            raise _at_file_row(e, data, start) from None
    present, absent = _plan(names, name)
    if len(data) - start < 64 and not data[start:].strip():
        raise FeltFormatError(name, "no data rows after the header")
    try:
        return _read_body(data, names, start, present, absent, name)
    except FeltFormatError as e:
        raise _with_cr_hint(_at_file_row(e, data, start), data) from None


def _with_cr_hint(error: FeltFormatError, data: bytes) -> FeltFormatError:
    """A ragged row ("Expected 688 columns, got 11") in a file with a carriage return inside a
    line says so: the row was cut there, which the column counts alone do not tell."""
    if not error.reason.startswith("Expected ") or not lone_carriage_return(data):
        return error
    return _rebuild_format_error(error.file, f"{error.reason} (a carriage return inside a cell ends the row "
                                 "there: a line ends with \\n or \\r\\n)", error.row, error.column, error.archive,
                                 type(error))  # fmt: skip


def _at_file_row(error: FeltFormatError, data: bytes, start: int) -> FeltFormatError:
    """``error`` with its row counted in the file's lines rather than the parsed rows.

    pyarrow skips blank lines, so its row numbers (and the table's row indices every later check
    reports) run behind the file's from the first blank line on; only here, on the error path, are
    the blank lines counted back in (a data row ``r`` is line ``r + 1`` of the file).
    """
    if error.row is None or error.row < 1:
        return error
    line_no = _line_of_record(data[start:], error.row)
    if line_no is None or line_no == error.row:
        return error
    # the same error (its subclass kept, e.g. a value beyond float32) at the file's row
    return _rebuild_format_error(error.file, error.reason, line_no, error.column, error.archive, type(error))


def _line_of_record(body: bytes, row: int) -> int | None:
    """The line (1 = the first after the header) where the ``row``-th non-blank record starts.

    Records are counted as a CSV reader counts them: a quoted field may hold line breaks, which
    make a record longer than a line (after one, every row had been named one line short). Text
    the csv module cannot take (a NUL byte) is counted line by line, as before."""
    import csv
    import io

    try:
        reader = csv.reader(io.StringIO(body.decode("utf-8", errors="replace"), newline=""))
        count, before = 0, 0
        for record in reader:
            first = before + 1
            before = reader.line_num
            if record:  # (a blank line is no record to pyarrow either)
                count += 1
                if count == row:
                    return first
        return None
    except csv.Error:
        count = 0
        for line_no, line in enumerate(body.split(b"\n"), start=1):
            if line.rstrip(b"\r"):
                count += 1
                if count == row:
                    return line_no
        return None


def _read_body(
    data: bytes, names: list[str], start: int, present: list[FrameArray], absent: list[FrameArray], name: str
) -> TrialRecord:
    """:func:`read_trial_csv` past the header: parse, frame and value checks, the record."""
    frame_col = _frame_source(set(names))
    types: dict[str, pa.DataType] = {c: pa.float32() for arr in present for c in arr.csv_columns}
    include = list(types)
    if frame_col:
        types[frame_col] = pa.float64()
        include.append(frame_col)
    if INPUT_COLUMN in names:
        types[INPUT_COLUMN] = pa.string()
        include.append(INPUT_COLUMN)
    table = _read_table(data, names, start, include, types, name)
    n = table.num_rows
    if n == 0:
        raise FeltFormatError(name, "no data rows after the header")
    frame = _frames(table, frame_col, n, name)
    score = table.column(FACE_SCORE_COLUMN).to_numpy()
    float_columns = [c for arr in present for c in arr.csv_columns]
    matrix = _float_matrix(table, float_columns)
    rows, num_faces = select_faces(frame, score, face_rows(matrix, float_columns))
    keep = None if rows.shape[0] == n and np.all(rows == np.arange(n)) else rows
    # --- value checks (felt_hf.checks): on parsed numpy arrays, engine-independent; keep them
    # --- when the parser changes. Nothing may silently become inf or wrap.
    check_float_range(matrix, float_columns, name)
    arrays = _split_groups(matrix, present, keep)
    for arr in absent:
        arrays[arr.name] = np.full((rows.shape[0], *arr.shape), np.nan, dtype=np.float32)
    if absent:
        groups = ", ".join(f"{a.name} ({a.csv_columns[0]}..{a.csv_columns[-1]})" for a in absent)
        warnings.warn(f"{name}: no {groups} columns; filled with NaN", FeltWarning, stacklevel=3)
    source_video = first_input(table)
    return TrialRecord(
        name=name,
        frame=frame[rows].astype(np.int32),
        num_faces=num_faces,
        arrays={a.name: arrays[a.name] for a in FRAME_ARRAYS},
        source_video=source_video,
        num_csv_rows=n,
        filled=tuple(a.name for a in absent),
    )


def first_input(table: pa.Table) -> str | None:
    """The video path Py-Feat recorded in the ``input`` column (its first non-null value)."""
    if INPUT_COLUMN not in table.column_names:
        return None
    inputs = table.column(INPUT_COLUMN).drop_null()
    return inputs[0].as_py() if len(inputs) else None
