"""Streaming for DDP through ``datasets``' own streaming mode: one shard-count rule and
:func:`prepare_stream` (shuffle and split per rank without the end-of-pass stall).

:class:`felt_hf.training.stream.FeltStream` is the recommended path (faster, no threads); this
module serves ``load_dataset(..., streaming=True)`` users and the hub without a local copy.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from ..layout import plan_num_shards
from .args import rank_in, seed_number, whole

try:
    import torch
    import torch.utils.data
except ImportError as _e:  # say which extra brings it
    from ..extras import MissingExtraError

    raise MissingExtraError("felt_hf.training.distributed", "torch") from _e


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
    worker reads whole shards. The converter's rule (:func:`felt_hf.layout.plan_num_shards`) with
    the lcm of those products as the multiple: the smallest multiple with at most
    ``max_rows_per_shard`` rows per shard, but never more shards than rows (and at least one).
    """
    num_rows = whole("num_rows", num_rows, 0)
    max_rows_per_shard = whole("max_rows_per_shard", max_rows_per_shard)
    unit = math.lcm(*(whole("world_sizes", w) * whole("workers", k) for w in world_sizes for k in workers))
    return max(1, plan_num_shards(num_rows, max_rows_per_shard, unit))


def check_shard_plan(num_shards: int, world_size: int = 1, num_workers: int = 0) -> None:
    """Raise if ranks or workers would not each get whole, equal numbers of shards.

    The counts are checked as :func:`prepare_stream` checks them: ``world_size=0`` had been a
    ZeroDivisionError and ``num_workers=-1`` had passed as one worker.
    """
    num_shards = whole("num_shards", num_shards, 0)
    world_size = whole("world_size", world_size, 1)
    num_workers = whole("num_workers", num_workers, 0)
    parts = world_size * max(1, num_workers)
    if num_shards % world_size:
        raise ValueError(
            f"{num_shards} shards cannot be split evenly over {world_size} ranks; convert with a shard count "
            f"divisible by {world_size} (felt_hf.training.suggest_num_shards) or try ds.reshard()"
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
    import datasets
    from datasets.formatting import get_formatter

    if not isinstance(ds, datasets.IterableDataset):
        raise TypeError(
            f"prepare_stream takes one split of a streaming dataset (load_dataset(..., split=..., streaming=True)), "
            f"not {type(ds).__name__}"
        )
    rank, world_size = rank_in(rank, world_size)
    num_workers = whole("num_workers", num_workers, 0)
    buffer_size = whole("buffer_size", buffer_size, 1)
    seed = seed_number("seed", seed)
    if format is not None:
        get_formatter(format)  # an unknown format: datasets' own message, now rather than at the first row
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
    first (whole shards, round-robin, as ``datasets`` does; shares are equal when the shard count
    is a multiple of ``world_size * num_workers``, see :func:`check_shard_plan`) and carries the
    epoch over. Every trial is still seen exactly once per epoch over all ranks and workers.
    """

    def __init__(self, ds: Any, decode_batch: int = 16) -> None:
        self.ds, self.decode_batch = ds, whole("decode_batch", decode_batch, 1)

    def set_epoch(self, epoch: int) -> None:
        self.ds.set_epoch(epoch)

    def _source(self) -> Any | None:
        """This worker's shards, dealt round-robin as ``datasets`` deals them to its own workers
        (shards ``id, id + num_workers, ...``): unequal shares when the count does not divide,
        ``None`` for a worker beyond the shard count. A worker count that did not divide the
        shards had failed at the first row, inside a worker."""
        info = torch.utils.data.get_worker_info()
        if info is None or info.num_workers == 1:
            return self.ds
        if info.id >= self.ds.num_shards:
            return None
        sub = self.ds.shard(num_shards=info.num_workers, index=info.id, contiguous=False)
        sub.set_epoch(self.ds.epoch)
        return sub

    def __iter__(self) -> Iterator[dict[str, Any]]:
        source = self._source()
        if source is None:
            return
        for batch in source.iter(batch_size=self.decode_batch):
            cols = list(batch)
            for i in range(len(batch[cols[0]])):
                yield {c: batch[c][i] for c in cols}


__all__ = ["prepare_stream", "one_input_shard", "check_shard_plan", "suggest_num_shards", "BatchDecodedStream"]
