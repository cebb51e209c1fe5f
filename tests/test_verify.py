"""``felt-hf verify`` on downloads and converted folders: each check passes on good input and
fails, naming what is wrong, on each kind of damage."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from felt_hf.cli import main
from felt_hf.inputs.sources import CsvMember
from felt_hf.publish.verify import (
    PUBLISHED_FILES,
    SMOOTHING_TOLERANCE,
    Report,
    _check_trial_sets,
    file_md5,
    verify_download,
    verify_folder,
    zenodo_size,
)
from felt_hf.ravdess import expected_trial_ids, parse_trial_id

try:
    from test_trust import _replace_cell, _set_encrypted_flag, csv_members, rewrite_zip
except ImportError:  # run from the repository root as a package
    from tests.test_trust import _replace_cell, _set_encrypted_flag, csv_members, rewrite_zip

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds" / "FELT_zenodo_record.txt"


def checks(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def check(report: Report, name: str):
    return next(c for c in report.checks if c.name == name)


@pytest.fixture
def download(sample_archives, tmp_path) -> Path:
    out = tmp_path / "dl"
    shutil.copytree(sample_archives, out)
    return out


# --- downloads ------------------------------------------------------------------------------------
def test_published_files_are_the_records(tmp_path):
    """The md5/size table is the record's, in its order (read from the record text itself)."""
    if not SEEDS.is_file():
        pytest.skip(f"record text not found at {SEEDS}")
    text = SEEDS.read_text()
    md5s = re.findall(r"md5:([0-9a-f]{32})", text)
    sizes = re.findall(r"^\|?\s*(\d+\.\d (?:MB|GB))", text, flags=re.M)
    assert len(md5s) == 6 and list(zip(md5s, sizes, strict=True)) == list(PUBLISHED_FILES)


def test_sample_download_report(sample_archives, tmp_path, capsys):
    report = verify_download(sample_archives, progress=False, num_proc=2)
    status = checks(report)
    assert status == {
        "checksums": "skip",  # synthetic: no published checksums
        "trial_set": "fail",  # 12 of 1440 / 1012 trials
        "names": "pass",
        "raw_vs_smoothed": "pass",
        "headers": "pass",
        "smoothing": "pass",
    }
    sets = check(report, "trial_set").details
    assert len(sets["raw_speech"]["missing"]) == 1440 - 12 and sets["raw_song"]["expected"] == 1012
    smooth = check(report, "smoothing").details
    assert smooth["trials"] == 24 and all(v < 1e-9 for v in smooth["worst"].values())
    rc = main(["verify", str(sample_archives), "--no-progress", "--json", str(tmp_path / "r.json")])
    assert rc == 1
    out = capsys.readouterr().out
    assert "FAIL  trial_set" in out and "PASS  smoothing" in out and "FAILED (1 check(s))" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["ok"] is False and [c["name"] for c in saved["checks"]] == list(status)


def test_checksums_match_by_value_and_name_the_published_file(download):
    (download / "SYNTHETIC").unlink()
    md5, size = file_md5(download / "raw_motion_song.zip")
    published = list(PUBLISHED_FILES)
    published[2] = (md5, zenodo_size(size))
    report = verify_download(download, progress=False, num_proc=1, published=published, sample=1)
    c = check(report, "checksums")
    assert c.status == "fail"  # the other three archives match nothing
    assert "raw_motion_song.zip = file #3" in c.summary and "smoothed_motion_song.zip" in c.summary
    song = next(d for d in c.details if d["archive"] == "raw_motion_song.zip")
    assert song["published_file"] == 3 and song["size_agrees"]
    real = verify_download(download, progress=False, num_proc=1, sample=1)
    assert check(real, "checksums").status == "fail" and "matches none" in check(real, "checksums").summary


def _members(ids) -> list[CsvMember]:
    return [CsvMember("x.zip", f"{i}.csv", parse_trial_id(i)) for i in ids]


def test_full_trial_set_passes_and_per_actor_counts():
    report = Report("download", "x")
    members = {f"{v}_{ch}": _members(expected_trial_ids(ch)) for v in ("raw", "smoothed") for ch in ("speech", "song")}
    _check_trial_sets(report, members)
    c = check(report, "trial_set")
    assert c.status == "pass" and c.details["raw_speech"]["found"] == 1440 and c.details["raw_song"]["found"] == 1012
    assert set(c.details["raw_speech"]["per_actor"].values()) == {60}
    assert set(c.details["raw_song"]["per_actor"].values()) == {44} and 18 not in c.details["raw_song"]["per_actor"]
    ids = expected_trial_ids("song")
    members["raw_song"] = _members(ids[1:])
    report = Report("download", "x")
    _check_trial_sets(report, members)
    c = check(report, "trial_set")
    assert c.status == "fail" and c.details["raw_song"]["missing"] == [ids[0]] and "1 missing" in c.summary


def test_smoothing_difference_beyond_tolerance_fails_and_names_the_trial(download):
    z = download / "smoothed_motion_speech.zip"
    member = next(m for m in csv_members(z) if "/._" not in m)

    def shift(delta):
        def change(name, data):
            if name != member:
                return data
            lines = data.split(b"\r\n")
            col = lines[0].decode().split(",").index("x_5")
            cell = lines[10].decode().split(",")[col]
            return _replace_cell(data, 10, "x_5", repr(float(cell) + delta))

        return change

    rewrite_zip(z, shift(SMOOTHING_TOLERANCE / 100))  # inside the tolerance: still a pass
    assert check(verify_download(download, progress=False, num_proc=1), "smoothing").status == "pass"
    rewrite_zip(z, shift(1e-3))
    c = check(verify_download(download, progress=False, num_proc=2), "smoothing")
    trial = Path(member).stem
    assert c.status == "fail" and trial in c.summary and "landmarks" in c.summary
    assert c.details["failures"][0]["worst"]["landmarks"] == pytest.approx(1e-3, rel=1e-3)


def test_a_cell_that_is_not_a_number_fails_smoothing_naming_member_row_and_column(download):
    z = download / "smoothed_motion_speech.zip"
    member = next(m for m in csv_members(z) if "/._" not in m)
    rewrite_zip(z, lambda name, data: _replace_cell(data, 10, "Pitch", "abc") if name == member else data)
    c = check(verify_download(download, progress=False, num_proc=1), "smoothing")
    assert c.status == "fail"
    assert f"{z}:{member}, row 10, column 'Pitch': not a number: 'abc'" in c.summary, c.summary


@pytest.mark.parametrize("damage", ["NA", "frames"])
def test_files_the_converter_refuses_fail_verify(download, damage):
    """verify read ``NA`` as NaN (pyarrow's null spellings, not the converter's) and never read the
    frames, so a download that ``felt-hf convert`` refuses had passed every per-file check."""
    member = None
    for stem in ("raw_motion_speech", "smoothed_motion_speech"):  # (both, so the smoothing still agrees)
        z = download / f"{stem}.zip"
        member = next(m for m in sorted(csv_members(z)) if "/._" not in m)
        if damage == "NA":
            rewrite_zip(z, lambda name, data, m=member: _replace_cell(data, 1, "anger", "NA") if name == m else data)
        else:
            rewrite_zip(z, lambda name, data, m=member: _swap_frames(data) if name == m else data)
    c = check(verify_download(download, progress=False, num_proc=1), "smoothing")
    assert c.status == "fail", c.summary
    says = "row 1, column 'anger': not a number: 'NA'" if damage == "NA" else "column 'frame'"
    assert ".zip:" in c.summary and ".csv, row" in c.summary and says in c.summary, c.summary


def _swap_frames(data: bytes) -> bytes:
    """The frame numbers of data rows 4 and 5 swapped (a frame that goes back)."""
    lines = data.split(b"\n")
    head = lines[0].decode().rstrip("\r").split(",")
    j = head.index("frame")
    cells = [line.split(b",") for line in lines[4:6]]
    cells[0][j], cells[1][j] = cells[1][j], cells[0][j]
    lines[4:6] = [b",".join(c) for c in cells]
    return b"\n".join(lines)


def test_headers_names_pairs_and_encryption_fail_with_their_member(download):
    raw = download / "raw_motion_speech.zip"
    sm = download / "smoothed_motion_speech.zip"
    members = csv_members(sm)
    renamed, raw_copy, dropped = members[0], members[1], members[2]
    raw_bytes = {m: __import__("zipfile").ZipFile(raw).read(m) for m in csv_members(raw)}
    same_name_in_raw = next(m for m in raw_bytes if Path(m).name == Path(raw_copy).name)

    def change(name, data):
        if name == renamed:
            return data.replace(b",Pitch,", b",pitch,", 1)
        if name == raw_copy:
            return raw_bytes[same_name_in_raw]  # a raw file in the smoothed archive
        return data

    rewrite_zip(sm, change, add={"Actor_01/01-01-09-01-01-01-01.csv": b"x"}, drop={dropped})
    _set_encrypted_flag(raw, csv_members(raw)[3])
    report = verify_download(download, progress=False, num_proc=2, sample=2)
    status = checks(report)
    assert status["headers"] == status["names"] == status["raw_vs_smoothed"] == "fail"
    h = check(report, "headers").details
    assert any(renamed in u and "lacks 'Pitch'" in u and "has 'pitch' besides" in u for u in h["unknown"]), h["unknown"]
    assert any(raw_copy in e and "a raw header in a smoothed archive" in e for e in h["errors"])
    assert any("encrypted" in e for e in h["errors"])
    assert "emotion 09" in check(report, "names").summary
    assert check(report, "raw_vs_smoothed").details["speech"]["only_raw"] == [Path(dropped).stem]


# --- converted folders ----------------------------------------------------------------------------
@pytest.fixture
def folder(sample_hub, tmp_path) -> Path:
    out = tmp_path / "felt"
    shutil.copytree(sample_hub, out)
    return out


def test_converted_sample_passes_every_check(folder, capsys):
    report = verify_folder(folder)
    assert report.ok and set(checks(report).values()) == {"pass"}, report.table()
    assert main(["verify", str(folder)]) == 0
    assert "=> OK" in capsys.readouterr().out


def _first_shard(folder: Path) -> Path:
    return sorted(folder.glob("smoothed_speech/train-*.parquet"))[0]


def _edit_card(folder: Path, old: str, new: str) -> None:
    card = folder / "README.md"
    text = card.read_text()
    assert old in text
    card.write_text(text.replace(old, new, 1))


def _edit_stats(folder: Path, fn) -> None:
    doc = json.loads((folder / "stats.json").read_text())
    fn(doc["configs"]["smoothed_speech"]["train"])
    (folder / "stats.json").write_text(json.dumps(doc))


def _min_up(split):
    feat = split["features"]["landmarks"]
    feat["min"][0] = feat["min"][0] + 100.0


DAMAGE = {
    "stray file": (lambda f: (f / "notes.txt").write_text("x"), "files"),
    "python file": (lambda f: (f / "smoothed_speech" / "load.py").write_text(""), "files"),
    "missing split": (lambda f: [p.unlink() for p in f.glob("raw_song/test-*")], "files"),
    "truncated shard": (lambda f: _first_shard(f).write_bytes(_first_shard(f).read_bytes()[:-100]), "files"),
    "card row count": (lambda f: _edit_card(f, "num_examples: 4", "num_examples: 5"), "footers"),
    "card download size": (lambda f: _edit_card(f, "download_size: ", "download_size: 1"), "footers"),
    "untyped shard": (
        lambda f: pq.write_table(pq.read_table(_first_shard(f)).replace_schema_metadata(None), _first_shard(f)),
        "features",
    ),
    "stats frame count": (lambda f: _edit_stats(f, lambda s: s.update(num_frames=s["num_frames"] + 1)), "stats"),
    "stats min": (lambda f: _edit_stats(f, _min_up), "stats"),
    "stats split missing": (
        lambda f: (lambda d: (d["configs"]["raw_song"].pop("test"), (f / "stats.json").write_text(json.dumps(d))))(
            json.loads((f / "stats.json").read_text())
        ),
        "stats",
    ),
    "synthetic tag removed": (lambda f: _edit_card(f, "- synthetic\n", ""), "synthetic"),
    "card licence": (lambda f: _edit_card(f, "license: cc-by-nc-sa-4.0", "license: mit"), "card"),
    "card default removed": (lambda f: _edit_card(f, "  default: true\n", ""), "card"),
    "card configs null entry": (lambda f: _edit_card(f, "\nconfigs:\n", "\nconfigs:\n- null\n"), "card"),
    # valid JSON of the wrong shape (each gave a traceback before)
    "stats is a list": (lambda f: (f / "stats.json").write_text("[1, 2]"), "stats"),
    "stats configs null": (lambda f: _edit_doc(f, lambda d: d.update(configs=None)), "stats"),
    "stats split not an object": (lambda f: _edit_doc(f, lambda d: d["configs"].update(raw_song=[])), "stats"),
    "stats features missing": (lambda f: _edit_stats(f, lambda s: s.pop("features")), "stats"),
    "stats histogram garbled": (
        lambda f: _edit_stats(f, lambda s: s["features"]["landmarks"]["histogram"].update(data="%%%")),
        "stats",
    ),
    # a hand-edited value the counts do not show (each passed before; a missing feature was a traceback)
    "stats feature missing": (lambda f: _edit_stats(f, lambda s: s["features"].pop("emotions")), "stats"),
    "stats std": (lambda f: _edit_stats(f, lambda s: _set(s, "head_pose", "std", 9.0)), "stats"),
    "stats m2": (lambda f: _edit_stats(f, lambda s: _set(s, "face_box", "m2", 1.0)), "stats"),
    "stats max lowered": (lambda f: _edit_stats(f, lambda s: _set(s, "emotions", "max", 0.5)), "stats"),
    "stats quantile": (
        lambda f: _edit_stats(f, lambda s: s["features"]["face_box"]["quantiles"]["0.5"].__setitem__(0, 1.0)),
        "stats",
    ),
    "stats unit": (lambda f: _edit_stats(f, lambda s: s["features"]["face_box"].update(unit="cm")), "stats"),
}


def _set(split: dict, feature: str, key: str, value: float) -> None:
    split["features"][feature][key][0] = value


def _edit_doc(folder: Path, change) -> None:
    doc = json.loads((folder / "stats.json").read_text())
    change(doc)
    (folder / "stats.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_each_damage_fails_its_check(folder, damage, capsys):
    fn, name = DAMAGE[damage]
    fn(folder)
    report = verify_folder(folder)
    assert checks(report)[name] == "fail", report.table()
    assert main(["verify", str(folder)]) == 1
    rc = main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("felt-hf: error:") and "Traceback" not in err


def test_stats_problems_name_the_feature_key_and_index(folder):
    _edit_stats(folder, lambda s: _set(s, "head_pose", "std", 9.0))
    problems = check(verify_folder(folder), "stats").details
    assert any(p.startswith("smoothed_speech/train: head_pose.std[0] (stored 9.0, expected ") for p in problems), (
        problems
    )


def test_a_sampled_check_still_catches_an_entry_at_odds_with_itself(folder):
    _edit_stats(folder, lambda s: _set(s, "face_box", "m2", 1.0))  # std no longer follows from m2
    assert check(verify_folder(folder, sample=1), "stats").status == "fail"
    assert (
        check(verify_folder(folder, sample=1), "stats").details[0].startswith("smoothed_speech/train: face_box.std[0]")
    )


def test_folder_without_card_is_reported_not_pushed(folder, capsys):
    (folder / "README.md").unlink()
    report = verify_folder(folder)
    assert not report.ok and "no README.md" in check(report, "card").summary
    assert main(["verify", str(folder)]) == 1


def test_untyped_parquet_next_to_the_shards_is_a_stray(folder):
    pq.write_table(pa.table({"x": [1]}), folder / "smoothed_speech" / "extra.parquet")
    c = check(verify_folder(folder), "files")
    assert c.status == "fail" and "extra.parquet" in c.summary


def test_truncated_archive_is_a_failed_check_not_a_crash(download, capsys):
    z = download / "raw_motion_song.zip"
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 3])
    report = verify_download(download, progress=False, num_proc=1, sample=1)
    c = check(report, "archive:raw_song")
    assert c.status == "fail" and "cannot open the archive" in c.summary and str(z) in c.summary
    assert main(["verify", str(download), "--no-progress", "--sample", "1"]) == 1


def test_a_shard_that_is_a_dangling_link_is_a_fail_naming_it(sample_hub, tmp_path, capsys):
    """It stopped verify with exit 2 and "No such file or directory" before any report."""
    import shutil

    from felt_hf.cli import main

    folder = tmp_path / "felt"
    shutil.copytree(sample_hub, folder)
    shard = sorted((folder / "raw_song").glob("test-*.parquet"))[0]
    shard.unlink()
    shard.symlink_to(tmp_path / "gone.parquet")
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"raw_song/{shard.name}: cannot be read (No such file or directory)" in out


def test_json_report_writes_through_a_link_and_into_a_fifo(sample_hub, tmp_path):
    """The report had been renamed over whatever PATH was: a symlink became a regular file (its
    target untouched), a FIFO's reader got nothing, and ``--json /dev/stdout`` as root replaced
    /dev/stdout itself."""
    import os
    import threading

    from felt_hf.cli import main

    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    assert main(["verify", str(sample_hub), "--sample", "1", "--no-progress", "--json", str(link)]) == 0
    assert link.is_symlink() and json.loads(target.read_text())["kind"] == "converted folder"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main(["verify", str(sample_hub), "--sample", "1", "--no-progress", "--json", str(fifo)]) == 0
    reader.join(10)
    assert json.loads(got[0])["kind"] == "converted folder" and not fifo.is_file() and fifo.exists()


def test_a_hub_clone_with_gitattributes_and_file_manager_junk_passes_and_pushes_none_of_it(folder):
    """Every hub repo is created with a `.gitattributes`, so a clone or `snapshot_download` of a
    pushed folder holds one, and Finder/Explorer leave `.DS_Store`, `._*` and `Thumbs.db`: each was
    a stray file that failed verify and made push refuse a correct dataset."""
    from felt_hf import hub

    junk = [".gitattributes", ".DS_Store", "smoothed_speech/.DS_Store", "smoothed_speech/._train-00000-of-00004.parquet",
            "raw_song/Thumbs.db"]  # fmt: skip
    for rel in junk:
        (folder / rel).write_bytes(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    report = verify_folder(folder)
    assert report.ok and checks(report)["files"] == "pass", report.table()
    plan = hub.push_folder(folder, "someone/felt", dry_run=True)
    assert not {f.path_in_repo for f in plan.files} & {*junk, ".git/HEAD"}
    (folder / "smoothed_speech" / ".gitattributes").write_text("x")  # not the hub's: only the top one is
    assert checks(verify_folder(folder))["files"] == "fail"


@pytest.mark.parametrize("command", ["verify", "push"])
def test_a_card_whose_yaml_does_not_parse_is_one_line_naming_the_files_line(folder, command, capsys):
    """PyYAML's error is seven lines with a caret diagram, its line counted inside the YAML block."""
    card = folder / "README.md"
    lines = card.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("- config_name: smoothed_speech")) + 1
    lines.insert(at, "  bad: [unclosed\n")
    card.write_text("".join(lines))
    argv = [command, str(folder)] + (["--repo-id", "someone/felt", "--dry-run"] if command == "push" else [])
    assert main(argv) == (1 if command == "verify" else 2)  # verify: a FAIL line in its table; push: an error
    out, err = capsys.readouterr()
    said = [line for line in (out + err).splitlines() if "cannot be parsed" in line]
    assert len(said) == 1 and len((out + err).strip().splitlines()) <= 3, out + err
    assert "README.md" in said[0] and f"the card's YAML cannot be parsed: line {at + 2}, column " in said[0], said


@pytest.mark.parametrize("twice", ["split", "config"])
def test_a_card_that_lists_a_split_or_a_config_twice_is_named(folder, twice, capsys):
    """A split listed twice had been merged here (verify and FeltStream read both patterns) and
    refused by datasets with a message naming neither README.md nor the config; a config
    declared twice had been read as its last entry."""
    from felt_hf.training import FeltStream

    card = folder / "README.md"
    text = card.read_text()
    if twice == "split":
        entry = "  - split: train\n    path: smoothed_speech/train-*\n"
        assert entry in text
        text = text.replace(entry, entry * 2, 1)
        says = "lists split 'train' of config 'smoothed_speech' twice in its data_files"
    else:
        block = "- config_name: raw_song\n  data_files:\n  - split: train\n    path: raw_song/train-*\n"
        assert block in text
        text = text.replace(block, block * 2, 1)
        says = "declares config 'raw_song' twice"
    card.write_text(text)
    assert main(["verify", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert says in out and "README.md" in out, out + err
    assert main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and "README.md" in err[0], err
    with pytest.raises(ValueError, match=f"README.md: the card's YAML {says}"):
        FeltStream.from_folder(str(folder), "smoothed_speech", "train")


@pytest.mark.parametrize(
    "edit, says",
    [
        (("    num_examples: ", "    num_examples: 4.7  # "), "num_examples 4.7 is not a whole number"),
        (("    num_examples: ", "    num_examples: four  # "), "num_examples 'four' is not a whole number"),
        (("  download_size: ", "  download_size: big  # "), "download_size 'big' is not a whole number"),
        (("  splits:\n", "  splits: none\n  unused:\n"), "splits is not a list of"),
    ],
)
def test_card_counts_that_are_not_whole_numbers_fail_verify_and_push(folder, edit, says, capsys):
    """4.7 had passed (int() made it 4), "four" had been int()'s message naming nothing, and splits
    that are not a list a TypeError traceback, from verify and push alike."""
    card = folder / "README.md"
    text = card.read_text()
    assert edit[0] in text
    card.write_text(text.replace(edit[0], edit[1], 1))
    assert main(["verify", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert says in out and "README.md: dataset_info " in out and "Traceback" not in out + err, out + err
    assert main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("name", ["stats.json", "skipped_trials.json"])
def test_json_nested_too_deep_is_a_fail_not_a_traceback(folder, name, capsys):
    (folder / name).write_text("[" * 100_000 + "]" * 100_000)
    assert main(["verify", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert f"{name} unreadable" in out and "Traceback" not in out + err, out + err


@pytest.mark.parametrize("damage", ["hf_copy", "parquet_schema"])
def test_a_damaged_footer_fails_verify_and_push(folder, damage, capsys):
    """The footer is outside every page checksum. Its key-value copy of the features (what
    datasets reads) and its parquet schema had been left unchecked: a flipped bit there passed
    verify and push (the probe's byte 306776: ``[null, 4]`` read ``[full, 4]``)."""
    shard = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    data = shard.read_bytes()
    old, new = (b"[null, 68, 2]", b"[full, 68, 2]") if damage == "hf_copy" else (b"element", b"eleoent")
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    # the footer's plain text: the features' key-value copy (the Arrow schema's is base64), or the
    # first schema element named "element" (the schema comes before the row groups' column paths)
    at = data.rfind(old) if damage == "hf_copy" else data.find(old, footer)
    assert at > footer
    shard.write_bytes(data[:at] + new + data[at + len(old) :])
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    says = "two copies of the huggingface features differ" if damage == "hf_copy" else "parquet schema (column names"
    assert f"smoothed_speech/{shard.name}: the footer's " in out and says in out, out
    assert main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"]) == 2
    assert says in capsys.readouterr().err


def test_an_edited_mean_fails_verify_with_a_small_sample(folder, capsys):
    """5 px on a landmark mean had passed ``verify --sample 1`` (and push's default sample, smaller
    than every full-size split): only the whole split re-read compared the mean with the data."""
    doc = json.loads((folder / "stats.json").read_text())
    entry = doc["configs"]["smoothed_speech"]["train"]["features"]["landmarks"]
    entry["mean"][0] += 5.0
    (folder / "stats.json").write_text(json.dumps(doc))
    assert main(["verify", str(folder), "--sample", "1"]) == 1
    out = capsys.readouterr().out
    assert "landmarks.mean[0]: " in out and "is not what the histogram allows" in out, out


def test_a_backup_copy_of_a_shard_that_the_card_glob_matches_fails(folder, capsys):
    """``train-00000-of-00004.parquet.bak`` matches ``train-*``: it had passed verify and been listed
    for upload."""
    shard = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    shutil.copy(shard, shard.with_name(shard.name + ".bak"))
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"smoothed_speech/{shard.name}.bak: matched by the card's data_files but not a Parquet shard" in out, out
    assert main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"]) == 2


def test_a_stats_config_the_folder_does_not_have_fails_even_when_empty(folder, capsys):
    doc = json.loads((folder / "stats.json").read_text())
    doc["configs"]["bogus"] = {}
    (folder / "stats.json").write_text(json.dumps(doc))
    assert main(["verify", str(folder)]) == 1
    assert "bogus: in stats.json but not in the folder" in capsys.readouterr().out


def test_features_damaged_in_the_footers_arrow_schema_copy_fail_naming_the_shard(folder, capsys):
    """A flipped bit there had ended verify and push with datasets' "Feature type '@alue' not
    found", one line naming no file, and no table."""
    import base64

    import pyarrow.parquet as pq

    shard = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    encoded = pq.read_metadata(shard).metadata[b"ARROW:schema"]
    raw = base64.b64decode(encoded)
    assert b'"_type": "Value"' in raw
    damaged = base64.b64encode(raw.replace(b'"_type": "Value"', b'"_type": "@alue"', 1))
    assert len(damaged) == len(encoded)
    data = shard.read_bytes()
    assert data.count(encoded) == 1
    shard.write_bytes(data.replace(encoded, damaged))
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"smoothed_speech/{shard.name}: the footer's huggingface features cannot be read" in out, out
    assert main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and shard.name in err[0], err


def test_a_config_described_twice_in_dataset_info_fails(folder, capsys):
    """The first entry's counts had been passed over (the last one wins, in datasets too)."""
    card = folder / "README.md"
    text = card.read_text()
    start = text.index("- config_name: raw_song\n  features:")
    end = text.index("\n- config_name:", start + 1)
    block = text[start : end + 1]
    card.write_text(text[:start] + block.replace("num_examples: 4", "num_examples: 99", 1) + text[start:])
    assert main(["verify", str(folder)]) == 1
    assert "README.md: dataset_info describes config 'raw_song' twice" in capsys.readouterr().out


def test_a_card_without_front_matter_is_one_line(folder, capsys):
    card = folder / "README.md"
    card.write_text(card.read_text().split("\n---\n", 1)[1])
    assert main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"]) == 2
    captured = capsys.readouterr()  # (huggingface_hub had also logged "Repo card metadata block was not found")
    assert (captured.out + captured.err).strip().splitlines() == [
        f"felt-hf: error: {card}: no YAML front matter (a `---` block at the top declaring the configs)"
    ]


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_a_json_path_that_cannot_be_written_is_refused_before_any_check(sample_hub, tmp_path, capsys, where):
    """`--json` had been checked only after every check ran (minutes with --sample all)."""
    import felt_hf.publish.verify as verify_mod

    (tmp_path / "a_file").write_text("x")
    target = tmp_path if where == "a folder" else tmp_path / "a_file" / "report.json"
    ran = []
    real = verify_mod.verify
    verify_mod.verify = lambda *a, **k: ran.append(1) or real(*a, **k)
    try:
        assert main(["verify", str(sample_hub), "--json", str(target)]) == 2
    finally:
        verify_mod.verify = real
    captured = capsys.readouterr()
    assert not ran and captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured.err
    said = "is a folder; a file is needed here" if where == "a folder" else f"{tmp_path / 'a_file'}: exists and is not"
    assert said in captured.err


def test_a_folder_whose_path_holds_brackets_is_a_warning_and_really_does_not_load(sample_hub, tmp_path):
    """`felt[1]` (a browser's or Finder's copy name) verified OK, yet load_dataset found no files."""
    from datasets import load_dataset

    odd = tmp_path / "felt[1]"
    shutil.copytree(sample_hub, odd)
    report = verify_folder(odd)
    path = next(c for c in report.checks if c.name == "path")
    assert report.ok and path.status == "warn" and "holds [ ]" in path.summary
    with pytest.raises(Exception, match="(?i)data files"):
        load_dataset(str(odd), "smoothed_speech", split="train")
    plain = tmp_path / "felt_1"
    odd.rename(plain)
    assert "path" not in checks(verify_folder(plain)) and load_dataset(str(plain), "smoothed_speech", split="train")
