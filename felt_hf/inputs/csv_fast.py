"""The fast path for reading a tracking CSV: polars parses, the strict reader handles the rest.

Measured on FELT-shaped files, one thread per process (``scripts/bench_convert.py``): polars'
``read_csv`` into ``Float32`` parses about 1.4x as fast as pyarrow's typed reader, and
parsing is most of what converting costs. Both give the float32 rounding of the CSV text, value
by value (``tests/test_csv_fast.py`` checks every quirk fixture and the real Py-Feat files).

polars is more lenient than the strict reader (:func:`felt_hf.csv_reader.read_trial_csv`) in a
few places: a short row or a blank line becomes a row of nulls, a quoted field may span lines,
``inf`` is accepted like any number, and its errors say "column 'a' (column number 2)" without a
data row. So this path only takes files it can prove are plain, and hands everything else to the
strict reader, which reads them exactly as before and raises the error that names file, row and
column. The checks that decide this are small named functions (:func:`_plain_text`,
:func:`_complete_rows`, :func:`_finite_values`, :func:`_plain_frames`); a file that fails one is
not an error here, only a slower read. Real FELT files pass all of them. A file in Py-Feat 2.x's
layout (:mod:`felt_hf.inputs.pyfeat2`) goes to the strict reader too, which reads it into the
same rows.

Batches: :func:`read_trial_csvs_fast` parses several files that share a header line in one
polars call (the converter hands it a row group of 8 trials at a time), because with about 120
rows of 689 columns per file polars spends much of a call per column: about 3 ms a trial less
(``scripts/bench_convert.py --stages``). Each file's record comes from its own rows through the
same checks and ``_record``; any doubt about where one file ends sends the batch back to the
file-by-file path above.

Threads: polars sizes its thread pool from ``POLARS_MAX_THREADS`` when first imported. The
converter's workers set it to 1 (one process per core is how conversion scales); a process that
imports this module itself gets polars' default.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import FeltFormatError, FeltWarning
from ..schema import FACE_SCORE_COLUMN, FRAME_ARRAYS, INPUT_COLUMN, FrameArray
from .checks import lone_carriage_return
from .csv_reader import (
    NAN_SPELLINGS,
    TrialRecord,
    _frame_source,
    _header,
    _plan,
    _split_groups,
    checked_frames,
    face_rows,
    read_trial_csv,
    select_faces,
)

INT32_MAX = np.iinfo(np.int32).max
_NULL_CELLS = frozenset(NAN_SPELLINGS)  # what the strict reader reads as null


_USE_POLARS = True


def use_polars(flag: bool) -> None:
    """Switch the polars path on or off for this process (off: every file takes the strict reader).

    The converter switches it off in a worker forked from a process that had loaded polars,
    where polars' thread pool would deadlock.
    """
    global _USE_POLARS
    _USE_POLARS = bool(flag)


def prepare_worker_process() -> None:
    """Call first thing in a worker process that may parse CSVs.

    One polars thread per worker: conversion scales by processes (one per core), and a thread
    pool per worker on top would only oversubscribe the cores. polars reads the variable when
    first imported, which in a worker is after this.

    A worker forked from a process that had already loaded polars must not parse with it: a
    forked child of a process whose polars thread pool has run deadlocks on its first parse
    (polars' documented limitation; "spawn" and "forkserver" would re-run a caller's script).
    Such a worker reads with the strict pyarrow reader instead: the same values, slower.
    """
    import os
    import sys

    if "polars" in sys.modules:
        use_polars(False)
    else:
        os.environ.setdefault("POLARS_MAX_THREADS", "1")


def polars_available() -> bool:
    """Whether the polars path is on and polars imports (it is a dependency; this guards a
    broken install)."""
    if not _USE_POLARS:
        return False
    import sys

    if "polars" in sys.modules:
        return True
    try:
        import polars  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        return False
    _restore_sigint()
    return True


def _restore_sigint() -> None:
    """Put back this process's Ctrl-C handling, which importing polars replaces.

    polars installs its own SIGINT handler at the OS level when imported (measured here:
    ``SigCgt`` in ``/proc/self/status`` gains SIGINT while Python still reports ``SIG_IGN``). In a
    converter worker, which ignores SIGINT so that only the parent reports it, the ignore was
    undone and each worker printed a KeyboardInterrupt traceback. Re-installing what Python holds
    restores it (in a process with Python's default handler a Ctrl-C was still a
    KeyboardInterrupt, measured, and stays one). Only the main thread may set handlers; elsewhere
    nothing is done.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.getsignal(signal.SIGINT))


def _plain_text(data: bytes) -> bool:
    """No quote character anywhere and no carriage return but in a ``\r\n`` line end: fields are
    split on commas and lines on newlines alone, identically by both parsers. A quoted field
    could hold a newline, which the strict reader rejects and polars accepts; a lone ``\r`` inside
    a cell (``Person\r_0``) is a line break to the strict reader (and to pandas) but text to
    polars, so the same file had converted with polars and failed without it. A ``memchr`` for
    the quote, and one per carriage return (FELT's files end their ~120 lines with ``\r\n``):
    about 0.1 ms of a 1.6 MB file, under 1% of converting it."""
    return b'"' not in data and not lone_carriage_return(data)


def _complete_rows(last_column_nulls: int) -> bool:
    """Every data row has every field.

    polars raises on a row with too many fields, but fills a short row (or a blank line) with
    nulls from the first missing field on, so the last column of such a row is null. A last
    column without nulls therefore proves every row is complete; one with nulls (possible in a
    legitimate file, e.g. an empty last cell) sends the file to the strict reader to decide.
    """
    return last_column_nulls == 0


def _finite_values(matrix: np.ndarray) -> bool:
    """No infinity among the float32 values; NaN made the one NaN the strict reader gives.

    Text that overflows float32 parses to inf in both parsers; the strict reader decides what
    an infinity means (a literal ``inf``, or an overflow to report), so it gets these files.
    A ``-nan`` cell is null (canonical NaN) to the strict reader but a negative NaN to polars:
    every NaN is rewritten in place so the parquet bytes are the same. One pass when all is finite.
    """
    bad = ~np.isfinite(matrix)
    if not bad.any():
        return True
    if np.isinf(matrix[bad]).any():
        return False
    matrix[bad] = np.nan
    return True


def _plain_frames(values: np.ndarray) -> bool:
    """Frame numbers that are whole, non-negative and fit int32; anything else is the strict
    reader's to report (with its row and column)."""
    ok = np.isfinite(values) & (values >= 0) & (values <= INT32_MAX)
    return bool(ok.all() and (values == np.round(values)).all())


@dataclass(frozen=True)
class _Layout:
    """What one header implies for parsing; computed once per distinct header line (the files
    of an archive share one), since building a 690-column schema costs as much as inflating."""

    names: list[str]
    start: int
    present: list[FrameArray]
    absent: list[FrameArray]
    frame_col: str | None
    floats: list[str]  # float columns in the schema's order (what the arrays are cut from)
    schema: dict  # every column: polars checks each row's field count only when it parses them all
    others: list[str]  # the non-float columns, dropped from the frame before to_numpy
    order: np.ndarray  # float columns' CSV order -> schema order


_LAYOUTS: dict[bytes, _Layout | None] = {}  # None: a layout only the strict reader reads
_MAX_LAYOUTS = 64


def _layout(data: bytes, name: str) -> _Layout | None:
    """The parse plan for this file's header, or ``None`` for a header of another layout (Py-Feat
    2.x's), which only the strict reader reads; the strict reader's header checks raise here
    (naming this file) whenever the header has not been seen before."""
    from .pyfeat2 import detect_layout

    end = data.find(b"\n")
    line = data if end < 0 else data[: end + 1]
    if line in _LAYOUTS:
        return _LAYOUTS[line]
    names, start = _header(data, name)
    hit = None
    if detect_layout(names, name) == "felt":
        present, absent = _plan(names, name)
        hit = _make_layout(names, start, present, absent)
    if len(_LAYOUTS) < _MAX_LAYOUTS:
        _LAYOUTS[line] = hit
    return hit


def _make_layout(names: list[str], start: int, present: list[FrameArray], absent: list[FrameArray]) -> _Layout:
    import polars as pl

    frame_col = _frame_source(set(names))
    floats = [c for arr in present for c in arr.csv_columns]
    is_float = set(floats)
    others = [c for c in names if c not in is_float]
    schema = dict.fromkeys(names, pl.String)
    schema.update(dict.fromkeys(floats, pl.Float32))
    if frame_col is not None:
        schema[frame_col] = pl.Float64  # checked as a float, like the strict reader does
    index = {n: i for i, n in enumerate(names)}
    csv_order = sorted(floats, key=index.__getitem__)
    position = {c: i for i, c in enumerate(csv_order)}
    order = np.array([position[c] for c in floats], dtype=np.intp)
    return _Layout(names, start, present, absent, frame_col, floats, schema, others, order)


def _parse(data: bytes, layout: _Layout):
    """polars' parse of the data rows; ``None`` if polars refuses them."""
    import polars as pl

    try:
        # skip_lines counts newlines only: right here, where the text has no quote characters
        return pl.read_csv(data, has_header=False, skip_lines=1, schema=layout.schema, raise_if_empty=False)
    except Exception:  # any refusal (bad number, ragged row, encoding): the strict reader decides
        return None


def read_trial_csv_fast(data: bytes, name: str) -> TrialRecord:
    """Same result as :func:`felt_hf.csv_reader.read_trial_csv` on bytes, parsed by polars when
    the file is plain (see the module docstring); otherwise exactly the strict reader."""
    if not polars_available() or not _plain_text(data):  # before _layout, which imports polars
        return read_trial_csv(data, name=name)
    layout = _layout(data, name)
    if layout is None:
        return read_trial_csv(data, name=name)
    df = _parse(data, layout)
    if df is None or df.height == 0:
        return read_trial_csv(data, name=name)
    columns, last = _take_columns(df, layout)
    if not _complete_rows(last.null_count()):
        return read_trial_csv(data, name=name)
    frames = columns[layout.frame_col].to_numpy() if layout.frame_col else None
    record = _checked_record(layout, name, df.to_numpy(order="fortran"), frames, columns.get(INPUT_COLUMN))
    return record if record is not None else read_trial_csv(data, name=name)


def _take_columns(df, layout: _Layout) -> tuple[dict, object]:
    """The non-float columns taken out of ``df`` (which keeps the float columns only), and the
    last column, whose nulls tell a short row (or, in a batch, a separator row)."""
    columns = {c: df.drop_in_place(c) for c in layout.others}
    last = columns[layout.names[-1]] if layout.names[-1] in columns else df.get_column(layout.names[-1])
    return columns, last


def _checked_record(layout: _Layout, name: str, rows: np.ndarray, frames, inputs) -> TrialRecord | None:
    """One file's record from its parsed float rows (CSV column order), frame values and inputs;
    ``None`` where its values or frames are the strict reader's to decide."""
    matrix = np.ascontiguousarray(rows[:, layout.order])
    if not _finite_values(matrix):  # (also makes every NaN canonical, in place)
        return None
    if frames is not None and not _plain_frames(frames):
        return None
    return _record(layout, name, matrix, frames, inputs)


def read_trial_csvs_fast(files: list[tuple[bytes, str]]) -> list[TrialRecord | None]:
    """Several files parsed by one polars call per header line; each file's record, or ``None``
    where that file must be read alone (by :func:`read_trial_csv_fast`, which gives the same
    record or the located error).

    Why batched: a FELT file is about 120 rows of 689 columns, so polars spends much of a call
    per column, not per value. Measured on FELT-shaped files (one thread, ``scripts/bench_convert.py
    --stages``), parsing and extracting 8 files in one call costs less a file than file by file
    (figures in the README). The records are the per-file path's, value for value
    (``tests/test_csv_fast.py``): the same layout, checks and ``_record``, each on its own file's
    rows. Files are grouped by their header line (FELT's archives mix two layouts); a group
    with anything unusual (text that is not plain, a row count not certain from the bytes, a
    refused parse, a missing last field) gives ``None`` for each of its files, and a file whose
    values or frames need the strict reader gives ``None`` alone.
    """
    out: list[TrialRecord | None] = [None] * len(files)
    if len(files) < 2 or not polars_available():
        return out
    groups: dict[bytes, list[int]] = {}
    for i, (data, _) in enumerate(files):
        groups.setdefault(data[: data.find(b"\n") + 1], []).append(i)
    for header, positions in groups.items():
        if len(positions) > 1:
            records = _read_group(header, [files[i] for i in positions])
            for i, record in zip(positions, records, strict=True):
                out[i] = record
    return out


def _read_group(header: bytes, files: list[tuple[bytes, str]]) -> list[TrialRecord | None]:
    """:func:`read_trial_csvs_fast` for files that share one ``header`` line.

    The files' data rows are joined with a separator line of empty fields between files, which
    polars reads as a row of nulls: the separators' positions are where one file ends, found from
    the last column's nulls (no scan of the text, which cost about 0.5 ms a file with
    ``bytes.count``). A file's own short or blank line would be another null there, so anything
    but exactly one null per separator sends the whole group file by file, as does a file whose
    last line has no line end.
    """
    if not all(_plain_text(d) and d.endswith(b"\n") and len(d) > len(header) for d, _ in files):
        return [None] * len(files)
    try:
        layout = _layout(*files[0])
    except Exception:  # a bad header: each file reports it alone
        return [None] * len(files)
    if layout is None:  # not FELT's layout: the strict reader reads each file
        return [None] * len(files)
    separator = b"," * (len(layout.names) - 1) + b"\n"
    parts = [header]
    for i, (data, _) in enumerate(files):
        if i:
            parts.append(separator)
        parts.append(memoryview(data)[len(header) :])
    df = _parse(b"".join(parts), layout)
    if df is None:
        return [None] * len(files)
    columns, last = _take_columns(df, layout)
    ends = last.is_null().arg_true().to_numpy()
    if ends.size != len(files) - 1:
        return [None] * len(files)
    matrix = df.to_numpy(order="fortran")
    frames = columns[layout.frame_col].to_numpy() if layout.frame_col else None
    inputs = columns.get(INPUT_COLUMN)
    out: list[TrialRecord | None] = []
    starts = [0, *(int(e) + 1 for e in ends)]
    stops = [*(int(e) for e in ends), df.height]
    for (_, name), start, end in zip(files, starts, stops, strict=True):
        out.append(_one_of_batch(layout, name, matrix[start:end], frames, inputs, start, end) if end > start else None)
    return out


def _one_of_batch(layout: _Layout, name: str, rows: np.ndarray, frames, inputs, start: int, end: int):
    """One file's record from its rows of a batched parse; ``None`` where the per-file path decides."""
    file_frames = frames[start:end] if frames is not None else None
    try:
        return _checked_record(
            layout, name, rows, file_frames, inputs.slice(start, end - start) if inputs is not None else None
        )
    except FeltFormatError:  # frames that go back: the per-file path raises it, with its row
        return None


def _first_input(column) -> str | None:
    """The first ``input`` cell that the strict reader would not read as null (pyarrow counts
    ``NA``, ``nan``, ``null``... as null in a string column; polars only the empty cell)."""
    for value in column:
        if value is not None and value not in _NULL_CELLS:
            return value
    return None


def _record(layout: _Layout, name: str, matrix: np.ndarray, frame_values, inputs) -> TrialRecord:
    """The trial record from the parsed columns: the same steps as the strict reader."""
    n = matrix.shape[0]
    frame = checked_frames(frame_values, layout.frame_col, n, name)
    score = matrix[:, layout.floats.index(FACE_SCORE_COLUMN)]
    rows, num_faces = select_faces(frame, score, face_rows(matrix, layout.floats))
    keep = None if rows.shape[0] == n and np.all(rows == np.arange(n)) else rows
    arrays = _split_groups(matrix, layout.present, keep)
    for arr in layout.absent:
        arrays[arr.name] = np.full((rows.shape[0], *arr.shape), np.nan, dtype=np.float32)
    if layout.absent:
        groups = ", ".join(f"{a.name} ({a.csv_columns[0]}..{a.csv_columns[-1]})" for a in layout.absent)
        warnings.warn(f"{name}: no {groups} columns; filled with NaN", FeltWarning, stacklevel=3)
    return TrialRecord(
        name=name,
        frame=frame[rows].astype(np.int32),
        num_faces=num_faces,
        arrays={a.name: arrays[a.name] for a in FRAME_ARRAYS},
        source_video=_first_input(inputs) if inputs is not None else None,
        num_csv_rows=n,
        filled=tuple(a.name for a in layout.absent),
    )


__all__ = ["prepare_worker_process", "read_trial_csv_fast", "read_trial_csvs_fast", "polars_available", "use_polars"]
