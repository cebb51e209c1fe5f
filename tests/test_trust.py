"""Issue 11: bad input never ends in a traceback, a wrong number or a silently damaged dataset.

Every damaged input here is made from the real sample archives (felt_hf.synthetic.archives) by the kind of
edit a user, a flaky download or a broken tool produces; each test fails if the damage goes
through unnoticed or ends in anything but the project's one-line error.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from datasets import load_dataset

from felt_hf.build.convert import SKIPPED_REPORT, convert_felt
from felt_hf.cli import main
from felt_hf.errors import (
    FeltArchiveError,
    FeltError,
    FeltFormatError,
    FeltOutputError,
    FeltValueRangeError,
    FeltWarning,
)
from felt_hf.inputs.csv_reader import read_trial_csv
from felt_hf.inputs.sources import MemberReader, list_members
from felt_hf.schema import archive_stem
from felt_hf.synthetic.archives import make_trial

TRIAL = "01-01-05-02-01-02-03"


def copy_archives(src: Path, dst: Path, configs) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for c in configs:
        shutil.copy(src / f"{archive_stem(c)}.zip", dst)
    return dst


def rewrite_zip(path: Path, change=None, add: dict[str, bytes] | None = None, drop: set[str] | None = None) -> None:
    """Rebuild a zip: ``change(name, data) -> data`` for each CSV member, ``add`` new members."""
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    tmp = path.with_suffix(".new")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in items:
            if drop and info.filename in drop:
                continue
            if change and info.filename.endswith(".csv") and "/._" not in info.filename:
                data = change(info.filename, data)
            out.writestr(info.filename, data)
        for name, data in (add or {}).items():
            out.writestr(name, data)
    tmp.replace(path)


def csv_members(path: Path) -> list[str]:
    return [m.member for m in list_members(path)]


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(args)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


# --- item 3: bad input is one located line ----------------------------------------------------
def _set_encrypted_flag(path: Path, member: str) -> None:
    """Set the 'encrypted' bit of one member in the local header and the central directory, as a
    password-protected zip has it (Python's zipfile cannot write encrypted members)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    raw[info.header_offset + 6] |= 0x1  # local header: general purpose flags at offset 6
    name = member.encode()
    pos = 0
    while (pos := raw.find(b"PK\x01\x02", pos)) >= 0:  # central directory entries
        n = struct.unpack_from("<H", raw, pos + 28)[0]
        if bytes(raw[pos + 46 : pos + 46 + n]) == name:
            raw[pos + 8] |= 0x1
        pos += 4
    path.write_bytes(bytes(raw))


def test_encrypted_member_is_a_located_error(sample_archives, tmp_path, capsys):
    data = copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    z = data / "raw_motion_speech.zip"
    member = csv_members(z)[0]
    _set_encrypted_flag(z, member)
    with zipfile.ZipFile(z) as zf, pytest.raises(RuntimeError):
        zf.read(member)  # the damage is real: zipfile itself refuses without a password
    (m,) = [m for m in list_members(z) if m.member == member]
    with pytest.raises(FeltArchiveError) as e:
        MemberReader().read_record(m)
    assert e.value.archive == str(z) and e.value.file == member and "encrypted" in str(e.value)
    rc, _, err = run_cli(["convert", str(data), "--out", str(tmp_path / "o"), "--no-progress"], capsys)
    assert rc == 2 and err.startswith("felt-hf: error:") and member in err and "encrypted" in err
    assert len(err.strip().splitlines()) == 1


def test_zip_bomb_member_is_refused_without_inflating(tmp_path, capsys):
    """300 MB of one byte deflates to ~300 KB: refused from the central directory, never allocated."""
    import tracemalloc

    z = tmp_path / "raw_motion_speech.zip"
    name = f"Actor_03/{TRIAL}.csv"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w", force_zip64=True) as fh:
        chunk = b"0" * (1 << 20)
        for _ in range(300):
            fh.write(chunk)
    assert z.stat().st_size < 2_000_000
    (m,) = list_members(z)
    reader = MemberReader()
    tracemalloc.start()
    with pytest.raises(FeltArchiveError, match="refused without inflating") as e:
        reader.read_record(m)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    reader.close()
    assert peak < 20 * 1024**2 and e.value.file == name and e.value.archive == str(z)
    rc, _, err = run_cli(["convert", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"], capsys)
    assert rc == 2 and name in err and "refused without inflating" in err


def test_small_but_extreme_ratio_member_is_refused(tmp_path):
    z = tmp_path / "raw_motion_speech.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{TRIAL}.csv", b"1" * (20 * 1024**2))
    (m,) = list_members(z)
    with pytest.raises(FeltArchiveError, match="compression ratio"):
        MemberReader().read_record(m)


def test_a_silent_wav_is_held_to_the_size_limit_not_a_csvs_ratio(tmp_path):
    """A 60 s take of near silence deflates ~1000:1 and had been refused as "not a tracking CSV's"
    ratio; a wav is bounded by the size limit, and the messages name what the member is."""
    from felt_hf.inputs.sources import check_member_info

    z = tmp_path / "Audio_Speech_Actors.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Actor_01/03-01-01-01-01-01-01.wav", bytes(20 * 1024**2))
        zf.writestr("Actor_01/01-01-01-01-01-01-01.mp4", bytes(20 * 1024**2))
    wav, mp4 = zipfile.ZipFile(z).infolist()
    check_member_info(wav, str(z))
    with pytest.raises(FeltArchiveError, match=r"is not a FELT or RAVDESS video's \(a CSV's is about 2.5:1"):
        check_member_info(mp4, str(z))
    wav.file_size = 100 * 1024**2
    with pytest.raises(FeltArchiveError, match="more than any RAVDESS wav"):
        check_member_info(wav, str(z))


def test_header_with_stray_carriage_return(sample_archives, tmp_path, capsys):
    clean = make_trial(TRIAL, seed=3, num_frames=40).raw_csv()
    bad = clean[:30] + b"\r" + clean[30:]
    with pytest.raises(FeltFormatError) as e:
        read_trial_csv(bad, name="x.csv")
    assert e.value.row == 0 and "carriage return" in str(e.value)
    data = copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    z = data / "raw_motion_speech.zip"
    target = csv_members(z)[1]
    rewrite_zip(z, lambda n, d: d[:30] + b"\r" + d[30:] if n == target else d)
    rc, _, err = run_cli(["convert", str(data), "--out", str(tmp_path / "o"), "--no-progress"], capsys)
    assert rc == 2 and f"{z}:{target}, row 0" in err and "carriage return" in err


def test_output_folder_with_a_python_file(sample_archives, tmp_path, capsys):
    out = tmp_path / "felt"
    out.mkdir()
    (out / "felt.py").write_text("print('loading script')\n")
    rc, _, err = run_cli(["convert", str(sample_archives), "--out", str(out), "--no-progress"], capsys)
    assert rc == 2 and "felt.py" in err and err.startswith("felt-hf: error:")
    with pytest.raises(FeltOutputError):
        convert_felt(sample_archives, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["felt.py"]  # nothing written


def test_push_without_token_or_network_is_one_line(sample_hub, tmp_path):
    """The real HfApi, no token / a hub that refuses connections / offline mode: exit 2, one line."""
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HF_")}
    base.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cases = [
        ({"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}, "no Hugging Face token"),
        ({"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_fake"}, "ConnectError"),
        ({"HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_fake"}, "offline"),
    ]
    for extra, expected in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "felt_hf.cli", "push", str(sample_hub), "--repo-id", "someone/felt"],
            env={**base, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        # the sample is synthetic and the push public: one provenance warning may come first
        lines = [x for x in proc.stderr.strip().splitlines() if not x.startswith("felt-hf: warning: ")]
        assert len(lines) == 1 and lines[0].startswith("felt-hf: error:") and expected in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
        assert "hf_fake" not in proc.stderr + proc.stdout


def test_missing_path_and_bad_sample_are_exit_2(tmp_path, capsys):
    rc, _, err = run_cli(["verify", str(tmp_path / "nope")], capsys)
    assert rc == 2 and "no such file or folder" in err
    rc, _, err = run_cli(["verify", str(tmp_path), "--sample", "0"], capsys)
    assert rc == 2


# --- item 4: no silently wrong numbers ----------------------------------------------------------
def _replace_cell(data: bytes, row: int, column: str, value: str) -> bytes:
    lines = data.split(b"\r\n")
    names = lines[0].decode().split(",")
    cells = lines[row].decode().split(",")
    cells[names.index(column)] = value
    lines[row] = ",".join(cells).encode()
    return b"\r\n".join(lines)


@pytest.mark.parametrize("value", ["3.5e38", "-1e39", "1e400", "inf", "-inf"])
def test_float32_overflow_is_located(value):
    data = _replace_cell(make_trial(TRIAL, seed=3, num_frames=40).raw_csv(), 5, "x_12", value)
    with pytest.raises(FeltValueRangeError) as e:
        read_trial_csv(data, name="t.csv")
    assert (e.value.file, e.value.row, e.value.column) == ("t.csv", 5, "x_12")


def test_an_overflow_read_from_an_archive_keeps_its_type_and_names_the_archive(tmp_path):
    """The reader adds the archive to an error raised while parsing a member; the error's type
    must survive that (a caller catching FeltValueRangeError must still catch it)."""
    from felt_hf.inputs.sources import MemberReader, list_members

    data = _replace_cell(make_trial(TRIAL, seed=3, num_frames=40).raw_csv(), 5, "x_12", "1e39")
    archive = tmp_path / "raw_motion_speech.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{TRIAL}.csv", data)
    reader = MemberReader()
    try:
        with pytest.raises(FeltValueRangeError) as e:
            reader.read_record(list_members(archive)[0])
    finally:
        reader.close()
    assert (e.value.archive, e.value.file, e.value.row, e.value.column) == (str(archive), f"{TRIAL}.csv", 5, "x_12")


def test_largest_float32_still_reads():
    data = _replace_cell(make_trial(TRIAL, seed=3, num_frames=40).raw_csv(), 5, "x_12", "3.4e38")
    assert float(read_trial_csv(data).arrays["landmarks"][4, 12, 0]) == pytest.approx(3.4e38, rel=1e-6)


@pytest.mark.parametrize("value", ["2147483648", "4294967296", "1e30"])
def test_frame_beyond_int32_is_located(value):
    data = _replace_cell(make_trial(TRIAL, seed=3, num_frames=40).raw_csv(), 40, "frame", value)
    with pytest.raises(FeltValueRangeError) as e:
        read_trial_csv(data, name="t.csv")
    assert (e.value.row, e.value.column) == (40, "frame") and "int32" in str(e.value)


def test_largest_int32_frame_reads_unchanged():
    data = _replace_cell(make_trial(TRIAL, seed=3, num_frames=40).raw_csv(), 40, "frame", "2147483647")
    assert int(read_trial_csv(data).frame[-1]) == 2147483647


def test_archive_without_trials_stops_the_conversion(tmp_path, capsys):
    with zipfile.ZipFile(tmp_path / "raw_motion_song.zip", "w") as zf:
        zf.writestr("__MACOSX/._x.csv", b"junk")
        zf.writestr("readme.txt", b"nothing here")
    with pytest.raises(FeltFormatError, match="holds no trial CSV"):
        convert_felt(tmp_path, tmp_path / "o", progress=False)
    rc, _, err = run_cli(["convert", str(tmp_path), "--out", str(tmp_path / "o"), "--skip-bad"], capsys)
    assert rc == 2 and "holds no trial CSV" in err and not (tmp_path / "o" / "README.md").exists()


def test_raw_and_smoothed_with_different_trials_warn_and_say_so_in_the_card(sample_archives, tmp_path):
    data = copy_archives(sample_archives, tmp_path / "in", ["raw_speech", "smoothed_speech"])
    z = data / "smoothed_motion_speech.zip"
    gone = csv_members(z)[0]
    rewrite_zip(z, drop={gone})
    with pytest.warns(FeltWarning, match="hold different trials"):
        summary = convert_felt(data, tmp_path / "o", progress=False)
    card = (tmp_path / "o" / "README.md").read_text()
    assert summary["warnings"] and "raw_speech and smoothed_speech hold different trials" in card
    assert Path(gone).stem in card


def test_a_split_of_the_rule_without_trials_warns_and_the_card_says_which_configs_lack_it(sample_archives, tmp_path):
    """`holdout=23-24` on an input without those actors had left the configs without a holdout
    split in silence, while the card listed it (and called the custom rule "the default rule,
    balanced by sex")."""
    data = copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech", "raw_song"])
    rule = {"train": (1, 2), "validation": (19, 20), "test": (21, 22), "holdout": (23, 24)}
    with pytest.warns(FeltWarning) as caught:
        convert_felt(data, tmp_path / "o", progress=False, split_actors=rule)
    said = sorted(str(w.message) for w in caught)
    assert said == [f"{c}: no trial in split(s) holdout (actors 23-24): the config has no such split"
                    for c in ("raw_song", "smoothed_speech")]  # fmt: skip
    card = (tmp_path / "o" / "README.md").read_text()
    assert "Split `holdout` holds no trial of `raw_song`, `smoothed_speech`" in card
    assert "This build's rule (`--split-actors`):" in card and "The default rule is balanced" not in card
    assert "holdout" not in load_dataset(str(tmp_path / "o"), "raw_song")


# --- item 5: --skip-bad covers every per-member failure ---------------------------------------
def test_skip_bad_reports_bad_names_and_bad_members_with_reasons(sample_archives, tmp_path):
    data = copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    z = data / "raw_motion_speech.zip"
    members = csv_members(z)
    overflow, encrypted = members[0], members[1]
    good = make_trial(TRIAL, seed=1, num_frames=40).raw_csv()
    rewrite_zip(
        z,
        lambda n, d: _replace_cell(d, 3, "Yaw", "1e39") if n == overflow else d,
        add={
            "Actor_03/not-a-trial.csv": good,
            "Actor_03/01-02-01-01-01-01-03.csv": good,  # a song trial in the speech archive
            "Actor_99/01-01-01-01-01-01-99.csv": good,  # actor 99
        },
    )
    _set_encrypted_flag(z, encrypted)
    with pytest.raises(FeltError):
        convert_felt(data, tmp_path / "strict", progress=False)
    summary = convert_felt(data, tmp_path / "o", progress=False, skip_bad=True, num_proc=2)
    report = json.loads((tmp_path / "o" / SKIPPED_REPORT).read_text())["skipped"]
    reasons = {s["member"]: s["error"] for s in report}
    assert set(reasons) == {
        overflow,
        encrypted,
        "Actor_03/not-a-trial.csv",
        "Actor_03/01-02-01-01-01-01-03.csv",
        "Actor_99/01-01-01-01-01-01-99.csv",
    }
    assert "float32" in reasons[overflow] and "'Yaw'" in reasons[overflow]
    assert "encrypted" in reasons[encrypted]
    assert "not a RAVDESS trial name" in reasons["Actor_03/not-a-trial.csv"]
    assert "song trial in a speech archive" in reasons["Actor_03/01-02-01-01-01-01-03.csv"]
    assert "actor 99" in reasons["Actor_99/01-01-01-01-01-01-99.csv"]
    assert (
        all(s["archive"] == "in/raw_motion_speech.zip" for s in report) and summary["skipped"] == 5
    )  # (not this machine's path)
    total = sum(s["num_examples"] for s in summary["configs"]["raw_speech"]["splits"].values())
    assert total == len(members) - 2
    assert "5 input file(s) could not be converted" in (tmp_path / "o" / "README.md").read_text()
    from felt_hf.publish.verify import verify_folder

    report = verify_folder(tmp_path / "o")
    assert report.ok and [c.status for c in report.checks if c.name == "skipped"] == ["warn"], report.table()
    (tmp_path / "o" / SKIPPED_REPORT).unlink()
    assert not verify_folder(tmp_path / "o").ok


def test_skip_bad_still_stops_on_a_whole_archive_failure(sample_archives, tmp_path, capsys):
    data = copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    z = data / "raw_motion_speech.zip"
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    rc, _, err = run_cli(["convert", str(data), "--out", str(tmp_path / "o"), "--skip-bad"], capsys)
    assert rc == 2 and "cannot open the archive" in err and not (tmp_path / "o" / "README.md").exists()


# --- item 7: an earlier build is replaced as one unit -------------------------------------------
def test_earlier_configs_are_refused_then_removed_with_overwrite(sample_archives, tmp_path, capsys):
    from felt_hf.publish.verify import verify_folder

    data = copy_archives(sample_archives, tmp_path / "in", ["raw_song", "smoothed_song"])
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False)
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    rc, _, err = run_cli(["convert", str(data), "--out", str(out), "--configs", "smoothed_song"], capsys)
    assert rc == 2 and "raw_song" in err and "--overwrite" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before  # untouched
    rc, _, _ = run_cli(
        ["convert", str(data), "--out", str(out), "--configs", "smoothed_song", "--overwrite", "--no-progress"], capsys
    )
    assert rc == 0 and not (out / "raw_song").exists()
    report = verify_folder(out)
    assert report.ok, report.table()
    assert "raw_song" not in (out / "README.md").read_text().split("---")[1]


def test_error_subclasses_survive_worker_processes():
    import pickle

    for err in (
        FeltArchiveError("m.csv", "encrypted", archive="a.zip"),
        FeltValueRangeError("m.csv", "too big", row=3, column="x_1", archive="a.zip"),
    ):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and (back.row, back.column) == (err.row, err.column)


def test_builder_errors_wrapped_by_datasets_are_one_line(sample_archives, tmp_path, capsys):
    """datasets wraps the builder's FeltFormatError in DatasetGenerationError; the CLI unwraps it."""
    data = copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    z = data / "raw_motion_speech.zip"
    target = csv_members(z)[0]
    rewrite_zip(z, lambda n, d: _replace_cell(d, 2, "Roll", "-7e38") if n == target else d)
    rc, _, err = run_cli(["build", str(data), "--config", "raw_speech", "--cache-dir", str(tmp_path / "c")], capsys)
    assert rc == 2 and f"{target}, row 2, column 'Roll'" in err and "float32" in err


def test_overwrite_touches_only_an_earlier_builds_shards(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from felt_hf.build.convert import earlier_configs

    (tmp_path / "mine").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "mine" / "data.parquet")
    (tmp_path / "raw_song").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "raw_song" / "train-00000-of-00001.parquet")
    assert earlier_configs(tmp_path, ["smoothed_song"]) == ["raw_song"]
    assert earlier_configs(tmp_path, ["smoothed_song", "raw_song"]) == []
