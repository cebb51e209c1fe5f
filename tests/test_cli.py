"""The `felt-hf` command line: clear one-line errors, push dry-run, the demo's summary."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- one CLI, no dead ends (issue 10) ---------------------------------------------------------------
import argparse  # noqa: E402

from felt_hf.cli import build_parser, load_line  # noqa: E402
from felt_hf.regen.cli import build_parser as regen_parser  # noqa: E402


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_subcommand_has_help():
    parser = build_parser()
    missing = [a.dest for a in parser._actions if not a.help]
    for name, sub in _subparsers(parser).items():
        missing += [f"{name} {a.option_strings or a.dest}" for a in sub._actions if not (a.help or "").strip()]
    assert missing == []


def test_regenerate_has_exactly_the_scripts_options():
    sub = _subparsers(build_parser())["regenerate"]
    ours = {s for a in sub._actions for s in a.option_strings}
    theirs = {s for a in regen_parser()._actions for s in a.option_strings}
    assert ours == theirs and "--videos" in ours


def test_regenerate_runs_the_same_main(tmp_path, capsys):
    # --list on an empty folder: the regeneration main's own input error (exit 2), not argparse's
    assert main(["regenerate", "--videos", str(tmp_path), "--out", str(tmp_path / "o"), "--list"]) == 2
    assert "no full-AV RAVDESS videos" in capsys.readouterr().err


def test_regenerate_lists_real_videos(tmp_path, pyfeat_fixtures, capsys):
    actor = tmp_path / "Actor_01"
    actor.mkdir()
    shutil.copy(pyfeat_fixtures / "single_face.mp4", actor / "01-01-03-01-01-01-01.mp4")
    argv = ["--videos", str(tmp_path), "--out", str(tmp_path / "o"), "--list", "--shard", "0", "--num-shards", "1"]
    assert main(["regenerate", *argv]) == 0
    ours = capsys.readouterr().out
    from felt_hf.regen.cli import main as regen_main

    assert regen_main(argv) == 0
    assert capsys.readouterr().out == ours and "01-01-03-01-01-01-01\ttodo" in ours


def test_bare_command_prints_help_and_version(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: felt-hf" in out and "regenerate" in out and "exit status" in out
    assert main(["--version"]) == 0
    from felt_hf import __version__

    assert capsys.readouterr().out.strip().endswith(__version__)


def test_usage_errors_exit_2(capsys):
    assert main(["convert"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["convert", "x", "--split-actors", "train"]) == 2
    assert "SPLIT=ACTORS" in capsys.readouterr().err


def test_console_script_exit_codes(tmp_path):
    """The real process: bare call 0, user error 2 with one line and no traceback."""
    run = [sys.executable, "-m", "felt_hf.cli"]
    assert subprocess.run(run, capture_output=True).returncode == 0
    r = subprocess.run([*run, "convert", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("felt-hf: error:") and "Traceback" not in r.stderr


def test_convert_split_override_and_load_line(sample_archives, tmp_path, capsys):
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(sample_archives / "smoothed_motion_speech.zip", data)
    out = tmp_path / "felt"
    argv = ["convert", str(data), "--out", str(out), "--no-progress", "--num-proc", "1"]
    assert main([*argv, "--split-actors", "train=1-3,19", "test=20-24"]) == 0
    text = capsys.readouterr().out
    assert f'load_dataset("{out.as_posix()}", "smoothed_speech")' in text
    card = (out / "README.md").read_text()
    assert "**overrides** the default rule" in card and "| train | 1, 2, 3, 19 |" in card
    from datasets import load_dataset

    ds = load_dataset(str(out), "smoothed_speech")
    assert set(ds) == {"train", "test"}
    assert set(ds["train"]["actor"]) <= {1, 2, 3, 19} and set(ds["test"]["actor"]) <= {20, 21, 22, 23, 24}
    # overlapping splits: one-line input error
    assert main([*argv, "--split-actors", "train=1-20", "test=20-24"]) == 2
    assert "actor-disjoint" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("felt", './felt"'), ("felt_demo/felt", './felt_demo/felt"'), ("/data/felt", '"/data/felt"')],
)
def test_load_line_is_never_a_bare_name(folder, expected):
    assert load_line(folder).startswith("load_dataset(") and expected in load_line(folder)


@pytest.mark.parametrize(
    "args, says",
    [
        (["convert"], "the following arguments are required: data_dir (see `felt-hf convert --help`)"),
        (["convert", "x", "--num-proc", "0"], "argument --num-proc: '0': expected a whole number, at least 1"),
        (["no-such-command"], "argument COMMAND: invalid choice: 'no-such-command'"),
        (["regenerate", "--videos", "v", "--out", "o", "--device", "cuda:x"],
         "argument --device: 'cuda:x': expected cpu, cuda, cuda:N, mps or auto"),
        (["synth", "o", "--actors", "5-1"], "argument --actors: '5-1': range '5-1' runs backwards"),
        (["convert", "x", "--out", ""], "argument --out: '': expected a folder path (use . for the current folder)"),
        (["sample", " "], "argument out: ' ': expected a folder path"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_in_the_real_process(tmp_path, args, says):
    r = subprocess.run([sys.executable, "-m", "felt_hf.cli", *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("felt-hf: error: ") and says in r.stderr, r.stderr


def test_regenerate_script_refuses_a_device_torch_would_not_take(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "regenerate.py"
    args = [
        sys.executable,
        str(script),
        "--videos",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
        "--backend",
        "standin",
    ]
    r = subprocess.run([*args, "--device", "banana"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("felt-hf: error: argument --device: 'banana'") and "regenerate.py --help" in r.stderr
    assert not (tmp_path / "o").exists()


def _pool_after(code: str, **env: str) -> str:
    base = {k: v for k, v in __import__("os").environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    tail = "import os, pyarrow as pa; print(pa.default_memory_pool().backend_name, os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))"
    r = subprocess.run([sys.executable, "-c", f"{code}\n{tail}"], capture_output=True, text=True, env={**base, **env})
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[-2:]


def test_the_command_uses_the_system_arrow_pool_unless_told_otherwise():
    run = "from felt_hf.cli import main; main(['--version'])"
    assert _pool_after(run) == ["system", "system"]
    assert _pool_after(run, ARROW_DEFAULT_MEMORY_POOL="mimalloc") == ["mimalloc", "mimalloc"]
    # pyarrow already loaded (a notebook): its pool is fixed, and the variable is not touched
    first = _pool_after("import pyarrow\n" + run)
    assert first[1] == "None" and first[0] != "system"


def test_the_arrow_pool_does_not_change_a_byte(sample_archives, tmp_path):
    import os

    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(sample_archives / "smoothed_motion_speech.zip", data)
    outs = {}
    for pool in ("system", "mimalloc"):
        env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": pool}
        cmd = [sys.executable, "-m", "felt_hf.cli", "convert", str(data), "--out", str(tmp_path / pool),
               "--num-proc", "2", "--no-progress"]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        outs[pool] = {p.relative_to(tmp_path / pool).as_posix(): p.read_bytes()
                      for p in sorted((tmp_path / pool).rglob("*")) if p.is_file()}  # fmt: skip
    assert outs["system"] == outs["mimalloc"] and any(k.endswith(".parquet") for k in outs["system"])


@pytest.mark.parametrize("command", ["convert", "build"])
def test_a_bad_cell_is_one_line_on_stderr_without_a_bar_in_a_pipe(sample_archives, tmp_path, command):
    """stderr is a pipe here, as in CI logs: no progress bar before the error (there was one)."""
    import zipfile

    data = tmp_path / "in"
    data.mkdir()
    src = sample_archives / "smoothed_motion_speech.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(data / src.name, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith(".csv") and "/._" not in info.filename and b"," in body:
                lines = body.split(b"\n")
                cells = lines[3].split(b",")
                cells[7] = b"abc"
                lines[3] = b",".join(cells)
                body = b"\n".join(lines)
            zout.writestr(info, body)
    args = [command, str(data), "--num-proc", "1", "--out", str(tmp_path / "o")]
    if command == "build":
        args = ["build", str(data), "--cache-dir", str(tmp_path / "cache")]
    r = subprocess.run([sys.executable, "-m", "felt_hf.cli", *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("felt-hf: error: "), r.stderr
    assert "row 3" in r.stderr and "not a number" in r.stderr and "smoothed_motion_speech.zip" in r.stderr


def test_render_error_is_one_line_in_a_pipe(sample_hub, tmp_path):
    args = ["render", str(sample_hub), "--config", "smoothed_speech", "--trials", "01-01-99-02-02-02-21"]
    args += ["--out", str(tmp_path / "v"), "--num-proc", "1"]
    r = subprocess.run([sys.executable, "-m", "felt_hf.cli", *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("felt-hf: error: "), r.stderr


@pytest.mark.parametrize("where", ["build_parser", "_import_pandas_first"])
def test_ctrl_c_before_the_command_runs_is_one_line(where, monkeypatch, capsys):
    """A Ctrl-C while the parser is built or pandas is imported (before any work) is "interrupted"
    and exit 130, like one during the work; it used to be a traceback. pandas is imported there
    because pyarrow's lazy import of it swallowed a Ctrl-C (render then ran on and exited 0)."""
    from felt_hf import cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, where, interrupted)
    assert cli.main(["verify", "."]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
