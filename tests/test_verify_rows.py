"""``felt-hf verify``'s ``rows`` check: a tracking shard rewritten with a wrong label, a
``num_frames`` at odds with its arrays, shifted times or frames, or impossible face counts fails,
naming the shard, the row and the column. Each edit below passed ``verify --sample all`` (the
schema, the features and, once the card's sizes were fixed up, the footers stay right); the
``num_frames`` one crashed verify with a bare numpy error when media configs were present."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from felt_hf.cli import main
from felt_hf.publish.verify import verify_folder

CONFIGS = ["smoothed_speech", "raw_song", "landmark_plot_speech"]


@pytest.fixture()
def folder(config_build_copy) -> Path:  # (the module's CONFIGS, converted once, copied to damage)
    return config_build_copy


def _shard(folder: Path, config: str) -> Path:
    return sorted((folder / config).glob("test-*.parquet"))[0]


def _edit(folder: Path, config: str, column: str, change) -> str:
    """Row 0's ``column`` of the config's first test shard replaced by ``change(value)``, the schema
    and features kept and the card's download_size fixed up; the shard's path in the folder."""
    path = _shard(folder, config)
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[0] = change(values[0])
    i = table.schema.get_field_index(column)
    new = table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))
    before = path.stat().st_size
    pq.write_table(new.replace_schema_metadata(table.schema.metadata), path, row_group_size=8)
    card = folder / "README.md"
    text, total = card.read_text(), sum(p.stat().st_size for p in (folder / config).glob("*.parquet"))
    old_total = total - path.stat().st_size + before
    assert f"download_size: {old_total}\n" in text
    card.write_text(text.replace(f"download_size: {old_total}\n", f"download_size: {total}\n", 1))
    return path.relative_to(folder).as_posix()


def _shift(values: list, by) -> list:
    return [v + by for v in values]


EDITS = {  # (config, column, change, what the problem line says after "<shard> row 0, ")
    "emotion": ("smoothed_speech", "emotion", lambda v: (v + 1) % 8, "column 'emotion': "),
    "actor 99": ("raw_song", "actor", lambda v: 99, "column 'actor': 99, the trial id "),
    "num_frames + 5": ("smoothed_speech", "num_frames", lambda v: v + 5, "column 'frame': "),
    "time_s + 1 s": ("smoothed_speech", "time_s", lambda v: _shift(v, 1.0), "column 'time_s', frame index 0: "),
    "frame + 1": ("smoothed_speech", "frame", lambda v: _shift(v, 1), "column 'time_s', frame index 0: "),
    "frames back": ("raw_song", "frame", lambda v: v[:1] + v[:1] + v[2:], "column 'frame', frame index 1: "),
    "7 faces": ("smoothed_speech", "num_faces", lambda v: [7] * len(v), "column 'num_faces', frame index 0: 7"),
    "no face but a score": ("raw_song", "num_faces", lambda v: [0] * len(v), "column 'num_faces', frame index 0: 0 "),
}


def test_the_converted_folder_passes(config_build):
    report = verify_folder(config_build, sample=10**9)
    rows = next(c for c in report.checks if c.name == "rows")
    assert report.ok and rows.status == "pass" and rows.summary.startswith("24 tracking row(s)"), report.table()


@pytest.mark.parametrize("edit", list(EDITS))
def test_each_edit_fails_rows_naming_shard_row_and_column(folder, edit, capsys):
    config, column, change, says = EDITS[edit]
    rel = _edit(folder, config, column, change)
    report = verify_folder(folder, sample=10**9)
    status = {c.name: c.status for c in report.checks}
    rows = next(c for c in report.checks if c.name == "rows")
    assert status["rows"] == "fail" and status["footers"] == status["features"] == "pass", report.table()
    assert rows.details[0].startswith(f"{rel} row 0, {says}"), rows.details
    assert main(["verify", str(folder)]) == 1  # a table and exit 1, never a crash
    out, err = capsys.readouterr()
    assert "FAIL  rows" in out and err == ""


def test_a_row_whose_num_frames_disagrees_leaves_the_media_check_standing(folder):
    _edit(folder, "smoothed_speech", "num_frames", lambda v: v + 5)
    status = {c.name: c.status for c in verify_folder(folder).checks}  # (had raised numpy's broadcast error)
    assert status["rows"] == "fail" and "media_order" in status and "media_cells" in status


def _rows(folder: Path, config: str, split: str) -> list[dict]:
    return [r for p in sorted((folder / config).glob(f"{split}-*.parquet")) for r in pq.read_table(p).to_pylist()]


def _relabel_row(folder: Path, path: Path, row: int, labels: dict) -> str:
    """Row ``row`` of the shard at ``path`` given ``labels`` (every label column, so the row agrees
    with its own trial id), schema and metadata kept; the shard's path in the folder."""
    table = pq.read_table(path)
    for column, value in labels.items():
        values = table.column(column).to_pylist()
        values[row] = value
        i = table.schema.get_field_index(column)
        table = table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))
    pq.write_table(table, path, row_group_size=8)
    return path.relative_to(folder).as_posix()


LABELS = ("trial_id", "vocal_channel", "emotion", "intensity", "statement", "repetition", "actor", "sex")


def test_a_trial_twice_in_a_config_fails_rows(folder):
    rows = [
        (p, r)
        for p in sorted((folder / "smoothed_speech").glob("train-*.parquet"))
        for r in range(pq.read_metadata(p).num_rows)
    ]
    (path, row), (other, other_row) = rows[0], rows[-1]
    first = pq.read_table(path).to_pylist()[row]
    rel = _relabel_row(folder, other, other_row, {c: first[c] for c in LABELS})
    check = next(c for c in verify_folder(folder, sample=10**9).checks if c.name == "rows")
    assert check.status == "fail", check.summary
    assert check.details == [
        f"{rel} row {other_row}, column 'trial_id': {first['trial_id']} again (first at "
        f"{path.relative_to(folder).as_posix()} row {row}); a trial is one row of a config"
    ]


def test_an_actor_in_two_splits_fails_rows(folder):
    """A row relabelled, consistently with its own trial id, as a trial of an actor of another
    split (what a shard copied across splits does to every row)."""
    train = _rows(folder, "smoothed_speech", "train")[0]
    test = _rows(folder, "smoothed_speech", "test")[0]
    parts = test["trial_id"].split("-")
    parts[6] = train["trial_id"].split("-")[6]  # the train actor, the test trial's other labels
    labels = {c: test[c] for c in LABELS} | {"trial_id": "-".join(parts), "actor": train["actor"], "sex": train["sex"]}
    rel = _relabel_row(folder, _shard(folder, "smoothed_speech"), 0, labels)
    rows = next(c for c in verify_folder(folder, sample=10**9).checks if c.name == "rows")
    assert rows.status == "fail", rows.summary
    assert rows.details[0].startswith(f"{rel} row 0, column 'actor': actor {train['actor']} in split 'test', "
                                      "and in split 'train' at smoothed_speech/train-"), rows.details  # fmt: skip
    assert rows.details[0].endswith("; splits are actor-disjoint")
