"""The polars fast path agrees with the strict pyarrow reader value by value, on every quirk of
FELT_FORMAT.md, on the real Py-Feat outputs and on bad input (same error, same file, row and
column), and it really is the polars path that read the plain files."""

from __future__ import annotations

import csv
import io
import warnings

import felt_hf.csv_fast as csv_fast
import numpy as np
import pytest
from felt_hf.csv_fast import read_trial_csv_fast
from felt_hf.csv_reader import read_trial_csv
from felt_hf.csv_writer import felt_csv_bytes
from felt_hf.synth import make_trial, select_trials

from felt_hf.errors import FeltFormatError
from felt_hf.schema import CSV_LAYOUTS, FRAME_ARRAYS

TRIAL = "01-01-05-02-01-02-03"


@pytest.fixture
def strict_calls(monkeypatch) -> list[str]:
    """Names of the files the fast path handed to the strict reader."""
    calls: list[str] = []

    def spy(data, name=None):
        calls.append(name)
        return read_trial_csv(data, name=name)

    monkeypatch.setattr(csv_fast, "read_trial_csv", spy)
    return calls


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def _write(rows: list[list[str]], eol: str = "\r\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=eol).writerows(rows)
    return buf.getvalue().encode()


def assert_same_record(data: bytes, name: str = "t.csv") -> None:
    """Both readers on the same bytes: identical float32 arrays (NaN where NaN), frames, faces,
    source video, row count and filled groups, and the same warnings."""
    with warnings.catch_warnings(record=True) as w_strict:
        warnings.simplefilter("always")
        a = read_trial_csv(data, name=name)
    with warnings.catch_warnings(record=True) as w_fast:
        warnings.simplefilter("always")
        b = read_trial_csv_fast(data, name=name)
    assert [str(w.message) for w in w_strict] == [str(w.message) for w in w_fast]
    for arr in FRAME_ARRAYS:
        x, y = a.arrays[arr.name], b.arrays[arr.name]
        assert x.dtype == y.dtype == np.float32 and x.shape == y.shape, arr.name
        np.testing.assert_array_equal(x.view(np.uint32), y.view(np.uint32), err_msg=arr.name)  # bit for bit
    np.testing.assert_array_equal(a.frame, b.frame)
    assert a.frame.dtype == b.frame.dtype
    np.testing.assert_array_equal(a.num_faces, b.num_faces)
    assert (a.source_video, a.num_csv_rows, a.filled, a.name) == (b.source_video, b.num_csv_rows, b.filled, b.name)


def assert_same_outcome(data: bytes, name: str = "t.csv") -> FeltFormatError | None:
    """The same record, or the same located error, whichever the strict reader gives."""
    try:
        read_trial_csv(data, name=name)
    except FeltFormatError:
        return assert_same_error(data, name=name)
    assert_same_record(data, name=name)
    return None


def assert_same_error(data: bytes, name: str = "bad.csv") -> FeltFormatError:
    with pytest.raises(FeltFormatError) as strict:
        read_trial_csv(data, name=name)
    with pytest.raises(FeltFormatError) as fast:
        read_trial_csv_fast(data, name=name)
    assert type(strict.value) is type(fast.value)
    assert str(strict.value) == str(fast.value)
    assert (strict.value.row, strict.value.column) == (fast.value.row, fast.value.column)
    return fast.value


@pytest.fixture(scope="module")
def clean():
    return make_trial(TRIAL, seed=3, num_frames=40)


@pytest.mark.parametrize("layout", CSV_LAYOUTS)
def test_every_header_variant_takes_the_polars_path_and_agrees(clean, layout, strict_calls):
    assert_same_record(felt_csv_bytes(clean.raw_columns, layout), name=f"{layout}.csv")
    assert strict_calls == []  # read by polars, not handed back


def test_generated_quirky_trials_agree(strict_calls):
    """Two-face frames, leading no-face rows, NaN rows with a new Identity label, 17-digit floats,
    raw and smoothed files, speech and song."""
    seen = {"two": 0, "lead": 0}
    for channel in ("speech", "song"):
        for tid in select_trials(channel, 4, 10, seed=1):
            t = make_trial(tid, seed=1)
            seen["two"] += t.has_two_faces
            seen["lead"] += bool(t.leading_no_face)
            assert_same_record(t.raw_csv(), name=f"raw/{tid}.csv")
            assert_same_record(t.smoothed_csv(), name=f"smoothed/{tid}.csv")
    assert seen["two"] and seen["lead"]  # the quirks were really in the sample
    assert strict_calls == []


def test_line_endings_shuffled_columns_and_extra_columns(clean, strict_calls):
    rows = _rows(clean.raw_csv())
    order = np.random.default_rng(0).permutation(len(rows[0]))
    shuffled = [[r[i] for i in order] + ["junk", "1.5"] for r in rows]
    shuffled[0][-2:] = ["SomeNewColumn", "Extra2"]
    for eol in ("\n", "\r\n"):
        assert_same_record(_write(shuffled, eol))
        assert_same_record(_write(rows, eol))
    no_final_newline = clean.raw_csv().rstrip(b"\r\n")
    assert_same_record(no_final_newline)
    assert strict_calls == []


def test_no_face_rows_two_face_frames_and_ties(clean):
    rows = _rows(clean.raw_csv())
    head, body = rows[0], rows[1:]
    numeric = [j for j, n in enumerate(head) if n not in ("frame", "Identity", "input", "approx_time")]
    for k in (0, 5, 6):
        for j in numeric:
            body[k][j] = ""
        body[k][head.index("Identity")] = "Person_1"
    score = head.index("FaceScore")
    out = [head]
    for k, r in enumerate(body):
        out.append(r)
        if k in (3, 8):
            second = list(r)
            second[score] = "0.999999" if k == 3 else r[score]  # higher score; a tie
            second[head.index("x_0")] = "1.0"
            out.append(second)
    assert_same_record(_write(out))


def test_real_pyfeat_outputs_agree(pyfeat_fixtures, strict_calls):
    for f in ("001.csv", "Feat_Test.csv"):
        assert_same_record((pyfeat_fixtures / f).read_bytes(), name=f)


@pytest.mark.parametrize(
    "token",
    ["nan", "NaN", "NA", "null", "N/A", "-nan", "inf", "-inf", "Infinity", "1e39", "-1e39", "1e-50", "+1.5", ".5",
     "5.", " 1.5", "1.5 ", "0x10", "1e5", "1.5e", "true", "abc", '"2.5"', "3.4028235e38", "1.17549435e-38"],
)  # fmt: skip
def test_odd_cell_values_read_the_same_or_fail_the_same(clean, token):
    """Whatever a cell holds, both readers give the same value or the same located error."""
    rows = _rows(clean.raw_csv())
    rows[3][rows[0].index("AU12")] = token
    data = _write(rows).replace(b'""', b'"') if token.startswith('"') else _write(rows)
    err = assert_same_outcome(data, name="odd.csv")
    assert err is None or (err.row, err.column) == (3, "AU12")


def test_odd_input_cells_give_the_same_source_video(clean):
    rows = _rows(clean.raw_csv())
    j = rows[0].index("input")
    for first in ("NA", "nan", ""):
        rows[1][j] = first
        assert_same_record(_write(rows))


def test_ragged_rows_blank_lines_and_quotes_go_to_the_strict_reader(clean, strict_calls):
    rows = _rows(clean.raw_csv())
    short = [list(r) for r in rows]
    short[4] = short[4][:10]
    err = assert_same_error(_write(short), name="r.csv")
    assert err.row == 4
    long = [list(r) for r in rows]
    long[6] = long[6] + ["1.0"]
    assert_same_error(_write(long), name="l.csv")
    blank = clean.raw_csv().replace(b"\r\n", b"\r\n\r\n", 3)
    assert_same_record(blank, name="blank.csv")  # the strict reader skips blank lines; so does this path
    quoted = [list(r) for r in rows]
    quoted[2][rows[0].index("input")] = 'C:\\videos\\a, "b".mp4'
    assert_same_record(_write(quoted), name="q.csv")
    assert {"r.csv", "l.csv", "blank.csv", "q.csv"} <= set(strict_calls)


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_a_lone_carriage_return_in_a_cell_goes_to_the_strict_reader(clean, strict_calls, eol):
    """``Person\r_0``: polars had read it as text (the file converted) where the strict reader,
    like pandas, breaks the line there (a located error); converting with or without polars gave
    different outcomes for one file. Alone and in a batch, it is now the strict reader's."""
    lines = _write(_rows(clean.raw_csv()), eol=eol).split(eol.encode())
    assert b",Person_0," in lines[2]
    lines[2] = lines[2].replace(b",Person_0,", b",Person\r_0,", 1)  # (no quotes: csv.writer would add them)
    data = eol.encode().join(lines)
    err = assert_same_error(data, name="cr.csv")
    assert err.row == 2 and strict_calls == ["cr.csv"]
    assert "(a carriage return inside a cell ends the row there" in str(err)  # (only column counts had been said)
    plain = clean.raw_csv() if eol == "\r\n" else clean.raw_csv().replace(b"\r\n", b"\n")
    assert csv_fast.read_trial_csvs_fast([(plain, "a.csv"), (data, "cr.csv")]) == [None, None]  # (file by file)


def test_bad_frame_numbers_and_empty_inputs_fail_the_same(clean):
    rows = _rows(clean.raw_csv())
    for bad in ("1.5", "-1", "nan", "x"):
        r = [list(x) for x in rows]
        r[2][0] = bad
        err = assert_same_error(_write(r), name="f.csv")
        assert err.row == 2
    r = [list(x) for x in rows]
    r[2][0] = "3e10"  # beyond int32: whatever the strict reader does with it (issue 11 makes it an error)
    assert_same_outcome(_write(r), name="f.csv")
    header_only = clean.raw_csv().split(b"\r\n", 1)[0] + b"\r\n"
    for data in (b"", b"\r\n  \r\n", header_only, header_only + b"\r\n" * 40):
        assert_same_error(data, name="empty.csv")


def test_missing_columns_fail_the_same(clean):
    rows = _rows(clean.raw_csv())
    for col in ("Yaw", "Identity_17"):
        j = rows[0].index(col)
        err = assert_same_error(_write([r[:j] + r[j + 1 :] for r in rows]), name="m.csv")
        assert col in str(err)


def test_switched_off_it_is_the_strict_reader(clean, strict_calls):
    csv_fast.use_polars(False)
    try:
        assert_same_record(clean.raw_csv(), name="off.csv")
    finally:
        csv_fast.use_polars(True)
    assert strict_calls == ["off.csv"]


def test_conversion_is_byte_identical_with_either_reader(sample_archives, tmp_path):
    """The whole hub folder (parquet, stats.json, card) from the polars path equals the one the
    strict reader alone writes, byte for byte."""
    import shutil

    from felt_hf.convert import convert_felt

    data = tmp_path / "in"
    data.mkdir()
    for stem in ("raw_motion_speech", "smoothed_motion_song"):
        shutil.copy(sample_archives / f"{stem}.zip", data)
    convert_felt(data, tmp_path / "fast", progress=False, num_proc=1)
    csv_fast.use_polars(False)
    try:
        convert_felt(data, tmp_path / "strict", progress=False, num_proc=1)
    finally:
        csv_fast.use_polars(True)

    def files(folder):
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    fast, strict = files(tmp_path / "fast"), files(tmp_path / "strict")
    assert fast.keys() == strict.keys() and any(k.endswith(".parquet") for k in fast)
    assert fast == strict


def test_without_polars_the_strict_reader_converts_the_same(sample_archives, tmp_path):
    """A broken install without polars (seen on a machine where felt-hf ran from its source
    tree) converts with the strict reader, in the workers too, to the same bytes: the layout,
    which imports polars, must not be planned when polars cannot be imported."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from felt_hf.convert import convert_felt

    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(sample_archives / "raw_motion_speech.zip", data)
    convert_felt(data, tmp_path / "fast", progress=False, num_proc=1)
    code = (
        "import sys; sys.modules['polars'] = None\n"  # import polars now raises ImportError
        "from felt_hf.cli import main\n"
        f"raise SystemExit(main(['convert', {str(data)!r}, '--out', {str(tmp_path / 'nopl')!r}, "
        "'--num-proc', '2', '--no-progress']))"
    )
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr

    def files(folder):
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert files(tmp_path / "nopl") == files(tmp_path / "fast")


# --- several files in one polars call (the converter reads a row group at a time) ----------------


def _assert_equal_records(a, b) -> None:
    for arr in FRAME_ARRAYS:
        x, y = a.arrays[arr.name], b.arrays[arr.name]
        assert x.dtype == y.dtype == np.float32 and x.shape == y.shape, arr.name
        np.testing.assert_array_equal(x.view(np.uint32), y.view(np.uint32), err_msg=arr.name)
    np.testing.assert_array_equal(a.frame, b.frame)
    assert a.frame.dtype == b.frame.dtype
    np.testing.assert_array_equal(a.num_faces, b.num_faces)
    assert (a.source_video, a.num_csv_rows, a.filled, a.name) == (b.source_video, b.num_csv_rows, b.filled, b.name)


def _no_identity(data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    keep = [k for k, c in enumerate(lines[0].split(b",")) if not c.startswith(b"Identity")]
    return b"\r\n".join(b",".join(line.split(b",")[k] for k in keep) if line else line for line in lines)


@pytest.fixture(scope="module")
def plain_files(clean) -> list[tuple[bytes, str]]:
    """Every quirk a plain file can have, in mixed header layouts, shuffled: generated raw and
    smoothed trials (two-face frames, leading no-face rows, NaN rows), every header variant, the
    real Py-Feat outputs, files without identity columns (a warning each), LF line ends."""
    files = []
    for channel in ("speech", "song"):
        for tid in select_trials(channel, 4, 6, seed=2):
            t = make_trial(tid, seed=2)
            files += [(t.raw_csv(), f"raw/{tid}.csv"), (t.smoothed_csv(), f"smoothed/{tid}.csv")]
    files += [(felt_csv_bytes(clean.raw_columns, layout), f"{layout}.csv") for layout in CSV_LAYOUTS]
    files += [(_no_identity(clean.raw_csv()), f"noid{k}.csv") for k in range(3)]
    files += [(clean.raw_csv().replace(b"\r\n", b"\n"), "lf.csv")]
    fixtures = REPO_SHARED / "fixtures" / "pyfeat"
    files += [((fixtures / f).read_bytes(), f) for f in ("001.csv", "Feat_Test.csv") if (fixtures / f).is_file()]
    order = np.random.default_rng(5).permutation(len(files))
    return [files[i] for i in order]


REPO_SHARED = __import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared"


def test_batches_give_the_file_by_file_records_and_warnings(plain_files, strict_calls):
    with warnings.catch_warnings(record=True) as w_batch:
        warnings.simplefilter("always")
        got = []
        for i in range(0, len(plain_files), 8):
            got += csv_fast.read_trial_csvs_fast(plain_files[i : i + 8])
        records = [r if r is not None else read_trial_csv_fast(*f) for r, f in zip(got, plain_files, strict=True)]
    with warnings.catch_warnings(record=True) as w_strict:
        warnings.simplefilter("always")
        want = [read_trial_csv(d, name=n) for d, n in plain_files]
    assert strict_calls == []
    # every file that shares its header line with another file of its batch is read in the batch
    for i in range(0, len(plain_files), 8):
        heads = [d.split(b"\n", 1)[0] for d, _ in plain_files[i : i + 8]]
        for k, h in enumerate(heads):
            assert (got[i + k] is not None) == (heads.count(h) > 1), plain_files[i + k][1]
    assert sum(r is not None for r in got) >= len(plain_files) // 2
    for record, expected in zip(records, want, strict=True):
        _assert_equal_records(expected, record)
    assert sorted(str(w.message) for w in w_batch) == sorted(str(w.message) for w in w_strict)
    assert sum("noid" in str(w.message) for w in w_batch) == 3


def test_a_group_with_anything_unusual_is_read_file_by_file(clean):
    tids = select_trials("speech", 2, 3, seed=4)
    good = [(felt_csv_bytes(make_trial(t, seed=4, num_frames=30).raw_columns, "raw"), f"{t}.csv") for t in tids]
    plain = felt_csv_bytes(clean.raw_columns, "raw")
    rows = _rows(plain)

    def with_cell(row: int, column: str, value: str) -> bytes:
        r = [list(x) for x in rows]
        r[row][rows[0].index(column)] = value
        return _write(r)

    def outcome(odd: bytes) -> list[bool]:
        return [r is not None for r in csv_fast.read_trial_csvs_fast([*good, (odd, "odd.csv")])]

    n = len(good)
    # the odd file alone: overflow to inf, a frame going back, a frame that is not whole
    assert outcome(with_cell(3, "AU12", "1e39")) == [True] * n + [False]
    assert outcome(with_cell(4, "frame", "1")) == [True] * n + [False]
    assert outcome(with_cell(4, "frame", "2.5")) == [True] * n + [False]
    # the whole group: a blank line, a short row, an empty last cell, no final line end, a quote
    for odd in (
        plain.replace(b"\r\n", b"\r\n\r\n", 3),
        _write([*rows[:4], rows[4][:10], *rows[5:]]),
        with_cell(2, "approx_time", ""),
        plain.rstrip(b"\r\n"),
        with_cell(2, "input", 'a "b".mp4'),
    ):
        assert outcome(odd) == [False] * (n + 1)
    # whatever the group did, the file's own read gives the strict reader's record or located error
    for odd in (with_cell(4, "frame", "1"), with_cell(3, "AU12", "1e39"), with_cell(2, "approx_time", "")):
        assert_same_outcome(odd, name="odd.csv")


def test_one_file_or_no_polars_is_not_batched(clean):
    one = [(clean.raw_csv(), "a.csv")]
    assert csv_fast.read_trial_csvs_fast(one) == [None]
    csv_fast.use_polars(False)
    try:
        assert csv_fast.read_trial_csvs_fast(one * 3) == [None] * 3
    finally:
        csv_fast.use_polars(True)


@pytest.mark.parametrize("ignored", [True, False])
def test_importing_polars_keeps_the_process_ctrl_c_handling(ignored):
    """polars installs its own SIGINT handler when imported: a converter worker (which ignores
    SIGINT) then printed a KeyboardInterrupt traceback on Ctrl-C. After ``polars_available`` the
    OS-level disposition must be what Python holds: ignored, or Python's own handler."""
    import subprocess
    import sys

    code = f"""
import signal, sys
if {ignored}:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
assert "polars" not in sys.modules
from felt_hf.inputs.csv_fast import polars_available
assert polars_available()
status = open("/proc/self/status").read()
ign = int(status.split("SigIgn:")[1].split()[0], 16)
print("ignored" if ign & (1 << (signal.SIGINT - 1)) else "handled")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ("ignored" if ignored else "handled")
