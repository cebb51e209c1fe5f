"""Bad options and risky targets found by an adversarial sweep of the command line: each is one
line, exit 2, and nothing on disk is lost (every case failed before its fix)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from felt_hf.cli import main


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def speech_build(sample_archives, tmp_path) -> tuple[Path, Path]:
    data = tmp_path / "in"
    data.mkdir()
    for name in ("smoothed_motion_speech.zip", "SYNTHETIC"):
        shutil.copy(sample_archives / name, data / name)
    out = tmp_path / "felt"
    assert main(["convert", str(data), "--out", str(out), "--num-proc", "1", "--no-progress"]) == 0
    return data, out


def test_split_actors_that_select_no_trial_stop_before_touching_a_build(speech_build, capsys):
    data, out = speech_build
    before = _files(out)
    code = main(["convert", str(data), "--out", str(out), "--num-proc", "1", "--no-progress",
                 "--split-actors", "train=3-5"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "smoothed_motion_speech.zip" in err[0] and "train=3-5" in err[0], err
    assert _files(out) == before


def test_a_backwards_actor_range_is_an_option_error(speech_build, capsys):
    data, out = speech_build
    assert main(["convert", str(data), "--out", str(out), "--split-actors", "train=5-1"]) == 2
    assert "runs backwards" in capsys.readouterr().err
    assert main(["synth", str(out.parent / "s"), "--actors", "x"]) == 2


def test_a_config_named_twice_converts_once(speech_build):
    data, out = speech_build
    before = _files(out)
    assert main(["convert", str(data), "--out", str(out), "--num-proc", "1", "--no-progress",
                 "--configs", "smoothed_speech", "smoothed_speech"]) == 0  # fmt: skip
    assert _files(out) == before  # the same build, card included


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "x", "--num-proc", "0"],
        ["convert", "x", "--num-proc", "-1"],
        ["render", "x", "--num-proc", "0"],
        ["verify", "x", "--num-proc", "0"],
        ["synth", "x", "--num-proc", "-2"],
        ["synth", "WORK", "--trials-per-actor", "0"],
        ["demo", "--workdir", "WORK", "--seed", "-3"],
        ["sample", "WORK", "--seed", "1.5"],
    ],
)
def test_bad_counts_and_seeds_are_option_errors_before_any_work(argv, tmp_path, capsys):
    argv = [a.replace("WORK", str(tmp_path / "w")) for a in argv]
    assert main(argv) == 2
    assert "error: argument" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_sample_will_not_overwrite_what_may_be_a_real_download(tmp_path, capsys):
    real = tmp_path / "download"
    real.mkdir()
    (real / "raw_motion_speech.zip").write_bytes(b"the real FELT bytes")
    assert main(["sample", str(real)]) == 2
    assert "raw_motion_speech.zip already exists" in capsys.readouterr().err
    assert (real / "raw_motion_speech.zip").read_bytes() == b"the real FELT bytes"
    assert sorted(p.name for p in real.iterdir()) == ["raw_motion_speech.zip"]
    mine = tmp_path / "mine"
    assert main(["sample", str(mine)]) == 0 and main(["sample", str(mine)]) == 0  # over its own sample: fine
    (tmp_path / "afile").write_text("x")
    assert main(["sample", str(tmp_path / "afile")]) == 2


def test_sample_will_not_write_into_a_converted_folder(speech_build, capsys):
    _, out = speech_build
    before = _files(out)
    assert main(["sample", str(out)]) == 2
    assert "converted dataset folder" in capsys.readouterr().err
    assert _files(out) == before


def test_render_of_a_config_the_folder_lacks_is_an_error(speech_build, tmp_path, capsys):
    _, out = speech_build
    assert main(["render", str(out), "--config", "raw_song", "--out", str(tmp_path / "v"), "--num-proc", "1",
                 "--no-progress"]) == 2  # fmt: skip
    assert "no raw_song config here (tracking configs it has: smoothed_speech)" in capsys.readouterr().err


def test_show_and_render_name_a_damaged_shard(speech_build, tmp_path, capsys):
    _, out = speech_build
    shard = sorted((out / "smoothed_speech").glob("train-*.parquet"))[0]
    shard.write_bytes(b"not parquet at all" * 100)
    assert main(["render", str(out), "--out", str(tmp_path / "v"), "--num-proc", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and shard.name in err[0] and "cannot read this parquet shard" in err[0], err


def test_reader_warnings_are_one_line_naming_archive_and_member(sample_archives, tmp_path):
    import zipfile

    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(sample_archives / "SYNTHETIC", data / "SYNTHETIC")
    src = zipfile.ZipFile(sample_archives / "smoothed_motion_speech.zip")
    member = next(n for n in src.namelist() if n.endswith(".csv") and "/._" not in n and not n.startswith("__"))
    archive = data / "smoothed_motion_speech.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            blob = src.read(info)
            if info.filename == member:  # an older Py-Feat's file: no identity columns
                lines = blob.split(b"\r\n")
                keep = [k for k, c in enumerate(lines[0].split(b",")) if not c.startswith(b"Identity")]
                blob = b"\r\n".join(b",".join(line.split(b",")[k] for k in keep) if line else line for line in lines)
            out.writestr(info, blob)
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "felt_hf.cli", "convert", str(data), "--out", str(tmp_path / "felt"), "--num-proc",
           "2", "--no-progress"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True)  # the real command: warnings raised in a worker
    assert r.returncode == 0, r.stderr[-3000:]
    warned = [line for line in r.stderr.splitlines() if "warning" in line.lower()]
    assert warned == [f"felt-hf: warning: {archive}:{member}: no identity_embedding (Identity_1..Identity_512) "
                      "columns; filled with NaN"], warned  # fmt: skip


def test_os_errors_read_as_path_and_problem(speech_build, tmp_path, capsys):
    _, out = speech_build
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["verify", str(out), "--json", str(afile / "report.json")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"felt-hf: error: {afile}: exists and is not a folder")
    assert main(["verify", str(out), "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"felt-hf: error: {out}: is a folder; a file is needed here" and ".tmp" not in err[-1]
    assert main(["show", str(out), "01-01-01-01-02-02-01", "--out", str(afile / "sub")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"felt-hf: error: {afile / 'sub'}: a part of this path is a file, not a folder"
    )


@pytest.mark.parametrize("command", ["convert", "build"])  # (build had said the archive was not "in" the zip)
@pytest.mark.parametrize("kind", ["missing", "file"])
def test_convert_of_a_missing_folder_or_a_zip_says_so(tmp_path, capsys, kind, command):
    target = tmp_path / ("nowhere" if kind == "missing" else "raw_motion_speech.zip")
    if kind == "file":
        target.write_bytes(b"PK")
    extra = ["--out", str(tmp_path / "felt")] if command == "convert" else ["--cache-dir", str(tmp_path / "felt")]
    assert main([command, str(target), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    want = f"{target}: no such folder" if kind == "missing" else f"{target} is a file: pass the folder that holds it"
    assert len(err) == 1 and err[0].startswith(f"felt-hf: error: {want}"), err
    assert not (tmp_path / "felt").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--split-actors", "train=1-99999999999999999999"], "is not a list of actors"),
        (["--split-actors", "train=1-2000000000"], "is not a list of actors"),
        (["--split-actors", "all=1-24"], "datasets reserves it"),
    ],
)
def test_split_rules_that_cannot_be_a_dataset_are_one_line_errors(args, message, sample_archives, tmp_path, capsys):
    """A huge range was an OverflowError traceback (or a list of tens of GB); a split named 'all'
    converted and verified, and then load_dataset refused the folder."""
    from felt_hf.cli import main

    code = main(["convert", str(sample_archives), "--out", str(tmp_path / "out"), "--no-progress", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_huge_actor_ranges_are_one_line_errors(capsys):
    from felt_hf.cli import main

    assert main(["synth", "--actors", "1-99999999999999999999", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a list of actors" in err, err


@pytest.mark.parametrize(
    "command",
    [
        ["show", "{hub}", "{trial}", "--out", "{hub}/pictures"],
        ["render", "{hub}", "--config", "smoothed_speech", "--trials", "{trial}", "--out", "{hub}/videos"],
        ["verify", "{hub}", "--json", "{hub}/report.json"],
        ["demo", "--workdir", "{hub}/demo"],
    ],
)
def test_outputs_inside_a_converted_folder_are_refused(command, sample_hub, tmp_path, capsys):
    """verify fails a converted folder with stray files and push refuses it: no command but
    convert writes into one (these four did)."""
    import shutil

    from felt_hf.cli import main

    hub = tmp_path / "felt"
    shutil.copytree(sample_hub, hub)
    before = sorted(p.relative_to(hub) for p in hub.rglob("*"))
    trial = pq.read_table(next((hub / "smoothed_speech").glob("train-*.parquet")), columns=["trial_id"])
    argv = [a.format(hub=hub, trial=trial.column("trial_id")[0].as_py()) for a in command]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and f"inside the converted dataset folder {hub}" in err and len(err.splitlines()) == 1, err
    assert sorted(p.relative_to(hub) for p in hub.rglob("*")) == before


def test_render_refuses_to_write_into_its_input_folder(sample_archives, tmp_path, capsys):
    """Rendered mp4s carry FELT's trial names: inside the input folder, a later convert took them
    for FELT's Landmark_Plot videos (or failed on them as RAVDESS audio-video files)."""
    import shutil

    from felt_hf.cli import main

    inputs = tmp_path / "in"
    shutil.copytree(sample_archives, inputs)
    before = sorted(p.relative_to(inputs) for p in inputs.rglob("*"))
    for out in (inputs / "videos", inputs):
        code = main(["render", str(inputs), "--config", "smoothed_speech", "--trials", "x", "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and f"--out {out}: inside the input folder {inputs}" in err and len(err.splitlines()) == 1
    assert sorted(p.relative_to(inputs) for p in inputs.rglob("*")) == before


@pytest.mark.parametrize("command", [["show", "{zip}", "01-01-01-01-01-01-01"], ["show", "{zip}"], ["render", "{zip}"]])
def test_show_and_render_given_a_zip_say_what_to_give(command, sample_archives, tmp_path, capsys):
    """A FELT zip had been parsed as one CSV ("row 0: header is not UTF-8 text")."""
    from felt_hf.cli import main

    archive = sample_archives / "smoothed_motion_speech.zip"
    code = main([a.format(zip=archive) for a in command] + ["--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert (
        code == 2
        and err == f"felt-hf: error: {archive}: a zip archive; give the folder that holds FELT's archives, or one CSV"
    )
    assert not (tmp_path / "o").exists()


def test_demo_does_not_replace_a_build_that_is_not_its_own(sample_archives, tmp_path, capsys):
    from felt_hf.build.convert import convert_felt
    from felt_hf.cli import main

    convert_felt(sample_archives, tmp_path / "felt", configs=["raw_song"], progress=False, num_proc=1,
                 synthetic=False, source_description="someone's own build")  # fmt: skip
    card = (tmp_path / "felt" / "README.md").read_bytes()
    assert main(["demo", "--workdir", str(tmp_path)]) == 2
    assert "holds something other than an earlier demo's build" in capsys.readouterr().err
    assert (tmp_path / "felt" / "README.md").read_bytes() == card
    assert main(["demo", "--workdir", ""]) == 2


def test_a_full_disk_is_named_by_the_file_the_user_asked_for(sample_archives, tmp_path, capsys, monkeypatch):
    """A full disk had read "[Errno 28] No space left on device" (no file) or named our hidden
    temporary file; the line names the file that was being written, under its own name."""
    import errno

    import pyarrow.parquet as pq_mod

    from felt_hf.atomic import final_path_of
    from felt_hf.cli import main, os_error_text

    assert final_path_of("/o/.README.md.42.0123abcd.tmp").as_posix() == "/o/README.md"
    assert final_path_of("o/raw_speech/.tmp-42-train-00000-of-00001.parquet").as_posix() == (
        "o/raw_speech/train-00000-of-00001.parquet"
    )
    assert final_path_of("o/audio_speech/.tmp-42-media-train-00000-of-00001.parquet").as_posix() == (
        "o/audio_speech/train-00000-of-00001.parquet"  # a media shard's tag is "PID-media"
    )
    assert os_error_text(OSError(errno.EROFS, "Read-only file system", "v/.x.mp4.42.0123abcd.mp4")) == (
        "v/x.mp4: Read-only file system"
    )

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq_mod.ParquetWriter, "write_table", full)
    out = tmp_path / "o"
    code = main(["convert", str(sample_archives), "--out", str(out), "--configs", "raw_speech", "--num-proc", "1",
                 "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"felt-hf: error: {out}/raw_speech/") and err.endswith(".parquet: No space left on device")
    assert ".tmp" not in err and not out.exists()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["show", "{hub}/smoothed_speech", "{trial}"], "{hub}/smoothed_speech: a config folder of the converted folder "
         "{hub}; give {hub} (and --config smoothed_speech)"),
        (["render", "{hub}/smoothed_speech"], "{hub}/smoothed_speech: a config folder of the converted folder {hub}"),
        (["push", "{hub}/smoothed_speech", "--repo-id", "a/b", "--dry-run"], "{hub}/smoothed_speech: a config "
         "folder of the converted folder {hub}; push {hub}"),
        (["show", "{shard}", "{trial}"], "{shard}: a parquet shard; give the converted folder ({hub}) and --config "
         "smoothed_speech, or one CSV"),
    ],
    ids=["show a config folder", "render a config folder", "push a config folder", "show a shard"],
)  # fmt: skip
def test_a_config_folder_or_shard_given_for_the_folder_says_what_to_give(sample_hub, tmp_path, capsys, argv, says):
    """They had said "trial not found in config(s) smoothed_speech, smoothed_song, ..." (configs
    that are not there), asked for smoothed_motion_speech.zip, told to run convert, or parsed the
    parquet shard as a CSV ("header is not UTF-8")."""
    shard = sorted((sample_hub / "smoothed_speech").glob("train-*.parquet"))[0]
    values = {"hub": str(sample_hub), "shard": str(shard), "trial": "01-01-01-01-01-01-01"}
    out = ["--out", str(tmp_path / "o")] if argv[0] in ("show", "render") else []
    assert main([a.format(**values) for a in argv] + out) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says.format(**values) in err, err
    assert not (tmp_path / "o").exists()


def test_show_on_a_folder_without_tracking_says_so(media_archives, tmp_path, capsys):
    from felt_hf.build.convert import convert_felt

    convert_felt(media_archives, tmp_path / "felt", configs=["audio_speech"], progress=False, num_proc=1)
    assert main(["show", str(tmp_path / "felt"), "01-01-01-01-01-01-01", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"felt-hf: error: {tmp_path / 'felt'}: no tracking config here (it needs one of raw_speech, raw_song, "
        "smoothed_speech, smoothed_song)"
    )


def test_show_of_a_trial_without_landmarks_warns_and_points_to_raw(sample_hub, tmp_path, capsys):
    """A smoothed trial NaN throughout (its first frames had no face) drew empty panels in silence."""
    import numpy as np

    from felt_hf.view.viewrows import iter_rows

    empty = next(r["trial_id"] for r in iter_rows(sample_hub, "smoothed_speech")
                 if np.isnan(np.asarray(r["landmarks"], dtype=np.float32)).all())  # fmt: skip
    from felt_hf.errors import FeltWarning

    with pytest.warns(FeltWarning, match=f"trial {empty}: no landmarks in any of its .*--config raw_speech"):
        assert main(["show", str(sample_hub), empty, "--out", str(tmp_path / "a")]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", FeltWarning)
        assert main(["show", str(sample_hub), empty, "--config", "raw_speech", "--out", str(tmp_path / "b")]) == 0


def test_show_of_a_csv_path_that_does_not_exist_says_so(tmp_path, capsys):
    """A mistyped CSV path had been answered with "give a TRIAL_ID (only a single CSV needs none)"."""
    missing = tmp_path / "no_such.csv"
    assert main(["show", str(missing), "--out", str(tmp_path / "fig")]) == 2
    assert capsys.readouterr().err == f"felt-hf: error: {missing}: no such file or folder\n"
    assert not (tmp_path / "fig").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "", "--out", "x"],
        ["verify", ""],
        ["push", "", "--repo-id", "a/b", "--dry-run"],
        ["show", "", "01-01-01-01-01-01-01"],
        ["render", ""],
        ["build", ""],
    ],  # fmt: skip
)
def test_an_empty_input_path_is_refused_not_taken_for_the_current_folder(argv, tmp_path, monkeypatch, capsys):
    """``convert ''`` had converted whatever media lay below the current folder."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "'': expected a path (use . for the current folder)" in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_configs_and_split_actors_given_twice_both_count(sample_archives, tmp_path):
    """The first --configs and the first --split-actors had been dropped without a word."""
    out = tmp_path / "felt"
    argv = ["convert", str(sample_archives), "--out", str(out), "--no-progress", "--num-proc", "1",
            "--configs", "raw_speech", "--configs", "raw_song",
            "--split-actors", "train=1-18", "--split-actors", "validation=19-20", "test=21-24"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["raw_song", "raw_speech"]
    assert {p.name.split("-")[0] for p in (out / "raw_speech").glob("*.parquet")} == {"train", "validation", "test"}


@pytest.mark.parametrize(
    "rule, says",
    [
        ("train=1,1,2", "split 'train' names actor 1 twice"),
        ("tr-ain=1-18", "bad split name 'tr-ain': letters, digits and _ only"),
    ],  # fmt: skip
)
def test_split_rule_messages_say_what_is_wrong(sample_archives, tmp_path, rule, says, capsys):
    out = tmp_path / "felt"
    assert main(["convert", str(sample_archives), "--out", str(out), "--split-actors", rule, "test=19-24"]) == 2
    assert says in capsys.readouterr().err and not out.exists()


def test_verify_sample_and_json_values(speech_build, capsys):
    """``--sample 0`` is refused by the option itself (its message had promised that 0 was fine);
    a number past 2**63 means all (it had failed good shards as unreadable); ``--json ''`` is
    refused (it had silently written no report)."""
    _, out = speech_build
    assert main(["verify", str(out), "--sample", "0"]) == 2
    assert "'0': expected a whole number, at least 1, or all" in capsys.readouterr().err
    assert main(["verify", str(out), "--json", ""]) == 2
    assert "argument --json: '': expected a file path" in capsys.readouterr().err
    assert main(["verify", str(out), "--sample", str(2**63)]) == 0
    assert "unreadable" not in capsys.readouterr().out


def test_a_readme_that_is_not_a_card_is_not_replaced_without_overwrite(sample_archives, tmp_path, capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("# My project\n")
    argv = ["convert", str(sample_archives), "--out", str(out), "--configs", "raw_speech", "--no-progress"]
    assert main(argv) == 2
    assert "README.md: not the card of an earlier felt-hf build" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["README.md"]
    assert (out / "README.md").read_text() == "# My project\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*argv, "--overwrite"]) == 0
    assert (out / "README.md").read_text().startswith("---\n")
    assert main(argv) == 0  # now an earlier build's card: replaced build for build


def test_the_load_line_for_the_current_folder_loads(sample_archives, tmp_path, monkeypatch):
    """``--out .`` printed ``load_dataset("./.", ...)``, which datasets refuses."""
    from datasets import load_dataset

    from felt_hf.cli import load_line

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["convert", str(sample_archives), "--out", ".", "--configs", "raw_speech", "--no-progress"]) == 0
    line = load_line(".", "raw_speech")
    assert line == f'load_dataset("{tmp_path.resolve().as_posix()}", "raw_speech")'
    assert len(eval(line, {"load_dataset": load_dataset})["train"]) > 0


def test_num_proc_beyond_the_cores_is_capped_with_a_warning(sample_archives, tmp_path):
    """100000 had started a worker per shard (48 on 2 cores, 6.2 GB)."""
    import os

    from felt_hf.build.convert import convert_felt
    from felt_hf.errors import FeltWarning

    limit = max(os.cpu_count() or 1, 2)
    with pytest.warns(FeltWarning, match=f"--num-proc 100000: this machine has .* using {limit} worker"):
        convert_felt(sample_archives, tmp_path / "felt", configs=["raw_speech"], progress=False, num_proc=100000)


def test_sample_into_a_folder_inside_a_converted_folder_is_refused(speech_build, capsys):
    """``sample felt`` was refused but ``sample felt/smoothed_speech/zz`` wrote zips there, and
    verify then failed the dataset for the stray files."""
    _, out = speech_build
    before = _files(out)
    target = out / "smoothed_speech" / "zz"
    assert main(["sample", str(target)]) == 2
    assert f"inside the converted dataset folder {out}" in capsys.readouterr().err
    assert _files(out) == before and not target.exists()


def test_render_into_another_folder_of_felt_archives_is_refused(speech_build, tmp_path, capsys):
    """Refused inside its own input only, render had written mp4s into another download folder,
    whose next convert then failed on them (or took them for FELT's videos)."""
    data, out = speech_build
    before = _files(data)
    assert main(["render", str(out), "--out", str(data / "vv"), "--no-progress"]) == 2
    assert f"inside {data}, a folder of FELT archives" in capsys.readouterr().err
    assert _files(data) == before and not (data / "vv").exists()
