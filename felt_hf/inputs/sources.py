"""Finding FELT's tracking CSVs in archives or folders, and reading them without extracting.

FELT's zips nest ``Actor_NN/`` folders in an undocumented way, so CSVs are found by file name at
any depth; macOS junk (``__MACOSX/``, ``._*``) and non-CSV entries are skipped. Each member is
read straight out of the zip (zip's CRC check included; inflated by ISA-L when the ``fast`` extra
is installed), one at a time, so memory stays flat whatever the archive size.
"""

from __future__ import annotations

import itertools
import os
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..errors import (
    FeltArchiveError,
    FeltDuplicateTrialError,
    FeltError,
    FeltFormatError,
    FeltLookupError,
    FeltMissingColumnsError,
    FeltNameError,
    FeltPathError,
    FeltWarning,
    _rebuild_format_error,
)
from ..ravdess import TrialLabels, actor_ranges, parse_trial_id, split_of_actor, split_rule_text
from ..schema import archive_stem, config_parts
from .csv_fast import read_trial_csv_fast, read_trial_csvs_fast
from .csv_reader import TrialRecord
from .inflate import read_member


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


def is_macos_junk(member: str) -> bool:
    """macOS resource forks and folders, hidden files and directory entries (of any file type)."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts or member.endswith("/"):
        return True
    return any(p == "__MACOSX" for p in parts) or parts[-1].startswith("._") or parts[-1].startswith(".")


def is_junk(member: str, suffixes: tuple[str, ...] = (".csv",)) -> bool:
    """macOS junk (:func:`is_macos_junk`) and anything whose name does not end in ``suffixes``."""
    if is_macos_junk(member):
        return True
    return not member.lower().endswith(suffixes)


def duplicate_of(
    seen: Mapping[str, Any], trial_id: str, file: str, archive: str | None = None, *, what: str = ""
) -> FeltDuplicateTrialError | None:
    """The one duplicate check of every input finder (CSVs, media, regeneration videos).

    ``seen`` maps trial ids to what was found first (anything with ``where()``); a second copy of
    ``trial_id`` gives the error naming its archive and member and the first copy, else None.
    """
    if trial_id not in seen:
        return None
    first = seen[trial_id].where()
    return FeltDuplicateTrialError(file, f"trial {trial_id}{what} found twice (also as {first})", archive=archive)


def find_source(data_dir: str | os.PathLike, config_name: str) -> Path:
    """The archive (``<stem>.zip``) or extracted folder (``<stem>/``) of a config in ``data_dir``.

    The zip wins when both exist (the folder is normally the zip extracted), with a warning: they
    may differ, and the folder's trials would otherwise be left out without a word.
    """
    data_dir = Path(data_dir)
    stem = archive_stem(config_name)
    if (data_dir / f"{stem}.zip").exists() and (data_dir / stem).is_dir():
        warnings.warn(
            f"{data_dir}: both {stem}.zip and {stem}/ are there; reading {stem}.zip, the folder is ignored",
            FeltWarning,
            stacklevel=1,  # this line: Python's default filter then says it once per process, not once per caller
        )
    for candidate in (data_dir / f"{stem}.zip", data_dir / stem):
        if candidate.exists():
            return candidate
    below = [p for p in nested_sources(data_dir) if p.name in (stem, f"{stem}.zip")]
    where = f" ({below[0].relative_to(data_dir).as_posix()} is below it: archives are looked for in the folder " \
        "given)" if below else ""  # fmt: skip
    raise FeltPathError(
        f"config {config_name!r} needs {stem}.zip (or an extracted {stem}/ folder) in {data_dir}, and neither is "
        f"there{where}"
    )


def download_folder_of(path: str | os.PathLike, zips_only: bool = False) -> Path | None:
    """``path`` itself or the nearest folder above it that holds a FELT tracking archive (or,
    unless ``zips_only``, an extracted one); ``None`` if none does. Outputs named like FELT's own
    files (rendered mp4s, regenerated CSVs) written there are taken by ``felt-hf convert`` of that
    folder for FELT's, or shadowed by its zips. (``zips_only``: regeneration output is extracted
    folders itself, and a rerun into it resumes.)"""
    from ..schema import CONFIG_NAMES

    here = Path(os.path.abspath(path))
    stems = [archive_stem(c) for c in CONFIG_NAMES]
    for folder in (here, *here.parents):
        if any((folder / f"{s}.zip").is_file() or (not zips_only and (folder / s).is_dir()) for s in stems):
            return folder
    return None


def nested_sources(data_dir: str | os.PathLike) -> list[Path]:
    """Tracking archives (``<stem>.zip``) or extracted folders (``<stem>/``) *below* ``data_dir``,
    not in it, where :func:`find_source` does not look; for the errors that say where they are
    (media are found at any depth, so a download one folder down had converted its media alone,
    without a word about its tracking)."""
    from ..schema import CONFIG_NAMES

    root = Path(data_dir)
    names = {archive_stem(c) for c in CONFIG_NAMES}
    names |= {f"{n}.zip" for n in names}
    return sorted(p for p in walk_entries(root) if p.name in names and p.parent != root)


def source_fingerprint(data_dir: str | os.PathLike, config_name: str) -> str | None:
    """Size and modification time of a config's archive (or of every file of its extracted folder),
    hashed; ``None`` when there is no source (the caller's own error follows).

    ``datasets`` names a builder's cache after ``data_dir`` alone, so a rebuilt or replaced archive
    at the same path was served from the old cache with its old numbers; the builder puts this in
    its config id instead. Stat calls only: no byte is read (1440 files of a folder in milliseconds).
    """
    import hashlib

    try:
        source = find_source(data_dir, config_name)
    except FeltPathError:
        return None
    paths = sorted(p for p in walk_entries(source) if p.is_file()) if source.is_dir() else [source]
    digest = hashlib.sha256()
    for path in paths:
        st = path.stat()
        digest.update(f"{path.relative_to(source.parent).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _open_zip(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FeltFormatError(path, f"cannot open the archive (truncated or not a zip?): {e}") from None


def _member_names(source: Path) -> list[str]:
    if source.is_dir():
        entries = list(walk_entries(source))
        broken = [p for p in entries if p.is_symlink() and not p.exists()]
        if broken:  # is_file() is False for them: the trial would be left out without a word
            raise FeltPathError(f"{broken[0]}: a symbolic link whose target {os.readlink(broken[0])} does not exist")
        odd = [p for p in entries if p.suffix.lower() == ".csv" and not p.is_file()]
        if odd:  # a folder, FIFO or device named like a trial CSV: it had been left out without a word
            what = "a folder" if odd[0].is_dir() else "not a regular file (a pipe, socket or device)"
            raise FeltPathError(f"{odd[0]}: named like a tracking CSV but {what}")
        return sorted(p.relative_to(source).as_posix() for p in entries if p.is_file())
    with _open_zip(str(source)) as zf:
        return [i.filename for i in zf.infolist() if not i.is_dir()]


_INPUT_SUFFIXES = (".zip", ".csv", ".mp4", ".wav", ".flac")  # what a dangling link could have stood for


def walk_entries(root: Path) -> Iterator[Path]:
    """Every file and folder under ``root`` at any depth (links to folders not followed, as
    ``Path.rglob`` does); a folder that cannot be read is an error naming it.

    Hand-written over ``os.walk`` because ``Path.rglob`` skips a folder it may not read without a
    word: with one actor's folder unreadable, ``convert`` wrote the other trials and exited 0, and
    ``show`` said the trial was not there.
    """

    def unreadable(e: OSError) -> None:
        raise FeltPathError(f"{e.filename}: cannot read this folder ({e.strerror}); its files would be left out")

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        for name in (*dirs, *files):
            yield Path(folder) / name


def iter_input_files(data_dir: str | os.PathLike) -> Iterator[tuple[str, str, int]]:
    """``(source, member, size)`` of every file under ``data_dir`` at any depth, zip members included.

    ``data_dir`` may also be one zip. ``source`` is the zip for a member of one, else ``data_dir``
    itself (``member`` relative to it),
    so :class:`MemberReader` reads either. Media archives are named in no documented way, so media
    are found by their names inside, wherever they are; macOS junk is left out here.
    """
    root = Path(data_dir)
    if root.is_file() and root.suffix.lower() == ".zip":  # one archive given itself
        yield from _zip_files(root)
        return
    for p in sorted(walk_entries(root)):
        rel = p.relative_to(root).as_posix()
        if is_macos_junk(rel):
            continue
        if p.is_symlink() and not p.exists() and p.suffix.lower() in _INPUT_SUFFIXES:
            warnings.warn(f"{p}: a link to nothing ({os.readlink(p)}); left out", FeltWarning, stacklevel=2)
        if not p.is_file():
            continue
        if p.suffix.lower() == ".zip":
            yield from _zip_files(p)
        else:
            yield str(root), rel, p.stat().st_size


def _zip_files(p: Path) -> Iterator[tuple[str, str, int]]:
    with _open_zip(str(p)) as zf:
        for info in zf.infolist():
            if not info.is_dir() and not is_macos_junk(info.filename):
                yield str(p), info.filename, info.file_size


def scan_members(
    source: str | os.PathLike, *, channel: str | None = None
) -> tuple[list[CsvMember], list[tuple[str, FeltError]]]:
    """Every trial CSV in a zip or folder, sorted by trial id, and every member that is not one.

    A name that is not a RAVDESS id, a trial of the other vocal channel, or the same trial twice
    would silently corrupt the labels: each lands in the second list as ``(member, error)``, in
    archive order. Junk (``__MACOSX``, non-CSV entries) is in neither list.
    """
    source = Path(source)
    members: dict[str, CsvMember] = {}
    bad: list[tuple[str, FeltError]] = []
    names = _member_names(source)
    twice = _same_name_entries(names, str(source))
    for name in names:
        if is_junk(name):
            continue
        if name in twice:
            if twice[name] is not None:
                bad.append((name, twice[name]))
                twice[name] = None  # (one entry for the name)
            continue
        try:
            labels = parse_trial_id(name)
        except FeltNameError as e:
            bad.append((name, FeltNameError(f"{source}: {e}")))
            continue
        if channel is not None and labels.vocal_channel != channel:
            bad.append(
                (name, FeltNameError(f"{source}: {name}: a {labels.vocal_channel} trial in a {channel} archive"))
            )
            continue
        dup = duplicate_of(members, labels.trial_id, name, str(source))
        if dup is not None:
            bad.append((name, dup))
            continue
        members[labels.trial_id] = CsvMember(str(source), name, labels)
    return [members[k] for k in sorted(members)], bad


def _same_name_entries(names: list[str], source: str) -> dict[str, FeltError | None]:
    """Members a zip holds more than once under the same name, each with its error.

    A reader reads a member by name, and zipfile gives the *last* entry of a name: with
    ``--skip-bad`` the second entry's values had been converted while the report said the first
    was kept. Which entry is the trial cannot be told by name, so neither is read."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return {
        name: FeltFormatError(
            name,
            f"the zip holds {n} entries of this name; which one is the trial cannot be told by name, so none is read",
            archive=source,
        )  # fmt: skip
        for name, n in counts.items()
        if n > 1 and not is_junk(name)
    }


def list_members(source: str | os.PathLike, *, channel: str | None = None) -> list[CsvMember]:
    """Every trial CSV in a zip or folder, sorted by trial id, names validated.

    A name that is not a RAVDESS id, a trial of the other vocal channel, or the same trial twice
    is an error naming the archive and the member (:func:`scan_members` collects them instead).
    """
    members, bad = scan_members(source, channel=channel)
    if bad:
        raise bad[0][1]
    return members


def config_members(data_dir: str | os.PathLike, config_name: str) -> list[CsvMember]:
    """The validated CSV members of one config's archive or folder."""
    _, channel = config_parts(config_name)
    return list_members(find_source(data_dir, config_name), channel=channel)


def members_by_split(
    members: Iterable[CsvMember], split_actors: dict[str, tuple[int, ...]], rule_name: str = "split_actors"
) -> dict[str, list[CsvMember]]:
    """Members grouped by the split of their actor, every split of the rule present (maybe empty);
    actors the rule leaves out are dropped.

    A rule that selects none of the members is an error naming their archive, their actors and
    the rule (``rule_name``: how the caller's user spells it): building nothing from it would
    replace an earlier build with an empty one, or give an empty DatasetDict."""
    members = list(members)
    by_split: dict[str, list[CsvMember]] = {s: [] for s in split_actors}
    for m in members:
        split = split_of_actor(m.labels.actor, split_actors)
        if split is not None:
            by_split[split].append(m)
    if members and not any(by_split.values()):
        actors = actor_ranges({m.labels.actor for m in members})
        raise FeltLookupError(f"{members[0].source}: none of its {len(members)} trial(s) (actors {actors}) belongs "
                              f"to a split of {rule_name} ({split_rule_text(split_actors)})")  # fmt: skip
    return by_split


# --- members that must not be inflated (issue 11) ----------------------------------------------
# A FELT CSV is about 1.6 MB (the longest clips a few MB) and deflates about 2.5:1. A member that
# claims far more, or compresses far better, is not a tracking CSV: refuse it before inflating,
# so a zip bomb (hundreds of MB of one byte) never gets allocated.
MAX_MEMBER_BYTES = 64 * 1024**2
MAX_MEMBER_RATIO = 200
RATIO_FLOOR_BYTES = 4 * 1024**2  # below this, any ratio is harmless (an all-NaN trial deflates ~100:1)
MAX_MEMBER_ENV = "FELT_HF_MAX_MEMBER_MB"
_SUPPORTED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def max_member_bytes() -> int:
    """The largest member inflated (``FELT_HF_MAX_MEMBER_MB`` overrides the 64 MiB default)."""
    value = os.environ.get(MAX_MEMBER_ENV)
    if not value:
        return MAX_MEMBER_BYTES
    try:
        mb = float(value)
    except ValueError:
        mb = float("nan")
    if not (mb * 1024**2 >= 1 and mb < float("inf")):  # ("abc" had been float()'s message; -1 or 1e-9 a 0 limit)
        raise FeltError(f"{MAX_MEMBER_ENV}={value!r}: not a size in MB (a number above 0, e.g. 256)")
    return int(mb * 1024**2)


def check_reading_settings() -> None:
    """The reading environment variables (``FELT_HF_MAX_MEMBER_MB``, ``FELT_HF_INFLATE``) checked
    before any work, so a bad value is one error naming the variable, not each trial's error (under
    ``--skip-bad``: every trial skipped) raised in the workers."""
    from .inflate import fast_inflate

    max_member_bytes()
    fast_inflate()


def _too_big(size: int, what: str = "tracking CSV") -> str:
    return (
        f"inflates to {size:,} bytes, more than any {what} ({max_member_bytes():,} allowed; "
        f"set {MAX_MEMBER_ENV} to raise it): refused without inflating"
    )


def _member_kind(name: str) -> str:
    """What a member is, for the size messages: a wav or mp4 is not held to a CSV's compression."""
    ext = name.rsplit(".", 1)[-1].lower()
    return {"wav": "RAVDESS wav", "mp4": "FELT or RAVDESS video"}.get(ext, "tracking CSV")


def check_member_info(info: zipfile.ZipInfo, archive: str) -> None:
    """Refuse, from the central directory alone, a member that must not be inflated."""
    if info.flag_bits & 0x1:
        raise FeltArchiveError(
            info.filename, "the member is encrypted (password-protected); FELT's archives are not", archive=archive
        )
    if info.compress_type not in _SUPPORTED_METHODS:
        raise FeltArchiveError(
            info.filename, f"unsupported zip compression method {info.compress_type}", archive=archive
        )
    what = _member_kind(info.filename)
    if info.file_size > max_member_bytes():
        raise FeltArchiveError(info.filename, _too_big(info.file_size, what), archive=archive)
    ratio = info.file_size / max(info.compress_size, 1)
    # (a silent take deflates ~1000:1: a wav is bounded by the size limit above, not by its ratio)
    if what != "RAVDESS wav" and info.file_size > RATIO_FLOOR_BYTES and ratio > MAX_MEMBER_RATIO:
        raise FeltArchiveError(
            info.filename,
            f"compression ratio {ratio:.0f}:1 ({info.compress_size:,} -> {info.file_size:,} bytes) is not a "
            f"{what}'s (a CSV's is about 2.5:1, a video's about 1:1; limit {MAX_MEMBER_RATIO}:1): refused without "
            "inflating",
            archive=archive,
        )


class MemberReader:
    """Reads members' bytes, keeping each zip open once per process (workers reuse it).

    Deflated members are inflated by :mod:`felt_hf.inflate` (ISA-L when installed), with the
    same size and CRC checks as ``zipfile``.
    """

    def __init__(self) -> None:
        self._zips: dict[str, tuple[zipfile.ZipFile, BinaryIO]] = {}

    def _opened(self, source: str) -> tuple[zipfile.ZipFile, BinaryIO]:
        """The archive's zipfile and raw handle, opened on first use and kept."""
        opened = self._zips.get(source)
        if opened is None:
            opened = self._zips[source] = (_open_zip(source), open(source, "rb"))  # noqa: SIM115
        return opened

    def read_bytes(self, m: CsvMember) -> bytes:
        if not m.is_zip:
            path = os.path.join(m.source, m.member)
            try:
                size = os.path.getsize(path)
                if size > max_member_bytes():
                    raise FeltArchiveError(m.member, _too_big(size), archive=m.source)
                with open(path, "rb") as fh:
                    return fh.read()
            except OSError as e:
                raise FeltFormatError(m.member, f"cannot read the file: {e}", archive=m.source) from None
        zf, raw = self._opened(m.source)
        try:
            info = zf.getinfo(m.member)
            check_member_info(info, m.source)
            return read_member(zf, raw, info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, NotImplementedError, RuntimeError) as e:
            raise FeltFormatError(m.member, f"corrupt archive member: {e}", archive=m.source) from None

    def prefetch(self, m: CsvMember) -> None:
        """Ask the kernel to start reading a member's bytes now (``posix_fadvise(WILLNEED)``), so a
        later :meth:`read_bytes` finds them in memory: the disk works while this process inflates,
        probes and writes the members before it. A hint only; no-op where the call is missing.

        Why not a reader thread: inflating holds the GIL, and two threads reading members ran at
        half the rate of one here (scripts/bench_media.py); the kernel's own read-ahead needs none.
        """
        if not hasattr(os, "posix_fadvise"):  # pragma: no cover - not Linux
            return
        try:
            if not m.is_zip:
                fd = os.open(os.path.join(m.source, m.member), os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                finally:
                    os.close(fd)
                return
            zf, raw = self._opened(m.source)
            info = zf.getinfo(m.member)
            # the local header (30 bytes + name + extra, under 64 KiB) then the data
            os.posix_fadvise(raw.fileno(), info.header_offset, info.compress_size + 65_600, os.POSIX_FADV_WILLNEED)
        except (OSError, KeyError, zipfile.BadZipFile, FeltFormatError):
            return  # read_bytes reports whatever is wrong, with the member's name

    def read_record(self, m: CsvMember) -> TrialRecord:
        """Read and parse one member; errors name the archive as well as the member."""
        return self._parse(m, self.read_bytes(m))

    def read_records(self, members: Sequence[CsvMember]) -> list[TrialRecord | FeltError]:
        """:meth:`read_record` of each member, in order, with each member's error in its place
        instead of raised (the caller decides: raise the first, or skip and report).

        The members' CSVs are parsed together where they can be
        (:func:`felt_hf.csv_fast.read_trial_csvs_fast`: the same records, faster); every other
        member, and every error, goes through :meth:`read_record`'s own path.
        """
        out: list[TrialRecord | FeltError | None] = [None] * len(members)
        read: list[tuple[int, bytes]] = []
        for i, m in enumerate(members):
            try:
                read.append((i, self.read_bytes(m)))
            except FeltError as e:
                out[i] = e
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records = read_trial_csvs_fast([(data, members[i].member) for i, data in read])
        self._rewarn(caught, [members[i] for i, _ in read])
        for (i, data), record in zip(read, records, strict=True):
            if record is None:
                try:
                    record = self._parse(members[i], data)
                except FeltError as e:
                    out[i] = e
                    continue
            out[i] = record
        return out

    def _parse(self, m: CsvMember, data: bytes) -> TrialRecord:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                record = read_trial_csv_fast(data, name=m.member)
        except FeltFormatError as e:
            if e.archive is None:
                e = _with_archive(e, m.source)
            raise e from None
        self._rewarn(caught, [m])
        return record

    @staticmethod
    def _rewarn(caught: list[warnings.WarningMessage], members: Sequence[CsvMember]) -> None:
        """The readers' warnings again, each naming the archive of the member it names."""
        for w in caught:
            text = str(w.message)
            if issubclass(w.category, FeltWarning):
                source = next((m.source for m in members if text.startswith(f"{m.member}:")), None)
                if source is not None:
                    text = f"{source}:{text}"
            warnings.warn(text, w.category, stacklevel=3)

    def close(self) -> None:
        for zf, raw in self._zips.values():
            zf.close()
            raw.close()
        self._zips.clear()


def _with_archive(e: FeltFormatError, archive: str) -> FeltFormatError:
    """``e`` with the archive named, its type kept (a caller catching ``FeltValueRangeError`` still
    catches it once the archive is added)."""
    if isinstance(e, FeltMissingColumnsError):
        return FeltMissingColumnsError(e.file, e.missing, archive=archive)
    return _rebuild_format_error(e.file, e.reason, e.row, e.column, archive, type(e))


def read_in_groups(
    reader: MemberReader, members: Iterable[CsvMember], group: int = 8
) -> Iterator[tuple[CsvMember, TrialRecord | FeltError]]:
    """Each member with its record or its error in its place, in order, read ``group`` members at
    a time (:meth:`MemberReader.read_records` parses a group's CSVs in one call where it can:
    about 3 ms a trial less than one by one, ``--stages`` of ``scripts/bench_convert.py``)."""
    it = iter(members)
    while chunk := list(itertools.islice(it, group)):
        yield from zip(chunk, reader.read_records(chunk), strict=True)


def iter_records(members: Iterable[CsvMember], group: int = 8) -> Iterator[tuple[CsvMember, TrialRecord]]:
    """Each member with its parsed record, in order (:func:`read_in_groups`), raising the first error."""
    reader = MemberReader()
    try:
        for m, record in read_in_groups(reader, members, group):
            if isinstance(record, FeltError):
                raise record
            yield m, record
    finally:
        reader.close()


__all__ = [
    "CsvMember",
    "FeltError",
    "MemberReader",
    "config_members",
    "find_source",
    "source_fingerprint",
    "is_junk",
    "is_macos_junk",
    "duplicate_of",
    "iter_input_files",
    "iter_records",
    "read_in_groups",
    "list_members",
    "scan_members",
    "check_member_info",
    "members_by_split",
]
