"""The `felt-hf` command line: clear one-line errors, push dry-run, the demo's summary."""

from __future__ import annotations

import shutil

from felt_hf.cli import main


def test_convert_missing_archive_is_one_clear_line(tmp_path, capsys):
    assert main(["convert", str(tmp_path), "--out", str(tmp_path / "o"), "--configs", "raw_song", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("felt-hf: error:") and "raw_motion_song.zip" in err and "Traceback" not in err


def test_convert_then_push_dry_run(sample_archives, tmp_path, capsys):
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(sample_archives / "smoothed_motion_song.zip", data)
    out = tmp_path / "felt"
    assert main(["convert", str(data), "--out", str(out), "--no-progress"]) == 0
    assert "smoothed_song: train" in capsys.readouterr().out
    assert main(["push", str(out), "--repo-id", "someone/felt", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "someone/felt" in text and "smoothed_song/train-00000-of-" in text and "README.md" in text


def test_build_prints_a_summary(sample_archives, tmp_path, capsys):
    assert main(["build", str(sample_archives), "--config", "raw_speech", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "validation" in out and "test" in out and "landmarks (" in out
