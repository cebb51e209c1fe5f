#!/usr/bin/env python
"""Conversion benchmark: `felt-hf convert` against the fastest inflate + parse route on the same bytes.

    python scripts/bench_convert.py                      # 4 actors (1/6 of FELT), all four configs
    python scripts/bench_convert.py --actors 1-24        # full size: 2452 trials x raw + smoothed
    python scripts/bench_convert.py --actors 1-24 --workdir W --generate-only   # archives only, kept in W

Makes FELT-shaped archives with felt_hf.synth (zlib level 6, like a normal zip tool), then
measures in one run, on the same archives, each route in a fresh interpreter with a process pool
of --num-proc workers (default: all cores), one thread per process (POLARS_MAX_THREADS=1,
pyarrow use_threads=False) and the converter's allocator settings (felt_hf.workers,
Arrow's system memory pool), members handed out in chunks so every core stays busy:

  inflate-isal     ISA-L inflate of every CSV member, nothing else
  inflate-zlib     zlib inflate (zipfile, as `unzip -p`)
  isal+pyarrow     ISA-L inflate + pyarrow read_csv, explicit float32 column types
  isal+polars      ISA-L inflate + polars read_csv, schema with Float32 columns
  isal+polars-rowgroup   the same, but the files of one header line in each chunk of 8 (the
                   converter's row group) joined and parsed in one read_csv call, as the
                   converter does: polars spends much of a call per column, and a FELT file has
                   about 120 rows of 689 columns
  floor-write      isal+polars-rowgroup, then the parsed float32 values written as compressed parquet
                   as cheaply as it is done here (one fixed-size-list column, BYTE_STREAM_SPLIT +
                   zstd at the converter's level, no statistics or checksums, into memory): not
                   a limit route but the floor of any converter that writes such parquet, so
                   "floor-write / fastest" says how close to the limit a converter can get at all
  naive-pandas     zlib inflate + pandas.read_csv (float64), what FELT's own scripts do
  convert          felt-hf convert (its entry point, --num-proc = the same worker count) into the hub layout:
                   parse, statistics, parquet, card

Each route is timed --repeat times (routes interleaved within a repetition; medians printed):
wall, MB/s of CSV text, CPU seconds of the whole process tree (less sensitive to a shared
machine than wall), peak RSS of the process tree (sampled every 50 ms). Then the ratios
convert / fastest inflate+parse route (wall and CPU) and naive / convert. With more than one
--num-proc value (default "1,<cores>"), the fastest parse route and convert are also timed at
the other worker counts, for throughput against cores. Then (unless --no-read) the read side:
trials/s iterating the converted smoothed_speech with load_dataset, FeltStream and streaming.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from felt_hf.argtypes import OneLineParser, actor_list, folder_path, positive_int, seed_int
from felt_hf.build.convert import ZSTD_LEVEL

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


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_measured(code: str, label: str, env: dict | None = None) -> dict:
    """Run `code` in a fresh interpreter: wall time, CPU time of the process tree, sampled peak tree RSS."""
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
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
    wall, cpu = time.perf_counter() - t0, _children_cpu_s() - cpu0
    if rc != 0:
        raise SystemExit(f"{label} failed with exit code {rc}")
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 1024}


# One script for every inflate/parse route: argv = route, workers, archives...
ROUTE = r"""
import io, multiprocessing as mp, sys, zipfile
route, nproc, zips = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
STRINGS = ("Identity", "input", "approx_time")
_zips = {}

def member_bytes(path, name, inflater):
    if path not in _zips:
        _zips[path] = (zipfile.ZipFile(path), open(path, "rb"))
    zf, raw = _zips[path]
    info = zf.getinfo(name)
    if inflater == "zlib":
        return zf.read(info)
    from felt_hf.inflate import read_member
    return read_member(zf, raw, info)

def header(data):
    from felt_hf.csv_reader import dedupe_header
    return dedupe_header(data[: data.index(b"\n")].decode().rstrip("\r").split(","))

def parse_pyarrow(data):
    import pyarrow as pa, pyarrow.csv as pacsv
    names = header(data)
    types = {c: pa.float32() for c in names if c not in STRINGS}
    ro = pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1, block_size=len(data) + 1)
    return pacsv.read_csv(pa.BufferReader(data), read_options=ro, convert_options=pacsv.ConvertOptions(column_types=types)).num_rows

def parse_polars(data):
    import polars as pl
    names = header(data)
    schema = {c: (pl.String if c in STRINGS else pl.Float32) for c in names}
    return pl.read_csv(data, has_header=False, skip_rows=1, schema=schema).height

def group_frames(datas):
    # what the converter does: the files of one header line parsed in one call (a row group of 8)
    import polars as pl
    groups = {}
    for data in datas:
        groups.setdefault(data[: data.index(b"\n") + 1], []).append(data)
    for head, same in groups.items():
        names = header(same[0])
        schema = {c: (pl.String if c in STRINGS else pl.Float32) for c in names}
        text = b"".join([head, *(memoryview(d)[len(head):] for d in same)])
        yield pl.read_csv(text, has_header=False, skip_rows=1, schema=schema)

def parse_polars_groups(datas):
    return sum(df.height for df in group_frames(datas))

def parse_polars_groups_write(datas):
    # the floor of any converter that parses with polars and writes compressed parquet: the parsed
    # float32 values written as cheaply as such parquet is written here, as one fixed-size-list
    # column (no per-column cost: 686 flat columns cost 4x more), BYTE_STREAM_SPLIT + zstd at the
    # converter's level, no statistics, checksums or dictionary, into memory (no file)
    import io, polars as pl, pyarrow as pa, pyarrow.parquet as pq
    rows = 0
    for df in group_frames(datas):
        m = df.select(pl.col(pl.Float32)).to_numpy()
        table = pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), m.shape[1])})
        pq.write_table(table, io.BytesIO(), compression="zstd", compression_level=ZSTD_LEVEL, use_dictionary=False,
                       write_statistics=False, column_encoding={"x.list.element": "BYTE_STREAM_SPLIT"})
        rows += df.height
    return rows

def parse_pandas(data):
    import pandas as pd
    return len(pd.read_csv(io.BytesIO(data)))

ROUTES = {
    "inflate-isal": ("isal", None), "inflate-zlib": ("zlib", None),
    "isal+pyarrow": ("isal", parse_pyarrow), "isal+polars": ("isal", parse_polars),
    "naive-pandas": ("zlib", parse_pandas), "isal+polars-rowgroup": ("isal", parse_polars_groups),
    "floor-write": ("isal", parse_polars_groups_write),
}
GROUPED = {"isal+polars-rowgroup", "floor-write"}

def work(chunk):
    inflater, parse = ROUTES[route]
    if route in GROUPED:
        return parse([member_bytes(path, name, inflater) for path, name in chunk])
    rows = 0
    for path, name in chunk:
        data = member_bytes(path, name, inflater)
        rows += parse(data) if parse else 0
    return rows

if __name__ == "__main__":
    from felt_hf.sources import list_members
    members = [(z, m.member) for z in zips for m in list_members(z)]
    size = 8 if route in GROUPED else 4  # the converter's row group; 4 balances the others' work
    chunks = [members[i : i + size] for i in range(0, len(members), size)]
    from felt_hf.workers import tune_worker_process  # the converter's worker settings, for every route
    with mp.get_context("fork").Pool(nproc, initializer=tune_worker_process) as pool:
        rows = sum(pool.imap_unordered(work, chunks))
    assert route.startswith("inflate") or rows > 0
"""

CONVERT = r"""
import contextlib, io, sys
from felt_hf.cli import main  # the command's own entry, so its settings apply (the Arrow memory pool)
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["convert", sys.argv[1], "--out", sys.argv[2], "--num-proc", sys.argv[3], "--no-progress"])
sys.exit(code)
"""

PARSE_ROUTES = ("isal+pyarrow", "isal+polars", "isal+polars-rowgroup")
FLOOR = "floor-write"  # not a limit route: the parse route plus the cheapest compressed parquet write
# one thread per process, and the allocator settings `felt-hf convert` runs with (Arrow's system
# memory pool here; the glibc thresholds and frozen collector in each route's pool initializer),
# so that no route is slower than it need be for want of a setting the converter has
ROUTE_ENV = {"POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"}


def _argv_code(code: str, argv: list[str]) -> str:
    return f"import sys; sys.argv = {['-c', *argv]!r}\n" + code


def _measure_route(route: str, nproc: int, zips: list[str], archives: Path, out: Path) -> dict:
    if route == "convert":
        shutil.rmtree(out, ignore_errors=True)
        code = _argv_code(CONVERT, [str(archives), str(out), str(nproc)])
    else:
        code = _argv_code(f"ZSTD_LEVEL = {ZSTD_LEVEL}\n" + ROUTE, [route, str(nproc), *zips])
    return run_measured(code, route, env=ROUTE_ENV)


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _print_row(label: str, m: dict, csv_mb: float) -> None:
    print(
        f"  {label:<16} {m['wall_s']:7.2f} s  {csv_mb / m['wall_s']:6.0f} MB/s  cpu {m['cpu_s']:7.2f} s"
        f"  peak RSS {m['peak_rss_mb']:6.0f} MB",
        flush=True,
    )


def bench_routes(routes, nproc: int, repeat: int, zips, archives: Path, out: Path, csv_mb: float) -> dict:
    """Every route ``repeat`` times, interleaved, at ``nproc`` workers; medians."""
    runs: dict[str, list[dict]] = {r: [] for r in routes}
    for i in range(repeat):
        for r in routes:
            runs[r].append(_measure_route(r, nproc, zips, archives, out))
            m = runs[r][-1]
            print(f"    rep {i + 1} {r:<14} {m['wall_s']:7.2f} s  cpu {m['cpu_s']:7.2f} s", flush=True)
    med = {r: _median(v) for r, v in runs.items()}
    print(f"  medians of {repeat}, {nproc} worker process(es), one thread each:")
    for r, m in med.items():
        _print_row(r, m, csv_mb)
    return {"medians": med, "runs": runs}


def ratios(med: dict) -> dict:
    """convert / the fastest inflate+parse route, by wall and by CPU; naive / convert."""
    fastest = min((r for r in PARSE_ROUTES if r in med), key=lambda r: med[r]["wall_s"])
    c = med["convert"]
    out = {
        "fastest_route": fastest,
        "convert_over_fastest_wall": c["wall_s"] / med[fastest]["wall_s"],
        "convert_over_fastest_cpu": c["cpu_s"] / med[fastest]["cpu_s"],
    }
    out["convert_over_each_route"] = {
        r: {"wall": c["wall_s"] / med[r]["wall_s"], "cpu": c["cpu_s"] / med[r]["cpu_s"]}
        for r in PARSE_ROUTES
        if r in med
    }
    if "naive-pandas" in med:
        out["naive_over_convert_wall"] = med["naive-pandas"]["wall_s"] / c["wall_s"]
    if FLOOR in med:  # how far from the fastest route any converter writing compressed parquet stays
        f = med[FLOOR]
        out["floor_over_fastest_wall"] = f["wall_s"] / med[fastest]["wall_s"]
        out["floor_over_fastest_cpu"] = f["cpu_s"] / med[fastest]["cpu_s"]
        out["convert_over_floor_wall"] = c["wall_s"] / f["wall_s"]
    return out


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


STAGES = r"""
import io, pickle, sys, time
import pyarrow.parquet as pq
from felt_hf.convert import ROW_GROUP_ROWS, parquet_writer_options
from felt_hf.csv_fast import read_trial_csv_fast, read_trial_csvs_fast
from felt_hf.csv_reader import read_trial_csv
from felt_hf.rows import rows_table, trial_row
from felt_hf.schema import trial_features
from felt_hf.sources import MemberReader, list_members
from felt_hf.stats import FeatureStats
from felt_hf.workers import tune_worker_process
tune_worker_process()  # as in the converter's workers (glibc heap thresholds, frozen collector)
zips, per_zip = sys.argv[2:], int(sys.argv[1])
members = [m for z in zips for m in list_members(z)[:per_zip]]
reader, cost, schema = MemberReader(), {}, trial_features().arrow_schema
def clock(stage, fn, *args):
    t = time.process_time()
    out = fn(*args)
    cost[stage] = cost.get(stage, 0.0) + time.process_time() - t
    return out
def parse_group(files):
    records = read_trial_csvs_fast(files)
    return [r if r is not None else read_trial_csv_fast(d, n) for r, (d, n) in zip(records, files)]
stats = FeatureStats()
with pq.ParquetWriter(io.BytesIO(), schema, **parquet_writer_options(schema)) as writer:
    for i in range(0, len(members), ROW_GROUP_ROWS):
        group = members[i : i + ROW_GROUP_ROWS]
        files = [(clock("inflate (ISA-L)", reader.read_bytes, m), m.member) for m in group]
        for data, name in files:
            clock("parse, strict pyarrow reader (not used)", read_trial_csv, data, name)
            clock("parse, polars file by file + record (not used)", read_trial_csv_fast, data, name)
        records = clock("parse, polars a row group per call + record", parse_group, files)
        batch = [clock("trial row", trial_row, r, m.labels) for r, m in zip(records, group)]
        clock("statistics", stats.update_rows, batch)
        table = clock("Arrow assembly", rows_table, batch)
        clock("parquet write (zstd, BYTE_STREAM_SPLIT)", writer.write_table, table, ROW_GROUP_ROWS)
clock("shard stats pickled for the parent", pickle.dumps, stats)
print(f"  per-stage CPU per trial, one process, {len(members)} trials (process_time):")
for stage, secs in cost.items():
    print(f"    {stage:<48} {secs / len(members) * 1e3:6.2f} ms")
"""


def stage_costs(zips: list[str], per_zip: int) -> None:
    run_measured(_argv_code(STAGES, [str(per_zip), *zips]), "stages", env=ROUTE_ENV)


def _counts(text: str | None) -> list[int]:
    cores = os.cpu_count() or 1
    if not text:
        return sorted({1, cores})
    return sorted({max(1, int(x)) for x in text.split(",") if x})


def _actor_text(text: str) -> str:
    """``--actors``: checked as felt-hf checks actor lists (one line, before any work), kept as text."""
    actor_list(text)
    return text


def main() -> int:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--actors", default="1-4", type=_actor_text, help="actors to generate (default 1-4, 1/6 of FELT; 1-24 = full)"
    )
    p.add_argument("--workdir", type=folder_path, help="keep archives and outputs here (default: a temporary folder)")
    p.add_argument("--compresslevel", type=int, default=6, choices=range(10), metavar="0-9")
    p.add_argument(
        "--num-proc", help="worker counts, e.g. 1,2 (default: 1 and all cores); the largest gets every route"
    )
    p.add_argument("--repeat", type=positive_int, default=1, help="repetitions per route (medians are printed)")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--generate-only", action="store_true", help="only make the archives in WORKDIR")
    p.add_argument("--no-read", action="store_true", help="skip the read-side figures")
    p.add_argument("--stages", type=seed_int, default=40, help="trials per archive for the per-stage costs (0: skip)")
    p.add_argument("--read-only", action="store_true", help="only the read side, on WORKDIR/felt from an earlier run")
    p.add_argument(
        "--routes",
        help="only these routes (comma-separated; convert and one parse route at least), e.g. "
        "isal+polars,convert for repeated paired runs at full size",
    )
    args = p.parse_args()
    if (args.read_only or args.generate_only) and not args.workdir:
        p.error("--read-only and --generate-only need --workdir")
    if args.read_only:
        bench_read(Path(args.workdir) / "felt")
        return 0
    routes = ("inflate-isal", "inflate-zlib", *PARSE_ROUTES, FLOOR, "naive-pandas", "convert")
    if args.routes:
        wanted = [r for r in args.routes.split(",") if r]
        unknown = sorted(set(wanted) - set(routes))
        if unknown or "convert" not in wanted or not set(wanted) & set(PARSE_ROUTES):
            p.error(f"--routes: {unknown or wanted}: choose from {', '.join(routes)}, with convert and a parse route")
        routes = tuple(r for r in routes if r in wanted)

    from felt_hf.synth import write_archives

    from felt_hf.argtypes import int_list

    work = Path(args.workdir or tempfile.mkdtemp(prefix="felt-bench-"))
    archives = work / "archives"
    if not archives.exists() or not any(archives.glob("*.zip")):
        t0 = time.perf_counter()
        write_archives(archives, actors=int_list(args.actors), compresslevel=args.compresslevel, progress=False)
        print(f"generated archives for actors {args.actors} in {time.perf_counter() - t0:.0f} s")
    if args.generate_only:
        return 0
    zips = sorted(str(z) for z in archives.glob("*.zip"))
    zip_mb = sum(os.path.getsize(z) for z in zips) / 1e6
    import zipfile

    infos = [i for z in zips for i in zipfile.ZipFile(z).infolist() if i.filename.endswith(".csv")]
    csv_mb = sum(i.file_size for i in infos) / 1e6
    counts = _counts(args.num_proc)
    top = counts[-1]
    print(
        f"input: {len(zips)} archives, {len(infos)} CSV members, {zip_mb:.0f} MB zipped, {csv_mb:.0f} MB of CSV;"
        f" {os.cpu_count()} cores; worker counts {counts}; {args.repeat} repetition(s)"
    )
    out = work / "felt"
    results: dict = {"actors": args.actors, "zip_mb": zip_mb, "csv_mb": csv_mb, "cores": os.cpu_count()}
    results["by_workers"] = {top: bench_routes(routes, top, args.repeat, zips, archives, out, csv_mb)}
    r = results["ratios"] = ratios(results["by_workers"][top]["medians"])
    naive = f"{r['naive_over_convert_wall']:.2f}" if "naive_over_convert_wall" in r else "not run"
    print(
        f"  convert / fastest inflate+parse ({r['fastest_route']}): wall {r['convert_over_fastest_wall']:.2f}"
        f" (target <= 1.5 at 1/6 size, <= 1.3 full size), cpu {r['convert_over_fastest_cpu']:.2f};"
        f"  naive / convert: {naive} (target >= 2)"
    )
    if "floor_over_fastest_wall" in r:
        print(
            f"  {FLOOR} / {r['fastest_route']}: wall {r['floor_over_fastest_wall']:.2f} cpu"
            f" {r['floor_over_fastest_cpu']:.2f} (no converter writing compressed parquet of these values gets"
            f" below this);  convert / {FLOOR}: wall {r['convert_over_floor_wall']:.2f}"
        )
    each = r["convert_over_each_route"]
    if len(each) > 1:
        print(
            "  convert / each parse route: "
            + ", ".join(f"{k} wall {v['wall']:.2f} cpu {v['cpu']:.2f}" for k, v in each.items())
        )
    runs = results["by_workers"][top]["runs"]
    if args.repeat > 1:  # each repetition's own pair: the routes ran back to back, under the same load
        for route in ("convert", FLOOR):
            if route not in runs:
                continue
            pairs = [
                (c["wall_s"] / f["wall_s"], c["cpu_s"] / f["cpu_s"])
                for c, f in zip(runs[route], runs[r["fastest_route"]], strict=True)
            ]
            print(
                f"  per repetition, {route} / {r['fastest_route']}: "
                + ", ".join(f"wall {w:.2f} cpu {c:.2f}" for w, c in pairs)
            )
    if args.stages:
        stage_costs(zips, args.stages)
    fastest = r["fastest_route"]
    for n in counts[:-1]:
        results["by_workers"][n] = bench_routes((fastest, "convert"), n, args.repeat, zips, archives, out, csv_mb)
    if len(counts) > 1:
        print("  throughput against worker processes (MB/s of CSV, medians):")
        for n in counts:
            med = results["by_workers"][n]["medians"]
            print(
                f"    {n:>3} process(es): {fastest} {csv_mb / med[fastest]['wall_s']:6.0f}"
                f"   convert {csv_mb / med['convert']['wall_s']:6.0f}"
                f"   convert/{fastest} {med['convert']['wall_s'] / med[fastest]['wall_s']:.2f}"
            )
    out_mb = sum(p.stat().st_size for p in out.rglob("*.parquet")) / 1e6
    print(f"  output: {out_mb:.0f} MB of parquet ({out_mb / csv_mb:.1%} of the CSV text)")
    results["parquet_mb"] = out_mb
    if not args.no_read:
        results["read"] = bench_read(out)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
