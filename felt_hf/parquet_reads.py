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
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: importing this module stays free
    import pyarrow as pa
    import pyarrow.parquet as pq

USE_THREADS = False


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

    with pq.ParquetFile(path) as pf:
        return read_file(pf, columns)


__all__ = ["USE_THREADS", "read_file", "read_row_groups", "read_table"]
