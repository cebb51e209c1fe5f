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
    order_problems: list[str] = []
    cell_problems: list[str] = []
    compared, decoded = [], 0
    tracking_cache: dict[tuple[str, str], dict[str, TrackingTrial] | None] = {}
    for name in media:
        kind, channel = schema.media_config_parts(name)
        ref = next((f"{v}_{channel}" for v in ("smoothed", "raw") if f"{v}_{channel}" in configs), None)
        for split, got in footers.get(name, {}).items():
            where = _row_places(root, got)
            ids = [tid for _, _, tid in where]
            order_problems += _label_problems(root, got)
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


def _row_places(root: Path, got: Sequence[tuple[str, dict]]) -> list[tuple[str, int, str]]:
    """``(shard relpath, row in shard, trial_id)`` for every row of a split, in order."""
    out = []
    for rel, _ in got:
        ids = read_table(root / rel, columns=["trial_id"]).column("trial_id").to_pylist()
        out += [(rel, i, tid) for i, tid in enumerate(ids)]
    return out


def _tracking_trials(root: Path, got: Sequence[tuple[str, dict]]) -> dict[str, TrackingTrial]:
    """``{trial_id: TrackingTrial}`` of a tracking split, in its row order (dicts keep it)."""
    out: dict[str, TrackingTrial] = {}
    for rel, _ in got:
        t = read_table(root / rel, columns=["trial_id", "num_frames", "num_faces"])
        for tid, n, faces in zip(t["trial_id"].to_pylist(), t["num_frames"].to_pylist(),
                                 t["num_faces"].to_pylist(), strict=True):  # fmt: skip
            out[tid] = TrackingTrial(int(n), np.asarray(faces, dtype=np.uint8))
    return out


def _order_problems(
    name: str, split: str, where: list[tuple[str, int, str]], ref_ids: list[str], ref: str
) -> list[str]:
    """The first row where the media's trial differs from the tracking's, and a count mismatch."""
    problems = []
    for i, ((rel, row, tid), want) in enumerate(zip(where, ref_ids, strict=False)):  # lengths compared below
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
                        problems += _row_problems(f"{rel} row {r}", kind, row, tracking)
                        decoded += 1
                first += n
        start = stop
    return problems, decoded


def _row_problems(where: str, kind: str, row: dict, tracking) -> list[str]:
    cell = row.get("audio" if kind == schema.AUDIO_KIND else "video")
    if cell is None or cell.get("bytes") is None:
        return []  # a trial left empty by --skip-bad: listed in skipped_trials.json
    data = bytes(cell["bytes"])
    if kind == schema.AUDIO_KIND:
        return _audio_problems(where, row, data)
    return _video_problems(where, row, data, tracking)


def _mismatch(where: str, column: str, stored, actual, how: str) -> str:
    return f"{where}, column {column!r}: {stored!r}, the {how} says {actual!r}"


def _close(a, b) -> bool:
    return a is not None and b is not None and bool(np.isclose(float(a), float(b), rtol=FLOAT_RTOL, atol=1e-6))


def _audio_problems(where: str, row: dict, data: bytes) -> list[str]:
    import soundfile as sf

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


def _video_problems(where: str, row: dict, data: bytes, tracking) -> list[str]:
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
    return problems + _map_problems(where, row, tracking)


def _map_problems(where: str, row: dict, tracking) -> list[str]:
    """The row's ``alignment`` / ``tracking_index`` / ``num_tracking_rows`` against its trial's tracking."""
    alignment, index = row.get("alignment"), row.get("tracking_index")
    if alignment not in schema.ALIGNMENTS:
        return [f"{where}, column 'alignment': {alignment!r} is not one of {', '.join(schema.ALIGNMENTS)}"]
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
