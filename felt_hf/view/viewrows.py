"""Trial rows for looking at: from a converted hub folder or straight from tracking CSVs.

The plots, the rendered videos and the previews all draw from one typed row (the dict that
:func:`felt_hf.rows.trial_row` makes, or a row of the converted dataset in numpy form). Reading
here goes through pyarrow alone, so ``felt-hf show`` and ``felt-hf render`` work on a folder
without building a ``datasets`` cache, and the same functions accept FELT archives (or a
regeneration's output, or a user's own CSVs in that layout) by converting each trial on the fly.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import FeltFormatError, FeltLookupError, FeltNameError
from ..layout import is_converted_folder
from ..parquet_reads import frame_count_problem, open_shard, read_failure, read_row_groups
from ..ravdess import TrialLabels, parse_trial_id
from ..schema import CLASS_LABELS, CONFIG_NAMES

# Per-frame column -> dtype, for rows read back from parquet.
_LIST_DTYPES = {"frame": np.int32, "num_faces": np.uint8}
_CLASS_NAMES = CLASS_LABELS


def row_labels(row: dict) -> TrialLabels:
    """The RAVDESS labels of a row, from its trial id (the only place FELT keeps them)."""
    return parse_trial_id(str(row["trial_id"]))


def row_title(row: dict, short: bool = False) -> str:
    """One line naming the trial and its labels, for figure titles and video captions.

    A user's own tracking whose file name is not a RAVDESS id has no labels: the name alone.
    """
    try:
        lab = row_labels(row)
    except FeltNameError:
        return f"{row['trial_id']} ({len(row['frame'])} frames)"
    if short:
        return f"{lab.trial_id}  {lab.emotion} ({lab.intensity}), actor {lab.actor}"
    return (
        f"{lab.trial_id}: {lab.emotion} ({lab.intensity}), {lab.vocal_channel}, "
        f'"{lab.statement}" rep {lab.repetition}, actor {lab.actor} ({lab.sex})'
    )


def row_from_csv(path: str | os.PathLike) -> dict:
    """A row from one tracking CSV of any layout the reader knows (FELT, Py-Feat 0.6.x, 2.x).

    Named like a RAVDESS trial, it is the full typed row; otherwise the label columns are left
    out and ``trial_id`` is the file name without extension, enough to plot and render.
    """
    from ..build.rows import trial_row
    from ..inputs.csv_reader import read_trial_csv

    record = read_trial_csv(path)
    stem = Path(path).stem
    try:
        return trial_row(record, parse_trial_id(stem))
    except FeltNameError:
        row = {"trial_id": stem, "num_frames": record.num_frames, "source_video": record.source_video}
        row.update(frame=record.frame, time_s=record.time_s, num_faces=record.num_faces, **record.arrays)
        return row


GRID_LIMIT = 10  # a frame grid may be at most this many times the rows (else rows as they are)


def frame_grid(frame: np.ndarray, start: int | None = None) -> np.ndarray | None:
    """For each tracking frame from ``start`` (default: the first row's) to the last row's, the
    index of its row, -1 where the tracking has none (Py-Feat 2.x writes no row for a frame
    without a face); None when the rows are the frames already, or cannot be placed on a grid
    (frames not rising, or a grid over :data:`GRID_LIMIT` times the rows).

    The one rule by which ``show``'s heat map and ``render``'s videos put each row at its own
    frame's time: one column or video frame per row had compressed time where frames skip."""
    frame = np.asarray(frame).astype(np.int64)
    if frame.size == 0 or not np.all(np.diff(frame) > 0):
        return None
    first = int(frame[0]) if start is None else start
    if frame[0] < first:
        return None
    span = int(frame[-1]) - first + 1
    if span == frame.size or span > GRID_LIMIT * frame.size:
        return None
    rows = np.full(span, -1, dtype=np.int64)
    rows[frame - first] = np.arange(frame.size)
    return rows


def row_on_frame_grid(row: dict, start: int | None = 0) -> dict:
    """``row`` with one entry per tracking frame of :func:`frame_grid` (from frame ``start``):
    a frame the tracking lacks has no face (NaN numbers, 0 faces), as a no-face row does; the
    row itself when the grid does not apply. Frame numbers of the rows that are there stay."""
    frame = np.asarray(row["frame"])
    rows = frame_grid(frame, start)
    if rows is None:
        return row
    have = rows >= 0
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == frame.size and key != "frame":
            fill = np.nan if np.issubdtype(value.dtype, np.floating) else 0
            grid = np.full((rows.size, *value.shape[1:]), fill, dtype=value.dtype)
            grid[have] = value[rows[have]]
            out[key] = grid
    first = int(frame[0]) if start is None else start
    out["frame"] = (first + np.arange(rows.size)).astype(frame.dtype)
    return out


def is_hub_folder(folder: str | os.PathLike) -> bool:
    """A converted folder has ``<config>/*.parquet`` for at least one config."""
    return any(any((Path(folder) / c).glob("*.parquet")) for c in CONFIG_NAMES)


def _inner_shapes(schema: pa.Schema) -> dict[str, tuple[int, ...]]:
    meta = (schema.metadata or {}).get(b"huggingface")
    feats = json.loads(meta)["info"]["features"] if meta else {}
    return {
        k: tuple(int(d) for d in v["shape"][1:]) for k, v in feats.items() if v.get("_type", "").startswith("Array")
    }


def _list_values(arr: pa.Array, shape: tuple[int, ...], dtype) -> np.ndarray:
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    values = arr.flatten()
    while pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(-1, *shape)


def _table_rows(table: pa.Table, shapes: dict[str, tuple[int, ...]]) -> Iterator[dict]:
    for i in range(table.num_rows):
        one = table.slice(i, 1)
        row: dict = {}
        for name in one.column_names:
            arr = one.column(name).combine_chunks()
            storage = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
            if pa.types.is_list(storage.type) or pa.types.is_large_list(storage.type):
                row[name] = _list_values(arr, shapes.get(name, ()), _LIST_DTYPES.get(name, np.float32))
            elif name in _CLASS_NAMES:
                row[name] = _CLASS_NAMES[name][storage[0].as_py()]
            else:
                row[name] = storage[0].as_py()
        yield row


def _hub_rows(folder: Path, config: str, trial_ids: Sequence[str] | None) -> Iterator[dict]:
    files = sorted((folder / config).glob("*.parquet"))
    for path in files:
        with _naming_shard(path):
            yield from _file_rows(path, trial_ids)


@contextmanager
def _naming_shard(path: Path) -> Iterator[None]:
    """A damaged shard read inside the block is one error naming it."""
    try:
        yield
    except (OSError, pa.ArrowException) as e:
        raise FeltFormatError(str(path), f"cannot read this parquet shard: {e}") from None


def _shard_rows(path: Path) -> int:
    """Rows of one shard from its footer."""
    with _naming_shard(path), open_shard(path) as pf:
        return pf.metadata.num_rows


def _read_groups(
    pf: pq.ParquetFile, path: Path, groups: Sequence[int], columns: Sequence[str] | None = None
) -> pa.Table:
    """Row groups of a shard opened with :func:`~felt_hf.parquet_reads.open_shard`; a page that
    does not read (its checksum does not match: a flipped bit had drawn landmarks 64 px off) is one
    error naming the shard, row group and column, as ``felt-hf verify`` names them."""
    try:
        table = read_row_groups(pf, groups, columns)
    except (OSError, pa.ArrowException) as e:
        raise FeltFormatError(
            str(path), f"cannot read this parquet shard: {read_failure(pf, groups, columns, e)}"
        ) from None
    problem = frame_count_problem(table)
    if problem:
        where = f"row group {groups[0]}, " if len(groups) == 1 else ""
        raise FeltFormatError(str(path), f"{where}{problem}")
    return table


def _file_rows(path: Path, trial_ids: Sequence[str] | None) -> Iterator[dict]:
    with open_shard(path) as pf:
        shapes = _inner_shapes(pf.schema_arrow)
        if trial_ids is None:
            for g in range(pf.num_row_groups):
                yield from _table_rows(_read_groups(pf, path, [g]), shapes)
            return
        ids = _shard_ids(pf, path)
        wanted = set(trial_ids)
        start = 0
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if wanted.intersection(ids[start : start + n]):
                for row in _table_rows(_read_groups(pf, path, [g]), shapes):
                    if row["trial_id"] in wanted:
                        yield row
            start += n


def _shard_ids(pf: pq.ParquetFile, path: Path) -> list[str]:
    """The ``trial_id`` column of every row group, checked against the pages' checksums."""
    return _read_groups(pf, path, range(pf.num_row_groups), ["trial_id"]).column("trial_id").to_pylist()


def _archive_rows(folder: Path, config: str, trial_ids: Sequence[str] | None) -> Iterator[dict]:
    from ..build.rows import trial_row
    from ..inputs.sources import config_members, iter_records

    members = config_members(folder, config)
    if trial_ids is not None:
        wanted = set(trial_ids)
        members = [m for m in members if m.trial_id in wanted]
    for m, record in iter_records(members):
        yield trial_row(record, m.labels)


def _is_one_csv(path: Path) -> bool:
    """Whether ``path`` is one file to read as a tracking CSV; any other file is an error saying
    what to give instead (a FELT zip had been parsed as CSV text: "row 0: header is not UTF-8")."""
    if not path.is_file():
        _refuse_config_folder(path)
        return False
    if zipfile.is_zipfile(path):
        raise FeltLookupError(f"{path}: a zip archive; give the folder that holds FELT's archives, or one CSV")
    with open(path, "rb") as f:
        parquet = f.read(4) == b"PAR1"
    if parquet:  # (it had been parsed as CSV text: "row 0: header is not UTF-8 text")
        raise FeltLookupError(f"{path}: a parquet shard; give the converted folder ({path.parent.parent}) and "
                              f"--config {path.parent.name}, or one CSV")  # fmt: skip
    return True


def _refuse_config_folder(path: Path) -> None:
    """A config's sub-folder of a converted folder (``felt/smoothed_speech``) is said to be one:
    its parquet files had been looked for one level further down, and the error listed configs
    the folder does not have."""
    if path.is_dir() and any(path.glob("*.parquet")) and is_converted_folder(path.parent):
        raise FeltLookupError(f"{path}: a config folder of the converted folder {path.parent}; give "
                              f"{path.parent} (and --config {path.name})")  # fmt: skip


def iter_rows(
    folder: str | os.PathLike, config: str | None = None, trial_ids: Sequence[str] | None = None
) -> Iterator[dict]:
    """Rows of ``config`` (every config when None) from a hub folder or a folder of FELT archives."""
    folder = Path(folder)
    if _is_one_csv(folder):  # a user's own tracking
        yield row_from_csv(folder)
        return
    if not folder.is_dir():
        raise FeltLookupError(f"{folder}: no such folder (expected a converted FELT folder or FELT archives)")
    configs = [config] if config else list(CONFIG_NAMES)
    hub = is_hub_folder(folder)
    for c in configs:
        if hub:
            if any((folder / c).glob("*.parquet")):
                yield from _hub_rows(folder, c, trial_ids)
            elif config:  # asked for by name: say so, rather than quietly yield nothing
                have = [n for n in CONFIG_NAMES if _has_config(folder, n)]
                raise FeltLookupError(
                    f"{folder}: no {c} config here (tracking configs it has: {', '.join(have) or 'none'})"
                )
        else:
            try:
                yield from _archive_rows(folder, c, trial_ids)
            except FileNotFoundError:
                if config:
                    raise


def count_rows(folder: str | os.PathLike, config: str) -> int:
    """Trials of ``config`` in a hub folder (parquet metadata) or archives (member list), unread."""
    folder = Path(folder)
    if _is_one_csv(folder):
        return 1
    if is_hub_folder(folder):
        return sum(_shard_rows(p) for p in (folder / config).glob("*.parquet"))
    from ..inputs.sources import config_members

    return len(config_members(folder, config))


def trial_ids_in(folder: str | os.PathLike, config: str) -> set[str]:
    """The trial ids of ``config`` in a hub folder (its ``trial_id`` column only) or archives
    (member names), so that a command can refuse an unknown id before it writes anything."""
    folder = Path(folder)
    if _is_one_csv(folder):  # its id is its name (row_from_csv): no parse here, render parses it once
        return {folder.stem}
    if is_hub_folder(folder):
        ids: set[str] = set()
        for path in sorted((folder / config).glob("*.parquet")):
            with _naming_shard(path), open_shard(path) as pf:
                ids.update(_shard_ids(pf, path))
        return ids
    from ..inputs.sources import config_members

    return {m.trial_id for m in config_members(folder, config)}


def find_row(folder: str | os.PathLike, trial_id: str | None, config: str | None = None) -> dict:
    """The one row of ``trial_id`` (the first config that has it, smoothed before raw);
    ``folder`` may also be one tracking CSV (then ``trial_id`` may be None)."""
    if _is_one_csv(Path(folder)):
        row = row_from_csv(folder)
        if trial_id not in (None, row["trial_id"]):
            raise FeltLookupError(f"{folder}: holds trial {row['trial_id']}, not {trial_id}")
        return row
    parse_trial_id(trial_id)
    if not Path(folder).is_dir():
        raise FeltLookupError(f"{folder}: no such folder (expected a converted FELT folder or FELT archives)")
    if config is not None and config not in CONFIG_NAMES:
        raise FeltLookupError(f"{config!r} is not a tracking config; the pictures need one of {CONFIG_NAMES}")
    order = [config] if config else sorted(CONFIG_NAMES, key=lambda c: not c.startswith("smoothed"))
    for c in order:
        try:
            for row in iter_rows(folder, c, [trial_id]):
                return row
        except (FileNotFoundError, FeltLookupError):  # this config is not there: try the next
            if config:
                raise
    present = [c for c in order if _has_config(Path(folder), c)]
    if not present:
        raise FeltLookupError(f"{folder}: no tracking config here (it needs one of {', '.join(CONFIG_NAMES)})")
    raise FeltLookupError(f"{folder}: trial {trial_id} not found in config(s) {', '.join(present)}")


def _has_config(folder: Path, config: str) -> bool:
    if is_hub_folder(folder):
        return any((folder / config).glob("*.parquet"))
    from ..inputs.sources import find_source

    try:
        find_source(folder, config)
    except FileNotFoundError:
        return False
    return True
