"""``felt-hf verify``: prove that a FELT download, or a converted folder, is whole and right.

Two kinds of input, told apart by content (:func:`detect_kind`):

* a **download** (the FELT archives, zips or extracted folders): checksums against the record's
  published files, the trial set against RAVDESS's 2452 ids, names, headers, raw and smoothed
  holding the same trials, and FELT's smoothing applied to each raw file reproducing its
  smoothed file (:func:`verify_download`);
* a **converted folder** (``felt-hf convert`` output): the card's configs and files against the
  folder, parquet footers against the card, typed features against the schema, ``stats.json``
  against the data, the synthetic label (:func:`verify_folder`). ``felt-hf push`` runs it first.

Each check is a :class:`Check` with ``pass``/``fail``/``warn``/``skip``; any ``fail`` makes the
command exit 1. Per-trial work runs in a process pool (both cores), with a progress bar.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import hashlib
import io
import json
import multiprocessing as mp
import os
import random
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .. import schema
from ..argtypes import whole
from ..atomic import folder_writer, temp_leftovers, write_report_bytes
from ..card_yaml import card_data_files, read_card
from ..errors import FeltArchiveError, FeltError, FeltFormatError, FeltPathError
from ..inputs.csv_fast import prepare_worker_process, read_trial_csv_fast
from ..inputs.sources import (
    CsvMember,
    check_member_info,
    check_reading_settings,
    find_source,
    max_member_bytes,
    scan_members,
)
from ..layout import (
    CARD_FILENAME,
    EXTRA_FILES,
    SHARD_SUFFIX,
    SKIPPED_FILENAME,
    SYNTHETIC_MARKER,
    has_shards,
    is_foreign_file,
    path_glob_problem,
)
from ..parquet_reads import read_table
from ..progress import bars_wanted
from ..workers import ignore_interrupts
from .verify_media import check_media
from .verify_pages import check_pages
from .verify_rows import check_rows

# --- the FELT record's published files (seeds/FELT_zenodo_record.txt, docs FELT_FORMAT.md) -------
# Six files, in the record's order, md5 and displayed size. The record text does not say which
# file name goes with which md5, so an archive is identified by its md5 value alone.
PUBLISHED_FILES: tuple[tuple[str, str], ...] = (
    ("f46413a86bf74e329b46986acab29e89", "834.7 MB"),
    ("de7d11061808451964fa8b31a4b07aed", "944.9 MB"),
    ("b9a7ad6ad3ab18a76e64eb70a7576ff7", "798.1 MB"),
    ("d9956b6d2e25fdf8983dfd9e8cc62656", "903.3 MB"),
    ("f4939e17bf6d4b3c1171ac8b43f068c1", "904.2 MB"),
    ("0ea7ef3bb2f63e9d4b8bb398f18b59fa", "1.0 GB"),
)
RECORD = "FELT record (doi 10.5281/zenodo.13243600)"
# Worst |reproduced - published smoothed| allowed, in each column's own unit (px, degrees,
# probability). Both sides are float64 text with ~17 significant digits and the same filter, so a
# faithful file differs by ~1e-12; a real change (another filter, float32 rounding) by far more.
SMOOTHING_TOLERANCE = 1e-6
SMOOTHING_GROUPS: dict[str, tuple[str, ...]] = {
    "face_box": schema.FACE_BOX_COLUMNS,
    "landmarks": schema.LANDMARK_X_COLUMNS + schema.LANDMARK_Y_COLUMNS,
    "head_pose": schema.POSE_COLUMNS,
    "action_units": schema.AU_NAMES,
    # Not smoothed by FELT: the smoothed file must carry the raw (forward-filled) values.
    "unsmoothed": (schema.FACE_SCORE_COLUMN,) + schema.EMOTION_SCORE_NAMES + schema.IDENTITY_COLUMNS,
}
KNOWN_LAYOUTS = {layout: schema.header_for(layout) for layout in schema.CSV_LAYOUTS}
LAYOUTS_OF_VARIANT = {"raw": ("raw", "raw_resaved"), "smoothed": ("smoothed", "smoothed_resaved")}
STATUSES = ("pass", "fail", "warn", "skip")
FOLDER_EXTRA_FILES = EXTRA_FILES
HEADER_LIMIT = 1 << 20  # a FELT header is ~8 KB; read no further looking for its end


@dataclass
class Check:
    """One line of the table: ``status`` is pass, fail, warn or skip; ``details`` go to the JSON."""

    name: str
    status: str
    summary: str
    details: Any = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


@dataclass
class Report:
    kind: str
    path: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def add(self, name: str, status: str, summary: str, details: Any = None) -> Check:
        check = Check(name, status, summary, details)
        self.checks.append(check)
        return check

    def table(self) -> str:
        """The short table the command prints."""
        width = max([len(c.name) for c in self.checks] + [5])
        lines = [f"felt-hf verify: {self.kind} {self.path}"]
        lines += [f"  {note}" for note in self.notes]
        for c in self.checks:
            lines.append(f"  {c.status.upper():<4}  {c.name:<{width}}  {c.summary}")
        failed = sum(c.status == "fail" for c in self.checks)
        lines.append(f"  => {'OK' if self.ok else f'FAILED ({failed} check(s))'}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "ok": self.ok, "notes": self.notes,
                "checks": [asdict(c) for c in self.checks]}  # fmt: skip

    def write_json(self, path: str | os.PathLike) -> Path:
        text = json.dumps(self.to_dict(), indent=1, default=_json_default) + "\n"
        return write_report_bytes(path, text.encode("utf-8"))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _few(items: Sequence[str], n: int = 6) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f", +{len(items) - n} more" if len(items) > n else "")


# --- which kind of input ----------------------------------------------------------------------
def detect_kind(path: str | os.PathLike) -> str:
    """``"folder"`` (a card declaring configs), ``"download"`` (FELT archives) or a path error."""
    p = Path(path)
    if not p.exists():
        raise FeltPathError(f"{p}: no such file or folder")
    if not p.is_dir():
        raise FeltPathError(f"{p}: not a folder (give the folder holding the archives, or a converted folder)")
    card = p / CARD_FILENAME
    if card.is_file() and "configs:" in card.read_text(encoding="utf-8", errors="replace"):
        return "folder"
    if any(_has_source(p, c) for c in schema.CONFIG_NAMES) or any(p.glob("*.zip")):
        return "download"
    if has_shards(p):
        return "folder"  # a converted folder that lost its card (e.g. a killed conversion)
    raise FeltPathError(
        f"{p}: neither FELT archives ({', '.join(schema.archive_stem(c) + '.zip' for c in schema.CONFIG_NAMES)}) "
        "nor a converted folder (README.md with configs)"
    )


def _has_source(p: Path, config: str) -> bool:
    try:
        find_source(p, config)
        return True
    except FileNotFoundError:
        return False


def verify(
    path: str | os.PathLike, *, sample: int | None = None, num_proc: int | None = None, progress: bool = True,
    seed: int = 0,
) -> Report:  # fmt: skip
    """Verify a download or a converted folder, whichever ``path`` is."""
    kind = detect_kind(path)
    if kind == "folder":
        return verify_folder(path, sample=sample)
    return verify_download(path, sample=sample, num_proc=num_proc, progress=progress, seed=seed)


# --- download: checksums ------------------------------------------------------------------------
def zenodo_size(n: int) -> str:
    """A size as the record displays it (decimal units, one decimal)."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def file_md5(path: str | os.PathLike) -> tuple[str, int]:
    h, size = hashlib.md5(), 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 * 1024 * 1024), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def match_published(md5: str, size: int, published: Sequence[tuple[str, str]] = PUBLISHED_FILES) -> dict:
    """Which published file an archive is, by md5 value; or why it is none of them."""
    for i, (pub_md5, pub_size) in enumerate(published, 1):
        if md5 == pub_md5:
            return {"published_file": i, "published_md5": pub_md5, "published_size": pub_size,
                    "size_agrees": zenodo_size(size) == pub_size}  # fmt: skip
    same_size = [i for i, (_, s) in enumerate(published, 1) if zenodo_size(size) == s]
    return {"published_file": None, "same_displayed_size_as": same_size}


def _check_archives(report: Report, root: Path, pool, published: Sequence[tuple[str, str]]) -> None:
    zips = sorted(root.glob("*.zip"))
    synthetic = (root / SYNTHETIC_MARKER).exists()
    if not zips:
        report.add("checksums", "skip", "no .zip in the folder (extracted folders carry no published checksum)")
        return
    sums = list(pool.map(file_md5, zips)) if pool else [file_md5(z) for z in zips]
    details, bad = [], []
    for z, (md5, size) in zip(zips, sums, strict=True):
        m = match_published(md5, size, published)
        details.append({"archive": z.name, "md5": md5, "size": size, **m})
        if m["published_file"] is None:
            bad.append(z.name)
    found = [f"{d['archive']} = file #{d['published_file']} ({d['published_size']})" for d in details
             if d["published_file"]]  # fmt: skip
    text = "; ".join(found) if found else ""
    note = "; the record does not say which name each md5 belongs to"
    if synthetic:
        report.add("checksums", "skip", f"SYNTHETIC sample ({SYNTHETIC_MARKER} marker): no published checksums; "
                   f"{len(zips)} archive(s) hashed", details)  # fmt: skip
    elif bad:
        report.add("checksums", "fail", f"{_few(bad)}: md5 matches none of the {RECORD}'s {len(published)} files"
                   + (f"; {text}" if text else "") + note, details)  # fmt: skip
    else:
        report.add("checksums", "pass", text + note, details)


# --- download: trial sets, names, headers ---------------------------------------------------------
def _sources(root: Path) -> dict[str, Path]:
    return {c: find_source(root, c) for c in schema.CONFIG_NAMES if _has_source(root, c)}


def _check_trial_sets(report: Report, members: dict[str, list[CsvMember]]) -> None:
    from ..ravdess import expected_trial_ids

    details, failed, parts = {}, False, []
    for config, ms in members.items():
        _, channel = schema.config_parts(config)
        expected = set(expected_trial_ids(channel))
        have = {m.trial_id for m in ms}
        missing, extra = sorted(expected - have), sorted(have - expected)
        per_actor = Counter(m.labels.actor for m in ms)
        details[config] = {"expected": len(expected), "found": len(have), "missing": missing, "extra": extra,
                           "per_actor": dict(sorted(per_actor.items()))}  # fmt: skip
        failed |= bool(missing or extra)
        wrong = [f"{len(missing)} missing"] * bool(missing) + [f"{len(extra)} extra"] * bool(extra)
        parts.append(f"{config} {len(have)}/{len(expected)}" + (f" ({', '.join(wrong)})" if wrong else ""))
    for channel in schema.VOCAL_CHANNELS:
        if not any(schema.config_parts(c)[1] == channel for c in members):
            parts.append(f"no {channel} archive")
            failed = True
    report.add("trial_set", "fail" if failed else "pass", "; ".join(parts) + " (2452 = 1440 speech + 1012 song)",
               details)  # fmt: skip


def _check_names(report: Report, bad: dict[str, list[tuple[str, FeltError]]]) -> None:
    problems = [{"archive": c, "member": m, "error": str(e)} for c, items in bad.items() for m, e in items]
    if problems:
        report.add("names", "fail", f"{len(problems)} member(s) not a valid trial: {problems[0]['error']}", problems)
    else:
        report.add("names", "pass", "every CSV member is a valid RAVDESS full-AV id of its archive's channel")


def _check_pairs(report: Report, members: dict[str, list[CsvMember]]) -> None:
    details, failed, parts = {}, False, []
    for channel in schema.VOCAL_CHANNELS:
        raw, sm = members.get(f"raw_{channel}"), members.get(f"smoothed_{channel}")
        if raw is None or sm is None:
            parts.append(f"{channel}: {'raw' if raw is None else 'smoothed'} archive absent")
            failed = True
            continue
        a, b = {m.trial_id for m in raw}, {m.trial_id for m in sm}
        details[channel] = {"only_raw": sorted(a - b), "only_smoothed": sorted(b - a)}
        if a != b:
            failed = True
            parts.append(f"{channel}: {len(a - b)} only raw, {len(b - a)} only smoothed")
        else:
            parts.append(f"{channel}: same {len(a)} trials")
    report.add("raw_vs_smoothed", "fail" if failed else "pass", "; ".join(parts), details)


# --- download: per-trial work (headers, smoothing), run in worker processes ------------------------
_ZIPS: dict[str, zipfile.ZipFile] = {}


def _close_zips() -> None:
    for zf in _ZIPS.values():
        zf.close()
    _ZIPS.clear()


def _member_bytes(m: CsvMember, header_only: bool) -> bytes:
    """The member's bytes (or just its first line), with the converter's archive guards."""
    if not m.is_zip:
        path = os.path.join(m.source, m.member)
        if os.path.getsize(path) > max_member_bytes():
            raise FeltArchiveError(m.member, f"{os.path.getsize(path):,} bytes is more than any tracking CSV",
                                   archive=m.source)  # fmt: skip
        with open(path, "rb") as fh:
            return fh.readline(HEADER_LIMIT) if header_only else fh.read()
    zf = _ZIPS.get(m.source)
    if zf is None:
        zf = _ZIPS[m.source] = zipfile.ZipFile(m.source)
    info = zf.getinfo(m.member)
    check_member_info(info, m.source)
    with zf.open(info) as fh:
        return fh.readline(HEADER_LIMIT) if header_only else fh.read()


def header_layout(line: bytes) -> tuple[str | None, list[str]]:
    """Which known layout a header line is (None if none) and its names."""
    text = line.decode("utf-8-sig").rstrip("\r\n")
    if "\r" in text:
        return None, []
    names = next(csv.reader([text]))
    for layout, header in KNOWN_LAYOUTS.items():
        if tuple(names) == header:
            return layout, names
    return None, names


def header_difference(names: list[str]) -> str:
    """How a header that is no known layout differs from the closest one: the columns it lacks and
    those it has in excess (or, with the same columns, the first place the order differs)."""
    if not names or names == [""]:
        return "the header line is empty"
    best = min(KNOWN_LAYOUTS.items(), key=lambda kv: len(set(kv[1]) ^ set(names)))
    layout, header = best
    missing = [c for c in header if c not in names]
    extra = [c for c in names if c not in header]
    if missing or extra or len(names) != len(header):
        parts = [f"lacks {_few_names(missing)}" if missing else "", f"has {_few_names(extra)} besides" if extra else ""]
        if not missing and not extra:
            parts = [f"has {len(names)} columns, not {len(header)} (a column appears twice?)"]
        return f"closest is {layout}, which it {' and '.join(p for p in parts if p)}"
    i = next(i for i, (a, b) in enumerate(zip(names, header, strict=True)) if a != b)
    return f"closest is {layout}: column {i + 1} is {names[i]!r}, not {header[i]!r}"


def _few_names(names: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(c) for c in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _read_float_columns(data: bytes, wanted: Sequence[str], name: str) -> dict[str, np.ndarray]:
    """Selected columns as float64, every row in file order (two-face frames included), as FELT's
    pandas code saw them. Kept apart from the converter's reader on purpose: it must see rows the
    converter reduces (two-face frames) and float64, not float32."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ..inputs.csv_reader import NAN_SPELLINGS, _located_error, dedupe_header

    end = data.find(b"\n")
    names = dedupe_header(next(csv.reader([data[:end].decode("utf-8-sig").rstrip("\r")])))
    present = [c for c in wanted if c in names]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data[end + 1 :]),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(present, pa.float64()),
                                                 include_columns=present, strings_can_be_null=True,
                                                 null_values=NAN_SPELLINGS),  # (the converter's: not NA, NULL)
        )  # fmt: skip
    except pa.ArrowInvalid as e:  # pyarrow's "In CSV column #c: Row #r" -> the column's name and the row
        raise _located_error(str(e), names, name) from None
    return {c: table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in present}


def compare_smoothing(raw: bytes, smoothed: bytes, name: str, raw_name: str | None = None,
                      smoothed_name: str | None = None) -> dict:  # fmt: skip
    """FELT's smoothing of the raw file against the smoothed file: worst |difference| per group.

    FELT forward-filled the raw file, then filtered each smoothed column; the other columns were
    carried over. NaN must sit where NaN sits (a NaN against a number counts as infinite).
    """
    from ..inputs.smoothing import forward_fill, smooth_block

    wanted = [c for cols in SMOOTHING_GROUPS.values() for c in cols]
    a = _read_float_columns(raw, wanted, raw_name or name)  # (errors name the member read)
    b = _read_float_columns(smoothed, wanted, smoothed_name or name)
    n_raw = len(next(iter(a.values()))) if a else 0
    n_sm = len(next(iter(b.values()))) if b else 0
    if n_raw != n_sm:
        return {"error": f"raw has {n_raw} rows, smoothed {n_sm}"}
    out: dict[str, float | None] = {}
    for group, cols in SMOOTHING_GROUPS.items():
        cols = [c for c in cols if c in a and c in b]
        if not cols:
            out[group] = None
            continue
        x = forward_fill(np.column_stack([a[c] for c in cols]))
        y = np.column_stack([b[c] for c in cols])
        if group != "unsmoothed":
            x = smooth_block(x, name=name)  # FeltSmoothingError for clips FELT could not smooth
        both_nan = np.isnan(x) & np.isnan(y)
        diff = np.where(both_nan, 0.0, np.abs(x - y))
        out[group] = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0
    return {"worst": out, "rows": n_raw}


def _trial_task(task: tuple) -> dict:
    """Headers of one trial's raw and smoothed members; the smoothing comparison when sampled."""
    trial_id, raw, smoothed, sampled = task
    out: dict[str, Any] = {"trial_id": trial_id, "headers": {}, "errors": []}
    data: dict[str, bytes] = {}
    for variant, m in (("raw", raw), ("smoothed", smoothed)):
        if m is None:
            continue
        try:
            blob = _member_bytes(m, header_only=not (sampled and raw and smoothed))
            layout, names = header_layout(blob.split(b"\n", 1)[0])
            out["headers"][variant] = {"member": m.where(), "layout": layout}
            if layout is None:
                out["headers"][variant]["why"] = header_difference(names)
            if layout is not None and layout not in LAYOUTS_OF_VARIANT[variant]:
                out["errors"].append(f"{m.where()}: a {layout} header in a {variant} archive")
            data[variant] = blob
        except (FeltError, zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError,
                UnicodeDecodeError, ValueError) as e:  # fmt: skip
            out["errors"].append(f"{m.where()}: cannot read: {e}")
    if sampled and len(data) == 2 and not out["errors"]:
        try:
            for variant, m in (("raw", raw), ("smoothed", smoothed)):  # read as `felt-hf convert` reads them:
                read_trial_csv_fast(data[variant], name=m.where())  # (NA cells, frames going back: refused)
            out["smoothing"] = compare_smoothing(data["raw"], data["smoothed"], trial_id, raw.where(), smoothed.where())
        except FeltFormatError as e:  # already names archive:member, row and column
            out["smoothing"] = {"error": str(e)}
        except (FeltError, ValueError, OSError) as e:
            out["smoothing"] = {"error": f"{trial_id}: {e}"}
    return out


def _init_trial_worker() -> None:
    """A trial worker parses CSVs as convert does: set up as the converter's workers are
    (``prepare_worker_process``: a worker forked from a process whose polars thread pool has run
    deadlocks on its first polars parse, so it reads with the strict reader instead)."""
    ignore_interrupts()
    prepare_worker_process()


def _run_trials(tasks: list[tuple], num_proc: int, progress: bool) -> list[dict]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), unit="trial", desc="Verifying FELT", disable=not bars_wanted(progress))
    results = []
    try:
        if num_proc <= 1:
            for t in tasks:
                results.append(_trial_task(t))
                bar.update()
        else:
            with mp.get_context().Pool(num_proc, initializer=_init_trial_worker) as pool:
                for r in pool.imap(_trial_task, tasks, chunksize=8):
                    results.append(r)
                    bar.update()
    finally:
        bar.close()
    return results


def verify_download(
    path: str | os.PathLike, *, sample: int | None = None, num_proc: int | None = None, progress: bool = True,
    seed: int = 0, published: Sequence[tuple[str, str]] = PUBLISHED_FILES,
) -> Report:  # fmt: skip
    """Every check of a FELT download; ``sample`` compares smoothing on that many trials (seeded)."""
    check_reading_settings()
    root = Path(path)
    report = Report("download", str(root))
    if (root / SYNTHETIC_MARKER).exists():
        report.notes.append("SYNTHETIC: these archives were generated by felt_hf.synth, not downloaded")
    num_proc = max(1, num_proc or os.cpu_count() or 1)
    if num_proc > 1:
        with mp.get_context().Pool(min(num_proc, 4), initializer=ignore_interrupts) as pool:
            _check_archives(report, root, pool, published)
    else:
        _check_archives(report, root, None, published)
    members: dict[str, list[CsvMember]] = {}
    bad: dict[str, list[tuple[str, FeltError]]] = {}
    for config, source in _sources(root).items():
        try:
            members[config], bad[config] = scan_members(source, channel=schema.config_parts(config)[1])
        except FeltError as e:
            report.add(f"archive:{config}", "fail", str(e))
    if not members:
        report.add("trial_set", "fail", "no readable FELT archive")
        return report
    _check_trial_sets(report, members)
    _check_names(report, bad)
    _check_pairs(report, members)
    ids = sorted({m.trial_id for ms in members.values() for m in ms})
    if sample is not None and sample >= len(ids):
        sample = None  # every trial (--sample all)
    chosen = set(ids) if sample is None else set(random.Random(seed).sample(ids, sample))
    tasks = []
    for channel in schema.VOCAL_CHANNELS:
        raw = {m.trial_id: m for m in members.get(f"raw_{channel}", [])}
        sm = {m.trial_id: m for m in members.get(f"smoothed_{channel}", [])}
        for tid in sorted(set(raw) | set(sm)):
            tasks.append((tid, raw.get(tid), sm.get(tid), tid in chosen))
    _close_zips()  # a cached handle may point at an archive since replaced; workers fork from here
    try:
        results = _run_trials(tasks, num_proc, progress)
    finally:
        _close_zips()
    _check_headers(report, results)
    _check_smoothing(report, results, sample)
    return report


def _check_headers(report: Report, results: list[dict]) -> None:
    layouts = Counter(h["layout"] for r in results for h in r["headers"].values())
    unknown = [f"{h['member']} ({h['why']})" for r in results for h in r["headers"].values() if h["layout"] is None]
    errors = [e for r in results for e in r["errors"]]
    counts = ", ".join(f"{k} {v}" for k, v in sorted(layouts.items(), key=lambda kv: str(kv[0])) if k)
    details = {"layouts": {str(k): v for k, v in layouts.items()}, "unknown": unknown, "errors": errors}
    if unknown or errors:
        first = errors[0] if errors else f"{unknown[0]}: header is none of {', '.join(KNOWN_LAYOUTS)}"
        report.add("headers", "fail", f"{len(unknown) + len(errors)} problem(s): {first}", details)
    else:
        report.add("headers", "pass", f"every header a known layout ({counts})", details)


def _check_smoothing(report: Report, results: list[dict], sample: int | None) -> None:
    done = [r for r in results if "smoothing" in r]
    if not done:
        report.add("smoothing", "skip", "no trial has both a raw and a smoothed file to compare")
        return
    worst: dict[str, float] = {}
    failures = []
    for r in done:
        s = r["smoothing"]
        if "error" in s:
            failures.append({"trial_id": r["trial_id"], "error": s["error"]})
            continue
        bad = {g: v for g, v in s["worst"].items() if v is not None and v > SMOOTHING_TOLERANCE}
        for g, v in s["worst"].items():
            if v is not None:
                worst[g] = max(worst.get(g, 0.0), v)
        if bad:
            failures.append({"trial_id": r["trial_id"], "worst": bad})
    scope = f"{len(done)} trial(s)" + (" (sample)" if sample is not None else " (all)")
    groups = ", ".join(f"{g} {v:.1e}" for g, v in worst.items())
    details = {"tolerance": SMOOTHING_TOLERANCE, "worst": worst, "trials": len(done), "failures": failures}
    summary = f"{scope}; worst |diff| {groups} (tolerance {SMOOTHING_TOLERANCE:g})"
    if failures:
        f = failures[0]
        report.add("smoothing", "fail", f"{len(failures)} trial(s) not reproduced, e.g. {f['trial_id']}: "
                   f"{f.get('error') or f.get('worst')}; {summary}", details)  # fmt: skip
    else:
        report.add("smoothing", "pass", summary, details)


# --- converted folder -------------------------------------------------------------------------------
def _walk(root: Path) -> list[str]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.split("/")[0] in (".cache", ".git"):
            continue
        if p.is_file() or p.is_symlink():
            out.append(rel)
    return out


def folder_problems(root: Path, configs: dict[str, dict]) -> tuple[list[str], list[str], list[str]]:
    """Structural problems (card vs files, strays, .py, truncated parquet), temp leftovers, and
    the data files; shared by ``verify`` and ``push`` (felt_hf.hub.check_folder)."""
    rels = _walk(root)
    leftovers = [p.relative_to(root).as_posix() for p in temp_leftovers(root)]
    globs = {name: card_data_files(cfg) for name, cfg in configs.items()}
    all_globs = [g for gs in globs.values() for split_globs in gs.values() for g in split_globs]
    problems, data = [], []
    for rel in rels:
        name = PurePosixPath(rel).name
        if rel in leftovers or is_foreign_file(rel):  # (a killed run's lock file; a hub clone's .gitattributes)
            continue
        if rel.endswith(".py"):
            problems.append(f"{rel}: a Python file (datasets runs no loading scripts; the card's YAML is the loader)")
        elif rel == CARD_FILENAME or rel in FOLDER_EXTRA_FILES:
            continue
        elif any(fnmatch.fnmatchcase(rel, g) for g in all_globs) and not name.startswith("."):
            data.append(rel)
        elif rel.endswith(SHARD_SUFFIX) and not name.startswith("."):
            problems.append(f"{rel}: a Parquet file that no config's data_files in README.md matches")
        else:
            problems.append(f"{rel}: not a Parquet shard, README.md or " + " / ".join(FOLDER_EXTRA_FILES))
    for name, gs in globs.items():
        for split, split_globs in gs.items():
            for g in split_globs:
                if not any(fnmatch.fnmatchcase(rel, g) for rel in data):
                    problems.append(f"config {name!r}: data_files {g!r} matches no file in the folder ({split} split)")
    for rel in data:
        if not rel.endswith(SHARD_SUFFIX):  # (a `train-00001-of-00004.parquet.bak` that `train-*` matches)
            problems.append(f"{rel}: matched by the card's data_files but not a Parquet shard (the converter names "
                            "them split-NNNNN-of-NNNNN.parquet); remove it or move it out of the folder")  # fmt: skip
            continue
        try:
            complete = _is_parquet(root / rel)
        except OSError as e:  # a dangling link, a folder, an unreadable file: a FAIL naming it, not exit 2
            problems.append(f"{rel}: cannot be read ({e.strerror or e})")
            continue
        if not complete:
            problems.append(f"{rel}: not a complete Parquet file")
    data = [rel for rel in data if (root / rel).is_file()]  # the later checks read only what exists
    return problems, leftovers, data


def _is_parquet(path: Path) -> bool:
    size = path.stat().st_size
    if size < 12:
        return False
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(-4, 2)
        return head == b"PAR1" and fh.read(4) == b"PAR1"


def _card_summary(data: dict, configs: dict) -> tuple[str, str, str]:
    """The card's configs, default and licence: one default, ``smoothed_speech`` where the folder has
    it (what ``load_dataset(repo)`` with no name gives), and FELT's own licence, which the data keep."""
    from ..build.card import LICENSE

    defaults = [n for n, c in configs.items() if c.get("default")]
    problems = []
    if len(defaults) != 1 and len(configs) > 1:
        problems.append(f"{len(defaults)} default configs, not 1")
    elif schema.DEFAULT_CONFIG in configs and defaults and defaults != [schema.DEFAULT_CONFIG]:
        problems.append(f"default is {defaults[0]}, not {schema.DEFAULT_CONFIG}")
    if data.get("license") != LICENSE:
        problems.append(f"license is {data.get('license')!r}, not FELT's {LICENSE!r}")
    what = f"{len(configs)} config(s): {', '.join(configs)}; default {defaults or 'none'}"
    return ("card", "fail", f"{'; '.join(problems)} ({what})") if problems else ("card", "pass", what)


def verify_folder(path: str | os.PathLike, *, sample: int | None = None) -> Report:
    """Every check of a converted folder; ``sample`` bounds how many trials per split are re-read
    to check ``stats.json`` against the data (default: 64)."""
    if sample is not None:
        sample = whole("sample", sample)
    root = Path(path)
    report = Report("converted folder", str(root))
    writer = folder_writer(root)
    if writer:  # (mid-swap its card is gone: "no README.md" would mislead)
        report.add("writer", "fail", f"{writer} is writing this folder: check or push it once that has ended")
        return report
    try:
        data, configs, body = read_card(root)
    except FeltError as e:
        report.add("card", "fail", str(e))
        return report
    if not configs:
        report.add("card", "fail", "the card declares no `configs`, so load_dataset could not find the data")
        return report
    report.add(*_card_summary(data, configs))
    problems, leftovers, files = folder_problems(root, configs)
    report.add("files", "fail" if problems else "pass",
               f"{len(problems)} problem(s): {problems[0]}" if problems else
               f"{len(files)} data file(s), each matched by the card; no stray file", problems)  # fmt: skip
    problem = path_glob_problem(root)
    if problem:
        report.add("path", "warn", problem)
    report.add("temp_files", "warn" if leftovers else "pass",
               f"{len(leftovers)} temporary file(s) of a killed run ({_few(leftovers, 3)}): never uploaded; the next "
               "`felt-hf convert` removes them" if leftovers else "no temporary files", leftovers)  # fmt: skip
    footers = _check_footers(report, root, data, configs, files)
    check_rows(report, root, configs, footers)
    sample = 64 if sample is None else sample
    check_pages(report, root, configs, footers, every_media_page=sample >= sys.maxsize)
    _check_stats(report, root, configs, footers, sample)
    check_media(report, root, configs, footers, sample)
    _check_synthetic(report, root, data, body)
    _check_skipped(report, root, body, configs)
    return report


def _check_skipped(report: Report, root: Path, body: str, configs: Iterable[str] = ()) -> None:
    """Trials the converter skipped: ``skipped_trials.json`` and the card's note must agree."""
    import re

    path = root / SKIPPED_FILENAME
    # (earlier builds' cards said "trial(s)" for the same count: each entry is one input file)
    m = re.search(r"\*\*(\d+) (?:input file|trial)\(s\) could not be converted", body)
    in_card = int(m.group(1)) if m else 0
    aside = re.search(r"(\d+) second copy\(ies\) of a trial were set aside", body)
    aside_in_card = int(aside.group(1)) if aside else 0
    try:
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"skipped": []}
    except (ValueError, OSError, RecursionError) as e:
        report.add("skipped", "fail", f"{path.name} unreadable: {e}")
        return
    problem = _skipped_entry_problem(doc, set(configs))
    if problem:
        report.add("skipped", "fail", f"{path.name}: {problem}")
        return
    skipped, aside_listed = doc.get("skipped", []), len(doc.get("set_aside") or ())
    trials = len({(e["config"], e["trial_id"]) for e in skipped if e["trial_id"] is not None})
    if len(skipped) != in_card:
        report.add("skipped", "fail", f"the card says {in_card} input file(s) were skipped, {path.name} lists "
                   f"{len(skipped)}")  # fmt: skip
    elif aside_listed != aside_in_card:
        report.add("skipped", "fail", f"the card says {aside_in_card} second copy(ies) were set aside, {path.name} "
                   f"lists {aside_listed}")  # fmt: skip
    elif skipped:  # (files, not trials: copies that differ are one trial, two files)
        report.add("skipped", "warn", f"{len(skipped)} input file(s) skipped ({trials} trial(s) named), listed in "
                   f"{path.name} and the card")  # fmt: skip
    else:
        report.add("skipped", "pass", "no input file skipped")


_ENTRY_KEYS = ("config", "trial_id", "archive", "member", "error")


def _skipped_entry_problem(doc, configs: set[str] = frozenset()) -> str | None:
    """The first entry of ``skipped_trials.json`` that is not what the converter writes
    (:func:`felt_hf.build.skipped.skip_entry`), or None: every entry an object with the five keys,
    each a string or null (``error`` a string), a ``set_aside`` entry also naming the copy ``kept``
    and a ``skipped`` one not, a config of the card, a RAVDESS trial id, no entry twice. Only the
    counts had been compared with the card, so an entry without ``kept`` passed. (Whether a skipped
    file's trial is in the build is not asked: an unreadable second copy of a converted trial is
    such an entry.)"""
    from ..build.skipped import trial_id_of

    if not isinstance(doc, dict):
        return "not a JSON object"
    for name in ("skipped", "set_aside"):
        entries = doc.get(name, [])
        if not isinstance(entries, list):
            return f"{name}: not a list"
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                return f"{name}[{i}]: not an object"
            missing = [k for k in _ENTRY_KEYS if k not in e]
            if missing:
                return f"{name}[{i}]: no {', '.join(missing)}"
            bad = [k for k in _ENTRY_KEYS if not (isinstance(e[k], str) or (e[k] is None and k != "error"))]
            if bad:
                return f"{name}[{i}].{bad[0]}: {e[bad[0]]!r} is not a string"
            if name == "set_aside" and not (isinstance(e.get("kept"), str) and e["kept"]):
                return f"{name}[{i}]: no `kept` naming the copy converted instead"
            if name == "skipped" and "kept" in e:
                return f"{name}[{i}]: has `kept`, so no data of it is missing: it belongs in set_aside"
            if configs and e["config"] is not None and e["config"] not in configs:
                return f"{name}[{i}].config: {e['config']!r} is not a config of the card"
            if e["trial_id"] is not None and trial_id_of(e["trial_id"]) != e["trial_id"]:
                return f"{name}[{i}].trial_id: {e['trial_id']!r} is not a RAVDESS trial id"
            if e in entries[:i]:
                return f"{name}[{i}]: the same entry as {name}[{entries.index(e)}]"
    return None


def _footer(path: Path) -> dict:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    arrow = meta.schema.to_arrow_schema()
    hf = (arrow.metadata or {}).get(b"huggingface")
    features = json.loads(hf)["info"]["features"] if hf else None
    empty = [i for i in range(meta.num_row_groups) if meta.row_group(i).num_rows == 0]
    return {"num_rows": meta.num_rows, "size": path.stat().st_size, "features": features,
            "row_groups": meta.num_row_groups, "arrow_schema": arrow, "empty_row_groups": empty,
            "hf_copies_differ": (meta.metadata or {}).get(b"huggingface") != hf,
            "parquet_schema": meta.schema}  # fmt: skip


def _typed_features(features: dict):
    """``datasets.Features`` of a footer's features, or None where they cannot be read (a flipped
    bit in the Arrow schema copy gave datasets' "Feature type '@alue' not found", which ended
    verify and push with one line naming no file)."""
    from datasets import Features

    try:
        return Features.from_dict(features)
    except Exception:  # datasets raises several types for a malformed features dict
        return None


@functools.lru_cache(maxsize=16)
def _parquet_schema_of(arrow_schema):
    """The parquet schema pyarrow writes for ``arrow_schema`` (an empty file in memory), to
    compare a shard's footer with: its column names and types are outside every page checksum."""
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(arrow_schema.empty_table(), sink)
    return pq.read_metadata(io.BytesIO(sink.getvalue())).schema


def footer_damage(f: dict, want_arrow_schema) -> str | None:
    """Damage to a footer that its Arrow schema copy does not show, or None.

    A parquet footer holds the ``huggingface`` features twice: in its key-value metadata (what
    pyarrow's readers, and so ``datasets``, return as the schema's metadata) and inside the
    serialised Arrow schema (what the checks above read). A flipped bit in the first had passed
    ``verify`` and ``push`` (25 of 40 sampled footer flips: invalid JSON in that copy, or a column
    of the parquet schema renamed ``eleoent``), the column values unchanged."""
    if f["hf_copies_differ"]:
        return ("the footer's two copies of the huggingface features differ (its key-value metadata and its "
                "Arrow schema): the footer is damaged")  # fmt: skip
    if want_arrow_schema is not None and not f["parquet_schema"].equals(_parquet_schema_of(want_arrow_schema)):
        return "the footer's parquet schema (column names and types) is not the features': the footer is damaged"
    return None


def _empty_problem(rel: str, footer: dict) -> str | None:
    """A shard ``datasets`` cannot read: one without rows, or with a row group of none (its parquet
    reader takes the first row group's size as its batch size: "BatchSize must be greater than
    0", and ``load_dataset`` fails for the whole config, streaming too)."""
    if footer["num_rows"] == 0:
        return f"{rel}: holds no rows; load_dataset cannot read such a file, so the whole config fails to load"
    if footer["empty_row_groups"]:
        return (f"{rel}: row group {footer['empty_row_groups'][0]} holds no rows; load_dataset cannot read "
                "such a file, so the whole config fails to load")  # fmt: skip
    return None


def schema_difference(got, want) -> str | None:
    """How a file's Arrow schema differs from the features' (first difference), or None.

    The ``huggingface`` metadata can say one thing while the columns hold another (a column
    dropped or retyped after the fact): ``datasets`` then fills a missing column with nulls
    without a word, so the columns themselves are compared, not only the metadata."""
    got, want = got.remove_metadata(), want.remove_metadata()
    if got.equals(want):
        return None
    missing = [n for n in want.names if n not in got.names]
    if missing:
        return f"column {missing[0]!r} missing"
    extra = [n for n in got.names if n not in want.names]
    if extra:
        return f"column {extra[0]!r} not in the features"
    for a in got:
        b = want.field(a.name)
        if not a.type.equals(b.type):
            return f"column {a.name!r} is {a.type}, the features say {b.type}"
    return "columns in another order than the features"


def _card_features(ci: dict | None, name: str, problems: list[str]):
    """The features one ``dataset_info`` entry declares (YAML list form), or None."""
    from datasets import DatasetInfo

    if not ci or "features" not in ci:
        return None
    try:
        return DatasetInfo._from_yaml_dict(dict(ci)).features
    except Exception as e:  # datasets raises several types for a malformed entry
        problems.append(f"card dataset_info of {name!r}: features unreadable: {e}")
        return None


def _check_footers(report: Report, root: Path, data: dict, configs: dict[str, dict], files: list[str]) -> dict:
    """Row counts and sizes in the card's ``dataset_info`` against the footers; features likewise."""

    from ..build.previews import preview_features

    info = {i.get("config_name", "default"): i for i in data.get("dataset_info") or [] if isinstance(i, dict)}
    named = [i.get("config_name", "default") for i in data.get("dataset_info") or [] if isinstance(i, dict)]
    twice = sorted({n for n in named if named.count(n) > 1})  # (datasets, like this dict, takes the last one)
    if isinstance(data.get("dataset_info"), dict):
        info = {data["dataset_info"].get("config_name", "default"): data["dataset_info"]}
    footers: dict[str, dict[str, list[tuple[str, dict]]]] = {}
    count_problems, feature_problems = [], []
    count_problems += [f"{CARD_FILENAME}: dataset_info describes config {n!r} twice" for n in twice]
    expected_tracking = schema.trial_features()
    # a tracking config is the schema's rows, or those rows plus the `preview` image (--previews)
    tracking_shapes = (expected_tracking, preview_features())
    for name, cfg in configs.items():
        ci = info.get(name)
        if ci is None:
            count_problems.append(f"config {name!r}: no dataset_info in the card")
        card_features = _card_features(ci, name, feature_problems)
        if name in schema.CONFIG_NAMES and card_features is not None and card_features not in tracking_shapes:
            feature_problems.append(f"card dataset_info of {name!r}: features differ from felt_hf.schema")
        splits = _card_splits(ci, name, count_problems)
        total_size = 0
        for split, globs in card_data_files(cfg).items():
            rels = [r for r in files if any(fnmatch.fnmatchcase(r, g) for g in globs)]
            got = []
            for rel in rels:
                try:
                    f = _footer(root / rel)
                except Exception as e:  # pyarrow raises several types for a damaged footer
                    count_problems.append(f"{rel}: unreadable parquet footer: {e}")
                    continue
                got.append((rel, f))
                total_size += f["size"]
                if empty := _empty_problem(rel, f):
                    count_problems.append(empty)
                want = card_features if card_features is not None else (
                    expected_tracking if name in schema.CONFIG_NAMES else None)  # fmt: skip
                if f["features"] is None:
                    feature_problems.append(f"{rel}: no typed features (huggingface metadata) in the file")
                elif want is not None and (typed := _typed_features(f["features"])) is None:
                    feature_problems.append(f"{rel}: the footer's huggingface features cannot be read as datasets "
                                            "features: the footer is damaged")  # fmt: skip
                    f["schema_ok"] = False
                elif want is not None and typed != want:
                    feature_problems.append(f"{rel}: features in the file differ from the card/schema")
                elif want is not None and (diff := schema_difference(f["arrow_schema"], want.arrow_schema)):
                    feature_problems.append(f"{rel}: {diff}")
                    f["schema_ok"] = False  # the data checks after this one leave the file alone
                elif damage := footer_damage(f, want.arrow_schema if want is not None else None):
                    feature_problems.append(f"{rel}: {damage}")
            footers.setdefault(name, {})[split] = got
            rows = sum(f["num_rows"] for _, f in got)
            if split in splits and (said := _card_count(splits[split], "num_examples", f"{name}/{split}",
                                                          count_problems)) is not None and said != rows:  # fmt: skip
                count_problems.append(f"{name}/{split}: card says {said} rows, the parquet footers hold {rows}")
            elif ci is not None and split not in splits:
                count_problems.append(f"{name}/{split}: not in the card's dataset_info splits")
        if ci and "download_size" in ci and (said := _card_count(ci, "download_size", name, count_problems)) is not \
                None and said != total_size:  # fmt: skip
            count_problems.append(f"{name}: card download_size {said} != {total_size} bytes on disk")
    report.add("footers", "fail" if count_problems else "pass",
               f"{len(count_problems)} problem(s): {count_problems[0]}" if count_problems else
               "row counts and download sizes in the card equal the parquet footers and files", count_problems)  # fmt: skip
    report.add("features", "fail" if feature_problems else "pass",
               f"{len(feature_problems)} problem(s): {feature_problems[0]}" if feature_problems else
               "every file's typed features equal the card's and felt_hf.schema's", feature_problems)  # fmt: skip
    return footers


def _card_splits(ci: dict | None, name: str, problems: list[str]) -> dict[str, dict]:
    """The card's ``dataset_info.splits`` of config ``name`` by split name; a value that is not a
    list of mappings is a problem (it had been a TypeError traceback from verify and push)."""
    entries = (ci or {}).get("splits", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(f"{CARD_FILENAME}: dataset_info of {name!r}: splits is not a list of "
                        "{name, num_examples, ...} entries")  # fmt: skip
        return {}
    return {e.get("name"): e for e in entries}


def _card_count(entry: dict, key: str, where: str, problems: list[str]) -> int | None:
    """``entry[key]`` where it is a whole number, else None with the problem said: ``int()`` had
    made 4.7 into 4 (a card count that passed) and ``four`` into a message naming nothing."""
    value = entry.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    problems.append(f"{CARD_FILENAME}: dataset_info {where} {key} {value!r} is not a whole number")
    return None


def _rows_from_table(table, names: Iterable[str]) -> dict[str, list[np.ndarray]]:
    """Per-trial float arrays ``(T, width)`` of the per-frame columns, straight from Arrow."""
    out = {}
    for name in names:
        arr = table.column(name).combine_chunks()
        if hasattr(arr, "storage"):
            arr = arr.storage
        bounds = arr.offsets.to_numpy().astype(np.int64)
        bounds -= bounds[0]
        values = arr.flatten()
        while hasattr(values, "flatten") and (str(values.type).startswith(("list", "large_list"))):
            values = values.flatten()
        flat = values.to_numpy(zero_copy_only=False).reshape(-1, *schema.FRAME_ARRAYS_BY_NAME[name].shape)
        out[name] = [flat[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]
    return out


def _check_stats(report: Report, root: Path, configs: dict, footers: dict, sample: int) -> None:
    """``stats.json`` covers every config and split, its counts equal the data, and a sample of
    trials lies inside its min/max (exactly equal when the sample is the whole split)."""

    import json

    from ..build.stats import FeatureStats, stats_from_document
    from ..layout import STATS_FILENAME

    path = root / STATS_FILENAME
    if not path.is_file():
        report.add("stats", "fail", f"no {STATS_FILENAME}")
        return
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))  # parsed once: the statistics and the raw entries
        stats = stats_from_document(doc, path)
    except (ValueError, KeyError, OSError, TypeError, RecursionError) as e:  # (deep nesting: RecursionError)
        report.add("stats", "fail", f"{STATS_FILENAME} unreadable: {e}")
        return
    problems, checked = _stored_entry_problems(doc), 0
    for name in configs:
        if name not in schema.CONFIG_NAMES:
            continue  # other configs (e.g. media) carry no per-frame statistics
        for split, got in footers.get(name, {}).items():
            st = stats.get(name, {}).get(split)
            if st is None:
                problems.append(f"{name}/{split}: missing from {STATS_FILENAME}")
                continue
            if not all(f.get("schema_ok", True) for _, f in got):
                continue  # columns that are not the features': the features check failed them
            rows = sum(f["num_rows"] for _, f in got)
            ranges = {n: acc.spec for n, acc in st.features.items()}  # the file's own (an earlier version's)
            frames, remaining, sampled = 0, sample, FeatureStats(specs=ranges)
            for rel, _ in got:
                try:
                    nf = read_table(root / rel, columns=["num_frames"]).column("num_frames")
                    if nf.null_count:
                        problems.append(f"{rel}, column 'num_frames': {nf.null_count} null value(s)")
                    frames += int(np.asarray(nf.drop_null().to_numpy(), dtype=np.int64).sum())
                    if remaining > 0:
                        table = read_table(root / rel).slice(0, remaining)
                        arrays = _rows_from_table(table, st.features)
                        for i in range(table.num_rows):
                            sampled.update_row({n: arrays[n][i] for n in arrays})
                        remaining -= table.num_rows
                except Exception as e:  # pyarrow and numpy raise several types for a damaged file
                    problems.append(f"{rel}: unreadable: {type(e).__name__}: {e}")
            checked += sampled.num_trials
            if st.num_trials != rows or st.num_frames != frames:
                problems.append(f"{name}/{split}: {STATS_FILENAME} counts {st.num_trials} trials/{st.num_frames} "
                                f"frames, the data {rows}/{frames}")  # fmt: skip
            problems += _compare_stats(f"{name}/{split}", st, sampled, whole=sampled.num_trials == rows)
    extra = [c for c, ss in doc["configs"].items() if c not in footers and not ss]  # (an empty entry had passed)
    extra += [f"{c}/{s}" for c, ss in stats.items() for s in ss if s not in footers.get(c, {})]
    problems += [f"{x}: in {STATS_FILENAME} but not in the folder" for x in extra]
    report.add("stats", "fail" if problems else "pass",
               f"{len(problems)} problem(s): {problems[0]}" if problems else
               f"covers every config and split; counts equal the data; {checked} trial(s) re-read agree",
               problems)  # fmt: skip


def _stored_entry_problems(doc: dict) -> list[str]:
    """Each feature entry of ``stats.json`` against what its own stored state implies (an edited
    ``std``, quantile, unit or shape; :func:`felt_hf.build.stats.document_problems`)."""
    from ..build.stats import document_problems

    return [
        f"{cfg}/{split}: {problem}"
        for cfg, splits in doc["configs"].items()
        for split, entry in splits.items()
        for name, d in entry["features"].items()
        for problem in document_problems(name, d)
    ]


def _compare_stats(where: str, st, sampled, *, whole: bool) -> list[str]:
    """The data re-read (``sampled``) against the stored statistics ``st``: every value of the sample
    inside the stored range and histogram; with the whole split re-read, counts, min, max and
    histogram exactly equal and mean and m2 equal to float64 rounding of a different summation order."""
    out = [f"{where}: {n}: missing from stats.json" for n in sampled.features if n not in st.features]
    out += [f"{where}: {n}: not a per-frame array of this schema" for n in st.features if n not in sampled.features]
    for name, acc in sampled.features.items():
        ref = st.features.get(name)
        if ref is None:
            continue
        has = acc.count > 0
        if np.any(acc.count > ref.count):
            out.append(f"{where}: {name}: the sample has more values than stats.json counts")
        if whole and not np.array_equal(acc.count, ref.count):
            out.append(f"{where}: {name}: counts differ from the data")
        if np.any(acc.hist > ref.hist) or (whole and not np.array_equal(acc.hist, ref.hist)):
            out.append(f"{where}: {name}: histogram differs from the data")
        if whole and np.any(has & ~np.isclose(ref.m2, acc.m2, rtol=1e-6, atol=1e-9)):
            out.append(f"{where}: {name}: m2 (spread) differs from the data")
        off = has & ((acc.min != ref.min) | (acc.max != ref.max)) if whole else None
        if off is not None and off.any():
            i = int(np.flatnonzero(off)[0])
            out.append(f"{where}: {name}[{i}]: data range [{acc.min[i]:g}, {acc.max[i]:g}], stats.json's "
                       f"[{ref.min[i]:g}, {ref.max[i]:g}]")  # fmt: skip
            continue
        lo_bad = has & (acc.min < ref.min)
        hi_bad = has & (acc.max > ref.max)
        if np.any(lo_bad | hi_bad):
            i = int(np.flatnonzero(lo_bad | hi_bad)[0])
            out.append(f"{where}: {name}[{i}]: data range [{acc.min[i]:g}, {acc.max[i]:g}] outside stats.json's "
                       f"[{ref.min[i]:g}, {ref.max[i]:g}]")  # fmt: skip
        if whole and np.any(has & ~np.isclose(acc.mean, ref.mean, rtol=1e-6, atol=1e-6)):
            out.append(f"{where}: {name}: mean differs from the data")
    return out


def _check_synthetic(report: Report, root: Path, data: dict, body: str) -> None:
    """The synthetic label must agree everywhere a user might look."""
    tag = "synthetic" in (data.get("tags") or [])
    name = "(synthetic sample)" in str(data.get("pretty_name", ""))
    banner = "SYNTHETIC DATA" in body
    marker = (root / SYNTHETIC_MARKER).exists()
    signals = {"tag": tag, "pretty_name": name, "banner": banner}
    if marker:
        signals["marker_file"] = marker
    if len(set(signals.values())) == 1:
        report.add("synthetic", "pass", f"{'synthetic' if tag else 'not synthetic'}: tag, name and banner agree",
                   signals)  # fmt: skip
    else:
        report.add("synthetic", "fail", "the synthetic label disagrees: "
                   + ", ".join(f"{k}={v}" for k, v in signals.items()), signals)  # fmt: skip


__all__ = [
    "Check",
    "Report",
    "PUBLISHED_FILES",
    "SMOOTHING_TOLERANCE",
    "compare_smoothing",
    "detect_kind",
    "folder_problems",
    "header_layout",
    "match_published",
    "verify",
    "verify_download",
    "verify_folder",
]
