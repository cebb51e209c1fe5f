"""The package reads its parquet on the calling thread (felt_hf/parquet_reads.py says why: a read
in Arrow's thread pool can abort the process at exit once ``datasets`` is imported).

Every reader of the converted folder is run here with pyarrow's read calls recorded; each call
must ask for no threads. A new reader that calls pyarrow with its default (threads on) fails this.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from felt_hf.publish.verify import verify
from felt_hf.view.viewrows import find_row, iter_rows


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, object]]:
    calls: list[tuple[str, object]] = []

    def recorder(name, real):
        def wrapped(*args, **kwargs):
            calls.append((name, kwargs.get("use_threads", "default (True)")))
            return real(*args, **kwargs)

        return wrapped

    for name in ("read_row_groups", "read_row_group", "read", "iter_batches"):
        monkeypatch.setattr(pq.ParquetFile, name, recorder(f"ParquetFile.{name}", getattr(pq.ParquetFile, name)))
    monkeypatch.setattr(pq, "read_table", recorder("read_table", pq.read_table))
    return calls


def _threaded(calls):
    return [c for c in calls if c[1] is not False]


def test_verify_reads_without_threads(sample_hub, reads):
    report = verify(sample_hub)
    assert report.ok, report
    assert reads and not _threaded(reads), reads


def test_view_rows_read_without_threads(sample_hub, reads):
    rows = list(iter_rows(sample_hub, "smoothed_speech"))
    assert rows and find_row(sample_hub, rows[3]["trial_id"], "smoothed_speech")["trial_id"] == rows[3]["trial_id"]
    assert reads and not _threaded(reads), reads


def test_felt_stream_reads_without_threads(sample_hub, reads):
    pytest.importorskip("torch")
    from felt_hf.training import FeltStream

    stream = FeltStream.from_folder(str(sample_hub), "smoothed_speech", "train", columns=["landmarks", "emotion"])
    assert len(list(stream)) > 0
    assert reads and not _threaded(reads), reads
