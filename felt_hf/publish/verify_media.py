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
* decodes a sample of cells the way a user's helpers do (PyAV for video, soundfile for audio) and
  compares what they hold with ``num_video_frames``, ``fps``, ``width``, ``height``,
  ``duration_s`` / ``sample_rate``, ``num_channels``, ``num_samples``;
* checks each sampled video row's map against its trial's tracking: ``exact`` maps must be the
  CSV-row expansion of the tracking's frames (two-face frames twice), ``from_titles`` maps an
  increasing run inside the trial, and every other ``alignment`` leaves the map null.

Every problem names the shard file, the row inside it and the column.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import schema
from ..parquet_reads import read_row_groups, read_table

# Relative tolerance for float32 columns against the float64 facts read back (float32 keeps ~7 digits).
FLOAT_RTOL = 1e-5
_KNOWN_MAP = ("exact", "from_titles")


@dataclass(frozen=True)
class TrackingTrial:
    """What a video row's map is checked against: the trial's tracking frames and faces per frame."""

    num_frames: int
    num_faces: np.ndarray

    def csv_rows(self) -> np.ndarray:
        """Tracking row of each CSV row (a two-face frame had two CSV rows), as the converter maps."""
        return np.repeat(np.arange(self.num_frames, dtype=np.int64), np.maximum(self.num_faces.astype(np.int64), 1))


def check_media(report, root: Path, configs: dict, footers: dict, sample: int) -> None:
    """Add the ``media_order`` and ``media_cells`` lines to ``report`` (nothing without media configs).

    ``footers``: ``{config: {split: [(relpath, footer), ...]}}`` in shard order, from the footer check.
    ``sample``: rows per config and split whose cells are decoded, spread evenly over the split.
    """
    media = [c for c in configs if c in schema.MEDIA_CONFIG_NAMES]
    if not media:
        return
    skipped = _skipped_pairs(root)
    order_problems: list[str] = []
    cell_problems: list[str] = []
    compared, decoded = [], 0
    tracking_cache: dict[tuple[str, str], dict[str, TrackingTrial] | None] = {}
    for name in media:
        kind, channel = schema.media_config_parts(name)
        ref = next((f"{v}_{channel}" for v in ("smoothed", "raw") if f"{v}_{channel}" in configs), None)
        for split, got in footers.get(name, {}).items():
            cell = "audio" if kind == schema.AUDIO_KIND else "video"
            where = _row_places(root, got, cell)
            ids = [tid for _, _, tid, _ in where]
            order_problems += _label_problems(root, got)
            cell_problems += _empty_cell_problems(name, where, skipped, cell)
            tracking = None
            if ref is not None:
                key = (ref, split)
                if key not in tracking_cache:
                    tracking_cache[key] = _tracking_trials(root, footers.get(ref, {}).get(split, []))
                tracking = tracking_cache[key]
                order_problems += _order_problems(name, split, where, list(tracking), ref)
                compared.append(f"{name}/{split}")
            problems, n = _cell_problems(root, got, kind, _spread(len(ids), sample), tracking)
            cell_problems += problems
            decoded += n
    report.add("media_order", "fail" if order_problems else "pass",
               f"{len(order_problems)} problem(s): {order_problems[0]}" if order_problems else
               (f"{len(compared)} media split(s) in the tracking's row order; labels agree with trial ids"
                if compared else "no tracking config of the media's channel in the folder: order not compared; "
                "labels agree with trial ids"), order_problems)  # fmt: skip
    report.add("media_cells", "fail" if cell_problems else "pass",
               f"{len(cell_problems)} problem(s): {cell_problems[0]}" if cell_problems else
               f"{decoded} media cell(s) decoded (PyAV, soundfile): frames, rate, size, duration and the frame "
               "maps agree with their columns and the tracking", cell_problems)  # fmt: skip


def _spread(n: int, sample: int) -> list[int]:
    """``sample`` row positions spread evenly over ``n`` rows (all of them when ``n <= sample``)."""
    if n <= sample:
        return list(range(n))
    if sample <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, n - 1, sample).round()})


def _row_places(root: Path, got: Sequence[tuple[str, dict]], cell: str) -> list[tuple[str, int, str, bool]]:
    """``(shard relpath, row in shard, trial_id, cell filled)`` for every row of a split, in order.

    Whether the media cell is filled is read from its small ``path`` field (``<cell>.path``): an
    empty cell is a null struct, and reading the bytes of every row would read the whole split."""
    out = []
    for rel, _ in got:
        t = read_table(root / rel, columns=["trial_id", f"{cell}.path"])
        ids, filled = t.column("trial_id").to_pylist(), t.column(cell).is_valid().to_pylist()
        out += [(rel, i, tid, ok) for i, (tid, ok) in enumerate(zip(ids, filled, strict=True))]
    return out


def _skipped_pairs(root: Path) -> set[tuple[str, str]]:
    """``(config, trial_id)`` of the media rows the converter left empty (``--skip-bad``), as
    ``skipped_trials.json`` lists them; an unreadable list is the ``skipped`` check's to report."""
    import json

    from ..layout import SKIPPED_FILENAME

    try:
        entries = json.loads((root / SKIPPED_FILENAME).read_text(encoding="utf-8"))["skipped"]
        return {(e["config"], e["trial_id"]) for e in entries if isinstance(e, dict) and "config" in e}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _empty_cell_problems(name: str, where, skipped: set[tuple[str, str]], cell: str) -> list[str]:
    """An empty media cell is only right for a trial the converter skipped and listed."""
    from ..layout import SKIPPED_FILENAME

    bad = [(rel, row, tid) for rel, row, tid, filled in where if not filled and (name, tid) not in skipped]
    if not bad:
        return []
    rel, row, tid = bad[0]
    return [f"{rel} row {row}, column {cell!r}: empty, and {SKIPPED_FILENAME} does not list trial {tid} of {name} "
            f"({len(bad)} such row(s) in the split)"]  # fmt: skip


def _tracking_trials(root: Path, got: Sequence[tuple[str, dict]]) -> dict[str, TrackingTrial]:
    """``{trial_id: TrackingTrial}`` of a tracking split, in its row order (dicts keep it)."""
    out: dict[str, TrackingTrial] = {}
    for rel, _ in got:
        t = read_table(root / rel, columns=["trial_id", "num_frames", "num_faces"])
        for tid, n, faces in zip(t["trial_id"].to_pylist(), t["num_frames"].to_pylist(),
                                 t["num_faces"].to_pylist(), strict=True):  # fmt: skip
            out[tid] = TrackingTrial(int(n), np.asarray(faces, dtype=np.uint8))
    return out


def _order_problems(name: str, split: str, where: list[tuple], ref_ids: list[str], ref: str) -> list[str]:
    """The first row where the media's trial differs from the tracking's, and a count mismatch."""
    problems = []
    for i, ((rel, row, tid, _), want) in enumerate(zip(where, ref_ids, strict=False)):  # lengths compared below
        if tid != want:
            problems.append(f"{rel} row {row}, column 'trial_id': {tid}, where {ref}/{split} row {i} has {want} "
                            "(rows must follow the tracking's order)")  # fmt: skip
            break
    if len(where) != len(ref_ids):
        problems.append(f"{name}/{split}: {len(where)} rows, {ref}/{split} has {len(ref_ids)}")
    return problems


def _label_problems(root: Path, got: Sequence[tuple[str, dict]]) -> list[str]:
    """Label cells that are not what the row's ``trial_id`` says (ClassLabel columns as names)."""
    import pyarrow.parquet as pq

    from ..ravdess import parse_trial_id

    problems = []
    for rel, _ in got:
        with pq.ParquetFile(root / rel) as pf:
            table = read_row_groups(pf, range(pf.num_row_groups), schema.LABEL_COLUMNS)
        rows = table.to_pylist()
        for i, row in enumerate(rows):
            want = parse_trial_id(row["trial_id"]).as_row()
            for column, value in row.items():
                expected = want[column]
                names = schema.CLASS_LABELS.get(column)
                if names is not None and isinstance(value, int) and 0 <= value < len(names):
                    value = names[value]
                if value != expected:
                    problems.append(f"{rel} row {i}, column {column!r}: {value!r}, the trial id "
                                    f"{row['trial_id']} says {expected!r}")  # fmt: skip
                    return problems  # one is enough: a shard written with other labels
    return problems


def _cell_problems(root: Path, got, kind: str, positions: list[int], tracking) -> tuple[list[str], int]:
    """Decode the cells at ``positions`` (row numbers within the split) and compare them with their
    row's columns; ``tracking``: the channel's ``{trial_id: TrackingTrial}``, or None."""
    import pyarrow.parquet as pq

    problems: list[str] = []
    wanted = set(positions)
    start, decoded = 0, 0
    for rel, footer in got:
        stop = start + int(footer["num_rows"])
        if not wanted.intersection(range(start, stop)):
            start = stop
            continue
        with pq.ParquetFile(root / rel) as pf:
            first = 0
            for g in range(pf.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                rows_here = [p - start for p in positions if start + first <= p < start + first + n]
                if rows_here:
                    table = read_row_groups(pf, [g])
                    for r in rows_here:
                        row = table.slice(r - first, 1).to_pylist()[0]
                        found, was_decoded = _row_problems(f"{rel} row {r}", kind, row, tracking)
                        problems += found
                        decoded += was_decoded
                first += n
        start = stop
    return problems, decoded


def _row_problems(where: str, kind: str, row: dict, tracking) -> tuple[list[str], bool]:
    """The row's problems, and whether a cell was decoded (an empty one is _empty_cell_problems')."""
    cell = row.get("audio" if kind == schema.AUDIO_KIND else "video")
    if cell is None or cell.get("bytes") is None:
        return [], False
    data = bytes(cell["bytes"])
    if kind == schema.AUDIO_KIND:
        return _audio_problems(where, row, data), True
    return _video_problems(where, row, data, tracking, kind), True


def _alignment_problem(where: str, row: dict, tracking, kind: str) -> str | None:
    """The stored ``alignment`` against the converter's own rule (:func:`alignment_of`) applied to
    the frame count and the trial's tracking in the folder: a map thrown away where the counts
    prove it, ``no_tracking`` beside the trial's tracking, ``dropped_frames_unknown`` for a kind
    that has a frame per row. ``from_titles`` stands where the rule says the map is unknown."""
    from ..build.convert_media import alignment_of

    trial = None if tracking is None else tracking.get(row["trial_id"])
    if trial is None:
        return None  # no tracking of this trial in the folder to apply the rule to
    rows = trial.csv_rows()
    expected, _ = alignment_of(kind, int(row.get("num_video_frames") or 0), rows)
    stored = row.get("alignment")
    if stored == expected or (stored == "from_titles" and expected == "dropped_frames_unknown"):
        return None
    return (f"{where}, column 'alignment': {stored!r}, but {row.get('num_video_frames')} frames of a {kind} video "
            f"for the {len(rows)} CSV rows of the trial's tracking make it {expected!r}")  # fmt: skip


def _mismatch(where: str, column: str, stored, actual, how: str) -> str:
    return f"{where}, column {column!r}: {stored!r}, the {how} says {actual!r}"


def _close(a, b) -> bool:
    return a is not None and b is not None and bool(np.isclose(float(a), float(b), rtol=FLOAT_RTOL, atol=1e-6))


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


def _video_problems(where: str, row: dict, data: bytes, tracking, kind: str) -> list[str]:
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
    return problems + _map_problems(where, row, tracking, kind)


def _map_problems(where: str, row: dict, tracking, kind: str) -> list[str]:
    """The row's ``alignment`` / ``tracking_index`` / ``num_tracking_rows`` against its trial's tracking."""
    alignment, index = row.get("alignment"), row.get("tracking_index")
    if alignment not in schema.ALIGNMENTS:
        return [f"{where}, column 'alignment': {alignment!r} is not one of {', '.join(schema.ALIGNMENTS)}"]
    wrong = _alignment_problem(where, row, tracking, kind)
    if wrong:
        return [wrong]
    if alignment not in _KNOWN_MAP:
        return [] if index is None else [f"{where}, column 'tracking_index': a map, but alignment is {alignment!r} "
                                          "(the map is unknown there and must be null)"]  # fmt: skip
    if index is None or len(index) != row.get("num_video_frames"):
        got = "null" if index is None else f"{len(index)} entries"
        return [f"{where}, column 'tracking_index': {got} for {row.get('num_video_frames')} video frames "
                f"(alignment {alignment})"]  # fmt: skip
    trial = None if tracking is None else tracking.get(row["trial_id"])
    if trial is None:
        return []  # no tracking of this channel in the folder to compare with
    rows = trial.csv_rows()
    idx = np.asarray(index, dtype=np.int64)
    if row.get("num_tracking_rows") != len(rows):
        return [_mismatch(where, "num_tracking_rows", row.get("num_tracking_rows"), len(rows),
                          "tracking (CSV rows: frames, two-face frames twice)")]  # fmt: skip
    if alignment == "exact" and not np.array_equal(idx, rows):
        bad = int(np.argmax(idx != rows)) if idx.shape == rows.shape else 0
        return [f"{where}, column 'tracking_index': entry {bad} is {int(idx[bad])}, the tracking's CSV row {bad} is "
                f"tracking row {int(rows[bad])} (alignment exact)"]  # fmt: skip
    if idx.size and (idx.min() < 0 or idx.max() >= trial.num_frames or np.any(np.diff(idx) < 0)):
        return [f"{where}, column 'tracking_index': not an increasing run of rows 0..{trial.num_frames - 1} of the "
                f"trial's tracking (alignment {alignment})"]  # fmt: skip
    return []


__all__ = ["check_media"]
