"""Finding RAVDESS full-AV videos in the official zips or in unpacked ``Actor_NN/`` folders.

RAVDESS ships ``Video_Speech_Actor_NN.zip`` / ``Video_Song_Actor_NN.zip``, each holding
``Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4`` for both full-AV (``01``) and video-only (``02``) files.
FELT tracked only full-AV, so video-only files are skipped here. A file whose name looks like a
RAVDESS name but could not be one (a sung disgust, a strong neutral) is a mislabelled file and an
error naming it; files that do not look like RAVDESS names at all (and macOS junk) are ignored.
The walk, the junk filter and the duplicate check are the inputs stage's
(:func:`felt_hf.inputs.sources.iter_input_files`, :func:`~felt_hf.inputs.sources.duplicate_of`),
the same ones the converter finds CSVs and media with.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import FeltError, FeltPathError
from ..inputs.sources import duplicate_of, is_macos_junk, iter_input_files
from ..ravdess import TrialLabels, parse_trial_id

_NAME_RE = re.compile(r"^\d\d-\d\d-\d\d-\d\d-\d\d-\d\d-\d\d$")
VIDEO_SUFFIX = ".mp4"


@dataclass(frozen=True)
class VideoItem:
    """One full-AV trial video: a file on disk, or a member of a zip."""

    labels: TrialLabels
    source: str  # the mp4 path, or the zip path when ``member`` is set
    member: str | None = None

    @property
    def trial_id(self) -> str:
        return self.labels.trial_id

    @property
    def channel(self) -> str:
        return self.labels.vocal_channel

    @property
    def actor(self) -> int:
        return self.labels.actor

    @property
    def display(self) -> str:
        """Where the video came from, as written to the CSV ``input`` column and the manifest."""
        return f"{self.source}/{self.member}" if self.member else self.source

    def where(self) -> str:
        """What the duplicate check names (:func:`felt_hf.inputs.sources.duplicate_of`)."""
        return self.display

    @contextmanager
    def local_path(self, tmp_dir: str | os.PathLike) -> Iterator[str]:
        """A real file path for decoders that need one; zip members are extracted and removed after."""
        if self.member is None:
            yield self.source
            return
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
        target = Path(tmp_dir) / f"{self.trial_id}.{os.getpid()}.{uuid.uuid4().hex[:8]}{VIDEO_SUFFIX}"
        try:
            with zipfile.ZipFile(self.source) as zf, zf.open(self.member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
            yield str(target)
        finally:
            target.unlink(missing_ok=True)


def _candidate(name: str, display: str) -> TrialLabels | None:
    """Labels for a RAVDESS-looking video name, None for other files; an impossible name raises, naming ``display``."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if not base.lower().endswith(VIDEO_SUFFIX):
        return None
    stem = base[: -len(VIDEO_SUFFIX)]
    if not _NAME_RE.match(stem):
        return None
    return parse_trial_id(display, modalities=(1, 2, 3))


def _iter_source(path: Path) -> Iterator[VideoItem]:
    if not path.exists():
        raise FeltPathError(f"--videos {path}: no such file or folder")
    if path.is_file() and path.suffix.lower() != ".zip":
        labels = None if is_macos_junk(path.name) else _candidate(path.name, str(path))
        if labels is None:
            raise FeltError(f"{path}: not a RAVDESS video (expected MM-VV-EE-II-SS-RR-AA.mp4), a zip or a folder")
        yield VideoItem(labels, str(path))
        return
    for source, member, _size in iter_input_files(path):
        in_zip = source.lower().endswith(".zip") and Path(source).is_file()
        display = f"{source}/{member}" if in_zip else str(Path(source) / member)
        labels = _candidate(member, display)
        if labels is not None:
            yield VideoItem(labels, source, member) if in_zip else VideoItem(labels, display)


def same_file(a: VideoItem, b: VideoItem) -> bool:
    """Whether two finds are one file on disk (or one member of one zip), whatever path led to it."""
    return a.member == b.member and os.path.realpath(a.source) == os.path.realpath(b.source)


def discover_videos(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    channels: Iterable[str] | None = None,
    actors: Iterable[int] | None = None,
) -> list[VideoItem]:
    """Every full-AV trial under ``paths`` (zips, folders of ``Actor_NN/``, folders of zips), sorted by id.

    The same trial found twice (say, an unpacked folder next to its zip) is an error naming both,
    since which copy was tracked would otherwise be an accident of file order. The same file
    reached twice (a folder given twice, or a folder and a sub-folder of it) is one video, not a
    duplicate: the error had named the one path twice.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    want_channels = set(channels) if channels else None
    want_actors = {int(a) for a in actors} if actors else None
    found: dict[str, VideoItem] = {}
    for p in paths:
        for item in _iter_source(Path(p)):
            if item.labels.modality != 1:
                continue
            if want_channels and item.channel not in want_channels:
                continue
            if want_actors and item.actor not in want_actors:
                continue
            if item.trial_id in found and same_file(found[item.trial_id], item):
                continue
            dup = duplicate_of(found, item.trial_id, item.member or item.source, item.source if item.member else None)
            if dup is not None:
                raise dup
            found[item.trial_id] = item
    return [found[k] for k in sorted(found)]
