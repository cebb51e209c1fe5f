"""Finding FELT's tracking CSVs in archives or folders, and reading them without extracting.

FELT's zips nest ``Actor_NN/`` folders in an undocumented way, so CSVs are found by file name at
any depth; macOS junk (``__MACOSX/``, ``._*``) and non-CSV entries are skipped. Each member is
read straight out of the zip (zip's CRC check included; inflated by ISA-L when the ``fast`` extra
is installed), one at a time, so memory stays flat whatever the archive size.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .csv_fast import read_trial_csv_fast
from .csv_reader import TrialRecord
from .errors import FeltError, FeltFormatError, FeltMissingColumnsError, FeltNameError
from .inflate import read_member
from .ravdess import TrialLabels, parse_trial_id, split_of_actor
from .schema import archive_stem, config_parts


@dataclass(frozen=True)
class CsvMember:
    """One trial's CSV: where it lives (a zip or a folder) and what its name says."""

    source: str  # the zip file or the folder
    member: str  # path inside the zip, or relative to the folder (POSIX separators)
    labels: TrialLabels

    @property
    def trial_id(self) -> str:
        return self.labels.trial_id

    @property
    def is_zip(self) -> bool:
        return self.source.lower().endswith(".zip")

    def where(self) -> str:
        return f"{self.source}:{self.member}"


def is_junk(member: str) -> bool:
    """macOS resource forks and folders, directories and anything that is not a CSV."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts or member.endswith("/"):
        return True
    if any(p == "__MACOSX" for p in parts) or parts[-1].startswith("._") or parts[-1].startswith("."):
        return True
    return not parts[-1].lower().endswith(".csv")


def find_source(data_dir: str | os.PathLike, config_name: str) -> Path:
    """The archive (``<stem>.zip``) or extracted folder (``<stem>/``) of a config in ``data_dir``.

    The zip wins when both exist (they hold the same files).
    """
    data_dir = Path(data_dir)
    stem = archive_stem(config_name)
    for candidate in (data_dir / f"{stem}.zip", data_dir / stem):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"config {config_name!r} needs {stem}.zip (or an extracted {stem}/ folder) in {data_dir}, and neither is there"
    )


def _open_zip(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FeltFormatError(path, f"cannot open the archive (truncated or not a zip?): {e}") from None


def _member_names(source: Path) -> list[str]:
    if source.is_dir():
        return sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    with _open_zip(str(source)) as zf:
        return [i.filename for i in zf.infolist() if not i.is_dir()]


def list_members(source: str | os.PathLike, *, channel: str | None = None) -> list[CsvMember]:
    """Every trial CSV in a zip or folder, sorted by trial id, names validated.

    A name that is not a RAVDESS id, a trial of the other vocal channel, or the same trial twice
    is an error naming the archive and the member: each would silently corrupt the labels.
    """
    source = Path(source)
    members: dict[str, CsvMember] = {}
    for name in _member_names(source):
        if is_junk(name):
            continue
        try:
            labels = parse_trial_id(name)
        except FeltNameError as e:
            raise FeltNameError(f"{source}: {e}") from None
        if channel is not None and labels.vocal_channel != channel:
            raise FeltNameError(f"{source}: {name}: a {labels.vocal_channel} trial in a {channel} archive")
        if labels.trial_id in members:
            other = members[labels.trial_id].member
            raise FeltFormatError(name, f"trial {labels.trial_id} appears twice (also as {other})", archive=str(source))
        members[labels.trial_id] = CsvMember(str(source), name, labels)
    return [members[k] for k in sorted(members)]


def config_members(data_dir: str | os.PathLike, config_name: str) -> list[CsvMember]:
    """The validated CSV members of one config's archive or folder."""
    _, channel = config_parts(config_name)
    return list_members(find_source(data_dir, config_name), channel=channel)


def members_by_split(
    members: Iterable[CsvMember], split_actors: dict[str, tuple[int, ...]]
) -> dict[str, list[CsvMember]]:
    """Members grouped by the split of their actor, every split of the rule present (maybe empty);
    actors the rule leaves out are dropped."""
    by_split: dict[str, list[CsvMember]] = {s: [] for s in split_actors}
    for m in members:
        split = split_of_actor(m.labels.actor, split_actors)
        if split is not None:
            by_split[split].append(m)
    return by_split


class MemberReader:
    """Reads members' bytes, keeping each zip open once per process (workers reuse it).

    Deflated members are inflated by :mod:`felt_hf.inflate` (ISA-L when installed), with the
    same size and CRC checks as ``zipfile``.
    """

    def __init__(self) -> None:
        self._zips: dict[str, tuple[zipfile.ZipFile, BinaryIO]] = {}

    def read_bytes(self, m: CsvMember) -> bytes:
        if not m.is_zip:
            with open(os.path.join(m.source, m.member), "rb") as fh:
                return fh.read()
        opened = self._zips.get(m.source)
        if opened is None:
            opened = self._zips[m.source] = (_open_zip(m.source), open(m.source, "rb"))  # noqa: SIM115
        zf, raw = opened
        try:
            return read_member(zf, raw, zf.getinfo(m.member))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as e:
            raise FeltFormatError(m.member, f"corrupt archive member: {e}", archive=m.source) from None

    def read_record(self, m: CsvMember) -> TrialRecord:
        """Read and parse one member; errors name the archive as well as the member."""
        data = self.read_bytes(m)
        try:
            return read_trial_csv_fast(data, name=m.member)
        except FeltFormatError as e:
            if e.archive is None:
                e = _with_archive(e, m.source)
            raise e from None

    def close(self) -> None:
        for zf, raw in self._zips.values():
            zf.close()
            raw.close()
        self._zips.clear()


def _with_archive(e: FeltFormatError, archive: str) -> FeltFormatError:
    if isinstance(e, FeltMissingColumnsError):
        return FeltMissingColumnsError(e.file, e.missing, archive=archive)
    return FeltFormatError(e.file, e.reason, row=e.row, column=e.column, archive=archive)


def iter_records(members: Iterable[CsvMember]) -> Iterator[tuple[CsvMember, TrialRecord]]:
    """Each member with its parsed record, read one at a time."""
    reader = MemberReader()
    try:
        for m in members:
            yield m, reader.read_record(m)
    finally:
        reader.close()


__all__ = [
    "CsvMember",
    "FeltError",
    "MemberReader",
    "config_members",
    "find_source",
    "is_junk",
    "iter_records",
    "list_members",
    "members_by_split",
]
