#!/usr/bin/env python
"""Media conversion benchmark: speed against reading the same bytes, sizes, and peak memory.

    python scripts/bench_media.py                       # 32 speech trials, 320x180 videos of ~0.7 MB
    python scripts/bench_media.py --trials 24 --size 720x1280   # FELT's frame size (slow to generate)
    python scripts/bench_media.py --trials 288 --shard-mb 25 --disk-mbps 200,500   # also from disks of those speeds

Generates FELT-style videos and RAVDESS-style wavs with felt_hf.synthetic.media (zipped at zlib level
1, as an OS zip tool would), then measures, in one run and on the same bytes, per media config:

  (a) read   - every input member read and inflated with felt-hf's own member reader (ISA-L when
               installed), by as many processes as the conversion uses: the disk read + zip inflate
               rate, the floor of any conversion;
  (c) floor  - (a), each process also writing the bytes it read into one uncompressed parquet
               file, nothing else: the floor of any conversion that stores the files in parquet;
  (b) convert - `write_media_configs` for that config, `--workers` processes: mp4 bytes copied
               into parquet with PyAV's container facts, wavs re-packed as FLAC.

All are measured "cold", the input archives dropped from the page cache before each pass
(posix_fadvise DONTNEED after an fsync, no root needed), which is what converting FELT's tens of GB
of video is like; "warm", every byte already in memory, where reading costs only the inflate and
any per-file work shows in full; and, with --disk-mbps 200,500, cold from a disk of each of those
read speeds: the benchmark process and its workers read through a cgroup read-bandwidth cap
(scripts/disk_throttle.py; root and a cgroup block-I/O controller needed, otherwise those rows are
skipped with the reason). The cap matters because "cold" here means this machine's own disk,
which may be far faster (or slower) than the disk a user keeps FELT on. Each is run --repeats
times alternately and the best kept; it prints input MB, output MB, MB/s of each (input bytes /
time), b/a (target >= 0.8 for the video configs, which copy bytes; audio pays for FLAC encoding),
c/a (how close to the read any conversion can get: below 0.8, the target is out of reach at that
read speed) and b/c (what the converter's own work costs). Then peak resident memory of a
fresh process converting all four configs for a quarter of the trials and for all of them: flat
in the trial count means the two peaks differ by about a row group, not by 4x.
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from disk_throttle import ThrottleError, capped_reads, evict, unavailable  # noqa: E402

from felt_hf.argtypes import OneLineParser, positive_int, seed_int  # noqa: E402

CONFIGS = ("landmark_overlay_speech", "landmark_plot_speech", "au_animation_speech", "audio_speech")


def make_inputs(work: Path, trials: int, size: tuple[int, int], grain: int) -> Path:
    from felt_hf.ravdess import expected_trial_ids
    from felt_hf.synthetic.media import write_media

    data = work / "full"
    if data.is_dir():  # --workdir reused: same inputs, no second generation
        return data
    ids = expected_trial_ids("speech")[:trials]
    t0 = time.perf_counter()
    write_media(data, ids, size=size, wav_channels=("speech",), full_av_channels=(), videos_as_folder_channels=(),
                grain=grain)  # fmt: skip
    print(f"generated {len(ids)} trials x 3 videos ({size[1]}x{size[0]}, grain {grain}) + wavs "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return data


def subset(data: Path, dst: Path, fraction: float) -> Path:
    """The same archives holding the first ``fraction`` of the trials (raw member bytes copied)."""
    dst.mkdir(parents=True)
    for z in data.glob("*.zip"):
        with zipfile.ZipFile(z) as src, zipfile.ZipFile(dst / z.name, "w") as out:
            names = sorted({n.rsplit("/", 1)[-1] for n in src.namelist() if not n.startswith("__MACOSX")})
            keep = set(names[: max(1, int(len(names) * fraction))])
            for info in src.infolist():
                if info.filename.rsplit("/", 1)[-1] in keep:
                    out.writestr(info, src.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return dst


def drop_from_cache(data: Path) -> None:
    """Evict the input archives from the page cache, so the next pass reads the disk."""
    for z in sorted(data.glob("*.zip")):
        evict(z)


def _read_files(job: tuple[list, str | None]) -> int:
    """Read + inflate ``files``; with a path, also write their bytes there as parquet (the copy floor)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from felt_hf.build.convert_media import ROW_GROUP_ROWS
    from felt_hf.inputs.sources import MemberReader

    files, copy_to = job
    reader, total = MemberReader(), 0
    schema = pa.schema([("bytes", pa.binary())])
    with pq.ParquetWriter(copy_to, schema, compression="NONE", use_dictionary=False, write_statistics=False) if copy_to else nullcontext() as writer:  # fmt: skip
        for i in range(0, len(files), ROW_GROUP_ROWS):
            cells = [reader.read_bytes(f.as_member()) for f in files[i : i + ROW_GROUP_ROWS]]
            total += sum(map(len, cells))
            if writer is not None:  # each file's bytes as they are, one row group per converter row group
                writer.write_table(pa.table({"bytes": pa.chunked_array([[c] for c in cells], pa.binary())}))
    reader.close()
    return total


def read_all(data: Path, config: str, workers: int, copy_to: Path | None = None) -> tuple[float, int]:
    """(a): read + inflate every input of one config with the converter's own member reader, split
    over ``workers`` processes in contiguous runs (as the converter splits shards).

    With ``copy_to`` (a folder), (c): the same, each process also writing the bytes it read into one
    parquet file there, uncompressed, nothing else done with them: the floor of any conversion that
    stores the input files in parquet, so floor/read says how close to the read rate one can get
    at all, and conv/floor what the converter's own work (probing, FLAC, columns) costs."""
    import multiprocessing as mp

    from felt_hf.build.convert_media import plan_media

    files = [f for _, f in sorted(plan_media(data, [config])[config].files.items())]
    runs = [files[i * len(files) // workers : (i + 1) * len(files) // workers] for i in range(workers)]
    if copy_to is not None:
        shutil.rmtree(copy_to, ignore_errors=True)
        copy_to.mkdir(parents=True)
    jobs = [(run, str(copy_to / f"{i}.parquet") if copy_to is not None else None) for i, run in enumerate(runs)]
    t0 = time.perf_counter()
    if workers <= 1:
        total = _read_files(jobs[0])
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            total = sum(pool.map(_read_files, jobs))
    return time.perf_counter() - t0, total


def convert_one(data: Path, out: Path, config: str, workers: int) -> float:
    """(b): the media part of `convert_felt` for one config (find, read, probe/re-pack, write, rename).

    The card and stats.json that `convert_felt` writes once per run are left out: they cost the
    same fraction of a second whatever the size, which at benchmark sizes would hide the rate."""
    from felt_hf.atomic import Replacement
    from felt_hf.build.convert_media import plan_media, write_media_configs
    from felt_hf.schema import DEFAULT_SPLIT_ACTORS

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    run = write_media_configs(plan_media(data, [config]), data, out, DEFAULT_SPLIT_ACTORS, {}, workers=workers)
    replacement = Replacement()  # the renames into place, as convert_felt does them
    run.commit(replacement)
    replacement.commit()
    return time.perf_counter() - t0


def measure(
    data: Path, out: Path, config: str, workers: int, repeats: int, cold: bool
) -> tuple[float, float, float, int]:
    """Best read time, best copy-floor time, best convert time (alternating), input bytes."""
    reads, floors, convs, nbytes = [], [], [], 0
    for _ in range(repeats):
        if cold:
            drop_from_cache(data)
        t, nbytes = read_all(data, config, workers)
        reads.append(t)
        if cold:
            drop_from_cache(data)
        floors.append(read_all(data, config, workers, copy_to=out.parent / "floor")[0])
        if cold:
            drop_from_cache(data)
        convs.append(convert_one(data, out, config, workers))
    return min(reads), min(floors), min(convs), nbytes


def child_peak(data: Path, out: Path) -> int:
    """Peak RSS (kB) of a fresh interpreter converting every media config of ``data``."""
    code = (
        f"import resource, sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from felt_hf.build.convert import convert_felt\n"
        f"convert_felt({str(data)!r}, {str(out)!r}, configs={list(CONFIGS)!r}, progress=False, num_proc=1)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(res.stdout.strip().splitlines()[-1])


def _rates(text: str) -> list[float]:
    """``200,500`` -> [200.0, 500.0]; argparse turns the ValueError into a usage error."""
    rates = [float(x) for x in text.split(",") if x.strip()]
    if not rates or min(rates) <= 0:
        raise ValueError(text)
    return rates


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=positive_int, default=32)
    p.add_argument("--size", default="180x320", help="video HEIGHTxWIDTH (FELT: 720x1280)")
    p.add_argument(
        "--grain", type=seed_int, default=20, help="frame noise; 20 at 320x180 gives ~0.7 MB per video like FELT"
    )
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    p.add_argument("--shard-mb", type=float, default=None,
                   help="shard size target (default: the converter's 300 MB); a full FELT video config has "
                        "dozens of shards, so a smaller target here gives the benchmark as many shards per "
                        "worker as FELT has")  # fmt: skip
    p.add_argument("--disk-mbps", type=_rates, default=[],
                   help="also measure cold reads from disks of these speeds, e.g. 200,500 (MB/s; a cgroup "
                        "read cap, needs root)")  # fmt: skip
    p.add_argument("--workdir", help="keep inputs and outputs here (default: a temporary folder)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    h, w = (int(x) for x in args.size.lower().split("x"))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="felt_bench_media_"))
    from felt_hf.inputs.inflate import fast_inflate

    if args.shard_mb:
        import felt_hf.build.convert_media as convert_media

        convert_media.TARGET_SHARD_BYTES = int(args.shard_mb * 1e6)
    try:
        data = make_inputs(work, args.trials, (h, w), args.grain)
        figures: dict = {"trials": args.trials, "size": [h, w], "isal": fast_inflate(), "workers": args.workers, "shard_mb": args.shard_mb,
                         "cpus": os.cpu_count(), "configs": {}}  # fmt: skip
        print(f"\ninflate: {'ISA-L' if fast_inflate() else 'zlib'}; {args.workers} process(es) on {os.cpu_count()} "
              f"core(s); shards of {args.shard_mb or 300:g} MB; best of {args.repeats}, alternating")  # fmt: skip
        print(f"{'config':<26}{'disk':>11}{'in MB':>8}{'out MB':>8}{'read MB/s':>11}{'floor MB/s':>11}"
              f"{'conv MB/s':>11}{'conv/read':>11}{'floor/read':>11}{'conv/floor':>11}")  # fmt: skip
        caches = ["cold", "warm"]
        if args.disk_mbps:
            reason = unavailable(data)
            if reason:
                print(f"--disk-mbps: skipped, {reason}")
            else:
                caches += [f"{mbps:g} MB/s" for mbps in args.disk_mbps]
        for config in CONFIGS:
            out = work / "out"
            for cache in caches:
                mbps = float(cache.split()[0]) if cache.endswith("MB/s") else None
                try:
                    with capped_reads(data, mbps) if mbps else nullcontext():
                        read_t, floor_t, conv_t, nbytes = measure(
                            data, out, config, args.workers, args.repeats, cache != "warm"
                        )
                except ThrottleError as e:
                    print(f"{config:<26}{cache:>11}  skipped: {e}")
                    continue
                out_bytes = sum(f.stat().st_size for f in (out / config).glob("*.parquet"))
                read_rate, floor_rate, conv_rate = (nbytes / t / 1e6 for t in (read_t, floor_t, conv_t))
                row = {"input_mb": nbytes / 1e6, "output_mb": out_bytes / 1e6, "read_mb_s": read_rate,
                       "floor_mb_s": floor_rate, "convert_mb_s": conv_rate, "ratio": conv_rate / read_rate,
                       "floor_ratio": floor_rate / read_rate, "convert_over_floor": conv_rate / floor_rate,
                       "mb_per_trial": nbytes / 1e6 / args.trials}  # fmt: skip
                figures["configs"].setdefault(config, {})[cache] = row
                print(f"{config:<26}{cache:>11}{row['input_mb']:>8.2f}{row['output_mb']:>8.2f}{read_rate:>11.0f}"
                      f"{floor_rate:>11.0f}{conv_rate:>11.0f}{row['ratio']:>11.2f}{row['floor_ratio']:>11.2f}"
                      f"{row['convert_over_floor']:>11.2f}")  # fmt: skip
        shutil.rmtree(work / "quarter", ignore_errors=True)
        quarter = subset(data, work / "quarter", 0.25)
        small, large = child_peak(quarter, work / "out_q"), child_peak(data, work / "out_f")
        figures["peak_rss_mb"] = {"quarter": small / 1024, "all": large / 1024}
        print(f"\npeak RSS converting all four configs: {args.trials // 4} trials {small / 1024:.0f} MB, "
              f"{args.trials} trials {large / 1024:.0f} MB (ratio {large / small:.2f}; flat = ~1)")  # fmt: skip
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
