"""How far two trackings of the same clip differ (fast vs FELT-exact), in the units users care about.

Rows are matched by frame number and face order within the frame; frames whose face counts
differ are counted, not compared. Differences are absolute: landmarks and boxes in pixels, AUs and
emotions in probability, pose in degrees.
"""

from __future__ import annotations

import numpy as np

from ..schema import (
    AU_NAMES,
    EMOTION_SCORE_NAMES,
    FACE_BOX_COLUMNS,
    IDENTITY_COLUMNS,
    LANDMARK_X_COLUMNS,
    LANDMARK_Y_COLUMNS,
    POSE_COLUMNS,
)
from .tracks import columns_from_frame

GROUPS = {
    "landmarks_px": LANDMARK_X_COLUMNS + LANDMARK_Y_COLUMNS,
    "face_box_px": FACE_BOX_COLUMNS,
    "pose_deg": POSE_COLUMNS,
    "aus": AU_NAMES,
    "emotions": EMOTION_SCORE_NAMES,
    "identity_embedding": IDENTITY_COLUMNS,
}


def _by_frame(frames: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(frames, kind="stable")
    uniq, starts = np.unique(frames[order], return_index=True)
    return {int(f): order[s:e] for f, s, e in zip(uniq, starts, list(starts[1:]) + [len(order)], strict=True)}


def compare_tables(reference, other, *, name: str = "<clip>") -> dict:
    """Summary of ``other - reference`` per column group: max, mean and 99th percentile of |difference|."""
    ref = columns_from_frame(reference, name)
    oth = columns_from_frame(other, name)
    ref_rows, oth_rows = _by_frame(ref["frame"]), _by_frame(oth["frame"])
    pairs_r, pairs_o, mismatched = [], [], 0
    for f in sorted(set(ref_rows) | set(oth_rows)):
        a, b = ref_rows.get(f, np.array([], int)), oth_rows.get(f, np.array([], int))
        if len(a) != len(b):
            mismatched += 1
            continue
        pairs_r += list(a)
        pairs_o += list(b)
    out: dict = {
        "frames": len(set(ref_rows) | set(oth_rows)),
        "frames_with_different_face_counts": mismatched,
        "rows_compared": len(pairs_r),
    }
    ri, oi = np.asarray(pairs_r, int), np.asarray(pairs_o, int)
    no_face_r = np.isnan(np.asarray(ref["FaceRectX"])[ri]) if len(ri) else np.array([], bool)
    no_face_o = np.isnan(np.asarray(oth["FaceRectX"])[oi]) if len(oi) else np.array([], bool)
    out["rows_face_vs_no_face"] = int((no_face_r != no_face_o).sum())
    out["identity_labels_differ"] = int(
        sum(
            str(a) != str(b)
            for a, b in zip(np.asarray(ref["Identity"])[ri], np.asarray(oth["Identity"])[oi], strict=True)
        )
    )
    both = ~(no_face_r | no_face_o)
    for group, cols in GROUPS.items():
        a = (
            np.column_stack([np.asarray(ref[c], float)[ri] for c in cols])[both]
            if len(ri)
            else np.empty((0, len(cols)))
        )
        b = (
            np.column_stack([np.asarray(oth[c], float)[oi] for c in cols])[both]
            if len(oi)
            else np.empty((0, len(cols)))
        )
        d = np.abs(a - b)
        d = d[np.isfinite(d)]
        out[group] = (
            {"max": float(d.max()), "mean": float(d.mean()), "p99": float(np.percentile(d, 99))}
            if d.size
            else {"max": None, "mean": None, "p99": None}
        )
    return out
