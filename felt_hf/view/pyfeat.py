"""A two-way bridge between typed FELT rows and Py-Feat's ``Fex``.

A Py-Feat user wants a FELT trial back in ``Fex`` to use its analysis and plotting
(``fex.aus``, ``fex.extract_mean()``, ``fex.plot_detections()``...), and to bring their own Py-Feat
output into this package. :func:`to_fex` builds the table Py-Feat 0.6.2's ``detect_video``
returns for the trial (same column names and order, the same metadata: AU, emotion, landmark,
face box, pose, identity and time column groups, the models FELT used, ``sampling_freq=29.97``,
the trial id as ``sessions``); :func:`from_fex` reads one back into a typed row, taking the
labels from the trial id; :func:`row_to_csv` writes a row as a FELT-layout CSV that Py-Feat's
``read_feat`` (and this package's reader) reads.

Py-Feat is an optional, heavy dependency. Without it :func:`to_fex` returns the same table as a
plain ``pandas.DataFrame``, warns why, and keeps the metadata in ``DataFrame.attrs``.

What a row cannot give back: the second face of a two-face frame (the reader keeps one face per
frame; how many were seen is in ``num_faces``, carried through ``Fex.attrs["felt_num_faces"]``)
and the ``Identity`` labels, which are recomputed from the embeddings exactly as Py-Feat 0.6.2's
``cluster_identities`` does (cosine similarity > 0.8; a no-face row gets a fresh ``Person_k``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import PureWindowsPath

import numpy as np
import pandas as pd

from ..build.rows import trial_row
from ..errors import FeltFormatError, FeltLookupError, FeltMissingColumnsError, FeltWarning
from ..inputs.checks import check_float_range
from ..inputs.csv_reader import TrialRecord, checked_frames, select_faces
from ..inputs.csv_writer import approx_time_text, felt_csv_bytes
from ..ravdess import parse_trial_id
from ..schema import (
    APPROX_TIME_COLUMN,
    AU_NAMES,
    EMOTION_SCORE_NAMES,
    FACE_BOX_COLUMNS,
    FACE_SCORE_COLUMN,
    FPS,
    FRAME_ARRAYS,
    FRAME_COLUMN,
    IDENTITY_COLUMNS,
    IDENTITY_LABEL_COLUMN,
    INPUT_COLUMN,
    LANDMARK_X_COLUMNS,
    LANDMARK_Y_COLUMNS,
    POSE_COLUMNS,
    PYFEAT_DATA_COLUMNS,
    PYFEAT_MODELS,
)

# Fex metadata exactly as Py-Feat 0.6.2's Detector sets it for FELT's settings.
FEX_COLUMN_GROUPS: dict[str, list[str]] = {
    "au_columns": list(AU_NAMES),
    "emotion_columns": list(EMOTION_SCORE_NAMES),
    "facebox_columns": list(FACE_BOX_COLUMNS) + [FACE_SCORE_COLUMN],  # FEAT_FACEBOX_COLUMNS
    "landmark_columns": list(LANDMARK_X_COLUMNS) + list(LANDMARK_Y_COLUMNS),  # openface_2d_landmark_columns
    "facepose_columns": list(POSE_COLUMNS),
    "identity_columns": [IDENTITY_LABEL_COLUMN] + list(IDENTITY_COLUMNS),  # FEAT_IDENTITY_COLUMNS
    "time_columns": [FRAME_COLUMN],  # FEAT_TIME_COLUMNS
}
FELT_MODELS = {"detector": "Feat", **PYFEAT_MODELS}


def identity_labels(embeddings: np.ndarray) -> list[str]:
    """Py-Feat 0.6.2's ``Identity`` labels for these embeddings (see :mod:`felt_hf.regen.tracks`)."""
    from ..regen.tracks import cluster_identities

    return cluster_identities(embeddings)


def to_dataframe(row: dict) -> pd.DataFrame:
    """The trial as the ``pandas.DataFrame`` Py-Feat 0.6.2's ``detect_video`` returns (no metadata).

    One row per frame, float64 values (exactly the row's float32 numbers), frame numbers as ints,
    ``approx_time`` as Py-Feat writes it (``MM:SS``), ``input`` the recorded source video path.
    One face per frame: a frame where Py-Feat found two (``num_faces`` 2) had two rows in its
    output, of which FELT's rows keep one (the higher-scoring face), so that frame has one row here
    and ``num_faces`` is not written (reading the frame back gives 1).
    """
    n = len(row["frame"])
    cols: dict[str, object] = {}
    for arr in FRAME_ARRAYS:
        block = np.asarray(row[arr.name], dtype=np.float64).reshape(n, arr.width)
        for k, c in enumerate(arr.csv_columns):
            cols[c] = block[:, k]
    frames = np.asarray(row["frame"], dtype=np.int64)
    cols[IDENTITY_LABEL_COLUMN] = identity_labels(np.asarray(row["identity_embedding"], dtype=np.float64))
    cols[INPUT_COLUMN] = [row.get("source_video")] * n
    cols[FRAME_COLUMN] = frames
    cols[APPROX_TIME_COLUMN] = approx_time_text(frames)
    return pd.DataFrame({c: cols[c] for c in PYFEAT_DATA_COLUMNS})


def fex_metadata(row: dict) -> dict:
    """The keyword arguments of ``Fex(...)`` for this trial."""
    n = len(row["frame"])
    return {
        **{k: list(v) for k, v in FEX_COLUMN_GROUPS.items()},
        **FELT_MODELS,
        "sampling_freq": FPS,
        "sessions": np.array([str(row["trial_id"])] * n),
        "filename": row.get("source_video"),
    }


def to_fex(row: dict):
    """A Py-Feat ``Fex`` of one trial row; a ``pandas.DataFrame`` (with a warning) without Py-Feat.

    The table is :func:`to_dataframe`'s; the metadata is :func:`fex_metadata`'s, so ``fex.aus``,
    ``fex.landmarks``, ``fex.sessions``, ``fex.sampling_freq`` and Fex's methods work as on a
    Py-Feat result. Without Py-Feat the metadata is in ``df.attrs["fex"]``.
    """
    df = to_dataframe(row)
    meta = fex_metadata(row)
    num_faces = [int(v) for v in np.asarray(row["num_faces"])]
    try:
        from feat import Fex
    except Exception as e:  # ImportError, or Py-Feat failing to import on this stack
        warnings.warn(
            f"py-feat is not importable ({type(e).__name__}: {e}); to_fex returns a pandas DataFrame "
            "with Py-Feat 0.6.2's columns and the Fex metadata in .attrs['fex'] "
            "(install the regen extra, see docs/REGENERATION.md, for a real Fex)",
            FeltWarning,
            stacklevel=2,
        )
        df.attrs["fex"] = meta
        df.attrs["felt_num_faces"] = num_faces
        return df
    fex = Fex(df, **meta)
    fex.attrs["felt_num_faces"] = num_faces
    return fex


def _fex_trial_id(fex: pd.DataFrame, trial_id: str | None) -> str:
    if trial_id is not None:  # (an empty one is refused as a trial id, not replaced by the Fex's own)
        return trial_id
    sessions = getattr(fex, "sessions", None)
    if sessions is None:
        sessions = fex.attrs.get("fex", {}).get("sessions")
    if sessions is not None and len(sessions):
        found = {str(s) for s in np.asarray(sessions)}
        if len(found) == 1:
            return found.pop()
        raise FeltLookupError(f"Fex holds {len(found)} sessions ({sorted(found)[:3]}...): pass trial_id= for one trial")
    if INPUT_COLUMN in fex.columns:
        inputs = fex[INPUT_COLUMN].dropna()
        if len(inputs):
            name = PureWindowsPath(str(inputs.iloc[0])).name
            return os.path.splitext(name)[0]
    raise FeltLookupError("Fex has no sessions and no input column: pass trial_id= to name the RAVDESS trial")


def _from_v2(fex: pd.DataFrame, name: str) -> pd.DataFrame:
    """A Py-Feat 2.x Fex in 0.6.2's names: emotions renamed, the ArcFace embedding dropped
    (see :mod:`felt_hf.pyfeat2` for why it never fills FaceNet's column)."""
    from ..inputs.pyfeat2 import EMOTION_FROM_V2, detect_layout

    if detect_layout([str(c) for c in fex.columns], name) != "pyfeat2":
        return fex
    warnings.warn(
        f"{name}: a Py-Feat 2.x table: emotions renamed to FELT's, identity_embedding left NaN (ArcFace, not FaceNet)",
        FeltWarning,
        stacklevel=3,
    )
    renamed = fex.rename(columns={v2: v1 for v1, v2 in EMOTION_FROM_V2.items()})
    return renamed.drop(columns=[c for c in IDENTITY_COLUMNS if c in renamed.columns])


def from_fex(fex: pd.DataFrame, trial_id: str | None = None) -> dict:
    """A typed trial row from a Py-Feat ``Fex`` (or a DataFrame with its columns).

    Labels come from the trial id: ``trial_id=``, else the Fex's single session, else the file
    name in ``input``. A Py-Feat 2.x table (capitalised emotion names) is read as
    :mod:`felt_hf.pyfeat2` reads 2.x CSVs. Several faces in one frame are reduced as the CSV reader does (highest
    ``FaceScore`` wins); a missing identity embedding becomes NaN with a :class:`FeltWarning`.
    """
    tid = _fex_trial_id(fex, trial_id)
    labels = parse_trial_id(tid)
    name = f"Fex of {tid}"
    fex = _from_v2(fex, name)
    have = set(fex.columns)
    missing = [c for a in FRAME_ARRAYS if a.required for c in a.csv_columns if c not in have]
    if missing:
        raise FeltMissingColumnsError(name, missing)
    n = len(fex)
    if n == 0:  # as the CSV readers say it; a row of 0 frames had failed later, in render
        raise FeltFormatError(name, "no data rows (the Fex is empty)")
    if FRAME_COLUMN in have:
        frame = checked_frames(_numbers(fex, [FRAME_COLUMN], name, np.float64)[:, 0], FRAME_COLUMN, n, name)
    else:
        frame = np.arange(n, dtype=np.int64)
    score = _numbers(fex, [FACE_SCORE_COLUMN], name, np.float64)[:, 0]
    keep, num_faces = select_faces(frame, score)
    carried = fex.attrs.get("felt_num_faces")
    if carried is not None and len(carried) == len(keep) and len(keep) == n:
        num_faces = np.asarray(carried, dtype=np.uint8)
    arrays, filled = {}, []
    for arr in FRAME_ARRAYS:
        if all(c in have for c in arr.csv_columns):
            block = _numbers(fex, arr.csv_columns, name, np.float32)[keep]
        else:
            filled.append(arr.name)
            block = np.full((len(keep), arr.width), np.nan, dtype=np.float32)
        arrays[arr.name] = np.ascontiguousarray(block).reshape(len(keep), *arr.shape)
    if filled:
        warnings.warn(f"{name}: no {', '.join(filled)} columns; filled with NaN", FeltWarning, stacklevel=2)
    source = None
    if INPUT_COLUMN in have:
        inputs = fex[INPUT_COLUMN].dropna()
        source = str(inputs.iloc[0]) if len(inputs) else None
    record = TrialRecord(
        name=name,
        frame=frame[keep].astype(np.int32),
        num_faces=num_faces,
        arrays=arrays,
        source_video=source,
        num_csv_rows=n,
        filled=tuple(filled),
    )
    return trial_row(record, labels)


def _numbers(fex: pd.DataFrame, columns, name: str, dtype) -> np.ndarray:
    """``fex[columns]`` as a ``dtype`` matrix, checked as the CSV readers check their cells: a cell
    that is not a number, or (float32) one beyond float32's range, is an error naming the row
    (counted from 1) and column, where pandas or numpy would say neither or store an inf."""
    block = fex[list(columns)]
    try:
        with np.errstate(over="ignore"):  # (an overflow to inf is reported below, with its place)
            out = block.to_numpy(dtype=dtype)
    except (TypeError, ValueError):
        for column in columns:
            values = pd.to_numeric(block[column], errors="coerce")
            bad = np.flatnonzero(values.isna().to_numpy() & block[column].notna().to_numpy())
            if bad.size:
                cell = block[column].iloc[bad[0]]
                raise FeltFormatError(name, f"{cell!r} is not a number", row=int(bad[0]) + 1, column=column) from None
        raise
    if dtype == np.float32:
        check_float_range(out, list(columns), name)
    return out


def row_to_csv(row: dict, path: str | os.PathLike | None = None, layout: str = "raw") -> bytes:
    """The row as a FELT-layout CSV (``raw``: Py-Feat 0.6.2's ``to_csv`` output, which ``read_feat``
    reads; or any layout of :data:`felt_hf.schema.CSV_LAYOUTS`). Written atomically when ``path``
    is given; the bytes are returned either way. One row per frame, as :func:`to_dataframe`: a
    two-face frame's second face is not in the row, so it is not in the CSV either."""
    df = to_dataframe(row)
    data = felt_csv_bytes({c: df[c].to_numpy() for c in PYFEAT_DATA_COLUMNS}, layout)
    if path is not None:
        from ..atomic import atomic_write_bytes

        atomic_write_bytes(path, data)
    return data
