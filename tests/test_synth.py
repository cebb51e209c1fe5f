"""The generator must be faithful to FELT: these tests parse its output with the stdlib ``csv``
module (never with project code) and check every documented quirk, determinism and realism."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from felt_hf import schema, synth
from felt_hf.inputs.smoothing import forward_fill, smooth_columns
from felt_hf.ravdess import expected_trial_ids, parse_trial_id

ID_RE = re.compile(r"^\d\d-\d\d-\d\d-\d\d-\d\d-\d\d-\d\d$")
NUMERIC = [c for c in schema.PYFEAT_DATA_COLUMNS if c not in ("Identity", "input", "frame", "approx_time")]


def _plans(seed: int = 0):
    return [synth._plan(i, seed) for i in expected_trial_ids()]


def _first(pred, seed: int = 0) -> str:
    return next(p.labels.trial_id for p in _plans(seed) if pred(p))


@pytest.fixture(scope="module")
def quirky_ids() -> dict[str, str]:
    """One trial id of each kind, found from the cheap plans of all 2452 trials."""
    return {
        "leading": _first(lambda p: p.leading_no_face > 0),
        "middle": _first(lambda p: p.no_face_frames and p.leading_no_face == 0),
        "two_face": _first(lambda p: p.two_face_frames and not p.no_face_frames),
        "plain": _first(lambda p: not p.no_face_frames and not p.two_face_frames),
    }


def parse(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV, with the stdlib reader (and a check of the Windows line endings)."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def floats(header: list[str], rows: list[list[str]], name: str) -> np.ndarray:
    i = header.index(name)
    return np.array([float(r[i]) if r[i] != "" else np.nan for r in rows])


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, Path]:
    return synth.write_sample(tmp_path_factory.mktemp("sample"), num_proc=2)


# --- determinism --------------------------------------------------------------------------------------
def test_zips_byte_identical_across_runs(tmp_path):
    kw = dict(actors=(19, 20), channels=("song",), trials_per_actor=1, seed=5, progress=False)
    first = synth.write_archives(tmp_path / "a", num_proc=2, **kw)
    second = synth.write_archives(tmp_path / "b", num_proc=1, **kw)
    assert set(first) == set(second) == {"raw_song", "smoothed_song"}
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
            assert {i.date_time for i in zf.infolist()} == {synth.ZIP_DATE_TIME}
            assert {i.compress_type for i in zf.infolist() if not i.is_dir()} == {zipfile.ZIP_DEFLATED}
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_make_trial_independent_of_other_trials(quirky_ids):
    tid = quirky_ids["plain"]
    alone = synth.make_trial(tid, seed=3)
    for other in expected_trial_ids("song", (5,))[:3]:
        synth.make_trial(other, seed=3)
    again = synth.make_trial(tid, seed=3)
    assert alone.raw_csv() == again.raw_csv() and alone.smoothed_csv() == again.smoothed_csv()
    assert synth.make_trial(tid, seed=4).raw_csv() != alone.raw_csv()


def test_precompressed_members_match_zipfile(tmp_path):
    data = synth.make_trial("01-02-03-01-01-01-05").raw_csv()
    for path, own in ((tmp_path / "a.zip", True), (tmp_path / "b.zip", False)):
        with zipfile.ZipFile(path, "w") as zf:
            info = synth._zip_info("Actor_05/01-02-03-01-01-01-05.csv")
            if own:
                synth._write_deflated(zf, info, synth._deflate(data, 6))
            else:
                zf.writestr(info, data, compresslevel=6)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.testzip() is None and zf.read(zf.namelist()[0]) == data


# --- trial lists --------------------------------------------------------------------------------------
def test_full_trial_lists():
    assert len(synth.select_trials("speech", 7, None)) == 60
    assert len(synth.select_trials("song", 7, None)) == 44
    assert synth.select_trials("song", 18, None) == []
    assert synth.select_trials("song", 18, 5) == []


def test_subsets_deterministic_and_cover_emotions():
    sub = synth.select_trials("speech", 3, 8, seed=1)
    assert sub == synth.select_trials("speech", 3, 8, seed=1) and len(sub) == 8 == len(set(sub))
    assert len({parse_trial_id(t).emotion for t in sub}) >= 6
    assert all(parse_trial_id(t).actor == 3 for t in sub)


def test_sample_members_and_splits(sample):
    actors = set()
    for config, path in sample.items():
        variant, channel = schema.config_parts(config)
        assert path.name == f"{variant}_motion_{channel}.zip"
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            assert names == sorted(names)
            csvs = [n for n in names if n.endswith(".csv") and not Path(n).name.startswith("._")]
            assert any(n.startswith("__MACOSX/") for n in names)
            assert any(Path(n).name.startswith("._") for n in names)
            assert any(not n.endswith((".csv", "/")) for n in names)
            for n in csvs:
                parts = n.split("/")
                assert not n.startswith("__MACOSX/")
                assert re.fullmatch(r"Actor_\d\d", parts[-2]) and ID_RE.match(parts[-1][:-4]), n
                labels = parse_trial_id(parts[-1])
                assert parts[-2] == f"Actor_{labels.actor:02d}" and labels.vocal_channel == channel
                actors.add(labels.actor)
    assert actors == set(synth.SAMPLE_ACTORS)
    for split, members in schema.DEFAULT_SPLIT_ACTORS.items():
        assert actors & set(members), split
    assert (sample["raw_speech"].parent / synth.MARKER_FILENAME).exists()


def test_extracted_matches_zipped(tmp_path):
    kw = dict(actors=(21,), channels=("song",), trials_per_actor=2, progress=False, num_proc=1)
    zipped = synth.write_archives(tmp_path / "z", **kw)
    folders = synth.write_archives(tmp_path / "f", extracted=True, **kw)
    for name, folder in folders.items():
        assert folder.is_dir() and folder.name == Path(zipped[name]).stem
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.csv")}
        files = {k: v for k, v in files.items() if not Path(k).name.startswith("._")}
        with zipfile.ZipFile(zipped[name]) as zf:
            members = {n.split("/", n.count("/") - 1)[-1]: zf.read(n) for n in zf.namelist()}
        assert files and all(re.fullmatch(r"Actor_21/[\d-]+\.csv", k) for k in files)
        assert all(members[k] == v for k, v in files.items())


def test_interrupted_run_leaves_no_archive(tmp_path, monkeypatch):
    calls = []

    def failing(trial_id, **kw):
        calls.append(trial_id)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return make_trial(trial_id, **kw)

    make_trial = synth.make_trial
    monkeypatch.setattr(synth, "make_trial", failing)
    with pytest.raises(KeyboardInterrupt):
        synth.write_archives(
            tmp_path, actors=(2,), channels=("speech",), trials_per_actor=3, num_proc=1, progress=False
        )
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob("*.tmp"))


# --- the CSV text -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["plain", "middle", "leading", "two_face"])
def test_headers_layouts_and_text(quirky_ids, kind):
    trial = synth.make_trial(quirky_ids[kind])
    resaved = kind in ("middle", "leading")
    assert trial.raw_layout == ("raw_resaved" if resaved else "raw")
    assert trial.smoothed_layout == ("smoothed_resaved" if resaved else "smoothed")
    for data, layout in ((trial.raw_csv(), trial.raw_layout), (trial.smoothed_csv(), trial.smoothed_layout)):
        header, rows = parse(data)
        assert data.split(b"\r\n", 1)[0].decode() == ",".join(schema.header_for(layout))
        assert tuple(header) == schema.header_for(layout)
        assert all(len(r) == len(header) for r in rows) and len(rows) == trial.num_rows
        frames = [int(r[header.index("frame")]) for r in rows]
        assert frames[0] == 0 and sorted(set(frames)) == list(range(trial.num_frames))
        assert 90 <= trial.num_frames <= 150
        second = "frame" if layout == "raw" else "frame.1"
        assert [int(r[len(header) - 1 - header[::-1].index(second)]) for r in rows] == frames
        if resaved:
            assert [int(r[0]) for r in rows] == list(range(len(rows)))
        times = [r[header.index("approx_time")] for r in rows]
        assert times == [f"{int(f / schema.FPS) // 60:02d}:{int(f / schema.FPS) % 60:02d}" for f in frames]
        source = {r[header.index("input")] for r in rows}
        assert len(source) == 1
        (path,) = source
        actor = f"Actor_{trial.labels.actor:02d}"
        assert re.fullmatch(r"[A-Z]:\\[^/]+", path) and path.endswith(f"\\{actor}\\{trial.trial_id}.mp4")


def test_floats_written_like_pandas_at_full_precision(quirky_ids):
    header, rows = parse(synth.make_trial(quirky_ids["two_face"]).raw_csv())
    cells = [r[header.index(c)] for r in rows for c in NUMERIC]
    assert all(c == repr(float(c)) for c in cells)  # pandas' float format, NaN aside
    digits = [len(c.lstrip("-").replace(".", "").lstrip("0").split("e")[0]) for c in cells]
    assert np.mean(np.array(digits) >= 16) > 0.8  # full float64 precision, ~17 significant digits
    assert max(digits) == 17
    for c in schema.FACE_BOX_COLUMNS:
        assert all(re.fullmatch(r"\d+\.0", r[header.index(c)]) for r in rows)


# --- quirks ---------------------------------------------------------------------------------------------
def test_quirk_rates_over_all_trials():
    plans = _plans()
    n = len(plans)
    assert n == 2452
    middle = sum(bool(p.no_face_frames) and p.leading_no_face == 0 for p in plans) / n
    leading = sum(p.leading_no_face > 0 for p in plans) / n
    two = sum(bool(p.two_face_frames) for p in plans) / n
    assert 0.01 < middle < 0.06 and 0.002 < leading < middle and 0.01 < two < 0.06


def test_no_face_rows(quirky_ids):
    trial = synth.make_trial(quirky_ids["middle"])
    header, rows = parse(trial.raw_csv())
    gap = [i for i, r in enumerate(rows) if int(r[header.index("frame")]) in trial.no_face_frames]
    assert gap and gap[0] > 0
    ident = [r[header.index("Identity")] for r in rows]
    assert {ident[i] for i in range(len(rows)) if i not in gap} == {"Person_0"}
    assert len({ident[i] for i in gap}) == len(gap) and "Person_0" not in {ident[i] for i in gap}
    cols = [header.index(c) for c in NUMERIC]
    for i in gap:  # FELT forward-filled them in place
        assert [rows[i][c] for c in cols] == [rows[gap[0] - 1][c] for c in cols]
    assert all(rows[i][c] != "" for i in range(len(rows)) for c in cols)


def test_leading_no_face_rows_stay_nan(quirky_ids):
    trial = synth.make_trial(quirky_ids["leading"])
    header, rows = parse(trial.raw_csv())
    k = trial.leading_no_face
    cols = [header.index(c) for c in NUMERIC]
    assert all(rows[i][c] == "" for i in range(k) for c in cols)
    assert all(rows[k][c] != "" for c in cols)
    ident = [r[header.index("Identity")] for r in rows]
    # Py-Feat names identity clusters in order of first appearance: the gaps come first here.
    assert ident[:k] == [f"Person_{i}" for i in range(k)] and set(ident[k:]) >= {f"Person_{k}"}
    sh, srows = parse(trial.smoothed_csv())
    for c in schema.SMOOTHED_COLUMNS:
        assert all(r[sh.index(c)] == "" for r in srows), c
    assert all(r[sh.index("FaceScore")] != "" for r in srows[k:])


def test_two_face_frames(quirky_ids):
    trial = synth.make_trial(quirky_ids["two_face"])
    header, rows = parse(trial.raw_csv())
    frames = [int(r[header.index("frame")]) for r in rows]
    dup = [i for i in range(1, len(rows)) if frames[i] == frames[i - 1]]
    assert dup and sorted({frames[i] for i in dup}) == list(trial.two_face_frames)
    assert len(rows) == trial.num_frames + len(dup)
    score, x, w = (floats(header, rows, c) for c in ("FaceScore", "FaceRectX", "FaceRectWidth"))
    for i in dup:
        assert score[i - 1] > score[i] > 0.83
        assert abs((x[i] + w[i] / 2) - (x[i - 1] + w[i - 1] / 2)) > 200
        assert rows[i][header.index("Identity")] != "Person_0"
        assert rows[i - 1][header.index("Identity")] == "Person_0"


@pytest.mark.parametrize("kind", ["plain", "middle", "leading", "two_face"])
def test_smoothed_is_felts_smoothing_of_raw(quirky_ids, kind):
    trial = synth.make_trial(quirky_ids[kind])
    rh, rrows = parse(trial.raw_csv())
    sh, srows = parse(trial.smoothed_csv())
    raw = {c: forward_fill(floats(rh, rrows, c)) for c in NUMERIC}
    expected = smooth_columns(raw)
    for c in NUMERIC:
        np.testing.assert_array_equal(floats(sh, srows, c), expected[c], err_msg=c)
    for c in ("Identity", "input", "approx_time"):
        assert [r[sh.index(c)] for r in srows] == [r[rh.index(c)] for r in rrows]
    if kind != "leading":
        moved = [c for c in schema.SMOOTHED_COLUMNS if not np.array_equal(raw[c], expected[c])]
        assert len(moved) == len(schema.SMOOTHED_COLUMNS)


# --- realism ----------------------------------------------------------------------------------------------
def test_values_are_plausible_and_smooth(quirky_ids):
    trial = synth.make_trial(quirky_ids["plain"])
    header, rows = parse(trial.raw_csv())
    col = {c: floats(header, rows, c) for c in NUMERIC}
    x = np.stack([col[f"x_{i}"] for i in range(68)], 1)
    y = np.stack([col[f"y_{i}"] for i in range(68)], 1)
    step = np.hypot(np.diff(x, axis=0), np.diff(y, axis=0))
    assert np.median(step) < 3.0 and np.percentile(step, 99) < 15.0
    bx, by, bw, bh = (col[c] for c in schema.FACE_BOX_COLUMNS)
    assert np.all(bw > 200) and np.all(bw < 420) and np.all(bh > 250) and np.all(bh < 450)
    assert np.all(bx >= 0) and np.all(by >= 0) and np.all(bx + bw <= 1280) and np.all(by + bh <= 720)
    inside = (x >= bx[:, None] - 5) & (x <= (bx + bw)[:, None] + 5) & (y >= by[:, None]) & (y <= (by + bh)[:, None])
    assert inside.mean() > 0.98
    # iBUG layout: brows above eyes above nose tip above mouth above chin; right-of-image side is 16.
    assert np.all(y[:, 19] < y[:, 37]) and np.all(y[:, 37] < y[:, 30]) and np.all(y[:, 30] < y[:, 51])
    assert np.all(y[:, 57] < y[:, 8]) and np.all(x[:, 0] < x[:, 16]) and np.all(x[:, 36] < x[:, 45])
    assert np.all(np.abs(np.stack([col[c] for c in schema.POSE_COLUMNS])) < 30)
    aus = np.stack([col[a] for a in schema.AU_NAMES])
    assert np.all((aus >= 0) & (aus <= 1))
    au07 = col["AU07"]
    assert np.mean((au07 < 0.1) | (au07 > 0.9)) > 0.8  # nearly binary
    emos = np.stack([col[e] for e in schema.EMOTION_SCORE_NAMES], 1)
    np.testing.assert_allclose(emos.sum(1), 1.0, atol=1e-6)
    assert np.all((col["FaceScore"] > 0.95) & (col["FaceScore"] <= 1.0))
    emb = np.stack([col[c] for c in schema.IDENTITY_COLUMNS], 1)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def _mean_embedding(trial_id: str) -> np.ndarray:
    cols = synth.make_trial(trial_id).raw_columns
    emb = np.stack([cols[c] for c in schema.IDENTITY_COLUMNS], 1)
    return np.nanmean(emb, axis=0) / np.linalg.norm(np.nanmean(emb, axis=0))


def test_embedding_stable_per_actor():
    a1, a2 = expected_trial_ids("speech", (4,))[:2], expected_trial_ids("song", (9,))[:1]
    e = [_mean_embedding(t) for t in a1 + a2]
    assert e[0] @ e[1] > 0.9 and abs(e[0] @ e[2]) < 0.3


def test_weak_emotion_signal():
    happy, sad = [], []
    for actor in (5, 6):
        for tid in expected_trial_ids("speech", (actor,)):
            emotion = parse_trial_id(tid).emotion
            if emotion in ("happy", "sad"):
                cols = synth.make_trial(tid).raw_columns
                (happy if emotion == "happy" else sad).append(
                    (np.mean(cols["AU12"]), np.mean(cols["happiness"]), np.mean(cols["sadness"]))
                )
    h, s = np.array(happy), np.array(sad)
    assert h[:, 0].mean() > s[:, 0].mean() and h[:, 1].mean() > s[:, 1].mean() and s[:, 2].mean() > h[:, 2].mean()
    assert h[:, 0].min() < s[:, 0].max()  # a little signal, not a giveaway


def test_an_interrupted_run_keeps_the_earlier_archives_and_marker(tmp_path, monkeypatch):
    """Archives and marker are replaced as one set at the end: stopped after the first channel,
    the folder still holds the earlier run's archives and marker, and no temporary file."""
    import felt_hf.synthetic.archives as archives

    out = tmp_path / "s"
    archives.write_sample(out, seed=0)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, calls = archives._write_channel, []

    def stop_at_the_second_channel(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(archives, "_write_channel", stop_at_the_second_channel)
    with pytest.raises(KeyboardInterrupt):
        archives.write_sample(out, seed=7, num_proc=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    fresh = tmp_path / "fresh"
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        archives.write_sample(fresh, seed=7, num_proc=1)
    assert not fresh.exists()  # not even a folder holding only the marker


def test_a_channel_without_trials_for_the_actors_is_refused_before_writing(tmp_path):
    from felt_hf.synthetic.archives import write_archives

    with pytest.raises(ValueError, match=r"no RAVDESS song trials for actor\(s\) 18; nothing to write"):
        write_archives(tmp_path / "o", actors=[18], channels=("song",), progress=False)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("second", [{"channels": ("speech",)}, {"variants": ("raw",)}, {"extracted": True}])
def test_a_run_over_a_sample_that_would_leave_part_of_it_is_refused(tmp_path, second):
    """Archives this run does not write had stayed from the earlier sample under the new marker,
    and a conversion mixed two samples; refused, naming them, with the folder as it was."""
    from felt_hf.errors import FeltOutputError
    from felt_hf.synthetic.archives import write_archives

    out = tmp_path / "s"
    write_archives(out, actors=[1], trials_per_actor=2, progress=False, num_proc=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FeltOutputError, match=r"earlier sample's .*smoothed_motion_s.*which this run does not write"):
        write_archives(out, actors=[2], trials_per_actor=2, progress=False, num_proc=1, **second)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    write_archives(out, actors=[2], trials_per_actor=2, progress=False, num_proc=1)  # the whole set: replaced
    assert (out / "SYNTHETIC").read_text().count("actors=2") == 1


def test_partial_archives_are_hidden_and_removed(tmp_path, monkeypatch):
    """A killed synth had left visible ``raw_motion_speech.zip.PID.tmp`` files that no run removed,
    and a failed media write a hidden partial zip; temporary archives are hidden names a later
    run removes, and a failed media archive leaves nothing."""
    import subprocess
    import sys

    from felt_hf.atomic import temp_leftovers
    from felt_hf.synthetic import media
    from felt_hf.synthetic.archives import write_archives

    out = tmp_path / "s"
    out.mkdir()
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)  # fmt: skip
    left = out / f".raw_motion_speech.zip.{dead}.0123abcd.tmp"
    left.write_bytes(b"half a zip")
    write_archives(out, actors=[1], trials_per_actor=2, progress=False, num_proc=1)
    assert not left.exists() and temp_leftovers(out) == []

    def fails(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(media, "render_wav", fails)
    with pytest.raises(OSError):
        media.write_media(out, ["01-01-01-01-01-01-01"], kinds=(), wav_channels=("speech",), full_av_channels=())
    assert temp_leftovers(out) == [] and not list(out.glob(".Audio*"))
