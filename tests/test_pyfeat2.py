"""Py-Feat 2.x output read into FELT rows; neither layout mistaken for the other."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

from felt_hf.errors import FeltError, FeltFormatError, FeltMissingColumnsError, FeltWarning
from felt_hf.inputs.csv_reader import read_trial_csv
from felt_hf.inputs.pyfeat2 import (
    BLENDSHAPES,
    EMOTION_FROM_V2,
    PYFEAT2_COLUMNS,
    detect_layout,
    read_pyfeat2_extras,
)
from felt_hf.schema import FRAME_ARRAYS
from felt_hf.synthetic.archives import make_trial

TRIAL = "01-01-02-01-02-01-02"  # seed 0, 40 frames: two faces in frames 6, 12, 13


@pytest.fixture(scope="module")
def trial():
    return make_trial(TRIAL, seed=0, num_frames=40)


def v2_frame(trial, seed: int = 0) -> pd.DataFrame:
    """The trial's raw rows as Detectorv2 would lay them out, extra 2.x groups made up."""
    felt = pd.read_csv(io.BytesIO(trial.raw_csv()))
    rng = np.random.default_rng(seed)
    n = len(felt)
    v1_of = {v2: v1 for v1, v2 in EMOTION_FROM_V2.items()}
    cols = {}
    for c in PYFEAT2_COLUMNS:
        if c in v1_of:
            cols[c] = felt[v1_of[c]]
        elif c == "frame":
            cols[c] = felt["frame.1"] if "frame.1" in felt else felt["frame"]
        elif c in felt.columns:
            cols[c] = felt[c]
        else:  # X Y Z, valence/arousal, gaze, mesh, blendshapes, frame size
            cols[c] = rng.normal(size=n)
    return pd.DataFrame(cols, columns=list(PYFEAT2_COLUMNS))


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv().encode()  # Fex.to_csv(path): the index comes first, with an empty name


def test_column_list_is_detectorv2s():
    assert len(PYFEAT2_COLUMNS) == len(set(PYFEAT2_COLUMNS)) == 2183
    assert PYFEAT2_COLUMNS[-4:] == ("input", "frame", "approx_time", "Identity")
    assert len(BLENDSHAPES) == 52


def test_v2_file_reads_into_the_same_row_arrays(trial):
    data = _csv(v2_frame(trial))
    with pytest.warns(FeltWarning, match="ArcFace") as seen:
        rec = read_trial_csv(data, name="v2.csv")
    message = str(seen[0].message)
    for group in ("mesh", "blendshapes", "gaze", "valence_arousal", "head_translation"):
        assert group in message
    ref = read_trial_csv(trial.raw_csv(), name="felt.csv")
    np.testing.assert_array_equal(rec.frame, ref.frame)
    np.testing.assert_array_equal(rec.num_faces, ref.num_faces)
    for arr in FRAME_ARRAYS:
        if arr.name == "identity_embedding":
            assert np.isnan(rec.arrays[arr.name]).all()  # ArcFace never lands in FaceNet's column
        else:
            np.testing.assert_array_equal(rec.arrays[arr.name], ref.arrays[arr.name], err_msg=arr.name)
    assert rec.source_video == ref.source_video


def test_extras_keep_the_same_faces_and_mesh_layout(trial):
    df = v2_frame(trial)
    ref = read_trial_csv(trial.raw_csv(), name="felt.csv")
    extras = read_pyfeat2_extras(_csv(df), name="v2.csv")
    assert extras["mesh"].shape == (ref.num_frames, 478, 3)
    assert extras["blendshapes"].shape == (ref.num_frames, 52)
    assert extras["identity_arcface"].shape == (ref.num_frames, 512)
    # frame 6 has two faces: the kept row is the one the reader kept (highest FaceScore)
    rows6 = df.index[df["frame"] == 6]
    best = rows6[np.argmax(df.loc[rows6, "FaceScore"].to_numpy())]
    assert extras["mesh"][6, 100, 0] == np.float32(df.loc[best, "mesh_x_100"])
    assert extras["mesh"][6, 100, 2] == np.float32(df.loc[best, "mesh_z_100"])
    assert extras["gaze"][20, 1] == np.float32(df.loc[df.index[df["frame"] == 20][0], "gaze_yaw"])


def test_felt_files_are_never_read_as_v2(trial, pyfeat_fixtures):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FELT's own file: no 2.x warning
        read_trial_csv(trial.raw_csv(), name="felt.csv")
    names = pd.read_csv(io.BytesIO(trial.raw_csv()), nrows=0).columns
    assert detect_layout(list(names)) == "felt"
    for real in ("001.csv", "Feat_Test.csv"):  # real Py-Feat 0.6.x outputs
        header = pd.read_csv(pyfeat_fixtures / real, nrows=0).columns
        assert detect_layout(list(header)) == "felt"
    with pytest.raises(FeltFormatError, match="not a Py-Feat 2.x file"):
        read_pyfeat2_extras(trial.raw_csv(), name="felt.csv")


def test_mixed_or_broken_v2_headers_are_errors(trial):
    df = v2_frame(trial)
    both = df.assign(happiness=df["Happy"])
    with pytest.raises(FeltFormatError, match="both Py-Feat 0.6.2 emotion columns.*and Py-Feat 2.x"):
        read_trial_csv(_csv(both), name="both.csv")
    with pytest.raises(FeltMissingColumnsError, match="Happy") as e:
        read_trial_csv(_csv(df.drop(columns=["Happy", "AU12"])), name="v2.csv")
    assert "v2.csv" in str(e.value) and "AU12" in str(e.value)
    bad = _csv(df)
    lines = bad.split(b"\n")
    cells = lines[3].split(b",")
    cells[1 + list(PYFEAT2_COLUMNS).index("Pitch")] = b"oops"
    lines[3] = b",".join(cells)
    with pytest.raises(FeltFormatError, match="row 3.*'Pitch'"):
        read_trial_csv(b"\n".join(lines), name="v2.csv")


def test_from_fex_reads_a_v2_table_like_the_csv_reader(trial):
    from felt_hf.build.rows import trial_row
    from felt_hf.ravdess import parse_trial_id
    from felt_hf.view.pyfeat import from_fex

    df = v2_frame(trial)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        row = from_fex(df, trial_id=TRIAL)
    assert any("ArcFace" in str(w.message) for w in seen)
    with pytest.warns(FeltWarning):
        want = trial_row(read_trial_csv(_csv(df), name="v2.csv"), parse_trial_id(TRIAL))
    for k, v in want.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(row[k], v, err_msg=k)
        else:
            assert row[k] == v, k


def test_a_bad_cell_after_a_blank_line_is_named_at_its_file_row(trial):
    lines = _csv(v2_frame(trial)).split(b"\n")
    header = lines[0].decode().split(",")
    col = next(c for c in header if c.startswith("AU"))  # a float column v2 files have
    cells = lines[6].split(b",")
    cells[header.index(col)] = b"abc"
    lines[6] = b",".join(cells)
    lines.insert(2, b"")  # data row 2 is blank, so the bad cell is on data row 7
    with pytest.raises(FeltFormatError) as e, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_trial_csv(b"\n".join(lines), name="v2.csv")
    assert (e.value.row, e.value.column) == (7, col), str(e.value)


def test_the_converters_fast_path_reads_v2_files_like_the_strict_reader(trial):
    """`felt-hf convert` parses with felt_hf.inputs.csv_fast (file by file and in row-group
    batches): a 2.x file must come out as the strict reader reads it, not as missing columns."""
    from felt_hf.inputs.csv_fast import read_trial_csv_fast, read_trial_csvs_fast

    data = _csv(v2_frame(trial))
    with pytest.warns(FeltWarning, match="ArcFace"):
        ref = read_trial_csv(data, name="v2.csv")
    with pytest.warns(FeltWarning, match="ArcFace"):
        fast = read_trial_csv_fast(data, "v2.csv")
    assert read_trial_csvs_fast([(data, "a.csv"), (data, "b.csv")]) == [None, None]  # left to the per-file path
    np.testing.assert_array_equal(fast.frame, ref.frame)
    for arr in FRAME_ARRAYS:
        np.testing.assert_array_equal(fast.arrays[arr.name], ref.arrays[arr.name], err_msg=arr.name)


def test_convert_writes_v2_files_into_the_same_rows(trial, tmp_path):
    import zipfile

    from datasets import load_dataset

    from felt_hf.build.convert import convert_felt

    data = _csv(v2_frame(trial))
    (tmp_path / "in").mkdir()
    with zipfile.ZipFile(tmp_path / "in" / "raw_motion_speech.zip", "w") as zf:
        for actor in (1, 19, 21):  # one trial per split
            zf.writestr(f"Actor_{actor:02d}/{TRIAL[:-2]}{actor:02d}.csv", data)
    with pytest.warns(FeltWarning, match="ArcFace"):
        ref = read_trial_csv(data, name="v2.csv")
        convert_felt(tmp_path / "in", tmp_path / "felt", progress=False, num_proc=1)
    row = load_dataset(str(tmp_path / "felt"), "raw_speech", split="train").with_format("numpy")[0]
    for arr in FRAME_ARRAYS:
        np.testing.assert_array_equal(row[arr.name], ref.arrays[arr.name], err_msg=arr.name)


V2_FAULTS = {  # (column, row index, cell, what the error says): each is refused by FELT's reader too
    "frame beyond int32": ("frame", None, None, "beyond int32's range"),
    "frame goes back": ("frame", 3, "1", "comes after frame"),
    "negative frame": ("frame", 2, "-1", "frame number -1 is negative"),
    "empty frame": ("frame", 2, "", "frame number is missing"),
    "beyond float32": ("x_3", 2, "1e40", "beyond float32's range"),
}


def _v2_with(trial, column: str, row: int | None, cell: str | None) -> bytes:
    df = v2_frame(trial).astype({"frame": object})
    if row is None:  # every frame number past int32
        df["frame"] = [str(2**31 + i) for i in range(len(df))]
    else:
        df[column] = df[column].astype(object)
        df.loc[row, column] = cell
    return _csv(df)


@pytest.mark.parametrize("fault", list(V2_FAULTS))
def test_v2_files_are_refused_where_felt_files_are_not_silently_changed(trial, fault):
    """A 2.x file with a frame number past int32 (had wrapped to a negative frame), a frame that
    goes back (had become a second face), or a value beyond float32 (had become inf) was
    converted with exit 0; each is now the FELT reader's error, with row and column."""
    column, row, cell, says = V2_FAULTS[fault]
    with pytest.raises(FeltFormatError, match=says) as e, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_trial_csv(_v2_with(trial, column, row, cell), name="v2.csv")
    assert e.value.file == "v2.csv" and e.value.column == column
    assert e.value.row == (1 if row is None else row + 1), str(e.value)
    assert "np.float64" not in str(e.value)


@pytest.mark.parametrize("fault", list(V2_FAULTS))
def test_from_fex_refuses_the_same_faults(trial, fault):
    from felt_hf.view.pyfeat import from_fex

    column, row, cell, says = V2_FAULTS[fault]
    df = pd.read_csv(io.BytesIO(_v2_with(trial, column, row, cell)), index_col=0, keep_default_na=False,
                     na_values=[""], dtype={"frame": object, column: object})  # fmt: skip
    if cell != "":
        df[column] = pd.to_numeric(df[column])
    with pytest.raises(FeltFormatError, match=says) as e, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_fex(df, trial_id=TRIAL)
    assert e.value.column == column and e.value.row == (1 if row is None else row + 1), str(e.value)


def test_from_fex_names_a_cell_that_is_not_a_number(trial):
    from felt_hf.view.pyfeat import from_fex

    df = v2_frame(trial)
    for column in ("frame", "AU01"):
        bad = df.astype({column: object})
        bad.loc[3, column] = "abc"
        with pytest.raises(FeltFormatError) as e, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from_fex(bad, trial_id=TRIAL)
        assert str(e.value) == f"Fex of {TRIAL}, row 4, column '{column}': 'abc' is not a number"


def test_from_fex_refuses_an_empty_fex_and_an_empty_trial_id(trial):
    """An empty Fex had become a row of 0 frames (render then failed on it); ``trial_id=""`` had
    been ignored and the id taken from the Fex instead."""
    from felt_hf.view.pyfeat import from_fex

    df = v2_frame(trial)
    with pytest.raises(FeltFormatError, match=f"Fex of {TRIAL}: no data rows"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_fex(df.iloc[:0], trial_id=TRIAL)
    with pytest.raises(FeltError, match="not a RAVDESS trial name"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_fex(df.assign(input="/v/01-01-03-02-01-01-01.mp4"), trial_id="")
