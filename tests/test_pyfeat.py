"""The Py-Feat bridge: exact round trips CSV -> row -> CSV and row -> Fex -> row.

The DataFrame path runs everywhere; the real ``Fex`` path (and Py-Feat's own ``read_feat``) runs
in the Py-Feat 0.6.2 environment under the ``pyfeat`` marker (``pytest -m pyfeat``).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

from felt_hf.build.rows import trial_row
from felt_hf.errors import FeltError, FeltMissingColumnsError, FeltWarning
from felt_hf.inputs.csv_reader import read_trial_csv
from felt_hf.ravdess import parse_trial_id
from felt_hf.schema import AU_NAMES, FPS, PYFEAT_DATA_COLUMNS, ROW_COLUMNS, header_for
from felt_hf.synthetic.archives import make_trial
from felt_hf.view.pyfeat import FEX_COLUMN_GROUPS, from_fex, row_to_csv, to_dataframe, to_fex


@pytest.fixture(scope="module")
def clean():
    t = make_trial("01-01-05-02-01-02-03", seed=0, num_frames=40)
    assert not t.has_no_face and not t.has_two_faces
    return t


@pytest.fixture(scope="module")
def quirky():
    """Two-face frames 6, 12, 13 (seed 0, 40 frames)."""
    t = make_trial("01-01-02-01-02-01-02", seed=0, num_frames=40)
    assert t.two_face_frames == (6, 12, 13)
    return t


@pytest.fixture(scope="module")
def noface():
    """Leading no-face frames 0-3: NaN rows, forward-filled and re-saved raw file."""
    t = make_trial("01-01-01-01-01-02-03", seed=0, num_frames=40)
    assert t.no_face_frames == (0, 1, 2, 3) and t.raw_layout == "raw_resaved"
    return t


def _row(data: bytes, tid: str) -> dict:
    return trial_row(read_trial_csv(data, name=f"{tid}.csv"), parse_trial_id(tid))


def _assert_rows_equal(a: dict, b: dict) -> None:
    assert list(a) == list(b) == list(ROW_COLUMNS)
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


def _read(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data))


@pytest.mark.parametrize("variant", ["raw", "smoothed"])
@pytest.mark.parametrize("trial", ["clean", "noface"])
def test_csv_row_csv_is_value_equal(trial, variant, request):
    clean = request.getfixturevalue(trial)
    data = clean.csv(variant)
    layout = getattr(clean, f"{variant}_layout")
    out = row_to_csv(_row(data, clean.trial_id), layout=layout)
    a, b = _read(data), _read(out)
    assert list(b.columns) == list(a.columns)
    assert _rows_of(out)[0] == list(header_for(layout))
    for c in a.columns:
        if a[c].dtype.kind == "f":  # the row holds float32: equal after rounding the original
            np.testing.assert_array_equal(b[c].to_numpy(np.float32), a[c].to_numpy(np.float32), err_msg=c)
        else:  # frame, Identity labels (recomputed as Py-Feat does), input, approx_time
            assert a[c].tolist() == b[c].tolist(), c
    assert out.count(b"\r\n") == len(a) + 1  # Windows line endings as FELT's files


def _rows_of(data: bytes) -> list[list[str]]:
    import csv

    return list(csv.reader(io.StringIO(data.decode())))


def test_exported_csv_reads_back_byte_identical(quirky):
    """A second pass changes nothing: row -> CSV -> row -> CSV gives the same bytes."""
    row = _row(quirky.raw_csv(), quirky.trial_id)
    first = row_to_csv(row, layout=quirky.raw_layout)
    again = _row(first, quirky.trial_id)
    assert row_to_csv(again, layout=quirky.raw_layout) == first
    np.testing.assert_array_equal(again["num_faces"] > 0, row["num_faces"] > 0)


def test_two_face_frames_export_one_row_per_frame(quirky):
    row = _row(quirky.raw_csv(), quirky.trial_id)
    df = _read(row_to_csv(row))
    assert len(df) == row["num_frames"] == quirky.num_frames < quirky.num_rows  # the second faces are gone
    assert df["frame"].tolist() == list(range(quirky.num_frames))
    assert np.flatnonzero(row["num_faces"] == 2).tolist() == [6, 12, 13]


def test_no_face_rows_stay_nan_with_fresh_identity_labels(noface):
    row = _row(noface.smoothed_csv(), noface.trial_id)
    df = _read(row_to_csv(row))
    assert df.loc[:3, "FaceScore"].isna().all() and df.loc[4:, "FaceScore"].notna().all()
    assert df["Identity"].tolist()[:5] == ["Person_0", "Person_1", "Person_2", "Person_3", "Person_4"]
    assert set(df["Identity"][4:]) == {"Person_4"}


def test_row_fex_row_is_exact(quirky):
    row = _row(quirky.smoothed_csv(), quirky.trial_id)
    with pytest.warns(FeltWarning, match="py-feat is not importable"):
        fex = _to_fex_without_pyfeat(row)
    assert isinstance(fex, pd.DataFrame)
    assert list(fex.columns) == list(PYFEAT_DATA_COLUMNS)
    meta = fex.attrs["fex"]
    assert meta["sampling_freq"] == FPS and meta["au_model"] == "xgb"
    assert list(meta["sessions"]) == [quirky.trial_id] * row["num_frames"]
    for key, cols in FEX_COLUMN_GROUPS.items():
        assert meta[key] == cols and set(cols) <= set(fex.columns), key
    # the numbers are the row's, in Py-Feat's column names
    np.testing.assert_array_equal(fex[list(AU_NAMES)].to_numpy(np.float32), row["action_units"])
    np.testing.assert_array_equal(fex["x_30"].to_numpy(np.float32), row["landmarks"][:, 30, 0])
    np.testing.assert_array_equal(fex["y_30"].to_numpy(np.float32), row["landmarks"][:, 30, 1])
    _assert_rows_equal(from_fex(fex), row)


def _to_fex_without_pyfeat(row):
    import sys

    saved = sys.modules.get("feat")
    sys.modules["feat"] = None  # makes `from feat import Fex` raise ImportError
    try:
        return to_fex(row)
    finally:
        if saved is None:
            del sys.modules["feat"]
        else:
            sys.modules["feat"] = saved


def test_from_fex_takes_labels_from_input_and_reduces_faces(quirky):
    row = _row(quirky.raw_csv(), quirky.trial_id)
    df = to_dataframe(row)  # no sessions, no attrs: the trial id comes from `input`
    assert row["source_video"].endswith(f"{quirky.trial_id}.mp4")
    two = df.iloc[[3]].copy()
    two["FaceScore"] = 0.01  # a weaker second face in frame 3 is dropped again
    two["x_0"] = -5.0
    stacked = pd.concat([df.iloc[:4], two, df.iloc[4:]], ignore_index=True)
    back = from_fex(stacked)
    assert back["trial_id"] == quirky.trial_id and back["emotion"] == parse_trial_id(quirky.trial_id).emotion
    np.testing.assert_array_equal(back["landmarks"], row["landmarks"])
    assert back["num_faces"][3] == 2


def test_from_fex_errors_name_what_is_wrong(clean):
    row = _row(clean.raw_csv(), clean.trial_id)
    df = to_dataframe(row)
    with pytest.raises(FeltMissingColumnsError, match="AU12"):
        from_fex(df.drop(columns=["AU12"]))
    with pytest.raises(FeltError, match="pass trial_id="):
        from_fex(df.drop(columns=["input"]))
    with pytest.raises(FeltError, match="not a RAVDESS trial name"):
        from_fex(df, trial_id="my_video")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        back = from_fex(df.drop(columns=[c for c in df.columns if c.startswith("Identity_")]))
    assert np.isnan(back["identity_embedding"]).all()
    assert any("identity_embedding" in str(w.message) for w in seen)


def test_exported_csv_has_what_read_feat_selects(clean, tmp_path):
    """Py-Feat 0.6.2's read_feat: ``pd.read_csv``, AU columns = names containing "AU", x_/y_ landmarks."""
    row = _row(clean.raw_csv(), clean.trial_id)
    path = tmp_path / f"{clean.trial_id}.csv"
    row_to_csv(row, path)
    d = pd.read_csv(path)
    assert [c for c in d.columns if "AU" in c] == list(AU_NAMES)
    for key in ("emotion_columns", "landmark_columns", "facebox_columns", "facepose_columns"):
        assert set(FEX_COLUMN_GROUPS[key]) <= set(d.columns), key
    assert d["frame"].tolist() == row["frame"].tolist()
    _assert_rows_equal(from_fex(d, trial_id=clean.trial_id), row)


@pytest.mark.pyfeat
def test_real_fex_round_trip_and_read_feat(quirky, tmp_path):
    feat = pytest.importorskip("feat")
    from feat.utils.io import read_feat

    row = _row(quirky.smoothed_csv(), quirky.trial_id)
    fex = to_fex(row)
    assert isinstance(fex, feat.Fex)
    assert fex.sampling_freq == FPS and fex.detector == "Feat" and fex.identity_model == "facenet"
    assert set(fex.sessions) == {quirky.trial_id}
    np.testing.assert_array_equal(fex.aus.to_numpy(np.float32), row["action_units"])
    assert list(fex.landmarks.columns) == FEX_COLUMN_GROUPS["landmark_columns"]
    assert list(fex.poses.columns) == ["Pitch", "Roll", "Yaw"]
    mean = fex.extract_mean()  # a Fex method that uses sessions
    assert len(mean) == 1
    np.testing.assert_allclose(mean["mean_AU12"].iloc[0], np.nanmean(row["action_units"][:, 9].astype(np.float64)))
    _assert_rows_equal(from_fex(fex), row)
    path = tmp_path / f"{quirky.trial_id}.csv"
    row_to_csv(row, path)
    read = read_feat(str(path))
    assert isinstance(read, feat.Fex) and list(read.au_columns) == list(AU_NAMES)
    _assert_rows_equal(from_fex(read, trial_id=quirky.trial_id), _row(path.read_bytes(), quirky.trial_id))
