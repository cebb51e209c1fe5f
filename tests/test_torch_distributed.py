"""Streaming for DDP: 2 ranks x 2 workers see every trial exactly once per epoch, reshuffled, no stall."""

from __future__ import annotations

import time

import pytest
import torch
from datasets import load_dataset

from felt_hf.training import BatchDecodedStream, FeltCollator, check_shard_plan, prepare_stream

WORLD, WORKERS = 2, 2


@pytest.fixture(scope="module")
def hub(felt_fake, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub_ddp")
    rows = felt_fake.write_hub(out, shards={"train": 8, "validation": 2, "test": 2}, per_actor=4, frames=(8, 20))
    return out, sorted(r["trial_id"] for r in rows["train"])


def _epoch_ids(loaders, epoch):
    per_rank = []
    for ds, loader in loaders:
        ds.set_epoch(epoch)
        per_rank.append([t for b in loader for t in b["trial_id"]])
    return per_rank


@pytest.mark.parametrize("batch_decoded", [False, True])
def test_two_ranks_two_workers_exactly_once(hub, batch_decoded):
    folder, expected = hub
    stream = load_dataset(str(folder), "smoothed_speech", split="train", streaming=True)
    collate = FeltCollator(["action_units"], max_frames=8)
    loaders = []
    for rank in range(WORLD):
        ds = prepare_stream(stream, rank=rank, world_size=WORLD, num_workers=WORKERS, seed=3, buffer_size=4)
        if batch_decoded:
            ds = BatchDecodedStream(ds, decode_batch=3)
        loaders.append((ds, torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate, num_workers=WORKERS)))
    orders = []
    for epoch in range(2):
        t0 = time.perf_counter()
        per_rank = _epoch_ids(loaders, epoch)
        elapsed = time.perf_counter() - t0
        seen = per_rank[0] + per_rank[1]
        assert sorted(seen) == expected, f"epoch {epoch}: each trial exactly once over all ranks"
        assert not set(per_rank[0]) & set(per_rank[1])
        assert abs(len(per_rank[0]) - len(per_rank[1])) <= 4  # whole shards, equal shard counts
        assert elapsed < 4.5, f"epoch took {elapsed:.1f}s: the 5 s end-of-pass sleep is back"
        orders.append(per_rank)
    assert orders[0] != orders[1], "set_epoch must reshuffle"


def test_same_seed_same_order(hub):
    folder, _ = hub
    stream = load_dataset(str(folder), "smoothed_speech", split="train", streaming=True)
    runs = []
    for _ in range(2):
        ds = prepare_stream(stream, rank=1, world_size=WORLD, seed=11, buffer_size=4)
        ds.set_epoch(1)
        runs.append([r["trial_id"] for r in ds])
    assert runs[0] == runs[1] and len(runs[0]) > 0


def test_shard_plan_is_checked():
    check_shard_plan(8, 2, 2)
    with pytest.raises(ValueError, match="ranks"):
        check_shard_plan(7, 2, 0)
    with pytest.warns(UserWarning, match="unequal"):
        check_shard_plan(6, 2, 2)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((8, 0), "world_size must be a whole number >= 1, not 0"),
        ((8, 1, -1), "num_workers must be a whole number >= 0, not -1"),
        ((8, 2.0), "world_size must be a whole number >= 1, not 2.0"),
        ((-8, 2), "num_shards must be a whole number >= 0, not -8"),
    ],
)
def test_shard_plan_refuses_bad_counts_as_prepare_stream_does(args, says):
    """world_size=0 had been a ZeroDivisionError and num_workers=-1 had been accepted."""
    with pytest.raises(ValueError, match=says):
        check_shard_plan(*args)


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"buffer_size": -3}, ValueError, "buffer_size must be a whole number >= 1, not -3"),
        ({"buffer_size": 0}, ValueError, "buffer_size must be a whole number >= 1"),
        ({"num_workers": -1}, ValueError, "num_workers must be a whole number >= 0"),
        ({"world_size": 0}, ValueError, "world_size must be a whole number >= 1"),
        ({"rank": 5, "world_size": 2}, ValueError, r"rank 5 is not in \[0, 2\)"),
        ({"format": "nump"}, ValueError, "Format type should be one of"),
    ],
)
def test_prepare_stream_refuses_bad_arguments_before_any_row(hub, kwargs, error, says):
    """A negative buffer once yielded 1 trial of 4 without a word; the others failed deep inside."""
    folder, _ = hub
    ds = load_dataset(str(folder), "smoothed_speech", split="train", streaming=True)
    with pytest.raises(error, match=says):
        prepare_stream(ds, **kwargs)


def test_prepare_stream_takes_one_streaming_split(hub):
    folder, _ = hub
    with pytest.raises(TypeError, match="takes one split of a streaming dataset"):
        prepare_stream(load_dataset(str(folder), "smoothed_speech", split="train"))
    with pytest.raises(TypeError, match="not IterableDatasetDict"):
        prepare_stream(load_dataset(str(folder), "smoothed_speech", streaming=True))


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_batch_decoded_stream_needs_a_whole_decode_batch(hub, n):
    folder, _ = hub
    ds = load_dataset(str(folder), "smoothed_speech", split="train", streaming=True)
    with pytest.raises(ValueError, match="decode_batch must be a whole number >= 1"):
        BatchDecodedStream(ds, decode_batch=n)


@pytest.mark.parametrize(("world", "workers"), [(1, 3), (2, 3), (1, 10)])
def test_batch_decoded_stream_with_unequal_worker_shares_sees_each_trial_once(hub, world, workers):
    """8 shards over 3 workers had failed at the first row, inside a worker ("cannot be split")."""
    folder, expected = hub
    stream = load_dataset(str(folder), "smoothed_speech", split="train", streaming=True, columns=["trial_id"])
    seen = []
    for rank in range(world):
        with pytest.warns(UserWarning, match="unequal"):
            ds = prepare_stream(stream, rank=rank, world_size=world, num_workers=workers, seed=3, buffer_size=4)
        ds = BatchDecodedStream(ds, decode_batch=3)
        ds.set_epoch(1)
        seen += [r["trial_id"] for r in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)]
    assert sorted(seen) == expected
