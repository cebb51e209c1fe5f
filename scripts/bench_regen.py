#!/usr/bin/env python
"""Frames/s of FELT-exact and fast regeneration on the same clips, and how far their outputs differ.

    python scripts/bench_regen.py --clips A.mp4 B.mp4 --device cuda --json bench.json

Weights: ``--weights auto`` (default) uses Py-Feat's pretrained weights when its resources folder has
them (or can download them) and falls back to randomly initialised models otherwise; the report says
which was used. Random weights go through Py-Feat 0.6.2's real ``Detector(...)`` constructor over
weight files written locally (``felt_hf/regen/random_weights.py``), so ``--weights random`` must not
follow an import of ``feat`` from site-packages (use ``--weights random`` alone, not ``auto``, offline). ``--backend standin`` times only decoding + the pipeline glue (no models; CPU is fine).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from felt_hf.argtypes import OneLineParser, positive_int, seed_int  # noqa: E402
from felt_hf.errors import FeltError  # noqa: E402
from felt_hf.regen.compare import compare_tables  # noqa: E402
from felt_hf.regen.compat import environment_versions  # noqa: E402
from felt_hf.regen.detectors import build_tracker, make_pyfeat_detector  # noqa: E402


def make_detector(backend: str, weights: str, device: str, seed: int):
    """A fresh detector per mode (fast mode moves models in place); returns (detector, weights used)."""
    if backend == "standin":
        from felt_hf.regen.standin import StandInDetector

        return StandInDetector(device=device), "stand-in (no model)"
    if weights in ("auto", "pretrained"):
        try:
            return make_pyfeat_detector(device), "pretrained"
        except Exception as e:  # missing weights, offline
            if weights == "pretrained":
                raise
            print(f"pretrained weights unavailable ({type(e).__name__}: {e}); using random init", file=sys.stderr)
    from felt_hf.regen.random_weights import make_random_pyfeat_detector

    # Py-Feat's own Detector(...) constructor over weight files made locally (random_weights.py)
    return make_random_pyfeat_detector(device, seed=seed), "random"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_mode(tracker, clips: list[str], device: str) -> tuple[list, dict]:
    tables, frames, seconds = [], 0, 0.0
    for clip in clips:
        sync(device)
        t0 = time.perf_counter()
        table = tracker.track(clip)
        sync(device)
        dt = time.perf_counter() - t0
        n = int(table["frame"].nunique())
        print(f"  {Path(clip).name}: {n} frames in {dt:.2f} s ({n / dt:.2f} frames/s)", file=sys.stderr)
        tables.append(table)
        frames += n
        seconds += dt
    return tables, {"frames": frames, "seconds": round(seconds, 3), "frames_per_second": round(frames / seconds, 3)}


def main(argv=None) -> int:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", nargs="+", required=True, help="video files (RAVDESS mp4s, or any clip)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--backend", choices=("pyfeat", "standin"), default="pyfeat")
    p.add_argument("--weights", choices=("auto", "pretrained", "random"), default="auto")
    p.add_argument("--modes", nargs="+", choices=("exact", "fast"), default=["exact", "fast"])
    p.add_argument("--batch-size", type=positive_int, default=32, help="fast-mode batch size")
    p.add_argument("--warmup", action="store_true", help="run each mode once on the first clip before timing")
    p.add_argument("--seed", type=seed_int, default=0, help="random-init seed (same weights in both modes)")
    p.add_argument("--json", help="write the report here too")
    args = p.parse_args(argv)

    report: dict = {
        "device": args.device,
        "clips": args.clips,
        "versions": environment_versions(),
        "host": platform.node(),
    }
    if args.device.startswith("cuda"):
        import torch

        report["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    tables = {}
    for mode in args.modes:
        try:
            det, used = make_detector(args.backend, args.weights, args.device, args.seed)
        except FeltError as e:  # no py-feat, a full disk for the random weights: one line, no traceback
            print(f"bench_regen: error: {e}", file=sys.stderr)
            return 2
        report["weights"] = used
        tracker = build_tracker(
            args.backend,
            device=args.device,
            fast=mode == "fast",
            batch_size=args.batch_size if mode == "fast" else None,
            detector=det,
        )
        print(f"{mode} ({used} weights):", file=sys.stderr)
        if args.warmup:
            tracker.track(args.clips[0])
        tables[mode], report[mode] = time_mode(tracker, args.clips, args.device)
    if {"exact", "fast"} <= set(tables):
        report["speedup"] = round(report["fast"]["frames_per_second"] / report["exact"]["frames_per_second"], 2)
        report["differences"] = {
            Path(c).name: compare_tables(e, f, name=c)
            for c, e, f in zip(args.clips, tables["exact"], tables["fast"], strict=True)
        }
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
