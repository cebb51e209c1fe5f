#!/usr/bin/env python
"""Loader throughput: FELT trials/s and frames/s into collated batches, against raw parquet decode.

    python scripts/bench_loader.py --data felt_hub --config smoothed_speech --split train
    python scripts/bench_loader.py --synthetic 20     # 24 actors x 20 synthetic speech trials

The reference is ``pyarrow.parquet`` decoding the same columns of the same files into numpy
buffers (no per-trial objects, no batching): the floor any loader pays. Each loader produces
``FeltCollator`` batches (features tensor, mask, labels) through a torch DataLoader, map-style
(``load_dataset``, memory-mapped Arrow cache), streaming (``load_dataset(streaming=True)``,
parquet read on the fly) and ``felt_hf.training.stream.FeltStream`` (the same files, blocks of row
groups, zero-copy rows), with 0 and 2 workers. Each configuration runs ``--passes`` times, each
pass right after a fresh reference decode: the ratio reported is the median over the passes
after the first (which pays for worker start-up) of loader rate / reference rate, so drift on a
shared machine cancels out; rates are from the best pass. Prints a table; nothing is asserted.
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

from felt_hf.argtypes import OneLineParser, input_path, positive_int
from felt_hf.schema import FRAME_ARRAYS_BY_NAME
from felt_hf.training import BatchDecodedStream, FeltCollator, prepare_stream
from felt_hf.training.stream import FeltStream


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


def bench_loader(
    ds, collate: FeltCollator, batch_size: int, workers: int, passes: int, reference
) -> list[tuple[tuple[int, int, float], float]]:
    """Each pass of the loader, paired with a reference decode timed just before it.

    The machine is shared and its speed drifts over minutes; pairing each loader pass with a
    fresh reference keeps the ratio honest whatever the drift. Returns ``(pass, ratio)`` items.
    """
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, collate_fn=collate, num_workers=workers, persistent_workers=workers > 0
    )
    out = []
    for epoch in range(passes):
        ref_trials, _, ref_secs = reference()
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(epoch)
        t0 = time.perf_counter()
        trials = frames = 0
        for b in loader:
            trials += b["features"].shape[0]
            frames += int(b["lengths"].sum())
        secs = time.perf_counter() - t0
        out.append(((trials, frames, secs), (trials / secs) / (ref_trials / ref_secs)))
    return out


def summarise(name: str, runs: list) -> tuple[str, int, int, float, float]:
    """Best pass for the rates; median ratio over the passes after the first (worker start-up)."""
    (n, f, s), _ = min(runs, key=lambda r: r[0][2])
    ratios = [r for _, r in (runs[1:] if len(runs) > 1 else runs)]
    return name, n, f, s, float(np.median(ratios))


def synthetic_hub(workdir: Path, trials_per_actor: int) -> Path:
    from felt_hf.build.convert import convert_felt
    from felt_hf.synthetic.archives import write_archives

    raw, hub = workdir / "archives", workdir / "hub"
    write_archives(raw, channels=("speech",), variants=("smoothed",), trials_per_actor=trials_per_actor, progress=False)
    convert_felt(raw, hub, configs=["smoothed_speech"], progress=False)
    return hub


def _counts(text: str) -> str:
    """``--workers``: whole numbers from 0, comma-separated (checked here, one line, kept as text)."""
    try:
        ok = all(int(t) >= 0 for t in text.split(","))
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r}: expected worker counts from 0, e.g. 0,2")
    return text


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=lambda t: Path(input_path(t)))
    p.add_argument("--synthetic", type=positive_int, default=20, help="build 24 actors x N synthetic speech trials")
    p.add_argument("--config", default="smoothed_speech")
    p.add_argument("--split", default="train")
    p.add_argument("--features", default="landmarks,action_units")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--passes", type=positive_int, default=2)
    p.add_argument("--workers", default="0,2", type=_counts)
    p.add_argument("--skip-datasets-streaming", action="store_true", help="only map-style and FeltStream")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="felt-bench-") as tmp:
        folder = args.data if args.data else synthetic_hub(Path(tmp), args.synthetic)
        return run(args, folder)


def run(args, folder: Path) -> int:
    from datasets import load_dataset

    files = sorted(glob.glob(os.path.join(folder, args.config, f"{args.split}-*.parquet")))
    if not files:
        raise SystemExit(f"no {args.config}/{args.split}-*.parquet under {folder}")
    collate = FeltCollator(args.features.split(","), max_frames=None, crop="start")
    cols = collate.columns
    rows: list[tuple[str, int, int, float, float]] = []

    def reference() -> tuple[int, int, float]:
        return bench_raw(files, cols, collate.features[0])

    n, f, s = min((reference() for _ in range(args.passes)), key=lambda r: r[2])
    rows.append(("pyarrow.parquet decode (reference)", n, f, s, 1.0))
    # columns= pushes the projection into the parquet reader: the 512-d embedding is never decoded.
    mapped = load_dataset(str(folder), args.config, split=args.split, columns=cols).with_format("numpy")
    stream = load_dataset(str(folder), args.config, split=args.split, streaming=True, columns=cols)

    def measure(name: str, ds, workers: int) -> None:
        rows.append(summarise(name, bench_loader(ds, collate, args.batch_size, workers, args.passes, reference)))

    for w in (int(x) for x in args.workers.split(",")):
        measure(f"map-style, {w} workers", mapped, w)
        if not args.skip_datasets_streaming:
            measure(f"streaming, {w} workers", stream.with_format("numpy"), w)
            if stream.num_shards % max(1, w) == 0:
                shuffled = prepare_stream(stream, num_workers=w, seed=0, buffer_size=64)
                measure(f"streaming + prepare_stream shuffle, {w} workers", shuffled, w)
                fast = BatchDecodedStream(shuffled, decode_batch=16)
                measure(f"streaming + shuffle + BatchDecodedStream, {w} w", fast, w)
        for shuffle in (False, True):
            fs = FeltStream(files, columns=cols, shuffle=shuffle, seed=0, buffer_size=64)
            measure(f"FeltStream{' shuffled' if shuffle else ''}, {w} workers", fs, w)
    print(f"\n{folder} {args.config}/{args.split}: {len(files)} shard(s), columns {cols}, batch {args.batch_size}")
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}; {args.passes} passes")
    print("x decode: median over passes (after the first) of loader rate / reference rate timed just before")
    print(f"{'loader':<48} {'trials':>7} {'frames':>8} {'trials/s':>10} {'frames/s':>11} {'x decode':>9}")
    for name, n, f, s, ratio in rows:
        print(f"{name:<48} {n:>7} {f:>8} {n / s:>10.0f} {f / s:>11.0f} {ratio:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
