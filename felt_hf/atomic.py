"""Whole-or-absent file writes, shared by every module that publishes a file.

A reader (``datasets``' globs, a resumed run, a push) must never see half a file under its final
name, so each write goes to a hidden, uniquely named sibling and is renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from .layout import LOCK_FILENAME, TEMP_SHARD_RE, is_converted_folder


def temp_name(path: Path) -> Path:
    """A hidden sibling that no ``*.csv`` / ``*.parquet`` / ``*.json`` glob picks up."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temporary sibling, fsync, then ``os.replace``: the final name is whole or absent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # (a full disk: "[Errno 28] No space left on device", naming no file)
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_files_together(files: dict[Path, bytes]) -> list[Path]:
    """Files that belong together (a trial's set of PNGs) replaced as a set: each is written to
    its temporary name first, and only when all are written are they renamed into place (renames
    take no disk space). A full disk had left a set half old, half new, each file whole.

    Every destination is checked (:func:`_check_destination`) before the first rename, and the
    renames go through a :class:`Replacement`, undone if one still fails: a folder in the way of
    the third of five PNGs had left two new PNGs beside three old ones.

    Temporary files of an earlier, killed run of the same names are removed first (their writer
    gone); only those names are looked at, since the folder may be any folder (``--out .``)."""
    for path in files:
        _remove_dead_temps(path)
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            _check_destination(path)
            written.append((_write_temp(path, data), path))
        _rename_all(written)
    finally:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
    return list(files)


def _remove_dead_temps(path: Path) -> None:
    """``path``'s temporary files whose writer is gone (a killed run's)."""
    for old in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if is_temp_name(old.name) and not _writer_running(old.name):
            old.unlink(missing_ok=True)


def _check_destination(path: Path) -> None:
    """A name a file can be renamed to: not a folder, in a folder this process may write; said
    (as the OS would say it) before anything is written or renamed."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))


def _write_temp(path: Path, data: bytes) -> Path:
    """``data`` in ``path``'s temporary sibling; a failure (a full disk) names ``path``."""
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):  # said of the file asked for, not of our temporary one
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    return tmp


def _rename_all(written: list[tuple[Path, Path]]) -> None:
    """Every temporary file renamed to its final name, or (any rename failing) none: the files
    already renamed are removed and what was there before is put back."""
    replacement = Replacement()
    try:
        for tmp, path in written:
            replacement.put(tmp, path)
    except BaseException:
        replacement.rollback()
        raise
    replacement.commit()


def write_report_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """A report written where the user pointed: whole-or-absent for a regular file (through a
    symlink, to its target), and straight into a FIFO or device (``--json /dev/stdout``), which a
    rename would have replaced with a regular file (as root, /dev/stdout itself)."""
    given = Path(path)
    if given.exists() and not given.is_file():  # (both follow links: /dev/stdout -> a pipe)
        with open(given, "wb") as f:
            f.write(data)
        return given
    atomic_write_bytes(given.resolve() if given.is_symlink() else given, data)
    return given


def check_report_path(path: str | os.PathLike) -> None:
    """A report's path is one that :func:`write_report_bytes` can write, said before the work
    that fills it (``verify --sample all`` takes minutes): not a folder, no file among its
    parents, a writable folder above it."""
    from .errors import FeltOutputError

    given = Path(path)
    if given.is_dir():
        raise FeltOutputError(f"{path}: is a folder; a file is needed here")  # (as an OS error would say it)
    for parent in given.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise FeltOutputError(f"{parent}: exists and is not a folder")  # (as an OS error would say it)
            if not os.access(parent, os.W_OK | os.X_OK) and not (given.exists() and not given.is_file()):
                raise FeltOutputError(f"{path}: cannot write into {parent} (permission denied)")
            return


# --- temporary names any run may leave behind (issue 11) ----------------------------------------
# ``temp_name`` above (``.<name>.<pid>.<hex8>.tmp``) and the converter's shards in progress
# (``.tmp-<pid>-<shard>.parquet``, felt_hf.convert.ShardTask.tmp_path). A killed run leaves them;
# the next conversion removes them once the pid that wrote them is gone, and push/verify never upload them.
_TEMP_PATTERNS = (
    re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.(tmp|mp4)$"),  # (.mp4: felt_hf.render's, so PyAV sees the format)
    TEMP_SHARD_RE,
)
# huggingface_hub's own resumable-upload state and git: never ours to touch.
_FOREIGN_DIRS = (".cache", ".git")


# The two temporary names taken apart: the writer's pid and the final name (recognition stays
# with ``_TEMP_PATTERNS`` above; these read the parts out of a name it accepts).
_TEMP_NAME_PARTS = (
    re.compile(r"^\.(?P<final>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.(?:tmp|mp4)$"),
    re.compile(r"^\.tmp-(?P<pid>\d+)(?:-media)?-(?P<final>.+\.parquet)$"),  # (media shards: "PID-media")
)


def _temp_name_parts(name: str) -> re.Match | None:
    for pattern in _TEMP_NAME_PARTS:
        m = pattern.match(name)
        if m:
            return m
    return None


def final_path_of(path: str | os.PathLike) -> Path:
    """The file a temporary name stands for (``.x.json.PID.hex.tmp`` -> ``x.json``); any other
    path as it is. Errors name what the user asked for, not our hidden working name."""
    p = Path(os.fsdecode(path))
    m = _temp_name_parts(p.name)
    return p.with_name(m["final"]) if m else p


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of this package's temporary names (any run, any pid)."""
    return any(p.match(name) for p in _TEMP_PATTERNS)


def temp_leftovers(root: str | os.PathLike) -> list[Path]:
    """Every temporary file under ``root`` that an earlier (possibly killed) run left, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for p in root.rglob(".*"):
        rel = p.relative_to(root).parts
        if rel and rel[0] in _FOREIGN_DIRS:
            continue
        if p.is_file() and is_temp_name(p.name):
            out.append(p)
    return sorted(out)


def remove_temp_leftovers(root: str | os.PathLike) -> list[Path]:
    """Delete :func:`temp_leftovers` of runs that are over; returns what was removed.

    A file whose writer (the pid in its name) is still running is another run's work in progress,
    and stays: two conversions into one folder had deleted each other's temporary shards and both
    failed with "No such file or directory"."""
    removed = [p for p in temp_leftovers(root) if not _writer_running(p.name)]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def _writer_running(name: str) -> bool:
    """Whether the process named in a temporary file's name is alive (and not this one, whose pid
    an earlier, dead run may have had)."""
    m = _temp_name_parts(name)
    if m is None or int(m["pid"]) == os.getpid():
        return False
    try:
        os.kill(int(m["pid"]), 0)
    except ProcessLookupError:
        return False
    except OSError:  # (EPERM: alive, another user's)
        return True
    return True


def check_output_folder(path: str | os.PathLike) -> None:
    """An output folder may exist (it is written into) or not (it is made), but may not be a file;
    said before any work, in one line."""
    from .errors import FeltOutputError

    if Path(path).exists() and not Path(path).is_dir():
        raise FeltOutputError(f"{path}: the output path exists and is not a folder")


def check_writable_folder(path: str | os.PathLike) -> None:
    """An output folder that files can be written into, said before any work: a regeneration
    found a read-only ``--out`` only when it wrote the first trial's CSVs, after minutes of
    tracking with real Py-Feat.

    The folder, or where it is still to be made its nearest existing parent (so that a run
    refused later leaves no empty folder behind), is tried with a hidden probe file, made and
    removed at once: ``os.access`` answers from permission bits and said "writable" as root for
    ``/proc``, and misses read-only mounts seen through network file systems. Call
    :func:`check_output_folder` first for an output path that is a file.
    """
    from .errors import FeltOutputError

    given = Path(path)
    nearest = next(p for p in (given, *given.absolute().parents) if p.exists())
    if not nearest.is_dir():
        raise FeltOutputError(f"{path}: {nearest} exists and is not a folder")
    probe = temp_name(nearest / "write-probe")
    try:
        probe.open("xb").close()
    except OSError as e:
        where = "this folder" if nearest is given else f"{nearest}, where it would be made"
        raise FeltOutputError(f"{path}: cannot write into {where} ({e.strerror or e})") from None
    probe.unlink(missing_ok=True)


# --- folders a failed run made ------------------------------------------------------------------
def folders(root: str | os.PathLike) -> set[Path]:
    """Every folder under ``root``, ``root`` included (none if it does not exist): taken before a
    run, so that a failed run can remove the folders it made and nothing else."""
    root = Path(root)
    if not root.is_dir():
        return set()
    return {root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())}


def remove_new_empty_folders(root: str | os.PathLike, before: set[Path], made: Sequence[Path] = ()) -> None:
    """After a failed run: remove the folders under ``root`` (and ``root`` itself) that were not in
    ``before`` and are empty now, deepest first, then those of ``made`` (the missing ancestors the
    run created with ``mkdir(parents=True)``, deepest first). A failed conversion thus leaves the
    disk as it found it (its temporary files are removed by their writers), not a tree of empty
    config folders that ``datasets`` would list as configs without data."""
    new = sorted(folders(root) - before, key=lambda p: len(p.parts), reverse=True)
    for folder in [*new, *(Path(p) for p in made if Path(p) not in new)]:
        try:
            folder.rmdir()  # only if empty: a file someone put there meanwhile keeps its folder
        except OSError:
            pass


# --- the commit step -----------------------------------------------------------------------------
@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT), and a SIGTERM the CLI handles, until the block is done, then raise it.

    For the few hundred milliseconds in which a finished conversion replaces an earlier build
    (card and statistics removed, shards renamed into place, the new card written): a Ctrl-C
    there had left the earlier build without its card and statistics and with old and new shards
    mixed, a folder neither build (a probe hit it by polling for the renames). With the
    interrupt held, the block completes and the run still stops with "interrupted" (exit 130).
    An error inside the block goes on as it would. Outside the main thread, or where SIGINT is
    not Python's to handle, the block runs as is.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    mine = [s for s, h in previous.items() if h not in (signal.SIG_IGN, signal.SIG_DFL, None)]
    held: list[int] = []
    for s in mine:  # (SIGTERM: where felt_hf.cli made it an interrupt)
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for s in mine:
            signal.signal(s, previous[s])
    if held:
        previous[held[0]](held[0], None)  # the handler it would have run: raises its interrupt
        raise KeyboardInterrupt


class Replacement:
    """Files of an earlier build replaced as one unit, undone on any error.

    Each file about to be overwritten or removed is first renamed to a hidden backup beside it
    (a rename: no disk space needed), so :meth:`rollback` can put the earlier build back exactly,
    and :meth:`commit` deletes the backups. A disk that filled up while the new card was written
    (or one old shard that could not be replaced) had left new shards without a card or statistics,
    or old and new shards mixed: the earlier build was lost."""

    def __init__(self) -> None:
        self._undo: list[tuple[Path, Path | None]] = []  # (path now holding a new file or none, its backup)

    def put(self, new: Path, final: Path) -> None:
        """``new`` moved to ``final``, whatever was there set aside."""
        backup = self._set_aside(final)
        self._undo.append((final, backup))
        os.replace(new, final)

    def remove(self, path: Path) -> None:
        """``path`` set aside; anything later written there is removed again by a rollback."""
        self._undo.append((path, self._set_aside(path)))

    @staticmethod
    def _set_aside(path: Path) -> Path | None:
        if not path.exists():
            return None
        backup = temp_name(path)
        os.replace(path, backup)
        return backup

    def rollback(self) -> None:
        """Every new file removed and every backup back in its place, newest first."""
        for path, backup in reversed(self._undo):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if backup is not None:
                os.replace(backup, path)
        self._undo.clear()

    def commit(self) -> None:
        for _, backup in self._undo:
            if backup is not None:
                backup.unlink(missing_ok=True)
        self._undo.clear()


# --- one writer per output folder ----------------------------------------------------------------
@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str) -> Iterator[None]:
    """Hold ``folder``'s lock file (:data:`~felt_hf.layout.LOCK_FILENAME`) for the block; a second
    run into the same folder is refused in one line naming the first one's pid.

    Two conversions into one folder had both run to the end and swapped in one after the other
    (the later won, each swap whole): a user who started a second one by mistake got no word,
    and a ``push`` between them sent the first. ``flock`` (not the file's existence) is the lock,
    so a killed run's leftover file locks nothing; the file is removed, still locked, when the
    block ends. Where ``fcntl`` does not exist (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        yield
        return
    path = Path(folder) / LOCK_FILENAME
    fd = _locked_fd(path, fcntl, command)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _locked_fd(path: Path, fcntl, command: str) -> int:
    """An open, exclusively locked descriptor of ``path``, the file still at that name (a run that
    ended between our open and our lock removed the name: then the lock is taken again)."""
    from .errors import FeltOutputError

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # (a read-only folder): said of the folder the user named, not of our file
            raise OSError(e.errno, e.strerror, str(path.parent)) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise FeltOutputError(
                f"{path.parent}: {holder} is writing this folder; wait for it to end or write into another folder"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"felt-hf {command} (pid {os.getpid()})\n".encode(), 0)
            return fd
        os.close(fd)


def folder_writer(folder: str | os.PathLike) -> str | None:
    """Who holds ``folder``'s lock (``"felt-hf convert (pid N)"``), or None: for commands that
    read a folder (``push``) and must not send one that is being rewritten."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        return None
    try:
        fd = os.open(Path(folder) / LOCK_FILENAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _lock_holder(fd)
    finally:
        os.close(fd)
    return None


def _lock_holder(fd: int) -> str:
    """What the lock's holder wrote into it (``felt-hf convert (pid N)``)."""
    return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "a felt-hf run"


# --- folders no command but convert writes into ------------------------------------------------------
def refuse_inside_converted_folder(path: str | os.PathLike, what: str) -> None:
    """An output that would land in a converted dataset folder (or below one) is an error before
    any work: ``verify`` fails such a folder and ``push`` refuses it for the stray files (demo,
    regenerate, show, render and verify --json had written there without a word)."""
    from .errors import FeltOutputError

    here = Path(os.path.abspath(path))
    for folder in (here, *here.parents):
        if is_converted_folder(folder):
            raise FeltOutputError(
                f"{path}: inside the converted dataset folder {folder}; {what} there would spoil it "
                "(verify fails it and push refuses stray files), write it elsewhere"
            )
