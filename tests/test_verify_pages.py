"""``felt-hf verify``'s ``pages`` check: bytes damaged inside a shard after it was written are a
FAIL naming the shard, row group, rows and column (they had decoded into other numbers without
an error, and the default verify said OK)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from felt_hf.publish.verify import verify_folder

CONFIGS = ["smoothed_speech", "landmark_plot_speech"]


@pytest.fixture()
def folder(config_build_copy) -> Path:  # (the module's CONFIGS, converted once, copied to damage)
    return config_build_copy


def _damage(path: Path, column: str, row_group: int = 0) -> None:
    """Zero 64 bytes in the middle of one column chunk's data: the file's size and footer stay."""
    chunk = pq.ParquetFile(path).metadata.row_group(row_group)
    col = next(chunk.column(i) for i in range(chunk.num_columns) if chunk.column(i).path_in_schema.startswith(column))
    at = col.data_page_offset + col.total_compressed_size // 2
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(bytes(64))


def _pages(report):
    return next(c for c in report.checks if c.name == "pages")


def test_a_whole_folder_passes_and_media_pages_wait_for_sample_all(config_build):
    report = verify_folder(config_build)
    assert report.ok and _pages(report).summary.endswith("media shard(s) left to --sample all"), report.table()
    assert "left to" not in _pages(verify_folder(config_build, sample=10**19)).summary


def test_damaged_tracking_bytes_fail_naming_shard_row_group_and_column(folder):
    shard = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    _damage(shard, "identity_embedding")
    pages = _pages(verify_folder(folder))
    rel = shard.relative_to(folder).as_posix()
    assert pages.status == "fail", pages.summary
    n = pq.ParquetFile(shard).metadata.row_group(0).num_rows
    rows = f"rows 0-{n - 1}" if n > 1 else "row 0"
    assert pages.details == [f"{rel} row group 0 ({rows}), column 'identity_embedding': a page's checksum does "
                             "not match its bytes (damaged after it was written)"]  # fmt: skip


def test_damaged_video_bytes_fail_with_sample_all(folder):
    shard = sorted((folder / "landmark_plot_speech").glob("train-*.parquet"))[0]
    _damage(shard, "video")
    assert _pages(verify_folder(folder)).status == "pass"  # (media pages are read with --sample all)
    pages = _pages(verify_folder(folder, sample=10**19))
    assert pages.status == "fail" and "column 'video': a page's checksum does not match" in pages.summary
