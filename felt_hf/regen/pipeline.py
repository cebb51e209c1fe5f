"""Running a tracker over many trials: shards, resume, FELT's post-processing, CSVs, manifest.

Per trial, in FELT's order: track the video (raw table), forward-fill NaN in place as FELT's
``2_interpolate_motion.py`` did (``DataFrame.ffill`` over every column), smooth with
:mod:`felt_hf.smoothing`, and write both CSVs with :func:`felt_hf.csv_writer.felt_csv_bytes`.

Layouts follow FELT's history, so the output is interchangeable with the archives: a trial with
no NaN keeps the ``raw`` header (``detect_video(...).to_csv(path)``) and gets the ``smoothed`` one;
a trial that had NaN was read back, filled and re-saved with a fresh index by FELT, so it gets
``raw_resaved`` and, derived from that, ``smoothed_resaved``. Leading NaN (no face before the
first face) cannot be filled; FELT's script raised there and left the file unfilled. We keep those
rows NaN, write the re-saved layouts anyway and record ``leading_nan_rows`` in the manifest;
smoothing then turns those columns wholly NaN, as FELT's ``filtfilt`` would have.

Resume: a trial is done when both of its CSVs exist. Files are written under a temporary name and
renamed, raw first, smoothed last, so a killed run leaves either nothing or a complete file.
Sharding needs no coordinator: shard ``i`` of ``n`` takes every ``n``-th trial of the sorted list.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import FeltError, FeltWarning, command_line_text
from ..inputs.csv_writer import approx_time_text, felt_csv_bytes
from ..inputs.smoothing import forward_fill, smooth_columns
from ..progress import bars_wanted
from ..schema import APPROX_TIME_COLUMN, FACE_BOX_COLUMNS, FRAME_COLUMN, INPUT_COLUMN, NUMERIC_COLUMNS
from .compat import environment_versions, pyfeat_progress_bars
from .detectors import tracker_provenance
from .tracks import columns_from_frame, face_counts, numeric_block, with_block
from .videos import VideoItem

MANIFEST_DIR = "manifest"
TMP_DIR = ".regen-tmp"


# --- sharding ------------------------------------------------------------------------------------
def resolve_shard(shard: int | None, num_shards: int | None, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(shard, num_shards)`` from the arguments, else ``RANK``/``WORLD_SIZE`` (torchrun), else SLURM arrays.

    ``SLURM_ARRAY_TASK_ID`` is offset by ``SLURM_ARRAY_TASK_MIN`` so that ``--array=1-8`` works.
    """
    env = os.environ if env is None else env
    if (shard is None) != (num_shards is None):
        raise FeltError("give both --shard and --num-shards, or neither")
    if shard is None:
        if "WORLD_SIZE" in env and "RANK" in env:
            shard, num_shards = _env_int(env, "RANK"), _env_int(env, "WORLD_SIZE")
        elif "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
            offset = _env_int(env, "SLURM_ARRAY_TASK_MIN", "0")
            shard = _env_int(env, "SLURM_ARRAY_TASK_ID") - offset
            num_shards = _env_int(env, "SLURM_ARRAY_TASK_COUNT")
        else:
            shard, num_shards = 0, 1
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise FeltError(f"shard {shard} of {num_shards} is out of range (need 0 <= shard < num_shards)")
    return shard, num_shards


def _env_int(env: Mapping[str, str], name: str, default: str | None = None) -> int:
    """A whole number from the environment, or an error naming the variable (``RANK=abc`` had
    said only "invalid literal for int() with base 10: 'abc'")."""
    text = env.get(name, default)
    try:
        return int(text)
    except (TypeError, ValueError):
        raise FeltError(f"environment variable {name}={text!r} is not a whole number") from None


def select_shard(items: Sequence[VideoItem], shard: int, num_shards: int) -> list[VideoItem]:
    """Every ``num_shards``-th trial of the id-sorted list, starting at ``shard``: disjoint, covering, stable."""
    ordered = sorted(items, key=lambda it: it.trial_id)
    return ordered[shard::num_shards]


def device_and_index(device: str, env: Mapping[str, str] | None = None) -> tuple[str, int | None]:
    """``("cuda", k)`` for ``cuda:k``, or for ``cuda`` under torchrun (``LOCAL_RANK``); else ``(device, None)``.

    Py-Feat 0.6.2 accepts only ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (and FELT passed
    ``"cuda"``), so a GPU index is applied with ``torch.cuda.set_device`` and the detector still gets
    ``"cuda"``.
    """
    env = os.environ if env is None else env
    if device.startswith("cuda:"):
        return "cuda", int(device.split(":", 1)[1])
    if device == "cuda" and "LOCAL_RANK" in env:
        return "cuda", _env_int(env, "LOCAL_RANK")
    return device, None


def select_gpu(index: int, where: str) -> None:
    """``torch.cuda.set_device(index)``, or one line naming ``where`` the index came from (the
    option, or torchrun's ``LOCAL_RANK``) when there is no such GPU: on a torch without CUDA the
    call had been an AttributeError traceback from torch's C module."""
    try:
        import torch
    except ImportError:
        raise FeltError(f"{where}: torch is not installed") from None
    if not torch.backends.cuda.is_built():
        raise FeltError(f"{where}: this torch build has no CUDA (torch {torch.__version__})")
    count = torch.cuda.device_count()
    if not 0 <= index < count:
        raise FeltError(f"{where}: GPU {index} does not exist ({count} GPU{'' if count == 1 else 's'} visible)")
    torch.cuda.set_device(index)


# --- output paths and atomic writes -------------------------------------------------------------
def output_paths(out: str | os.PathLike, item: VideoItem) -> tuple[Path, Path]:
    """``(raw, smoothed)`` CSV paths in FELT's per-actor folders."""
    actor = f"Actor_{item.actor:02d}"
    name = f"{item.trial_id}.csv"
    root = Path(out)
    return (
        root / f"raw_motion_{item.channel}" / actor / name,
        root / f"smoothed_motion_{item.channel}" / actor / name,
    )


def is_done(out: str | os.PathLike, item: VideoItem) -> bool:
    return all(p.is_file() for p in output_paths(out, item))


def remove_stale_temps(path: Path) -> int:
    """Delete temporaries a killed run left for this file (only this trial's, so parallel shards are safe)."""
    if not path.parent.is_dir():
        return 0
    n = 0
    for p in path.parent.glob(f".{path.name}.*.tmp"):
        p.unlink(missing_ok=True)
        n += 1
    return n


# --- manifest -------------------------------------------------------------------------------------
def manifest_path(out: str | os.PathLike, shard: int, num_shards: int) -> Path:
    return Path(out) / MANIFEST_DIR / f"shard-{shard:05d}-of-{num_shards:05d}.jsonl"


def append_manifest(path: Path, record: dict) -> None:
    """Append one JSON line with a single ``write`` + fsync; a torn last line from a kill is closed off first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(out: str | os.PathLike) -> list[dict]:
    """Every record of every shard's manifest, skipping lines torn by a kill."""
    records = []
    for p in sorted((Path(out) / MANIFEST_DIR).glob("*.jsonl")):
        for line in p.read_text().splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


# --- one trial ------------------------------------------------------------------------------------
@dataclass
class TrialResult:
    """What happened to one trial; becomes one manifest line."""

    trial_id: str
    status: str  # "ok" or "error"
    seconds: float
    stats: dict = field(default_factory=dict)
    error: str | None = None


def felt_read_back(columns: dict, layout: str) -> dict:
    """``columns`` as FELT's next script saw them: written as ``layout`` and read back with ``pandas.read_csv``.

    FELT's fill and smoothing scripts each started from ``pd.read_csv`` of the previous file. pandas < 3's
    default float parser is not round-trip: measured on 100,000 random doubles with pandas 2.3, 39 % came
    back changed in their last digits (relative error up to 1e-12; ``0.023589301909168713`` ->
    ``0.0235893019091687``), and those values are what FELT filled,
    re-saved and smoothed. Parsing our own CSV text with the installed pandas reproduces that bit for bit on
    the pinned stack (pandas 2.x, as FELT used); on pandas >= 3 the read-back is exact and changes nothing.
    """
    import io

    import pandas as pd

    df = pd.read_csv(io.BytesIO(felt_csv_bytes(columns, layout)))
    out = dict(columns)
    for c in NUMERIC_COLUMNS:
        out[c] = df[c].to_numpy(dtype=np.float64)
    return out


def postprocess(columns: dict, *, short_clip: str, name: str) -> tuple[dict, dict, dict]:
    """FELT's forward-fill then smoothing; returns ``(raw_filled, smoothed, stats)``.

    The fill covers every numeric column (FELT ran ``ffill()`` on the whole table), the smoothing
    only FELT's smoothed columns.
    """
    block = numeric_block(columns)
    nan_rows = np.isnan(block).any(axis=1)
    if nan_rows.any():  # FELT read the raw file back, filled it and re-saved it
        block = numeric_block(felt_read_back(columns, "raw"))
    filled = forward_fill(block)
    leading = int(np.isnan(filled).any(axis=1).sum())
    raw = with_block(columns, filled)
    layout = "raw_resaved" if nan_rows.any() else "raw"
    smoothed = smooth_columns(felt_read_back(raw, layout), short_clip=short_clip, name=name)
    counts = face_counts(columns[FRAME_COLUMN], columns[FACE_BOX_COLUMNS[0]])
    stats = {
        "num_rows": int(block.shape[0]),
        "num_frames": int(len(counts)),
        "no_face_frames": int((counts == 0).sum()),
        "multi_face_frames": int((counts > 1).sum()),
        "nan_rows_filled": int(nan_rows.sum()) - leading,
        "leading_nan_rows": leading,
        "had_nan": bool(nan_rows.any()),
    }
    return raw, smoothed, stats


def frame_counts(video: str, tracked: int) -> dict[str, int]:
    """``metadata_frames`` (the container's count, which Py-Feat's loader iterates) and
    ``decoded_frames`` (how many of those decode) of a tracked video, for the manifest.

    The video is decoded again only when fewer frames were tracked than its metadata counts:
    a truncated file had been written as a successful trial with a fraction of its frames,
    and nothing recorded how many it should have had. ``tracked`` may still be up to 4 below
    ``decoded_frames``: Py-Feat drops the batch of 5 holding the first missing frame.
    """
    from .fast import count_decodable_frames, probe_video

    metadata, _fps = probe_video(video)
    if metadata <= 0:  # (no count in the container: what was tracked is all there is to say)
        return {"metadata_frames": metadata, "decoded_frames": tracked}
    decoded = metadata if tracked >= metadata else count_decodable_frames(video, metadata)
    return {"metadata_frames": metadata, "decoded_frames": decoded}


def warn_if_frames_lost(display: str, counts: dict[str, int], tracked: int) -> None:
    """A warning naming the video when it decoded to fewer frames than its metadata counts: the
    trial is written (Py-Feat 0.6.2 returned the same frames, and FELT kept them), but not in silence."""
    metadata, decoded = counts.get("metadata_frames", 0), counts.get("decoded_frames", 0)
    if decoded < metadata:
        warnings.warn(
            f"{display}: {decoded} of the {metadata} frames its metadata counts could be decoded (truncated or "
            f"damaged?); {tracked} tracked, as Py-Feat's loader returns them (manifest: decoded_frames, metadata_frames)",
            FeltWarning,
            stacklevel=2,
        )


def process_trial(
    item: VideoItem, tracker, out: str | os.PathLike, *, short_clip: str = "error", command_line: bool = False
) -> TrialResult:
    """Track, post-process and write one trial; any failure becomes an ``error`` result, never a raise.

    ``command_line``: the error text names command-line options (``--short-clip pad``) rather
    than the library's keywords (``short_clip='pad'``), for a command to print.
    """
    t0 = time.perf_counter()
    raw_path, smooth_path = output_paths(out, item)
    try:
        for p in (raw_path, smooth_path):
            remove_stale_temps(p)
        with item.local_path(Path(out) / TMP_DIR) as video:
            table = tracker.track(video)
            columns = columns_from_frame(table, item.display)
            tracked = len(np.unique(np.asarray(columns[FRAME_COLUMN])))
            counts = frame_counts(video, tracked) if tracked else {}
        columns[INPUT_COLUMN] = [item.display] * len(columns[FRAME_COLUMN])
        if any(t is None for t in columns[APPROX_TIME_COLUMN]):  # a backend without approx_time
            columns[APPROX_TIME_COLUMN] = approx_time_text(columns[FRAME_COLUMN])
        if len(columns[FRAME_COLUMN]) == 0:
            raise FeltError(f"{item.display}: the detector returned no rows (no decodable frames?)")
        warn_if_frames_lost(item.display, counts, tracked)
        raw, smoothed, stats = postprocess(columns, short_clip=short_clip, name=item.display)
        stats.update(counts)
        resaved = stats["had_nan"]
        atomic_write_bytes(raw_path, felt_csv_bytes(raw, "raw_resaved" if resaved else "raw"))
        atomic_write_bytes(smooth_path, felt_csv_bytes(smoothed, "smoothed_resaved" if resaved else "smoothed"))
        stats["raw_layout"] = "raw_resaved" if resaved else "raw"
        stats["raw_csv"] = str(raw_path)
        stats["smoothed_csv"] = str(smooth_path)
        return TrialResult(item.trial_id, "ok", time.perf_counter() - t0, stats)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # one bad video must not stop the other 2451
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        msg = f"{type(e).__name__}: {command_line_text(e) if command_line else e}"
        return TrialResult(item.trial_id, "error", time.perf_counter() - t0, {"traceback": "".join(tb[-6:])}, msg)


# --- the run ----------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    total: int
    skipped: int
    ok: int
    errors: list[tuple[str, str]]
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def run(
    items: Sequence[VideoItem],
    tracker,
    out: str | os.PathLike,
    *,
    shard: int = 0,
    num_shards: int = 1,
    short_clip: str = "error",
    overwrite: bool = False,
    progress: bool = True,
    settings: dict | None = None,
    command_line: bool = False,
) -> RunSummary:
    """Process this shard's trials, skipping finished ones; returns counts (errors listed, not raised).

    ``command_line``: error texts name the command's options, not the library's keywords
    (:func:`process_trial`)."""
    mine = select_shard(items, shard, num_shards)
    todo = [it for it in mine if overwrite or not is_done(out, it)]
    mpath = manifest_path(out, shard, num_shards)
    base = {
        "shard": shard,
        "num_shards": num_shards,
        "host": socket.gethostname(),
        "versions": environment_versions(),
        "settings": {**tracker.describe(), "short_clip": short_clip, **(settings or {})},
        "provenance": tracker_provenance(tracker),
    }
    summary = RunSummary(len(mine), len(mine) - len(todo), 0, [], 0, 0.0)
    bar = _progress(len(todo), progress, shard, num_shards)
    t_run = time.perf_counter()
    try:
        trial_options = {"short_clip": short_clip, "command_line": command_line}
        _run_items(todo, tracker, out, trial_options, bars_wanted(progress), base, mpath, summary, bar, t_run)
    finally:
        with contextlib.suppress(OSError):  # only when empty: another shard's run may be extracting into it
            (Path(out) / TMP_DIR).rmdir()
    if bar is not None:
        bar.close()
    summary.seconds = time.perf_counter() - t_run
    return summary


def _run_items(
    todo, tracker, out, trial_options: dict, bars: bool, base: dict, mpath, summary: RunSummary, bar, t_run: float
) -> None:
    """Each trial tracked and written, its manifest line appended, the counts in ``summary``."""
    for item in todo:
        started = time.time()
        with pyfeat_progress_bars(bars):
            res = process_trial(item, tracker, out, **trial_options)
        record = {
            **base,
            "trial_id": item.trial_id,
            "vocal_channel": item.channel,
            "actor": item.actor,
            "source": item.display,
            "status": res.status,
            "seconds": round(res.seconds, 3),
            "started": started,
            "error": res.error,
            **res.stats,
        }
        if res.status == "ok":
            summary.ok += 1
            summary.frames += res.stats.get("num_frames", 0)
            record["frames_per_second"] = (
                round(res.stats.get("num_frames", 0) / res.seconds, 3) if res.seconds else None
            )
        else:
            summary.errors.append((item.trial_id, res.error or "error"))
            print(f"[felt-regen] {item.display}: {res.error}", file=sys.stderr)
        append_manifest(mpath, record)
        summary.seconds = time.perf_counter() - t_run
        if bar is not None:
            bar.update(1)
            bar.set_postfix(ok=summary.ok, err=len(summary.errors), fps=f"{summary.fps:.1f}")


def _progress(total: int, enabled: bool, shard: int, num_shards: int):
    if not bars_wanted(enabled):  # felt_hf.progress: none in a batch log, as felt-hf's other commands
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"shard {shard}/{num_shards}", unit="trial", dynamic_ncols=True)
