"""Typed rows: a trial record plus its labels become one row of the schema.

Two shapes of the same row: a dict of numpy arrays (what ``datasets``' builder encodes) and an
Arrow table built straight from the numpy buffers (what the converter writes to parquet, with
no per-value Python work). Both follow :func:`felt_hf.schema.trial_features` column by column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from ..inputs.csv_reader import TrialRecord
from ..ravdess import TrialLabels
from ..schema import FRAME_ARRAYS, PER_FRAME_INDEX_TABLE, ROW_COLUMNS, TRIAL_COLUMN_TABLE, trial_arrow_schema


def trial_row(record: TrialRecord, labels: TrialLabels) -> dict:
    """One trial row as a dict (ClassLabels by name, per-frame arrays as numpy)."""
    row = labels.as_row()
    row.update(
        num_frames=record.num_frames,
        source_video=record.source_video,
        frame=record.frame,
        time_s=record.time_s,
        num_faces=record.num_faces,
    )
    row.update(record.arrays)
    return {k: row[k] for k in ROW_COLUMNS}


def _class_index(names: Sequence[str], values: Sequence[str]) -> pa.Array:
    lookup = {n: i for i, n in enumerate(names)}
    return pa.array([lookup[v] for v in values], type=pa.int64())


def _nested(arrays: Sequence[np.ndarray], inner_shape: tuple[int, ...], dtype) -> pa.Array:
    """``list<list<...<value>>>`` from per-trial ``(T, *inner_shape)`` arrays, zero Python loops per value.

    The outer list is the trial's time axis, the inner lists have fixed widths (datasets'
    Array2D/Array3D storage); a 1-D per-frame column is a plain list.
    """
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    parts = [np.ascontiguousarray(a, dtype=dtype).reshape(-1) for a in arrays]
    values: pa.Array = pa.array(np.concatenate(parts) if parts else np.empty(0, dtype))
    total = len(values)
    for width in reversed(inner_shape):
        total //= width
        values = pa.ListArray.from_arrays(pa.array(np.arange(0, (total + 1) * width, width, dtype=np.int32)), values)
    outer = np.zeros(len(arrays) + 1, dtype=np.int32)
    np.cumsum(lengths, out=outer[1:])
    return pa.ListArray.from_arrays(pa.array(outer), values)


def rows_table(rows: Sequence[dict], schema: pa.Schema | None = None) -> pa.Table:
    """An Arrow table of trial rows with the schema's Arrow types and ``huggingface`` metadata.

    The Array columns carry datasets' extension types: ``datasets`` trusts the features in the
    parquet metadata only when the stored Arrow type matches them, so written to parquet as is,
    it reads back with every ClassLabel and Array shape. ``schema`` may also be that schema read
    back from Arrow IPC bytes in a process without ``datasets`` (the converter's workers): its
    Array columns are then the storage types with the extension's name on the field, which
    pyarrow writes to parquet byte for byte as it writes the extension types.
    """
    schema = schema or trial_arrow_schema()
    cols: dict[str, pa.Array] = {}
    for col in TRIAL_COLUMN_TABLE:
        values = [r[col.name] for r in rows]
        if col.dtype == "class":
            cols[col.name] = _class_index(col.class_names, values)
        else:
            cols[col.name] = pa.array(values, type=schema.field(col.name).type)
    for col in PER_FRAME_INDEX_TABLE:
        cols[col.name] = _nested([r[col.name] for r in rows], (), np.dtype(col.dtype))
    for arr in FRAME_ARRAYS:
        storage = _nested([r[arr.name] for r in rows], arr.shape, np.float32)
        typ = schema.field(arr.name).type
        cols[arr.name] = pa.ExtensionArray.from_storage(typ, storage) if isinstance(typ, pa.ExtensionType) else storage
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)
