"""``python scripts/regenerate.py``: rerun Py-Feat over RAVDESS and write FELT's CSV layout.

Exit status: 0 when every trial of the shard is done, 1 when some failed (listed on stderr and in
the manifest; rerunning retries only those), 2 for bad arguments or setup (missing py-feat, missing or
unreachable weights, an output folder that cannot be written: one line naming the files and where
they were looked for, no traceback), 130 interrupted (Ctrl-C), 143 terminated: the same lines and
codes as ``felt-hf regenerate``, which calls :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..argtypes import OneLineParser, actor_list, folder_path, input_path, positive_int, torch_device
from ..atomic import check_output_folder, check_writable_folder, refuse_inside_converted_folder
from ..errors import EXIT_CHECKS_FAILED, EXIT_OK, EXIT_USER_ERROR, FeltError, FeltOutputError
from ..inputs.smoothing import SHORT_CLIP_POLICIES
from ..messages import error_line, format_warning, interrupted
from ..stops import stop_signals
from .detectors import BACKENDS, check_tracker_options

if TYPE_CHECKING:
    from .pipeline import RunSummary
    from .videos import VideoItem


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="regenerate.py",
        description="Track RAVDESS full-AV videos with Py-Feat and write FELT's raw and smoothed CSVs.",
    )
    p.add_argument(
        "--videos",
        nargs="+",
        required=True,
        type=input_path,
        help="Video_*_Actor_NN.zip files, or folders of Actor_NN/ (or of zips)",
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


def _random_detector(device: str):
    """Py-Feat 0.6.2's real Detector over random weight files in a private folder removed at exit."""
    from .random_weights import make_random_pyfeat_detector

    return make_random_pyfeat_detector(device)  # its folder is private and removed at exit (random_weights)


def check_options(args: argparse.Namespace) -> None:
    """Option combinations the run refuses, refused before anything else (``--list`` included,
    which had listed and exited 0 for options that the same command without it refused)."""
    check_tracker_options(args.backend, fast=args.fast, batch_size=args.batch_size)
    if args.weights == "random" and args.backend != "pyfeat":
        raise FeltError(f"--weights random applies to --backend pyfeat (Py-Feat 0.6.2), not {args.backend!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """The command, ended as ``felt-hf`` ends every command (``felt_hf.messages``): a user error in
    one ``felt-hf: error:`` line (exit 2), Ctrl-C as ``interrupted`` (130), never a traceback.
    ``felt-hf regenerate`` had that from felt-hf's own handler, but ``scripts/regenerate.py`` has
    none around it, and printed tracebacks for an unwritable ``--out`` and for Ctrl-C; a SIGTERM
    killed it on the spot (``felt_hf.stops`` now handles it in both)."""
    saved_format = warnings.formatwarning
    warnings.formatwarning = format_warning  # this package's warnings as felt-hf: warning: lines
    try:
        with stop_signals():  # SIGTERM (a scheduler's end of job) as a Ctrl-C, as felt-hf has it
            return _main(build_parser().parse_args(argv))
    except KeyboardInterrupt as e:  # (and Terminated, a KeyboardInterrupt)
        return interrupted(e)
    except Exception as e:
        line = error_line(e)
        if line is None:  # a bug, or FELT_HF_DEBUG set: the traceback
            raise
        print(line, file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        warnings.formatwarning = saved_format


def _refuse_download_folder(out: str) -> None:
    """``--out`` in (or below) a folder of FELT's zips: ``felt-hf convert`` of that folder reads
    the zips and ignores the regenerated folders of the same names beside them (a warning, and the
    regenerated trials unused)."""
    from ..inputs.sources import download_folder_of

    download = download_folder_of(out, zips_only=True)
    if download is not None:
        raise FeltOutputError(
            f"--out {out}: inside {download}, a folder of FELT archives, whose zips felt-hf convert would read "
            "instead of the regenerated tracking; write it elsewhere"
        )


def _main(args: argparse.Namespace) -> int:
    from .detectors import build_tracker
    from .pipeline import resolve_shard, run
    from .videos import discover_videos

    check_options(args)
    check_output_folder(args.out)
    refuse_inside_converted_folder(args.out, "regenerated tracking")
    _refuse_download_folder(args.out)
    shard, num_shards = resolve_shard(args.shard, args.num_shards)
    items = discover_videos(args.videos, channels=args.channel, actors=args.actors)
    if not items:
        raise FeltError(f"no full-AV RAVDESS videos (01-*.mp4) found under {' '.join(args.videos)}")
    if args.list:
        return _list(items, args.out, shard, num_shards)
    check_writable_folder(args.out)  # before any model is loaded or trial tracked (--list only reads)
    device, gpu = _device(args.device)
    detector = _random_detector(device) if args.weights == "random" else None
    tracker = build_tracker(args.backend, device=device, fast=args.fast, batch_size=args.batch_size, detector=detector)
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
        command_line=True,
    )
    _report(summary, shard, num_shards)
    return EXIT_CHECKS_FAILED if summary.errors else EXIT_OK


def _list(items: Sequence[VideoItem], out: str, shard: int, num_shards: int) -> int:
    """``--list``: this shard's trials, whether each is done, and where its video is."""
    from .pipeline import is_done, select_shard

    for it in select_shard(items, shard, num_shards):
        print(f"{it.trial_id}\t{'done' if is_done(out, it) else 'todo'}\t{it.display}")
    return EXIT_OK


def _device(option: str) -> tuple[str, int | None]:
    """The detector's device and the GPU index selected for it (``--device cuda:N``, or torchrun's
    ``LOCAL_RANK`` with ``--device cuda``), checked to exist before any model is loaded."""
    from .pipeline import device_and_index, select_gpu

    device, gpu = device_and_index(option)
    if gpu is not None:
        select_gpu(gpu, f"--device {option}" if option != "cuda" else f"--device cuda with LOCAL_RANK={gpu} (torchrun)")
    return device, gpu


def _report(summary: RunSummary, shard: int, num_shards: int) -> None:
    """The shard's counts and every failed trial, on stderr."""
    print(
        f"shard {shard}/{num_shards}: {summary.total} trials, {summary.skipped} already done, {summary.ok} written, "
        f"{len(summary.errors)} failed; {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.2f} frames/s)",
        file=sys.stderr,
    )
    for trial_id, err in summary.errors:
        print(f"  failed {trial_id}: {err}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
