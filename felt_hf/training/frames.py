"""Frame-level view: one row per video frame, for frame classifiers and per-frame analysis.

FELT stores one row per trial because dynamic models need whole sequences; a frame classifier
(or a linear probe on AUs) wants one example per frame, still carrying its trial's labels and
``trial_id`` so that evaluation can vote per trial and splits stay actor-disjoint. The same
function serves map-style datasets (a new cached ``Dataset``) and streaming ones (lazy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..schema import FRAME_ARRAYS_BY_NAME, PER_FRAME_INDEX_COLUMNS, TRIAL_COLUMNS
from .args import column_names

# Trial columns copied onto every frame row by default: the labels and the trial's id.
DEFAULT_FRAME_LABELS = tuple(c for c in TRIAL_COLUMNS if c not in ("num_frames", "source_video"))


def frame_features(trial_features: Any, features: Sequence[str], labels: Sequence[str]) -> Any:
    """``datasets.Features`` of a frame row: labels typed as in the trial row, arrays without T."""
    from datasets import Array2D, Features, List, Value

    out: dict[str, Any] = {c: trial_features[c] for c in labels}
    out["frame_index"] = Value("int32")  # position in the trial, 0..T-1
    out["frame"] = Value("int32")  # video frame number as Py-Feat wrote it
    out["time_s"] = Value("float32")
    out["num_faces"] = Value("uint8")
    for name in features:
        shape = FRAME_ARRAYS_BY_NAME[name].shape
        if shape == ():
            out[name] = Value("float32")
        elif len(shape) == 1:
            out[name] = List(Value("float32"), length=shape[0])
        else:
            out[name] = Array2D(shape=shape, dtype="float32")
    return Features(out)


def _explode(
    batch: dict[str, Any], features: Sequence[str], labels: Sequence[str], drop_no_face: bool, drop_nan: bool = False
) -> dict:
    """Batched map function: trial rows (numpy-formatted) -> frame rows."""
    lengths = [len(f) for f in batch["frame"]]
    keep = [np.ones(n, dtype=bool) for n in lengths]
    if drop_no_face:
        keep = [np.asarray(nf) > 0 for nf in batch["num_faces"]]
    if drop_nan:
        keep = [k & ~_all_nan(batch, features, i, n) for i, (k, n) in enumerate(zip(keep, lengths, strict=True))]
    out: dict[str, Any] = {}
    for col in labels:
        out[col] = [v for v, k in zip(batch[col], keep, strict=True) for _ in range(int(k.sum()))]
    out["frame_index"] = np.concatenate([np.flatnonzero(k) for k in keep]).astype(np.int32)
    for col in PER_FRAME_INDEX_COLUMNS:
        out[col] = np.concatenate([np.asarray(v)[k] for v, k in zip(batch[col], keep, strict=True)])
    for name in features:
        width = FRAME_ARRAYS_BY_NAME[name].shape
        parts = [np.asarray(v, dtype=np.float32).reshape(-1, *width)[k] for v, k in zip(batch[name], keep, strict=True)]
        out[name] = np.concatenate(parts) if parts else np.zeros((0, *width), np.float32)
    return out


def _all_nan(batch: dict[str, Any], features: Sequence[str], i: int, n: int) -> np.ndarray:
    """Per frame of trial ``i``: whether every value of every chosen feature is NaN."""
    out = np.ones(n, dtype=bool)
    for name in features:
        values = np.asarray(batch[name][i], dtype=np.float32).reshape(n, -1)
        out &= np.isnan(values).all(axis=1)
    return out


def to_frames(
    ds: Any,
    *,
    features: Sequence[str] | None = None,
    labels: Sequence[str] = DEFAULT_FRAME_LABELS,
    drop_no_face: bool = False,
    drop_nan: bool = False,
    batch_size: int = 16,
    num_proc: int | None = None,
) -> Any:
    """Trial rows -> frame rows (``Dataset`` -> ``Dataset``, ``IterableDataset`` -> ``IterableDataset``).

    Each frame row has ``labels`` (by default the trial id and every RAVDESS label), the frame's
    ``frame_index`` within its trial, ``frame``, ``time_s``, ``num_faces`` and the chosen
    per-frame ``features`` (default: all of them) without the time axis. ``drop_no_face`` leaves
    out frames where Py-Feat found no face (``num_faces == 0``; their values are NaN).
    ``drop_nan`` leaves out every frame whose chosen features are NaN throughout, whatever
    ``num_faces`` says: in a smoothed config, a trial whose raw file began without a face is NaN
    in every frame (FELT's filter spreads the NaN over the whole column) while ``num_faces`` keeps
    the raw file's counts, so ``drop_no_face`` alone leaves those frames in. The result comes
    without a format; use ``.with_format("numpy"/"torch")`` on it.
    """
    import datasets

    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        raise TypeError(f"to_frames takes one split (e.g. ds['train']), not a {type(ds).__name__} of {list(ds)}")
    features = column_names("features", features) if features is not None else tuple(FRAME_ARRAYS_BY_NAME)
    labels = column_names("labels", labels)
    missing = [c for c in (*labels, *PER_FRAME_INDEX_COLUMNS, *features) if c not in ds.features]
    if missing:
        raise ValueError(f"columns {missing} are not in the dataset (has {list(ds.features)})")
    out_features = frame_features(ds.features, features, labels)
    kwargs = dict(
        function=_explode,
        batched=True,
        batch_size=batch_size,
        fn_kwargs={"features": features, "labels": labels, "drop_no_face": drop_no_face, "drop_nan": drop_nan},
        remove_columns=list(ds.column_names or ds.features),
        features=out_features,
    )
    formatted = ds.with_format("numpy")
    if isinstance(ds, datasets.IterableDataset):
        return formatted.map(**kwargs).with_format(None)
    return formatted.map(**kwargs, num_proc=num_proc, desc="trial rows -> frame rows").with_format(None)


__all__ = ["to_frames", "frame_features", "DEFAULT_FRAME_LABELS"]
