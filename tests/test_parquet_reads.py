"""The package reads its parquet on the calling thread (felt_hf/parquet_reads.py says why: a read
in Arrow's thread pool can abort the process at exit once ``datasets`` is imported).

Every reader of the converted folder is run here with pyarrow's read calls recorded; each call
must ask for no threads. A new reader that calls pyarrow with its default (threads on) fails this.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from felt_hf.publish.verify import verify
from felt_hf.view.viewrows import find_row, iter_rows

try:
    from felt_fake import flip_a_landmark_bit, shorten_a_frame_column
except ImportError:  # tests/ imported as a package
    from tests.felt_fake import flip_a_landmark_bit, shorten_a_frame_column


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


# --- page checksums (D3): a shard damaged after it was written is an error, not other numbers ----
def _flip_a_landmark_bit(shard: Path) -> None:
    flip_a_landmark_bit(shard)


@pytest.fixture
def damaged(sample_hub, tmp_path) -> tuple[Path, Path, str]:
    """A copy of the sample's smoothed_speech with one flipped bit in a train shard; the
    shard and its (one) trial id."""
    folder = tmp_path / "felt"
    shutil.copytree(sample_hub, folder)
    shard = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    trial = pq.read_table(shard, columns=["trial_id"]).column("trial_id")[0].as_py()
    before = pq.read_table(shard, columns=["landmarks"])
    _flip_a_landmark_bit(shard)
    assert not pq.read_table(shard, columns=["landmarks"]).equals(before)  # (silently other numbers)
    return folder, shard, trial


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "Traceback" not in err, err
    return err


def _names_the_damage(err: str, shard: Path) -> bool:
    return (
        f"{shard}: cannot read this parquet shard: row group 0, column 'landmarks': a page's checksum does not match its bytes"
        in err
    )


def test_show_refuses_a_shard_whose_page_checksum_fails(damaged, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from felt_hf.cli import main

    folder, shard, trial = damaged
    out = tmp_path / "fig"
    assert main(["show", str(folder), trial, "--config", "smoothed_speech", "--out", str(out)]) == 2
    assert _names_the_damage(_one_error_line(capsys), shard) and not out.exists()


@pytest.mark.parametrize("trials", [False, True])
def test_render_refuses_a_shard_whose_page_checksum_fails(damaged, tmp_path, capsys, trials):
    pytest.importorskip("av")
    pytest.importorskip("PIL")
    from felt_hf.cli import main

    folder, shard, trial = damaged
    out = tmp_path / "videos"
    argv = ["render", str(folder), "--config", "smoothed_speech", "--out", str(out), "--no-progress", "--num-proc", "1"]
    assert main(argv + (["--trials", trial] if trials else [])) == 2
    assert _names_the_damage(_one_error_line(capsys), shard)
    assert not any(
        (out / kind / f"Actor_{trial[-2:]}" / f"{trial}.mp4").exists() for kind in ("landmark_plot", "au_heatmap")
    )


def test_felt_stream_refuses_a_shard_whose_page_checksum_fails(damaged):
    pytest.importorskip("torch")
    from felt_hf.training.stream import FeltStream

    _, shard, _ = damaged
    with pytest.raises(OSError) as err:
        list(FeltStream([str(shard)], columns=["trial_id", "landmarks"]))
    assert _names_the_damage(str(err.value), shard), err.value


# --- a page header damaged (outside the checksum): a column shorter than num_frames ---------------
@pytest.fixture
def shortened(sample_hub, tmp_path) -> tuple[Path, Path, str]:
    folder = tmp_path / "felt"
    shutil.copytree(sample_hub, folder)
    shard = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    trial = pq.read_table(shard, columns=["trial_id"]).column("trial_id")[0].as_py()
    shorten_a_frame_column(shard)
    return folder, shard, trial


def _names_the_short_column(err: str, shard: Path) -> bool:
    return f"{shard}: row group" in err and "column 'frame': " in err and "num_frames says" in err


def test_render_refuses_a_column_shorter_than_num_frames(shortened, tmp_path, capsys):
    """A 7-frame video of a 135-frame trial had been written, exit 0 (the probe's flip)."""
    pytest.importorskip("av")
    pytest.importorskip("PIL")
    from felt_hf.cli import main

    folder, shard, trial = shortened
    out = tmp_path / "videos"
    argv = ["render", str(folder), "--config", "smoothed_speech", "--out", str(out), "--no-progress", "--num-proc", "1"]
    assert main(argv + ["--trials", trial]) == 2
    assert _names_the_short_column(_one_error_line(capsys), shard)
    assert not list(out.rglob("*.mp4")) if out.exists() else True


def test_show_and_find_row_refuse_a_column_shorter_than_num_frames(shortened, tmp_path, capsys):
    """show had drawn the pictures, or failed with numpy's "cannot reshape array" naming nothing."""
    pytest.importorskip("matplotlib")
    from felt_hf.cli import main
    from felt_hf.errors import FeltFormatError

    folder, shard, trial = shortened
    with pytest.raises(FeltFormatError) as err:
        find_row(folder, trial, "smoothed_speech")
    assert _names_the_short_column(str(err.value), shard), err.value
    out = tmp_path / "fig"
    assert main(["show", str(folder), trial, "--config", "smoothed_speech", "--out", str(out)]) == 2
    assert _names_the_short_column(_one_error_line(capsys), shard) and not out.exists()


def test_felt_stream_refuses_a_column_shorter_than_num_frames(shortened):
    """Also where num_frames is not among the columns asked for (it is read to check them)."""
    pytest.importorskip("torch")
    from felt_hf.errors import FeltFormatError
    from felt_hf.training.stream import FeltStream

    _, shard, _ = shortened
    for columns in (["trial_id", "num_frames", "frame"], ["frame", "landmarks"]):
        stream = FeltStream([str(shard)], columns=columns)
        with pytest.raises(FeltFormatError) as err:
            list(stream)
        assert f"{shard}: row groups 0-" in str(err.value) and "column 'frame'" in str(err.value), err.value
    assert list(FeltStream([str(shard)], columns=["trial_id", "landmarks"]))  # (its own columns are whole)
    assert set(next(iter(FeltStream([str(shard)], columns=["landmarks"])))) == {"landmarks"}
