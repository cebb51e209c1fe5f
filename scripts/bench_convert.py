#!/usr/bin/env python
"""Conversion benchmark: `felt-hf convert` against the hardware limit and the naive baseline.

    python scripts/bench_convert.py                      # 4 actors (1/6 of FELT), all four configs
    python scripts/bench_convert.py --actors 1-24        # full size: 2452 trials x raw + smoothed

Makes FELT-shaped archives with felt_hf.synth (zlib level 6, like a normal zip tool), then
measures, in one run and on the same bytes:

  (a) limit  - inflate every member (zlib, as `unzip -p`) and parse it with pyarrow's CSV reader,
               explicit float32 column types, one thread per process, both cores busy;
  (b) naive  - extract the archives to disk and `pandas.read_csv` each CSV in one process, as the
               scripts that produced FELT do;
  (c) felt-hf convert (all cores) into the hub layout. With the ``fast`` extra (ISA-L) installed
      it inflates faster than zlib, so it is also run with FELT_HF_INFLATE=zlib: the same
      inflater as (a), for a like-for-like ratio.

For each it prints wall time and the peak resident memory of the whole process tree (sampled),
then c/a (target <= 1.5) and b/c (target >= 5). Then the read side: trials/s and frames/s
iterating load_dataset(out, "smoothed_speech") with_format("numpy"), map-style and streaming,
against pyarrow.parquet.read_table of the same files. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_measured(code: str, label: str, env: dict | None = None) -> dict:
    """Run `code` in a fresh interpreter; wall time and sampled peak tree RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **(env or {})})
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    rc = proc.wait()
    done.set()
    thread.join()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{label} failed with exit code {rc}")
    print(f"  {label:<8} {wall:8.1f} s   peak RSS {peak / 1024:7.0f} MB", flush=True)
    return {"wall_s": wall, "peak_rss_mb": peak / 1024}


LIMIT = r"""
import multiprocessing as mp, zipfile, sys
import pyarrow as pa, pyarrow.csv as pacsv
from felt_hf.sources import list_members
from felt_hf.csv_reader import dedupe_header
from felt_hf.schema import IDENTITY_LABEL_COLUMN, INPUT_COLUMN, APPROX_TIME_COLUMN
STRINGS = {IDENTITY_LABEL_COLUMN, INPUT_COLUMN, APPROX_TIME_COLUMN}
def work(job):
    path, names = job
    zf, n = zipfile.ZipFile(path), 0
    for name in names:
        data = zf.read(name)
        header = dedupe_header(data[: data.index(b"\n")].decode().rstrip("\r").split(","))
        types = {c: pa.float32() for c in header if c not in STRINGS}
        t = pacsv.read_csv(pa.BufferReader(data), read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
                           convert_options=pacsv.ConvertOptions(column_types=types))
        n += t.num_rows
    return n
if __name__ == "__main__":
    jobs = []
    for z in sys.argv[1:]:
        names = [m.member for m in list_members(z)]
        jobs += [(z, names[i::2]) for i in range(2)]
    with mp.Pool(2) as pool:
        print("    limit parsed", sum(pool.map(work, jobs)), "rows")
"""

NAIVE = r"""
import glob, os, sys, zipfile
import pandas as pd
out, n = sys.argv[1], 0
for z in sys.argv[2:]:
    with zipfile.ZipFile(z) as zf:
        zf.extractall(out)
for path in sorted(glob.glob(os.path.join(out, "**", "*.csv"), recursive=True)):
    if "__MACOSX" in path or os.path.basename(path).startswith("._"):
        continue
    n += len(pd.read_csv(path))
print("    naive read", n, "rows")
"""

CONVERT = r"""
import sys
from felt_hf.convert import convert_felt
convert_felt(sys.argv[1], sys.argv[2], progress=False)
"""


def _argv_code(code: str, argv: list[str]) -> str:
    return f"import sys; sys.argv = {['-c', *argv]!r}\n" + code


def bench_read(out: Path, config: str = "smoothed_speech") -> dict:
    import pyarrow.parquet as pq
    from datasets import load_dataset

    files = sorted(str(p) for p in (out / config).glob("*.parquet"))
    t0 = time.perf_counter()
    trials = frames = 0
    for f in files:
        t = pq.read_table(f)
        trials += t.num_rows
        frames += sum(t.column("num_frames").to_pylist())
    res = {"pyarrow.read_table": time.perf_counter() - t0}
    cache = tempfile.mkdtemp(prefix="felt-bench-cache-")
    ds = load_dataset(str(out), config, cache_dir=cache)
    from felt_hf.stream import FeltStream

    # Files are resolved (card YAML, footers) before the clock starts: only iterating is timed.
    sources = {
        "map-style numpy": [split.with_format("numpy") for split in ds.values()],
        "FeltStream": [FeltStream.from_folder(str(out), config, split) for split in ds],
        "streaming numpy": [s.with_format("numpy") for s in load_dataset(str(out), config, streaming=True).values()],
    }
    for label, splits in sources.items():
        t0 = time.perf_counter()
        n = sum(1 for split in splits for _ in split)
        res[label] = time.perf_counter() - t0
        assert n == trials, (label, n, trials)
    shutil.rmtree(cache, ignore_errors=True)
    print(f"  read side ({config}: {trials} trials, {frames} frames, all columns):")
    base = res["pyarrow.read_table"]
    for label, secs in res.items():
        print(
            f"    {label:<20} {trials / secs:8.0f} trials/s {frames / secs:10.0f} frames/s  {base / secs:5.2f}x read_table"
        )
    return {k: {"seconds": v, "trials_per_s": trials / v, "frames_per_s": frames / v} for k, v in res.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--actors", default="1-4", help="actors to generate (default 1-4, 1/6 of FELT; 1-24 = full)")
    p.add_argument("--workdir", help="keep archives and outputs here (default: a temporary folder)")
    p.add_argument("--compresslevel", type=int, default=6)
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--read-only", action="store_true", help="only the read side, on WORKDIR/felt from an earlier run")
    args = p.parse_args()
    if args.read_only:
        if not args.workdir:
            p.error("--read-only needs --workdir")
        bench_read(Path(args.workdir) / "felt")
        return 0

    from felt_hf.synth import write_archives

    from felt_hf.cli import _int_list

    work = Path(args.workdir or tempfile.mkdtemp(prefix="felt-bench-"))
    archives = work / "archives"
    if not archives.exists() or not any(archives.glob("*.zip")):
        t0 = time.perf_counter()
        write_archives(archives, actors=_int_list(args.actors), compresslevel=args.compresslevel, progress=False)
        print(f"generated archives for actors {args.actors} in {time.perf_counter() - t0:.0f} s")
    zips = sorted(str(z) for z in archives.glob("*.zip"))
    zip_mb = sum(os.path.getsize(z) for z in zips) / 1e6
    import zipfile

    csv_mb = sum(i.file_size for z in zips for i in zipfile.ZipFile(z).infolist() if i.filename.endswith(".csv")) / 1e6
    print(f"input: {len(zips)} archives, {zip_mb:.0f} MB zipped, {csv_mb:.0f} MB of CSV; {os.cpu_count()} cores")

    results: dict = {"actors": args.actors, "zip_mb": zip_mb, "csv_mb": csv_mb}
    extracted, out = work / "extracted", work / "felt"
    shutil.rmtree(extracted, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    results["a_limit"] = run_measured(_argv_code(LIMIT, zips), "(a) limit")
    results["b_naive"] = run_measured(_argv_code(NAIVE, [str(extracted), *zips]), "(b) naive")
    from felt_hf.inflate import ENV_VAR, fast_inflate

    if fast_inflate():  # the same conversion with zlib's inflate, as (a) uses: the like-for-like ratio
        shutil.rmtree(out, ignore_errors=True)
        code = _argv_code(CONVERT, [str(archives), str(out)])
        results["c_convert_zlib"] = run_measured(code, "(c) zlib", env={ENV_VAR: "zlib"})
        shutil.rmtree(out, ignore_errors=True)
    label = "(c) convert" + (" (ISA-L inflate)" if fast_inflate() else "")
    results["c_convert"] = run_measured(_argv_code(CONVERT, [str(archives), str(out)]), label)
    a, b, c = (results[k]["wall_s"] for k in ("a_limit", "b_naive", "c_convert"))
    results["c_over_a"], results["b_over_c"] = c / a, b / c
    print(f"  c/a = {c / a:.2f} (target <= 1.5)   b/c = {b / c:.2f} (target >= 5)")
    if "c_convert_zlib" in results:
        cz = results["c_convert_zlib"]["wall_s"]
        results["c_zlib_over_a"] = cz / a
        print(f"  with zlib's inflate, as (a) uses: c/a = {cz / a:.2f}, b/c = {b / cz:.2f}")
    print(
        f"  convert: {csv_mb / c:.0f} MB/s of CSV, peak RSS {results['c_convert']['peak_rss_mb']:.0f} MB (target < 1500)"
    )
    out_mb = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 1e6
    print(f"  output: {out_mb:.0f} MB of parquet ({out_mb / csv_mb:.1%} of the CSV text)")
    results["parquet_mb"] = out_mb
    results["read"] = bench_read(out)
    shutil.rmtree(extracted, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
