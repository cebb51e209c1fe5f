"""``felt-hf convert``: FELT archives -> the hub layout (parquet configs + card + stats).

Layout written under ``out``::

    README.md                                  card; its YAML declares the configs
    stats.json                                 per-feature statistics, per config and split
    <config>/<split>-NNNNN-of-NNNNN.parquet    zstd, float32, typed features in the metadata

Why it is shaped this way:

* Work is split by output shard, and each worker process reads its trials straight out of the
  zip, parses them and writes its own shard. No CSV text or arrays cross process boundaries,
  both cores parse, and memory stays at one row group per worker whatever the archive size.
* The worker pool starts before this process imports ``datasets`` (about 1 s): the workers parse
  while it builds the Arrow schema, which it then hands them as bytes
  (:mod:`felt_hf.build.schema_handoff`); on 16 cores that second had been 10% of a conversion.
* CSVs are parsed by polars (:mod:`felt_hf.csv_fast`, one thread per worker), the fastest
  well-kept parser measured on these files; anything unusual goes to the strict pyarrow reader,
  which also locates every error. Work is handed out per shard, not per archive, so 16 cores
  and 4 archives keep 16 workers busy (a full FELT build has 144 shards, largest first).
* Shard counts are multiples of 8 (fewer only when there are fewer trials), so DDP ranks x
  DataLoader workers (2x4, 4x2, 8x1) each get whole shards when streaming.
* Row groups hold a few trials, so reading one trial decodes about a megabyte, not a shard.
* Floats use ``BYTE_STREAM_SPLIT`` without dictionaries (about 17% smaller than datasets'
  snappy+dictionary on these arrays) under zstd. No content-defined chunking: with row groups of 8
  trials it saves no upload on a re-push and cost a third of the parquet write
  (:func:`parquet_writer_options`).
* Every file is written under a hidden temporary name (ignored by ``datasets``' globs) and
  renamed when complete; the card comes last, so an interrupted run never looks finished.
  Output is deterministic: the same input gives byte-identical parquet.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing as mp
import os
import pickle
import threading
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..argtypes import whole
from ..atomic import (
    Replacement,
    atomic_write_bytes,
    check_output_folder,
    folder_lock,
    folders,
    interrupts_deferred,
    remove_new_empty_folders,
    remove_temp_leftovers,
)
from ..errors import FeltDuplicateTrialError, FeltError, FeltFormatError, FeltOutputError, FeltPathError, FeltWarning
from ..inputs.csv_fast import prepare_worker_process
from ..inputs.sources import (
    CsvMember,
    MemberReader,
    check_reading_settings,
    find_source,
    members_by_split,
    nested_sources,
    read_in_groups,
    scan_members,
    walk_entries,
)
from ..layout import (
    CARD_FILENAME,
    SHARD_RE,
    SKIPPED_FILENAME,
    STATS_FILENAME,
    SYNTHETIC_MARKER,
    BuildSummary,
    ConfigSummary,
    ShardPaths,
    is_converted_folder,
    plan_num_shards,
)
from ..progress import bars_wanted
from ..ravdess import actor_ranges, parse_trial_id, split_of_actor, split_rule_text, validate_split_actors
from ..schema import CONFIG_NAMES, DEFAULT_SPLIT_ACTORS, archive_stem, config_parts, trial_arrow_schema
from ..workers import ignore_interrupts, imap_largest_first, tune_worker_process
from .convert_media import MediaRun, plan_media, refuse_plans_outside_splits, split_configs, write_media_configs
from .rows import rows_table, trial_row
from .schema_handoff import SchemaHandoff
from .skipped import (
    compare_copies,
    differing_copies_error,
    emptied_split_note,
    refuse_all_skipped,
    skip_entry,
    split_set_aside,
    trial_id_of,
    unreadable_copy_error,
)
from .stats import FeatureStats, write_stats_json

ROW_GROUP_ROWS = 8
ZSTD_LEVEL = 1  # level 3 gave files under 1% smaller at 1.5x the compression time
SKIPPED_REPORT = SKIPPED_FILENAME  # the old name of the constant (felt_hf.layout has them all)
_SHARD_RE = SHARD_RE


@dataclass(frozen=True)
class ShardTask(ShardPaths):
    config: str
    split: str
    index: int
    num_shards: int
    members: tuple[CsvMember, ...]
    out_dir: str
    skip_bad: bool = False
    run_tag: str = "0"  # names this run's temporary files (the converting process's pid)
    previews: bool = False  # add the `preview` image column (felt_hf.previews)

    @property
    def temp_tag(self) -> str:
        return self.run_tag


@dataclass
class ShardResult:
    task: ShardTask
    num_rows: int = 0
    num_frames: int = 0
    num_bytes: int = 0  # Arrow (decoded) size, what datasets calls num_bytes; the file size is on disk
    stats: bytes = b""  # the shard's FeatureStats, packed by _pack_stats
    skipped: list[dict] = field(default_factory=list)


def present_configs(data_dir: str | os.PathLike) -> list[str]:
    """The configs whose archive or extracted folder is in ``data_dir`` (a partial regeneration
    has only some); none at all is an error that lists what was looked for."""
    found = []
    for config in CONFIG_NAMES:
        try:
            find_source(data_dir, config)
            found.append(config)
        except FileNotFoundError:
            pass
    if not found:
        wanted = ", ".join(f"{archive_stem(c)}.zip" for c in CONFIG_NAMES)
        raise FeltPathError(f"no FELT archive in {data_dir}: expected some of {wanted} (or extracted folders)"
                            + _nested_hint(data_dir))  # fmt: skip
    below = [p for p in nested_sources(data_dir) if p.name.removesuffix(".zip") not in
             {archive_stem(c) for c in found}]  # fmt: skip
    if below:  # (one archive extracted a folder down had been left out without a word)
        warnings.warn(f"{below[0].relative_to(Path(data_dir)).as_posix()} is below {data_dir}, where its config's "
                      "archive is looked for: that config is not converted (move it up, or name the folder that "
                      "holds it)", FeltWarning, stacklevel=2)  # fmt: skip
    return found


def _nested_hint(data_dir) -> str:
    """Where tracking archives lie below ``data_dir``, as the end of an error; "" if nowhere."""
    nested = nested_sources(data_dir)
    if not nested:
        return ""
    folders = list(dict.fromkeys(str(p.parent) for p in nested))
    return f"; {nested[0].name} is in {folders[0]}: convert that folder (archives are looked for in the folder given)"


def _split_evenly(items: Sequence, n: int) -> list[tuple]:
    base, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        size = base + (1 if i < extra else 0)
        out.append(tuple(items[start : start + size]))
        start += size
    return out


def plan_tasks(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    configs: Sequence[str],
    split_actors: dict[str, tuple[int, ...]],
    skip_bad: bool = False,
    previews: bool = False,
    skipped: list[dict] | None = None,
    members_out: dict[str, list[CsvMember]] | None = None,
) -> list[ShardTask]:
    """Every shard of every requested config; finds and validates all archives before any work.

    A member whose name is not a valid trial stops the run, or with ``skip_bad`` is appended to
    ``skipped`` (``{"archive", "member", "error"}``) and left out. An archive with no trial at all
    is a whole-archive failure and always stops the run. ``members_out`` receives each config's
    members (to compare raw and smoothed trial sets).
    """
    tasks = []
    for config in configs:
        _, channel = config_parts(config)
        source = find_source(data_dir, config)
        members, bad = scan_members(source, channel=channel)
        if bad and not skip_bad:
            raise bad[0][1]
        first = {m.trial_id: m for m in members}
        differ, unreadable = _differing_copies(first, bad, str(source))
        for tid, other in differ.items():  # neither copy is converted: listed as skipped, the first too
            members.remove(first[tid])
            if skipped is not None:
                why = differing_copies_error(tid, first[tid].where(), other)
                skipped.append(skip_entry(config, tid, str(source), first[tid].member, why))
        for member, err in bad:
            if skipped is not None:  # (a second copy of a kept trial: set aside, listed apart)
                tid, where = trial_id_of(member), f"{source}:{member}"
                kept = first.get(tid) if isinstance(err, FeltDuplicateTrialError) and tid not in differ else None
                error = differing_copies_error(tid, first[tid].where(), differ[tid]) if tid in differ else str(err)
                if kept is not None and where in unreadable:  # (not compared: not "the same file", a skipped one)
                    error, kept = unreadable_copy_error(unreadable[where], kept.where()), None
                skipped.append(skip_entry(config, tid, str(source), member, error,
                                          kept.where() if kept is not None else None))  # fmt: skip
        if not members:
            why = "holds no trial CSV" + (f" (all {len(bad)} CSV member(s) were skipped as bad)" if bad else "")
            raise FeltFormatError(str(source), why + f": nothing to convert for {config}")
        if members_out is not None:
            members_out[config] = members
        # (a rule that selects none of them stops here, before anything is written)
        for split, ms in members_by_split(members, split_actors, "--split-actors").items():
            n = plan_num_shards(len(ms))
            for i, chunk in enumerate(_split_evenly(ms, n) if n else []):
                tasks.append(
                    ShardTask(config, split, i, n, chunk, os.fspath(out_dir), skip_bad, str(os.getpid()), previews)
                )
    return tasks


def _differing_copies(
    first: dict[str, CsvMember], bad: Sequence[tuple[str, Exception]], source: str
) -> tuple[dict[str, str], dict[str, str]]:
    """``({trial id: where a differing copy is}, {where: read error})``: the trials whose second
    copies (in ``bad``) are not the same file as the first, and the second copies that cannot be
    read to tell (:func:`~felt_hf.build.skipped.compare_copies`)."""
    copies: dict[str, list[CsvMember]] = {}
    for member, err in bad:
        tid = trial_id_of(member)
        if isinstance(err, FeltDuplicateTrialError) and tid in first:
            copies.setdefault(tid, []).append(CsvMember(source, member, first[tid].labels))
    differ, unreadable = {}, {}
    for tid, others in copies.items():
        where, cannot = compare_copies(first[tid], others)
        unreadable.update(cannot)
        if where is not None:
            differ[tid] = where
    return differ, unreadable


def left_out_warnings(members: dict[str, list[CsvMember]], split_actors: dict[str, tuple[int, ...]]) -> list[str]:
    """Trials whose actor is in no split of the rule are not converted: said per config, with
    their count and actors, on screen and on the card (they had been dropped without a word)."""
    covered = {a for actors in split_actors.values() for a in actors}
    out = []
    for config, ms in members.items():
        left = [m for m in ms if m.labels.actor not in covered]
        if left:
            actors = actor_ranges({m.labels.actor for m in left})
            out.append(f"{config}: {len(left)} of {len(ms)} trial(s) left out, their actors ({actors}) being in no "
                       f"split of --split-actors ({split_rule_text(split_actors)})")  # fmt: skip
    return out


def empty_split_warnings(
    members: dict[str, list[CsvMember]], split_actors: dict[str, tuple[int, ...]], skipped: Sequence[dict] = ()
) -> list[str]:
    """A split of the rule that selects none of a config's trials leaves the config without that
    split: said per config (it had been silent, while the card listed the split; on FELT,
    ``--split-actors ... holdout=18`` gives the song configs none, actor 18 having no song).

    A split whose trials were all left out before any work (``skipped``: copies that differ)
    gets the emptied-split note instead, which the card words as skipped, not as absent."""
    lost: dict[str, set[int]] = {}
    for e in skipped:
        try:
            lost.setdefault(e["config"], set()).add(parse_trial_id(e["trial_id"]).actor)
        except (KeyError, TypeError, ValueError, FeltError):
            continue
    out = []
    for config, ms in members.items():
        have = {split_of_actor(m.labels.actor, split_actors) for m in ms}
        empty = [s for s in split_actors if s not in have]
        emptied = [s for s in empty if lost.get(config, set()) & set(split_actors[s])]
        out += [emptied_split_note(config, s) for s in emptied]
        empty = [s for s in empty if s not in emptied]
        if empty and ms:
            which = "; ".join(f"{s} (actors {actor_ranges(split_actors[s])})" for s in empty)
            out.append(f"{config}: no trial in split(s) {which}: the config has no such split")
    return out


def trial_set_warnings(members: dict[str, list[CsvMember]]) -> list[str]:
    """A raw and a smoothed archive of one channel must hold the same trials; say where not.

    Not an error (a partial regeneration or a damaged member is worth converting), but the card
    carries each line so nobody compares raw with smoothed unaware.
    """
    out = []
    for channel in ("speech", "song"):
        raw, smoothed = members.get(f"raw_{channel}"), members.get(f"smoothed_{channel}")
        if raw is None or smoothed is None:
            continue
        a, b = {m.trial_id for m in raw}, {m.trial_id for m in smoothed}
        if a != b:
            only_raw, only_smoothed = sorted(a - b), sorted(b - a)
            out.append(
                f"raw_{channel} and smoothed_{channel} hold different trials: "
                f"{len(only_raw)} only in raw ({_few(only_raw)}), {len(only_smoothed)} only in smoothed "
                f"({_few(only_smoothed)})"
            )
    return out


def _few(ids: list[str], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (f", +{len(ids) - n} more" if len(ids) > n else "") if ids else "none"


def earlier_configs(out: Path, configs: Sequence[str]) -> list[str]:
    """Sub-folders of ``out`` holding shards (``<split>-NNNNN-of-NNNNN.parquet``) of an earlier
    build that the new one does not write. Other folders are not a build's and are left alone."""
    if not out.is_dir():
        return []
    keep = set(configs)
    return sorted(
        p.name
        for p in out.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in keep and _earlier_shards(p)
    )


def _earlier_shards(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and SHARD_RE.match(f.name))


def _remove_earlier_config(folder: Path, replacement: Replacement) -> None:
    """Only the shards go (set aside until the new build is whole; then the folder's temporary
    files too, and the folder when nothing else is in it: :func:`_remove_empty_config_folder`)."""
    for f in _earlier_shards(folder):
        replacement.remove(f)


def _remove_empty_config_folder(folder: Path) -> None:
    remove_temp_leftovers(folder)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def parquet_writer_options(schema: pa.Schema) -> dict:
    """zstd everywhere; floats as BYTE_STREAM_SPLIT without dictionary, the rest with one.

    No content-defined chunking (CDC) and no page index, both measured (``scripts/bench_convert.py
    --stages``, and ``scripts/dedupe_check.py`` for what CDC buys):

    * CDC cost 0.45 ms a trial (a third of the parquet write, 4% of a conversion) and buys no
      deduplication here. It makes page boundaries follow the content so that rows inserted early
      in a large row group do not shift every later page. Our row groups hold 8 trials (1-3 pages
      a column), so an inserted or removed trial moves every later trial into another row group
      with or without CDC, and a changed trial changes only its own row group either way; the
      hub's storage (Xet) finds the unchanged runs of bytes by its own content-defined chunks.
    * The page index (per-page min/max and offsets) cost another 0.05 ms a trial; a row group is
      already the unit a reader skips to, and trial lookups use the row-group statistics below.
    """
    floats, others = [], []

    def walk(path: str, typ: pa.DataType) -> None:
        if isinstance(typ, pa.ExtensionType):
            typ = typ.storage_type
        if pa.types.is_list(typ) or pa.types.is_large_list(typ):
            walk(f"{path}.list.element", typ.value_type)
        elif pa.types.is_floating(typ):
            floats.append(path)
        else:
            others.append(path)

    for f in schema:
        walk(f.name, f.type)
    return {
        "compression": "zstd",
        "compression_level": ZSTD_LEVEL,
        "use_dictionary": others,
        "column_encoding": dict.fromkeys(floats, "BYTE_STREAM_SPLIT"),
        "write_page_index": False,  # see the docstring
        "use_content_defined_chunking": False,
        # a CRC32 per page: bytes damaged after writing (disk, copy, download) are an error where read
        # with verification (felt-hf verify reads every tracking page so), not silently other numbers
        "write_page_checksum": True,
        "write_statistics": ["trial_id", "actor", "emotion", "num_frames"],
    }


_READER: MemberReader | None = None
_PROGRESS = None
_HANDOFF: SchemaHandoff | None = None  # in pool workers: where the parent publishes the schema


def _init_worker(progress_queue, handoff: SchemaHandoff | None = None) -> None:
    global _READER, _PROGRESS, _HANDOFF
    _READER, _PROGRESS, _HANDOFF = MemberReader(), progress_queue, handoff
    ignore_interrupts()
    prepare_worker_process()
    tune_worker_process()


def _shard_schema(previews: bool, wait: bool) -> pa.Schema | None:
    """The Arrow schema for a shard: the parent's published one in a pool worker (``None`` while
    it is still importing ``datasets`` and ``wait`` is false), else built here."""
    if _HANDOFF is not None and not previews:
        schema = _HANDOFF.get(wait)
        if schema is not None or not wait:
            return schema
    return _arrow_schema(previews)


class _ShardFile:
    """One shard's parquet file, opened once the schema is known; row groups parsed before that
    wait here, in order (at most the ~1 s the parent takes to import ``datasets``: a few row
    groups of a few MB each, and never more than the shard)."""

    def __init__(self, task: ShardTask) -> None:
        self.task = task
        self.pending: list[list[dict]] = []
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.num_bytes = 0

    def add(self, rows: list[dict]) -> None:
        self.pending.append(rows)
        if self.writer is None and not self._open(wait=False):
            return
        self._drain()

    def close(self) -> int:
        if self.writer is None:
            self._open(wait=True)
        self._drain()
        self.writer.close()
        return self.num_bytes

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # the file is removed just below: whatever closing it says
                pass
        self.task.tmp_path.unlink(missing_ok=True)

    def _open(self, wait: bool) -> bool:
        schema = _shard_schema(self.task.previews, wait)
        if schema is None:
            return False
        self.schema = schema
        self.writer = pq.ParquetWriter(self.task.tmp_path, schema, **parquet_writer_options(schema))
        return True

    def _drain(self) -> None:
        # with previews, self.schema has the preview column too: the rows' own schema first
        row_schema = trial_arrow_schema() if self.task.previews else self.schema
        for rows in self.pending:
            table = rows_table(rows, row_schema) if rows else row_schema.empty_table()
            if self.task.previews:
                from .previews import with_previews

                table = with_previews(table, rows)
            self.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            self.num_bytes += table.nbytes
        self.pending.clear()


def _tick(count: int) -> None:
    """Tell the parent's progress bar that ``count`` more trials are done.

    Once a row group, not once a trial, and not at all without a bar: each ``Queue.put`` wakes
    the worker's feeder thread and the parent's pump thread, and a put per trial cost about 0.25 s
    of CPU in a 9 s conversion at 1/6 size on 2 cores (``scripts/convert_timeline.py``)."""
    if _PROGRESS is not None and count:
        _PROGRESS.put(count)


def convert_shard(task: ShardTask, reader: MemberReader | None = None) -> ShardResult:
    """Read, parse and write one shard under its temporary name; collect its statistics.

    ``reader``: the caller's (a single-process run's, closed by it); in a pool worker, the
    worker's own. Called on its own, the shard gets a reader closed when it is written: a cached
    zip must not outlive its use (an archive rewritten at the same path would be read stale).
    """
    if reader is None and _READER is None:
        with contextlib.closing(MemberReader()) as own:
            return convert_shard(task, own)
    reader = reader or _READER
    result, stats = ShardResult(task), FeatureStats()
    task.final_path.parent.mkdir(parents=True, exist_ok=True)
    shard = _ShardFile(task)
    try:
        batch: list[dict] = []
        done = 0  # trials read since the last progress tick
        for m, record in read_in_groups(reader, task.members, ROW_GROUP_ROWS):  # a row group at a time
            done += 1
            try:
                if isinstance(record, FeltError):
                    raise record
                row = trial_row(record, m.labels)
            except FeltError as e:
                if not task.skip_bad:
                    raise
                result.skipped.append(skip_entry(task.config, m.trial_id, m.source, m.member, str(e)))
                continue
            result.num_rows += 1
            result.num_frames += row["num_frames"]
            batch.append(row)
            if len(batch) == ROW_GROUP_ROWS:
                _add_group(shard, batch, stats)
                batch = []
                _tick(done)
                done = 0
        if batch or result.num_rows == 0:
            _add_group(shard, batch, stats)
        _tick(done)
        result.num_bytes = shard.close()
    except OSError as e:
        shard.abort()
        if e.filename is None and e.errno:  # pyarrow's "[Errno 28] Error writing bytes to file": which file
            raise OSError(e.errno, os.strerror(e.errno), str(task.final_path)) from e
        raise
    except BaseException:
        shard.abort()
        raise
    result.stats = _pack_stats(stats)
    return result


def _add_group(shard: _ShardFile, rows: list[dict], stats: FeatureStats) -> None:
    """One row group: its frames folded into the statistics now, its rows written as soon as
    the shard's file is open.

    The statistics are per frame, so the group's trials are concatenated along time and
    counted in one update: the same numbers as trial by trial, with 8x fewer numpy calls.
    """
    stats.update_rows(rows)
    shard.add(rows)


def _pack_stats(stats: FeatureStats) -> bytes:
    """A shard's statistics for the trip to the parent, which keeps one per shard until all are
    merged in task order (the order fixes the float64 rounding of mean/std, so stats.json is
    the same whatever the worker count). Pickled with each histogram sparse
    (:meth:`ComponentStats.__getstate__`), then zlib'd: about 100 KB and 4 ms a shard, so the
    144 shards of a full build hold about 15 MB in the parent. Dense histograms were 2.6 MB a
    shard and took 7 ms to zlib; sparse but not zlib'd, 0.3 MB a shard (43 MB in the parent at
    full size against 14 MB at 1/6: memory that grew with the archive). A to_dict/from_dict
    round trip cost about 35 ms a shard (quantiles, base64)."""
    return zlib.compress(pickle.dumps(stats, protocol=pickle.HIGHEST_PROTOCOL), 1)


def _unpack_stats(blob: bytes) -> FeatureStats:
    return pickle.loads(zlib.decompress(blob))


class StatsInTaskOrder:
    """Shard statistics merged into one :class:`FeatureStats` per (config, split) while the
    workers run, each shard as soon as every earlier shard of its split is in.

    The merge order is the task order, as when all were merged at the end (so stats.json keeps
    its bytes whatever the worker count); shards arrive largest first, and a split's shards are
    about equal in size, so few wait. The parent neither holds a packed statistic per shard
    (memory that grew with the archive) nor merges them all after the last worker is done, and a
    split's stats.json entry (quantiles, compressed histograms: 0.45 s for a full build) is made
    as soon as its last shard is in (:attr:`documents`), while the workers write the others. On
    16 cores these serial steps after the last shard had been 0.6-1.5 s of a 10 s conversion.
    """

    def __init__(self, tasks: Sequence[ShardTask]) -> None:
        self.merged: dict[str, dict[str, FeatureStats]] = {}
        self._queues: dict[tuple[str, str], list[int]] = {}
        for i, t in enumerate(tasks):
            self._queues.setdefault((t.config, t.split), []).append(i)
        self._cursor = dict.fromkeys(self._queues, 0)
        self._waiting: dict[int, ShardResult] = {}
        self._documents: dict[tuple[str, str], dict] = {}  # a complete split's stats.json entry

    def add(self, index: int, result: ShardResult) -> None:
        key = (result.task.config, result.task.split)
        self._waiting[index] = result
        queue = self._queues[key]
        while self._cursor[key] < len(queue) and queue[self._cursor[key]] in self._waiting:
            ready = self._waiting.pop(queue[self._cursor[key]])
            acc = self.merged.setdefault(key[0], {}).setdefault(key[1], FeatureStats())
            acc.merge(_unpack_stats(ready.stats))
            ready.stats = b""  # merged: the parent keeps no copy
            self._cursor[key] += 1
        if self._cursor[key] == len(queue):
            self._documents[key] = self.merged[key[0]][key[1]].to_dict()

    @property
    def documents(self) -> dict[str, dict[str, dict]]:
        """``{config: {split: FeatureStats.to_dict()}}`` of the complete splits, in task order
        (the order of stats.json's keys), whatever order they completed in."""
        out: dict[str, dict[str, dict]] = {}
        for key in self._queues:
            if key in self._documents:
                out.setdefault(key[0], {})[key[1]] = self._documents[key]
        return out


def _arrow_schema(previews: bool):
    if previews:
        from .previews import preview_features

        return preview_features().arrow_schema
    return trial_arrow_schema()


def _run_tasks(tasks: list[ShardTask], num_proc: int, progress: bool, stats: StatsInTaskOrder) -> list[ShardResult]:
    """Every shard written (by ``num_proc`` worker processes), its statistics merged into ``stats``
    as it comes in; the results in task order.

    The workers start before this process has the Arrow schema: it imports ``datasets`` and
    builds the schema while they parse, then publishes it (:mod:`felt_hf.build.schema_handoff`).
    With previews the schema comes from before the pool (the workers draw previews with
    ``datasets``' Image feature anyway)."""
    from tqdm.auto import tqdm

    total = sum(len(t.members) for t in tasks)
    bar = tqdm(total=total, unit="trial", desc="Converting FELT", disable=not bars_wanted(progress))
    if num_proc <= 1:
        results, reader = [], MemberReader()  # this process's own, closed when done
        try:
            for i, t in enumerate(tasks):
                results.append(convert_shard(t, reader))
                stats.add(i, results[-1])
                bar.update(len(t.members))
        finally:
            bar.close()
            reader.close()
        return results
    # The platform's default start method: "spawn" re-runs the caller's __main__, which breaks
    # (and makes Pool respawn workers forever) when the caller is a script read from stdin.
    ctx = mp.get_context()
    queue = ctx.Queue() if not bar.disable else None  # no bar: no ticks to carry (see _tick)
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set() or not queue.empty():
            try:
                bar.update(queue.get(timeout=0.1))
            except Exception:  # queue.Empty, or closed at shutdown
                pass

    handoff = None if any(t.previews for t in tasks) else SchemaHandoff(ctx)
    with ctx.Pool(num_proc, initializer=_init_worker, initargs=(queue, handoff)) as pool:
        thread = threading.Thread(target=pump, daemon=True)  # started after the fork, never copied into it
        if queue is not None:
            thread.start()
        try:
            done = {}
            results = imap_largest_first(pool, convert_shard, tasks, lambda t: len(t.members))
            if handoff is not None:
                handoff.publish(trial_arrow_schema())  # imports datasets while the workers parse
            for i, result in results:
                done[i] = result
                stats.add(i, result)
        finally:
            stop.set()
            if queue is not None:
                thread.join()
            bar.close()
    return [done[i] for i in range(len(tasks))]


def _remove_stale(out: Path, configs: Sequence[str], keep: set[str], replacement: Replacement) -> None:
    """Shards of an earlier build with another shard count would be globbed with the new ones."""
    for config in configs:
        folder = out / config
        if not folder.is_dir():
            continue
        for p in list(folder.iterdir()):
            rel = f"{config}/{p.name}"
            if SHARD_RE.match(p.name) and rel not in keep:
                replacement.remove(p)


def convert_felt(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike = "felt",
    *,
    configs: Sequence[str] | None = None,
    num_proc: int | None = None,
    skip_bad: bool = False,
    progress: bool = True,
    split_actors: dict[str, tuple[int, ...]] | None = None,
    source_description: str | None = None,
    synthetic: bool | None = None,
    previews: bool = False,
    au_titles: bool = False,
    overwrite: bool = False,
) -> BuildSummary:
    """Convert FELT archives (zips or extracted folders) in ``data_dir`` into the hub layout.

    Returns the :class:`~felt_hf.layout.BuildSummary` the card is generated from. ``configs`` defaults to every config whose
    archive (or extracted folder) is in ``data_dir``; a requested config whose archive is missing
    is an error before anything is written.

    ``out_dir`` is replaced as one unit: the card is removed before the first shard lands and
    written last, temporary files of earlier killed runs are removed, and configs of an earlier
    build that this one does not write are refused (``overwrite=True`` removes them).
    """
    check_input_folder(Path(data_dir), "convert")
    check_reading_settings()
    if num_proc is not None:
        num_proc = whole("num_proc", num_proc)  # (before anything is made: -3 had run, '2' had left a folder)
    skipped: list[dict] = []
    configs, media_plans = _resolve_configs(data_dir, configs, skip_bad, au_titles, skipped)
    split_actors = validate_split_actors(split_actors or DEFAULT_SPLIT_ACTORS)
    refuse_plans_outside_splits(media_plans, split_actors)
    out = Path(out_dir)
    check_output_folder(out)
    _refuse_overlap(out, Path(data_dir), configs)
    scripts = sorted(p.name for p in out.glob("*.py")) if out.is_dir() else []
    if scripts:
        raise FeltOutputError(
            f"{out} holds {', '.join(scripts)}: a loading script there would shadow the parquet configs; "
            "remove it or convert into another folder"
        )
    _refuse_foreign_card(out, overwrite)
    lingering = earlier_configs(out, configs + list(media_plans))
    if lingering and not overwrite:
        raise FeltOutputError(
            f"{out} holds an earlier build's config(s) {', '.join(lingering)} that this conversion "
            f"({', '.join(configs + list(media_plans))}) does not write; convert them too (--configs), or pass --overwrite "
            "to remove them"
        )
    members: dict[str, list[CsvMember]] = {}
    tasks = plan_tasks(data_dir, out, configs, split_actors, skip_bad, previews, skipped, members)
    media_members = {c: [f.as_member() for f in plan.files.values()] for c, plan in media_plans.items()}
    everything = {**members, **media_members}
    notes = (trial_set_warnings(members) + left_out_warnings(everything, split_actors)
             + empty_split_warnings(everything, split_actors, skipped))  # fmt: skip
    for note in notes:
        warnings.warn(note, FeltWarning, stacklevel=2)
    if previews:  # the workers draw previews with datasets' Image feature: imported once, inherited
        _arrow_schema(True)
    existing, made = folders(out), [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    media_workers = _worker_count(num_proc)
    num_proc = max(1, min(media_workers, len(tasks)))
    media_run = MediaRun()
    all_configs = configs + list(media_plans)
    try:
        with folder_lock(out, "convert"):  # a second run into `out` is refused, not swapped in after this one
            remove_temp_leftovers(out)  # of runs that are over (an earlier, killed one)
            results: list[ShardResult] = []
            try:
                merged = StatsInTaskOrder(tasks)
                results = _run_tasks(tasks, num_proc, progress, merged)
                _refuse_configs_of_skipped_trials_only(results)
                results = _without_empty_shards(results, skipped, notes)
                write_media_configs(media_plans, data_dir, out, split_actors, _tracking_shards(results),
                                    skip_bad=skip_bad, progress=progress, run=media_run, workers=media_workers)  # fmt: skip
                documents = _documents_of(results, merged.documents)
                finish = functools.partial(_finish, out, data_dir, results, documents, all_configs,
                                           split_actors, source_description, synthetic, skipped, notes, media_run)  # fmt: skip
                return _replace_build(out, results, media_run, all_configs, lingering, finish)
            except BaseException:  # no temporary shard left behind (once swapped in: nothing to do)
                _remove_temporaries([*tasks, *(r.task for r in results)], media_run)  # (renumbered ones too)
                raise
    except BaseException:  # nor a folder this run made (the lock file is gone by now)
        remove_new_empty_folders(out, existing, made)
        raise


def _refuse_foreign_card(out: Path, overwrite: bool) -> None:
    """A ``README.md`` in ``out`` that no earlier build wrote (``--out .`` in a project folder) is
    not replaced by the dataset card without ``overwrite``: it had been, without a word."""
    readme = out / CARD_FILENAME
    if readme.is_file() and not overwrite and not is_converted_folder(out):
        raise FeltOutputError(
            f"{readme}: not the card of an earlier felt-hf build, and convert writes the dataset card there; "
            "convert into another folder, or pass --overwrite to replace it"
        )


def _worker_count(num_proc: int | None) -> int:
    """``num_proc`` (default: the cores), at most the cores, with a warning above them.

    Conversion is CPU-bound and every worker holds about 0.3 GB: a typo of 100000 had started 48
    workers on 2 cores (6.2 GB, 5x slower). At least 2 when asked for 2 or more, so that a
    parallel run stays parallel on a one-core machine."""
    cores = os.cpu_count() or 1
    if num_proc is None:
        return cores
    limit = max(cores, 2)
    if num_proc > limit:
        warnings.warn(f"--num-proc {num_proc}: this machine has {cores} core(s); using {limit} worker(s)",
                      FeltWarning, stacklevel=3)  # fmt: skip
    return max(1, min(num_proc, limit))


def _replace_build(
    out: Path,
    results: Sequence[ShardResult],
    media_run: MediaRun,
    configs: Sequence[str],
    lingering: Sequence[str],
    finish: Callable[[], BuildSummary],
) -> BuildSummary:
    """The new build replaces the earlier one as a unit: shards swapped in, stale and (with
    ``--overwrite``) lingering configs' shards set aside, then ``finish`` writes stats and card.
    A Ctrl-C from here on stops the run once the new build is whole; any error puts the earlier
    build back exactly (:class:`~felt_hf.atomic.Replacement`)."""
    with interrupts_deferred():
        replacement = Replacement()
        try:
            _swap_in(out, results, media_run, replacement)
            keep = {r.task.relpath for r in results} | {s.relpath for s in media_run.shards}
            _remove_stale(out, configs, keep, replacement)
            for name in lingering:  # only reached with overwrite
                _remove_earlier_config(out / name, replacement)
            summary = finish()
        except BaseException:  # (a full disk while the card is written)
            replacement.rollback()
            raise
        replacement.commit()
        for name in lingering:
            _remove_empty_config_folder(out / name)
        return summary


def _swap_in(out: Path, results: Sequence[ShardResult], media_run: MediaRun, replacement: Replacement) -> None:
    """The finished shards replace the earlier build's. First the card and the statistics go, so
    that a kill at any later moment leaves a folder without a card (visibly unfinished), never an
    old card or old stats.json over new shards; every file replaced is kept aside until the new
    card is written (``replacement``), so an error puts the earlier build back."""
    for name in (CARD_FILENAME, STATS_FILENAME, SKIPPED_FILENAME):
        replacement.remove(out / name)
    for r in results:
        replacement.put(r.task.tmp_path, r.task.final_path)
    media_run.commit(replacement)


def _refuse_configs_of_skipped_trials_only(results: Sequence[ShardResult]) -> None:
    """With ``--skip-bad``, a config whose every trial was skipped is an error, not an empty config
    written with exit status 0 (``verify`` would then pass a dataset without a single row)."""
    rows: dict[str, int] = {}
    skipped: dict[str, list[dict]] = {}
    for r in results:
        rows[r.task.config] = rows.get(r.task.config, 0) + r.num_rows
        skipped.setdefault(r.task.config, []).extend(r.skipped)
    refuse_all_skipped(rows, skipped, "trial of {config} is unreadable")


def _without_empty_shards(results: list[ShardResult], skipped: list[dict], notes: list[str]) -> list[ShardResult]:
    """The results with no shard of 0 rows, each split's shards renumbered ``i-of-N`` over those
    left; a split left without rows is left out, with a warning added to ``notes``.

    With ``--skip-bad``, a shard whose every trial was skipped was written as a parquet file of
    0 rows, which ``datasets`` cannot read ("BatchSize must be greater than 0"): ``load_dataset``
    then failed for the whole config, streaming too. Shards are planned before any trial is read,
    so only here is it known which are empty. The dropped shards' skip reports move to
    ``skipped``; their temporary files are removed, the others renamed to their new numbers."""
    by_split: dict[tuple[str, str], list[ShardResult]] = {}
    for r in results:
        by_split.setdefault((r.task.config, r.task.split), []).append(r)
    out = []
    for (config, split), group in by_split.items():
        kept = [r for r in group if r.num_rows]
        for r in group:
            if not r.num_rows:
                skipped.extend(r.skipped)
                r.task.tmp_path.unlink(missing_ok=True)
        if not kept:
            note = emptied_split_note(config, split)
            warnings.warn(note, FeltWarning, stacklevel=3)
            notes.append(note)
        for i, r in enumerate(kept):
            task = replace(r.task, index=i, num_shards=len(kept))
            if task.tmp_path != r.task.tmp_path:
                os.replace(r.task.tmp_path, task.tmp_path)
            r.task = task
            out.append(r)
    return out


def _documents_of(results: Sequence[ShardResult], documents: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """stats.json's entries of the splits that have shards (a split left out has no entry)."""
    have = {(r.task.config, r.task.split) for r in results}
    return {c: {s: d for s, d in splits.items() if (c, s) in have} for c, splits in documents.items()}


def _remove_temporaries(tasks: Sequence[ShardTask], media_run: MediaRun) -> None:
    for t in tasks:
        t.tmp_path.unlink(missing_ok=True)
    media_run.discard()


def _finish(
    out, data_dir, results, stats, configs, split_actors, source_description, synthetic, skipped, notes, media=None
) -> BuildSummary:
    from ..provenance import regeneration_provenance
    from .card import write_card

    summary_configs: dict[str, dict] = {}
    skipped = list(skipped)
    for r in results:
        split = summary_configs.setdefault(r.task.config, {"splits": {}})["splits"].setdefault(
            r.task.split, {"num_examples": 0, "num_frames": 0, "num_bytes": 0, "files": []}
        )
        split["num_examples"] += r.num_rows
        split["num_frames"] += r.num_frames
        split["num_bytes"] += r.num_bytes
        split["files"].append(r.task.relpath)
        if r.task.previews:  # only then: the default summary and card stay as they were
            summary_configs[r.task.config]["previews"] = True
        skipped.extend(r.skipped)
    if media is not None:  # media configs carry no feature statistics
        summary_configs.update(media.summary())
        skipped.extend(media.skipped)
        notes = [*notes, *media.notes()]
    skipped = [{k: _public(v, data_dir) if isinstance(v, str) else v for k, v in e.items()} for e in skipped]
    skipped, set_aside = split_set_aside(skipped)
    notes = [_public(n, data_dir) for n in notes]
    write_stats_json(out / STATS_FILENAME, stats)
    report = out / SKIPPED_FILENAME
    if skipped or set_aside:
        listed = {"skipped": skipped} | ({"set_aside": set_aside} if set_aside else {})
        atomic_write_bytes(report, (json.dumps(listed, indent=1) + "\n").encode("utf-8"))
    else:
        report.unlink(missing_ok=True)
    from .. import __version__
    from ..provenance import detect_provenance

    is_synthetic = bool(synthetic) if synthetic is not None else _looks_synthetic(data_dir)
    provenance = detect_provenance(data_dir, synthetic=is_synthetic)
    what = "regenerated tracking (scripts/regenerate.py)" if provenance["kind"].startswith("regen") else "FELT archives"
    summary = BuildSummary(
        felt_hf_version=__version__,
        source=source_description or f"{what} in {Path(data_dir).name or data_dir}",
        synthetic=is_synthetic,
        provenance=provenance,
        configs={c: ConfigSummary.from_dict(summary_configs[c]) for c in configs if c in summary_configs},
        split_actors={k: list(v) for k, v in split_actors.items()},
        stats_file=STATS_FILENAME,
        skipped=len(skipped),
        set_aside=len(set_aside),
        warnings=list(notes),
        regeneration=regeneration_provenance(data_dir),  # None for published archives
    )
    write_card(out, summary)
    return summary


def _public(text: str, data_dir) -> str:
    """``text`` for the card and ``skipped_trials.json``, which ``push`` publishes: the input
    folder's absolute path (``/home/someone/...``, this machine's) shortened to its name, so that
    ``/home/u/felt_download/x.zip:member`` reads ``felt_download/x.zip:member``."""
    root = Path(data_dir)
    name = root.resolve().name or str(root)
    for prefix in sorted({os.path.abspath(root), str(root.resolve())}, key=len, reverse=True):
        if prefix != os.sep:
            text = text.replace(prefix, name)
    return text


def _looks_synthetic(data_dir) -> bool:
    """The generator (:mod:`felt_hf.synth`) leaves this marker next to the archives it writes;
    looked for at any depth, as media are (a sample one folder down had been published as FELT)."""
    root = Path(data_dir)
    return (root / SYNTHETIC_MARKER).exists() or any(p.name == SYNTHETIC_MARKER for p in walk_entries(root))


def check_input_folder(data_dir: Path, command: str = "convert") -> None:
    """The input is a folder that exists: said as such, not as "no FELT archive in ..." (which
    reads as if the folder were there and empty); shared by ``felt-hf convert`` and ``build``."""
    if not data_dir.exists():
        raise FeltPathError(f"{data_dir}: no such folder (the folder holding the FELT zips or extracted folders)")
    if not data_dir.is_dir():
        raise FeltPathError(f"{data_dir} is a file: pass the folder that holds it (felt-hf {command} "
                            f"{data_dir.parent or '.'})")  # fmt: skip


def _refuse_overlap(out: Path, data_dir: Path, configs: Sequence[str]) -> None:
    """The output folder apart from the inputs, said before any work: not the input folder, not a
    folder holding it (the hub folder would then carry the input archives, which ``verify`` and
    ``push`` refuse as strays), and not inside an extracted config folder (its own CSVs would be
    among the inputs). A folder *beside* the archives, ``data/felt`` for ``data``, is fine."""
    if not data_dir.is_dir():
        return
    o, d = out.resolve(), data_dir.resolve()
    if o == d:
        raise FeltOutputError(f"{out} is the input folder: convert into a folder of its own (e.g. --out felt)")
    if o in d.parents:
        raise FeltOutputError(
            f"the input folder {data_dir} is inside the output folder {out}: the dataset folder would hold the "
            "inputs; convert into a folder of its own (e.g. --out felt)"
        )
    for config in configs:
        try:
            source = find_source(data_dir, config).resolve()
        except FileNotFoundError:
            continue  # said later, with the config's own message
        if source.is_dir() and (o == source or source in o.parents):
            raise FeltOutputError(
                f"{out} is inside the extracted input folder {source}: convert into a folder of its own"
            )


def _resolve_configs(
    data_dir, configs, skip_bad: bool, au_titles: bool = False, skipped: list[dict] | None = None
) -> tuple[list[str], dict]:
    """Requested (or present) configs -> tracking config names and the media configs' plans.

    Media inputs are found and checked (names, duplicates) here, before any work, like the CSVs
    (``skip_bad``: badly named media files go to ``skipped``). By default every config with
    inputs is converted; media alone (no tracking zip) is allowed.
    """
    if isinstance(configs, str):
        raise ValueError(f"configs must be a list of config names, e.g. [{configs!r}], not a string")
    if configs is not None and not list(configs):
        raise ValueError("configs is empty: name at least one config, or pass None for every config with inputs")
    if configs:  # a config named twice is converted once (two writers of one shard would collide)
        tracking, media = split_configs(list(dict.fromkeys(configs)))
        return tracking, plan_media(data_dir, media, skip_bad, au_titles, skipped) if media else {}
    plans = plan_media(data_dir, None, skip_bad, au_titles, skipped)
    try:
        return present_configs(data_dir), plans
    except FileNotFoundError as e:
        if not plans:
            raise
        if _nested_hint(data_dir):  # media alone would be converted, the tracking beside them not
            raise FeltPathError(f"{e}; only media would be converted") from None
        return [], plans


def _tracking_shards(results: Sequence[ShardResult]) -> dict[str, dict[str, list[Path]]]:
    """The just-written (still temporary) tracking shards per config and split, in row order."""
    out: dict[str, dict[str, list[Path]]] = {}
    for r in sorted(results, key=lambda r: (r.task.config, r.task.split, r.task.index)):
        out.setdefault(r.task.config, {}).setdefault(r.task.split, []).append(r.task.tmp_path)
    return out
