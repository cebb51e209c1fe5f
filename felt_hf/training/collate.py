"""From FELT trial rows to PyTorch batches: the collator (padding, crops, masks, labels).

Windows are in :mod:`felt_hf.training.windows`, DDP streaming in :mod:`felt_hf.training.distributed`
and :mod:`felt_hf.training.stream`; ``from felt_hf.training import ...`` reaches all of them.

``import felt_hf`` never imports torch; this module does (install the ``torch`` extra).

Typical use (map-style or streaming, any ``num_workers``)::

    from datasets import load_dataset
    from felt_hf.training import FeltCollator, prepare_stream

    collate = FeltCollator(["landmarks", "action_units"], max_frames=128)
    ds = load_dataset(folder, "smoothed_speech", split="train", streaming=True, columns=collate.columns)
    ds = prepare_stream(ds, rank=rank, world_size=world, num_workers=2, seed=0)
    loader = DataLoader(ds, batch_size=32, num_workers=2, collate_fn=collate)
    for epoch in range(n):
        ds.set_epoch(epoch)
        for batch in loader:
            batch["features"]  # (B, 128, 136 + 20) float32, zero where padded or no face
            batch["mask"]      # (B, 128) bool, True on real frames

Feature order in ``batch["features"]``: exactly the order of ``features`` you pass, each array
flattened in C order (landmarks ``x_0, y_0, x_1, y_1, ...``); :func:`feature_layout` gives the
slice of each. The whole design is documented in ``docs/TRAINING.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np

try:
    import torch
    import torch.utils.data
except ImportError as _e:  # say which extra brings it
    from ..extras import MissingExtraError

    raise MissingExtraError("felt_hf.training.collate", "torch") from _e

from ..schema import (
    CLASS_LABELS,
    FRAME_ARRAYS_BY_NAME,
    PER_FRAME_INDEX_COLUMNS,
    TRIAL_COLUMN_TABLE,
    TRIAL_COLUMNS,
)
from .args import column_names, whole
from .transforms import Standardizer, face_relative_landmarks

DEFAULT_FEATURES = ("landmarks", "action_units")
DEFAULT_LABELS = ("emotion",)
CROPS = ("random", "center", "start")
PER_FRAME_COLUMNS = tuple(PER_FRAME_INDEX_COLUMNS) + tuple(FRAME_ARRAYS_BY_NAME)
# Integer columns that windows and frame views add; the collator passes them through.
PASS_THROUGH = ("window_start", "window_index", "trial_index")
# ClassLabel names, so rows that carry labels by name (e.g. straight from the reader) still batch.
CLASS_NAMES = dict(CLASS_LABELS)
# Columns a batch can carry as labels: one value per trial.
LABEL_CHOICES = tuple(TRIAL_COLUMNS) + PASS_THROUGH
# labels that must hold whole numbers (ClassLabel indices and integer columns): never truncated
WHOLE_LABELS = frozenset(c.name for c in TRIAL_COLUMN_TABLE if c.dtype == "class" or c.dtype.startswith("int"))
WHOLE_LABELS |= frozenset(PASS_THROUGH)


# --- feature layout ------------------------------------------------------------------------------
def feature_layout(features: Sequence[str]) -> dict[str, slice]:
    """Where each feature sits in the last axis of ``batch["features"]``."""
    out, start = {}, 0
    for name in column_names("features", features):
        if name not in FRAME_ARRAYS_BY_NAME:
            raise ValueError(f"unknown feature {name!r}; choose from {tuple(FRAME_ARRAYS_BY_NAME)}")
        width = FRAME_ARRAYS_BY_NAME[name].width
        out[name] = slice(start, start + width)
        start += width
    return out


def feature_dim(features: Sequence[str]) -> int:
    """Width of ``batch["features"]`` for these features (unknown names: the same error as the layout's)."""
    layout = feature_layout(column_names("features", features))
    return max((s.stop for s in layout.values()), default=0)


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.numpy()
    return np.asarray(x)


def _batch_tensors(specs: Mapping[str, tuple[tuple[int, ...], torch.dtype]]) -> dict[str, torch.Tensor]:
    """Uninitialised tensors of these shapes and dtypes, all views of one buffer.

    In a DataLoader worker the buffer is allocated in shared memory: a worker sends each batch
    to the main process through shared memory, one segment (and file descriptor) per tensor
    storage, about 0.4 ms each here, and copies any tensor that is not there yet. Views of one
    shared storage travel as one segment, with nothing to copy (``default_collate`` allocates in
    shared memory for the same reason).
    """
    offsets, total = {}, 0
    for name, (shape, dtype) in specs.items():
        total = -(-total // 8) * 8  # 8-byte alignment for every dtype
        offsets[name] = total
        total += dtype.itemsize * math.prod(shape)
    if torch.utils.data.get_worker_info() is None:
        storage = torch.UntypedStorage(max(total, 1))
    else:
        storage = torch.UntypedStorage._new_shared(max(total, 1))
    return {
        name: torch.empty(0, dtype=dtype).set_(storage, offsets[name] // dtype.itemsize, shape)
        for name, (shape, dtype) in specs.items()
    }


def _strided_indices(length: int, stride: int, phase: int = 0) -> np.ndarray:
    return np.arange(min(phase, max(length - 1, 0)), length, stride)


class FeltCollator:
    """Pad (or crop) variable-length trials into one batch; picklable for DataLoader workers.

    ``features``: per-frame arrays to concatenate, in that order (see :func:`feature_layout`).
    ``labels``: label columns returned as int64 tensors (string columns such as ``trial_id`` come
    back as lists). ``max_frames``: if set, every batch is exactly ``(B, max_frames, D)`` (static
    shapes for ``torch.compile``; use ``drop_last=True`` for a static batch size too), longer
    trials are cropped (``crop="random"`` for training, ``"center"`` or ``"start"`` for
    evaluation; use :func:`trial_windows` for sliding evaluation). If not set, batches pad to
    their longest trial. ``frame_stride`` keeps every n-th frame (with a random phase under random
    crops). ``landmarks="face"`` turns landmarks face-relative
    (:func:`felt_hf.training.transforms.face_relative_landmarks` with ``landmark_options``; needs
    ``face_box`` in the rows even if not among ``features``). ``stats`` (a
    :class:`felt_hf.stats.FeatureStats`, normally the train split's) standardises every feature
    except face-relative landmarks. NaN (no-face) values become ``nan_value`` after
    standardisation; ``face_mask`` says which frames had them.

    Random crops draw from torch's global RNG, which DataLoader seeds per worker from the main
    process's seed: ``torch.manual_seed`` makes the crops reproducible.
    """

    def __init__(
        self,
        features: Sequence[str] = DEFAULT_FEATURES,
        labels: Sequence[str] = DEFAULT_LABELS,
        *,
        max_frames: int | None = None,
        crop: str = "random",
        frame_stride: int = 1,
        landmarks: str = "pixels",
        landmark_options: Mapping[str, Any] | None = None,
        stats: Any | None = None,
        nan_value: float = 0.0,
    ) -> None:
        self.features = column_names("features", features)
        if not self.features:
            raise ValueError(f"features is empty: name at least one of {tuple(FRAME_ARRAYS_BY_NAME)}")
        self.layout = feature_layout(self.features)
        self.dim = feature_dim(self.features)
        self.labels = column_names("labels", labels)
        unknown = [c for c in self.labels if c not in LABEL_CHOICES]
        if unknown:
            raise ValueError(f"unknown label column(s) {unknown}; choose from {LABEL_CHOICES}")
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, not {crop!r}")
        if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, Integral)):
            raise ValueError(f"max_frames must be a whole number of frames, not {max_frames!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be >= 1")
        frame_stride = whole("frame_stride", frame_stride)
        if landmarks not in ("pixels", "face"):
            raise ValueError("landmarks must be 'pixels' or 'face'")
        self.max_frames, self.crop, self.frame_stride = max_frames, crop, frame_stride
        self.landmarks = landmarks
        self.landmark_options = _checked_landmark_options(landmarks, landmark_options)
        skip = ("landmarks",) if landmarks == "face" else ()
        self.standardizer = Standardizer.from_stats(stats, self.features, skip=skip) if stats is not None else None
        try:  # (numpy's "could not convert string to float" had not named the argument)
            self.nan_value = float(nan_value)
        except (TypeError, ValueError):
            raise ValueError(f"nan_value must be a number, not {nan_value!r}") from None

    @property
    def columns(self) -> list[str]:
        """Columns this collator reads: ``ds.select_columns(collator.columns)`` skips decoding the rest.

        ``num_frames`` too (one integer a trial): :func:`trial_windows` indexes windows from it, and
        the documented recipes load ``columns=collate.columns`` and then cut windows (without it,
        datasets said only "Column 'num_frames' doesn't exist")."""
        cols = list(self.features) + list(self.labels) + ["trial_id", "num_frames"]
        if self.landmarks == "face" and "face_box" not in cols:
            cols.append("face_box")
        return list(dict.fromkeys(cols))

    # -- one trial -------------------------------------------------------------------------------
    def _select(self, length: int) -> tuple[np.ndarray, bool]:
        """Frame indices kept for one trial (stride, then crop to ``max_frames``) and whether the
        crop dropped any: decided here, on the strided frames of this trial's own phase."""
        random = self.crop == "random"
        phase = int(torch.randint(self.frame_stride, ()).item()) if random and self.frame_stride > 1 else 0
        idx = _strided_indices(length, self.frame_stride, phase)
        if self.max_frames is None or len(idx) <= self.max_frames:
            return idx, False
        extra = len(idx) - self.max_frames
        if random:
            start = int(torch.randint(extra + 1, ()).item())
        elif self.crop == "center":
            start = extra // 2
        else:
            start = 0
        return idx[start : start + self.max_frames], True

    def _fill(self, dst: np.ndarray, row: Mapping[str, Any], idx: np.ndarray) -> None:
        """Write the trial's chosen frames of every feature into ``dst`` (``(len(idx), dim)``).

        A crop without stride is a slice, so the frames are copied once, straight from the
        row's buffers into the batch.
        """
        k = len(idx)
        take: slice | np.ndarray = idx
        if k and int(idx[-1]) - int(idx[0]) == k - 1:
            take = slice(int(idx[0]), int(idx[0]) + k)
        for name in self.features:
            x = _as_array(row[name])[take]
            if name == "landmarks" and self.landmarks == "face":
                box = _as_array(row["face_box"])[take].astype(np.float32, copy=False) if "face_box" in row else None
                x = face_relative_landmarks(x.astype(np.float32, copy=False), box, **self.landmark_options)
            width = self.layout[name].stop - self.layout[name].start
            if x.size != k * width:  # a row from elsewhere, or arrays of different lengths
                raise ValueError(f"trial {row.get('trial_id', '?')}: {name} has shape {_as_array(row[name]).shape}, "
                                 f"expected ({len(_as_array(row[self.features[0]]))}, "
                                 f"{', '.join(map(str, FRAME_ARRAYS_BY_NAME[name].shape))})")  # fmt: skip
            dst[:, self.layout[name]] = x.reshape(k, -1)

    def _length(self, row: Mapping[str, Any]) -> int:
        """The trial's frame count, which every feature must have: a longer feature had been cut to
        the first feature's length without a word (only a shorter one was caught), and a feature
        that is None had failed as ``object of type 'NoneType' has no len()``."""
        lengths = {}
        for name in self.features:
            value = row[name]
            if value is None:
                raise ValueError(f"trial {row.get('trial_id', '?')}: {name} is None (a row without that array)")
            lengths[name] = len(value)
        first = self.features[0]
        other = next((n for n in self.features if lengths[n] != lengths[first]), None)
        if other is not None:
            raise ValueError(f"trial {row.get('trial_id', '?')}: {other} has {lengths[other]} frames, {first} has "
                             f"{lengths[first]}: every feature of a trial must have one row per frame")  # fmt: skip
        return lengths[first]

    # -- the batch -------------------------------------------------------------------------------
    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if isinstance(rows, Mapping):
            raise TypeError("FeltCollator takes a list of rows (a batch), not one row; wrap it: collate([row])")
        for row in rows:
            _check_row(row, self.features + self.labels)
        lengths = [self._length(r) for r in rows]
        picks, cropped = zip(*(self._select(n) for n in lengths), strict=True) if rows else ((), ())
        width = self.max_frames or max((len(p) for p in picks), default=0)
        b = len(rows)
        small: dict[str, np.ndarray] = {
            "lengths": np.array([len(p) for p in picks], dtype=np.int64),
            "num_frames": np.array(lengths, dtype=np.int64),
            "start": np.array([int(p[0]) if len(p) else 0 for p in picks], dtype=np.int64),
            "padded": np.array([len(p) < width for p in picks], dtype=bool),
            "cropped": np.array(cropped, dtype=bool),
        }
        other: dict[str, Any] = {}
        for col in self.labels + tuple(c for c in PASS_THROUGH if rows and c in rows[0]) + ("trial_id",):
            if rows and col in rows[0] and col not in small:
                values = _label_values(
                    col, rows, CLASS_NAMES.get(col), whole=col in self.labels and col in WHOLE_LABELS
                )
                (small if isinstance(values, np.ndarray) else other)[col] = values
        specs = {"features": ((b, width, self.dim), torch.float32), "mask": ((b, width), torch.bool)}
        specs["face_mask"] = ((b, width), torch.bool)
        specs.update({k: (v.shape, torch.from_numpy(v[:0]).dtype) for k, v in small.items()})
        batch: dict[str, Any] = _batch_tensors(specs)
        out, mask = batch["features"].numpy(), batch["mask"].numpy()
        mask[:] = False
        for i, (row, idx) in enumerate(zip(rows, picks, strict=True)):
            self._fill(out[i, : len(idx)], row, idx)
            mask[i, : len(idx)] = True
        if self.standardizer is not None:
            np.subtract(out, self.standardizer.mean, out=out)
            np.divide(out, self.standardizer.std, out=out)
        for i, idx in enumerate(picks):  # after standardising: padding is nan_value, not -mean/std
            out[i, len(idx) :] = self.nan_value
        # A frame's sum is finite exactly when all its values are (FELT values are far from
        # overflow): one reduction instead of an elementwise mask over the whole batch.
        face = batch["face_mask"].numpy()
        np.logical_and(np.isfinite(out.sum(axis=2)), mask, out=face)
        bad = mask & ~face
        if bad.any():  # no-face frames (rare): non-finite values become nan_value, the rest stays
            out[bad] = np.nan_to_num(out[bad], nan=self.nan_value, posinf=self.nan_value, neginf=self.nan_value)
        for k, v in small.items():
            batch[k].numpy()[...] = v
        batch.update(other)
        return batch


def _checked_landmark_options(landmarks: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``landmark_options`` checked when the collator is built, as every other argument is (a
    misspelt key or a bad value had failed at the first batch, inside a DataLoader worker): tried
    once on one frame of zeros with a unit box."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"landmark_options must be a mapping of face_relative_landmarks options, not {options!r}")
    if options and landmarks != "face":
        raise ValueError(f"landmark_options {dict(options)} apply to landmarks='face', not {landmarks!r}")
    try:
        with np.errstate(all="ignore"):  # (zeros: an interocular scale of 0, which is no error here)
            face_relative_landmarks(np.zeros((1, 68, 2), np.float32), np.array([[0, 0, 1, 1]], np.float32), **options)
    except (TypeError, ValueError) as e:
        raise ValueError(f"landmark_options {dict(options)}: {e}") from None
    return dict(options)


def _check_row(row: Mapping[str, Any], needed: Sequence[str]) -> None:
    """Every column the collator was built for is in the row (else: which, and which trial)."""
    if not isinstance(row, Mapping):
        raise TypeError(f"FeltCollator rows must be mappings of column -> value, not {type(row).__name__}")
    missing = [c for c in needed if c not in row]
    if missing:
        raise KeyError(f"trial {row.get('trial_id', '?')}: the row has no {missing} column(s); load them "
                       f"(e.g. ds.select_columns(collator.columns)) or build the collator without them")  # fmt: skip


def _label_values(
    col: str, rows: Sequence[Mapping[str, Any]], class_names: Sequence[str] | None = None, *, whole: bool = False
) -> np.ndarray | list:
    """Integers (ClassLabels, actor...) become an int64 array (a tensor in the batch); anything else stays a list.

    A ClassLabel given by name must be one of its names; with ``whole`` (a label the collator was
    asked for) every value must be a whole number, never truncated: the error names the trial.
    """
    values = [r[col] for r in rows]
    if class_names is not None and any(isinstance(v, str) for v in values):
        unknown = next((i for i, v in enumerate(values) if isinstance(v, str) and v not in class_names), None)
        if unknown is not None:
            raise ValueError(f"trial {rows[unknown].get('trial_id', '?')}: {col} {values[unknown]!r} is not one of "
                             f"{tuple(class_names)}")  # fmt: skip
        values = [class_names.index(v) if isinstance(v, str) else v for v in values]
    first = _scalar(values[0])
    if whole:
        bad = next((i for i, v in enumerate(values) if not _is_whole(_scalar(v))), None)
        if bad is not None:
            raise ValueError(f"trial {rows[bad].get('trial_id', '?')}: label {col} is {str(values[bad])}, not a whole "
                             "number or class name")  # fmt: skip
    if isinstance(first, (bool, int, np.integer)):
        return np.array([int(v) for v in values], dtype=np.int64)
    if isinstance(first, (bytes, np.bytes_)):
        return [v.decode() for v in values]
    return [str(v) if isinstance(v, np.str_) else v for v in values]


def _scalar(value: Any) -> Any:
    """A 0-d tensor or array as its Python value (what rows from ``with_format`` hold)."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        return value.item()
    return value


def _is_whole(value: Any) -> bool:
    return isinstance(value, (int, np.integer, np.bool_))  # (bool is an int)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns a generator for DataLoader(generator=...)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


__all__ = [
    "FeltCollator",
    "feature_layout",
    "feature_dim",
    "seed_everything",
    "DEFAULT_FEATURES",
    "DEFAULT_LABELS",
    "CLASS_NAMES",
]
