"""``python scripts/regenerate.py``: rerun Py-Feat over RAVDESS and write FELT's CSV layout.

Exit status: 0 when every trial of the shard is done, 1 when some failed (listed on stderr and in
the manifest; rerunning retries only those), 2 for bad arguments or setup (missing py-feat, missing or
unreachable weights: one line naming the files and where they were looked for, no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..argtypes import OneLineParser, actor_list, folder_path, positive_int, torch_device
from ..atomic import check_output_folder, refuse_inside_converted_folder
from ..errors import FeltError
from ..inputs.smoothing import SHORT_CLIP_POLICIES
from .detectors import BACKENDS


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="regenerate.py",
        description="Track RAVDESS full-AV videos with Py-Feat and write FELT's raw and smoothed CSVs.",
    )
    p.add_argument(
        "--videos", nargs="+", required=True, help="Video_*_Actor_NN.zip files, or folders of Actor_NN/ (or of zips)"
    )
    p.add_argument(
        "--out", required=True, type=folder_path, help="output root: raw_motion_*/, smoothed_motion_*/, manifest/"
    )
    p.add_argument(
        "--device",
        default="cuda",
        type=torch_device,
        help="torch device: cuda (GPU LOCAL_RANK under torchrun), cuda:N, cpu",
    )
    p.add_argument("--shard", type=int, default=None, help="this worker's shard (default: RANK or SLURM_ARRAY_TASK_ID)")
    p.add_argument(
        "--num-shards", type=int, default=None, help="shard count (default: WORLD_SIZE or SLURM_ARRAY_TASK_COUNT)"
    )
    p.add_argument(
        "--fast", action="store_true", help="fast mode: decode once, all models on GPU, big batches (NOT FELT-exact)"
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="frames per batch (--fast: default 32; FELT-exact is fixed at 5)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="pyfeat",
        help="pyfeat (0.6.2, FELT-exact), pyfeat2 (2.x Detectorv1, not exact), standin (no models; dry run)",
    )
    p.add_argument(
        "--channel", choices=("speech", "song"), action="append", help="only this vocal channel (repeatable)"
    )
    p.add_argument("--actors", type=actor_list, default=None, help="only these actors, e.g. 1-4,7")
    p.add_argument(
        "--short-clip",
        choices=SHORT_CLIP_POLICIES,
        default="error",
        help="smoothing of clips under 19 frames (FELT raised)",
    )
    p.add_argument(
        "--weights",
        choices=("pretrained", "random"),
        default="pretrained",
        help="pretrained: Py-Feat's weights (downloaded once into feat/resources); random: the real models with "
        "randomly initialised weights made locally, no download (a dry run; recorded as such in the manifest and card)",
    )
    p.add_argument("--overwrite", action="store_true", help="redo trials whose CSVs already exist")
    p.add_argument("--list", action="store_true", help="list this shard's trials and whether they are done, then exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _random_detector(args: argparse.Namespace, device: str):
    """Py-Feat 0.6.2's real Detector over random weight files in a private folder removed at exit."""
    if args.backend != "pyfeat":
        raise FeltError(f"--weights random applies to --backend pyfeat (Py-Feat 0.6.2), not {args.backend!r}")
    from .random_weights import make_random_pyfeat_detector

    return make_random_pyfeat_detector(device)  # its folder is private and removed at exit (random_weights)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .detectors import build_tracker
    from .pipeline import device_and_index, is_done, resolve_shard, run, select_shard
    from .videos import discover_videos

    try:
        check_output_folder(args.out)  # before any trial is tried
        refuse_inside_converted_folder(args.out, "regenerated tracking")
        shard, num_shards = resolve_shard(args.shard, args.num_shards)
        items = discover_videos(args.videos, channels=args.channel, actors=args.actors)
        if not items:
            raise FeltError(f"no full-AV RAVDESS videos (01-*.mp4) found under {' '.join(args.videos)}")
        if args.list:
            for it in select_shard(items, shard, num_shards):
                print(f"{it.trial_id}\t{'done' if is_done(args.out, it) else 'todo'}\t{it.display}")
            return 0
        device, gpu = device_and_index(args.device)
        if gpu is not None:
            import torch

            torch.cuda.set_device(gpu)
        detector = _random_detector(args, device) if args.weights == "random" else None
        tracker = build_tracker(
            args.backend, device=device, fast=args.fast, batch_size=args.batch_size, detector=detector
        )
    except (FeltError, FileNotFoundError, ValueError) as e:
        if os.environ.get("FELT_HF_DEBUG"):  # as felt-hf's own commands: the traceback on request
            raise
        print(f"felt-hf: error: {e}", file=sys.stderr)
        return 2
    if not tracker.describe().get("felt_exact", False):
        print(f"note: backend {args.backend!r}{' --fast' if args.fast else ''} is NOT FELT-exact", file=sys.stderr)
    summary = run(
        items,
        tracker,
        args.out,
        shard=shard,
        num_shards=num_shards,
        short_clip=args.short_clip,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        settings={
            "device": args.device if gpu is None else f"cuda:{gpu}",
            "backend": args.backend,
            "weights_option": args.weights,
        },
    )
    print(
        f"shard {shard}/{num_shards}: {summary.total} trials, {summary.skipped} already done, {summary.ok} written, "
        f"{len(summary.errors)} failed; {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.2f} frames/s)",
        file=sys.stderr,
    )
    for trial_id, err in summary.errors:
        print(f"  failed {trial_id}: {err}", file=sys.stderr)
    return 1 if summary.errors else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
