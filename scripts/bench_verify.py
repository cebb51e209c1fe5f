#!/usr/bin/env python
"""`felt-hf verify` of a download: time per trial on one core and on all, in one run.

    python scripts/bench_verify.py                 # 2 actors (208 trials, raw + smoothed)
    python scripts/bench_verify.py --actors 1-24   # full size: 2452 trials

Makes FELT-shaped archives with felt_hf.synthetic.archives (every trial of the chosen actors), then runs
``verify_download`` on them with one worker and with every core (checksums, names, headers and
FELT's smoothing re-applied to every raw file), printing wall time, trials/s and the ratio.
Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from felt_hf.argtypes import OneLineParser, actor_list, folder_path, int_list
from felt_hf.publish.verify import verify_download
from felt_hf.synthetic.archives import write_archives


def _actor_text(text: str) -> str:
    """``--actors``: checked as felt-hf checks actor lists (one line, before any work), kept as text."""
    actor_list(text)
    return text


def main() -> None:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actors", default="1-2", type=_actor_text)
    ap.add_argument("--workdir", type=folder_path, help="keep the archives here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        write_archives(root, actors=int_list(args.actors), progress=False)
        times = {}
        for procs in (1, os.cpu_count() or 1):
            t0 = time.perf_counter()
            report = verify_download(root, num_proc=procs, progress=False)
            times[procs] = time.perf_counter() - t0
        n = next(c for c in report.checks if c.name == "smoothing").details["trials"]
        print(report.table())
        for procs, t in times.items():
            print(f"{procs} worker(s): {t:.1f} s for {n} trial pairs, {n / t:.1f} trials/s")
        if len(times) > 1:
            one, many = times[1], times[max(times)]
            print(f"speed-up with {max(times)} workers: {one / many:.2f}x")


if __name__ == "__main__":
    main()
