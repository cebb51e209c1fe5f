"""FELT's smoothing: vectorised equals FELT's column-by-column script; short clips are explicit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, filtfilt, savgol_filter

from felt_hf.errors import FeltSmoothingError
from felt_hf.inputs.smoothing import forward_fill, min_filtfilt_length, smooth_block, smooth_columns
from felt_hf.schema import SMOOTHED_COLUMNS


def _felt_script(column: np.ndarray) -> np.ndarray:
    b, a = butter(5, 6 / (0.5 * 29.97), btype="low")
    y = filtfilt(b, a, column)
    return savgol_filter(y, 11, 5) if len(y) > 11 else y


@pytest.mark.parametrize("n", [19, 30, 150])
def test_vectorised_equals_the_column_loop(n):
    x = np.random.default_rng(n).normal(size=(n, 7)).cumsum(axis=0) * 40
    want = np.column_stack([_felt_script(x[:, j]) for j in range(7)])
    np.testing.assert_allclose(smooth_block(x), want, rtol=1e-12, atol=1e-9)


def test_only_felt_columns_change():
    rng = np.random.default_rng(0)
    cols = {c: rng.normal(size=60) for c in SMOOTHED_COLUMNS[:5] + ("FaceScore", "anger", "Identity_1")}
    out = smooth_columns(cols)
    for c in ("FaceScore", "anger", "Identity_1"):
        assert out[c] is cols[c]
    np.testing.assert_allclose(out["FaceRectX"], _felt_script(cols["FaceRectX"]), rtol=1e-12)


def test_short_clips_raise_by_default_and_fallbacks_are_explicit():
    assert min_filtfilt_length() == 19
    x = np.arange(18.0)[:, None]
    with pytest.raises(FeltSmoothingError, match="18 frames"):
        smooth_block(x, name="t.csv")
    np.testing.assert_array_equal(smooth_block(x, short_clip="keep"), x)
    padded = smooth_block(x, short_clip="pad")
    assert padded.shape == x.shape and np.isfinite(padded).all()
    with pytest.raises(ValueError, match="short_clip"):
        smooth_block(x, short_clip="guess")


def test_forward_fill_like_pandas_and_nan_columns_stay_nan():
    pd = pytest.importorskip("pandas")
    x = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [5.0, 6.0]])
    np.testing.assert_array_equal(forward_fill(x), pd.DataFrame(x).ffill().to_numpy())
    y = np.random.default_rng(1).normal(size=(40, 2))
    y[0, 0] = np.nan  # a leading no-face frame: FELT's filter turns the whole column NaN
    out = smooth_block(y)
    assert np.isnan(out[:, 0]).all() and np.isfinite(out[:, 1]).all()
