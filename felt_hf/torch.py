"""From FELT trial rows to PyTorch batches: collation, windows, and streaming for DDP.

``import felt_hf`` never imports torch; this module does (install the ``torch`` extra).

Typical use (map-style or streaming, any ``num_workers``)::

    from datasets import load_dataset
    from felt_hf.torch import FeltCollator, prepare_stream

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
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

try:
    import torch
    import torch.utils.data
except ImportError as _e:  # say which extra brings it
    from .extras import MissingExtraError

    raise MissingExtraError("felt_hf.torch", "torch") from _e

from .schema import (
    EMOTIONS,
    FRAME_ARRAYS_BY_NAME,
    INTENSITIES,
    PER_FRAME_INDEX_COLUMNS,
    SEXES,
    STATEMENTS,
    VOCAL_CHANNELS,
)
from .transforms import Standardizer, face_relative_landmarks

DEFAULT_FEATURES = ("landmarks", "action_units")
DEFAULT_LABELS = ("emotion",)
CROPS = ("random", "center", "start")
PER_FRAME_COLUMNS = tuple(PER_FRAME_INDEX_COLUMNS) + tuple(FRAME_ARRAYS_BY_NAME)
# Integer columns that windows and frame views add; the collator passes them through.
PASS_THROUGH = ("window_start", "window_index", "trial_index")
# ClassLabel names, so rows that carry labels by name (e.g. straight from the reader) still batch.
CLASS_NAMES = {
    "emotion": EMOTIONS,
    "vocal_channel": VOCAL_CHANNELS,
    "intensity": INTENSITIES,
    "statement": STATEMENTS,
    "sex": SEXES,
}


# --- feature layout ------------------------------------------------------------------------------
def feature_layout(features: Sequence[str]) -> dict[str, slice]:
    """Where each feature sits in the last axis of ``batch["features"]``."""
    out, start = {}, 0
    for name in features:
        if name not in FRAME_ARRAYS_BY_NAME:
            raise ValueError(f"unknown feature {name!r}; choose from {tuple(FRAME_ARRAYS_BY_NAME)}")
        width = FRAME_ARRAYS_BY_NAME[name].width
        out[name] = slice(start, start + width)
        start += width
    return out


def feature_dim(features: Sequence[str]) -> int:
    return sum(FRAME_ARRAYS_BY_NAME[n].width for n in features)


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
    (:func:`felt_hf.transforms.face_relative_landmarks` with ``landmark_options``; needs
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
        self.features = tuple(features)
        self.layout = feature_layout(self.features)
        self.dim = feature_dim(self.features)
        self.labels = tuple(labels)
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, not {crop!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be >= 1")
        if frame_stride < 1:
            raise ValueError("frame_stride must be >= 1")
        if landmarks not in ("pixels", "face"):
            raise ValueError("landmarks must be 'pixels' or 'face'")
        self.max_frames, self.crop, self.frame_stride = max_frames, crop, frame_stride
        self.landmarks = landmarks
        self.landmark_options = dict(landmark_options or {})
        skip = ("landmarks",) if landmarks == "face" else ()
        self.standardizer = Standardizer.from_stats(stats, self.features, skip=skip) if stats is not None else None
        self.nan_value = float(nan_value)

    @property
    def columns(self) -> list[str]:
        """Columns this collator reads: ``ds.select_columns(collator.columns)`` skips decoding the rest."""
        cols = list(self.features) + list(self.labels) + ["trial_id"]
        if self.landmarks == "face" and "face_box" not in cols:
            cols.append("face_box")
        return list(dict.fromkeys(cols))

    # -- one trial -------------------------------------------------------------------------------
    def _select(self, length: int) -> np.ndarray:
        """Frame indices kept for one trial: stride, then crop to ``max_frames``."""
        random = self.crop == "random"
        phase = int(torch.randint(self.frame_stride, ()).item()) if random and self.frame_stride > 1 else 0
        idx = _strided_indices(length, self.frame_stride, phase)
        if self.max_frames is None or len(idx) <= self.max_frames:
            return idx
        extra = len(idx) - self.max_frames
        if random:
            start = int(torch.randint(extra + 1, ()).item())
        elif self.crop == "center":
            start = extra // 2
        else:
            start = 0
        return idx[start : start + self.max_frames]

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
            dst[:, self.layout[name]] = x.reshape(k, -1)

    def _length(self, row: Mapping[str, Any]) -> int:
        return len(row[self.features[0]])

    # -- the batch -------------------------------------------------------------------------------
    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        lengths = [self._length(r) for r in rows]
        picks = [self._select(n) for n in lengths]
        width = self.max_frames or max((len(p) for p in picks), default=0)
        b = len(rows)
        small: dict[str, np.ndarray] = {
            "lengths": np.array([len(p) for p in picks], dtype=np.int64),
            "num_frames": np.array(lengths, dtype=np.int64),
            "start": np.array([int(p[0]) if len(p) else 0 for p in picks], dtype=np.int64),
            "padded": np.array([len(p) < width for p in picks], dtype=bool),
            "cropped": np.array(
                [len(p) < len(_strided_indices(n, self.frame_stride)) for p, n in zip(picks, lengths, strict=True)],
                dtype=bool,
            ),
        }
        other: dict[str, Any] = {}
        for col in self.labels + tuple(c for c in PASS_THROUGH if rows and c in rows[0]) + ("trial_id",):
            if rows and col in rows[0] and col not in small:
                values = _label_values([r[col] for r in rows], CLASS_NAMES.get(col))
                (small if isinstance(values, np.ndarray) else other)[col] = values
        specs = {"features": ((b, width, self.dim), torch.float32), "mask": ((b, width), torch.bool)}
        specs["face_mask"] = ((b, width), torch.bool)
        specs.update({k: (v.shape, torch.from_numpy(v[:0]).dtype) for k, v in small.items()})
        batch: dict[str, Any] = _batch_tensors(specs)
        out, mask = batch["features"].numpy(), batch["mask"].numpy()
        mask[:] = False
        for i, (row, idx) in enumerate(zip(rows, picks, strict=True)):
            self._fill(out[i, : len(idx)], row, idx)
            out[i, len(idx) :] = self.nan_value
            mask[i, : len(idx)] = True
        if self.standardizer is not None:
            np.subtract(out, self.standardizer.mean, out=out)
            np.divide(out, self.standardizer.std, out=out)
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


def _label_values(values: list, class_names: Sequence[str] | None = None) -> np.ndarray | list:
    """Integers (ClassLabels, actor...) become an int64 array (a tensor in the batch); anything else stays a list."""
    if class_names is not None and isinstance(values[0], str):
        values = [class_names.index(v) for v in values]
    first = values[0]
    if isinstance(first, torch.Tensor):
        first = first.item() if first.ndim == 0 else first
    if isinstance(first, np.ndarray) and first.ndim == 0:
        first = first.item()
    if isinstance(first, (bool, int, np.integer)):
        return np.array([int(v) for v in values], dtype=np.int64)
    if isinstance(first, (bytes, np.bytes_)):
        return [v.decode() for v in values]
    return [str(v) if isinstance(v, np.str_) else v for v in values]


# --- sliding windows -----------------------------------------------------------------------------
def window_starts(num_frames: int, window: int, hop: int | None = None, frame_stride: int = 1) -> list[int]:
    """First frame of each window over a trial; the last window is aligned to the trial's end.

    Windows are ``window`` frames long after taking every ``frame_stride``-th frame; a trial
    shorter than one window gives a single window at 0 (the collator pads it).
    """
    if window < 1 or frame_stride < 1:
        raise ValueError("window and frame_stride must be >= 1")
    hop = window if hop is None else hop
    if hop < 1:
        raise ValueError("hop must be >= 1")
    n = len(_strided_indices(num_frames, frame_stride))
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] + window < n:
        starts.append(n - window)
    return [s * frame_stride for s in starts]


def _cut(row: Mapping[str, Any], start: int, window: int, frame_stride: int) -> dict[str, Any]:
    stop = start + window * frame_stride
    out = dict(row)
    for col in PER_FRAME_COLUMNS:
        if col in row and row[col] is not None:
            out[col] = row[col][start:stop:frame_stride]
    return out


class _WindowedMap(torch.utils.data.Dataset):
    """Windows of a map-style dataset; consecutive windows of a trial reuse the decoded row."""

    def __init__(self, ds: Any, window: int, hop: int | None, frame_stride: int) -> None:
        self.ds, self.window, self.frame_stride = ds, window, frame_stride
        num_frames = ds["num_frames"]
        num_frames = num_frames.tolist() if hasattr(num_frames, "tolist") else list(num_frames)
        self.index = [
            (t, k, s)
            for t, n in enumerate(num_frames)
            for k, s in enumerate(window_starts(int(n), window, hop, frame_stride))
        ]
        self._cache: tuple[int, Any] | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        t, k, s = self.index[i]
        if self._cache is None or self._cache[0] != t:
            self._cache = (t, self.ds[t])
        row = _cut(self._cache[1], s, self.window, self.frame_stride)
        row.update(window_start=s, window_index=k, trial_index=t)
        return row


class _WindowedStream(torch.utils.data.IterableDataset):
    """Windows of a streaming dataset; worker and node splitting stay with the inner dataset."""

    def __init__(self, ds: Any, window: int, hop: int | None, frame_stride: int) -> None:
        self.ds, self.window, self.hop, self.frame_stride = ds, window, hop, frame_stride

    def set_epoch(self, epoch: int) -> None:
        self.ds.set_epoch(epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for t, row in enumerate(self.ds):
            n = len(row[next(c for c in PER_FRAME_COLUMNS if c in row)])
            for k, s in enumerate(window_starts(n, self.window, self.hop, self.frame_stride)):
                out = _cut(row, s, self.window, self.frame_stride)
                out.update(window_start=s, window_index=k, trial_index=t)
                yield out


def trial_windows(ds: Any, window: int, hop: int | None = None, frame_stride: int = 1) -> torch.utils.data.Dataset:
    """Every trial cut into fixed windows, for sliding-window evaluation (or dense training).

    Works on map-style datasets (a torch ``Dataset``; ``trial_index`` is the row number) and
    streaming ones (a torch ``IterableDataset``; ``trial_index`` counts per worker, so group by
    ``trial_id`` instead). Each item is the trial row with its per-frame arrays cut to the window
    plus ``window_start`` (first original frame), ``window_index`` and ``trial_index``. Pair it
    with ``FeltCollator(max_frames=window, crop="start")`` and average the logits of a trial's
    windows with :func:`aggregate_windows`.
    """
    if isinstance(ds, torch.utils.data.IterableDataset) or not hasattr(ds, "__getitem__"):
        return _WindowedStream(ds, window, hop, frame_stride)
    return _WindowedMap(ds, window, hop, frame_stride)


def aggregate_windows(logits: torch.Tensor, keys: Sequence[Any]) -> tuple[list[Any], torch.Tensor]:
    """Mean of the window logits of each trial; keys in first-seen order."""
    order: dict[Any, int] = {}
    ids = torch.tensor([order.setdefault(k, len(order)) for k in keys], dtype=torch.int64, device=logits.device)
    sums = torch.zeros(len(order), logits.shape[-1], dtype=logits.dtype, device=logits.device)
    sums.index_add_(0, ids, logits)
    counts = torch.bincount(ids, minlength=len(order)).to(logits.dtype).unsqueeze(1)
    return list(order), sums / counts


# --- streaming for DDP ---------------------------------------------------------------------------
def suggest_num_shards(
    num_rows: int,
    *,
    max_rows_per_shard: int = 64,
    world_sizes: Iterable[int] = (1, 2, 4, 8),
    workers: Iterable[int] = (1, 2, 4),
) -> int:
    """A shard count divisible by every ``world_size * num_workers`` planned, with small shards.

    DDP ranks must get whole, equal numbers of shards (otherwise ``split_dataset_by_node`` makes
    every rank read everything, or ranks run different step counts and hang), and each DataLoader
    worker reads whole shards. The count is the smallest multiple of that lcm with at most
    ``max_rows_per_shard`` rows per shard, but never more shards than rows.
    """
    unit = math.lcm(*(w * k for w in world_sizes for k in workers))
    shards = unit * max(1, math.ceil(num_rows / (unit * max_rows_per_shard)))
    return max(1, min(shards, num_rows))


def check_shard_plan(num_shards: int, world_size: int = 1, num_workers: int = 0) -> None:
    """Raise if ranks or workers would not each get whole, equal numbers of shards."""
    parts = world_size * max(1, num_workers)
    if num_shards % world_size:
        raise ValueError(
            f"{num_shards} shards cannot be split evenly over {world_size} ranks; convert with a shard count "
            f"divisible by {world_size} (felt_hf.torch.suggest_num_shards) or try ds.reshard()"
        )
    if num_shards % parts:
        warnings.warn(
            f"{num_shards} shards over {world_size} rank(s) x {max(1, num_workers)} worker(s): workers get unequal "
            f"shares (some idle at the end of each epoch); a multiple of {parts} shards avoids it",
            stacklevel=2,
        )


def one_input_shard(ds: Any) -> dict[str, int]:
    """``{"max_buffer_input_shards": 1}`` where ``IterableDataset.shuffle`` takes it (datasets >= 5).

    datasets 4.x has no such argument: its shuffle reads one shard at a time anyway (no
    interleaving wrapper, so no end-of-pass sleep), which is what the argument asks 5.x for.
    Detected from the signature, not the version, so a backport keeps working.
    """
    import inspect

    return (
        {"max_buffer_input_shards": 1} if "max_buffer_input_shards" in inspect.signature(ds.shuffle).parameters else {}
    )


def prepare_stream(
    ds: Any,
    *,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    shuffle: bool = True,
    seed: int = 0,
    buffer_size: int = 64,
    format: str | None = "numpy",
) -> Any:
    """Shuffle and split a streaming dataset for one DDP rank, without the end-of-epoch stall.

    ``datasets`` (5.x) interleaves up to ``max_buffer_input_shards`` parquet shards per worker
    through ``CyclingMultiSourcesExamplesIterable``, whose ``finally`` sleeps
    ``datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN`` (5 s) after every pass over parquet
    sources. We shuffle with ``max_buffer_input_shards=1``: the shard order is still shuffled
    (seed + epoch), each worker has its own buffer of ``buffer_size`` trials, and no interleaving
    wrapper (nor its sleep) is built. The shuffle happens before the node split with the same
    seed on every rank, so ranks stay disjoint while ``set_epoch`` reshuffles across ranks.

    ``format`` is applied here because ``with_format`` returns a new dataset whose epoch starts at
    0: call ``set_epoch`` on the object this returns, the one given to the DataLoader.
    """
    check_shard_plan(ds.num_shards, world_size, num_workers)
    if format is not None:
        ds = ds.with_format(format)
    if shuffle:
        ds = ds.shuffle(seed=seed, buffer_size=buffer_size, **one_input_shard(ds))
    if world_size > 1:
        from datasets.distributed import split_dataset_by_node

        ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)
    return ds


class BatchDecodedStream(torch.utils.data.IterableDataset):
    """Rows of a streaming dataset, decoded ``decode_batch`` trials at a time (same rows, faster).

    ``datasets`` formats a streaming dataset row by row (about 0.7 ms of overhead per trial);
    ``IterableDataset.iter(batch_size)`` formats whole Arrow batches at once. ``iter`` does not
    split work over DataLoader workers, so each worker takes ``ds.shard(num_workers, worker_id)``
    first (whole shards, as ``datasets`` does; the shard count must be a multiple of
    ``world_size * num_workers``, see :func:`check_shard_plan`) and carries the epoch over.
    Every trial is still seen exactly once per epoch over all ranks and workers.
    """

    def __init__(self, ds: Any, decode_batch: int = 16) -> None:
        self.ds, self.decode_batch = ds, decode_batch

    def set_epoch(self, epoch: int) -> None:
        self.ds.set_epoch(epoch)

    def _source(self) -> Any:
        info = torch.utils.data.get_worker_info()
        if info is None or info.num_workers == 1:
            return self.ds
        if self.ds.num_shards % info.num_workers:
            raise ValueError(f"{self.ds.num_shards} shards cannot be split over {info.num_workers} workers")
        sub = self.ds.shard(num_shards=info.num_workers, index=info.id, contiguous=False)
        sub.set_epoch(self.ds.epoch)
        return sub

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self._source().iter(batch_size=self.decode_batch):
            cols = list(batch)
            for i in range(len(batch[cols[0]])):
                yield {c: batch[c][i] for c in cols}


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
    "trial_windows",
    "window_starts",
    "aggregate_windows",
    "prepare_stream",
    "one_input_shard",
    "check_shard_plan",
    "suggest_num_shards",
    "seed_everything",
    "BatchDecodedStream",
    "DEFAULT_FEATURES",
]
