"""The CSV reader against every quirk of FELT_FORMAT.md, the real Py-Feat outputs and bad input."""

from __future__ import annotations

import csv
import io
import warnings

import numpy as np
import pytest
from felt_hf.csv_reader import dedupe_header, read_trial_csv, select_faces
from felt_hf.synth import make_trial

from felt_hf.errors import FeltFormatError, FeltMissingColumnsError, FeltWarning
from felt_hf.schema import CSV_LAYOUTS, FPS, FRAME_ARRAYS, header_for

TRIAL = "01-01-05-02-01-02-03"


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def _write(rows: list[list[str]], eol: str = "\r\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=eol).writerows(rows)
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def clean():
    return make_trial(TRIAL, seed=3, num_frames=40)


def _expected_from_text(data: bytes) -> dict[str, np.ndarray]:
    """Each schema array straight from the CSV text with Python's float(), rounded to float32."""
    rows = _rows(data)
    names = dedupe_header(rows[0])
    out = {}
    for arr in FRAME_ARRAYS:
        idx = [names.index(c) for c in arr.csv_columns]
        vals = [[float(r[i]) if r[i] != "" else np.nan for i in idx] for r in rows[1:]]
        out[arr.name] = np.asarray(vals, dtype=np.float32).reshape((len(rows) - 1, *arr.shape))
    return out


def test_values_equal_the_csv_text_within_float32_rounding(clean):
    data = clean.raw_csv()
    rec = read_trial_csv(data, name="x.csv")
    expected = _expected_from_text(data)
    assert rec.num_frames == 40
    for name, want in expected.items():
        np.testing.assert_array_equal(rec.arrays[name], want, err_msg=name)
    np.testing.assert_array_equal(rec.frame, np.arange(40))
    np.testing.assert_allclose(rec.time_s, np.arange(40) / FPS, rtol=1e-6)
    assert rec.source_video.startswith("C:\\") and rec.source_video.endswith(f"{TRIAL}.mp4")


@pytest.mark.parametrize("layout", CSV_LAYOUTS)
def test_every_header_variant_reads_the_same(clean, layout):
    from felt_hf.csv_writer import felt_csv_bytes

    data = felt_csv_bytes(clean.raw_columns, layout)
    assert _rows(data)[0] == list(header_for(layout))
    rec = read_trial_csv(data, name=f"{layout}.csv")
    ref = read_trial_csv(clean.raw_csv(), name="raw.csv")
    for arr in FRAME_ARRAYS:
        np.testing.assert_array_equal(rec.arrays[arr.name], ref.arrays[arr.name])
    np.testing.assert_array_equal(rec.frame, ref.frame)


def test_line_endings_extra_columns_and_other_orders(clean):
    rows = _rows(clean.raw_csv())
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows[0]))
    shuffled = [[r[i] for i in order] + ["junk", "1.5"] for r in rows]
    shuffled[0][-2:] = ["SomeNewColumn", "Extra2"]
    ref = read_trial_csv(clean.raw_csv())
    for eol in ("\n", "\r\n"):
        rec = read_trial_csv(_write(shuffled, eol), name="shuffled.csv")
        for arr in FRAME_ARRAYS:
            np.testing.assert_array_equal(rec.arrays[arr.name], ref.arrays[arr.name])


def test_approx_time_as_text_or_seconds_is_accepted_and_time_derives_from_frame(clean):
    rows = _rows(clean.raw_csv())
    i = rows[0].index("approx_time")
    assert rows[1][i].count(":") == 1  # Py-Feat 0.6.2 writes MM:SS
    for r in rows[1:]:
        r[i] = "0.5"
    rec = read_trial_csv(_write(rows))
    np.testing.assert_allclose(rec.time_s[:3], np.arange(3) / FPS, rtol=1e-6)


def _with_faces(clean, *, blank: tuple[int, ...] = (), doubles: dict[int, float] | None = None) -> bytes:
    rows = _rows(clean.raw_csv())
    head, body = rows[0], rows[1:]
    numeric = [j for j, n in enumerate(head) if n not in ("frame", "Identity", "input", "approx_time")]
    score = head.index("FaceScore")
    for k in blank:
        for j in numeric:
            body[k][j] = ""
        body[k][head.index("Identity")] = "Person_1"
    out = [head]
    for k, r in enumerate(body):
        out.append(r)
        if doubles and k in doubles:
            second = list(r)
            second[score] = repr(doubles[k])
            second[head.index("x_0")] = "1.0"  # mark the second face
            out.append(second)
    return _write(out)


def test_no_face_rows_are_nan_and_counted(clean):
    rec = read_trial_csv(_with_faces(clean, blank=(0, 5, 6)))
    assert rec.num_frames == 40
    assert list(np.flatnonzero(rec.num_faces == 0)) == [0, 5, 6]
    assert np.isnan(rec.arrays["landmarks"][[0, 5, 6]]).all()
    assert not np.isnan(rec.arrays["landmarks"][[1, 4, 7]]).any()


def test_two_face_frames_keep_the_higher_score_then_the_first_row(clean):
    ref = read_trial_csv(clean.raw_csv())
    # frame 3: the second row scores higher -> it wins; frame 8: a tie -> the first row wins
    s8 = float(ref.arrays["face_score"][8])
    rec = read_trial_csv(_with_faces(clean, doubles={3: 0.999999, 8: s8}))
    assert rec.num_frames == 40 and rec.num_csv_rows == 42
    assert rec.num_faces[3] == 2 and rec.num_faces[8] == 2 and rec.num_faces[4] == 1
    assert rec.arrays["landmarks"][3, 0, 0] == 1.0  # the second (higher-scoring) face
    assert rec.arrays["landmarks"][8, 0, 0] == ref.arrays["landmarks"][8, 0, 0]


def test_select_faces_rule_directly():
    frame = np.array([0, 1, 1, 2, 2, 2, 3])
    score = np.array([0.9, 0.5, 0.8, np.nan, 0.7, 0.7, np.nan])
    rows, faces = select_faces(frame, score)
    assert rows.tolist() == [0, 2, 4, 6]
    assert faces.tolist() == [1, 2, 2, 0]


def test_generated_quirky_trials_recover_what_the_detector_saw():
    from felt_hf.synth import select_trials

    ids = select_trials("speech", 4, 12, seed=0)
    trials = [make_trial(t, seed=0) for t in ids]
    two = next(t for t in trials if t.has_two_faces)
    rec = read_trial_csv(two.raw_csv())
    assert rec.num_csv_rows > rec.num_frames
    assert set(np.flatnonzero(rec.num_faces == 2)) == set(two.two_face_frames)
    lead = next((t for t in trials if t.leading_no_face), None)
    if lead is not None:
        rec = read_trial_csv(lead.raw_csv())
        assert np.isnan(rec.arrays["face_box"][: lead.leading_no_face]).all()


def test_real_pyfeat_outputs_parse(pyfeat_fixtures):
    with pytest.warns(FeltWarning, match="identity_embedding"):
        rec = read_trial_csv(pyfeat_fixtures / "001.csv")
    assert rec.num_frames == 40 and rec.frame.tolist() == list(range(40))
    assert np.isnan(rec.arrays["identity_embedding"]).all() and rec.filled == ("identity_embedding",)
    assert rec.arrays["landmarks"].shape == (40, 68, 2)
    first = _rows((pyfeat_fixtures / "001.csv").read_bytes())[1]
    assert rec.arrays["face_box"][0, 0] == np.float32(float(first[0]))
    assert rec.source_video == "001.mp4"
    with pytest.warns(FeltWarning):
        one = read_trial_csv(pyfeat_fixtures / "Feat_Test.csv")
    head = _rows((pyfeat_fixtures / "Feat_Test.csv").read_bytes())
    # oldest layout: AUs before pose; selected by name, so pose is pose
    assert one.arrays["head_pose"][0, 0] == np.float32(float(head[1][head[0].index("Pitch")]))
    assert one.arrays["action_units"][0, 0] == np.float32(float(head[1][head[0].index("AU01")]))


def test_missing_column_names_file_and_columns(clean):
    rows = _rows(clean.raw_csv())
    j = rows[0].index("Yaw")
    cut = [r[:j] + r[j + 1 :] for r in rows]
    with pytest.raises(FeltMissingColumnsError) as e:
        read_trial_csv(_write(cut), name="Actor_03/bad.csv")
    assert "Actor_03/bad.csv" in str(e.value) and "Yaw" in str(e.value) and e.value.missing == ["Yaw"]


def test_partial_identity_group_is_an_error(clean):
    rows = _rows(clean.raw_csv())
    j = rows[0].index("Identity_17")
    cut = [r[:j] + r[j + 1 :] for r in rows]
    with pytest.raises(FeltMissingColumnsError, match="Identity_17"):
        read_trial_csv(_write(cut), name="p.csv")


def test_non_numeric_cell_names_file_row_and_column(clean):
    rows = _rows(clean.raw_csv())
    rows[7][rows[0].index("AU12")] = "abc"
    with pytest.raises(FeltFormatError) as e:
        read_trial_csv(_write(rows), name="Actor_03/01-01-05-02-01-02-03.csv")
    err = e.value
    assert (err.row, err.column) == (7, "AU12")
    assert "Actor_03/01-01-05-02-01-02-03.csv" in str(err) and "row 7" in str(err) and "'abc'" in str(err)


def test_ragged_row_and_bad_frame_numbers(clean):
    rows = _rows(clean.raw_csv())
    rows[4] = rows[4][:10]
    with pytest.raises(FeltFormatError, match="row 4") as e:
        read_trial_csv(_write(rows), name="r.csv")
    assert e.value.row == 4
    rows = _rows(clean.raw_csv())
    rows[2][0] = "1.5"
    with pytest.raises(FeltFormatError, match="frame") as e:
        read_trial_csv(_write(rows), name="f.csv")
    assert e.value.row == 2


@pytest.mark.parametrize(("data", "why"), [(b"", "empty file"), (b"\r\n  \r\n", "empty file"), (None, "no data rows")])
def test_empty_inputs(clean, data, why):
    if data is None:
        data = clean.raw_csv().split(b"\r\n", 1)[0] + b"\r\n"
    with pytest.raises(FeltFormatError, match=why) as e:
        read_trial_csv(data, name="empty.csv")
    assert "empty.csv" in str(e.value)


def test_reads_paths_as_well_as_bytes(tmp_path, clean):
    p = tmp_path / f"{TRIAL}.csv"
    p.write_bytes(clean.smoothed_csv())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a full FELT file needs nothing filled in
        rec = read_trial_csv(p)
    assert rec.name == str(p) and rec.num_frames == 40


def test_dedupe_header_matches_pandas():
    assert dedupe_header(["", "frame", "a", "frame", "frame"]) == ["Unnamed: 0", "frame", "a", "frame.1", "frame.2"]


@pytest.mark.parametrize(
    ("value", "row", "message"),
    [
        ("4", 31, "frame 4 comes after frame 29: frame numbers must not go back"),  # a repeat far away
        ("3.5", 31, "frame number 3.5 is not a whole number"),
        ("-1", 31, "frame number -1 is negative"),
        ("", 31, "frame number is missing"),
    ],
)
def test_frames_that_repeat_out_of_place_or_are_not_counts_are_located_errors(clean, value, row, message):
    """Rows must keep Py-Feat's frame order: a frame number that reappears far from its rows used
    to merge the two frames silently (one face kept, num_faces 2); both readers report it."""
    from felt_hf.csv_fast import read_trial_csv_fast

    rows = _rows(clean.raw_csv())
    col = rows[0].index("frame")
    rows[row][col] = value
    data = _write(rows)
    for reader in (read_trial_csv, read_trial_csv_fast):
        with pytest.raises(FeltFormatError) as e:
            reader(data, name="x.csv")
        assert (e.value.row, e.value.column) == (row, "frame") and message in str(e.value), (reader, str(e.value))
        assert "np.float64" not in str(e.value)


def test_two_face_rows_of_one_frame_stay_accepted(clean):
    rows = _rows(clean.raw_csv())
    col = rows[0].index("frame")
    rows.insert(11, list(rows[10]))  # frame 9 twice, adjacent: Py-Feat's two-face frame
    rec = read_trial_csv(_write(rows), name="x.csv")
    assert rec.num_frames == 40 and int(rec.num_faces[9]) == 2 and rows[11][col] == rows[10][col]


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
@pytest.mark.parametrize("fault", ["cell", "ragged", "frame"])
def test_rows_are_counted_in_the_files_lines_past_blank_lines(clean, fault, eol):
    """pyarrow skips blank lines, so its row numbers ran behind the file's after one; every reader
    path (strict, polars file by file, polars by row group) must name the row a user finds."""
    from felt_hf.inputs.csv_fast import read_trial_csv_fast, read_trial_csvs_fast

    rows = _rows(clean.raw_csv())
    rows.insert(3, [])  # blank line: data row 3
    rows.insert(1, [])  # and data row 1
    target = 9
    if fault == "cell":
        rows[target][rows[0].index("AU12")] = "abc"
    elif fault == "ragged":
        rows[target] = rows[target][:10]
    else:
        rows[target][0] = "1.5"
    data = _write(rows, eol)
    lines = data.splitlines()
    assert lines[1] == lines[4] == b"" and lines[target] != b""
    for read in (read_trial_csv, read_trial_csv_fast):
        with pytest.raises(FeltFormatError) as e:
            read(data, "b.csv")
        assert e.value.row == target, (read.__name__, str(e.value))
    assert read_trial_csvs_fast([(data, "b.csv"), (clean.raw_csv(), "c.csv")])[0] is None  # left to the above


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
@pytest.mark.parametrize("fault", ["cell", "frame"])
def test_rows_are_counted_in_the_files_lines_past_a_quoted_line_break(clean, fault, eol):
    """A quoted ``input`` holding a line break makes its record two lines long; every later row had
    been named one line short of the file's line."""
    from felt_hf.inputs.csv_fast import read_trial_csv_fast

    rows = _rows(clean.raw_csv())
    rows[1][rows[0].index("input")] = "C:\\videos\\a\nb.mp4"  # (csv.writer quotes it)
    target = 10  # data row 10 is line 11 of the file (the header is line 0)
    if fault == "cell":
        rows[target][rows[0].index("AU12")] = "abc"
    else:
        rows[target][0] = "1.5"
    data = _write(rows, eol)
    assert data.splitlines()[target + 1].startswith(rows[target][0].encode())  # (one line later)
    for read in (read_trial_csv, read_trial_csv_fast):
        with pytest.raises(FeltFormatError) as e:
            read(data, "q.csv")
        assert e.value.row == target + 1, (read.__name__, str(e.value))


@pytest.mark.parametrize("word", ["NA", "N/A", "n/a", "NULL", "null", "#N/A", "#NA"])
def test_missing_value_words_are_not_numbers(clean, word):
    """pyarrow's default null list made these NaN unseen; a FELT cell holds a number or is empty."""
    from felt_hf.inputs.csv_fast import read_trial_csv_fast

    rows = _rows(clean.raw_csv())
    rows[5][rows[0].index("x_3")] = word
    for read in (read_trial_csv, read_trial_csv_fast):
        with pytest.raises(FeltFormatError) as e:
            read(_write(rows), "w.csv")
        assert (e.value.row, e.value.column) == (5, "x_3") and repr(word) in str(e.value), str(e.value)


@pytest.mark.parametrize("spelling", ["", "nan", "NaN", "-nan", "-NaN", "1.#QNAN", "-1.#IND"])
def test_nan_spellings_are_nan(clean, spelling):
    rows = _rows(clean.raw_csv())
    rows[5][rows[0].index("x_3")] = spelling
    record = read_trial_csv(_write(rows), "n.csv")
    assert np.isnan(record.arrays["landmarks"][4, 3, 0]) and np.isfinite(record.arrays["landmarks"][4, 4, 0])


@pytest.mark.parametrize("where", ["appended", "in place of another"])
def test_a_data_column_twice_is_refused_naming_it(clean, where):
    from felt_hf.inputs.csv_fast import read_trial_csv_fast

    rows = _rows(clean.raw_csv())
    j = rows[0].index("x_3")
    if where == "appended":
        rows = [r + (["x_3"] if i == 0 else ["999"]) for i, r in enumerate(rows)]
    else:
        rows[0][j + 1] = "x_3"
    for read in (read_trial_csv, read_trial_csv_fast):
        with pytest.raises(FeltFormatError, match=r"column 'x_3' appears twice \(columns ") as e:
            read(_write(rows), "d.csv")
        assert (e.value.row, e.value.column) == (0, "x_3")


def test_an_error_moved_past_blank_lines_keeps_its_kind(clean):
    from felt_hf.errors import FeltValueRangeError

    rows = _rows(clean.raw_csv())
    rows[6][rows[0].index("AU12")] = "1e39"  # beyond float32
    rows.insert(2, [])
    with pytest.raises(FeltValueRangeError) as e:
        read_trial_csv(_write(rows), "v.csv")
    assert (e.value.row, e.value.column) == (7, "AU12")


def test_a_row_with_a_face_box_but_an_empty_score_is_a_face_without_a_score(clean):
    """An empty FaceScore cell made the frame "no face" (num_faces 0) while its box, landmarks and
    AUs were kept; in a two-face frame that face always lost. Now: counted as a face, kept unless
    the frame has a scored face, and read the same by the converter's fast path."""
    from felt_hf.inputs.csv_fast import read_trial_csv_fast

    rows = _rows(clean.raw_csv())
    head, body = rows[0], rows[1:]
    score = head.index("FaceScore")
    body[2][score] = ""  # frame 2: one face, no score
    second = list(body[4])  # frame 4: a scored face, then the same frame again without a score
    second[score], second[head.index("x_0")] = "", "1.0"
    data = _write([head, *body[:5], second, *body[5:]])
    for rec in (read_trial_csv(data, name="t.csv"), read_trial_csv_fast(data, "t.csv")):
        assert rec.num_faces[2] == 1 and not np.isnan(rec.arrays["landmarks"][2]).any()
        assert np.isnan(rec.arrays["face_score"][2]).all()
        assert rec.num_faces[4] == 2 and rec.arrays["landmarks"][4, 0, 0] != 1.0  # the scored face wins
    frame = np.array([0, 1, 1])
    rows_kept, faces = select_faces(frame, np.array([np.nan, np.nan, 0.5]), np.array([True, True, False]))
    assert rows_kept.tolist() == [0, 2] and faces.tolist() == [1, 2]  # a scored face beats one without
