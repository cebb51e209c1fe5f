"""``scripts/regenerate.py`` / ``felt-hf regenerate`` as a user meets them: one-line errors and
exit codes before any trial, Ctrl-C, devices, truncated videos, option wording. Runs on generated
clips (``videos_fake``), so it needs neither Py-Feat nor the shared fixture videos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from felt_hf.errors import FeltError, FeltSmoothingError
from felt_hf.inputs.smoothing import smooth_block
from felt_hf.regen import pipeline
from felt_hf.regen.cli import main
from felt_hf.regen.pipeline import device_and_index, read_manifest

try:
    from videos_fake import write_clip, write_ravdess_folder
except ImportError:  # tests/ imported as a package
    from tests.videos_fake import write_clip, write_ravdess_folder

REPO = Path(__file__).resolve().parents[1]
TRIAL = "01-01-03-01-01-01-01"


@pytest.fixture
def vids(tmp_path: Path) -> Path:
    return write_ravdess_folder(tmp_path / "vids", (TRIAL,))


def standin(videos: Path | str, out: Path | str, *extra: str) -> list[str]:
    return ["--videos", str(videos), "--out", str(out), "--backend", "standin", "--device", "cpu", "--no-progress",
            *extra]  # fmt: skip


def err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# --- D5: an unwritable --out, Ctrl-C ---------------------------------------------------------------
def test_an_output_under_a_file_is_one_line_before_any_trial(vids, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(standin(vids, afile / "out")) == 2
    err = err_lines(capsys)
    assert err == [f"felt-hf: error: {afile / 'out'}: {afile} exists and is not a folder"], err
    assert afile.read_text() == "x"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (unwritable even to root)")
def test_an_unwritable_output_folder_is_refused_before_any_trial(vids, capsys, monkeypatch):
    tracked = []
    monkeypatch.setattr(pipeline, "process_trial", lambda *a, **k: tracked.append(a) or None)
    assert main(standin(vids, "/proc")) == 2
    err = err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("felt-hf: error: /proc: cannot write into this folder ("), err
    assert tracked == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (unwritable even to root)")
def test_the_script_says_an_unwritable_output_in_one_line(vids):
    """The script has no felt-hf handler around it: it printed a 20-line traceback, exit 1."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "regenerate.py"), *standin(vids, "/proc/new")],
                       capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "felt-hf: error: /proc/new: cannot write into /proc, where it would be made (No such file or directory)"
    ]


def test_ctrl_c_during_the_run_is_one_word_and_130(vids, tmp_path, capsys, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run", interrupt)
    try:
        rc = main(standin(vids, tmp_path / "out"))
    except KeyboardInterrupt:  # (the script's Python then prints its traceback)
        pytest.fail("the KeyboardInterrupt left main")
    assert rc == 130
    assert err_lines(capsys) == ["note: backend 'standin' is NOT FELT-exact", "interrupted"]


def test_the_writability_probe_leaves_nothing_behind(vids, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(standin(vids, out, "--list")) == 0
    assert not out.exists()  # --list only reads
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(standin(tmp_path / "missing", empty)) == 2  # refused after the probe: nothing left in it
    assert list(empty.iterdir()) == []


# --- D6: GPUs that are not there --------------------------------------------------------------------
def test_a_gpu_on_a_torch_without_cuda_is_one_line(vids, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    assert main(standin(vids, tmp_path / "o", "--device", "cuda:3")) == 2
    assert err_lines(capsys) == [
        f"felt-hf: error: --device cuda:3: this torch build has no CUDA (torch {torch.__version__})"
    ]
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(standin(vids, tmp_path / "o", "--device", "cuda")) == 2
    assert err_lines(capsys) == [
        "felt-hf: error: --device cuda with LOCAL_RANK=0 (torchrun): this torch build has no CUDA "
        f"(torch {torch.__version__})"
    ]
    assert not (tmp_path / "o").exists()


def test_a_gpu_index_beyond_the_gpus_is_refused(monkeypatch):
    import torch

    from felt_hf.regen.pipeline import select_gpu

    chosen = []
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    with pytest.raises(FeltError, match=r"^--device cuda:3: GPU 3 does not exist \(2 GPUs visible\)$"):
        select_gpu(3, "--device cuda:3")
    select_gpu(1, "--device cuda:1")
    assert chosen == [1]


def test_a_local_rank_that_is_no_number_names_the_variable(vids, tmp_path, capsys, monkeypatch):
    with pytest.raises(FeltError, match=r"environment variable LOCAL_RANK='abc' is not a whole number"):
        device_and_index("cuda", {"LOCAL_RANK": "abc"})
    monkeypatch.setenv("LOCAL_RANK", "abc")
    assert main(standin(vids, tmp_path / "o", "--device", "cuda")) == 2
    assert err_lines(capsys) == ["felt-hf: error: environment variable LOCAL_RANK='abc' is not a whole number"]


# --- D13: the same video reached twice, options checked before --list -------------------------------
@pytest.mark.parametrize("second", ["vids", "vids/Actor_01", "vids/Actor_01/" + TRIAL + ".mp4"])
def test_the_same_video_reached_twice_is_one_trial(vids, tmp_path, capsys, second):
    assert main(standin(vids, tmp_path / "o", "--list", "--videos", str(vids), str(tmp_path / second))) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [TRIAL]


def test_two_copies_of_a_trial_are_still_an_error(vids, tmp_path, capsys):
    write_ravdess_folder(tmp_path / "copy", (TRIAL,))
    assert main(standin(vids, tmp_path / "o", "--list", "--videos", str(vids), str(tmp_path / "copy"))) == 2
    assert "found twice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "7"], "--batch-size needs --fast"),
        (["--backend", "pyfeat2", "--fast"], "--fast applies to the Py-Feat 0.6.2 backend"),
        (["--weights", "random"], "--weights random applies to --backend pyfeat"),
    ],
)
def test_options_the_run_refuses_are_refused_by_list_too(vids, tmp_path, capsys, extra, message):
    assert main([*standin(vids, tmp_path / "o", "--list"), *extra]) == 2
    err = err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("felt-hf: error: ") and message in err[0], err


# --- D12: --videos "" -------------------------------------------------------------------------------
def test_an_empty_videos_path_is_refused_as_out_is(vids, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(vids)  # (a video under the current folder: "" had listed it)
    with pytest.raises(SystemExit) as e:
        main(standin("", tmp_path / "o", "--list"))
    assert e.value.code == 2
    assert "argument --videos: '': expected a path (use . for the current folder)" in (capsys.readouterr().err)


# --- D11: the short-clip advice names the option on the command line --------------------------------
def test_a_short_clip_failure_names_the_option_on_the_command_line(tmp_path, capsys):
    write_clip(tmp_path / "v" / "Actor_01" / f"{TRIAL}.mp4", frames=5)
    assert main(standin(tmp_path / "v", tmp_path / "o")) == 1
    err = capsys.readouterr().err
    assert "Pass --short-clip pad or --short-clip keep to accept" in err and "short_clip=" not in err
    (row,) = read_manifest(tmp_path / "o")
    assert "--short-clip pad" in row["error"]


def test_the_library_keeps_its_keyword_wording():
    with pytest.raises(FeltSmoothingError, match=r"Pass short_clip='pad' or 'keep' to accept") as e:
        smooth_block(np.zeros((5, 2)), name="x")
    assert "--short-clip pad or --short-clip keep" in e.value.command_line
    import pickle

    assert pickle.loads(pickle.dumps(e.value)).command_line == e.value.command_line


# --- D7: a truncated video ------------------------------------------------------------------------
def write_cut_clip(path: Path, frames: int = 90, keep: float = 0.7) -> Path:
    """A clip whose index comes first (faststart), cut to ``keep`` of its bytes: it opens, its
    metadata counts ``frames``, and fewer decode before "Invalid data"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = 320, 180
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.full((h, w, 3), 30, dtype=np.uint8)
            img[50:130, 40 + 2 * i : 120 + 2 * i] = (220, 180, 160)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_a_truncated_video_is_warned_about_and_its_counts_recorded(tmp_path, capsys):
    cut = write_cut_clip(tmp_path / "v" / "Actor_01" / f"{TRIAL}.mp4")
    whole = write_clip(tmp_path / "v" / "Actor_01" / "01-01-03-01-01-02-01.mp4", frames=24)
    with pytest.warns(UserWarning) as caught:
        assert main(standin(tmp_path / "v", tmp_path / "out")) == 0
    texts = [str(w.message) for w in caught]
    assert len(texts) == 1 and texts[0].startswith(f"{cut}: "), texts
    rows = {r["trial_id"]: r for r in read_manifest(tmp_path / "out")}
    lost, intact = rows[TRIAL], rows["01-01-03-01-01-02-01"]
    assert lost["status"] == "ok" and lost["metadata_frames"] == 90
    assert lost["num_frames"] <= lost["decoded_frames"] < 90
    assert f"{lost['decoded_frames']} of the 90 frames its metadata counts" in texts[0]
    assert (intact["metadata_frames"], intact["decoded_frames"], intact["num_frames"]) == (24, 24, 24)
    assert whole.is_file()


def test_the_warning_is_one_felt_hf_line_from_the_script(tmp_path):
    write_cut_clip(tmp_path / "v" / "Actor_01" / f"{TRIAL}.mp4")
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "regenerate.py"), *standin(tmp_path / "v", tmp_path / "o")],
                       capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert r.returncode == 0, r.stderr
    warned = [ln for ln in r.stderr.splitlines() if "could be decoded" in ln]
    assert len(warned) == 1 and warned[0].startswith("felt-hf: warning: "), r.stderr


def test_a_manifest_line_is_json_with_both_counts(vids, tmp_path):
    assert main(standin(vids, tmp_path / "o")) == 0
    (line,) = (tmp_path / "o" / "manifest").glob("*.jsonl")
    (row,) = [json.loads(x) for x in line.read_text().splitlines()]
    assert row["metadata_frames"] == row["decoded_frames"] == row["num_frames"] == 24


# --- an --out among FELT's zips ---------------------------------------------------------------------
def test_an_output_in_a_folder_of_felt_zips_is_refused_and_a_rerun_into_its_own_output_is_not(vids, tmp_path, capsys):
    """Regenerated folders beside FELT's zips of the same names are ignored by convert (the zips
    win): the run's output would go unused. Its own earlier output (folders, no zips) resumes."""
    download = tmp_path / "download"
    download.mkdir()
    (download / "raw_motion_speech.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an (empty) zip
    assert main(standin(vids, download / "regen")) == 2
    assert err_lines(capsys) == [
        f"felt-hf: error: --out {download / 'regen'}: inside {download}, a folder of FELT archives, whose zips "
        "felt-hf convert would read instead of the regenerated tracking; write it elsewhere"
    ]
    assert sorted(p.name for p in download.iterdir()) == ["raw_motion_speech.zip"]
    out = tmp_path / "regen"
    assert main(standin(vids, out)) == 0
    assert main(standin(vids, out)) == 0  # its own output holds raw_motion_speech/: not a download


_SIGTERM_MID_RUN = """
import os, signal, sys, time
sys.path.insert(0, {tests!r})
from felt_hf.regen import pipeline
from felt_hf.regen.cli import main

def stop(*args, **kwargs):  # a scheduler ending the job while a trial is tracked
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    raise SystemExit("still running 10 s after SIGTERM")

pipeline.run = stop
sys.exit(main({argv!r}))
"""


def test_a_sigterm_during_the_run_is_one_word_and_143(vids, tmp_path):
    """``scripts/regenerate.py`` had no SIGTERM handler: ``kill``, ``timeout`` or a batch scheduler
    ended it on the spot, without a word (exit -15). Now it stops as ``felt-hf`` does."""
    code = _SIGTERM_MID_RUN.format(tests=str(REPO / "tests"), argv=standin(vids, tmp_path / "out"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 143, (r.returncode, r.stderr[-2000:])
    assert r.stderr.strip().splitlines() == ["note: backend 'standin' is NOT FELT-exact", "terminated"]
