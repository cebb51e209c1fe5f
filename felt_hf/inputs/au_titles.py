"""Reading the ``Frame N`` titles of FELT's AU animations back, to recover which rows they show.

FELT drew each AU-animation frame with ``plot_face(..., title=f"Frame {i}")``, ``i`` the row's
position in the smoothed CSV, and skipped rows whose plot failed without recording which. The
title is therefore the only record of the video-frame -> CSV-row map. This module reads it by
template matching: the title line is the first band of dark pixels from the top, its glyphs are
the runs of dark columns, the number is the glyphs after the widest gap (the space after
``Frame``), and each digit is compared with the ten digits rendered by matplotlib in its default
font (DejaVu Sans), every glyph scaled to the same box so the title's font size does not matter.

Nothing is guessed: a frame whose number cannot be read with confidence, numbers that do not
increase, or a number past the last row make :func:`recover_rows` return None.
Needs matplotlib (the font and its rasteriser): ``pip install matplotlib``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

BOX = 24  # glyphs are compared on a BOX x BOX grid
MIN_SCORE = 0.6  # normalised correlation a digit must reach with its best template
MIN_MARGIN = 0.05  # ... and by how much it must beat the second best (6 vs 8 vs 0 at 13 px: ~0.09)
DIGIT_HEIGHT_EM = 0.729
BLUR = 1.5  # pixels of the BOX grid
TITLE_SEARCH = 0.3  # the title is looked for in the top 30% of the frame


def _normalise(ink: np.ndarray) -> np.ndarray | None:
    """A glyph's ink (float, 1 = ink) cropped to its bounding box, scaled to BOX high, centred."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rows, cols = np.flatnonzero(ink.max(1) > 0.3), np.flatnonzero(ink.max(0) > 0.3)
    if not rows.size or not cols.size:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    h, w = crop.shape
    new_w = max(1, min(BOX, round(w * BOX / h)))
    scaled = np.asarray(Image.fromarray(crop, mode="F").resize((new_w, BOX), Image.BILINEAR))
    out = np.zeros((BOX, BOX), np.float32)
    left = (BOX - new_w) // 2
    out[:, left : left + new_w] = scaled
    # The same blur on both sides: video compression and antialiasing then matter less than shape.
    return gaussian_filter(out, BLUR)


@lru_cache(maxsize=64)
def digit_templates(height_px: int = 48) -> np.ndarray:
    """The digits 0-9 in matplotlib's default font, rendered by matplotlib about ``height_px`` high
    (the title's own size, so antialiasing looks alike), normalised: (10, BOX, BOX)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = height_px / DIGIT_HEIGHT_EM * 72 / 100  # DejaVu Sans digits are 0.729 em high
    out = []
    for d in "0123456789":
        fig = Figure(figsize=(max(1.0, 2 * height_px / 100), max(1.0, 2 * height_px / 100)), dpi=100)
        FigureCanvasAgg(fig)
        fig.text(0.5, 0.5, d, fontsize=points, ha="center", va="center")
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        out.append(_normalise(1.0 - rgba[..., :3].mean(-1) / 255.0))
    return np.stack(out)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.r_[False, mask, False]
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2], strict=True))


def read_title_number(frame: np.ndarray) -> int | None:
    """The ``N`` of a frame's ``Frame N`` title (RGB or grey uint8), or None if it cannot be read."""
    grey = frame.mean(-1) if frame.ndim == 3 else frame.astype(np.float32)
    ink = 1.0 - grey / 255.0
    top = ink[: max(1, int(frame.shape[0] * TITLE_SEARCH))]
    ink_rows = _runs(top.max(1) > 0.5)
    if not ink_rows:
        return None
    r0, r1 = ink_rows[0]
    band = top[r0:r1]
    glyphs = _runs(band.max(0) > 0.2)  # antialiased strokes (the flag of a small "1") stay joined
    if len(glyphs) < 2:
        return None
    gaps = [glyphs[i + 1][0] - glyphs[i][1] for i in range(len(glyphs) - 1)]
    digits = glyphs[int(np.argmax(gaps)) + 1 :]
    heights = [np.flatnonzero(band[:, c0:c1].max(1) > 0.3) for c0, c1 in digits]
    height = max((int(h[-1] - h[0] + 1) for h in heights if h.size), default=0)
    if height < 5:
        return None
    templates = digit_templates(height)
    flat = templates.reshape(10, -1)
    flat = (flat - flat.mean(1, keepdims=True)) / (flat.std(1, keepdims=True) + 1e-6)
    value = 0
    for c0, c1 in digits:
        g = _normalise(band[:, c0:c1])
        if g is None:
            return None
        v = g.reshape(-1)
        v = (v - v.mean()) / (v.std() + 1e-6)
        scores = flat @ v / v.size
        second, best = np.argsort(scores)[-2:]
        if scores[best] < MIN_SCORE or scores[best] - scores[second] < MIN_MARGIN:
            return None
        value = value * 10 + int(best)
    return value


def recover_rows(frames: np.ndarray, num_rows: int) -> np.ndarray | None:
    """The CSV row each video frame shows, from its title; None unless every title reads and the
    numbers strictly increase within ``[0, num_rows)`` (FELT's renderer only ever skipped rows)."""
    numbers = [read_title_number(f) for f in frames]
    if any(n is None for n in numbers):
        return None
    rows = np.asarray(numbers, dtype=np.int64)
    if rows.size == 0 or rows[0] < 0 or rows[-1] >= num_rows or np.any(np.diff(rows) <= 0):
        return None
    return rows


__all__ = ["digit_templates", "read_title_number", "recover_rows"]
