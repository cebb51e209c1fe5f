"""``felt-hf verify``'s ``pages`` check: every page's CRC32 against its bytes.

The converter writes a checksum into every parquet page header (``write_page_checksum``). Bytes
damaged after writing (a disk, a copy, a download) had decoded without an error into other
numbers: 4000 zeroed bytes in a tracking shard changed 3978 identity-embedding values and the
default ``verify`` said OK. Reading with ``page_checksum_verification`` turns that into an error,
located here to the row group and column. Tracking shards are read whole by default (a few MB a
shard, no media); media shards' pages (the videos' bytes) only with ``--sample all``, which reads
every video anyway. Pages written without a checksum (by felt-hf before this check) pass unread.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from .. import schema
from ..parquet_reads import damage_reason, damaged_column, first_failing_group, open_shard


def check_pages(report, root: Path, configs: dict, footers: dict, every_media_page: bool) -> None:
    """Add the ``pages`` line: one problem per damaged shard, naming row group, rows and column."""
    problems, shards, skipped_media = [], 0, 0
    for name in configs:
        media = name not in schema.CONFIG_NAMES
        for got in footers.get(name, {}).values():
            for rel, _ in got:
                if media and not every_media_page:
                    skipped_media += 1
                    continue
                shards += 1
                problem = _first_damage(root / rel, rel)
                if problem:
                    problems.append(problem)
    if not shards and not problems:
        return
    rest = f"; {skipped_media} media shard(s) left to --sample all" if skipped_media else ""
    report.add("pages", "fail" if problems else "pass",
               f"{len(problems)} problem(s): {problems[0]}" if problems else
               f"every page of {shards} shard(s) read against its checksum{rest}", problems)  # fmt: skip


def _first_damage(path: Path, rel: str) -> str | None:
    try:
        pf = open_shard(path)
    except (OSError, pa.ArrowException) as e:
        return f"{rel}: unreadable: {e}"  # (the files and footers checks say more)
    with pf:
        failed = first_failing_group(pf)
        if failed is None:
            return None
        i, e = failed
        start = sum(pf.metadata.row_group(g).num_rows for g in range(i))
        n = pf.metadata.row_group(i).num_rows
        column = damaged_column(pf, i)
        rows = f"rows {start}-{start + n - 1}" if n > 1 else f"row {start}"
        where = f"{rel} row group {i} ({rows})" + (f", column {column!r}" if column else "")
        return f"{where}: {damage_reason(e)}"


__all__ = ["check_pages"]
