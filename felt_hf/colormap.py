"""The heat-map colours shared by rendered AU videos (view) and hub preview thumbnails (build).

A foundation module so the build stage need not import the view stage.
"""

from __future__ import annotations

import numpy as np

# magma-like colour stops for probabilities 0..1 (no matplotlib needed to render)
_STOPS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float64,
)
COLORMAP = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_STOPS)), _STOPS[:, c]) for c in range(3)], axis=1
).astype(np.uint8)


def colorize(values: np.ndarray) -> np.ndarray:
    """Probabilities (any shape) -> RGB uint8 through :data:`COLORMAP`; NaN is drawn grey."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.clip(np.nan_to_num(v, nan=0.0) * 255 + 0.5, 0, 255).astype(np.intp)
    out = COLORMAP[idx]
    out[np.isnan(v)] = 128
    return out
