#!/usr/bin/env python
"""A small, reproducible DFER baseline on FELT: GRU over face-relative landmarks + action units.

Trains on the actor-disjoint ``train`` split, keeps the epoch with the best validation UAR, and
reports UAR and WAR on ``test`` (the metrics of the DFER literature: UAR is the mean of the
per-class recalls, WAR the plain accuracy) with a confusion-matrix PNG. ``--cv-folds K`` instead
runs K-fold cross-validation over actor folds (each fold tests on its own actors, selects on the
next fold's, trains on the rest).

    python scripts/train_baseline.py --data felt_hub --config smoothed_speech --out runs/gru
    python scripts/train_baseline.py --sample --max-steps 5 --out /tmp/felt-baseline   # CI

The point is a correct, fast and reproducible loop (fixed seeds, deterministic crops); on the
generated sample data the accuracy means nothing and the script says so.
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from felt_hf.stats import compute_stats, load_stats
from torch import nn

from felt_hf import schema
from felt_hf.argtypes import OneLineParser, folder_path, input_path, positive_int, seed_int, whole_number
from felt_hf.errors import FeltFormatError
from felt_hf.layout import CARD_FILENAME, missing_shards
from felt_hf.messages import error_line
from felt_hf.parquet_reads import damage_reason, first_failing_group, open_shard, read_failure
from felt_hf.ravdess import expected_trial_ids
from felt_hf.training import FeltCollator, aggregate_windows, seed_everything, trial_windows

FEATURES = ("landmarks", "action_units")
STATS_COLUMNS = ("landmarks", "action_units", "face_box")


# --- metrics -------------------------------------------------------------------------------------
def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predictions."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def uar_war(cm: np.ndarray) -> tuple[float, float]:
    """UAR over the classes that occur in the ground truth (song has 6 of the 8), and WAR."""
    support = cm.sum(axis=1)
    present = support > 0
    recall = np.diag(cm)[present] / support[present]
    uar = float(recall.mean()) if present.any() else float("nan")
    war = float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan")
    return uar, war


# --- a PNG without matplotlib or pillow ----------------------------------------------------------
_DIGITS = [  # 3x5 bitmap font
    "111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
    "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111",
]  # fmt: skip


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Minimal RGB8 PNG: signature, IHDR, one zlib IDAT with filter byte 0 per row, IEND."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def _draw_number(img: np.ndarray, n: int, cy: int, cx: int, scale: int, color: tuple[int, int, int]) -> None:
    text = str(n)
    width = (len(text) * 4 - 1) * scale
    x0, y0 = cx - width // 2, cy - 5 * scale // 2
    for k, ch in enumerate(text):
        bits = np.array([int(b) for b in _DIGITS[int(ch)]], dtype=bool).reshape(5, 3)
        glyph = np.kron(bits, np.ones((scale, scale), dtype=bool))
        ys, xs = np.nonzero(glyph)
        img[y0 + ys, x0 + k * 4 * scale + xs] = color


_LETTERS = {  # 3x5 capitals for the class names and axis labels
    "A": "010101111101101", "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101", "I": "111010010010111",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101", "O": "010101101101010",
    "P": "110101110100100", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "Y": "101101010010010", " ": "000000000000000",
}  # fmt: skip


def _text_mask(text: str, scale: int) -> np.ndarray:
    """A boolean bitmap of ``text`` in the 3x5 font (digits and the capitals above)."""
    glyphs = [_DIGITS[int(c)] if c.isdigit() else _LETTERS[c] for c in text.upper()]
    out = np.zeros((5 * scale, max(len(glyphs) * 4 - 1, 1) * scale), dtype=bool)
    for k, bits in enumerate(glyphs):
        glyph = np.array([int(b) for b in bits], dtype=bool).reshape(5, 3)
        out[:, k * 4 * scale : (k * 4 + 3) * scale] = np.kron(glyph, np.ones((scale, scale), dtype=bool))
    return out


def _paste(img: np.ndarray, mask: np.ndarray, top: int, left: int, color=(0, 0, 0)) -> None:
    h, w = mask.shape
    img[top : top + h, left : left + w][mask] = color


def confusion_png(path: Path, cm: np.ndarray, cell: int = 48, names: tuple[str, ...] = schema.EMOTIONS) -> None:
    """Cells shaded by row-normalised recall (white -> blue), counts in each cell, class names on
    both axes and the axis labels TRUE (rows) and PREDICTED (columns).

    The grid is the bottom-right ``k*cell`` square; names and labels sit in the margins above and
    to its left (column names written vertically so they fit one cell each).
    """
    k = cm.shape[0]
    s = 2
    longest = max(len(n) for n in names) * 4 * s
    top, left = 5 * s + 12 + longest + 8, 5 * s + 12 + longest + 8
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    img = np.full((top + k * cell, left + k * cell, 3), 255, dtype=np.uint8)
    grid = img[top:, left:]
    for i in range(k):
        for j in range(k):
            r = rates[i, j]
            color = (255 * (1 - r) + 30 * r, 255 * (1 - r) + 80 * r, 255 * (1 - r) + 200 * r)
            grid[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = np.array(color, dtype=np.uint8)
            text = (255, 255, 255) if r > 0.5 else (0, 0, 0)
            _draw_number(grid, int(cm[i, j]), i * cell + cell // 2, j * cell + cell // 2, 3, text)
    grid[::cell, :] = 128
    grid[:, ::cell] = 128
    for i, name in enumerate(names[:k]):
        row = _text_mask(name, s)
        _paste(img, row, top + i * cell + (cell - row.shape[0]) // 2, left - 6 - row.shape[1])
        col = np.rot90(row)  # reads bottom to top
        _paste(img, col, top - 6 - col.shape[0], left + i * cell + (cell - col.shape[1]) // 2)
    label = _text_mask("predicted", s)
    _paste(img, label, 4, left + (k * cell - label.shape[1]) // 2)
    label = np.rot90(_text_mask("true", s))
    _paste(img, label, top + (k * cell - label.shape[0]) // 2, 4)
    write_png(path, img)


# --- model ---------------------------------------------------------------------------------------
class GRUClassifier(nn.Module):
    """Linear projection, bidirectional GRU, masked mean over frames, linear head."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 96, dropout: float = 0.2) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout))
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, num_classes))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.proj(x))
        w = mask.unsqueeze(-1).to(h.dtype)
        return self.head((h * w).sum(1) / w.sum(1).clamp_min(1.0))


# --- data ----------------------------------------------------------------------------------------
def build_sample(workdir: Path) -> Path:
    """The built-in synthetic sample, converted to the hub layout."""
    from felt_hf.convert import convert_felt
    from felt_hf.synth import write_sample

    raw, hub = workdir / "archives", workdir / "hub"
    write_sample(raw)
    convert_felt(raw, hub, configs=["smoothed_speech"], progress=False)
    return hub


def split_files(folder: Path, config: str) -> dict[str, list[str]]:
    """The shards ``load_dataset`` will read, by split, resolved from the card as datasets does,
    so that the checks below look at exactly those files. The card is parsed first with
    ``felt-hf verify``'s reader: PyYAML's own error is a traceback that names no file."""
    from datasets import load_dataset_builder

    from felt_hf.card_yaml import read_card

    read_card(folder)
    try:
        builder = load_dataset_builder(str(folder), config)
    except ValueError as e:  # (no such config; a split's glob matching no file: "Couldn't infer ...")
        raise FeltFormatError(str(folder / CARD_FILENAME), f"config {config!r}: {one_line(e)}") from None
    files = builder.config.data_files or {}
    return {split: [as_given(folder, f) for f in paths] for split, paths in files.items()}


def one_line(e: BaseException) -> str:
    """The first line of an error from a library (datasets' can run to many)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def as_given(folder: Path, path: str) -> str:
    """A resolved data file under ``folder`` as the user wrote the folder (errors name it so)."""
    try:
        return str(folder / Path(path).relative_to(folder.resolve()))
    except ValueError:
        return path


def check_pages(path: str) -> int:
    """Read every page of one shard against the CRC32 the converter wrote, and return its trials:
    datasets' parquet reader checks no page, so a flipped bit would be trained on as other
    numbers (``--stream``, ``felt-hf show`` and ``verify`` refuse the same shard)."""
    import pyarrow as pa

    try:
        pf = open_shard(path)
    except (OSError, pa.ArrowException) as e:  # (truncated, empty, not parquet)
        raise FeltFormatError(path, f"cannot read this parquet shard: {damage_reason(e)}") from None
    with pf:
        failed = first_failing_group(pf)
        if failed is not None:
            why = read_failure(pf, [failed[0]], None, failed[1])
            raise FeltFormatError(path, f"cannot read this parquet shard: {why}") from None
        return pf.metadata.num_rows


def check_shards(folder: Path, config: str) -> dict[str, tuple[list[str], int]]:
    """Every shard of the config's splits present and whole before training (this script reads
    every split: train, and validation/test or the folds): one line naming the file, not
    datasets' traceback or silently damaged numbers. Returns each split's shards and trials."""
    out = {}
    for split, files in split_files(folder, config).items():
        gone = [str(Path(files[0]).with_name(n)) for n in missing_shards(Path(f).name for f in files)]
        if gone:
            raise FeltFormatError(gone[0], f"missing; the other {split} shards of {config} name it "
                                  f"({len(gone)} missing in all)")  # fmt: skip
        out[split] = (files, sum(check_pages(path) for path in files))
    return out


def stale_cache(dd, shards: dict[str, tuple[list[str], int]]) -> bool:
    """Whether ``load_dataset`` answered from an Arrow cache that is not these shards: datasets
    keys its cache of a local folder by the folder's name and the card, not by the files, so a
    copy of the same name or shards changed under an unchanged card got the older data."""
    if set(dd) != set(shards) or any(len(dd[s]) != rows for s, (_, rows) in shards.items()):
        return True
    newest = max((Path(f).stat().st_mtime for files, _ in shards.values() for f in files), default=0.0)
    caches = [Path(c["filename"]) for s in dd for c in dd[s].cache_files]
    return any(not c.is_file() or c.stat().st_mtime < newest for c in caches)


def load_dataset_dict(folder: Path, config: str, fresh: bool):
    """``load_dataset`` of the folder's config (rebuilding its cache when ``fresh``), its errors
    on a folder that still does not load one line naming the card or the config's folder."""
    from datasets import load_dataset
    from datasets.exceptions import DatasetGenerationError, SplitsVerificationError

    try:
        return load_dataset(str(folder), config, download_mode="force_redownload" if fresh else None)
    except SplitsVerificationError:
        raise FeltFormatError(
            str(folder / CARD_FILENAME),
            f"the split sizes it records (dataset_info) do not match the {config} shards "
            f"(a shard added or changed after conversion?); `felt-hf verify {folder}` says which",
        ) from None
    except DatasetGenerationError as e:
        cause = e.__cause__ or e.__context__ or e
        raise FeltFormatError(
            str(folder / config), f"load_dataset cannot read these shards: {one_line(cause)}"
        ) from None


def load_splits(folder: Path, config: str) -> dict:
    """The config's splits, map-style, from the shards :func:`check_shards` passed (datasets'
    cache rebuilt when it is not theirs)."""
    shards = check_shards(folder, config)
    dd = load_dataset_dict(folder, config, fresh=False)
    if stale_cache(dd, shards):
        dd = load_dataset_dict(folder, config, fresh=True)
    return {split: dd[split].with_format("numpy") for split in dd}


def not_the_real_corpus(folder: Path, config: str, splits: dict) -> str | None:
    """Why the numbers mean nothing, or None when this looks like the full FELT corpus."""
    readme = folder / "README.md"
    if readme.exists() and "synthetic" in readme.read_text(encoding="utf-8", errors="replace").lower():
        return "the data is FELT-shaped synthetic sample data"
    _, channel = schema.config_parts(config)
    want = len(expected_trial_ids(channel))
    have = sum(len(d) for d in splits.values())
    if have != want:
        return f"the data has {have} trials, not the {want} of FELT {config}"
    return None


def actor_folds(actors: list[int], k: int) -> list[list[int]]:
    """Contiguous blocks of sorted actors: with 24 actors and K in (3, 4, 6, 12) each fold is sex-balanced.

    At least 3 folds: each fold tests on its own actors and selects on the next fold's, so with 2
    nothing was left to train on (an epoch of no step)."""
    actors = sorted(actors)
    if not 3 <= k <= len(actors):
        raise ValueError(
            f"--cv-folds {k}: must be between 3 (a test, a validation and a train fold) and the number of "
            f"actors ({len(actors)})"
        )
    return [[int(a) for a in block] for block in np.array_split(actors, k)]


def train_stats(folder: Path, config: str, train_ds, use_file: bool):
    """Train-split statistics from stats.json when it matches the split; computed otherwise."""
    if use_file and (folder / "stats.json").exists():
        return load_stats(folder)[config]["train"]
    return compute_stats(train_ds.select_columns(list(STATS_COLUMNS)))


# --- loop ----------------------------------------------------------------------------------------
def make_loaders(args, train_ds, eval_sets: dict, stats, gen: torch.Generator):
    common = dict(features=FEATURES, landmarks="face", stats=stats, frame_stride=args.frame_stride)
    train_collate = FeltCollator(**common, max_frames=args.max_frames, crop="random")
    if args.stream:
        # Parquet read on the fly (hub repos too), shuffled by (seed, epoch); run_once sets the epoch.
        from felt_hf.training.stream import FeltStream

        stream = FeltStream.from_folder(
            str(args.data_path), args.config, "train", columns=train_collate.columns, shuffle=True, seed=args.seed
        )
        # No drop_last: each worker batches only its own share of the stream, so dropping the last
        # batch lost up to (batch - 1) x workers trials an epoch, or every batch when a share was
        # smaller than a batch (an epoch of no step).
        loader_args = dict(dataset=stream, drop_last=False)
    else:
        loader_args = dict(dataset=train_ds, shuffle=True, drop_last=len(train_ds) > args.batch_size)
    train = torch.utils.data.DataLoader(
        **loader_args,
        batch_size=args.batch_size,
        collate_fn=train_collate,
        num_workers=args.num_workers,
        generator=gen,
        persistent_workers=args.num_workers > 0,
    )
    eval_collate = FeltCollator(**common, max_frames=args.max_frames, crop="start")
    evals = {}
    for name, ds in eval_sets.items():
        windows = trial_windows(ds, window=args.max_frames, hop=args.max_frames // 2, frame_stride=args.frame_stride)
        evals[name] = torch.utils.data.DataLoader(windows, batch_size=64, collate_fn=eval_collate)
    return train, evals


def no_step_reason(train: torch.utils.data.DataLoader, tag: str, epoch: int) -> str:
    """Why an epoch trained nothing, said instead of the crash it had been (``loss`` unbound)."""
    data = train.dataset
    trials = data.num_rows if hasattr(data, "num_rows") else len(data)
    return f"[{tag}] epoch {epoch + 1}: no training step: the train data gave no batch ({trials} trial(s))"


@torch.no_grad()
def evaluate(model: nn.Module, loader) -> np.ndarray:
    """Sliding windows over each whole trial, logits averaged per trial."""
    model.eval()
    logits, keys, labels = [], [], {}
    for b in loader:
        logits.append(model(b["features"], b["mask"] & b["face_mask"]))
        keys += b["trial_id"]
        labels.update(zip(b["trial_id"], b["emotion"].tolist(), strict=True))
    ids, mean = aggregate_windows(torch.cat(logits), keys)
    pred = mean.argmax(1).numpy()
    return confusion_matrix(np.array([labels[i] for i in ids]), pred, len(schema.EMOTIONS))


def run_once(args, train_ds, val_ds, test_ds, stats, tag: str) -> dict:
    gen = seed_everything(args.seed)
    train, evals = make_loaders(args, train_ds, {"validation": val_ds, "test": test_ds}, stats, gen)
    model = GRUClassifier(train.collate_fn.dim, len(schema.EMOTIONS))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    best = (-1.0, None, -1)
    step, t0 = 0, time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        if hasattr(train.dataset, "set_epoch"):
            train.dataset.set_epoch(epoch)
        loss = None
        for b in train:
            loss = loss_fn(model(b["features"], b["mask"] & b["face_mask"]), b["emotion"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if args.max_steps and step >= args.max_steps:
                break
        if loss is None:
            raise ValueError(no_step_reason(train, tag, epoch))
        val_uar, val_war = uar_war(evaluate(model, evals["validation"]))
        print(
            f"[{tag}] epoch {epoch + 1}: step {step}, loss {loss.item():.3f}, val UAR {val_uar:.3f} WAR {val_war:.3f}"
        )
        if val_uar > best[0]:
            best = (val_uar, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch + 1)
        if args.max_steps and step >= args.max_steps:
            break
    model.load_state_dict(best[1])
    cm = evaluate(model, evals["test"])
    uar, war = uar_war(cm)
    return {
        "best_epoch": best[2],
        "val_uar": best[0],
        "test_uar": uar,
        "test_war": war,
        "confusion": cm.tolist(),
        "steps": step,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def actor_column(ds) -> np.ndarray:
    """``ds["actor"]`` as numpy: datasets 4+ returns a lazy ``Column`` (no ``tolist``), 3.x a list."""
    return np.fromiter((int(a) for a in ds["actor"]), dtype=np.int64, count=len(ds))


def split_by_actors(ds, actors: list[int]):
    keep = np.isin(actor_column(ds), list(actors))
    return ds.select(np.flatnonzero(keep).tolist())


def window_frames(text: str) -> int:
    """``--max-frames``: at least 2, as the evaluation windows hop by half a window; 1 had failed
    after loading the data, naming a ``hop`` that is no option of this script."""
    return whole_number(text, 2, "a whole number, at least 2 (windows hop by half of it)")


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=lambda t: Path(input_path(t)), help="hub folder written by felt-hf convert")
    p.add_argument("--sample", action="store_true", help="build and use the built-in synthetic sample")
    p.add_argument(
        "--config",
        default=schema.DEFAULT_CONFIG,
        choices=schema.CONFIG_NAMES,
        help="config to train on (default smoothed_speech)",
    )
    p.add_argument(
        "--out",
        type=lambda t: Path(folder_path(t)),
        default=Path("runs/baseline"),
        help="folder for metrics.json and confusion.png",
    )
    p.add_argument("--epochs", type=positive_int, default=30, help="training epochs (default 30)")
    p.add_argument("--max-steps", type=seed_int, default=0, help="stop after this many optimiser steps (0: no limit)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="trials per training batch")
    p.add_argument(
        "--max-frames",
        type=window_frames,
        default=64,
        help="training crop / evaluation window, in kept frames (at least 2; windows hop by half of it)",
    )
    p.add_argument("--frame-stride", type=positive_int, default=2, help="keep every k-th frame (default 2)")
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate")
    p.add_argument("--num-workers", type=seed_int, default=0, help="DataLoader worker processes")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of weights, crops and order")
    p.add_argument(
        "--cv-folds",
        type=seed_int,
        default=0,
        help="K-fold (K >= 3) cross-validation over actors instead of the splits",
    )
    p.add_argument(
        "--stream", action="store_true", help="stream the train split with felt_hf.training.stream.FeltStream"
    )
    args = p.parse_args(argv)
    if args.sample == (args.data is not None):
        p.error("give exactly one of --data or --sample")
    if args.data is not None and not (args.data / "README.md").is_file():
        p.error(f"--data {args.data}: not a folder written by felt-hf convert (no README.md there)")
    if args.stream and args.cv_folds:
        p.error("--stream trains on the train split; cross-validation re-splits actors map-style")
    # Fixed seeds and a fixed thread count make CPU runs repeat exactly; torch's
    # use_deterministic_algorithms is left off (it imports the compiler stack: seconds per run).
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out}: a file, not a folder")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="felt-sample-") as tmp:
        folder = build_sample(Path(tmp)) if args.sample else args.data
        if args.sample:
            args.config = "smoothed_speech"
        try:
            return _run(args, folder)
        except Exception as e:  # user/input errors: felt-hf's exit status 2 and one line; bugs re-raised
            line = error_line(e)  # (felt-hf's rule: the FeltError a library wrapped, FELT_HF_DEBUG)
            if line is None:
                raise
            print(f"train_baseline.py: {line.removeprefix('felt-hf: ')}", file=sys.stderr)
            return 2


def _run(args, folder: Path) -> int:
    args.data_path = folder
    splits = load_splits(folder, args.config)
    caveat = not_the_real_corpus(folder, args.config, splits)
    if caveat:
        print(f"WARNING: {caveat}; the accuracy below means NOTHING (this run only checks the loop).")
    results: dict = {"config": args.config, "features": list(FEATURES), "classes": list(schema.EMOTIONS)}
    if args.cv_folds:
        from datasets import concatenate_datasets

        every = concatenate_datasets([splits[s] for s in splits]).with_format("numpy")
        folds = actor_folds(sorted(set(actor_column(every).tolist())), args.cv_folds)
        fold_results = []
        for i, test_actors in enumerate(folds):
            val_actors = folds[(i + 1) % len(folds)]
            train_actors = [a for f in folds for a in f if a not in test_actors + val_actors]
            train = split_by_actors(every, train_actors)
            stats = train_stats(folder, args.config, train, use_file=False)
            r = run_once(
                args,
                train,
                split_by_actors(every, val_actors),
                split_by_actors(every, test_actors),
                stats,
                f"fold {i + 1}",
            )
            r["test_actors"] = test_actors
            fold_results.append(r)
        cm = np.sum([np.array(r["confusion"]) for r in fold_results], axis=0)
        results["folds"] = fold_results
        results["mean_fold_uar"] = float(np.mean([r["test_uar"] for r in fold_results]))
        results["mean_fold_war"] = float(np.mean([r["test_war"] for r in fold_results]))
    else:
        stats = train_stats(folder, args.config, splits["train"], use_file=True)
        r = run_once(args, splits["train"], splits["validation"], splits["test"], stats, "split")
        results.update(r)
        cm = np.array(r["confusion"])
    uar, war = uar_war(cm)
    results.update(pooled_test_uar=uar, pooled_test_war=war, caveat=caveat)
    confusion_png(args.out / "confusion.png", cm)
    (args.out / "metrics.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"test UAR {100 * uar:.2f}  WAR {100 * war:.2f}  ({'pooled over folds' if args.cv_folds else 'test split'})")
    print(f"confusion matrix (rows true, columns predicted, order {', '.join(schema.EMOTIONS)}):")
    print(cm)
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'confusion.png'}")
    if caveat:
        print(f"REMINDER: {caveat}; these numbers are not a result.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
