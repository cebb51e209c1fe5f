"""The CSV writer's two line-ending paths: pyarrow >= 26 (``eol="\\r\\n"``) and pyarrow 25 (no ``eol``,
rewritten after writing), which the regeneration stack uses because pyarrow 26 needs numpy 2."""

from __future__ import annotations

import pytest
from felt_hf.synth import make_trial

from felt_hf import csv_writer
from felt_hf.schema import CSV_LAYOUTS


@pytest.fixture(scope="module")
def columns():
    return make_trial("01-01-03-02-01-01-01", num_frames=40, seed=3).raw_columns


@pytest.mark.parametrize("layout", CSV_LAYOUTS)
def test_both_paths_write_the_same_bytes(columns, layout, monkeypatch):
    native = csv_writer.felt_csv_bytes(columns, layout)
    monkeypatch.setattr(csv_writer, "WRITER_HAS_EOL", False)
    rewritten = csv_writer.felt_csv_bytes(columns, layout)
    assert rewritten == native or not csv_writer._writer_has_eol()
    assert rewritten.count(b"\r\n") == rewritten.count(b"\n") >= 41  # header + >= 40 rows, every one CRLF
    assert b"\r\r" not in rewritten


def test_line_break_in_a_cell_is_refused_with_its_place(columns, monkeypatch):
    monkeypatch.setattr(csv_writer, "WRITER_HAS_EOL", False)
    bad = dict(columns)
    bad["input"] = list(bad["input"])
    bad["input"][7] = "C:\\videos\\a\nb.mp4"
    with pytest.raises(ValueError, match=r"column 'input', row 7"):
        csv_writer.felt_csv_bytes(bad, "raw")
