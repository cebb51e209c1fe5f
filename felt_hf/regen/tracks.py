"""Turning a detector's table into FELT's columns, and the Py-Feat 0.6.2 behaviours that shape it.

Everything downstream (forward-fill, smoothing, the CSV writer) works on a plain
``{column: array}`` mapping in :data:`~felt_hf.schema.PYFEAT_DATA_COLUMNS` order; this module is
the one place that reads a detector's DataFrame, selecting columns by name so that a backend with
extra or reordered columns still maps onto FELT's layout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import FeltMissingColumnsError
from ..schema import (
    APPROX_TIME_COLUMN,
    FRAME_COLUMN,
    IDENTITY_COLUMNS,
    IDENTITY_LABEL_COLUMN,
    INPUT_COLUMN,
    PYFEAT_DATA_COLUMNS,
)

STRING_COLUMNS = (IDENTITY_LABEL_COLUMN, INPUT_COLUMN, APPROX_TIME_COLUMN)
NUMERIC_COLUMNS = tuple(c for c in PYFEAT_DATA_COLUMNS if c not in STRING_COLUMNS and c != FRAME_COLUMN)
IDENTITY_THRESHOLD = 0.8  # FELT's face_identity_threshold


def pyfeat_frame_limit(metadata_frames: int, decodable_frames: int, batch_size: int) -> int:
    """How many frames Py-Feat 0.6.2's ``detect_video`` actually returns.

    It iterates ``range(stream.frames)`` (container metadata). When fewer frames decode, the
    first missing frame raises ``StopIteration`` inside the DataLoader's fetch, which silently ends
    the loop and drops the whole batch that contained it. So the output stops at the last full
    batch before the first undecodable frame (e.g. metadata 98, decodable 96, batch 5: 95 frames).
    """
    if decodable_frames >= metadata_frames:
        return metadata_frames
    return (decodable_frames // batch_size) * batch_size


def pyfeat_approx_time(frame: int, fps: float, num_frames: int) -> str:
    """``VideoDataset.calc_approx_frame_time``: ``MM:SS`` truncated, capped at the clip length."""
    seconds = num_frames / fps if frame >= num_frames else frame / fps
    return f"{int(seconds // 60):02d}:{int(math.floor(seconds % 60)):02d}"


def cluster_identities(embeddings: np.ndarray, threshold: float = IDENTITY_THRESHOLD) -> list[str]:
    """Py-Feat's ``cluster_identities`` (cosine similarity > threshold, connected components) in numpy.

    Rows with NaN embeddings (no face) match nothing, so each gets a fresh ``Person_k`` label,
    which is why FELT's no-face rows carry ``Person_1``, ``Person_2``, ... rather than NaN.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return []
    norms = np.linalg.norm(x, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = x / np.maximum(norms, 1e-8)[:, None]  # torch's cosine_similarity clamps the norm at eps=1e-8
        linked = (unit @ unit.T) > threshold
    labels = [-1] * n
    cluster = 0
    for i in range(n):
        if labels[i] != -1:
            continue
        labels[i] = cluster
        stack = [i]
        while stack:
            cur = stack.pop()
            for j in np.flatnonzero(linked[cur]):
                if labels[j] == -1:
                    labels[j] = cluster
                    stack.append(int(j))
        cluster += 1
    return [f"Person_{k}" for k in labels]


def columns_from_frame(df, file: str) -> dict[str, np.ndarray | list[str]]:
    """A Py-Feat-shaped DataFrame (``detect_video`` output) as FELT columns, by name.

    ``frame`` may be a column or the index. A missing required column is an error naming the
    video; ``Identity_*`` may be absent (older Py-Feat) and become NaN, as the reader does.
    """
    names = set(map(str, df.columns))
    if FRAME_COLUMN in names:
        frames = df[FRAME_COLUMN]
        if getattr(frames, "ndim", 1) == 2:  # both index and column called frame after reset_index
            frames = frames.iloc[:, 0]
        frames = np.asarray(frames, dtype=np.int64)
    elif df.index.name == FRAME_COLUMN:
        frames = np.asarray(df.index, dtype=np.int64)
    else:
        raise FeltMissingColumnsError(file, [FRAME_COLUMN])
    optional = set(IDENTITY_COLUMNS) | {IDENTITY_LABEL_COLUMN, INPUT_COLUMN, APPROX_TIME_COLUMN}
    missing = [c for c in PYFEAT_DATA_COLUMNS if c not in names and c not in optional and c != FRAME_COLUMN]
    if missing:
        raise FeltMissingColumnsError(file, missing)
    n = len(frames)
    out: dict[str, np.ndarray | list[str]] = {FRAME_COLUMN: frames}
    for c in NUMERIC_COLUMNS:
        out[c] = np.asarray(df[c], dtype=np.float64) if c in names else np.full(n, np.nan)
    for c in STRING_COLUMNS:
        out[c] = [None if _is_missing(v) else str(v) for v in df[c]] if c in names else [None] * n
    return out


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def numeric_block(columns: Mapping[str, Sequence]) -> np.ndarray:
    """The ``(T, C)`` float block of every numeric column, in :data:`NUMERIC_COLUMNS` order."""
    return np.column_stack([np.asarray(columns[c], dtype=np.float64) for c in NUMERIC_COLUMNS])


def with_block(columns: Mapping[str, Sequence], block: np.ndarray) -> dict:
    """A copy of ``columns`` with the numeric columns taken from ``block``."""
    out = dict(columns)
    for i, c in enumerate(NUMERIC_COLUMNS):
        out[c] = block[:, i]
    return out


def face_counts(frames: np.ndarray, face_box_x: np.ndarray) -> np.ndarray:
    """Faces per distinct frame (0 where the only row is a no-face NaN row), in frame order."""
    frames = np.asarray(frames)
    uniq, first = np.unique(frames, return_index=True)
    counts = np.zeros(len(uniq), dtype=np.int64)
    has_face = ~np.isnan(np.asarray(face_box_x, dtype=np.float64))
    pos = np.searchsorted(uniq, frames)
    np.add.at(counts, pos, has_face.astype(np.int64))
    return counts[np.argsort(first, kind="stable")]
