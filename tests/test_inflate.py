"""Zip members inflated by ISA-L: the same bytes as zipfile, and the same refusals of bad data."""

from __future__ import annotations

import io
import zipfile

import pytest

from felt_hf import inflate
from felt_hf.inputs.inflate import fast_inflate, read_member

pytest.importorskip("isal")

PAYLOAD = b"".join(b"%d,%.6f,%.6f\r\n" % (i, i * 0.37, i / 7) for i in range(20000))


class _Unseekable(io.RawIOBase):
    """A write-only stream without seek: zipfile then writes data descriptors after each member."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.buf += b
        return len(b)


def _archive(path, **members) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("deflate6.csv", PAYLOAD, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
        zf.writestr("deflate0.csv", PAYLOAD, compress_type=zipfile.ZIP_DEFLATED, compresslevel=0)
        zf.writestr("stored.csv", PAYLOAD, compress_type=zipfile.ZIP_STORED)
        zf.writestr("bzip2.csv", PAYLOAD, compress_type=zipfile.ZIP_BZIP2)
        with zf.open("zip64.csv", "w", force_zip64=True) as fh:
            fh.write(PAYLOAD)
        zf.writestr("empty.csv", b"", compress_type=zipfile.ZIP_DEFLATED)


def _read_all(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        return {i.filename: read_member(zf, raw, i) for i in zf.infolist()}


def test_same_bytes_as_zipfile(tmp_path, monkeypatch):
    path = tmp_path / "a.zip"
    _archive(path)
    assert fast_inflate()
    fast = _read_all(path)
    monkeypatch.setenv(inflate.ENV_VAR, "zlib")
    assert not fast_inflate()
    assert fast == _read_all(path)
    assert fast["deflate6.csv"] == PAYLOAD and fast["empty.csv"] == b""


def test_data_descriptors(tmp_path):
    stream = _Unseekable()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", PAYLOAD)
        zf.writestr("b.csv", PAYLOAD[:999])
    path = tmp_path / "dd.zip"
    path.write_bytes(bytes(stream.buf))
    with zipfile.ZipFile(path) as zf:
        assert all(i.flag_bits & 0x08 for i in zf.infolist())  # sizes after the data, not in the header
    assert _read_all(path) == {"a.csv": PAYLOAD, "b.csv": PAYLOAD[:999]}


@pytest.mark.parametrize("mode", ["isal", "zlib"])
def test_crc_mismatch_is_refused(tmp_path, monkeypatch, mode):
    if mode == "zlib":
        monkeypatch.setenv(inflate.ENV_VAR, "zlib")
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w") as zf:  # level 0: stored deflate blocks, so a flipped byte still inflates
        zf.writestr("x.csv", PAYLOAD, compress_type=zipfile.ZIP_DEFLATED, compresslevel=0)
    info = zipfile.ZipFile(path).infolist()[0]
    raw = bytearray(path.read_bytes())
    raw[info.header_offset + 30 + len(info.filename) + len(info.extra) + 1000] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(zipfile.BadZipFile, match="CRC"):
        _read_all(path)


def test_archive_cut_inside_a_member(tmp_path):
    path = tmp_path / "t.zip"
    _archive(path)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("deflate6.csv")
        cut = io.BytesIO(path.read_bytes()[: info.header_offset + 100])
        with pytest.raises(zipfile.BadZipFile, match="Truncated data"):
            read_member(zf, cut, info)
        with pytest.raises(zipfile.BadZipFile, match="Truncated file header"):
            read_member(zf, io.BytesIO(b"PK"), info)
        with pytest.raises(zipfile.BadZipFile, match="Bad magic"):
            read_member(zf, io.BytesIO(b"\x00" * (info.header_offset + 200)), info)


@pytest.mark.parametrize(
    "variable, value, says",
    [
        ("FELT_HF_MAX_MEMBER_MB", "abc", "FELT_HF_MAX_MEMBER_MB='abc': not a size in MB"),
        ("FELT_HF_MAX_MEMBER_MB", "-1", "FELT_HF_MAX_MEMBER_MB='-1': not a size in MB"),
        ("FELT_HF_MAX_MEMBER_MB", "1e-9", "FELT_HF_MAX_MEMBER_MB='1e-9': not a size in MB"),  # (a 0-byte limit)
        ("FELT_HF_INFLATE", "bogus", "FELT_HF_INFLATE='bogus': not one of isal, zlib"),
    ],
)
@pytest.mark.parametrize("command", ["convert", "verify"])
def test_a_bad_reading_variable_is_one_error_naming_it_before_any_work(
    sample_archives, tmp_path, monkeypatch, capsys, variable, value, says, command
):
    """``abc`` had been float()'s message naming no variable, ``-1`` a limit of -1 MB that refused
    every member (under --skip-bad: every trial skipped), and ``bogus`` was ignored."""
    from felt_hf.cli import main

    monkeypatch.setenv(variable, value)
    out = tmp_path / "felt"
    argv = ["convert", str(sample_archives), "--out", str(out), "--skip-bad", "--no-progress"]
    assert main(argv if command == "convert" else ["verify", str(sample_archives)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"felt-hf: error: {says} (a number above 0, e.g. 256)" if "MB" in says else f"felt-hf: error: {says}"
    ]
    assert not out.exists()
