#!/usr/bin/env python
"""Where one `felt-hf convert` run's wall time goes: the parent's serial phases and each worker's.

    python scripts/convert_timeline.py W/archives W/felt --num-proc 16

Converts every config found in the archives folder (into OUT, replaced) and prints: the parent's
time before the worker pool starts (importing `datasets`, planning the shards), the span from the
first shard's start to the last shard's end, the parent's time after it (renames, stats.json, the
card), each worker's busy time (min / median / max: how evenly the shards were spread) and the
CPU seconds spent inside shards. With many cores the serial phases, not the workers, are what keeps
convert's throughput from growing with the core count. Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import felt_hf.build.convert as conv  # noqa: E402  (after the path above)
from felt_hf.argtypes import OneLineParser, folder_path, input_path, positive_int  # noqa: E402

_convert_shard = conv.convert_shard
_run_tasks = conv._run_tasks
_marks: dict = {}


def timed_shard(task, *args):
    """The converter's own shard function, with its process, start, end and CPU time attached."""
    start, cpu = time.perf_counter(), time.process_time()
    result = _convert_shard(task, *args)
    result.timing = (os.getpid(), start, time.perf_counter(), time.process_time() - cpu, len(task.members))
    return result


def run_tasks(tasks, num_proc, progress, stats):
    _marks["run_start"] = time.perf_counter()
    results = _run_tasks(tasks, num_proc, progress, stats)
    _marks["run_end"] = time.perf_counter()
    _marks["results"] = results
    return results


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument("archives", type=lambda t: Path(input_path(t)))
    p.add_argument("out", type=lambda t: Path(folder_path(t)))
    p.add_argument("--num-proc", type=positive_int, default=os.cpu_count())
    args = p.parse_args(argv)
    conv.convert_shard, conv._run_tasks = timed_shard, run_tasks  # workers are forked: they see these
    start = time.perf_counter()
    conv.convert_felt(args.archives, args.out, progress=False, num_proc=args.num_proc, overwrite=True)
    end = time.perf_counter()
    results = _marks["results"]
    first = min(r.timing[1] for r in results)
    last = max(r.timing[2] for r in results)
    busy: dict[int, float] = {}
    for r in results:
        busy[r.timing[0]] = busy.get(r.timing[0], 0.0) + r.timing[2] - r.timing[1]
    b = sorted(busy.values())
    print(
        f"convert {end - start:.2f} s with {args.num_proc} workers: before the pool {_marks['run_start'] - start:.2f} s, "
        f"first shard start -> last shard end {last - first:.2f} s, after the last shard {end - last:.2f} s"
    )
    print(
        f"  {len(b)} workers busy {b[0]:.2f} / {b[len(b) // 2]:.2f} / {b[-1]:.2f} s (min / median / max); "
        f"CPU inside shards {sum(r.timing[3] for r in results):.1f} s for {sum(r.timing[4] for r in results)} trials"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
