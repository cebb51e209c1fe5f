"""``felt-hf``: the command line. Each subcommand is a thin shell over one library function.

Exit status, the same for every subcommand (and for ``scripts/regenerate.py``):
0 success; 1 the job ran but something it checks failed (a regeneration trial failed, a
verification found problems); 2 a user or input error (bad option, missing or unreadable input),
reported as one ``felt-hf: error: ...`` line, without a traceback. 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from .argtypes import (
    BackwardsRangeError,
    OneLineParser,
    actor_list,
    file_path,
    folder_path,
    input_path,
    int_list,
    positive_int,
    sample_count,
    seed_int,
)
from .atomic import check_report_path, refuse_inside_converted_folder
from .errors import (
    EXIT_CHECKS_FAILED,
    EXIT_OK,
    EXIT_USER_ERROR,
    FeltWarning,
)
from .layout import path_glob_problem
from .messages import (
    error_line,
    format_warning,
    interrupted,
    os_error_text,  # noqa: F401 (its old home: felt_hf.cli.os_error_text still works)
)
from .progress import bars_wanted
from .schema import CONFIG_NAMES, DEFAULT_CONFIG, MEDIA_CONFIG_NAMES, VARIANTS, VOCAL_CHANNELS
from .stops import stop_signals

NO_PROGRESS_HELP = "no progress bar (there is none anyway when stderr is not a terminal)"


def load_line(folder: str | os.PathLike, config: str = DEFAULT_CONFIG) -> str:
    """The exact ``load_dataset(...)`` call for a folder just written.

    A bare relative name such as ``"felt"`` is resolved by ``datasets`` against the current
    directory first and then as a hub repo id, and offline it can silently return another
    dataset cached under the same name; an absolute path, or one starting with ``./``, can only
    mean the folder itself.
    """
    path = Path(folder)
    if path.is_absolute() or os.path.normpath(path) == ".":  # ("./." and "." do not load: datasets wants a name)
        text = path.resolve().as_posix() if not path.is_absolute() else path.as_posix()
    else:
        text = "./" + path.as_posix().removeprefix("./")
    return f"load_dataset({json.dumps(text)}, {json.dumps(config)})"


def split_actors_arg(text: str) -> tuple[str, tuple[int, ...]]:
    """``train=1-18`` -> ``("train", (1, ..., 18))`` for ``convert --split-actors``."""
    name, sep, actors = text.partition("=")
    if not sep or not name or not actors:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SPLIT=ACTORS, e.g. train=1-18 or test=21,22,23,24")
    try:
        return name, int_list(actors)
    except BackwardsRangeError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: actors must be numbers or ranges such as 1-18,20") from None


def cmd_sample(args: argparse.Namespace) -> int:
    from .synthetic.archives import write_sample

    out = Path(args.out)
    paths = write_sample(out, seed=args.seed, extracted=args.extracted)  # (makes the folder)
    if args.media:
        from .synthetic.media import write_sample_media

        paths.update(write_sample_media(out, seed=args.seed))
    for config, path in paths.items():
        print(f"{config}: {path}")
    print(f"convert them with: felt-hf convert {out} --out felt")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .synthetic.archives import write_archives

    out = Path(args.out)
    t0 = time.perf_counter()
    paths = write_archives(  # (makes the folder)
        out,
        actors=args.actors,
        channels=tuple(args.channels),
        variants=tuple(args.variants),
        trials_per_actor=args.trials_per_actor,
        seed=args.seed,
        extracted=args.extracted,
        compresslevel=args.compresslevel,
        num_proc=args.num_proc,
        progress=not args.no_progress,
    )
    for config, path in paths.items():
        size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        print(f"{config}: {path} ({size / 1e6:.1f} MB)")
    print(f"wrote {len(paths)} archive(s) in {time.perf_counter() - t0:.1f} s")
    return 0


def summarize(dataset_dict, title: str) -> str:
    """Trials and frames per split and a few labels: what a person checks first."""
    lines = [title]
    for split, ds in dataset_dict.items():
        frames = sum(ds["num_frames"])
        emotions = Counter(ds.features["emotion"].int2str(e) for e in ds["emotion"])
        actors = sorted(set(ds["actor"]))
        lines.append(
            f"  {split:<10} {ds.num_rows:>5} trials {frames:>8} frames  actors {actors}  "
            f"emotions {dict(sorted(emotions.items()))}"
        )
    first = next(iter(dataset_dict.values()))
    if first.num_rows:
        row = first.with_format("numpy")[0]
        feats = first.features
        lines.append(
            f"  first trial {row['trial_id']}: {feats['emotion'].int2str(int(row['emotion']))}, "
            f"{feats['intensity'].int2str(int(row['intensity']))}, actor {int(row['actor'])} "
            f"({feats['sex'].int2str(int(row['sex']))}), {int(row['num_frames'])} frames, "
            f"landmarks {row['landmarks'].shape}, action_units {row['action_units'].shape}"
        )
    return "\n".join(lines)


def cmd_build(args: argparse.Namespace) -> int:
    from .build.builder import load_felt
    from .build.convert import check_input_folder

    check_input_folder(Path(args.data_dir), "build")  # (it had said the config's archive was not "in" a zip)
    if not bars_wanted(not args.no_progress):  # felt_hf.progress: none in logs and pipes
        import datasets

        datasets.disable_progress_bars()
    ds = load_felt(args.data_dir, args.config, cache_dir=args.cache_dir)
    print(summarize(ds, f"FELT {args.config} from {args.data_dir}"))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .build.convert import convert_felt
    from .layout import SKIPPED_FILENAME

    data_dir = Path(args.data_dir)
    split_actors = None
    if args.split_actors:
        split_actors = dict(args.split_actors)
        if len(split_actors) != len(args.split_actors):
            raise ValueError("--split-actors names a split twice")
    t0 = time.perf_counter()
    summary = convert_felt(
        data_dir,
        args.out,
        configs=args.configs,
        num_proc=args.num_proc,
        skip_bad=args.skip_bad,
        progress=not args.no_progress,
        previews=args.previews,
        au_titles=args.au_titles,
        overwrite=getattr(args, "overwrite", False),
        split_actors=split_actors,
    )
    for config, info in summary.configs.items():
        parts = [f"{s} {v.num_examples} trials/{v.num_bytes / 1e6:.1f} MB" for s, v in info.splits.items()]
        print(f"{config}: " + ", ".join(parts))
    if summary.skipped:
        print(f"skipped {summary.skipped} bad input file(s): see {Path(args.out) / SKIPPED_FILENAME}")
    if summary.set_aside:
        print(f"set aside {summary.set_aside} second copy(ies) of a trial, each the same file as the copy converted: "
              f"see {Path(args.out) / SKIPPED_FILENAME}")  # fmt: skip
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s")
    for line in _provenance_lines(summary):
        print(line, file=sys.stderr)
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in summary["configs"] else next(iter(summary["configs"]))
    print(f"load it with: from datasets import load_dataset; ds = {load_line(args.out, default)}")
    problem = path_glob_problem(args.out)
    if problem:
        warnings.warn(problem, FeltWarning, stacklevel=1)
    return 0


def _provenance_lines(summary: dict) -> list[str]:
    """A converted folder that is not FELT says so on the terminal too, not only in its card."""
    prov = summary.get("provenance") or {}
    if not prov.get("marked"):
        return []
    return [f"note: {prov.get('title', 'not FELT')}: " + "; ".join(prov.get("reasons", []))]


def cmd_push(args: argparse.Namespace) -> int:
    from .provenance import push_warning
    from .publish.hub import push_folder

    def warn_provenance() -> None:  # after the folder's checks passed, before anything is sent
        warning = push_warning(args.folder)
        if warning and not args.private:
            print(f"felt-hf: warning: {warning}", file=sys.stderr)

    plan = push_folder(
        args.folder,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        dry_run=args.dry_run,
        verify=True,  # the whole of `felt-hf verify` first (issue 11)
        before_send=warn_provenance,
    )
    print(plan.describe())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The README's main job: sample archives -> builder summary -> hub folder -> load_dataset."""
    from datasets import load_dataset

    from .build.builder import load_felt
    from .build.convert import convert_felt
    from .synthetic.archives import write_sample

    work = Path(args.workdir)
    archives, out = work / "felt_sample_archives", work / "felt"
    _refuse_demo_folder(work, out)
    archives.mkdir(parents=True, exist_ok=True)
    print(f"1/3 writing the built-in sample archives to {archives}")
    write_sample(archives, seed=args.seed)
    print("2/3 building smoothed_speech with the Felt builder")
    ds = load_felt(archives, DEFAULT_CONFIG, cache_dir=str(work / "hf_cache"))
    print(summarize(ds, "Felt builder, smoothed_speech (SYNTHETIC sample data):"))
    from .synthetic.media import write_sample_media

    write_sample_media(archives, seed=args.seed)  # FELT-style videos and RAVDESS-style audio beside them
    print(f"3/3 converting all four configs and the media configs to the hub layout in {out}")
    convert_felt(archives, out, progress=not args.no_progress, synthetic=True)
    loaded = load_dataset(str(out), DEFAULT_CONFIG, cache_dir=str(work / "hf_cache"))
    print(summarize(loaded, f"{load_line(out)}:"))
    print(summarize_media(out, loaded, cache_dir=str(work / "hf_cache")))
    print(f"load it yourself with: from datasets import load_dataset; ds = {load_line(out)}")
    print(f"done: push it with `felt-hf push {out} --repo-id <you>/felt --dry-run`")
    return 0


def summarize_media(out: Path, tracking, cache_dir: str) -> str:
    """Load two media configs without torchcodec (``decode=False``), pair them with the tracking
    row by row and decode the first trial's video and audio with :mod:`felt_hf.media`."""
    from datasets import Audio, Video, concatenate_datasets, load_dataset

    from .inputs.media import read_audio, read_video_frames
    from .schema import LABEL_COLUMNS

    split = next(iter(tracking))
    track = tracking[split]
    video = load_dataset(str(out), "landmark_plot_speech", split=split, cache_dir=cache_dir)
    video = video.cast_column("video", Video(decode=False))
    audio = load_dataset(str(out), "audio_speech", split=split, cache_dir=cache_dir)
    audio = audio.cast_column("audio", Audio(decode=False))
    both = concatenate_datasets([track, audio.remove_columns(list(LABEL_COLUMNS))], axis=1)
    frames = read_video_frames(video[0])
    samples, rate = read_audio(both[0])
    row = video[0]
    return (
        f'load_dataset("{out}", "landmark_plot_speech") / "audio_speech", split {split}: {video.num_rows} and '
        f"{audio.num_rows} trials in the tracking's order ({list(video['trial_id']) == list(track['trial_id'])})\n"
        f"  first trial {row['trial_id']}: video {frames.shape} at {row['fps']:g} fps for {row['num_tracking_rows']} "
        f"tracking rows (alignment {row['alignment']}), audio {samples.shape[0]} samples at {rate} Hz "
        f"= {samples.shape[0] / rate:.2f} s, tracking {int(both[0]['num_frames'])} frames"
    )


def _refuse_demo_folder(work: Path, out: Path) -> None:
    """The demo writes the sample, a cache and ``felt/`` under ``work``: not inside a converted
    folder, and not over a ``felt/`` that is someone's own build (only over an earlier demo's,
    whose card says it is the synthetic sample)."""
    from .errors import FeltOutputError
    from .layout import CARD_FILENAME

    refuse_inside_converted_folder(work, "the demo's files")
    card = out / CARD_FILENAME
    if out.exists() and any(out.iterdir()):
        text = card.read_text(encoding="utf-8", errors="replace") if card.is_file() else ""
        if "(synthetic sample)" not in text:
            raise FeltOutputError(f"{out} holds something other than an earlier demo's build; the demo would replace "
                                  "it: give another --workdir")  # fmt: skip


def cmd_regenerate(args: argparse.Namespace) -> int:
    """``scripts/regenerate.py``'s own ``main`` on the same arguments: one entry point, two names."""
    from .regen.cli import main as regen_main

    return regen_main(args.argv_rest)


def _regen_parents() -> list[argparse.ArgumentParser]:
    """The regeneration parser itself, so ``felt-hf regenerate`` has exactly its options and help."""
    from .regen.cli import build_parser as regen_parser

    return [regen_parser()]


def version() -> str:
    """The installed distribution's version; the package's own constant when run from a checkout."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("felt-hf")
    except PackageNotFoundError:
        from . import __version__

        return __version__


# --- looking at the tracking: `show` (PNGs of one trial) and `render` (mp4s) -----------------------
def _needs_extra(e: ImportError):
    from .errors import FeltLookupError

    return FeltLookupError(str(e))


def cmd_show(args: argparse.Namespace) -> int:
    from .view.plots import save_trial_pngs
    from .view.viewrows import find_row

    if args.trial_id is None and not Path(args.folder).is_file():
        from .errors import FeltLookupError, FeltPathError

        if not Path(args.folder).exists():  # (a mistyped CSV path: say that, not "give a TRIAL_ID")
            raise FeltPathError(f"{args.folder}: no such file or folder")
        raise FeltLookupError(f"{args.folder}: give a TRIAL_ID (only a single CSV needs none)")
    refuse_inside_converted_folder(args.out, "pictures")
    row = find_row(args.folder, args.trial_id, args.config)
    _warn_if_faceless(row)
    try:
        paths = save_trial_pngs(row, args.out)
    except ImportError as e:  # matplotlib is the optional `plot` extra
        raise _needs_extra(e) from None
    for path in paths:
        print(path)
    return 0


def _warn_if_faceless(row: dict) -> None:
    """A trial with no face in any frame draws empty panels: said, with where the numbers are
    (FELT's smoothing leaves a trial NaN throughout when its first frames had no face)."""
    import numpy as np

    landmarks = np.asarray(row.get("landmarks", []), dtype=np.float32).reshape(len(row.get("frame", [])), -1)
    if landmarks.size and np.isnan(landmarks).all():
        channel = row.get("vocal_channel")
        if not isinstance(channel, str):  # (a ClassLabel read as its index)
            from .schema import CLASS_LABELS

            channel = CLASS_LABELS["vocal_channel"][int(channel)]
        warnings.warn(
            f"trial {row['trial_id']}: no landmarks in any of its {landmarks.shape[0]} frames (NaN throughout), so the "
            f"pictures are empty; if this is a smoothed config, FELT's smoothing leaves a trial so when its first frames had "
            f"no face, and --config raw_{channel} has its tracking",
            FeltWarning,
            stacklevel=1,
        )


def cmd_render(args: argparse.Namespace) -> int:
    from .view.render import render_folder

    refuse_inside_converted_folder(args.out, "videos")
    _refuse_inside_input(args.out, args.folder)
    t0 = time.perf_counter()
    try:
        paths = render_folder(
            args.folder,
            args.out,
            config=args.config,
            kinds=args.kind,
            trial_ids=args.trials,
            num_proc=args.num_proc,
            progress=not args.no_progress,
        )
    except ImportError as e:  # PyAV and Pillow are the optional `video` extra
        raise _needs_extra(e) from None
    print(f"wrote {len(paths)} video(s) under {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _refuse_inside_input(out: str, folder: str) -> None:
    """Rendered mp4s are named like FELT's own videos: written inside the input folder, a later
    ``felt-hf convert`` of it read them as FELT's Landmark_Plot videos, or failed on them as
    RAVDESS audio-video files."""
    from .errors import FeltOutputError
    from .inputs.sources import download_folder_of

    source = Path(os.path.abspath(folder))
    here = Path(os.path.abspath(out))
    download = download_folder_of(here)
    if download is not None and not (source.is_dir() and (here == source or source in here.parents)):
        raise FeltOutputError(
            f"--out {out}: inside {download}, a folder of FELT archives, where felt-hf convert would take "
            "the rendered videos for FELT's own; write them elsewhere"
        )
    if source.is_dir() and (here == source or source in here.parents):
        raise FeltOutputError(
            f"--out {out}: inside the input folder {folder}, where felt-hf convert would take the "
            "rendered videos for FELT's own; write them elsewhere"
        )


def add_view_parsers(sub) -> None:
    """``felt-hf show`` and ``felt-hf render``: pictures and videos from any tracking."""
    from .view.render import KINDS

    s = sub.add_parser("show", help="PNGs of one trial: landmarks, AU heat map, emotions, head pose")
    s.add_argument(
        "folder",
        type=input_path,
        help="converted folder (felt-hf convert), folder of FELT archives, or one tracking CSV",
    )
    s.add_argument("trial_id", nargs="?", help="RAVDESS trial id, e.g. 01-01-03-02-01-01-12 (not for one CSV)")
    s.add_argument("--config", choices=CONFIG_NAMES, help="default: the first config that has the trial")
    s.add_argument("--out", default="fig", type=folder_path, help="output folder (default: fig)")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("render", help="mp4s from tracking: landmark plots and AU heat maps at 29.97 fps")
    s.add_argument(
        "folder",
        type=input_path,
        help="converted folder (felt-hf convert), folder of FELT archives, or one tracking CSV",
    )
    s.add_argument("--config", default=DEFAULT_CONFIG, choices=CONFIG_NAMES, help="tracking config to render")
    s.add_argument("--kind", nargs="+", default=list(KINDS), choices=KINDS, help="which videos (default: all kinds)")
    s.add_argument("--trials", nargs="+", help="only these trial ids (default: every trial)")
    s.add_argument("--out", default="videos", type=folder_path, help="output folder (default: videos)")
    s.add_argument("--num-proc", type=positive_int, help="worker processes (default: all cores)")
    s.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    s.set_defaults(func=cmd_render)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="felt-hf",
        description="FELT facial tracking as a Hugging Face dataset",
        epilog="exit status: 0 success, 1 failed checks (e.g. a regeneration trial failed), "
        "2 user or input error, 130 interrupted",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", help="one of:")

    s = sub.add_parser("sample", help="write the small built-in sample archives (generated, no download)")
    s.add_argument("out", type=folder_path, help="folder to write the four sample archives into (created if missing)")
    s.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        help="random seed; the same seed gives the same tracking archives and wavs byte for byte, and the same "
        "pictures and sound in the mp4s up to libx264, which on a busy machine does not always encode the same "
        "frames to the same bytes (default 0)",
    )
    s.add_argument("--extracted", action="store_true", help="write folders of CSVs instead of zips")
    s.add_argument("--media", action="store_true", help="also write FELT-style videos and RAVDESS-style audio")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("synth", help="write realistic FELT-shaped archives (any actors, full size on request)")
    s.add_argument("out", type=folder_path, help="folder to write the archives into (created if missing)")
    s.add_argument("--actors", type=actor_list, help="e.g. 1-24 or 1,2,19 (default: all 24)")
    s.add_argument(
        "--channels",
        nargs="+",
        default=list(VOCAL_CHANNELS),
        choices=VOCAL_CHANNELS,
        help="vocal channels (default both)",
    )
    s.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, help="raw and/or smoothed (default both)"
    )
    s.add_argument("--trials-per-actor", type=positive_int, help="default: every trial (60 speech, 44 song)")
    s.add_argument(
        "--seed", type=seed_int, default=0, help="random seed; the same seed gives the same bytes (default 0)"
    )
    s.add_argument("--extracted", action="store_true", help="write folders of CSVs instead of zips")
    s.add_argument("--compresslevel", type=int, default=6, help="zip deflate level 0-9 (default 6, as FELT's zips)")
    s.add_argument("--num-proc", type=positive_int, help="worker processes (default: all cores)")
    s.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("build", help="build one config with the Felt builder and print a summary")
    s.add_argument("data_dir", type=input_path, help="folder with the FELT zips (or extracted folders)")
    s.add_argument("--config", default=DEFAULT_CONFIG, choices=CONFIG_NAMES, help=f"default {DEFAULT_CONFIG}")
    s.add_argument("--cache-dir", help="datasets cache folder (default: datasets' own, under HF_HOME)")
    s.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("convert", help="convert FELT archives to the hub layout (parquet configs + card)")
    s.add_argument(
        "data_dir", type=input_path, help="folder with the FELT zips (or extracted folders, or regeneration output)"
    )
    s.add_argument("--out", default="felt", type=folder_path, help="output folder (default: felt)")
    s.add_argument(
        "--configs",
        nargs="+",
        action="extend",  # given twice, both lists count (the first had been dropped without a word)
        choices=CONFIG_NAMES + MEDIA_CONFIG_NAMES,
        help="default: every config with inputs",
    )
    s.add_argument("--num-proc", type=positive_int, help="worker processes (default: all cores)")
    s.add_argument("--skip-bad", action="store_true", help="skip unreadable trials and report them")
    s.add_argument("--previews", action="store_true", help="add a thumbnail image column the hub viewer shows")
    s.add_argument(
        "--split-actors",
        nargs="+",
        action="extend",  # given twice, both rules count (a split named in both is an error)
        type=split_actors_arg,
        metavar="SPLIT=ACTORS",
        help="actor-disjoint split rule replacing the default train=1-18 validation=19-20 test=21-24",
    )
    s.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    s.add_argument(
        "--au-titles",
        action="store_true",
        help="decode AU animations and read their 'Frame N' titles to map frames to tracking rows (needs matplotlib)",
    )
    s.add_argument(
        "--overwrite",
        action="store_true",
        help="remove configs of an earlier build in --out that this one does not write, and replace a README.md "
        "that is not an earlier build's card",
    )
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("push", help="upload a converted folder to a Hugging Face dataset repo")
    s.add_argument("folder", type=input_path, help="a folder written by felt-hf convert")
    s.add_argument("--repo-id", required=True, help="dataset repo on the hub, e.g. someone/felt (created if missing)")
    s.add_argument("--private", action="store_true", help="create the repo private")
    s.add_argument("--revision", help="branch to push to (created if missing; default main)")
    s.add_argument("--commit-message", help="message of the commits (default: generated)")
    s.add_argument("--dry-run", action="store_true", help="list what would be sent, send nothing")
    s.set_defaults(func=cmd_push)

    s = sub.add_parser("demo", help="sample -> builder -> hub folder -> load_dataset, all offline")
    s.add_argument(
        "--workdir", default="felt_demo", type=folder_path, help="where to write everything (default felt_demo)"
    )
    s.add_argument("--seed", type=seed_int, default=0, help="seed of the sample archives (default 0)")
    s.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    s.set_defaults(func=cmd_demo)

    add_verify_parser(sub)

    s = sub.add_parser(
        "regenerate",
        parents=_regen_parents(),
        add_help=False,
        help="rerun Py-Feat over RAVDESS videos, as scripts/regenerate.py (see docs/REGENERATION.md)",
        description="Same options and exit status as scripts/regenerate.py (one implementation).",
    )
    s.set_defaults(func=cmd_regenerate)
    add_view_parsers(sub)
    return p


# --- felt-hf verify (issue 11) -----------------------------------------------------------------
def add_verify_parser(sub) -> None:
    """``felt-hf verify PATH``: a FELT download or a converted folder, told apart by content."""
    s = sub.add_parser(
        "verify",
        help="check a FELT download (checksums, trials, headers, smoothing) or a converted folder",
        description="Prints a table of checks; exit 0 all passed, 1 a check failed, 2 bad input.",
    )
    s.add_argument(
        "path", type=input_path, help="folder with the FELT archives, or a folder written by `felt-hf convert`"
    )
    s.add_argument(
        "--sample",
        type=sample_count,
        help="a download: compare smoothing on N seeded-random trials (default: all); a converted folder: re-read N trials and read N media cells per split (default 64), decoding 4 videos per split frame by frame, or every one when N covers the split (`all`: everything)",
    )
    s.add_argument("--seed", type=seed_int, default=0, help="seed of --sample (default 0)")
    s.add_argument("--num-proc", type=positive_int, help="worker processes (default: all cores)")
    s.add_argument("--json", dest="json_path", type=file_path, metavar="PATH", help="write the full report as JSON")
    s.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    s.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from .errors import EXIT_OK
    from .publish.verify import verify

    if args.sample is not None and args.sample < 1:
        raise ValueError(f"--sample must be at least 1, not {args.sample}")
    if args.json_path is not None:
        refuse_inside_converted_folder(Path(args.json_path).parent, "the report")
        check_report_path(args.json_path)  # now, not after minutes of checks
    report = verify(
        args.path, sample=args.sample, num_proc=args.num_proc, progress=not args.no_progress, seed=args.seed
    )
    print(report.table())
    if args.json_path is not None:
        print(f"full report: {report.write_json(args.json_path)}")
    return EXIT_OK if report.ok else EXIT_CHECKS_FAILED


ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_arrow_pool() -> None:
    """Arrow's C++ default memory pool set to the system allocator for this process and the
    workers forked from it, unless the user chose one (the variable) or pyarrow is already
    loaded (it fixes its pool on import).

    Why: the parquet writer's page and compression buffers come from that C++ pool, which
    pyarrow's ``set_memory_pool`` does not reach; with mimalloc, its default, each row group
    faults fresh pages in, while glibc's heap keeps them (the workers raise its thresholds,
    :mod:`felt_hf.workers`). Converting 1/6 of FELT on 2 cores, 8 alternating pairs of runs in
    two rounds, every pair faster: median 5.94 s and 10.6 s of CPU against 6.58 s and 11.6 s
    (and 6.41 against 7.05 s); 16 workers on 16 cores, 2 runs each: 3.39-3.63 s against
    3.77-3.97 s. Setting ``pyarrow.set_memory_pool`` in the workers instead gained nothing
    measurable. The written bytes do not depend on the pool.
    """
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(ARROW_POOL_VARIABLE, "system")


def main(argv: list[str] | None = None) -> int:
    with stop_signals():  # felt_hf.stops: SIGTERM as a Ctrl-C, quiet in forked workers
        try:
            return _main(argv)
        except KeyboardInterrupt as e:  # (and Terminated) also while the parser is built or pandas imported
            return interrupted(e)


def _import_pandas_first() -> None:
    """Import pandas before the command runs, where a Ctrl-C during it is a KeyboardInterrupt.

    pyarrow imports pandas lazily the first time an array goes to numpy, inside Cython code that
    swallows exceptions: a Ctrl-C that landed during that import (about 0.3 s, early in
    ``felt-hf render``) was lost, and the run went on to the end and exited 0 (measured with a
    SIGINT at 0.4-0.5 s: 2 of 2 runs). Every command that reads parquet or CSV imports pandas
    anyway."""
    import pandas  # noqa: F401


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    use_system_arrow_pool()
    warnings.formatwarning = format_warning  # (worker processes forked from here inherit it)
    parser = build_parser()
    if not argv:  # bare `felt-hf`: the help, not an error
        parser.print_help()
        return EXIT_OK
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    args.argv_rest = argv[argv.index(args.command) + 1 :]
    try:
        _import_pandas_first()
        return int(args.func(args) or 0)
    except Exception as e:  # bad input, path or hub: one clear line, no traceback
        line = error_line(e)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
