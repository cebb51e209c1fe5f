"""Reading the converted parquet on the calling thread, never in Arrow's thread pool.

Why: a process that has imported ``datasets`` has its ``Array2D``/``Array3D`` Arrow extension
types registered, so the landmark and pose columns come back typed with Python-defined extension
types. When Arrow decodes them in its thread pool (``use_threads=True``, pyarrow's default), a
pool thread may drop the last reference to a decoded column a moment after the read has
returned; the type's destructor then needs the GIL. If the interpreter is already shutting down
by then, Python ends that thread with ``pthread_exit``, whose unwinding through Arrow's
``noexcept`` destructors calls ``std::terminate``: the process prints "terminate called without
an active exception" and dies with SIGABRT (exit 134) after all its work was done. Seen here on
about 1 in 8-30 runs of the dataset card's usage code and of ``felt-hf push --dry-run``; the core
dump's stack is ``ThreadPool worker -> Future::MarkFinished -> ~ChunkedArray ->
~PyExtensionType -> PyGILState_Ensure -> take_gil -> pthread_exit -> std::terminate``
(apache/arrow#34314 reports the same abort).

Reading on the calling thread leaves no pool thread holding a column. Measured on 2 cores
(``smoothed_speech`` at 1/6 size, 4 row groups a read, 4 repetitions each, medians): 3 columns
3.6-4.3k trials/s with threads against 3.5-3.8k without; all columns 1.0-1.3k against 1.4-1.6k.
No slower here; DataLoader workers read without threads anyway (the processes fill the cores).

Shards are opened by :func:`open_shard`, which checks every page read against the CRC32 the
converter wrote into its header (``write_page_checksum``): a flipped bit in a shard had decoded
into other numbers without an error (``felt-hf show`` drew landmarks 64 px off, exit 0) while
``felt-hf verify`` failed the same page. The check is cheap: reading every row group of a
full-size ``smoothed_speech`` (59.5 MB, 2 shared cores; medians of 7 repetitions, in 4 runs)
took 0.16-0.19 s without it and 0.175-0.205 s with it, 3-10% of the read, nothing beside
drawing a picture (about a second) or encoding a video. Pages written without a checksum
(felt-hf before it wrote them) pass unchecked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: importing this module stays free
    import pyarrow as pa
    import pyarrow.parquet as pq

USE_THREADS = False


def open_shard(source, metadata: pq.FileMetaData | None = None) -> pq.ParquetFile:
    """A converted shard (a path or an open binary file) whose page reads check their CRC32
    (module docstring: why, and what it costs); ``metadata``: its footer, already read."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(source, metadata=metadata, page_checksum_verification=True)


def damaged_column(pf: pq.ParquetFile, group: int, columns: Sequence[str] | None = None) -> str | None:
    """The first top-level column of row group ``group`` (among ``columns``, default all) that
    does not read: where a damaged page is, for an error that names it."""
    import pyarrow as pa

    for name in pf.schema_arrow.names if columns is None else columns:
        try:
            pf.read_row_group(group, columns=[name], use_threads=USE_THREADS)
        except (OSError, pa.ArrowException):
            return name
    return None


def damage_reason(e: Exception) -> str:
    """A read error in words: a page checksum that does not match is said to be damage after
    writing (pyarrow says "CRC checksum verification failed for page_ordinal 0")."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "checksum" in text.lower() or "crc" in text.lower():
        return "a page's checksum does not match its bytes (damaged after it was written)"
    return f"does not read: {text}"


def read_failure(pf: pq.ParquetFile, groups: Sequence[int], columns: Sequence[str] | None, e: Exception) -> str:
    """A failed read of ``groups`` said with where it failed, for an error that names the shard:
    "row group 2, column 'landmarks': a page's checksum does not match its bytes (...)"."""
    for g in groups:
        column = damaged_column(pf, g, columns)
        if column is not None:
            return f"row group {g}, column {column!r}: {damage_reason(e)}"
    return damage_reason(e)


def first_failing_group(pf: pq.ParquetFile) -> tuple[int, Exception] | None:
    """Read every row group of ``pf`` (every page, against its checksum where ``pf`` came from
    :func:`open_shard`) on this thread; the first that does not read, with its error, or None.
    ``felt-hf verify``'s pages check and the baseline script's pre-training check both ask this."""
    import pyarrow as pa

    for i in range(pf.num_row_groups):
        try:
            pf.read_row_group(i, use_threads=USE_THREADS)
        except (OSError, pa.ArrowException) as e:
            return i, e
    return None


def frame_count_problem(table: pa.Table) -> str | None:
    """The first row of a tracking ``table`` whose per-frame column does not hold ``num_frames``
    values, said as ``felt-hf verify`` says it ("row 0 (trial ...), column 'frame': 7 value(s),
    num_frames says 135"), or None; None too where ``num_frames`` was not read.

    Why readers ask this, not only ``verify``: a flipped bit in a page *header* is outside the
    page's checksum, and can make a column decode to fewer values with no error. ``felt-hf
    render`` had then written a 7-frame video of a 135-frame trial (exit 0), and ``show`` had
    failed with a numpy reshape error naming nothing. One vectorised comparison of list lengths
    per column: nothing beside the read."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from .schema import FRAME_ARRAYS_BY_NAME, PER_FRAME_INDEX_COLUMNS

    if "num_frames" not in table.column_names or table.num_rows == 0:
        return None
    want = table.column("num_frames").to_numpy(zero_copy_only=False)
    for name in table.column_names:
        if name not in PER_FRAME_INDEX_COLUMNS and name not in FRAME_ARRAYS_BY_NAME:
            continue
        chunks = [c.storage if isinstance(c, pa.ExtensionArray) else c for c in table.column(name).chunks]
        got = np.concatenate([pc.fill_null(pc.list_value_length(c), -1).to_numpy(zero_copy_only=False) for c in chunks])
        bad = np.flatnonzero(got != want)
        if bad.size:
            i = int(bad[0])
            trial = table.column("trial_id")[i].as_py() if "trial_id" in table.column_names else None
            what = "null" if got[i] < 0 else f"{int(got[i])} value(s)"
            return (f"row {i}{f' (trial {trial})' if trial else ''}, column {name!r}: {what}, num_frames says "
                    f"{want[i]} (the shard is damaged; `felt-hf verify` checks every row)")  # fmt: skip
    return None


def read_row_groups(pf: pq.ParquetFile, row_groups: Sequence[int], columns: Sequence[str] | None = None) -> pa.Table:
    """``pf.read_row_groups`` on this thread."""
    return pf.read_row_groups(list(row_groups), columns=None if columns is None else list(columns),
                              use_threads=USE_THREADS)  # fmt: skip


def read_file(pf: pq.ParquetFile, columns: Sequence[str] | None = None) -> pa.Table:
    """``pf.read`` (every row group) on this thread."""
    return pf.read(columns=None if columns is None else list(columns), use_threads=USE_THREADS)


def read_table(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pa.Table:
    """One file read whole on this thread: ``ParquetFile.read``, not ``pq.read_table``, whose
    dataset scanner reads ahead on Arrow's I/O pool even without ``use_threads``."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:  # (verify's own pages check reads every page against its checksum)
        return read_file(pf, columns)


__all__ = [
    "USE_THREADS",
    "damage_reason",
    "damaged_column",
    "first_failing_group",
    "frame_count_problem",
    "open_shard",
    "read_failure",
    "read_file",
    "read_row_groups",
    "read_table",
]
