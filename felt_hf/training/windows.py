"""Sliding windows over trials (map-style and streaming) and the per-trial mean of window logits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

try:
    import torch
    import torch.utils.data
except ImportError as _e:  # say which extra brings it
    from ..extras import MissingExtraError

    raise MissingExtraError("felt_hf.training.windows", "torch") from _e

from .args import whole
from .collate import PER_FRAME_COLUMNS, _strided_indices


# --- sliding windows -----------------------------------------------------------------------------
def window_starts(num_frames: int, window: int, hop: int | None = None, frame_stride: int = 1) -> list[int]:
    """First frame of each window over a trial; the last window is aligned to the trial's end.

    Windows are ``window`` frames long after taking every ``frame_stride``-th frame; a trial
    shorter than one window gives a single window at 0 (the collator pads it).
    """
    window, frame_stride = whole("window", window), whole("frame_stride", frame_stride)
    hop = window if hop is None else whole("hop", hop)
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
        names = getattr(ds, "column_names", None)
        if names is not None and "num_frames" not in names:  # (datasets: "Column 'num_frames' doesn't exist")
            raise ValueError(f"trial_windows needs the num_frames column, from which it indexes the windows without "
                             f"decoding a frame; the dataset has {list(names)}: load it too (FeltCollator.columns "
                             "includes it)")  # fmt: skip
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
    window, frame_stride = whole("window", window), whole("frame_stride", frame_stride)
    hop = None if hop is None else whole("hop", hop)  # checked now, not at the stream's first row
    if isinstance(ds, torch.utils.data.IterableDataset) or not hasattr(ds, "__getitem__"):
        return _WindowedStream(ds, window, hop, frame_stride)
    return _WindowedMap(ds, window, hop, frame_stride)


def aggregate_windows(logits: torch.Tensor, keys: Sequence[Any]) -> tuple[list[Any], torch.Tensor]:
    """Mean of the window logits of each trial; keys in first-seen order."""
    if logits.ndim != 2 or len(keys) != logits.shape[0]:
        raise ValueError(
            f"logits must be (windows, classes) with one key per window: got shape {tuple(logits.shape)} and "
            f"{len(keys)} key(s)"
        )
    order: dict[Any, int] = {}
    ids = torch.tensor([order.setdefault(k, len(order)) for k in keys], dtype=torch.int64, device=logits.device)
    sums = torch.zeros(len(order), logits.shape[-1], dtype=logits.dtype, device=logits.device)
    sums.index_add_(0, ids, logits)
    counts = torch.bincount(ids, minlength=len(order)).to(logits.dtype).unsqueeze(1)
    return list(order), sums / counts


__all__ = ["trial_windows", "window_starts", "aggregate_windows"]
