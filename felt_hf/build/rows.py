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
from ..schema import FRAME_ARRAYS, ROW_COLUMNS, trial_features


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


def rows_table(rows: Sequence[dict]) -> pa.Table:
    """An Arrow table of trial rows with the schema's Arrow types and ``huggingface`` metadata.

    The Array columns carry datasets' extension types: ``datasets`` trusts the features in the
    parquet metadata only when the stored Arrow type matches them, so written to parquet as is,
    it reads back with every ClassLabel and Array shape.
    """
    features = trial_features()
    schema = features.arrow_schema
    cols: dict[str, pa.Array] = {}
    for name in ("trial_id", "source_video"):
        cols[name] = pa.array([r[name] for r in rows], type=pa.string())
    for name in ("vocal_channel", "emotion", "intensity", "statement", "sex"):
        cols[name] = _class_index(features[name].names, [r[name] for r in rows])
    for name, typ in (("repetition", pa.int8()), ("actor", pa.int8()), ("num_frames", pa.int32())):
        cols[name] = pa.array([r[name] for r in rows], type=typ)
    cols["frame"] = _nested([r["frame"] for r in rows], (), np.int32)
    cols["time_s"] = _nested([r["time_s"] for r in rows], (), np.float32)
    cols["num_faces"] = _nested([r["num_faces"] for r in rows], (), np.uint8)
    for arr in FRAME_ARRAYS:
        storage = _nested([r[arr.name] for r in rows], arr.shape, np.float32)
        typ = schema.field(arr.name).type
        cols[arr.name] = pa.ExtensionArray.from_storage(typ, storage) if isinstance(typ, pa.ExtensionType) else storage
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)
