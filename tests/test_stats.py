"""Normalisation statistics: exact merging, NaN handling, JSON round trip, quantile resolution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from felt_hf import schema
from felt_hf.build.stats import HISTOGRAM_SPECS, FeatureStats, compute_stats, load_stats, write_stats_json


@pytest.fixture(scope="module")
def rows(felt_fake):
    rng = np.random.default_rng(1)
    ids = ["01-01-01-01-01-01-01", "01-01-03-02-01-02-02", "01-01-05-01-02-01-03", "01-01-08-02-02-02-04"]
    return [felt_fake.make_row(tid, int(rng.integers(15, 50)), rng, nan_frames=i) for i, tid in enumerate(ids * 2)]


def _stack(rows, name):
    width = schema.FRAME_ARRAYS_BY_NAME[name].width
    return np.concatenate([np.asarray(r[name], dtype=np.float64).reshape(-1, width) for r in rows])


def test_matches_numpy_and_ignores_nan(rows):
    st = compute_stats(rows)
    assert st.num_trials == len(rows)
    assert st.num_frames == sum(r["num_frames"] for r in rows)
    for name in ("landmarks", "action_units", "face_score", "identity_embedding"):
        x = _stack(rows, name)
        acc = st[name]
        np.testing.assert_array_equal(acc.count, np.isfinite(x).sum(0))
        np.testing.assert_allclose(acc.mean, np.nanmean(x, 0), rtol=1e-12)
        np.testing.assert_allclose(acc.std, np.nanstd(x, 0), rtol=1e-9)
        np.testing.assert_array_equal(acc.min, np.nanmin(x, 0))
        np.testing.assert_array_equal(acc.max, np.nanmax(x, 0))
    assert st.mean("landmarks").shape == (schema.NUM_LANDMARKS, 2)


def test_merge_is_exact_in_any_grouping(rows):
    whole = compute_stats(rows)
    parts = [compute_stats(rows[i::3]) for i in range(3)]
    merged = FeatureStats().merge(parts[2]).merge(parts[0]).merge(parts[1])
    assert merged.num_frames == whole.num_frames
    for name, acc in whole.features.items():
        m = merged[name]
        np.testing.assert_array_equal(m.count, acc.count)
        np.testing.assert_array_equal(m.hist, acc.hist)
        np.testing.assert_array_equal(m.min, acc.min)
        np.testing.assert_allclose(m.mean, acc.mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(m.m2, acc.m2, rtol=1e-10, atol=1e-10)


def test_quantiles_within_one_bin(rows):
    st = compute_stats(rows)
    for name in ("landmarks", "action_units", "head_pose"):
        x = _stack(rows, name)
        res = HISTOGRAM_SPECS[name].resolution
        for q, got in st[name].quantiles((0.05, 0.5, 0.95)).items():
            lower = np.nanquantile(x, q, axis=0, method="lower")
            higher = np.nanquantile(x, q, axis=0, method="higher")
            assert np.all(got >= lower - res - 1e-9) and np.all(got <= higher + res + 1e-9), (name, q)
    pooled = st["identity_embedding"].quantiles((0.5,))[0.5]
    assert pooled.shape == (1,)
    want = np.nanquantile(_stack(rows, "identity_embedding"), 0.5)
    assert abs(pooled[0] - want) <= HISTOGRAM_SPECS["identity_embedding"].resolution


def test_out_of_range_values_keep_exact_extremes():
    st = FeatureStats(["head_pose"])
    pose = np.array([[-400.0, 0.0, 0.0], [500.0, 1.0, 2.0], [np.nan, np.nan, np.nan]])
    st.update_row({"head_pose": pose})
    acc = st["head_pose"]
    assert acc.min[0] == -400.0 and acc.max[0] == 500.0
    q = acc.quantiles((0.0, 1.0))
    assert q[0.0][0] >= -400.0 and q[1.0][0] <= 500.0
    assert acc.count.tolist() == [2, 2, 2]


def test_json_round_trip_and_atomic_write(tmp_path, rows):
    by = {"smoothed_speech": {"train": compute_stats(rows[:5]), "test": compute_stats(rows[5:])}}
    by["smoothed_speech"]["empty"] = FeatureStats()
    path = write_stats_json(tmp_path, by)
    assert path.name == "stats.json"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]  # no temp file left behind
    doc = json.loads(path.read_text())
    assert doc["configs"]["smoothed_speech"]["empty"]["features"]["landmarks"]["mean"][0] is None
    back = load_stats(tmp_path)
    for split, st in by["smoothed_speech"].items():
        b = back["smoothed_speech"][split]
        assert b.num_trials == st.num_trials
        for name, acc in st.features.items():
            np.testing.assert_array_equal(b[name].mean, acc.mean)
            np.testing.assert_array_equal(b[name].m2, acc.m2)
            np.testing.assert_array_equal(b[name].hist, acc.hist)
    # merging loaded statistics gives the statistics of the union
    merged = back["smoothed_speech"]["train"].merge(back["smoothed_speech"]["test"])
    np.testing.assert_allclose(merged["landmarks"].mean, compute_stats(rows)["landmarks"].mean, rtol=1e-12)


def test_rejects_mismatched_lengths_and_names():
    st = FeatureStats()
    with pytest.raises(ValueError, match="disagree"):
        st.update_row({"landmarks": np.zeros((3, 68, 2)), "action_units": np.zeros((4, 20))})
    with pytest.raises(ValueError, match="no statistics"):
        FeatureStats(["landmark"])
    with pytest.raises(ValueError, match="merge"):
        FeatureStats(["landmarks"]).merge(FeatureStats(["action_units"]))


def test_update_rows_equals_update_row_one_by_one():
    import numpy as np

    from felt_hf.build.stats import FeatureStats

    rng = np.random.default_rng(5)
    rows = []
    for t in (5, 9, 3):
        row = {"head_pose": rng.normal(size=(t, 3)).astype(np.float32), "face_score": rng.uniform(size=t)}
        row["head_pose"][0, 1] = np.nan
        rows.append(row)
    one, many = FeatureStats(["head_pose", "face_score"]), FeatureStats(["head_pose", "face_score"])
    for r in rows:
        one.update_row(r)
    many.update_rows(rows)
    a, b = one.to_dict(), many.to_dict()
    assert a["num_trials"] == b["num_trials"] == 3 and a["num_frames"] == b["num_frames"] == 17
    np.testing.assert_allclose(one.mean("head_pose"), many.mean("head_pose"), rtol=1e-12)
    np.testing.assert_allclose(one.std("head_pose"), many.std("head_pose"), rtol=1e-12)
    assert one["head_pose"].to_dict()["count"] == many["head_pose"].to_dict()["count"]


def test_pickle_round_trip_is_exact_and_sparse(rows):
    """Shard statistics travel pickled from converter workers to the parent, histograms sparse."""
    import pickle

    st = compute_stats(rows)
    st["landmarks"].hist[0, 5] = 2**40  # a count past int32 keeps its width
    back = pickle.loads(pickle.dumps(st, protocol=pickle.HIGHEST_PROTOCOL))
    assert back.num_trials == st.num_trials and back.num_frames == st.num_frames
    for name, acc in st.features.items():
        got = back[name]
        for attr in ("count", "mean", "m2", "min", "max", "hist"):
            a, b = getattr(acc, attr), getattr(got, attr)
            assert a.dtype == b.dtype and a.shape == b.shape, (name, attr)
            np.testing.assert_array_equal(a, b)
        assert got.hist.flags.writeable and got.spec == acc.spec
    back.merge(compute_stats(rows[:2]))  # a restored one still merges
    dense = sum(acc.hist.nbytes for acc in st.features.values())
    assert len(pickle.dumps(st)) < dense / 4


@pytest.fixture(scope="module")
def smoothed_folder(sample_archives, tmp_path_factory):
    """The sample's smoothed_speech converted: FELT's smoothing overshoots [0, 1] in the AUs."""
    from felt_hf.build.convert import convert_felt

    out = tmp_path_factory.mktemp("stats_smoothed") / "felt"
    convert_felt(sample_archives, out, configs=["smoothed_speech"], progress=False, num_proc=1)
    return out


def _parquet_values(folder, name: str) -> np.ndarray:
    import pyarrow.parquet as pq

    width = schema.FRAME_ARRAYS_BY_NAME[name].width
    parts = []
    for shard in sorted((folder / "smoothed_speech").glob("train-*.parquet")):
        column = pq.read_table(shard, columns=[name]).column(name).combine_chunks()
        flat = column.storage if hasattr(column, "storage") else column
        while hasattr(flat, "flatten") and not np.issubdtype(np.dtype(flat.type.to_pandas_dtype()), np.floating):
            flat = flat.flatten()
        parts.append(np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(-1, width))
    return np.concatenate(parts)


def test_quantiles_of_smoothed_data_are_within_one_bin(smoothed_folder):
    """Every stored quantile of every feature, against numpy's order statistics of the parquet
    values: the smoothed AUs overshoot [0, 1] and must still be within the promised bin."""
    stats = load_stats(smoothed_folder)["smoothed_speech"]["train"]
    au = _parquet_values(smoothed_folder, "action_units")
    assert np.nanmin(au) < 0, "the sample's smoothing no longer overshoots: this test checks nothing"
    for name in schema.FRAME_ARRAYS_BY_NAME:
        x = _parquet_values(smoothed_folder, name)
        acc = stats[name]
        if acc.spec.pooled:
            x = x.reshape(-1, 1)
        res = acc.spec.resolution
        for q, got in acc.quantiles().items():
            keep = ~np.isnan(x).all(axis=0)
            lower = np.nanquantile(x[:, keep], q, axis=0, method="lower")
            higher = np.nanquantile(x[:, keep], q, axis=0, method="higher")
            got = got[keep]
            bad = (got < lower - res - 1e-9) | (got > higher + res + 1e-9)
            assert not bad.any(), (name, q, int(np.flatnonzero(bad)[0]), got[bad][0], lower[bad][0], higher[bad][0])


def test_stats_written_with_other_histogram_ranges_read_back_as_written(sample_archives, tmp_path, monkeypatch):
    """An earlier version's stats.json (AUs in [0, 1]) still loads with its own ranges,
    re-serialises to itself and passes verify; merging it with statistics of other ranges is
    refused, naming both."""
    from felt_hf.build import stats as stats_mod
    from felt_hf.build.convert import convert_felt
    from felt_hf.build.stats import ComponentStats, HistogramSpec, document_problems
    from felt_hf.publish.verify import verify_folder

    old = HistogramSpec(0.0, 1.0, 1000)
    with monkeypatch.context() as m:  # the converter of an earlier version
        m.setattr(stats_mod, "HISTOGRAM_SPECS", dict(HISTOGRAM_SPECS, action_units=old))
        convert_felt(sample_archives, tmp_path / "felt", configs=["smoothed_speech"], progress=False, num_proc=1)
    doc = json.loads((tmp_path / "felt" / "stats.json").read_text())
    entry = doc["configs"]["smoothed_speech"]["train"]["features"]["action_units"]
    assert entry["histogram"]["bins"] == 1000 and document_problems("action_units", entry) == []
    back = load_stats(tmp_path / "felt")["smoothed_speech"]["train"]["action_units"]
    assert back.spec == old and back.to_dict() == entry
    with pytest.raises(ValueError, match=r"action_units statistics with histogram .*0\.0.*into"):
        ComponentStats("action_units").merge(back)
    report = verify_folder(tmp_path / "felt")
    assert report.ok, [c.summary for c in report.checks if c.status == "fail"]


def _packed(hist: np.ndarray) -> str:
    import base64
    import zlib

    return base64.b64encode(zlib.compress(hist.astype("<i8").tobytes())).decode("ascii")


def _edited(tmp_path, rows, edit) -> Path:
    """A stats.json of ``rows`` with ``edit(entry)`` applied to train's action_units entry."""
    path = write_stats_json(tmp_path / "stats.json", {"smoothed_speech": {"train": compute_stats(rows)}})
    doc = json.loads(path.read_text())
    edit(doc["configs"]["smoothed_speech"]["train"]["features"]["action_units"])
    path.write_text(json.dumps(doc))  # (Python's json writes NaN, as a hand edit in Python would)
    return path


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda e: e["mean"].__setitem__(3, float("nan")), r"features\.action_units\.mean\[3\]: nan is not a finite"),
        (lambda e: e["mean"].__setitem__(3, None), r"features\.action_units\.mean\[3\]: None is not a finite"),
        (lambda e: e["count"].__setitem__(3, 2.7), r"features\.action_units\.count\[3\]: 2\.7 is not a whole"),
        (lambda e: e["count"].__setitem__(3, -1), r"features\.action_units\.count\[3\]: -1 is not a whole"),
        (lambda e: e["m2"].__setitem__(3, -5.0), r"features\.action_units\.m2\[3\]: -5\.0 is not a finite number >= 0"),
        (lambda e: e.__setitem__("mean", e["mean"][:5]), r"features\.action_units\.mean: 5 values, expected 20"),
        (lambda e: e.__setitem__("m2", e["m2"] * 2), r"features\.action_units\.m2: 40 values, expected 20"),
        (
            lambda e: e["count"].__setitem__(0, 10**9),
            r"features\.action_units\.count\[0\]: 1000000000 is more than num_frames",
        ),
        (lambda e: e["min"].__setitem__(2, 1e6), r"features\.action_units\.min\[2\]: 1000000\.0 is above max\[2\]"),
        (
            lambda e: e["mean"].__setitem__(2, 1e6),
            r"features\.action_units\.mean\[2\]: 1000000\.0 is outside min\.\.max",
        ),
        (
            lambda e: e["mean"].__setitem__(2, e["mean"][2] + 0.3 * (e["max"][2] - e["mean"][2])),
            r"features\.action_units\.mean\[2\]: [\d.e-]+ is not what the histogram allows \(",
        ),
        (lambda e: e["histogram"].__setitem__("data", "!!"), r"features\.action_units\.histogram\.data: "),
        (
            lambda e: e["histogram"].__setitem__("data", _packed(np.zeros((20, 2002), "<i8"))),
            r"features\.action_units\.histogram\.data: row 0 holds 0 values, count\[0\] is ",
        ),
        (
            lambda e: e["histogram"].__setitem__("data", _packed(np.full((20, 2002), -1, "<i8"))),
            r"features\.action_units\.histogram\.data: a negative count",
        ),
        (lambda e: e["histogram"].pop("pooled"), r"missing 'features\.action_units\.histogram\.pooled'"),
        (lambda e: e["histogram"].__setitem__("bins", 0), r"features\.action_units\.histogram: range \{"),
        (lambda e: e.__setitem__("histogram", []), r"features\.action_units\.histogram: an array, not an object"),
    ],
    ids=[
        "nan-mean",
        "null-mean",
        "fractional-count",
        "negative-count",
        "negative-m2",
        "short-mean",
        "long-m2",
        "count-above-frames",
        "min-above-max",
        "mean-outside",
        "mean-off-its-histogram",
        "data-not-base64",
        "histogram-zeros",
        "histogram-negative",
        "no-pooled",
        "no-bins",
        "histogram-list",
    ],  # fmt: skip
)
def test_a_stats_value_that_cannot_be_is_an_error_naming_file_split_feature_and_key(tmp_path, rows, edit, says):
    """Each of these had loaded without a word and then standardised every value wrong: a NaN mean
    made every frame "no face", a null one read as 0, a count of 2.7 as 2, a negative m2 gave std
    1; wrong lengths failed later in a numpy broadcast naming nothing."""
    path = _edited(tmp_path, rows, edit)
    with pytest.raises(ValueError, match=rf"^{path}: configs\.smoothed_speech\.train: {says}"):
        load_stats(path)


def test_a_feature_the_stats_do_not_hold_is_named_with_the_file_and_split(tmp_path, rows):
    from felt_hf.training import FeltCollator

    path = write_stats_json(tmp_path / "stats.json", {"smoothed_speech": {"train": compute_stats(rows)}})
    doc = json.loads(path.read_text())
    del doc["configs"]["smoothed_speech"]["train"]["features"]["action_units"]
    path.write_text(json.dumps(doc))
    stats = load_stats(path)["smoothed_speech"]["train"]  # (a subset of features is a valid file)
    says = rf"^{path}: configs\.smoothed_speech\.train: no statistics of 'action_units' \(they hold face_box"
    with pytest.raises(ValueError, match=says):
        FeltCollator(["landmarks", "action_units"], stats=stats)
    with pytest.raises(KeyError):  # (a mapping's miss too)
        stats["action_units"]


def test_a_config_or_split_the_file_lacks_is_named_with_the_file(tmp_path, rows):
    path = write_stats_json(tmp_path / "stats.json", {"smoothed_speech": {"train": compute_stats(rows)}})
    stats = load_stats(path)
    with pytest.raises(ValueError, match=rf"^{path}: configs\.smoothed_speech: no split 'test' \(it has train\)"):
        stats["smoothed_speech"]["test"]
    with pytest.raises(KeyError, match=r"no config 'raw_song' \(it has smoothed_speech\)"):
        stats["raw_song"]
    assert stats.get("raw_song") is None and "train" in stats["smoothed_speech"]
