"""FELT's smoothing, reproduced exactly and vectorised over columns.

FELT smoothed each of the face-box, landmark, head-pose and AU columns on its own:
forward-fill NaN (in the raw files, in place), then ``filtfilt`` with a 5th-order 6 Hz
Butterworth low-pass at 29.97 fps, then ``savgol_filter(column, 11, 5)`` when the column is longer
than 11 samples. Filtering a ``(T, C)`` block along axis 0 gives the same numbers as the
column-by-column loop (a test checks it) at a fraction of the cost.

What FELT's script did with short clips is made explicit here: ``filtfilt``'s default padding
needs more than 18 samples, so the original raised ``ValueError`` on shorter clips (and the
Savitzky-Golay guard never fired). The default, ``short_clip="error"``, raises
:class:`FeltSmoothingError` the same way; ``"pad"`` shrinks the padding to ``T - 1`` and
``"keep"`` returns the input unchanged. Both fallbacks are documented deviations from FELT, and
clips of fewer than 2 samples are always returned unchanged under them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import FeltSmoothingError
from ..schema import FPS, SMOOTHED_COLUMNS

BUTTER_ORDER = 5
CUTOFF_HZ = 6.0
SAVGOL_WINDOW = 11
SAVGOL_POLYORDER = 5
SHORT_CLIP_POLICIES = ("error", "pad", "keep")


@lru_cache(maxsize=1)
def butter_coefficients() -> tuple[np.ndarray, np.ndarray]:
    """``butter(5, 6 / (0.5 * 29.97), btype="low")``, FELT's filter."""
    from scipy.signal import butter  # imported on use: scipy.signal costs ~1 s of CPU to import,

    # and the converter imports this module (through the card) only for the constants above
    b, a = butter(BUTTER_ORDER, CUTOFF_HZ / (0.5 * FPS), btype="low")
    return b, a


def min_filtfilt_length() -> int:
    """The fewest samples ``filtfilt``'s default padding accepts (19 for FELT's filter)."""
    b, a = butter_coefficients()
    return 3 * max(len(a), len(b)) + 1


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Pandas' ``ffill`` along axis 0: each NaN takes the last finite value above it.

    Leading NaN stay NaN, as they did in FELT (nothing above them to copy).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return forward_fill(values[:, None])[:, 0]
    mask = np.isnan(values)
    if not mask.any():
        return values.copy()
    idx = np.where(~mask, np.arange(values.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = values[idx, np.arange(values.shape[1])[None, :]]
    return out


def _too_short(name: str, frames: int, how: str) -> str:
    """The short-clip error, naming ``how`` to choose a fallback (a keyword or an option)."""
    return (
        f"{name}: {frames} frames is too short for FELT's smoothing (filtfilt needs at least "
        f"{min_filtfilt_length()}); FELT's own script raised here. Pass {how} to accept a documented fallback."
    )


def smooth_block(values: np.ndarray, *, short_clip: str = "error", name: str = "<array>") -> np.ndarray:
    """Apply FELT's filter chain to every column of a ``(T, C)`` float block, along time.

    ``name`` only labels errors. NaN anywhere in a column makes that whole column NaN, exactly
    as in FELT (``filtfilt`` propagates it); call :func:`forward_fill` first to avoid it.
    """
    from scipy.signal import filtfilt, savgol_filter

    if short_clip not in SHORT_CLIP_POLICIES:
        raise ValueError(f"short_clip must be one of {SHORT_CLIP_POLICIES}, not {short_clip!r}")
    x = np.asarray(values, dtype=np.float64)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    n = x.shape[0]
    b, a = butter_coefficients()
    if n >= min_filtfilt_length():
        y = filtfilt(b, a, x, axis=0)
    elif short_clip == "error":
        raise FeltSmoothingError(
            _too_short(name, n, "short_clip='pad' or 'keep'"),
            command_line=_too_short(name, n, "--short-clip pad or --short-clip keep"),
        )
    elif short_clip == "keep" or n < 2:
        y = x.copy()
        return y[:, 0] if squeeze else y  # unchanged: no Savitzky-Golay either
    else:  # "pad": the same filter with the longest padding the clip allows
        y = filtfilt(b, a, x, axis=0, padlen=n - 1)
    if n > SAVGOL_WINDOW:
        # Recent scipy refuses NaN in savgol's edge fit; a NaN column is all-NaN after filtfilt anyway.
        finite = np.isfinite(y).all(axis=0)
        if finite.all():
            y = savgol_filter(y, SAVGOL_WINDOW, SAVGOL_POLYORDER, axis=0)
        elif finite.any():
            y = np.where(finite, y, np.nan)
            y[:, finite] = savgol_filter(y[:, finite], SAVGOL_WINDOW, SAVGOL_POLYORDER, axis=0)
        else:
            y = np.full_like(y, np.nan)
    return y[:, 0] if squeeze else y


def smooth_columns(
    columns: dict[str, np.ndarray], *, short_clip: str = "error", name: str = "<trial>"
) -> dict[str, np.ndarray]:
    """FELT's smoothing of a whole trial given as ``{csv column: values}``.

    Only :data:`~felt_hf.schema.SMOOTHED_COLUMNS` change; every other column is passed through.
    No forward-fill happens here: FELT filled the raw files before smoothing, so callers that
    start from detector output fill first (see :func:`forward_fill`).
    """
    present = [c for c in SMOOTHED_COLUMNS if c in columns]
    out = dict(columns)
    if not present:
        return out
    block = np.column_stack([np.asarray(columns[c], dtype=np.float64) for c in present])
    smoothed = smooth_block(block, short_clip=short_clip, name=name)
    for i, c in enumerate(present):
        out[c] = smoothed[:, i]
    return out
