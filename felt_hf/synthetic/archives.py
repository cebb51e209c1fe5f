"""Realistic FELT-shaped archives, generated: the stand-in for data these machines cannot download.

Tests, benchmarks and the demo all run on what this module writes, so every quirk of the real
archives (see ``docs/FELT_FORMAT.md``) is reproduced on purpose: the four CSV header variants,
``\\r\\n`` line endings, full float64 precision, Windows ``input`` paths, no-face rows (NaN, with a
fresh ``Person_N`` label), two-face frames, forward-filled and re-saved raw files, leading no-face
rows that smoothing turns into all-NaN columns, junk zip members and undocumented nesting.

The values are made to *behave* like tracking output, not just to have the right shape: a 68-point
iBUG face (template measured on a real Py-Feat output, symmetrised) moves and rotates smoothly
within a whole-pixel face box, the mouth follows a speech or song rhythm, blinks close the lids,
action units and emotion scores lean weakly towards the trial's RAVDESS emotion (so a baseline
classifier finds a little signal), and a unit-norm 512-d embedding is stable per actor. The smoothed
file is FELT's own smoothing (:mod:`felt_hf.smoothing`) of the raw one.

Everything is a pure function of ``(seed, trial_id)`` (plus ``(seed, actor)`` for actor traits), so a
trial never depends on which other trials are generated, and archives are byte-identical across runs.
Data flows one way: this module writes archives and never imports the reader or the builder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from ..atomic import check_output_folder, refuse_inside_converted_folder, remove_temp_leftovers, temp_name
from ..errors import FeltOutputError
from ..layout import SYNTHETIC_MARKER, is_converted_folder
from ..progress import bars_wanted
from ..ravdess import parse_trial_id
from ..schema import (
    NUM_ACTORS,
    VARIANTS,
    VOCAL_CHANNELS,
    archive_stem,
)
from ..workers import ignore_interrupts
from .motion import _check_seed, _plan  # noqa: F401  (_plan: re-exported for felt_hf.synth users)
from .trials import INPUT_ROOT, SynthTrial, _trial_list, make_trial, select_trials  # noqa: F401  (re-exported)

__all__ = [
    "SAMPLE_ACTORS",
    "SAMPLE_TRIALS_PER_ACTOR",
    "SynthTrial",
    "make_trial",
    "select_trials",
    "write_archives",
    "write_sample",
]

# One actor of each sex per small split, so the default actor split has trials everywhere:
# train = 1-18, validation = 19-20, test = 21-24.
SAMPLE_ACTORS: tuple[int, ...] = (1, 2, 19, 20, 21, 22)
# A real trial is ~1.6 MB of CSV text per variant (the 512-d embedding at 17 digits), so the sample
# cannot be tiny: 2 trials per actor per channel (24 trials, ~35 MB zipped) still covers every split,
# all emotions across actors, and every quirk; zlib level 1 keeps it to a few seconds.
SAMPLE_TRIALS_PER_ACTOR = 2
SAMPLE_COMPRESSLEVEL = 1

ZIP_DATE_TIME = (2024, 8, 5, 12, 0, 0)  # fixed, so archives are byte-identical; FELT's release month
MARKER_FILENAME = SYNTHETIC_MARKER  # the converter looks for it to label a dataset as synthetic
_APPLE_DOUBLE = (
    b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\t\x00\x00\x002\x00\x00\x00\x0e"
    b"\x00\x00\x00\x02\x00\x00\x00@\x00\x00\x00\x00com.apple.quarantine\x00"
)
_DS_STORE = b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00\x00\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00" + bytes(40)


# --- rendering (worker side) ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Blob:
    """One member's bytes: deflated (with CRC and size) for zips, plain for folders."""

    data: bytes
    crc: int
    size: int


def _deflate(data: bytes, level: int) -> _Blob:
    """Raw deflate exactly as :mod:`zipfile` makes it, so workers can do the slow part in parallel."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return _Blob(comp.compress(data) + comp.flush(), zlib.crc32(data), len(data))


def _render(task: tuple[str, int, tuple[str, ...], int | None]) -> dict[str, _Blob]:
    """Generate one trial's files (``compresslevel=None``: uncompressed, for folders)."""
    trial_id, seed, variants, level = task
    trial = make_trial(trial_id, seed=seed)
    out = {}
    for variant in variants:
        data = trial.csv(variant)
        out[variant] = _deflate(data, level) if level is not None else _Blob(data, zlib.crc32(data), len(data))
    return out


def _rendered(tasks: list, num_proc: int) -> Iterator[dict[str, _Blob]]:
    """Results in task order; worker processes when more than one is asked for and useful."""
    if num_proc <= 1 or len(tasks) <= 1:
        yield from map(_render, tasks)
        return
    with get_context().Pool(min(num_proc, len(tasks)), initializer=ignore_interrupts) as pool:
        yield from pool.imap(_render, tasks, chunksize=1)


# --- archive layout and writing (main side) -----------------------------------------------------------
def _member_prefix(variant: str, channel: str) -> str:
    """Smoothed archives nest under a top folder, raw ones do not: readers must not care."""
    return f"{archive_stem(f'{variant}_{channel}')}/" if variant == "smoothed" else ""


def _csv_name(prefix: str, trial_id: str) -> str:
    return f"{prefix}Actor_{parse_trial_id(trial_id).actor:02d}/{trial_id}.csv"


def _junk_members(prefix: str, trial_ids: Sequence[str], *, zipped: bool) -> dict[str, bytes]:
    """What real-world zips pick up: macOS resource forks (``__MACOSX/``, ``._*``) and OS litter."""
    if not trial_ids:
        return {}
    firsts: dict[int, str] = {}
    for tid in trial_ids:
        firsts.setdefault(parse_trial_id(tid).actor, tid)
    junk = {f"{prefix}.DS_Store": _DS_STORE, f"{prefix}Thumbs.db": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(56)}
    first_actor, first_id = next(iter(firsts.items()))
    junk[f"{prefix}Actor_{first_actor:02d}/._{first_id}.csv"] = _APPLE_DOUBLE
    for actor, tid in list(firsts.items())[:2]:
        junk[f"__MACOSX/{prefix}Actor_{actor:02d}/._{tid}.csv"] = _APPLE_DOUBLE
    if zipped:
        junk["__MACOSX/"] = b""
    return junk


def _directories(prefix: str, trial_ids: Sequence[str]) -> list[str]:
    """Explicit folder entries, as 7-Zip writes them (only in the nested archives)."""
    if not prefix:
        return []
    actors = sorted({parse_trial_id(t).actor for t in trial_ids})
    return [prefix] + [f"{prefix}Actor_{a:02d}/" for a in actors]


def _zip_info(name: str) -> zipfile.ZipInfo:
    """Fixed metadata (date, Windows host, attributes): part of what makes archives reproducible."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.create_system = 0  # MS-DOS/Windows, where FELT was zipped
    info.external_attr = 0x10 if name.endswith("/") else 0x20  # directory / archive bit
    info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
    return info


def _write_deflated(zf: zipfile.ZipFile, info: zipfile.ZipInfo, blob: _Blob) -> None:
    """Append a member whose deflate stream was made elsewhere (by a worker).

    The bytes are exactly those ``ZipFile.writestr`` would produce (a test compares them); this
    lets compression run in the worker processes instead of serialising the whole run on zlib.
    """
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size, info.CRC, info.compress_size = blob.size, blob.crc, len(blob.data)
    info.flag_bits = 0
    zip64 = info.file_size * 1.05 > zipfile.ZIP64_LIMIT
    with zf._lock:  # zipfile has no public API for pre-compressed members
        zf._writecheck(info)
        zf._didModify = True
        info.header_offset = zf.fp.tell()
        zf.fp.write(info.FileHeader(zip64))
        zf.fp.write(blob.data)
        zf.start_dir = zf.fp.tell()
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info


class _ZipSink:
    """One archive being written: members in sorted order, trials arriving in that same order."""

    def __init__(self, final: Path, prefix: str, trial_ids: Sequence[str], level: int, junk: bool) -> None:
        self.final, self.prefix, self.level = final, prefix, level
        self.tmp = temp_name(final)  # hidden, and removed by a later run if this one is killed
        extra: dict[str, bytes | None] = {d: None for d in _directories(prefix, trial_ids)}
        if junk:
            extra.update(_junk_members(prefix, trial_ids, zipped=True))
        self.pending = sorted(extra.items(), reverse=True)  # pop() yields the smallest name
        self.zf = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=level)

    def _flush_before(self, name: str | None) -> None:
        while self.pending and (name is None or self.pending[-1][0] < name):
            entry, data = self.pending.pop()
            info = _zip_info(entry)
            if data is None or entry.endswith("/"):
                self.zf.writestr(info, b"")
            else:
                _write_deflated(self.zf, info, _deflate(data, self.level))

    def add_trial(self, trial_id: str, blob: _Blob) -> None:
        name = _csv_name(self.prefix, trial_id)
        self._flush_before(name)
        _write_deflated(self.zf, _zip_info(name), blob)

    def finish(self) -> None:
        """Complete the archive under its temporary name (:meth:`commit` renames it)."""
        self._flush_before(None)
        self.zf.close()

    def commit(self) -> Path:
        os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        self.zf.close()
        self.tmp.unlink(missing_ok=True)


class _FolderSink:
    """The extracted form, ``<stem>/Actor_NN/<id>.csv``, built in a temporary folder then renamed."""

    def __init__(self, final: Path, trial_ids: Sequence[str], junk: bool) -> None:
        self.final = final
        self.tmp = temp_name(final)  # hidden, and removed by a later run if this one is killed
        self.tmp.mkdir(parents=True)  # (a fresh name: nothing of an earlier run's to clear first)
        for name, data in (_junk_members("", trial_ids, zipped=False) if junk else {}).items():
            self._write(name, data)

    def _write(self, name: str, data: bytes) -> None:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def add_trial(self, trial_id: str, blob: _Blob) -> None:
        self._write(_csv_name("", trial_id), blob.data)

    def finish(self) -> None:
        """Everything is written under the temporary name already."""

    def commit(self) -> Path:
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _check_choice(name: str, given: Iterable[str], allowed: Sequence[str]) -> tuple[str, ...]:
    given = (given,) if isinstance(given, str) else tuple(given)
    bad = [g for g in given if g not in allowed]
    if bad or not given:
        raise ValueError(f"{name} must be a non-empty subset of {tuple(allowed)}, not {given!r}")
    return tuple(g for g in allowed if g in given)


def _check_actors(actors: Iterable[int] | None) -> tuple[int, ...]:
    if actors is None:
        return tuple(range(1, NUM_ACTORS + 1))
    out = tuple(sorted({int(a) for a in actors}))
    if not out or out[0] < 1 or out[-1] > NUM_ACTORS:
        raise ValueError(f"actors must be a non-empty set of actor numbers 1-{NUM_ACTORS}, not {actors!r}")
    return out


def refuse_to_overwrite(out_dir: Path, targets: Iterable[Path]) -> None:
    """Synthetic archives go only into a folder that holds none of their names, or over a sample
    this package made (its :data:`MARKER_FILENAME` is there): never over what may be a real FELT
    download, and never into a converted dataset folder."""
    check_output_folder(out_dir)
    if is_converted_folder(out_dir):
        raise FeltOutputError(f"{out_dir} is a converted dataset folder; write the synthetic archives elsewhere")
    refuse_inside_converted_folder(out_dir, "the synthetic archives")  # (a folder below one spoils it too)
    if (out_dir / MARKER_FILENAME).exists():
        return
    for path in targets:
        if path.exists():
            raise FeltOutputError(
                f"{path} already exists and {out_dir} has no {MARKER_FILENAME} marker (it may be a real FELT "
                "download): write the synthetic archives into another folder"
            )


def refuse_mixed_samples(out_dir: Path, targets: Sequence[Path]) -> None:
    """Over an earlier sample, tracking archives (or extracted folders) that this run does not
    replace are an error: they stayed from the earlier run (its seed, actors) under the new
    marker, and a conversion mixed the two samples (``--channels speech`` over a full sample)."""
    if not (out_dir / MARKER_FILENAME).exists():
        return
    keep = set(targets)
    stale = [
        path.name
        for stem in (archive_stem(f"{v}_{c}") for c in VOCAL_CHANNELS for v in VARIANTS)
        for path in (out_dir / stem, out_dir / f"{stem}.zip")
        if path.exists() and path not in keep
    ]
    if stale:
        raise FeltOutputError(
            f"{out_dir} holds an earlier sample's {', '.join(stale)}, which this run does not write: the folder "
            "would mix two samples; remove them, or write into another folder"
        )


def _write_marker(out_dir: Path, seed: int, actors: tuple[int, ...], trials_per_actor: int | None) -> None:
    """Leave a note that these archives are made up (the converter labels the dataset from it)."""
    text = (
        "These archives were generated by felt_hf.synth: synthetic FELT-shaped data, not real tracking.\r\n"
        f"seed={seed} actors={','.join(map(str, actors))} trials_per_actor={trials_per_actor}\r\n"
    )
    (out_dir / MARKER_FILENAME).write_bytes(text.encode())


def _actor_text(actors) -> str:
    return ", ".join(str(a) for a in actors) if actors is not None else "1-24"


def write_archives(
    out_dir,
    *,
    actors: Iterable[int] | None = None,
    channels: Iterable[str] = ("speech", "song"),
    variants: Iterable[str] = ("raw", "smoothed"),
    trials_per_actor: int | None = None,
    seed: int = 0,
    extracted: bool = False,
    compresslevel: int = 6,
    num_proc: int | None = None,
    junk: bool = True,
    progress: bool = True,
) -> dict[str, Path]:
    """Write FELT-shaped archives (``raw_motion_speech.zip`` ...) into ``out_dir``.

    Returns ``{config name: path}`` (a zip, or with ``extracted=True`` a folder
    ``<stem>/Actor_NN/<id>.csv``). Workers generate and deflate each trial; the main process only
    appends bytes, and each archive appears under its final name only once complete.
    """
    from tqdm.auto import tqdm

    seed = _check_seed(seed)
    channels = _check_choice("channels", channels, VOCAL_CHANNELS)
    variants = _check_choice("variants", variants, VARIANTS)
    actors = _check_actors(actors)
    if not 0 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be 0-9, not {compresslevel}")
    num_proc = (os.cpu_count() or 1) if num_proc is None else max(1, int(num_proc))
    out_dir = Path(out_dir)
    plan = {ch: _trial_list(ch, actors, trials_per_actor, seed) for ch in channels}
    empty = [ch for ch, ids in plan.items() if not ids]
    if empty:  # e.g. song for actor 18 alone, who recorded none in RAVDESS: an archive without trials
        raise ValueError(f"no RAVDESS {' or '.join(empty)} trials for actor(s) {_actor_text(actors)}; nothing to write")
    stems = [archive_stem(f"{v}_{c}") for c in channels for v in variants]
    targets = [out_dir / (stem if extracted else f"{stem}.zip") for stem in stems]
    refuse_to_overwrite(out_dir, targets)
    refuse_mixed_samples(out_dir, targets)
    made_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_temp_leftovers(out_dir)  # a killed run's partial archives (their names had not been hidden)
    finished: dict[str, _ZipSink | _FolderSink] = {}
    try:
        with tqdm(
            total=sum(map(len, plan.values())), desc="FELT synth", unit="trial", disable=not bars_wanted(progress)
        ) as bar:
            for channel, trial_ids in plan.items():
                finished.update(
                    _write_channel(
                        out_dir, channel, trial_ids, variants, seed, extracted, compresslevel, num_proc, junk, bar
                    )
                )
    except BaseException:  # Ctrl-C or an error while generating: the earlier archives stay as they were
        for sink in finished.values():
            sink.abort()
        if made_dir:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    # One set: the marker and every archive are replaced together, only once all are complete, so
    # an interrupted run never mixes this seed's archives with an earlier run's.
    _write_marker(out_dir, seed, actors, trials_per_actor)
    return {config: sink.commit() for config, sink in finished.items()}


def _write_channel(out_dir, channel, trial_ids, variants, seed, extracted, level, num_proc, junk, bar) -> dict:
    """Both variants of one channel from a single pass over its trials, complete under temporary
    names (``{config: sink}``; the caller commits them all at once)."""
    sinks = {}
    for variant in variants:
        stem = archive_stem(f"{variant}_{channel}")
        if extracted:
            sinks[variant] = _FolderSink(out_dir / stem, trial_ids, junk)
        else:
            prefix = _member_prefix(variant, channel)
            sinks[variant] = _ZipSink(out_dir / f"{stem}.zip", prefix, trial_ids, level, junk)
    tasks = [(tid, seed, variants, None if extracted else level) for tid in trial_ids]
    try:
        for tid, blobs in zip(trial_ids, _rendered(tasks, num_proc), strict=True):
            for variant, sink in sinks.items():
                sink.add_trial(tid, blobs[variant])
            bar.update(1)
        for sink in sinks.values():
            sink.finish()
        return {f"{variant}_{channel}": sink for variant, sink in sinks.items()}
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise


def write_sample(
    out_dir,
    *,
    seed: int = 0,
    extracted: bool = False,
    trials_per_actor: int = SAMPLE_TRIALS_PER_ACTOR,
    compresslevel: int = SAMPLE_COMPRESSLEVEL,
    num_proc: int | None = None,
    progress: bool = False,
) -> dict[str, Path]:
    """The built-in sample: all four archives for :data:`SAMPLE_ACTORS`, every split populated."""
    return write_archives(
        out_dir,
        actors=SAMPLE_ACTORS,
        trials_per_actor=trials_per_actor,
        seed=seed,
        extracted=extracted,
        compresslevel=compresslevel,
        num_proc=num_proc,
        progress=progress,
    )
