"""``felt-hf verify`` of a converted folder's media configs: rows in the tracking's order, and
cells that decode to the facts their columns state.

Why a check of its own: a media config is useful only joined row by row with the tracking of its
channel (``concatenate_datasets(..., axis=1)``), and its facts (frame count, rate, size, the
video-frame -> tracking-row map) are what a user reads instead of decoding. The footer and
feature checks see neither: a shard whose rows were reordered, or whose ``tracking_index`` no
longer fits its trial, has the right row count and types. So this module

* compares each split's ``trial_id`` column, row by row, with the tracking config of the same
  channel in the folder (``smoothed_*`` first, else ``raw_*``; both are one order), and the label
  columns with the trial id they are parsed from;
* requires every empty media cell to be one ``skipped_trials.json`` lists, with null facts;
* decodes a sample of cells the way a user's helpers do and compares what they hold with
  ``num_video_frames``, ``fps``, ``width``, ``height``, ``duration_s`` / ``sample_rate``,
  ``num_channels``, ``num_samples``: every sampled audio cell is decoded whole (soundfile, ~ms);
  every sampled video is opened with PyAV (its sample index, as the converter reads it), and the
  first :data:`FULL_DECODES` of each split are decoded frame by frame too (a 720p video costs about
  0.4 s to decode, so all of them would take minutes);
* checks each sampled video row's ``alignment`` against the converter's own rule and its map
  against the trial's tracking.

Every problem names the shard file, the row inside it and the column. Shards whose columns differ
from the features are the ``features`` check's to report and are not read here; anything else
that cannot be read is a problem naming the shard, never a traceback.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import schema
from ..parquet_reads import open_shard, read_failure, read_row_groups, read_table

FULL_DECODES = 4  # sampled videos per split decoded frame by frame, the first ones in row order
_KNOWN_MAP = ("exact", "from_titles")


class ShardUnreadable(Exception):
    """A shard (or part of one) that pyarrow cannot read; the message names it."""


@dataclass(frozen=True)
class TrackingTrial:
    """What a video row's map is checked against: the trial's tracking frames and faces per frame."""

    num_frames: int
    num_faces: np.ndarray

    def csv_rows(self) -> np.ndarray:
        """Tracking row of each CSV row (a two-face frame had two CSV rows), as the converter maps."""
        return np.repeat(np.arange(self.num_frames, dtype=np.int64), np.maximum(self.num_faces.astype(np.int64), 1))


@dataclass
class _Tally:
    order: list[str]
    cells: list[str]
    compared: int = 0
    opened: int = 0
    decoded: int = 0


def check_media(report, root: Path, configs: dict, footers: dict, sample: int) -> None:
    """Add the ``media_order`` and ``media_cells`` lines to ``report`` (nothing without media configs).

    ``footers``: ``{config: {split: [(relpath, footer), ...]}}`` in shard order, from the footer
    check (each footer says whether the file's columns equal the features, ``schema_ok``).
    ``sample``: rows per config and split whose cells are decoded, spread evenly over the split.
    """
    media = [c for c in configs if c in schema.MEDIA_CONFIG_NAMES]
    if not media:
        return
    tally = _Tally([], [])
    skipped = _skipped_pairs(root)
    tracking_cache: dict[tuple[str, str], dict[str, TrackingTrial | None]] = {}
    for name in media:
        kind, channel = schema.media_config_parts(name)
        ref = next((f"{v}_{channel}" for v in ("smoothed", "raw") if f"{v}_{channel}" in configs), None)
        for split, got in footers.get(name, {}).items():
            ref_got = footers.get(ref, {}).get(split, []) if ref else []
            if not all(f.get("schema_ok", True) for _, f in [*got, *ref_got]):
                continue  # columns that are not the features': the features check failed them
            try:
                tracking = None
                if ref is not None:
                    if (ref, split) not in tracking_cache:
                        tracking_cache[(ref, split)] = _tracking_trials(root, ref_got)
                    tracking = tracking_cache[(ref, split)]
                _check_split(tally, root, name, kind, split, got, ref, tracking, skipped, sample)
            except ShardUnreadable as e:
                tally.cells.append(str(e))
    report.add("media_order", "fail" if tally.order else "pass",
               f"{len(tally.order)} problem(s): {tally.order[0]}" if tally.order else
               (f"{tally.compared} media split(s) in the tracking's row order; labels agree with trial ids"
                if tally.compared else "no tracking config of the media's channel in the folder: order not "
                "compared; labels agree with trial ids"), tally.order)  # fmt: skip
    report.add("media_cells", "fail" if tally.cells else "pass",
               f"{len(tally.cells)} problem(s): {tally.cells[0]}" if tally.cells else
               f"{tally.opened} media cell(s) read back ({tally.decoded} decoded whole: every audio cell, "
               f"{FULL_DECODES} videos per split, or all where --sample covers the split; the other videos opened "
               "with PyAV): frames, rate, size, duration "
               "and the frame maps agree with their columns and the tracking; empty cells are listed skips",
               tally.cells)  # fmt: skip


def _check_split(tally: _Tally, root: Path, name: str, kind: str, split: str, got, ref: str | None, tracking,
                 skipped: set[tuple[str, str]], sample: int) -> None:  # fmt: skip
    cell = "audio" if kind == schema.AUDIO_KIND else "video"
    rows = _split_rows(root, got, cell, kind)
    tally.order += _label_problems(rows)
    tally.cells += _empty_cell_problems(name, rows, skipped, cell)
    if tracking is not None:
        tally.order += _order_problems(name, split, rows, list(tracking), ref)
        tally.compared += 1
    _sampled_cells(tally, root, got, kind, sample, tracking)


def _read(root: Path, rel: str, columns: Sequence[str] | None = None):
    try:
        return read_table(root / rel, columns=columns)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise ShardUnreadable(f"{rel}: unreadable: {e}") from None


def _spread(n: int, sample: int) -> list[int]:
    """``sample`` positions spread evenly over ``n`` (all of them when ``n <= sample``)."""
    if n <= sample:
        return list(range(n))
    if sample <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, n - 1, sample).round()})


@dataclass(frozen=True)
class _Row:
    """One row of a media split without its media bytes: where it is, its trial, whether its cell
    is filled, and its fact columns (small, so every row is read)."""

    rel: str
    index: int
    trial_id: str | None
    filled: bool
    facts: dict
    labels: dict  # the label columns, trial_id included


def _fact_columns(kind: str) -> list[str]:
    skip = {"source_file", "video", "audio"}
    return [c.name for c in schema.media_column_table(kind) if c.name not in skip]


def _split_rows(root: Path, got: Sequence[tuple[str, dict]], cell: str, kind: str) -> list[_Row]:
    """Every row of a split, in order. Whether a media cell is filled is read from its small
    ``path`` field (``<cell>.path``): an empty cell is a null struct, and reading the bytes of every
    row would read the whole split (a present cell whose bytes are null is caught where sampled)."""
    facts = _fact_columns(kind)
    out = []
    for rel, _ in got:
        t = _read(root, rel, [*schema.LABEL_COLUMNS, f"{cell}.path", *facts])
        values = {c: t.column(c).to_pylist() for c in (*schema.LABEL_COLUMNS, *facts)}
        for i, ok in enumerate(t.column(cell).is_valid().to_pylist()):
            out.append(_Row(rel, i, values["trial_id"][i], ok, {c: values[c][i] for c in facts},
                            {c: values[c][i] for c in schema.LABEL_COLUMNS}))  # fmt: skip
    return out


def _tracking_trials(root: Path, got: Sequence[tuple[str, dict]]) -> dict[str, TrackingTrial | None]:
    """``{trial_id: TrackingTrial}`` of a tracking split, in its row order (dicts keep it); a trial
    whose counts are null, or whose ``num_frames`` disagrees with its ``num_faces`` (the ``rows``
    check names it), is left unknown."""
    out: dict[str, TrackingTrial | None] = {}
    for rel, _ in got:
        t = _read(root, rel, ["trial_id", "num_frames", "num_faces"])
        for tid, n, faces in zip(t["trial_id"].to_pylist(), t["num_frames"].to_pylist(),
                                 t["num_faces"].to_pylist(), strict=True):  # fmt: skip
            if isinstance(tid, str) and n is not None and faces is not None and None not in faces and len(faces) == n:
                out[tid] = TrackingTrial(int(n), np.asarray(faces, dtype=np.uint8))
            elif isinstance(tid, str):
                out[tid] = None  # in the order, its counts unknown
    return out


def _order_problems(name: str, split: str, rows: list[_Row], ref_ids: list[str], ref: str) -> list[str]:
    """The first row where the media's trial differs from the tracking's, and a count mismatch."""
    problems = []
    for i, (row, want) in enumerate(zip(rows, ref_ids, strict=False)):  # lengths compared below
        if row.trial_id != want:
            problems.append(f"{row.rel} row {row.index}, column 'trial_id': {row.trial_id}, where {ref}/{split} row "
                            f"{i} has {want} (rows must follow the tracking's order)")  # fmt: skip
            break
    if len(rows) != len(ref_ids):
        problems.append(f"{name}/{split}: {len(rows)} rows, {ref}/{split} has {len(ref_ids)}")
    return problems


def _label_problems(rows: list[_Row]) -> list[str]:
    """The first row whose label cells are not what its ``trial_id`` says (one is enough: a shard
    written with other labels)."""
    from .verify_rows import label_problem

    for r in rows:
        problem = label_problem(f"{r.rel} row {r.index}", r.labels)
        if problem:
            return [problem]
    return []


def _skipped_pairs(root: Path) -> set[tuple[str, str]]:
    """``(config, trial_id)`` of the media rows the converter left empty (``--skip-bad``), as
    ``skipped_trials.json`` lists them; an unreadable list is the ``skipped`` check's to report."""
    import json

    from ..layout import SKIPPED_FILENAME

    try:
        entries = json.loads((root / SKIPPED_FILENAME).read_text(encoding="utf-8"))["skipped"]
        return {(e["config"], e["trial_id"]) for e in entries if isinstance(e, dict) and "config" in e}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return set()


def _empty_cell_problems(name: str, rows: list[_Row], skipped: set[tuple[str, str]], cell: str) -> list[str]:
    """An empty media cell is only right for a trial the converter skipped and listed, and then
    its facts are null too (the converter writes nothing it did not read)."""
    from ..layout import SKIPPED_FILENAME

    empty = [r for r in rows if not r.filled]
    unlisted = [r for r in empty if (name, r.trial_id) not in skipped]
    if unlisted:
        r = unlisted[0]
        return [f"{r.rel} row {r.index}, column {cell!r}: empty, and {SKIPPED_FILENAME} does not list trial "
                f"{r.trial_id} of {name} ({len(unlisted)} such row(s) in the split)"]  # fmt: skip
    for r in empty:
        stated = next((c for c, v in r.facts.items() if v is not None), None)
        if stated is not None:
            return [f"{r.rel} row {r.index}, column {stated!r}: {r.facts[stated]!r}, but the row's {cell} is empty "
                    "(a skipped trial's facts are null)"]  # fmt: skip
    return []


def _sampled_cells(tally: _Tally, root: Path, got, kind: str, sample: int, tracking) -> None:
    """Read about ``sample`` cells of a split, whole row groups spread evenly over it, and compare
    each with its row's columns.

    Whole row groups: a parquet reader reads a row group's media column chunk whole (4 videos), so
    checking every row of fewer row groups reads a quarter of the bytes that one row in each of
    ``sample`` row groups would (a 720p FELT video is megabytes, and ``push`` runs this first)."""
    import math

    import pyarrow.parquet as pq

    groups: list[tuple[str, int, int]] = []  # (shard, row group, its first row in the shard), split order
    sizes: list[int] = []
    for rel, _ in got:
        try:
            meta = pq.read_metadata(root / rel)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise ShardUnreadable(f"{rel}: unreadable: {e}") from None
        first = 0
        for g in range(meta.num_row_groups):
            groups.append((rel, g, first))
            sizes.append(meta.row_group(g).num_rows)
            first += sizes[-1]
    chosen: dict[str, list[tuple[int, int]]] = {}  # shard -> its chosen (row group, first row), in order
    for i in _spread(len(groups), math.ceil(sample / max(sizes, default=1))):
        rel, g, first = groups[i]
        chosen.setdefault(rel, []).append((g, first))
    videos_decoded, every = 0, sample >= sum(sizes)  # a sample that covers the split: every video whole
    for rel, picks in chosen.items():
        for first, table in _row_groups(root, rel, picks):  # one open per shard, one group in memory
            for i, row in enumerate(table.to_pylist()):
                whole = kind == schema.AUDIO_KIND or every or videos_decoded < FULL_DECODES
                problems, read = _row_problems(f"{rel} row {first + i}", kind, row, tracking, whole)
                tally.cells += problems
                tally.opened += read
                tally.decoded += read and whole
                videos_decoded += read and kind != schema.AUDIO_KIND


def _row_groups(root: Path, rel: str, picks: list[tuple[int, int]]):
    """``(first row, table)`` of each picked ``(row group, first row)`` of one shard, read one at a
    time from one open file; a read pyarrow refuses is :class:`ShardUnreadable`, naming the row
    group and column.

    Every page read is checked against its checksum (:func:`~felt_hf.parquet_reads.open_shard`):
    a flipped bit inside an h264 frame decodes without an error (FFmpeg conceals it and returns
    the frame, pixels up to 255 off), so decoding alone passed a damaged video cell that the
    page's CRC32 catches, at no extra read."""
    try:
        with open_shard(root / rel) as pf:
            for g, first in picks:
                try:
                    table = read_row_groups(pf, [g])
                except Exception as e:  # pyarrow raises several types for a damaged page
                    raise ShardUnreadable(f"{rel}: {read_failure(pf, [g], None, e)}") from None
                yield first, table
    except ShardUnreadable:
        raise
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise ShardUnreadable(f"{rel}: unreadable: {e}") from None


def _row_problems(where: str, kind: str, row: dict, tracking, whole: bool) -> tuple[list[str], bool]:
    """The row's problems, and whether its cell was read (an empty one is _empty_cell_problems')."""
    column = "audio" if kind == schema.AUDIO_KIND else "video"
    cell = row.get(column)
    if cell is None:
        return [], False
    if cell.get("bytes") is None:
        return [f"{where}, column {column!r}: the cell is there but holds no bytes"], False
    data = bytes(cell["bytes"])
    named = _source_problems(where, kind, row, cell.get("path"))
    if kind == schema.AUDIO_KIND:
        return named + _audio_problems(where, row, data), True
    return named + _video_problems(where, row, data, tracking, kind, whole), True


def _source_problems(where: str, kind: str, row: dict, path) -> list[str]:
    """The cell's file name, ``source_file`` and ``audio_source`` against the row's trial, as the
    converter writes them (an edited ``audio_source`` or ``source_file`` had passed)."""
    trial = row.get("trial_id") or ""
    audio = kind == schema.AUDIO_KIND
    column = "audio" if audio else "video"
    want = f"{trial}.{'flac' if audio else 'mp4'}"
    if path != want:
        return [f"{where}, column {column!r}: its file is named {path!r}, not {want!r} (the row's trial)"]
    source = row.get("source_file") or ""
    stem = source.replace("\\", "/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]  # (a Windows zip's member too)
    from_wav = stem.lower().endswith((".wav", ".flac"))  # a RAVDESS audio-only file
    expected = ("03" + trial[2:] if from_wav else trial) + stem[stem.rfind(".") :]
    if stem != expected:
        return [f"{where}, column 'source_file': {source!r} is not a file of trial {trial}"]
    if audio and row.get("audio_source") != ("ravdess_wav" if from_wav else "full_av_mp4"):
        return [f"{where}, column 'audio_source': {row.get('audio_source')!r}, but source_file is {source!r}"]
    return []


def _mismatch(where: str, column: str, stored, actual, how: str) -> str:
    return f"{where}, column {column!r}: {stored!r}, the {how} says {actual!r}"


def _close(a, b) -> bool:
    """A float32 column against the fact it was written from: equal once both are float32 (the
    converter stores exactly ``float32(fact)``); a 1e-5 tolerance had passed ``fps`` 30.0001."""
    return a is not None and b is not None and bool(np.float32(a) == np.float32(b))


def _audio_problems(where: str, row: dict, data: bytes) -> list[str]:
    import soundfile as sf

    if not data.startswith(b"fLaC"):  # soundfile would read a wav too; the card promises FLAC
        return [f"{where}, column 'audio': not FLAC (starts {data[:4]!r})"]
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except Exception as e:  # soundfile raises several types for bad bytes
        return [f"{where}, column 'audio': soundfile cannot decode the FLAC: {getattr(e, 'error_string', e)}"]
    problems = []
    facts = {"sample_rate": int(rate), "num_channels": int(samples.shape[1]), "num_samples": int(samples.shape[0])}
    for column, actual in facts.items():
        if row.get(column) != actual:
            problems.append(_mismatch(where, column, row.get(column), actual, "decoded FLAC"))
    if not _close(row.get("duration_s"), samples.shape[0] / rate):
        problems.append(_mismatch(where, "duration_s", row.get("duration_s"), samples.shape[0] / rate, "decoded FLAC"))
    return problems


def _decode_problem(where: str, data: bytes, num_frames: int, size: tuple[int, int]) -> str | None:
    """Decode every frame (PyAV): bytes damaged inside the frames pass the sample-index probe, and
    a frame size the probe got wrong shows (it had read MPEG-4 Part 2 files as 0x0)."""
    import av

    n, sizes = 0, set()
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            container.streams.video[0].thread_type = "AUTO"
            for frame in container.decode(video=0):
                n += 1
                sizes.add((frame.width, frame.height))
    except Exception as e:  # PyAV raises several types for damaged data
        from ..inputs.media import av_reason

        return f"{where}, column 'video': PyAV cannot decode its frames: {av_reason(e)}"
    if n != num_frames:
        return f"{where}, column 'video': {n} frames decode, its index holds {num_frames}"
    if sizes != {size}:
        got = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        return f"{where}, columns 'width'/'height': {size[0]}x{size[1]}, the decoded frames are {got}"
    return None


def _video_problems(where: str, row: dict, data: bytes, tracking, kind: str, whole: bool) -> list[str]:
    from ..errors import FeltFormatError
    from ..inputs.media import probe_video

    try:
        info = probe_video(data, file=where)
    except FeltFormatError as e:
        return [f"{where}, column 'video': {e.reason}"]
    problems = []
    for column in ("num_video_frames", "width", "height"):
        actual = info.num_frames if column == "num_video_frames" else getattr(info, column)
        if row.get(column) != actual:
            problems.append(_mismatch(where, column, row.get(column), actual, "mp4 (PyAV)"))
    for column in ("fps", "duration_s"):
        actual = getattr(info, column)
        if not _close(row.get(column), actual) and not (np.isnan(actual) and row.get(column) is None):
            problems.append(_mismatch(where, column, row.get(column), actual, "mp4 (PyAV)"))
    if whole and (broken := _decode_problem(where, data, info.num_frames, (row.get("width"), row.get("height")))):
        problems.append(broken)
    return problems + _map_problems(where, row, tracking, kind)


def _map_problems(where: str, row: dict, tracking, kind: str) -> list[str]:
    """The row's ``alignment`` / ``tracking_index`` / ``num_tracking_rows`` against its trial's tracking."""
    alignment, index = row.get("alignment"), row.get("tracking_index")
    if alignment not in schema.ALIGNMENTS:
        return [f"{where}, column 'alignment': {alignment!r} is not one of {', '.join(schema.ALIGNMENTS)}"]
    trial = None if tracking is None else tracking.get(row["trial_id"])
    if trial is not None:
        rows = trial.csv_rows()
        wrong = _alignment_problem(where, row, rows, kind)
        if wrong:
            return [wrong]
        if row.get("num_tracking_rows") != len(rows):
            return [_mismatch(where, "num_tracking_rows", row.get("num_tracking_rows"), len(rows),
                              "trial's tracking (CSV rows: frames, two-face frames twice)")]  # fmt: skip
    if alignment not in _KNOWN_MAP:
        return [] if index is None else [f"{where}, column 'tracking_index': a map, but alignment is {alignment!r} "
                                          "(the map is unknown there and must be null)"]  # fmt: skip
    if index is None or len(index) != row.get("num_video_frames") or None in index:
        got = "null" if index is None else f"{len(index)} entries" + (" with nulls" if None in index else "")
        return [f"{where}, column 'tracking_index': {got} for {row.get('num_video_frames')} video frames "
                f"(alignment {alignment})"]  # fmt: skip
    if trial is None:
        return []  # no tracking of this trial in the folder to compare with
    return _index_problems(where, np.asarray(index, dtype=np.int64), trial, alignment)


def _index_problems(where: str, idx: np.ndarray, trial: TrackingTrial, alignment: str) -> list[str]:
    """An ``exact`` map is the CSV-row expansion itself; a ``from_titles`` map is the expansion at
    strictly increasing CSV rows: non-decreasing, inside the trial, each tracking row at most as
    often as it had CSV rows."""
    rows = trial.csv_rows()
    if alignment == "exact":
        if np.array_equal(idx, rows):
            return []
        bad = int(np.argmax(idx != rows)) if idx.shape == rows.shape else 0
        return [f"{where}, column 'tracking_index': entry {bad} is {int(idx[bad])}, the tracking's CSV row {bad} is "
                f"tracking row {int(rows[bad])} (alignment exact)"]  # fmt: skip
    if idx.size and (idx.min() < 0 or idx.max() >= trial.num_frames or np.any(np.diff(idx) < 0)):
        return [f"{where}, column 'tracking_index': not an increasing run of rows 0..{trial.num_frames - 1} of the "
                f"trial's tracking (alignment {alignment})"]  # fmt: skip
    times = np.bincount(idx, minlength=trial.num_frames)
    allowed = np.maximum(trial.num_faces.astype(np.int64), 1)
    if np.any(times > allowed):
        r = int(np.argmax(times > allowed))
        return [f"{where}, column 'tracking_index': tracking row {r} shown by {int(times[r])} frames, but it had "
                f"{int(allowed[r])} CSV row(s) to draw from (alignment {alignment})"]  # fmt: skip
    return []


def _alignment_problem(where: str, row: dict, rows: np.ndarray, kind: str) -> str | None:
    """The stored ``alignment`` against the converter's own rule (:func:`alignment_of`) applied to
    the frame count and the trial's tracking in the folder: a map thrown away where the counts
    prove it, ``no_tracking`` beside the trial's tracking, ``dropped_frames_unknown`` for a kind
    that has a frame per row. ``from_titles`` stands where the rule says the map is unknown."""
    from ..build.convert_media import alignment_of

    expected, _ = alignment_of(kind, int(row.get("num_video_frames") or 0), rows)
    stored = row.get("alignment")
    if stored == expected or (stored == "from_titles" and expected == "dropped_frames_unknown"):
        return None
    return (f"{where}, column 'alignment': {stored!r}, but {row.get('num_video_frames')} frames of a {kind} video "
            f"for the {len(rows)} CSV rows of the trial's tracking make it {expected!r}")  # fmt: skip


__all__ = ["check_media"]
