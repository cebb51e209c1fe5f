"""Streaming FELT parquet shards into a training loop at the speed of the parquet decoder.

Hand-written because: ``streaming=True`` delivers 0.21-0.55x of raw parquet decode on FELT's arrays,
``FeltStream`` 0.80-1.03x (``scripts/bench_loader.py``, README Benchmarks).

``load_dataset(..., streaming=True)`` is the general path; it formats each trial through
``datasets``' per-example pipeline, which on FELT's per-frame arrays costs more than decoding
the parquet itself (about 0.3-0.5x of raw decode here). :class:`FeltStream` reads the same files
(a local hub folder or a hub repo, resolved by ``datasets`` from the card's YAML) with
``pyarrow`` a few row groups at a time and hands out each trial as zero-copy numpy views of the
decoded buffers, in the row format of ``with_format("numpy")``, so :class:`~felt_hf.training.
FeltCollator` takes its rows unchanged.

It keeps the semantics a DDP loop relies on:

* the unit of work is a block of consecutive row groups of one file, at least ``rows_per_read``
  trials (32 by default: 4 row groups of 8 in a felt-hf build; one read call each, which costs
  less than four), so ranks and DataLoader workers split an epoch into disjoint parts whatever
  the shard count: every trial is seen exactly once per epoch over all ranks and workers
  (``even=True`` instead cuts the epoch's trials into equal parts, so that DDP ranks run the same
  number of steps, dropping fewer trials than there are parts);
* ``shuffle`` permutes the blocks with ``(seed, epoch)``, identically on every rank, then
  mixes trials through a per-worker buffer; ``set_epoch`` reshuffles, and reaches persistent
  workers because the epoch lives in shared memory;
* no end-of-pass sleep, no interleaving threads.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

try:
    import torch
    import torch.utils.data
except ImportError as _e:  # say which extra brings it
    from ..extras import MissingExtraError

    raise MissingExtraError("felt_hf.training.stream", "torch") from _e

from ..card_yaml import card_data_files, read_card  # noqa: E402
from ..errors import FeltFormatError, FeltLookupError, FeltPathError  # noqa: E402
from ..layout import CARD_FILENAME, SHARD_RE, data_files_glob, missing_shards  # noqa: E402
from ..parquet_reads import frame_count_problem, open_shard, read_failure, read_row_groups  # noqa: E402 (after the extra's check)
from .args import column_names, rank_in, seed_number, whole  # noqa: E402

OPEN_FILES = 4  # parquet files a worker keeps open (row groups of a shuffled epoch hop between files)


@dataclass(frozen=True)
class Block:
    """One unit of work: consecutive row groups of one file, read in one call."""

    file: int
    row_groups: tuple[int, ...]
    num_rows: int


@dataclass(frozen=True)
class EvenPart:
    """One (rank, worker)'s trials under ``even=True``: ``take`` trials starting ``skip`` trials
    into the first of ``blocks`` (consecutive in the epoch's block order)."""

    blocks: tuple[Block, ...]
    skip: int
    take: int


def _even_part(blocks: Sequence[Block], start: int, size: int) -> EvenPart:
    """The blocks holding trials ``[start, start + size)`` of the sequence ``blocks`` make up."""
    mine, skip, pos = [], 0, 0
    for b in blocks:
        end = pos + b.num_rows
        if size and end > start and pos < start + size:
            if not mine:
                skip = start - pos
            mine.append(b)
        pos = end
    return EvenPart(tuple(mine), skip, size)


def _blocks(file: int, meta: pq.FileMetaData, rows_per_read: int) -> list[Block]:
    """Consecutive row groups of a file, each block holding at least ``rows_per_read`` rows (but the last)."""
    out, groups, rows = [], [], 0
    for g in range(meta.num_row_groups):
        groups.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= rows_per_read:
            out.append(Block(file, tuple(groups), rows))
            groups, rows = [], 0
    if groups:
        out.append(Block(file, tuple(groups), rows))
    return out


def _open(path: str, storage_options: dict | None = None, metadata: pq.FileMetaData | None = None) -> pq.ParquetFile:
    """A ParquetFile for a local path or any fsspec URL (``hf://datasets/...`` for the hub).

    Passing the footer read at construction skips re-reading it (a network round trip on the hub)
    each time a worker reopens the file. Every page read is checked against its checksum
    (:func:`~felt_hf.parquet_reads.open_shard`): a damaged shard had trained on other numbers.
    """
    try:
        if "://" not in path or path.startswith("file://"):
            return open_shard(path.removeprefix("file://"), metadata=metadata)
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path, **(storage_options or {}))
        return open_shard(fs.open(inner, "rb"), metadata=metadata)
    except (OSError, pa.ArrowException) as err:
        raise OSError(f"{path}: not a readable parquet file: {err}") from err


def _frame_shapes(schema: pa.Schema) -> dict[str, tuple[int, ...]]:
    """Inner shape of every list column, from the ``huggingface`` features in the schema metadata.

    Array2D/Array3D columns are stored as nested variable lists; their fixed inner widths are
    recorded only in the features, so they are read from there (``()`` for a plain per-frame list).
    """
    meta = (schema.metadata or {}).get(b"huggingface")
    features = json.loads(meta)["info"]["features"] if meta else {}
    shapes: dict[str, tuple[int, ...]] = {}
    for field in schema:
        # With ``datasets`` imported, Array columns read back as its extension types.
        storage = field.type.storage_type if isinstance(field.type, pa.ExtensionType) else field.type
        if not pa.types.is_list(storage) and not pa.types.is_large_list(storage):
            continue
        feat = features.get(field.name, {})
        if feat.get("_type", "").startswith("Array"):
            shapes[field.name] = tuple(int(d) for d in feat["shape"][1:])
        else:
            depth, typ = 0, storage.value_type
            while pa.types.is_list(typ) or pa.types.is_large_list(typ):
                depth, typ = depth + 1, typ.value_type
            if depth:
                raise ValueError(f"column {field.name!r}: nested lists without an Array feature are not supported")
            shapes[field.name] = ()
    return shapes


def _column_rows(column: pa.ChunkedArray, shape: tuple[int, ...] | None, name: str, path: str) -> list[Any]:
    """One column of a row group as per-trial values: numpy views for lists, scalars otherwise."""
    arr = column.combine_chunks()
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    if shape is None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr.to_pylist()
        return list(arr.to_numpy(zero_copy_only=False))
    if arr.null_count:  # (an AU animation's `tracking_index` where the frame map is unknown): None
        import pyarrow.compute as pc

        lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy().astype(np.int64)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
    else:  # offsets of the outer (time) list, rebased: the array may be a slice of a larger one
        bounds = arr.offsets.to_numpy().astype(np.int64)
        bounds -= bounds[0]
        valid = None
    values = arr.flatten()  # (without the values of null slots)
    while pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        values = values.flatten()
    flat = values.to_numpy(zero_copy_only=False)
    width = int(np.prod(shape)) if shape else 1
    if flat.size != int(bounds[-1]) * width:
        raise ValueError(f"{path}: column {name!r} does not have inner shape {shape} in every frame")
    flat = flat.reshape(-1, *shape)
    rows = [flat[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]
    return rows if valid is None else [r if ok else None for r, ok in zip(rows, valid.tolist(), strict=True)]


def _local_folder(local: str) -> str | None:
    """The folder ``local`` names on this machine, or None for a hub repo id (``owner/name``).

    A path that looks local and is not there is said here (``datasets`` would call it a bad repo
    id), and so is ``owner/name`` whose ``owner/`` is a local folder: a typo for a local folder,
    which had been looked up on the hub for 24 s before "Couldn't reach ... on the Hub".
    """
    folder = os.path.expanduser(local)
    looks_local = local.startswith((".", "/", "~")) or local.count("/") > 1  # a repo id is "owner/name"
    first = local.split("/", 1)[0]
    if not os.path.isdir(folder):
        if looks_local:
            raise FeltPathError(f"{local}: no such folder (a folder written by `felt-hf convert`, or a hub repo id)")
        if "/" in local and os.path.isdir(first):
            raise FeltPathError(
                f"{local}: no such folder ({first}/ is a local folder, so this is not taken for a hub repo id)"
            )
        return None
    if not os.path.isfile(os.path.join(folder, CARD_FILENAME)):
        raise FeltPathError(  # datasets would say "BuilderConfig 'smoothed_speech' not found"
            f"{local}: no {CARD_FILENAME}, so not a folder written by `felt-hf convert` (FELT's archives "
            "are converted first: felt-hf convert ARCHIVES --out felt)"
        )
    return folder


def _check_card(folder: str, config: str) -> None:
    """The card parses (verify's one error naming README.md, not PyYAML's), and every ``data_files``
    pattern of ``config`` and of the card's first config (``datasets`` infers the file format from
    that one's files) matches a file: one that matched nothing had been datasets' "Couldn't infer
    the same data file format for all splits", naming neither the card, the config nor the split."""
    root = Path(folder)
    _, configs, _ = read_card(root)
    if config not in configs:  # (datasets' "BuilderConfig ... not found" named no folder)
        raise FeltLookupError(f"{folder}: no config {config!r} in its card ({CARD_FILENAME}); it has {sorted(configs)}")
    for name in dict.fromkeys(c for c in (config, next(iter(configs), None)) if c in configs):
        for split, patterns in card_data_files(configs[name]).items():
            for pattern in patterns:
                if isinstance(pattern, str) and not _matches_a_file(root, pattern):
                    raise FeltFormatError(
                        str(root / CARD_FILENAME),
                        f"config {name!r}, split {split!r}: the data_files pattern {pattern!r} matches no file "
                        f"in {folder}",
                    )
    for split, patterns in card_data_files(configs.get(config, {})).items():
        if patterns != [data_files_glob(config, split)]:  # (an edit pointing into another config's shards)
            raise FeltFormatError(str(root / CARD_FILENAME), f"config {config!r}, split {split!r}: data_files "
                                  f"{patterns} is not {data_files_glob(config, split)!r}, the pattern `felt-hf "
                                  "convert` writes; the card was edited")  # fmt: skip


def _matches_a_file(root: Path, pattern: str) -> bool:
    """Whether a card pattern matches a file under ``root`` (an absolute or odd pattern is left to
    ``datasets``: True)."""
    try:
        return any(p.is_file() for p in root.glob(pattern))
    except (ValueError, NotImplementedError):
        return True


def _check_no_shard_missing(files: Sequence[str], where: str, config: str, split: str) -> None:
    """Every shard the files' own ``-of-NNNNN`` names promise is among them (layout.missing_shards)."""
    names = [f.rsplit("/", 1)[-1] for f in files]
    builds = sorted({m["total"] for m in map(SHARD_RE.match, names) if m is not None})
    if len(builds) > 1:  # (each build complete by its own -of-N, so missing_shards sees nothing)
        raise FeltFormatError(where, f"config {config!r}, split {split!r}: shards of {len(builds)} builds "
                              f"(-of-{', -of-'.join(builds)}): a shard left from an earlier conversion would be "
                              "read as well; convert anew or remove the strays")  # fmt: skip
    missing = missing_shards(names)
    if missing:
        shown = ", ".join(f"{config}/{m}" for m in missing[:8]) + (
            f" (+{len(missing) - 8} more)" if len(missing) > 8 else ""
        )
        raise FeltFormatError(
            where,
            f"config {config!r}, split {split!r}: {len(missing)} shard(s) missing: {shown}; reading the "
            f"{len(files)} found would silently train on fewer trials (copy the folder again or convert anew; "
            "`felt-hf verify` checks the rest)",
        )


def _check_card_count(stream: FeltStream, expected: int, where: str, config: str, split: str) -> None:
    """The shards hold the trials the card's ``dataset_info`` counts (``load_dataset`` checks it too)."""
    if stream.num_rows != expected:
        raise FeltFormatError(
            where,
            f"config {config!r}, split {split!r}: the card ({CARD_FILENAME}) counts {expected} trials, its "
            f"{len(stream.files)} shard(s) hold {stream.num_rows} (a shard missing, added or replaced; "
            "`felt-hf verify` says which)",
        )


class FeltStream(torch.utils.data.IterableDataset):
    """Trials of FELT parquet shards as numpy rows, split over DDP ranks and DataLoader workers.

    ``files``: parquet paths or fsspec URLs, in order (use :meth:`from_folder` for a hub folder or
    repo). ``columns``: read only these (``FeltCollator.columns``); the 512-d identity embedding
    is most of the bytes, so projecting it away is the biggest saving. Rows are dicts of numpy
    arrays (per-frame ``(T, *shape)`` float32 views, read-only in spirit: copy before writing in
    place), numpy integers for ClassLabels and ``str`` for strings, like ``with_format("numpy")``.

    ``shuffle=True`` permutes blocks (``rows_per_read`` trials of consecutive row groups; 1 gives
    single row groups, the finest grain) by ``(seed, epoch)`` and shuffles trials through a buffer
    of ``buffer_size`` per worker. ``rank``/``world_size`` select this DDP rank's part (or call
    :meth:`split_by_node`). ``even=True`` cuts the epoch's trials, in block order, into equal
    consecutive parts, one per (rank, worker), so all ranks take the same number of steps; it drops
    the remainder, fewer trials than there are parts (different ones each epoch when shuffling).
    A part may start or end inside a block, whose other trials belong to its neighbour: both read
    that block (:meth:`even_parts`). Trimming whole-block parts to the smallest had dropped up to
    61% of an epoch (8 ranks x 4 workers on a full FELT split: parts of 32-trial and 13-trial blocks).
    """

    def __init__(
        self,
        files: Sequence[str],
        *,
        columns: Sequence[str] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        buffer_size: int = 64,
        rank: int = 0,
        world_size: int = 1,
        even: bool = False,
        rows_per_read: int = 32,
        storage_options: dict | None = None,
    ) -> None:
        super().__init__()
        if isinstance(files, (str, os.PathLike)):
            raise ValueError(f"files must be a list of parquet paths, e.g. [{os.fspath(files)!r}], not one path "
                             "(FeltStream.from_folder takes a folder)")  # fmt: skip
        columns = column_names("columns", columns) if columns is not None else None
        if columns is not None and not columns:
            raise ValueError("columns is empty: name the columns to read, or pass None for all of them")
        buffer_size, rows_per_read = whole("buffer_size", buffer_size), whole("rows_per_read", rows_per_read)
        seed = seed_number("seed", seed)
        if not files:
            raise ValueError("FeltStream needs at least one parquet file")
        rank, world_size = rank_in(rank, world_size)
        self.files = [str(f) for f in files]
        self.storage_options = storage_options
        self.shuffle, self.seed, self.buffer_size = shuffle, seed, buffer_size
        self.rank, self.world_size, self.even = rank, world_size, even
        self.blocks: list[Block] = []
        self.metadata: list[pq.FileMetaData] = []
        schema = None
        for i, path in enumerate(self.files):
            pf = _open(path, storage_options)
            self.metadata.append(pf.metadata)
            schema = schema or pf.schema_arrow
            if pf.schema_arrow.names != schema.names:
                raise ValueError(f"{path}: columns {pf.schema_arrow.names} differ from {self.files[0]}'s")
            self.blocks += _blocks(i, pf.metadata, rows_per_read)
        assert schema is not None
        missing = [c for c in columns or [] if c not in schema.names]
        if missing:
            raise FeltLookupError(f"{self.files[0]}: no column(s) {missing}; it has {schema.names}")
        self.columns = list(columns) if columns else list(schema.names)
        self.shapes = {c: s for c, s in _frame_shapes(schema).items() if c in self.columns}
        # num_frames read too where per-frame columns are, to check their lengths (frame_count_problem)
        self._read_columns = self.columns + (["num_frames"] if "num_frames" in schema.names and
                                             "num_frames" not in self.columns and self.shapes else [])  # fmt: skip
        # Shared memory: DataLoader workers (persistent ones too) see set_epoch from the main process.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, path: str, config: str = "smoothed_speech", split: str = "train", **kwargs: Any) -> FeltStream:
        """The files of one config and split of a hub folder or repo, as ``load_dataset`` resolves them.

        ``path`` is what you would give ``load_dataset``: a local folder written by ``felt-hf
        convert`` or a hub repo id (files are then read with ``hf://`` range requests, so only the
        row groups and columns you use are downloaded). ``revision`` and ``token`` go to
        ``datasets.load_dataset_builder``.
        """
        from datasets import load_dataset_builder

        local = os.fspath(path)
        folder = _local_folder(local)
        if folder is not None:
            _check_card(folder, config)
        builder_kwargs = {k: kwargs.pop(k) for k in ("revision", "token") if k in kwargs}
        builder = load_dataset_builder(folder if folder is not None else path, config, **builder_kwargs)
        data_files = builder.config.data_files or {}
        if split not in data_files:
            raise FeltLookupError(f"{path} config {config!r} has no split {split!r}; it has {sorted(data_files)}")
        files = list(data_files[split])
        _check_no_shard_missing(files, local, config, split)
        if builder_kwargs.get("token") and "storage_options" not in kwargs:
            kwargs["storage_options"] = {"token": builder_kwargs["token"]}
        stream = cls(files, **kwargs)
        splits = builder.info.splits or {}
        if split in splits:
            _check_card_count(stream, splits[split].num_examples, local, config, split)
        return stream

    def split_by_node(self, rank: int, world_size: int) -> FeltStream:
        """This stream's part for one DDP rank (the counterpart of ``split_dataset_by_node``)."""
        rank, world_size = rank_in(rank, world_size)
        out = copy.copy(self)
        out.rank, out.world_size = rank, world_size
        out._epoch = self._epoch.clone().share_memory_()
        return out

    # -- epochs ---------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for this epoch; call it on every rank before iterating the DataLoader."""
        self._epoch.fill_(seed_number("epoch", epoch))

    @property
    def num_rows(self) -> int:
        """Trials in all files (every rank and worker together)."""
        return sum(b.num_rows for b in self.blocks)

    def parts(self, num_workers: int = 1, epoch: int | None = None) -> list[list[list[Block]]]:
        """Blocks of every ``[rank][worker]`` for an epoch: the whole split plan, on any rank.

        Every rank computes the same permutation from ``(seed, epoch)``, so the parts are disjoint
        and cover every block once.
        """
        blocks = self._epoch_blocks(epoch)
        n = self.world_size * max(1, whole("num_workers", num_workers, 0))  # (0: the main process, one part)
        flat = [blocks[p::n] for p in range(n)]
        return [flat[r * max(1, num_workers) : (r + 1) * max(1, num_workers)] for r in range(self.world_size)]

    def _epoch_blocks(self, epoch: int | None) -> list[Block]:
        """The blocks in an epoch's order: permuted by ``(seed, epoch)`` when shuffling, the same
        on every rank."""
        epoch = self.epoch if epoch is None else epoch
        if not self.shuffle:
            return list(self.blocks)
        return [self.blocks[i] for i in np.random.default_rng([self.seed, epoch]).permutation(len(self.blocks))]

    def even_parts(self, num_workers: int = 1, epoch: int | None = None) -> list[list[EvenPart]]:
        """Every ``[rank][worker]``'s :class:`EvenPart` under ``even=True``: the epoch's blocks in
        their (shuffled) order, as one sequence of trials cut into equal consecutive pieces; the
        last ``total % parts`` trials of the sequence are dropped."""
        blocks = self._epoch_blocks(epoch)
        workers = max(1, whole("num_workers", num_workers, 0))  # (0: the main process, one part)
        n = self.world_size * workers
        size = sum(b.num_rows for b in blocks) // n
        flat = [_even_part(blocks, p * size, size) for p in range(n)]
        return [flat[r * workers : (r + 1) * workers] for r in range(self.world_size)]

    def _my_part(self) -> tuple[list[Block], int, int | None, int]:
        """This (rank, worker)'s blocks, the trials to skip at their start and to take (``None``:
        all; under ``even``), and the worker id."""
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        if not self.even:
            return self.parts(workers)[self.rank][worker], 0, None, worker
        part = self.even_parts(workers)[self.rank][worker]
        if part.take == 0:
            warnings.warn(
                f"{self.num_rows} trial(s) cannot feed {self.world_size} rank(s) x {workers} worker(s) one each: "
                "even=True yields nothing; use fewer workers",
                stacklevel=2,
            )
        return list(part.blocks), part.skip, part.take, worker

    # -- reading --------------------------------------------------------------------------------
    def _rows(self, blocks: Sequence[Block]) -> Iterator[dict[str, Any]]:
        handles: OrderedDict[int, pq.ParquetFile] = OrderedDict()
        for g in blocks:
            pf = handles.pop(g.file, None)
            if pf is None:
                pf = _open(self.files[g.file], self.storage_options, self.metadata[g.file])
            handles[g.file] = pf
            while len(handles) > OPEN_FILES:
                handles.popitem(last=False)
            path = self.files[g.file]
            try:
                table = read_row_groups(pf, g.row_groups, self._read_columns)
            except (OSError, pa.ArrowException) as err:
                why = read_failure(pf, g.row_groups, self._read_columns, err)
                raise OSError(f"{path}: cannot read this parquet shard: {why}") from err
            problem = frame_count_problem(table)
            if problem:
                raise FeltFormatError(path, f"row groups {g.row_groups[0]}-{g.row_groups[-1]}: {problem}")
            cols = {c: _column_rows(table.column(c), self.shapes.get(c), c, path) for c in self.columns}
            for i in range(table.num_rows):
                yield {c: v[i] for c, v in cols.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        groups, skip, take, worker = self._my_part()
        rows = self._rows(groups)  # on this thread (felt_hf.parquet_reads says why)
        if skip or take is not None:  # (even: the part's own trials, before the shuffle buffer mixes them)
            rows = itertools.islice(rows, skip, None if take is None else skip + take)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker])
            rows = _buffer_shuffle(rows, self.buffer_size, rng)
        yield from rows

    def __repr__(self) -> str:
        return (
            f"FeltStream({len(self.files)} files, {len(self.blocks)} blocks, {self.num_rows} trials, "
            f"columns={self.columns}, shuffle={self.shuffle}, rank={self.rank}/{self.world_size}, epoch={self.epoch})"
        )


def _buffer_shuffle(rows: Iterator[dict], size: int, rng: np.random.Generator) -> Iterator[dict]:
    """The shuffle buffer ``datasets`` uses: fill, then emit a random slot and refill it."""
    buffer: list[dict] = []
    for row in rows:
        if len(buffer) < size:
            buffer.append(row)
            continue
        i = int(rng.integers(size))
        yield buffer[i]
        buffer[i] = row
    for i in rng.permutation(len(buffer)):
        yield buffer[i]


__all__ = ["Block", "EvenPart", "FeltStream"]
