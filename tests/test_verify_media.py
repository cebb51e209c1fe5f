"""``felt-hf verify`` of media configs: a converted folder whose media rows were reordered, whose
facts no longer match their cells, or whose frame maps no longer fit the tracking must fail, with
the shard file, row and column named. Each corruption below passed the footer and feature checks
before the media checks existed (the row counts and types stay right)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from felt_hf.build.convert import convert_felt
from felt_hf.cli import main
from felt_hf.publish.verify import verify_folder

CONFIGS = ["smoothed_speech", "landmark_plot_speech", "au_animation_speech", "audio_speech"]


@pytest.fixture()
def folder(config_build_copy) -> Path:  # (the module's CONFIGS, converted once, copied to damage)
    return config_build_copy


def _checks(path: Path) -> dict:
    return {c.name: c for c in verify_folder(path).checks}


def _rewrite(path: Path, change) -> None:
    """Rewrite one shard with ``change(table) -> table``, keeping its schema and features metadata."""
    table = pq.read_table(path)
    new = change(table)
    pq.write_table(new.replace_schema_metadata(table.schema.metadata), path, row_group_size=4)


def _set(table: pa.Table, column: str, row: int, value) -> pa.Table:
    """``table`` with one cell of ``column`` replaced (a media cell: a ``{bytes, path}`` dict or None)."""
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.schema.get_field_index(column)
    return table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))


def _first_shard(folder: Path, config: str) -> Path:
    return sorted((folder / config).glob("train-*.parquet"))[0]


def test_a_converted_media_folder_passes(config_build):
    checks = _checks(config_build)
    assert checks["media_order"].status == "pass", checks["media_order"].summary
    assert checks["media_cells"].status == "pass", checks["media_cells"].summary
    assert "in the tracking's row order" in checks["media_order"].summary
    decoded = int(checks["media_cells"].summary.split()[0])
    assert decoded >= 3 * 8  # every sampled row of every media split of the sample


def test_reordered_media_rows_fail_naming_shard_row_and_column(folder):
    shard = _first_shard(folder, "landmark_plot_speech")
    _rewrite(shard, lambda t: t.take([1, 0, *range(2, t.num_rows)]))
    check = _checks(folder)["media_order"]
    assert check.status == "fail"
    assert f"landmark_plot_speech/{shard.name} row 0, column 'trial_id'" in check.summary
    assert "smoothed_speech/train row 0" in check.summary


def test_a_label_that_contradicts_the_trial_id_fails(folder):
    shard = _first_shard(folder, "audio_speech")
    emotion = pq.read_table(shard).column("emotion").to_pylist()[2]
    _rewrite(shard, lambda t: _set(t, "emotion", 2, (emotion + 1) % 8))
    check = _checks(folder)["media_order"]
    assert check.status == "fail" and f"{shard.name} row 2, column 'emotion'" in check.summary


@pytest.mark.parametrize(
    ("config", "column", "value"),
    [
        ("landmark_plot_speech", "num_video_frames", 3),
        ("landmark_plot_speech", "width", 17),
        ("landmark_plot_speech", "fps", 25.0),
        ("landmark_plot_speech", "fps", 30.000_1),  # within the 1e-5 tolerance verify had
        ("landmark_plot_speech", "duration_s", None),
        ("audio_speech", "sample_rate", 44_100),
        ("audio_speech", "num_samples", 5),
        ("audio_speech", "duration_s", 99.0),
    ],
)
def test_a_fact_that_differs_from_the_cell_fails(folder, config, column, value):
    shard = _first_shard(folder, config)
    _rewrite(shard, lambda t: _set(t, column, 1, value))
    check = _checks(folder)["media_cells"]
    assert check.status == "fail", check.summary
    stored = value if value is None or column != "fps" else float(pa.scalar(value, pa.float32()).as_py())
    assert f"{config}/{shard.name} row 1, column {column!r}: {stored!r}" in check.summary


@pytest.mark.parametrize(
    ("config", "column", "value", "message"),
    [
        ("audio_speech", "audio_source", "full_av_mp4", "column 'audio_source': 'full_av_mp4', but source_file is "),
        ("audio_speech", "source_file", "Audio_Speech_Actors.zip:Actor_01/03-01-01-01-01-01-09.wav", "is not a file of trial"),
        ("landmark_plot_speech", "source_file", "x.zip:FELT/Landmark_Plot/Actor_09/01-01-01-01-01-01-09.mp4", "is not a file of trial"),
        ("landmark_plot_speech", "video", "path", "column 'video': its file is named 'other.mp4', not "),
    ],
)  # fmt: skip
def test_a_source_that_is_not_the_rows_trial_fails(folder, config, column, value, message):
    """Where a cell came from, as the converter writes it: edits of these had passed verify."""
    shard = _first_shard(folder, config)
    if value == "path":
        cell = pq.read_table(shard).column(column).to_pylist()[1]
        value = {"bytes": cell["bytes"], "path": "other.mp4"}
    _rewrite(shard, lambda t: _set(t, column, 1, value))
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and f"{config}/{shard.name} row 1, " in check.summary and message in check.summary


def test_undecodable_media_bytes_fail(folder):
    shard = _first_shard(folder, "landmark_plot_speech")

    path = pq.read_table(shard).column("video").to_pylist()[0]["path"]
    _rewrite(shard, lambda t: _set(t, "video", 0, {"bytes": b"not an mp4 at all" * 10, "path": path}))
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and f"{shard.name} row 0, column 'video': PyAV cannot read" in check.summary


def test_a_frame_map_that_no_longer_fits_the_tracking_fails(folder):
    shard = _first_shard(folder, "landmark_plot_speech")
    table = pq.read_table(shard)
    assert table.column("alignment").to_pylist()[0] == "exact"
    index = table.column("tracking_index").to_pylist()[0]
    shifted = [min(i + 1, index[-1]) for i in index]  # still in range and increasing: only the tracking shows it
    _rewrite(shard, lambda t: _set(t, "tracking_index", 0, shifted))
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and f"{shard.name} row 0, column 'tracking_index': entry 0" in check.summary


def test_a_map_where_the_alignment_says_unknown_fails(folder):
    shard = _first_shard(folder, "au_animation_speech")
    table = pq.read_table(shard)
    assert table.column("alignment").to_pylist()[0] == "dropped_frames_unknown"
    n = table.column("num_video_frames").to_pylist()[0]
    _rewrite(shard, lambda t: _set(t, "tracking_index", 0, list(range(n))))  # a guess
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and "must be null" in check.summary and f"{shard.name} row 0" in check.summary


def test_the_command_exits_1_on_a_media_problem(folder, capsys):
    shard = _first_shard(folder, "audio_speech")
    _rewrite(shard, lambda t: _set(t, "num_channels", 0, 2))
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  media_cells" in out and "column 'num_channels'" in out


def test_an_emptied_cell_that_no_skip_lists_fails(folder):
    shard = _first_shard(folder, "landmark_plot_speech")
    _rewrite(shard, lambda t: _set(t, "video", 0, None))
    checks = _checks(folder)
    assert checks["media_cells"].status == "fail"
    assert (f"{shard.name} row 0, column 'video': empty, and skipped_trials.json does not list trial"
            in checks["media_cells"].summary)  # fmt: skip


def test_cells_left_empty_by_skip_bad_and_listed_pass(media_archives, tmp_path):
    data = tmp_path / "in"
    shutil.copytree(media_archives, data)
    video_zip = data / "felt_videos_speech.zip"
    import zipfile

    with zipfile.ZipFile(video_zip) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    bad = sorted(n for n in members if "/Landmark_Plot/" in n and n.endswith(".mp4"))[0]
    members[bad] = b"not an mp4"
    with zipfile.ZipFile(video_zip, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    out = tmp_path / "felt"
    convert_felt(data, out, configs=CONFIGS, progress=False, num_proc=1, skip_bad=True)
    checks = _checks(out)
    assert checks["media_cells"].status == "pass", checks["media_cells"].summary
    assert checks["skipped"].status == "warn"
    card = (out / "README.md").read_text()
    assert "**1 input file(s) could not be converted and were skipped**" in card and "media cell empty" in card


@pytest.mark.parametrize(
    ("config", "label", "expected"),
    [
        ("landmark_plot_speech", "count_mismatch", "exact"),  # a map thrown away where the counts prove it
        ("landmark_plot_speech", "no_tracking", "exact"),  # the trial's tracking is in the folder
        ("landmark_plot_speech", "dropped_frames_unknown", "exact"),  # a kind with a frame per row
        ("au_animation_speech", "exact", "dropped_frames_unknown"),
    ],
)
def test_an_alignment_the_counts_contradict_fails(folder, config, label, expected):
    shard = _first_shard(folder, config)

    def relabel(t: pa.Table) -> pa.Table:
        t = _set(t, "alignment", 0, label)
        return _set(t, "tracking_index", 0, None) if label != "exact" else t

    _rewrite(shard, relabel)
    check = _checks(folder)["media_cells"]
    assert check.status == "fail"
    assert f"{shard.name} row 0, column 'alignment': {label!r}, but " in check.summary
    assert f"make it {expected!r}" in check.summary


def test_wav_bytes_in_an_audio_cell_fail(folder):
    import io

    import numpy as np
    import soundfile as sf

    shard = _first_shard(folder, "audio_speech")
    row = pq.read_table(shard).slice(0, 1).to_pylist()[0]
    samples, rate = sf.read(io.BytesIO(row["audio"]["bytes"]), dtype="int16")
    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples), rate, format="WAV", subtype="PCM_16")
    _rewrite(shard, lambda t: _set(t, "audio", 0, {"bytes": buf.getvalue(), "path": row["audio"]["path"]}))
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and f"{shard.name} row 0, column 'audio': not FLAC (starts b'RIFF')" in check.summary


# --- damaged folders: a FAIL naming the place, never a traceback or a user-error exit -------------------
def _verify_cli(folder: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", str(folder)])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out


@pytest.mark.parametrize(
    ("change", "check", "message"),
    [
        (lambda t: _set(t, "trial_id", 0, None), "media_order", "row 0, column 'trial_id': None is not a RAVDESS"),
        (lambda t: _set(t, "trial_id", 0, "garbage"), "media_order", "row 0, column 'trial_id': "),
        (lambda t: t.drop_columns(["trial_id"]), "features", "column 'trial_id' missing"),
        (lambda t: t.drop_columns(["emotion"]), "features", "column 'emotion' missing"),
        (lambda t: t.drop_columns(["video"]), "features", "column 'video' missing"),
        (
            lambda t: _set(t, "fps", 0, None).cast(
                t.schema.set(t.schema.get_field_index("fps"), pa.field("fps", pa.float64()))
            ),
            "features",
            "column 'fps' is double, the features say float",
        ),  # fmt: skip
        (
            lambda t: _set(t, "tracking_index", 0, [None, *t.column("tracking_index").to_pylist()[0][1:]]),
            "media_cells",
            "row 0, column 'tracking_index': ",
        ),
        (
            lambda t: _set(t, "video", 0, {"bytes": None, "path": "x.mp4"}),
            "media_cells",
            "row 0, column 'video': the cell is there but holds no bytes",
        ),
    ],
)
def test_damaged_media_rows_fail_cleanly(folder, capsys, change, check, message):
    shard = _first_shard(folder, "landmark_plot_speech")
    _rewrite(shard, change)
    code, out = _verify_cli(folder, capsys)
    assert code == 1
    line = next(ln for ln in out.splitlines() if f" {check} " in ln)
    assert "FAIL" in line and message in line and shard.name in line, line


def test_a_damaged_page_is_a_fail_naming_the_shard(folder, capsys):
    shard = _first_shard(folder, "landmark_plot_speech")
    data = bytearray(shard.read_bytes())
    data[100:4000] = b"\xab" * 3900
    shard.write_bytes(bytes(data))
    code, out = _verify_cli(folder, capsys)
    assert code == 1 and f"landmark_plot_speech/{shard.name}: unreadable" in out


def test_a_damaged_tracking_shard_does_not_crash_the_media_checks(folder, capsys):
    shard = _first_shard(folder, "smoothed_speech")
    _rewrite(shard, lambda t: _set(t, "num_faces", 0, None))
    code, out = _verify_cli(folder, capsys)
    assert "PASS  media_order" in out and "PASS  media_cells" in out


def test_frames_damaged_inside_an_mp4_fail_where_videos_are_decoded(folder):
    shard = _first_shard(folder, "landmark_plot_speech")

    def damage(t: pa.Table) -> pa.Table:
        cell = t.column("video").to_pylist()[0]
        data = bytearray(cell["bytes"])
        at = data.find(b"mdat") + 8
        data[at : at + 3000] = b"\xab" * 3000
        return _set(t, "video", 0, {"bytes": bytes(data), "path": cell["path"]})

    _rewrite(shard, damage)
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and f"{shard.name} row 0, column 'video': " in check.summary
    assert "decode" in check.summary


def test_sample_all_decodes_every_video(folder, monkeypatch):
    """A video damaged past the first few of its split passes a sample short of the split (the
    index and rate are intact) and fails with ``--sample all``, which decodes every video frame by
    frame (as does any sample that covers the split, the default one on small folders)."""
    from felt_hf.publish import verify_media

    monkeypatch.setattr(verify_media, "FULL_DECODES", 1)  # the sample's splits are small
    shards = sorted((folder / "landmark_plot_speech").glob("train-*.parquet"))
    shard = shards[-1]
    last = pq.read_metadata(shard).num_rows - 1
    rows_before = sum(pq.read_metadata(p).num_rows for p in shards[:-1]) + last
    assert rows_before >= verify_media.FULL_DECODES  # the damaged row is not among those decoded by default

    def damage(t: pa.Table) -> pa.Table:
        cell = t.column("video").to_pylist()[last]
        data = bytearray(cell["bytes"])
        at = data.find(b"mdat") + 8
        data[at : at + 3000] = b"\xab" * 3000
        return _set(t, "video", last, {"bytes": bytes(data), "path": cell["path"]})

    _rewrite(shard, damage)
    fewer = sum(pq.read_metadata(p).num_rows for p in shards) - 1  # a sample short of the split
    short = {c.name: c for c in verify_folder(folder, sample=fewer).checks}["media_cells"]
    assert short.status == "pass", short.summary
    import sys

    check = {c.name: c for c in verify_folder(folder, sample=sys.maxsize).checks}["media_cells"]
    assert check.status == "fail" and f"{shard.name} row {last}, column 'video': " in check.summary, check.summary


def test_a_size_the_frames_do_not_have_fails_where_videos_are_decoded(folder):
    """The probe reads the size without decoding (it had read MPEG-4 Part 2 files as 0x0); the
    frame-by-frame decode compares it with the frames themselves."""
    from felt_hf.publish.verify_media import _decode_problem

    cell = pq.read_table(_first_shard(folder, "landmark_plot_speech")).column("video").to_pylist()[0]
    row = pq.read_table(_first_shard(folder, "landmark_plot_speech")).slice(0, 1).to_pylist()[0]
    n, size = row["num_video_frames"], (row["width"], row["height"])
    assert _decode_problem("x row 0", cell["bytes"], n, size) is None
    assert _decode_problem("x row 0", cell["bytes"], n, (0, 0)) == (
        f"x row 0, columns 'width'/'height': 0x0, the decoded frames are {size[0]}x{size[1]}"
    )


def test_num_tracking_rows_is_checked_where_the_map_is_unknown(folder):
    shard = _first_shard(folder, "au_animation_speech")
    _rewrite(shard, lambda t: _set(t, "num_tracking_rows", 0, 999))
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and f"{shard.name} row 0, column 'num_tracking_rows': 999" in check.summary


def test_a_skipped_rows_facts_must_be_null(config_build, tmp_path):
    """A row the converter left empty (listed in skipped_trials.json) with facts written into it."""
    import json

    folder = tmp_path / "felt"
    shutil.copytree(config_build, folder)
    shard = _first_shard(folder, "landmark_plot_speech")
    tid = pq.read_table(shard).column("trial_id").to_pylist()[0]
    (folder / "skipped_trials.json").write_text(json.dumps({"skipped": [
        {"config": "landmark_plot_speech", "trial_id": tid, "archive": "a.zip", "member": "m.mp4", "error": "bad"}]}))  # fmt: skip
    facts = ["num_video_frames", "fps", "width", "height", "duration_s", "num_tracking_rows", "alignment",
             "tracking_index"]  # fmt: skip

    def empty(t: pa.Table) -> pa.Table:
        for column in ["video", *facts]:
            t = _set(t, column, 0, None)
        return t

    _rewrite(shard, empty)
    assert _checks(folder)["media_cells"].status == "pass"  # empty, listed, facts null: what --skip-bad writes
    _rewrite(shard, lambda t: _set(t, "num_video_frames", 0, 5))
    check = _checks(folder)["media_cells"]
    assert check.status == "fail" and "column 'num_video_frames'" in check.summary and "is empty" in check.summary


def test_a_titles_map_may_not_show_a_row_more_often_than_it_had_csv_rows():
    import numpy as np

    from felt_hf.publish.verify_media import TrackingTrial, _index_problems

    trial = TrackingTrial(4, np.array([1, 2, 1, 1], dtype=np.uint8))  # CSV rows 0, 1, 1, 2, 3
    assert _index_problems("w", np.array([0, 1, 1, 3]), trial, "from_titles") == []
    assert (
        "tracking row 0 shown by 3 frames, but it had 1 CSV row(s)"
        in _index_problems("w", np.array([0, 0, 0, 2]), trial, "from_titles")[0]
    )


def test_a_tracking_shard_whose_columns_differ_from_its_features_fails_and_is_not_read(folder, capsys):
    """The metadata says Array3D landmarks, the file has none: datasets would fill nulls silently."""
    shard = _first_shard(folder, "smoothed_speech")
    _rewrite(shard, lambda t: t.drop_columns(["landmarks"]))
    code, out = _verify_cli(folder, capsys)
    assert code == 1 and f"smoothed_speech/{shard.name}: column 'landmarks' missing" in out


def test_sampled_cells_are_whole_row_groups_spread_over_the_split(config_build):
    """Cells are read a row group at a time (a reader reads a group's media column chunk whole
    anyway): --sample 1 checks every row of one row group per split, --sample 64 every row here."""
    from felt_hf.build.convert_media import ROW_GROUP_ROWS

    splits = [(c, s) for c in ("landmark_plot_speech", "au_animation_speech", "audio_speech") for s in
              ("train", "validation", "test")]  # fmt: skip
    rows = [sum(pq.read_metadata(p).num_rows for p in (config_build / c).glob(f"{s}-*.parquet")) for c, s in splits]

    def opened(sample: int) -> int:
        check = {c.name: c for c in verify_folder(config_build, sample=sample).checks}["media_cells"]
        assert check.status == "pass"
        return int(check.summary.split()[0])

    assert opened(1) == sum(min(n, ROW_GROUP_ROWS) for n in rows)
    assert opened(64) == sum(rows)


def test_a_bit_flipped_inside_a_video_frame_fails_by_default(folder):
    """One bit flipped inside an h264 frame still decodes (FFmpeg conceals the damage: the same
    frame count, pixels up to 255 off), so the default verify, which ``push`` runs first, had
    passed the folder and said the video was "decoded whole". The sampled row groups are now read
    with their page checksums checked, which names the shard, row group and column."""
    import io

    import av
    import numpy as np
    from felt_hf.media import read_video_frames

    shard = _first_shard(folder, "landmark_plot_speech")
    video = pq.read_table(shard).column("video").to_pylist()[1]["bytes"]
    good = read_video_frames(video)
    with av.open(io.BytesIO(video)) as c:
        packet = [p for p in c.demux(c.streams.video[0]) if p.size][len(good) // 2]
        start, end = packet.pos + 6, packet.pos + packet.size - 1
    for k in range(start, end):  # a bit whose flip still decodes, to other pixels
        bent = bytearray(video)
        bent[k] ^= 0x10
        try:
            frames = read_video_frames(bytes(bent))
        except ValueError:
            continue
        if frames.shape == good.shape and not np.array_equal(frames, good):
            break
    else:
        pytest.skip("no bit in the packet flips into a decodable, different video")
    raw = bytearray(shard.read_bytes())
    at = raw.find(video[:4000])
    assert at > 0 and raw.find(video[:4000], at + 1) < 0  # the cell is stored once, uncompressed
    raw[at + k] ^= 0x10
    shard.write_bytes(bytes(raw))  # in place, the same size: footers still agree
    check = _checks(folder)["media_cells"]
    assert check.status == "fail", check.summary
    assert f"{shard.name}: row group 0, column 'video': a page's checksum does not match" in check.summary
