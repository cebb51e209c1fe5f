"""The media configs of a converted folder: FELT's three tracking videos and the RAVDESS audio.

One config per video kind and vocal channel (``landmark_overlay_speech`` ...) and one audio config
per channel (``audio_speech``, ``audio_song``). Each has **one row per trial of the channel's
tracking configs, in the same splits and the same order**, so
``concatenate_datasets([tracking, media.remove_columns(labels)], axis=1)`` pairs them row by row.

Why it is shaped this way:

* The mp4 bytes are copied as FELT published them (no re-encoding: nothing is lost and it runs at
  the speed of reading the archives); the wavs are re-packed as FLAC with soundfile, which keeps
  the 16-bit samples exactly and halves the bytes. Both live inside the parquet as
  ``datasets.Video`` / ``datasets.Audio`` cells, so the folder is self-contained on the hub.
* Facts are read from the media with PyAV / soundfile (frame count from the packets, rate, size,
  duration), never from names.
* Row groups hold :data:`ROW_GROUP_ROWS` trials (a few MB), so reading one trial does not read a
  shard; shards close at about :data:`TARGET_SHARD_BYTES` (hundreds of MB, as the hub prefers).
  Media bytes are stored uncompressed (mp4 and FLAC do not compress further) and without
  statistics (a min/max of megabyte values would bloat every footer).
* Rows are written one row group at a time, so memory does not grow with the number of trials.
* Shards are written under hidden temporary names and renamed by the converter only once every
  config (tracking and media) has been written, so a failure leaves the earlier build intact.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import Replacement
from ..errors import FeltError, FeltFormatError, FeltLookupError, FeltMediaError, FeltWarning
from ..inputs.csv_fast import prepare_worker_process
from ..inputs.media import (
    FULL_AV,
    KIND_FOLDERS,
    WAV,
    MediaFile,
    find_media,
    mp4_audio_to_flac,
    probe_video,
    wav_to_flac,
)
from ..inputs.sources import MemberReader, config_members, duplicate_of, find_source
from ..layout import ShardPaths
from ..parquet_reads import read_table
from ..progress import bars_wanted
from ..ravdess import actor_ranges, split_of_actor, split_rule_text
from ..schema import (
    AUDIO_KIND,
    CLASS_LABELS,
    CONFIG_NAMES,
    MEDIA_CONFIG_NAMES,
    VIDEO_KINDS_BY_NAME,
    media_config_parts,
    media_features,
)
from ..workers import ignore_interrupts, imap_largest_first, tune_worker_process
from .media_facts import count_row, media_notes, merge_facts
from .skipped import (
    compare_copies,
    differing_copies_error,
    refuse_all_skipped,
    skip_entry,
    trial_id_of,
    unreadable_copy_error,
)

TARGET_SHARD_BYTES = 300_000_000
_FELT_LIKE_FOLDER_RE = re.compile(r"landmark|overlay|plot|action.?unit|animation|activation", re.IGNORECASE)
ROW_GROUP_ROWS = 4


def _folders_of(f: MediaFile) -> str:
    """The folders a media file is in, its zip's name among them (a misspelt ``Landmark_Plots.zip``
    is as worth a word as a misspelt folder)."""
    zip_name = Path(f.source).stem if f.source.lower().endswith(".zip") else ""
    return f"{zip_name}/{PurePosixPath(f.member).parent.as_posix()}"


_STATS_COLUMNS = ["trial_id", "actor", "emotion"]


def split_configs(configs: Sequence[str]) -> tuple[list[str], list[str]]:
    """Requested config names -> (tracking, media), rejecting unknown names."""
    tracking, media = [], []
    for c in configs:
        if c in CONFIG_NAMES:
            tracking.append(c)
        elif c in MEDIA_CONFIG_NAMES:
            media.append(c)
        else:
            raise ValueError(f"unknown FELT config {c!r}; expected one of {CONFIG_NAMES + MEDIA_CONFIG_NAMES}")
    return tracking, media


# --- planning: which file feeds which row -----------------------------------------------------------
@dataclass
class MediaConfigPlan:
    """One media config's inputs: the chosen file per trial, and what was skipped on the way."""

    config: str
    kind: str  # a video kind name or "audio"
    channel: str
    files: dict[str, MediaFile] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    au_titles: bool = False  # read AU animations' `Frame N` titles to recover their map
    left_out: set[str] = field(default_factory=set)  # trials whose files `skipped` lists: their cells stay empty


def _skip_entry(plan: MediaConfigPlan, f: MediaFile | None, trial_id: str, error: str, kept: str | None = None) -> dict:
    return skip_entry(plan.config, trial_id, f.source if f else None, f.member if f else None, error, kept)


def _skip(plan: MediaConfigPlan, f: MediaFile | None, trial_id: str, error: str, kept: str | None = None) -> None:
    plan.skipped.append(_skip_entry(plan, f, trial_id, error, kept))


def plan_media(
    data_dir,
    configs: Sequence[str] | None,
    skip_bad: bool = False,
    au_titles: bool = False,
    skipped: list[dict] | None = None,
) -> dict[str, MediaConfigPlan]:
    """Find every media input and assign one file per trial and config, before any work.

    ``configs=None`` means every media config some file was found for. Two files for one trial and
    config is an error naming both (with ``skip_bad``: the first by path is kept, the other reported).
    A file whose name is not a trial's stops the run, or with ``skip_bad`` is appended to
    ``skipped`` (:func:`~felt_hf.build.skipped.skip_entry`, as the CSVs' bad names) and left out.
    Audio comes from the RAVDESS wav where there is one, else from the full-AV mp4's AAC track.
    """
    bad: list[tuple[str, str, str]] | None = [] if skip_bad else None
    found = find_media(data_dir, bad)
    for source, member, error in bad or ():
        if skipped is not None:
            skipped.append(skip_entry(None, trial_id_of(member), source, member, error))
    by_config: dict[str, dict[str, list[MediaFile]]] = {}
    fallback: dict[str, dict[str, list[MediaFile]]] = {}
    for f in sorted(found, key=lambda f: (f.source, f.member)):
        channel = f.labels.vocal_channel
        if f.kind in (WAV, FULL_AV):
            target = by_config if f.kind == WAV else fallback
            target.setdefault(f"{AUDIO_KIND}_{channel}", {}).setdefault(f.trial_id, []).append(f)
        else:
            by_config.setdefault(f"{f.kind}_{channel}", {}).setdefault(f.trial_id, []).append(f)
    unused = []
    for config, per_trial in fallback.items():
        merged = by_config.setdefault(config, {})
        for tid, files in per_trial.items():
            if tid in merged:
                unused += files
            merged.setdefault(tid, files)
    # Having RAVDESS's full-AV mp4s beside its audio-only wavs is the normal case: only unused mp4s
    # under a folder named like a FELT kind folder (misspelt) are worth a word.
    unused = [f for f in unused if _FELT_LIKE_FOLDER_RE.search(_folders_of(f))]
    if unused:
        warnings.warn(
            f"{len(unused)} full-AV mp4 file(s) not used, the audio coming from the RAVDESS wavs (first: "
            f"{unused[0].where()}); a FELT video must sit in a folder named {', '.join(KIND_FOLDERS)}",
            FeltWarning,
            stacklevel=2,
        )
    wanted = list(configs) if configs is not None else [c for c in MEDIA_CONFIG_NAMES if c in by_config]
    plans = {}
    for config in wanted:
        kind, channel = media_config_parts(config)
        if config not in by_config:
            what = "RAVDESS 03-...wav (or .flac) or full-AV 01-...mp4" if kind == AUDIO_KIND else f"{kind} mp4"
            raise FileNotFoundError(f"config {config!r} needs {channel} {what} files, and none is under {data_dir}")
        plan = MediaConfigPlan(config, kind, channel, au_titles=au_titles)
        for tid, files in sorted(by_config[config].items()):
            _refuse_same_name_entries(files)
            if len(files) > 1:
                err = duplicate_of({tid: files[0]}, tid, files[1].member, files[1].source, what=f" in {config}")
                if not skip_bad and err is not None:
                    raise err
                differ, unreadable = compare_copies(files[0].as_member(), [f.as_member() for f in files[1:]])
                if differ is not None:  # neither is converted: the trial's cell stays empty, each copy listed
                    for f in files:
                        _skip(plan, f, tid, differing_copies_error(tid, files[0].where(), differ))
                    plan.left_out.add(tid)
                    continue
                for other in files[1:]:
                    if other.where() in unreadable:  # (not compared: a skipped file, not "the same file")
                        _skip(plan, other, tid, unreadable_copy_error(unreadable[other.where()], files[0].where()))
                        continue
                    _skip(plan, other, tid, f"second file for trial {tid} in {config}; kept {files[0].where()}",
                          kept=files[0].where())  # fmt: skip
            plan.files[tid] = files[0]
        plans[config] = plan
    return plans


def _refuse_same_name_entries(files: Sequence[MediaFile]) -> None:
    """Two entries of one name in one zip stop the run, ``--skip-bad`` or not: a reader reads a
    member by name and gets the last entry, so the copy converted would not be the copy the
    report names (which entry is the trial cannot be told by name)."""
    seen: set[str] = set()
    for f in files:
        if f.where() in seen:
            raise FeltFormatError(f.member, "the zip holds more than one entry of this name; which one is the "
                                  "trial cannot be told by name (remove the extra entries)", archive=f.source)  # fmt: skip
        seen.add(f.where())


def refuse_plans_outside_splits(plans: dict[str, MediaConfigPlan], split_actors) -> None:
    """A media config none of whose files belongs to a split of the rule is an error before any
    work, naming the config, its actors and the rule, as for a tracking archive: converting it
    would write nothing for a config the user asked for (or, media alone, replace an earlier build
    with an empty one)."""
    for config, plan in plans.items():
        files = list(plan.files.values())
        if files and not any(split_of_actor(f.labels.actor, split_actors) is not None for f in files):
            actors = actor_ranges({f.labels.actor for f in files})
            raise FeltLookupError(
                f"{config}: none of its {len(files)} file(s) (actors {actors}; first {files[0].where()}) belongs to "
                f"a split of --split-actors ({split_rule_text(split_actors)}); nothing was written"
            )


def refuse_configs_of_skipped_files_only(plans: dict[str, MediaConfigPlan], shards: Sequence[MediaShard]) -> None:
    """With ``--skip-bad``, a media config whose every file was unreadable is an error, not a config
    of empty cells written with exit status 0 (the tracking configs have the same rule)."""
    with_media: dict[str, int] = {}
    for s in shards:
        with_media[s.config] = with_media.get(s.config, 0) + s.num_with_media
    skipped = {config: plan.skipped for config, plan in plans.items()}
    refuse_all_skipped(with_media, skipped, "file of {config} is unreadable or unpaired")


# --- the tracking rows a media config follows ------------------------------------------------------
@dataclass
class TrackingOrder:
    """The trial order per split of a channel's tracking, and each trial's video-frame map source.

    ``expansion(trial_id)``: for every row of the smoothed CSV (what FELT rendered a frame from),
    the index of the tracking row it became (two-face frames: two CSV rows, one tracking row), or
    None when this trial's tracking is not known here.
    """

    splits: dict[str, list[str]]
    num_faces: dict[str, np.ndarray]
    from_tracking: bool
    members: dict = field(default_factory=dict)  # trial_id -> CsvMember, read lazily
    reader: MemberReader | None = None
    source: str = "the tracking"  # whose rows these are, for messages: a config, an archive, or the media's own

    def __getstate__(self) -> dict:
        """Sent to worker processes without the open reader (each opens its own when needed)."""
        return {**self.__dict__, "reader": None}

    @property
    def trial_ids(self) -> set[str]:
        return {t for ids in self.splits.values() for t in ids}

    def expansion(self, trial_id: str) -> np.ndarray | None:
        faces = self.num_faces.get(trial_id)
        if faces is None and trial_id in self.members:
            self.reader = self.reader or MemberReader()
            record = self.reader.read_record(self.members[trial_id])
            faces = self.num_faces[trial_id] = record.num_faces
        if faces is None:
            return None
        return np.repeat(np.arange(len(faces), dtype=np.int32), np.maximum(faces.astype(np.int64), 1))


def _order_from_shards(shards: dict[str, list[Path]]) -> TrackingOrder:
    """Read trial ids and faces per frame from tracking shards (in order), two small columns."""
    splits: dict[str, list[str]] = {}
    faces: dict[str, np.ndarray] = {}
    for split, paths in shards.items():
        ids = splits.setdefault(split, [])
        for p in paths:
            t = read_table(p, columns=["trial_id", "num_faces"])
            for tid, nf in zip(t["trial_id"].to_pylist(), t["num_faces"].to_pylist(), strict=True):
                ids.append(tid)
                faces[tid] = np.asarray(nf, dtype=np.uint8)
    return TrackingOrder(splits, faces, True)


def tracking_order(channel: str, data_dir, tracking_shards: dict[str, dict[str, list[Path]]], split_actors, media_ids):
    """Where a channel's row order comes from, best first.

    1. the tracking configs written in this run (smoothed preferred: FELT rendered from it);
    2. the tracking archives in ``data_dir`` (order from their listing, maps from their CSVs);
    3. no tracking at all: the media's own trials, sorted, split by actor, maps unknown.
    """
    for variant in ("smoothed", "raw"):
        shards = tracking_shards.get(f"{variant}_{channel}")
        if shards:
            order = _order_from_shards(shards)
            order.splits = {s: order.splits.get(s, []) for s in split_actors}
            order.source = f"{variant}_{channel}"
            return order
    for variant in ("smoothed", "raw"):
        try:
            find_source(data_dir, f"{variant}_{channel}")
        except FileNotFoundError:
            continue
        members = config_members(data_dir, f"{variant}_{channel}")
        splits = _by_split([m.trial_id for m in members], split_actors)
        source = f"the {variant}_{channel} tracking ({Path(find_source(data_dir, f'{variant}_{channel}')).name})"
        return TrackingOrder(splits, {}, True, {m.trial_id: m for m in members}, source=source)
    return TrackingOrder(_by_split(sorted(media_ids), split_actors), {}, False,
                         source=f"the other {channel} media (no {channel} tracking in this conversion)")  # fmt: skip


def _by_split(trial_ids: Sequence[str], split_actors) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in split_actors}
    for tid in sorted(trial_ids):
        split = split_of_actor(int(tid[-2:]), split_actors)
        if split is not None:
            out[split].append(tid)
    return out


# --- writing ---------------------------------------------------------------------------------------
@dataclass
class MediaShard(ShardPaths):
    config: str
    split: str
    index: int
    num_shards: int
    trial_ids: tuple[str, ...]
    out_dir: str
    run_tag: str
    num_rows: int = 0
    num_frames: int = 0
    num_bytes: int = 0
    media_bytes: int = 0
    num_with_media: int = 0  # rows whose media cell is filled (--skip-bad leaves the others empty)
    facts: dict[str, dict[str, int]] = field(default_factory=dict)  # see count_facts
    firsts: dict[str, str] = field(default_factory=dict)  # "fact=value" -> the first file that had it

    @property
    def temp_tag(self) -> str:
        return f"{self.run_tag}-media"

    def count_facts(self, row: dict, f: MediaFile) -> None:
        """Count what the media turned out to be (:mod:`felt_hf.build.media_facts`)."""
        count_row(self.facts, self.firsts, row, f.where())


def plan_shards(config: str, ids: Sequence[str], sizes: dict[str, int], out_dir, run_tag: str, split: str):
    """Contiguous runs of trials of about :data:`TARGET_SHARD_BYTES` (input sizes as the estimate)."""
    chunks: list[list[str]] = []
    total = 0
    for tid in ids:
        size = sizes.get(tid, 0)
        if not chunks or (total + size > TARGET_SHARD_BYTES and chunks[-1]):
            chunks.append([])
            total = 0
        chunks[-1].append(tid)
        total += size
    return [
        MediaShard(config, split, i, len(chunks), tuple(c), os.fspath(out_dir), run_tag) for i, c in enumerate(chunks)
    ]


def writer_options(schema: pa.Schema) -> dict:
    """zstd for the small columns; media bytes stored as they are, without dictionary or statistics."""
    compression, dictionary = {}, []
    for f in schema:
        if pa.types.is_struct(f.type):  # Video / Audio: {bytes, path}
            compression[f"{f.name}.bytes"] = "NONE"
            compression[f"{f.name}.path"] = "ZSTD"
        elif pa.types.is_list(f.type):
            compression[f"{f.name}.list.element"] = "ZSTD"
        else:
            compression[f.name] = "ZSTD"
            dictionary.append(f.name)
    return {
        "compression": compression,
        "use_dictionary": dictionary,
        "write_statistics": _STATS_COLUMNS,
        "write_page_index": False,  # row groups of 4 trials need no page pruning; it cost ~20% of the write
        "write_page_checksum": True,  # damaged media bytes found by `verify --sample all` without decoding
    }


class _TrackingUnreadable(FeltError):
    """A trial's tracking CSV (read for its video's frame map) failed: ``error`` names the CSV."""

    def __init__(self, error: FeltError, member) -> None:
        super().__init__(str(error))
        self.error, self.member = error, member


def _media_row(plan: MediaConfigPlan, f: MediaFile, reader: MemberReader, order: TrackingOrder,
               tracking: bool = True) -> dict:  # fmt: skip
    """One media row; ``tracking=False``: the frame map left unknown (``no_tracking``), for a video
    whose trial's tracking CSV cannot be read under ``--skip-bad``."""
    data = reader.read_bytes(f.as_member())
    row: dict = {"source_file": f"{Path(f.source).name}:{f.member}"}
    if plan.kind == AUDIO_KIND:
        convert = wav_to_flac if f.kind == WAV else mp4_audio_to_flac
        flac, info = convert(data, file=f.member, archive=f.source)
        row.update(
            audio={"bytes": flac, "path": f"{f.trial_id}.flac"},
            audio_source="ravdess_wav" if f.kind == WAV else "full_av_mp4",
            sample_rate=info.sample_rate,
            num_channels=info.num_channels,
            num_samples=info.num_samples,
            duration_s=info.duration_s,
        )
        return row
    info = probe_video(data, file=f.member, archive=f.source)
    try:
        expansion = order.expansion(f.trial_id) if order.from_tracking and tracking else None
    except FeltError as e:
        raise _TrackingUnreadable(e, order.members.get(f.trial_id)) from None
    alignment, index = alignment_of(plan.kind, info.num_frames, expansion)
    if alignment == "dropped_frames_unknown" and plan.au_titles:
        alignment, index = _from_titles(data, expansion, alignment)
    row.update(
        video={"bytes": data, "path": f"{f.trial_id}.mp4"},
        num_video_frames=info.num_frames,
        fps=info.fps,
        width=info.width,
        height=info.height,
        duration_s=info.duration_s,
        num_tracking_rows=None if expansion is None else len(expansion),
        alignment=alignment,
        tracking_index=index,
    )
    return row


def _media_row_keeping_video(plan: MediaConfigPlan, f: MediaFile, reader: MemberReader, order: TrackingOrder,
                             skip_bad: bool, skipped: list[dict]) -> dict:  # fmt: skip
    """:func:`_media_row`; under ``--skip-bad`` a trial whose tracking CSV cannot be read keeps its
    readable video, without a frame map, and the CSV is the file listed as skipped.

    In a media-only build the frame maps come from the tracking archives' CSVs, read here. A bad
    CSV had been filed under the mp4 (the CSV's error, the mp4's name) and the video thrown away,
    its cell left empty."""
    try:
        return _media_row(plan, f, reader, order)
    except _TrackingUnreadable as e:
        if not skip_bad:
            raise e.error from None
        m = e.member
        skipped.append(skip_entry(plan.config, f.trial_id, m.source if m else None, m.member if m else None,
                                  f"{e.error} (its {plan.kind} video is kept, its frame map unknown: "
                                  "alignment no_tracking)"))  # fmt: skip
        return _media_row(plan, f, reader, order, tracking=False)


def alignment_of(kind: str, num_video_frames: int, expansion: np.ndarray | None) -> tuple[str, list[int] | None]:
    """The map from video frames to tracking rows, only where the counts prove it.

    A renderer that wrote one frame per CSV row gives video frame ``i`` -> CSV row ``i`` ->
    tracking row ``expansion[i]``. An AU animation with fewer frames lost some rows, and which ones
    is recorded nowhere: its map stays null rather than guessed.
    """
    if expansion is None:
        return "no_tracking", None
    if num_video_frames == len(expansion):
        return "exact", expansion.tolist()
    if not VIDEO_KINDS_BY_NAME[kind].one_frame_per_row and num_video_frames < len(expansion):
        return "dropped_frames_unknown", None
    return "count_mismatch", None


def _from_titles(data: bytes, expansion: np.ndarray, alignment: str) -> tuple[str, list[int] | None]:
    """Decode the AU animation and read its titles; unreadable titles leave the map unknown."""
    from ..inputs.au_titles import recover_rows
    from ..inputs.media import read_video_frames

    rows = recover_rows(read_video_frames(data), len(expansion))
    if rows is None:
        return alignment, None
    return "from_titles", expansion[rows].tolist()


def _labels_row(tid: str, features) -> dict:
    from ..ravdess import parse_trial_id

    row = parse_trial_id(tid).as_row()
    for name in CLASS_LABELS:  # the label columns that are ClassLabels, from the schema's table
        row[name] = features[name].str2int(row[name])
    return row


PREFETCH = 4  # members whose disk reads are started ahead of the one being converted


def write_shard(shard: MediaShard, plan: MediaConfigPlan, order: TrackingOrder, reader: MemberReader,
                skip_bad: bool) -> list[dict]:  # fmt: skip
    """Write one media shard under its temporary name; returns the trials skipped (``skip_bad``).

    The disk reads of the next :data:`PREFETCH` files are started before each file is converted
    (:meth:`MemberReader.prefetch`), so reading overlaps inflating, probing and writing.
    """
    features = media_features(plan.kind)
    schema = features.arrow_schema
    columns = list(features)
    skipped: list[dict] = []
    ahead = [plan.files[t].as_member() for t in shard.trial_ids if t in plan.files]
    shard.final_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with pq.ParquetWriter(shard.tmp_path, schema, **writer_options(schema)) as writer:
            batch: list[dict] = []
            for m in ahead[:PREFETCH]:
                reader.prefetch(m)
            done = 0
            for tid in shard.trial_ids:
                row = _labels_row(tid, features)
                f = plan.files.get(tid)
                if f is not None:
                    if done + PREFETCH < len(ahead):
                        reader.prefetch(ahead[done + PREFETCH])
                    done += 1
                try:
                    if f is None and tid not in plan.left_out:  # (a left-out trial's files are listed already)
                        raise FeltMediaError(
                            f"{plan.config}: no {plan.channel} {plan.kind} file for trial {tid}, which "
                            f"{order.source} has (media rows pair with its rows one to one; --skip-bad leaves "
                            "the cell empty)"
                        )
                    if f is not None:
                        row.update(_media_row_keeping_video(plan, f, reader, order, skip_bad, skipped))
                        shard.count_facts(row, f)
                except FeltError as e:
                    if not skip_bad:
                        raise
                    skipped.append(_skip_entry(plan, f, tid, str(e)))
                batch.append({c: row.get(c) for c in columns})
                shard.num_rows += 1
                shard.num_frames += int(row.get("num_video_frames") or 0)
                cell = row.get("video") or row.get("audio")
                shard.media_bytes += len(cell["bytes"]) if cell else 0
                shard.num_with_media += cell is not None
                if len(batch) == ROW_GROUP_ROWS:
                    shard.num_bytes += _write_group(writer, batch, schema)
                    batch = []
            if batch or shard.num_rows == 0:
                shard.num_bytes += _write_group(writer, batch, schema)
    except BaseException:
        shard.tmp_path.unlink(missing_ok=True)
        raise
    return skipped


@dataclass
class MediaJob:
    """One shard to write, with everything a worker process needs (sent pickled)."""

    shard: MediaShard
    plan: MediaConfigPlan
    order: TrackingOrder
    skip_bad: bool


_WORKER_READER: MemberReader | None = None


def _init_media_worker() -> None:
    global _WORKER_READER
    ignore_interrupts()
    prepare_worker_process()  # the lazy tracking reads of TrackingOrder.expansion parse CSVs
    tune_worker_process()
    _WORKER_READER = MemberReader()


def run_job(job: MediaJob, reader: MemberReader | None = None) -> tuple[MediaShard, list[dict]]:
    """Write one shard (in a worker process, or in this one with ``reader``); the shard comes
    back with its counts."""
    global _WORKER_READER
    if reader is None:
        reader = _WORKER_READER = _WORKER_READER or MemberReader()
    skipped = write_shard(job.shard, job.plan, job.order, reader, job.skip_bad)
    return job.shard, skipped


def run_jobs(jobs: list[MediaJob], workers: int, bar=None) -> list[tuple[MediaShard, list[dict]]]:
    """Every shard, by ``workers`` processes (largest first), results in the jobs' order.

    Shards are independent files, so processes scale media conversion with cores the way they
    scale the tracking; the shard plan does not depend on ``workers``, so neither does the output.
    """
    if workers <= 1 or len(jobs) <= 1:
        out, reader = [], MemberReader()  # this process's own, closed when done
        try:
            for job in jobs:
                out.append(run_job(job, reader))
                if bar is not None:
                    bar.update(len(job.shard.trial_ids))
        finally:
            reader.close()
        return out
    import multiprocessing as mp

    _preload(jobs)
    done: dict[int, tuple[MediaShard, list[dict]]] = {}
    with mp.get_context().Pool(min(workers, len(jobs)), initializer=_init_media_worker) as pool:
        for i, result in imap_largest_first(pool, run_job, jobs, job_size):
            done[i] = result
            if bar is not None:
                bar.update(len(jobs[i].shard.trial_ids))
    return [done[i] for i in range(len(jobs))]


def _preload(jobs: list[MediaJob]) -> None:
    """Import PyAV and soundfile and build the features once here, before the workers fork, so
    they inherit them: each worker importing PyAV itself cost about half a second."""
    import av  # noqa: F401
    import soundfile  # noqa: F401

    for kind in {job.plan.kind for job in jobs}:
        media_features(kind)


def job_size(job: MediaJob) -> int:
    """Input bytes of a shard (largest shards start first, so no worker is left with a long tail)."""
    return sum(job.plan.files[t].size for t in job.shard.trial_ids if t in job.plan.files)


def _write_group(writer: pq.ParquetWriter, rows: list[dict], schema: pa.Schema) -> int:
    table = group_table(rows, schema)
    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    return table.nbytes


def group_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """A row group as an Arrow table, the media bytes not copied.

    ``Table.from_pylist`` copies every media file into one Arrow buffer before the parquet
    writer copies it again into its page; here each file's bytes object is wrapped as it is
    (``pa.py_buffer``), one chunk per row. That copy, and the page faults of its fresh megabytes,
    cost about half as much as reading the file (scripts/bench_media.py). The other columns are
    small and go through ``from_pylist``.
    """
    media = [i for i, f in enumerate(schema) if pa.types.is_struct(f.type)]
    if not rows or not media:
        return pa.Table.from_pylist(rows, schema=schema)
    rest = pa.schema([f for f in schema if not pa.types.is_struct(f.type)])
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in rest} for r in rows], schema=rest)
    for i in media:
        field = schema.field(i)
        table = table.add_column(i, field, _media_column([r.get(field.name) for r in rows], field.type))
    return table.replace_schema_metadata(schema.metadata)


def _media_column(cells: list[dict | None], typ: pa.StructType) -> pa.ChunkedArray:
    """``{bytes, path}`` cells as a chunked struct column whose byte buffers are the cells' own."""
    chunks = []
    for cell in cells:
        if cell is None:
            chunks.append(pa.nulls(1, typ))
            continue
        data = cell["bytes"]
        offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
        values = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(data)])
        path = pa.array([cell.get("path")], type=typ.field("path").type)
        chunks.append(pa.StructArray.from_arrays([values, path], fields=list(typ)))
    return pa.chunked_array(chunks, type=typ)


@dataclass
class MediaRun:
    """What the media part of a conversion wrote (under temporary names until :meth:`commit`)."""

    shards: list[MediaShard] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    titles_asked: set[str] = field(default_factory=set)  # the configs converted with --au-titles

    def commit(self, replacement: Replacement) -> None:
        for s in self.shards:
            replacement.put(s.tmp_path, s.final_path)

    def discard(self) -> None:
        for s in self.shards:
            s.tmp_path.unlink(missing_ok=True)

    def summary(self) -> dict[str, dict]:
        """``{config: {"splits": {split: {num_examples, num_frames, num_bytes, media_bytes, files}},
        "media_facts": {fact: {value: count}}}}``."""
        out: dict[str, dict] = {}
        for s in self.shards:
            split = out.setdefault(s.config, {"splits": {}})["splits"].setdefault(
                s.split, {"num_examples": 0, "num_frames": 0, "num_bytes": 0, "media_bytes": 0, "files": []}
            )
            split["num_examples"] += s.num_rows
            split["num_frames"] += s.num_frames
            split["num_bytes"] += s.num_bytes
            split["media_bytes"] += s.media_bytes
            split["files"].append(s.relpath)
        for config, entry in out.items():
            entry["media_facts"] = merge_facts([s for s in self.shards if s.config == config])[0]
        return out

    def notes(self) -> list[str]:
        """The warnings of :func:`media_notes`, config by config in the order written."""
        out = []
        for config in dict.fromkeys(s.config for s in self.shards):
            facts, firsts = merge_facts([s for s in self.shards if s.config == config])
            out += media_notes(config, facts, firsts, config in self.titles_asked)
        return out


def write_media_configs(
    plans: dict[str, MediaConfigPlan],
    data_dir,
    out_dir,
    split_actors: dict[str, tuple[int, ...]],
    tracking_shards: dict[str, dict[str, list[Path]]],
    *,
    skip_bad: bool = False,
    progress: bool = False,
    run: MediaRun | None = None,
    workers: int | None = None,
) -> MediaRun:
    """Write every planned media config (temporary names; the caller commits or discards ``run``).

    ``tracking_shards``: ``{tracking config: {split: [shard paths in order]}}`` written in this run,
    whose row order the media configs copy. A media file whose trial the tracking does not have is
    an error naming it (``skip_bad``: reported and left out). ``workers``: processes writing
    shards (default: one per core); the output is the same for any number.
    """
    from tqdm.auto import tqdm

    run = run if run is not None else MediaRun()
    run.titles_asked.update(c for c, p in plans.items() if p.au_titles)
    run_tag = str(os.getpid())
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    orders: dict[str, TrackingOrder] = {}
    jobs: list[MediaJob] = []
    try:
        for config, plan in plans.items():
            order = orders.get(plan.channel)
            if order is None:
                media_ids = {t for p in plans.values() if p.channel == plan.channel for t in p.files}
                order = orders[plan.channel] = tracking_order(
                    plan.channel, data_dir, tracking_shards, split_actors, media_ids
                )
            known = order.trial_ids
            for tid, f in sorted(plan.files.items()):
                if order.from_tracking and tid not in known and split_of_actor(f.labels.actor, split_actors):
                    err = FeltFormatError(f.member, f"{plan.config}: trial {tid} is not in {order.source}, whose rows "
                                          "the media follow (a media file with no trial)", archive=f.source)  # fmt: skip
                    if not skip_bad:
                        raise err
                    _skip(plan, f, tid, str(err))
            sizes = {t: f.size for t, f in plan.files.items()}
            for split, ids in order.splits.items():
                if ids:
                    shards = plan_shards(config, ids, sizes, out_dir, run_tag, split)
                    jobs.extend(MediaJob(shard, plan, order, skip_bad) for shard in shards)
        start = len(run.shards)
        run.shards.extend(job.shard for job in jobs)  # (so that a failure discards every temporary file)
        total = sum(len(job.shard.trial_ids) for job in jobs)
        with tqdm(
            total=total, unit="trial", desc="Converting media", disable=not (jobs and bars_wanted(progress))
        ) as bar:
            results = run_jobs(jobs, workers, bar)
        run.shards[start:] = [shard for shard, _ in results]  # workers send back copies with the counts
        for job, (_, skipped) in zip(jobs, results, strict=True):
            job.plan.skipped.extend(skipped)
        refuse_configs_of_skipped_files_only(plans, run.shards[start:])
    except BaseException:
        run.discard()
        raise
    finally:
        for o in orders.values():
            if o.reader is not None:
                o.reader.close()
    run.skipped = [s for p in plans.values() for s in p.skipped]
    for note in run.notes():
        warnings.warn(note, FeltWarning, stacklevel=2)
    return run


__all__ = [
    "MediaRun",
    "refuse_plans_outside_splits",
    "ROW_GROUP_ROWS",
    "TARGET_SHARD_BYTES",
    "plan_media",
    "split_configs",
    "write_media_configs",
]
