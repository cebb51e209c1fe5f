#!/usr/bin/env python
"""What parquet content-defined chunking (CDC) buys a re-upload of a converted FELT folder.

    python scripts/dedupe_check.py --archives W/archives --config smoothed_speech --workdir /tmp/dedupe

The hub stores files in Xet, which splits every file into content-defined chunks (~64 KiB) and
uploads only chunks it does not hold yet. Parquet CDC (``use_content_defined_chunking``) also
cuts data pages by content, so that rows inserted into a large row group do not shift every
later page. This script measures whether that helps our layout (8 trials a row group):

1. converts the config's archive as it is (build A), with one trial's CSV changed in one value
   (build B: a corrected trial) and with one trial left out (build C: a trial added or removed);
2. does it with the converter's writer options and with CDC switched on;
3. splits every parquet file into content-defined chunks the way Xet does (a gear rolling hash
   over 64 bytes, average 64 KiB, 8-128 KiB) and prints, for B and C, the bytes whose chunks A
   does not have: what a re-upload would send.

Figures are printed, never asserted. The chunker is a model of Xet's (same kind, same sizes), not
its code: the hub's own numbers may differ by a few chunks.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np

from felt_hf.argtypes import OneLineParser, folder_path, input_path
from felt_hf.schema import CONFIG_NAMES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WINDOW = 64
MASK_BITS = 16  # 2**16 bytes = 64 KiB average chunk
MIN_CHUNK, MAX_CHUNK = 8 << 10, 128 << 10
_GEAR = np.random.default_rng(0).integers(0, 2**63, 256, dtype=np.uint64)


def chunk_hashes(data: bytes) -> list[tuple[bytes, int]]:
    """Content-defined chunks of ``data`` (sha256, size): a boundary where the gear hash of the
    last 64 bytes has its top 16 bits zero, then 8 KiB minimum and 128 KiB maximum."""
    b = np.frombuffer(data, dtype=np.uint8)
    g = _GEAR[b]
    h = np.zeros(len(b), dtype=np.uint64)
    for k in range(WINDOW):  # h[i] = sum_k gear[b[i-k]] << k, modulo 2**64
        h[k:] += g[: len(b) - k] << np.uint64(k)
    cut = np.flatnonzero((h >> np.uint64(64 - MASK_BITS)) == 0) + 1
    out, start = [], 0
    for c in [*cut.tolist(), len(b)]:
        while c - start > MAX_CHUNK:
            out.append((start, start + MAX_CHUNK))
            start += MAX_CHUNK
        if c - start >= MIN_CHUNK or c == len(b):
            out.append((start, c))
            start = c
    return [(hashlib.sha256(data[s:e]).digest(), e - s) for s, e in out if e > s]


def folder_chunks(folder: Path) -> list[tuple[bytes, int]]:
    return [c for p in sorted(folder.rglob("*.parquet")) for c in chunk_hashes(p.read_bytes())]


def variant_archives(src: Path, dst: Path, change: str) -> Path:
    """A copy of the archive with one trial changed (one value edited) or dropped."""
    dst.mkdir(parents=True, exist_ok=True)
    out = dst / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        csvs = [i for i in zin.infolist() if i.filename.endswith(".csv")]
        target = csvs[len(csvs) // 3].filename  # early in the order: everything after it could shift
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == target and change == "drop":
                continue
            if info.filename == target and change == "edit":
                lines = data.split(b"\n")
                cells = lines[5].split(b",")
                cells[10] = b"123.5"  # x_3 of the fifth data row: a corrected landmark
                lines[5] = b",".join(cells)
                data = b"\n".join(lines)
            zout.writestr(info, data)
    return dst


def convert(archives: Path, out: Path, config: str, cdc: bool) -> Path:
    from felt_hf.build import convert as conv

    base = conv.parquet_writer_options

    def options(schema):
        return {**base(schema), "use_content_defined_chunking": cdc}

    conv.parquet_writer_options = options
    try:
        shutil.rmtree(out, ignore_errors=True)
        conv.convert_felt(archives, out, configs=[config], progress=False, num_proc=1, synthetic=True)
    finally:
        conv.parquet_writer_options = base
    return out / config


def main(argv: list[str] | None = None) -> int:
    from felt_hf.schema import archive_stem

    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--archives", type=lambda t: Path(input_path(t)), required=True, help="a folder holding the config's FELT zip"
    )
    p.add_argument("--config", default="smoothed_speech", choices=CONFIG_NAMES)
    p.add_argument("--workdir", type=lambda t: Path(folder_path(t)), default=Path("dedupe_work"))
    args = p.parse_args(argv)
    src = args.archives / f"{archive_stem(args.config)}.zip"
    if not src.is_file():  # (before anything is made: a traceback had left a half-made work folder)
        p.error(f"--archives {args.archives}: no {src.name} there")
    if args.workdir.exists() and not args.workdir.is_dir():
        p.error(f"--workdir {args.workdir}: a file, not a folder")
    work = args.workdir
    inputs = {"A": src.parent, "B": variant_archives(src, work / "in_edit", "edit"),
              "C": variant_archives(src, work / "in_drop", "drop")}  # fmt: skip
    print(f"{args.config}: {src}")
    for cdc in (False, True):
        chunks = {
            k: folder_chunks(convert(v, work / f"out_{k}_{int(cdc)}", args.config, cdc)) for k, v in inputs.items()
        }
        have = {h for h, _ in chunks["A"]}
        total = sum(n for _, n in chunks["A"])
        label = "CDC on " if cdc else "CDC off"
        for k, what in (("B", "one value of one trial changed"), ("C", "one trial removed")):
            new = sum(n for h, n in chunks[k] if h not in have)
            print(f"  {label}  {what:32s} re-upload {new / 1e6:7.2f} MB of {total / 1e6:7.1f} MB ({new / total:6.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
