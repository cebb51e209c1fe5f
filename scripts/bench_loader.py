#!/usr/bin/env python
"""Loader throughput: FELT trials/s and frames/s into collated batches, against raw parquet decode.

    python scripts/bench_loader.py --data felt_hub --config smoothed_speech --split train
    python scripts/bench_loader.py --synthetic 20     # 24 actors x 20 synthetic speech trials

The reference is ``pyarrow.parquet`` decoding the same columns of the same files into numpy
buffers (no per-trial objects, no batching): the floor any loader pays. Each loader produces
``FeltCollator`` batches (features tensor, mask, labels) through a torch DataLoader, map-style
(``load_dataset``, memory-mapped Arrow cache), streaming (``load_dataset(streaming=True)``,
parquet read on the fly) and ``felt_hf.stream.FeltStream`` (the same files, row group by row
group, zero-copy rows), with 0 and 2 workers. Each configuration runs ``--passes`` times; the best pass is reported (the first pays
for worker start-up). Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from felt_hf.schema import FRAME_ARRAYS_BY_NAME
from felt_hf.stream import FeltStream
from felt_hf.torch import BatchDecodedStream, FeltCollator, prepare_stream


def _flat_numpy(arr: pa.ChunkedArray) -> np.ndarray:
    """Decode a (nested) list column down to its flat numpy values, as a loader must."""
    arr = arr.combine_chunks()
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        arr = arr.flatten()
    return arr.to_numpy(zero_copy_only=False)


def bench_raw(files: list[str], columns: list[str], frame_feature: str) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    trials = frames = 0
    width = FRAME_ARRAYS_BY_NAME[frame_feature].width
    for f in files:
        table = pq.read_table(f, columns=columns)
        for name in columns:
            values = _flat_numpy(table.column(name))
            if name == frame_feature:
                frames += len(values) // width
        trials += table.num_rows
    return trials, frames, time.perf_counter() - t0


def bench_loader(ds, collate: FeltCollator, batch_size: int, workers: int, passes: int) -> list[tuple[int, int, float]]:
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, collate_fn=collate, num_workers=workers, persistent_workers=workers > 0
    )
    out = []
    for epoch in range(passes):
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(epoch)
        t0 = time.perf_counter()
        trials = frames = 0
        for b in loader:
            trials += b["features"].shape[0]
            frames += int(b["lengths"].sum())
        out.append((trials, frames, time.perf_counter() - t0))
    return out


def synthetic_hub(workdir: Path, trials_per_actor: int) -> Path:
    from felt_hf.convert import convert_felt
    from felt_hf.synth import write_archives

    raw, hub = workdir / "archives", workdir / "hub"
    write_archives(raw, channels=("speech",), variants=("smoothed",), trials_per_actor=trials_per_actor, progress=False)
    convert_felt(raw, hub, configs=["smoothed_speech"], progress=False)
    return hub


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path)
    p.add_argument("--synthetic", type=int, default=0, help="build 24 actors x N synthetic speech trials")
    p.add_argument("--config", default="smoothed_speech")
    p.add_argument("--split", default="train")
    p.add_argument("--features", default="landmarks,action_units")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--workers", default="0,2")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="felt-bench-") as tmp:
        folder = args.data if args.data else synthetic_hub(Path(tmp), args.synthetic or 20)
        return run(args, folder)


def run(args, folder: Path) -> int:
    from datasets import load_dataset

    files = sorted(glob.glob(os.path.join(folder, args.config, f"{args.split}-*.parquet")))
    if not files:
        raise SystemExit(f"no {args.config}/{args.split}-*.parquet under {folder}")
    collate = FeltCollator(args.features.split(","), max_frames=None, crop="start")
    cols = collate.columns
    rows: list[tuple[str, int, int, float]] = []
    n, f, s = min((bench_raw(files, cols, collate.features[0]) for _ in range(args.passes)), key=lambda r: r[2])
    rows.append(("pyarrow.parquet decode (reference)", n, f, s))
    # columns= pushes the projection into the parquet reader: the 512-d embedding is never decoded.
    mapped = load_dataset(str(folder), args.config, split=args.split, columns=cols).with_format("numpy")
    stream = load_dataset(str(folder), args.config, split=args.split, streaming=True, columns=cols)
    for w in (int(x) for x in args.workers.split(",")):
        best = min(bench_loader(mapped, collate, args.batch_size, w, args.passes), key=lambda r: r[2])
        rows.append((f"map-style, {w} workers", *best))
        plain = stream.with_format("numpy")
        best = min(bench_loader(plain, collate, args.batch_size, w, args.passes), key=lambda r: r[2])
        rows.append((f"streaming, {w} workers", *best))
        if stream.num_shards % max(1, w) == 0:
            shuffled = prepare_stream(stream, num_workers=w, seed=0, buffer_size=64)
            best = min(bench_loader(shuffled, collate, args.batch_size, w, args.passes), key=lambda r: r[2])
            rows.append((f"streaming + prepare_stream shuffle, {w} workers", *best))
            fast = BatchDecodedStream(shuffled, decode_batch=16)
            best = min(bench_loader(fast, collate, args.batch_size, w, args.passes), key=lambda r: r[2])
            rows.append((f"streaming + shuffle + BatchDecodedStream, {w} w", *best))
        for shuffle in (False, True):
            fs = FeltStream(files, columns=cols, shuffle=shuffle, seed=0, buffer_size=64)
            best = min(bench_loader(fs, collate, args.batch_size, w, args.passes), key=lambda r: r[2])
            rows.append((f"FeltStream{' shuffled' if shuffle else ''}, {w} workers", *best))
    ref = rows[0][1] / rows[0][3]
    print(f"\n{folder} {args.config}/{args.split}: {len(files)} shard(s), columns {cols}, batch {args.batch_size}")
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    print(f"{'loader':<48} {'trials':>7} {'frames':>8} {'trials/s':>10} {'frames/s':>11} {'x decode':>9}")
    for name, n, f, s in rows:
        print(f"{name:<48} {n:>7} {f:>8} {n / s:>10.0f} {f / s:>11.0f} {n / s / ref:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
