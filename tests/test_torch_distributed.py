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
