"""The Arrow schema handed from the converting process to its workers, which start before it has one.

Why: building the schema means importing ``datasets`` (its feature types; pandas and
huggingface_hub come with it), about 1 s. The parent used to do that before starting the worker
pool, and on 16 cores that second was 10% of a full conversion, with every core but one idle
(``scripts/convert_timeline.py``: 1.6 s before the first shard started). Now the pool starts
first, the workers parse while the parent imports, and the parent publishes the schema as Arrow
IPC bytes in shared memory. A worker deserialises it without importing ``datasets``: the
``Array2D``/``Array3D`` columns then arrive as their storage types carrying the same extension
name and metadata on the field, and pyarrow writes the same parquet bytes as with the registered
types (``tests/test_layout.py`` compares hashes of a build made this way).

Hand-written (a few lines over ``multiprocessing``'s shared memory and ``Event``) because a
``Queue`` would leave unread copies in a pipe at shutdown when a worker never asked for one.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import BaseContext

import pyarrow as pa

MAX_SCHEMA_BYTES = 1 << 20  # FELT's serialised schema is about 5 KB


class SchemaHandoff:
    """Shared memory for one serialised schema, and an event set once it is there."""

    def __init__(self, ctx: BaseContext | None = None) -> None:
        ctx = ctx or mp.get_context()
        self._ready = ctx.Event()
        self._size = ctx.RawValue("q", 0)
        self._buffer = ctx.RawArray("B", MAX_SCHEMA_BYTES)
        self._schema: pa.Schema | None = None  # each worker's deserialised copy

    def publish(self, schema: pa.Schema) -> None:
        """Make ``schema`` available to every worker (a too large one: each builds its own)."""
        blob = schema.serialize().to_pybytes()
        if len(blob) <= MAX_SCHEMA_BYTES:
            memoryview(self._buffer).cast("B")[: len(blob)] = blob
            self._size.value = len(blob)
        else:  # pragma: no cover - a schema 200x FELT's
            self._size.value = -1
        self._ready.set()

    def get(self, wait: bool) -> pa.Schema | None:
        """The published schema; ``None`` while there is none yet and ``wait`` is false, or when
        it was too large to publish (the caller then builds it)."""
        if self._schema is None:
            if not wait and not self._ready.is_set():
                return None
            while not self._ready.wait(1.0):  # a worker whose parent died must not wait forever
                parent = mp.parent_process()
                if parent is not None and not parent.is_alive():
                    raise RuntimeError("the converting process ended before it handed over the schema")
            size = self._size.value
            if size < 0:  # pragma: no cover - see publish
                return None
            self._schema = pa.ipc.read_schema(pa.py_buffer(bytes(memoryview(self._buffer).cast("B")[:size])))
        return self._schema


__all__ = ["MAX_SCHEMA_BYTES", "SchemaHandoff"]
