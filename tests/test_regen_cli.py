"""``scripts/regenerate.py`` / ``felt-hf regenerate`` as a user meets them: one-line errors and
exit codes before any trial, Ctrl-C, devices, truncated videos, option wording. Runs on generated
clips (``videos_fake``), so it needs neither Py-Feat nor the shared fixture videos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from felt_hf.regen import pipeline
from felt_hf.regen.cli import main

try:
    from videos_fake import write_ravdess_folder
except ImportError:  # tests/ imported as a package
    from tests.videos_fake import write_ravdess_folder

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
