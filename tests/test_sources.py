"""Finding and reading trial CSVs in zips and folders, and the errors bad archives give."""

from __future__ import annotations

import os
import zipfile

import pytest

from felt_hf.errors import FeltDuplicateTrialError, FeltError, FeltFormatError, FeltNameError
from felt_hf.inputs.inflate import ENV_VAR
from felt_hf.inputs.sources import MemberReader, config_members, find_source, is_junk, iter_records, list_members
from felt_hf.synthetic.archives import make_trial

IDS = ["01-01-03-01-01-01-01", "01-01-04-02-02-01-02", "01-01-01-01-01-02-19"]


def _zip(path, entries: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def csvs():
    return {t: make_trial(t, seed=1, num_frames=30).smoothed_csv() for t in IDS}


def test_junk_is_ignored_and_csvs_found_at_any_depth(tmp_path, csvs):
    entries = {
        f"smoothed_motion_speech/Actor_01/{IDS[0]}.csv": csvs[IDS[0]],
        f"Actor_02/{IDS[1]}.csv": csvs[IDS[1]],
        f"a/b/c/Actor_19/{IDS[2]}.csv": csvs[IDS[2]],
        f"__MACOSX/Actor_01/._{IDS[0]}.csv": b"\x00\x05\x16\x07",
        f"Actor_01/._{IDS[0]}.csv": b"\x00\x05\x16\x07",
        "README.txt": b"hello",
        "Actor_01/.DS_Store": b"x",
    }
    z = _zip(tmp_path / "smoothed_motion_speech.zip", entries)
    members = list_members(z, channel="speech")
    assert [m.trial_id for m in members] == sorted(IDS)
    by_id = {m.trial_id: m for m in members}
    assert by_id[IDS[0]].member == f"smoothed_motion_speech/Actor_01/{IDS[0]}.csv" and by_id[IDS[0]].is_zip
    assert by_id[IDS[2]].member == f"a/b/c/Actor_19/{IDS[2]}.csv"
    recs = dict((m.trial_id, r) for m, r in iter_records(members))
    assert all(r.num_frames == 30 for r in recs.values())
    assert is_junk("__MACOSX/x.csv") and is_junk("._a.csv") and is_junk("dir/") and not is_junk("A/01.CSV")


def test_folder_reads_the_same_as_zip(tmp_path, csvs):
    folder = tmp_path / "smoothed_motion_speech"
    for t, data in csvs.items():
        p = folder / f"Actor_{t[-2:]}" / f"{t}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    z = _zip(tmp_path / "z.zip", {f"Actor_{t[-2:]}/{t}.csv": d for t, d in csvs.items()})
    a = [(m.trial_id, r.arrays["landmarks"].tobytes()) for m, r in iter_records(list_members(folder))]
    b = [(m.trial_id, r.arrays["landmarks"].tobytes()) for m, r in iter_records(list_members(z))]
    assert a == b
    assert find_source(tmp_path, "smoothed_speech") == folder
    assert [m.trial_id for m in config_members(tmp_path, "smoothed_speech")] == sorted(IDS)


def test_a_broken_link_in_a_folder_is_an_error_not_a_missing_trial(tmp_path, csvs):
    folder = tmp_path / "smoothed_motion_speech" / "Actor_01"
    folder.mkdir(parents=True)
    (folder / f"{IDS[0]}.csv").write_bytes(csvs[IDS[0]])
    (folder / "01-01-02-01-02-02-01.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(FileNotFoundError, match=r"01-01-02-01-02-02-01\.csv: a symbolic link whose target .*gone\.csv"):
        config_members(tmp_path, "smoothed_speech")


def test_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="raw_motion_song.zip"):
        find_source(tmp_path, "raw_song")


def test_bad_names_wrong_channel_and_duplicates(tmp_path, csvs):
    z = _zip(tmp_path / "a.zip", {"Actor_01/01-01-03-01-01-01-01_v2.csv": csvs[IDS[0]]})
    with pytest.raises(FeltNameError, match="01-01-03-01-01-01-01_v2.csv") as e:
        list_members(z)
    assert "a.zip" in str(e.value)
    z = _zip(tmp_path / "b.zip", {"Actor_01/01-02-03-01-01-01-01.csv": csvs[IDS[0]]})
    with pytest.raises(FeltNameError, match="song trial in a speech archive"):
        list_members(z, channel="speech")
    z = _zip(tmp_path / "c.zip", {f"x/{IDS[0]}.csv": csvs[IDS[0]], f"y/{IDS[0]}.csv": csvs[IDS[0]]})
    with pytest.raises(FeltDuplicateTrialError, match=f"c.zip:y/{IDS[0]}.csv: trial {IDS[0]} found twice"):
        list_members(z)


@pytest.mark.parametrize("inflater", ["default", "zlib"])
def test_corrupt_member_names_archive_and_member(tmp_path, csvs, monkeypatch, inflater):
    if inflater == "zlib":
        monkeypatch.setenv(ENV_VAR, "zlib")
    z = _zip(tmp_path / "smoothed_motion_speech.zip", {f"Actor_01/{IDS[0]}.csv": csvs[IDS[0]]})
    raw = bytearray(z.read_bytes())
    info = zipfile.ZipFile(z).infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF  # flip a byte inside the deflated data
    z.write_bytes(bytes(raw))
    (m,) = list_members(z)
    with pytest.raises(FeltFormatError) as e:
        MemberReader().read_record(m)
    assert e.value.archive == str(z) and e.value.file == m.member
    assert "corrupt archive member" in str(e.value)


def test_truncated_archive(tmp_path, csvs):
    z = _zip(tmp_path / "t.zip", {f"Actor_01/{IDS[0]}.csv": csvs[IDS[0]]})
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    with pytest.raises(FeltFormatError, match="t.zip.*truncated"):
        list_members(z)


def test_parse_errors_name_the_archive(tmp_path, csvs):
    bad = csvs[IDS[0]].replace(b"\r\n", b"\r\nnot,a,row\r\n", 1)
    z = _zip(tmp_path / "p.zip", {f"Actor_01/{IDS[0]}.csv": bad})
    with pytest.raises(FeltFormatError) as e:
        MemberReader().read_record(list_members(z)[0])
    assert e.value.archive == str(z) and e.value.row == 1 and str(z) in str(e.value)


def test_read_records_batches_keep_each_members_error_and_warning(tmp_path, csvs):
    """A row group read at once: good members parsed together, a bad one's located error in its
    place (not raised), and the warnings of files read in one call name
    each file's archive."""
    import warnings

    from felt_hf.errors import FeltWarning

    def no_identity(data: bytes) -> bytes:
        lines = data.split(b"\r\n")
        keep = [k for k, c in enumerate(lines[0].split(b",")) if not c.startswith(b"Identity")]
        return b"\r\n".join(b",".join(line.split(b",")[k] for k in keep) if line else line for line in lines)

    bad = csvs[IDS[1]].replace(b"\r\n", b"\r\nnot,a,row\r\n", 1)
    z = _zip(tmp_path / "r.zip", {
        f"Actor_01/{IDS[0]}.csv": csvs[IDS[0]],
        f"Actor_02/{IDS[1]}.csv": bad,
        f"Actor_19/{IDS[2]}.csv": csvs[IDS[2]],
        "Actor_03/01-01-03-01-01-01-03.csv": no_identity(csvs[IDS[0]]),
        "Actor_04/01-01-03-01-01-01-04.csv": no_identity(csvs[IDS[0]]),
    })  # fmt: skip
    members = list_members(z)
    reader = MemberReader()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = reader.read_records(members)
    one_by_one = []
    for m in members:
        try:
            one_by_one.append(reader.read_record(m))
        except FeltFormatError as e:
            one_by_one.append(e)
    reader.close()
    by_id = {m.trial_id: r for m, r in zip(members, got, strict=True)}
    err = by_id[IDS[1]]
    assert isinstance(err, FeltFormatError) and err.archive == str(z) and err.row == 1
    for record, alone in zip(got, one_by_one, strict=True):
        if isinstance(alone, FeltFormatError):
            assert str(record) == str(alone)
        else:
            assert record.name == alone.name and (record.frame == alone.frame).all()
    assert sorted(str(w.message) for w in caught if issubclass(w.category, FeltWarning)) == [
        f"{z}:Actor_03/01-01-03-01-01-01-03.csv: no identity_embedding (Identity_1..Identity_512) columns; filled with NaN",
        f"{z}:Actor_04/01-01-03-01-01-01-04.csv: no identity_embedding (Identity_1..Identity_512) columns; filled with NaN",
    ]


def test_iter_records_yields_in_order_up_to_the_first_error(tmp_path, csvs):
    bad = csvs[IDS[1]].replace(b"\r\n", b"\r\nnot,a,row\r\n", 1)
    z = _zip(tmp_path / "i.zip", {f"Actor_01/{IDS[0]}.csv": csvs[IDS[0]], f"Actor_02/{IDS[1]}.csv": bad,
                                  f"Actor_19/{IDS[2]}.csv": csvs[IDS[2]]})  # fmt: skip
    members = list_members(z)
    seen = []
    with pytest.raises(FeltFormatError) as e:
        for m, record in iter_records(members, group=8):
            seen.append((m.trial_id, record.name))
    k = [m.trial_id for m in members].index(IDS[1])
    assert k > 0 and seen == [(m.trial_id, m.member) for m in members[:k]]
    assert e.value.archive == str(z) and e.value.file == members[k].member and e.value.row == 1
    good = [m for m in members if m.trial_id != IDS[1]]
    assert [m.trial_id for m, _ in iter_records(good, group=1)] == [m.trial_id for m in good]


def test_a_zip_beside_its_extracted_folder_wins_with_a_warning(tmp_path, csvs):
    from felt_hf.errors import FeltWarning

    _zip(tmp_path / "smoothed_motion_speech.zip", {f"Actor_01/{IDS[0]}.csv": csvs[IDS[0]]})
    (tmp_path / "smoothed_motion_speech" / "Actor_02").mkdir(parents=True)
    (tmp_path / "smoothed_motion_speech" / "Actor_02" / f"{IDS[1]}.csv").write_bytes(csvs[IDS[1]])
    with pytest.warns(FeltWarning, match=r"both smoothed_motion_speech\.zip and smoothed_motion_speech/ are there"):
        assert find_source(tmp_path, "smoothed_speech") == tmp_path / "smoothed_motion_speech.zip"


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_trial_path_that_is_not_a_file_is_an_error_not_a_missing_trial(tmp_path, csvs, kind):
    folder = tmp_path / "smoothed_motion_speech" / "Actor_01"
    folder.mkdir(parents=True)
    (folder / f"{IDS[0]}.csv").write_bytes(csvs[IDS[0]])
    odd = folder / "01-01-02-01-02-02-01.csv"
    odd.mkdir() if kind == "folder" else os.mkfifo(odd)
    with pytest.raises(FeltError, match=r"01-01-02-01-02-02-01\.csv: named like a tracking CSV but "
                       + ("a folder" if kind == "folder" else "not a regular file")):  # fmt: skip
        config_members(tmp_path, "smoothed_speech")


def _unreadable_folder_runs(cmd: list[str], folder) -> list[str]:
    """``cmd`` run with ``folder`` unreadable for real: chmod 000, and as root (whom permissions do
    not stop) under ``capsh`` without the capabilities that override them."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() == 0 and not shutil.which("capsh"):
        pytest.skip("root without capsh: a folder cannot be made unreadable")
    argv = [sys.executable, "-m", "felt_hf.cli", *cmd]
    if os.geteuid() == 0:
        import shlex

        argv = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(argv)]
    os.chmod(folder, 0)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        os.chmod(folder, 0o755)
    return [str(done.returncode), done.stderr]


def test_an_unreadable_folder_is_an_error_not_missing_trials(tmp_path):
    """pathlib's rglob skipped a folder it could not read: ``convert`` of extracted folders wrote
    10 of 12 trials with exit 0, ``show`` said the trial was not there."""
    from felt_hf.cli import main

    data = tmp_path / "in"
    assert main(["sample", str(data), "--extracted"]) == 0
    actor = next(p for p in sorted((data / "smoothed_motion_speech").iterdir()) if p.is_dir())
    rc, err = _unreadable_folder_runs(["convert", str(data), "--out", str(tmp_path / "felt"), "--no-progress",
                                       "--configs", "smoothed_speech"], actor)  # fmt: skip
    assert rc == "2" and err.endswith(f"felt-hf: error: {actor}: cannot read this folder (Permission denied); its "
                                      "files would be left out\n"), err  # fmt: skip
    assert "Traceback" not in err and not (tmp_path / "felt").exists()


def test_walk_entries_names_an_unreadable_folder(tmp_path, monkeypatch):
    """The same, without a second process: the folder's listing fails as the OS would fail it."""
    from felt_hf.errors import FeltPathError
    from felt_hf.inputs.sources import walk_entries

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x.csv").write_text("x")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(tmp_path / "a" / "b"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(FeltPathError, match=r"/a/b: cannot read this folder \(Permission denied\)"):
        list(walk_entries(tmp_path))
