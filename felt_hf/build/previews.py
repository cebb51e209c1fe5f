"""A small picture per trial that the hub's dataset viewer can show (``felt-hf convert --previews``).

The viewer shows each per-frame array as a truncated string of numbers; an ``Image`` column is
the one thing it renders as a picture. The thumbnail is the trial's AU heat map (20 rows, time
left to right, magma colours) over its 7 emotion curves, drawn with numpy/PIL, stored as PNG
bytes in a ``datasets.Image`` column named ``preview``.

It is off by default: it costs 9.4 KB per row in the parquet (measured on the sample, 3.3% of
its size; about 46 MB or 3.6% on the full 4904 rows at about 262 KB per row), and every preview
is drawn and compressed during conversion. The default output (no previews) is unchanged byte for
byte: nothing here runs unless asked for.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from ..schema import EMOTION_SCORE_NAMES, trial_features

PREVIEW_COLUMN = "preview"
SIZE = (320, 168)  # width, height
_HEAT_H = 100  # 20 AUs x 5 px
# one colour per emotion score (matplotlib's tab10, in EMOTION_SCORE_NAMES order)
EMOTION_COLORS = (
    (214, 39, 40),
    (140, 86, 75),
    (148, 103, 189),
    (255, 127, 14),
    (31, 119, 180),
    (23, 190, 207),
    (127, 127, 127),
)


def preview_features():
    """The row features plus the ``preview`` Image column (appended last)."""
    from datasets import Image

    feats = trial_features()
    feats[PREVIEW_COLUMN] = Image()
    return feats


def preview_image(row: dict) -> np.ndarray:
    """``(168, 320, 3)`` uint8: AU heat map on top, emotion scores (0-1) below, time along x."""
    from PIL import Image, ImageDraw

    from ..colormap import colorize

    w, h = SIZE
    aus = np.asarray(row["action_units"], dtype=np.float64)
    n = max(aus.shape[0], 1)
    cols = (np.arange(w) * n // w).clip(0, max(aus.shape[0] - 1, 0))
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    if aus.shape[0]:
        img[:_HEAT_H] = np.repeat(colorize(aus[cols].T), _HEAT_H // aus.shape[1], axis=0)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    emo = np.asarray(row["emotions"], dtype=np.float64)
    top, height = _HEAT_H + 4, h - _HEAT_H - 8
    xs = (np.arange(emo.shape[0]) + 0.5) * w / n
    for k in range(len(EMOTION_SCORE_NAMES)):
        ys = top + (1 - emo[:, k]) * height
        ok = np.isfinite(ys)
        if ok.sum() >= 2:
            draw.line(list(zip(xs[ok].tolist(), ys[ok].tolist(), strict=True)), fill=EMOTION_COLORS[k], width=1)
    return np.asarray(pil)


def preview_png(row: dict) -> bytes:
    """The thumbnail as PNG bytes (palette-free RGB, zlib level 9)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(preview_image(row)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def with_previews(table: pa.Table, rows: Sequence[dict]) -> pa.Table:
    """``table`` (from :func:`felt_hf.rows.rows_table`) plus the ``preview`` column, with features metadata."""
    schema = preview_features().arrow_schema
    data = [preview_png(r) for r in rows]
    col = pa.StructArray.from_arrays(
        [pa.array(data, type=pa.binary()), pa.array([None] * len(rows), type=pa.string())], names=["bytes", "path"]
    )
    return pa.Table.from_arrays([*table.columns, col], schema=schema)
