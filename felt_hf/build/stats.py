"""Per-feature normalisation statistics that merge exactly across shards, processes and splits.

Hand-written because: no library statistic merges exactly across worker processes and shards
(numpy/pandas need one pass over all data; float sums drift with the grouping); tests/test_stats.py
checks the merge is exact in any grouping.

The converter feeds every trial of a (config, split) through :meth:`FeatureStats.update_row`,
possibly in several processes, merges the partial results with :meth:`FeatureStats.merge` and
writes them all to ``stats.json`` at the root of the hub folder (:func:`write_stats_json`).
Training code reads them back with :func:`load_stats` to standardise inputs without a pass over
the data.

Statistics are kept per component of each per-frame array of :data:`felt_hf.schema.FRAME_ARRAYS`
(``landmarks`` has 68 x 2 = 136 components, flattened in C order, so component ``2 * i`` is
``x_i`` and ``2 * i + 1`` is ``y_i``). Non-finite values (NaN rows of no-face frames) are left out
component by component.

Exactness, which is why the state is what it is:

* ``count``, ``min``, ``max``: exact, and independent of merge order.
* ``mean``, ``std``: float64 running mean and sum of squared deviations combined with the
  parallel-variance formula (Chan, Golub & LeVeque 1979). Exact up to float64 rounding (relative
  error around 1e-12 whatever the merge order); ``std`` is the population standard deviation
  (ddof=0). ``mean`` and ``m2`` are stored at full precision so a JSON round trip loses nothing.
* quantiles: read from fixed-range integer histograms (:data:`HISTOGRAM_SPECS`). Integer counts
  add exactly, so merged quantiles do not depend on how the data was split. For quantile ``q`` of
  ``n`` values the rank is ``q * (n - 1)``; inside the histogram range the reported value lies
  within one bin width (the spec's ``resolution``) of the order statistics on either side of that
  rank (numpy's ``method="lower"``/``"higher"``); outside the range it is interpolated between the
  range edge and the exact min/max, so the ranges leave room for FELT's smoothing overshoot
  (:data:`HISTOGRAM_SPECS`). Each ``stats.json`` states its ranges and is read back with them, so a
  file written with other ranges (an earlier version's) keeps its meaning. ``identity_embedding``
  quantiles are pooled over its 512 dimensions (one histogram) to keep ``stats.json`` small.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_bytes
from ..layout import STATS_FILENAME
from ..schema import FRAME_ARRAYS, FRAME_ARRAYS_BY_NAME

STATS_FORMAT = "felt-stats"
STATS_VERSION = 1
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class HistogramSpec:
    """A fixed histogram range; fixed (not data-driven) so that histograms from anywhere add up."""

    lo: float
    hi: float
    bins: int
    pooled: bool = False  # one histogram for all components instead of one per component

    @property
    def resolution(self) -> float:
        return (self.hi - self.lo) / self.bins


# Ranges wide enough for RAVDESS 1280x720 video (landmarks may leave the frame), pose in degrees,
# probabilities in [0, 1] and L2-normalised FaceNet embeddings in [-1, 1]. FELT's smoothing
# (FELT_FORMAT.md: Butterworth filtfilt, then Savitzky-Golay) overshoots what it smooths: on the
# generated sample a quarter of a smoothed AU's values lie below 0 (down to -0.075), and in a
# [0, 1] histogram every one of them fell into the underflow bin, so the 5% quantile came out 0.05
# (51 bins) from the truth. The smoothed columns' ranges leave room for that (pose and AUs; box and
# landmarks already had it); the unsmoothed ones (face score, emotions, identity) keep theirs.
HISTOGRAM_SPECS: dict[str, HistogramSpec] = {
    "face_box": HistogramSpec(-640.0, 1920.0, 2048),  # 1.25 px
    "face_score": HistogramSpec(0.0, 1.0, 1000),  # 0.001
    "landmarks": HistogramSpec(-640.0, 1920.0, 2048),  # 1.25 px
    "head_pose": HistogramSpec(-270.0, 270.0, 2160),  # 0.25 degree
    "action_units": HistogramSpec(-0.5, 1.5, 2000),  # 0.001
    "emotions": HistogramSpec(0.0, 1.0, 1000),  # 0.001
    "identity_embedding": HistogramSpec(-1.0, 1.0, 2000, pooled=True),  # 0.001
}


def _width(name: str) -> int:
    return FRAME_ARRAYS_BY_NAME[name].width


class ComponentStats:
    """Mergeable statistics of one per-frame array, one entry per flattened component."""

    def __init__(self, name: str, spec: HistogramSpec | None = None) -> None:
        self.name = name
        self.spec = spec or HISTOGRAM_SPECS[name]  # another spec: statistics read from an older file
        width = _width(name)
        self.count = np.zeros(width, dtype=np.int64)
        self.mean = np.zeros(width, dtype=np.float64)
        self.m2 = np.zeros(width, dtype=np.float64)
        self.min = np.full(width, np.inf)
        self.max = np.full(width, -np.inf)
        self.hist = np.zeros((1 if self.spec.pooled else width, self.spec.bins + 2), dtype=np.int64)

    # -- accumulation --------------------------------------------------------------------------
    def update(self, values: np.ndarray) -> None:
        """Add one trial's frames; ``values`` is ``(T, *shape)``, NaN where no face was found."""
        x = np.asarray(values).reshape(-1, self.count.size)
        valid = np.isfinite(x)
        if not valid.all():
            whole = valid.all(axis=1)
            if valid[~whole].any():  # a frame with some components missing: mask value by value
                self._update_masked(np.asarray(x, dtype=np.float64), valid)
                return
            x = x[whole]  # FELT's case: a no-face frame is NaN throughout, so drop whole frames
        if x.shape[0]:
            self._update_dense(x)

    def _update_dense(self, x: np.ndarray) -> None:
        """Every value finite: no masking copies, float64 accumulators straight from float32 input."""
        mean_b = x.mean(axis=0, dtype=np.float64)
        dev = x - mean_b  # float64
        self._combine(np.full(x.shape[1], x.shape[0]), mean_b, np.einsum("ij,ij->j", dev, dev))
        self.min = np.minimum(self.min, x.min(axis=0))
        self.max = np.maximum(self.max, x.max(axis=0))
        self.hist += self._histogram(np.empty(x.shape, np.float32), x, None)

    def _update_masked(self, x: np.ndarray, valid: np.ndarray) -> None:
        n = valid.sum(axis=0)
        if not n.any():
            return
        xz = np.where(valid, x, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_b = np.where(n > 0, xz.sum(axis=0) / np.maximum(n, 1), 0.0)
        m2_b = (np.where(valid, x - mean_b, 0.0) ** 2).sum(axis=0)
        self._combine(n, mean_b, m2_b)
        self.min = np.minimum(self.min, np.where(valid, x, np.inf).min(axis=0))
        self.max = np.maximum(self.max, np.where(valid, x, -np.inf).max(axis=0))
        self.hist += self._histogram(np.empty(x.shape, np.float32), x, valid)

    def _combine(self, n_b: np.ndarray, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        """Chan et al.'s parallel update: exact in exact arithmetic, stable in float64."""
        n_a = self.count
        n = n_a + n_b
        safe_n = np.maximum(n, 1)
        delta = mean_b - self.mean
        self.mean = np.where(n > 0, self.mean + delta * (n_b / safe_n), 0.0)
        self.m2 = self.m2 + m2_b + delta**2 * (n_a * n_b / safe_n)
        self.count = n

    def _histogram(self, work: np.ndarray, x: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
        """Bin counts of ``x``, computed in place in the float32 scratch array ``work``.

        float32 bin arithmetic may put a value lying on a bin edge into the neighbouring bin,
        which stays within the one-bin resolution the quantiles promise; it halves the cost.
        """
        spec = self.spec
        np.subtract(x, np.float32(spec.lo), out=work, dtype=np.float32, casting="same_kind")
        np.multiply(work, np.float32(1.0 / spec.resolution), out=work)
        np.floor(work, out=work)
        if valid is not None:
            work[~valid] = 0.0
        np.clip(work, -1, spec.bins, out=work)
        rows = self.hist.shape[0]
        # + 1 (0 under, bins + 1 over) and each component's row offset, added in float32 (exact:
        # whole numbers below 2**24), then one cast to int32: numpy converts float32 to int32 with
        # SIMD and to int64 without (0.05 against 0.28 ms for 0.5 M values here), and bincount's own
        # widening of int32 costs less than the difference.
        work += self._bin_offsets(idx_width=work.shape[1]) if rows > 1 else np.float32(1.0)
        idx = work.astype(np.int32)
        flat = idx.ravel() if valid is None else idx[valid]
        return np.bincount(flat, minlength=rows * (spec.bins + 2)).reshape(rows, spec.bins + 2)

    def _bin_offsets(self, idx_width: int) -> np.ndarray:
        return (np.arange(idx_width, dtype=np.float32) * np.float32(self.spec.bins + 2)) + np.float32(1.0)

    def __getstate__(self) -> dict:
        """Pickled with the histogram sparse (its non-zero cells only), for the trip from a
        converter worker to the parent: a shard's histograms are 2.6 MB of mostly zeros, and
        pickle + zlib of them cost about 7 ms a shard each way (cProfile, 144 shards at full
        size); the sparse form is about 300 KB a shard and costs under a millisecond."""
        state = dict(self.__dict__)
        flat = self.hist.ravel()
        cells = np.flatnonzero(flat)
        counts = flat[cells]
        if counts.size and counts.max() <= np.iinfo(np.int32).max:  # a shard's counts always are
            counts = counts.astype(np.int32)
        state["hist"] = (self.hist.shape, cells.astype(np.int32), counts)
        return state

    def __setstate__(self, state: dict) -> None:
        shape, cells, counts = state["hist"]
        hist = np.zeros(shape, dtype=np.int64)
        hist.ravel()[cells] = counts
        self.__dict__.update(state, hist=hist)

    def merge(self, other: ComponentStats) -> None:
        if other.name != self.name:
            raise ValueError(f"cannot merge statistics of {other.name!r} into {self.name!r}")
        if other.spec != self.spec:
            raise ValueError(f"cannot merge {self.name} statistics with histogram {other.spec} into {self.spec}")
        self._combine(other.count, other.mean, other.m2)
        self.min = np.minimum(self.min, other.min)
        self.max = np.maximum(self.max, other.max)
        self.hist = self.hist + other.hist

    # -- derived values ------------------------------------------------------------------------
    @property
    def std(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, np.sqrt(self.m2 / np.maximum(self.count, 1)), np.nan)

    def quantiles(self, qs: Iterable[float] = QUANTILES) -> dict[float, np.ndarray]:
        """Quantiles from the histograms (see the module docstring for their resolution)."""
        lo_all, hi_all = self._minmax_for_hist()
        qs = [float(q) for q in qs]
        cums = np.cumsum(self.hist, axis=1)  # once per component, not once per quantile
        per_row = [
            [_hist_quantile(h, q, self.spec, lo, hi, cum) for q in qs]
            for h, lo, hi, cum in zip(self.hist, lo_all, hi_all, cums, strict=True)
        ]
        return {q: np.array([row[i] for row in per_row]) for i, q in enumerate(qs)}

    def _minmax_for_hist(self) -> tuple[np.ndarray, np.ndarray]:
        if self.spec.pooled:
            return np.array([self.min.min()]), np.array([self.max.max()])
        return self.min, self.max

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        arr = FRAME_ARRAYS_BY_NAME[self.name]
        spec = self.spec
        return {
            "shape": list(arr.shape),
            "unit": arr.unit,
            "count": self.count.tolist(),
            "mean": _floats(self.mean, self.count),
            "std": _floats(self.std, self.count, digits=7),
            "min": _floats(self.min, self.count),
            "max": _floats(self.max, self.count),
            "quantiles": {f"{q:g}": _floats(v, None, digits=7) for q, v in self.quantiles().items()},
            "quantiles_pooled": spec.pooled,
            "m2": _floats(self.m2, self.count),
            "histogram": {
                "lo": spec.lo,
                "hi": spec.hi,
                "bins": spec.bins,
                "resolution": spec.resolution,
                "pooled": spec.pooled,
                "encoding": "zlib+base64 of little-endian int64 counts, shape (rows, bins + 2): underflow, bins, overflow",
                "data": base64.b64encode(zlib.compress(self.hist.astype("<i8").tobytes(), 6)).decode("ascii"),
            },
        }

    @classmethod
    def from_dict(cls, name: str, d: Mapping, num_frames: int | None = None) -> ComponentStats:
        """The statistics as stored, with the file's own histogram range: a ``stats.json`` written
        with other ranges (an earlier version's) reads back as it was written."""
        if not isinstance(d, Mapping):
            raise ValueError(f": {_json_type(d)}, not an object")
        h = d["histogram"]
        if not isinstance(h, Mapping):
            raise ValueError(f"histogram: {_json_type(h)}, not an object")
        try:
            out = cls(name, _stored_spec(name, h))  # (a name this version does not know: KeyError)
        except KeyError as e:
            raise KeyError(f"histogram.{e.args[0]}") from None
        width = out.count.size
        out.count = _counts(d["count"], width)
        if num_frames is not None:
            _check_count_within(out, num_frames)
        known = out.count > 0
        out.mean = _unfloats(_values(d, "mean", width, known), 0.0)
        out.m2 = _unfloats(_values(d, "m2", width, known, at_least=0.0), 0.0)
        out.min = _unfloats(_values(d, "min", width, known), np.inf)
        out.max = _unfloats(_values(d, "max", width, known), -np.inf)
        try:
            raw = np.frombuffer(zlib.decompress(base64.b64decode(h["data"])), dtype="<i8")
            out.hist = raw.astype(np.int64).reshape(out.hist.shape)
        except KeyError:
            raise KeyError("histogram.data") from None
        except (zlib.error, binascii.Error, ValueError, TypeError) as e:
            raise ValueError(f"histogram.data: {e}") from None
        _check_consistent(out, known)
        return out


def _counts(values, width: int) -> np.ndarray:
    """``count``: ``width`` whole numbers >= 0. ``np.asarray(..., int64)`` had read 2.7 as 2 (std
    then sqrt(m2 / 2): every standardised value scaled wrong) and -3 as a count."""
    if not isinstance(values, list) or len(values) != width:
        raise ValueError(f"count: {_length_text(values)}, expected {width} whole numbers")
    return np.asarray([_whole(v, f"count[{i}]") for i, v in enumerate(values)], dtype=np.int64)


def _values(d: Mapping, key: str, width: int, known: np.ndarray, at_least: float | None = None) -> list:
    """``d[key]``: ``width`` numbers, finite (and ``>= at_least``) wherever the component has data
    (``known``), null elsewhere allowed. A NaN mean had turned every standardised value of the
    feature into NaN (the collator then called every frame "no face"), a null one had read as 0,
    and a negative or NaN m2 had made std 1, all without a word."""
    values = d[key]
    if not isinstance(values, list) or len(values) != width:
        raise ValueError(f"{key}: {_length_text(values)}, expected {width} numbers")
    for i, v in enumerate(values):
        if v is None and not known[i]:
            continue
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not number or not math.isfinite(v) or (at_least is not None and v < at_least):
            need = "a finite number" + (f" >= {at_least:g}" if at_least is not None else "")
            where = f" (count[{i}] = 0)" if not known[i] else ""
            raise ValueError(f"{key}[{i}]: {v!r} is not {need}{where}")
    return values


def _length_text(values) -> str:
    return f"{len(values)} values" if isinstance(values, list) else _json_type(values)


def _check_consistent(c: ComponentStats, known: np.ndarray) -> None:
    """What one entry's own numbers imply: min <= mean <= max, and histograms of counts >= 0 that
    count each component's values (``count``; the sum of them where pooled). An edited count of 1e9
    had turned a std of 2.46 into 0.0015, and a min above the max or negative histogram counts had
    loaded without a word."""
    lo, hi, mean = c.min[known], c.max[known], c.mean[known]
    idx = np.flatnonzero(known)
    tol = 1e-9 * np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))  # (float64 merges round the mean)
    for bad, text in (
        (lo > hi, "min[{i}]: {lo!r} is above max[{i}] {hi!r}"),
        ((mean < lo - tol) | (mean > hi + tol), "mean[{i}]: {m!r} is outside min..max [{lo!r}, {hi!r}]"),
    ):
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(text.format(i=int(idx[j]), lo=float(lo[j]), hi=float(hi[j]), m=float(mean[j])))
    if (c.hist < 0).any():
        raise ValueError("histogram.data: a negative count")
    sums = c.hist.sum(axis=1)
    expected = np.array([c.count.sum()]) if c.spec.pooled else c.count
    if not np.array_equal(sums, expected):
        i = int(np.flatnonzero(sums != expected)[0])
        what = "the counts sum to" if c.spec.pooled else f"count[{i}] is"
        raise ValueError(f"histogram.data: row {i} holds {int(sums[i])} values, {what} {int(expected[i])}")
    _check_mean_in_histogram(c, known)


def _check_mean_in_histogram(c: ComponentStats, known: np.ndarray) -> None:
    """The mean inside the bounds its histogram puts on it: each value lies in its bin (and in
    min..max), so the mean lies between the count-weighted left and right bin edges, a span of
    one bin width. An edited mean (5 px on a landmark) had passed ``verify`` whenever its trials
    were not all re-read (``--sample`` smaller than the split, as in ``push``'s verify), and a
    model trained with the stored mean standardised with it. One bin of slack for the float32
    binning at the edges."""
    if not known.any():
        return
    spec = c.spec
    edges = spec.lo + np.arange(spec.bins + 1, dtype=np.float64) * spec.resolution
    if spec.pooled:
        vmin, vmax = np.array([c.min[known].min()]), np.array([c.max[known].max()])
        mean = np.array([np.sum(c.count[known] * c.mean[known]) / c.count[known].sum()])
        rows, hist = np.array([0]), c.hist
    else:
        vmin, vmax, mean = c.min[known], c.max[known], c.mean[known]
        rows, hist = np.flatnonzero(known), c.hist[known]
    left = np.concatenate([[-np.inf], edges[:-1], [spec.hi]])  # underflow, bins, overflow
    right = np.concatenate([[spec.lo], edges[1:], [np.inf]])
    left = np.clip(left[None, :], vmin[:, None], vmax[:, None])
    right = np.clip(right[None, :], vmin[:, None], vmax[:, None])
    n = hist.sum(axis=1).astype(np.float64)
    lower, upper = (hist * left).sum(axis=1) / n, (hist * right).sum(axis=1) / n
    bad = (mean < lower - spec.resolution) | (mean > upper + spec.resolution)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        which = "the pooled mean" if spec.pooled else f"mean[{int(rows[j])}]"
        raise ValueError(f"{which}: {float(mean[j])!r} is not what the histogram allows "
                         f"({float(lower[j]):.6g}..{float(upper[j]):.6g})")  # fmt: skip


def _stored_spec(name: str, h: Mapping) -> HistogramSpec:
    """A ``stats.json`` histogram's range, checked to be one a histogram can have."""
    lo, hi, bins, pooled = h["lo"], h["hi"], h["bins"], h["pooled"]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi))
    if not (numbers and math.isfinite(lo) and math.isfinite(hi) and lo < hi and isinstance(bins, int)
            and not isinstance(bins, bool) and bins > 0 and isinstance(pooled, bool)):  # fmt: skip
        raise ValueError(f"histogram: range {dict(lo=lo, hi=hi, bins=bins, pooled=pooled)} is not one")
    if pooled != HISTOGRAM_SPECS[name].pooled:
        raise ValueError(f"histogram: pooled={pooled}, this version's is pooled={not pooled}")
    return HistogramSpec(float(lo), float(hi), bins, pooled)


def document_problems(name: str, d: Mapping) -> list[str]:
    """Where one feature's stored entry disagrees with what its own state implies.

    ``std`` and ``quantiles`` are derived from ``count``/``m2`` and the histogram, ``shape`` and
    ``unit`` come from the schema, and ``mean``/``m2``/``min``/``max`` are stored at full precision,
    so an entry written by :meth:`ComponentStats.to_dict` reads back and re-serialises to itself
    exactly; any key that does not was edited (or written by other code), and is named with its
    first differing index.
    """
    try:
        again = ComponentStats.from_dict(name, d).to_dict()
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, zlib.error, binascii.Error) as e:
        return [f"{name}: unreadable ({type(e).__name__}: {e})"]
    out = []
    for key in sorted(set(again) | set(d)):
        if key not in d or key not in again:
            out.append(f"{name}.{key}: {'missing' if key not in d else 'not a key this version writes'}")
        elif d[key] != again[key]:
            out.append(f"{name}.{key}{_first_difference(d[key], again[key])}: not what the entry's own data give")
    return out


def _first_difference(stored, derived) -> str:
    """``[i]`` / ``.key`` of the first place two JSON values differ, with both values."""
    if isinstance(stored, dict) and isinstance(derived, dict):
        for k in sorted(set(stored) | set(derived), key=str):
            if stored.get(k) != derived.get(k):
                return f".{k}{_first_difference(stored.get(k), derived.get(k))}"
    if isinstance(stored, list) and isinstance(derived, list) and len(stored) == len(derived):
        for i, (a, b) in enumerate(zip(stored, derived, strict=True)):
            if a != b:
                return f"[{i}]{_first_difference(a, b)}"
    if isinstance(stored, (dict, list)) or isinstance(derived, (dict, list)):
        return ""
    return f" (stored {stored!r}, expected {derived!r})"


def _hist_quantile(
    hist: np.ndarray, q: float, spec: HistogramSpec, vmin: float, vmax: float, cum: np.ndarray | None = None
) -> float:
    """Linear interpolation inside the bin that holds rank ``q * (n - 1)``; ``cum`` is
    ``np.cumsum(hist)`` when the caller already has it."""
    cum = np.cumsum(hist) if cum is None else cum
    n = int(cum[-1])
    if n == 0:
        return math.nan
    rank = q * (n - 1)
    b = int(np.searchsorted(cum, rank, side="right"))
    before = cum[b - 1] if b > 0 else 0
    frac = (rank - before + 0.5) / hist[b]
    if b == 0:
        left, right = vmin, min(spec.lo, vmax)
    elif b == spec.bins + 1:
        left, right = max(spec.hi, vmin), vmax
    else:
        left = spec.lo + (b - 1) * spec.resolution
        right = left + spec.resolution
    return float(min(max(left + frac * (right - left), vmin), vmax))


def _floats(values: np.ndarray, count: np.ndarray | None, digits: int | None = None) -> list:
    """JSON has no NaN/inf: components without data become null."""
    out = []
    for i, v in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        if (count is not None and count[i] == 0) or not math.isfinite(v):
            out.append(None)
        else:
            out.append(float(f"{v:.{digits}g}") if digits else v)
    return out


def _unfloats(values: list, missing: float) -> np.ndarray:
    return np.array([missing if v is None else v for v in values], dtype=np.float64)


class FeltStatsLookupError(KeyError, ValueError):
    """A feature the statistics do not hold: a KeyError (a mapping's miss) and a ValueError (the
    API's argument errors) at once, so either ``except`` catches it."""

    def __str__(self) -> str:  # (KeyError's own quotes the message)
        return str(self.args[0]) if self.args else ""


def _check_count_within(c: ComponentStats, num_frames: int) -> None:
    """A component counts at most one value a frame."""
    if c.count.size and int(c.count.max()) > num_frames:
        i = int(np.argmax(c.count))
        raise ValueError(f"count[{i}]: {int(c.count[i])} is more than num_frames {num_frames}")


def _whole(value, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}: {value!r} is not a whole number >= 0")
    return value


class FeatureStats:
    """Statistics of every per-frame array of one (config, split), plus trial and frame counts."""

    source: str | None = None  # where they were read from (a file and place), for messages

    def __init__(self, names: Iterable[str] | None = None, specs: Mapping[str, HistogramSpec] | None = None) -> None:
        """``specs``: histogram ranges other than this version's, per feature (those of statistics
        read from a file, to count new data comparably)."""
        names = tuple(names) if names is not None else tuple(a.name for a in FRAME_ARRAYS)
        unknown = [n for n in names if n not in HISTOGRAM_SPECS]
        if unknown:
            raise ValueError(f"no statistics defined for {unknown}; expected names from schema.FRAME_ARRAYS")
        specs = specs or {}
        self.features: dict[str, ComponentStats] = {n: ComponentStats(n, specs.get(n)) for n in names}
        self.num_trials = 0
        self.num_frames = 0

    def update_row(self, row: Mapping[str, np.ndarray]) -> None:
        """Add one trial; keys other than the per-frame arrays (labels, ``frame``...) are ignored."""
        lengths = set()
        for name, acc in self.features.items():
            if name in row and row[name] is not None:
                values = np.asarray(row[name])
                lengths.add(values.shape[0] if values.ndim else 0)
                acc.update(values)
        if len(lengths) > 1:
            raise ValueError(
                f"trial {row.get('trial_id', '?')}: per-frame arrays disagree on length: {sorted(lengths)}"
            )
        self.num_trials += 1
        self.num_frames += lengths.pop() if lengths else 0

    def update_rows(self, rows: Sequence[Mapping[str, np.ndarray]]) -> None:
        """Add several trials at once: per-frame statistics do not care where a trial ends, so the
        trials are concatenated along time and counted in one pass (8x fewer numpy calls for a
        converter row group), with the same result as :meth:`update_row` on each."""
        if not rows:
            return
        names = [n for n in self.features if all(n in r and r[n] is not None for r in rows)]
        self.update_row({n: np.concatenate([np.asarray(r[n]) for r in rows]) for n in names})
        self.num_trials += len(rows) - 1

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Fold ``other`` into ``self`` (in place) and return ``self``, so ``reduce`` works."""
        if set(other.features) != set(self.features):
            raise ValueError(f"cannot merge statistics of {sorted(other.features)} into {sorted(self.features)}")
        for name, acc in self.features.items():
            acc.merge(other.features[name])
        self.num_trials += other.num_trials
        self.num_frames += other.num_frames
        return self

    def __getitem__(self, name: str) -> ComponentStats:
        """One feature's statistics; one the statistics do not hold is a :class:`LookupError` that
        is also a ValueError, naming where they were read (a bare ``KeyError: 'action_units'`` had
        named neither the file nor the split)."""
        if name not in self.features:
            where = f"{self.source}: " if getattr(self, "source", None) else ""
            raise FeltStatsLookupError(f"{where}no statistics of {name!r} (they hold {', '.join(self.features)})")
        return self.features[name]

    def mean(self, name: str) -> np.ndarray:
        """Per-component mean in the array's own shape (e.g. ``(68, 2)`` for landmarks)."""
        return self[name].mean.reshape(FRAME_ARRAYS_BY_NAME[name].shape)

    def std(self, name: str) -> np.ndarray:
        return self[name].std.reshape(FRAME_ARRAYS_BY_NAME[name].shape)

    def to_dict(self) -> dict:
        return {
            "num_trials": self.num_trials,
            "num_frames": self.num_frames,
            "features": {name: acc.to_dict() for name, acc in self.features.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping, source: str | None = None) -> FeatureStats:
        """``source``: where ``d`` was read (file and place), named when a feature is asked for
        that it does not hold."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{_json_type(d)}, not an object")
        if not isinstance(d["features"], Mapping):
            raise ValueError(f"features: {_json_type(d['features'])}, not an object")
        out = cls(d["features"].keys())
        num_frames = _whole(d["num_frames"], "num_frames")
        features = {}
        for name, fd in d["features"].items():
            try:
                features[name] = ComponentStats.from_dict(name, fd, num_frames)
            except KeyError as e:
                raise KeyError(f"features.{name}.{e.args[0] if e.args else e}") from None
            except (ValueError, TypeError) as e:
                raise ValueError(f"features.{name}{'' if str(e).startswith(':') else '.'}{e}") from None
        out.features = features
        out.num_trials = _whole(d["num_trials"], "num_trials")
        out.num_frames = num_frames
        out.source = source
        return out


def compute_stats(rows: Iterable[Mapping[str, np.ndarray]], names: Iterable[str] | None = None) -> FeatureStats:
    """Statistics of any iterable of trial rows (e.g. a cross-validation fold's training actors)."""
    stats = FeatureStats(names)
    for row in rows:
        stats.update_row(row)
    return stats


def stats_document(stats_by_config_split: Mapping[str, Mapping[str, FeatureStats | dict]]) -> dict:
    """The JSON document of ``stats.json``; self-describing so the card can point at it.

    A split's entry may be given already as its :meth:`FeatureStats.to_dict` (the converter makes
    it while other shards are still being written, instead of after the last)."""
    return {
        "format": STATS_FORMAT,
        "version": STATS_VERSION,
        "description": (
            "Per-component statistics of each per-frame array, per config and split, NaN (no-face) "
            "values excluded. Components are the array flattened in C order (landmarks: x_0, y_0, x_1, ...). "
            "count/min/max exact; mean and m2 float64 via the parallel-variance formula; std (ddof=0) stored "
            "to 7 significant digits, sqrt(m2 / count) gives it in full; "
            "quantiles from fixed-range histograms, exact to one bin width (histogram.resolution); "
            "identity_embedding quantiles pooled over its 512 dimensions."
        ),
        "quantiles": list(QUANTILES),
        "configs": {
            cfg: {split: st if isinstance(st, dict) else st.to_dict() for split, st in splits.items()}
            for cfg, splits in stats_by_config_split.items()
        },
    }


def write_stats_json(
    path: str | os.PathLike, stats_by_config_split: Mapping[str, Mapping[str, FeatureStats | dict]]
) -> Path:
    """Write atomically (temp file + ``os.replace``) so a reader never sees half a file."""
    path = Path(path)
    if path.is_dir():
        path = path / STATS_FILENAME
    doc = stats_document(stats_by_config_split)
    text = json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def load_stats(path_or_folder: str | os.PathLike) -> dict[str, dict[str, FeatureStats]]:
    """``{config: {split: FeatureStats}}`` from a ``stats.json`` or the hub folder holding it."""
    path = Path(path_or_folder)
    if path.is_dir():
        path = path / STATS_FILENAME
    with open(path, "rb") as f:
        raw = f.read()
    try:  # (json's and the codec's own errors named neither the file nor what it should have been)
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a FELT stats file (not JSON text: {e})") from None
    except RecursionError:  # (arrays nested thousands deep: json's decoder recurses)
        raise ValueError(f"{path}: not a FELT stats file (JSON nested too deep to read)") from None
    return stats_from_document(doc, path)


def stats_from_document(doc: Any, path: Path) -> dict[str, dict[str, FeatureStats]]:
    """:func:`load_stats` of a document already parsed (``verify`` also checks its raw entries);
    ``path`` names the file in errors."""
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a FELT stats file (JSON {_json_type(doc)}, not an object)")
    if doc.get("format") != STATS_FORMAT:
        raise ValueError(f"{path}: not a FELT stats file (format {doc.get('format')!r})")
    if doc.get("version") != STATS_VERSION:
        raise ValueError(f"{path}: stats version {doc.get('version')} is not {STATS_VERSION}; rebuild the folder")
    configs = doc.get("configs")
    if not isinstance(configs, dict):
        raise ValueError(f"{path}: 'configs' is {_json_type(configs)}, not an object")
    out: dict[str, dict[str, FeatureStats]] = _Keyed(f"{path}: no config")
    for cfg, splits in configs.items():
        if not isinstance(splits, dict):
            raise ValueError(f"{path}: configs.{cfg} is {_json_type(splits)}, not an object")
        for split, d in splits.items():
            out.setdefault(cfg, _Keyed(f"{path}: configs.{cfg}: no split"))[split] = _split_stats(
                path, f"configs.{cfg}.{split}", d
            )
    return out


class _Keyed(dict):
    """A dict whose missing key is a :class:`FeltStatsLookupError` naming the file and what it
    has (``load_stats(...)["smoothed_speech"]["test"]`` of a build without a test split had been
    a bare ``KeyError: 'test'``)."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def __missing__(self, key):
        raise FeltStatsLookupError(f"{self.what} {key!r} (it has {', '.join(map(str, self)) or 'none'})")


def _json_type(value) -> str:
    """JSON's name for a parsed value's type (for messages about a hand-edited file)."""
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _split_stats(path: Path, where: str, d) -> FeatureStats:
    """One split's entry; whatever is malformed in it is one ValueError naming file and place."""
    try:
        return FeatureStats.from_dict(d, source=f"{path}: {where}")
    except KeyError as e:
        raise ValueError(f"{path}: {where}: missing {e}") from None
    except (AttributeError, TypeError, ValueError, IndexError, zlib.error, binascii.Error) as e:
        raise ValueError(f"{path}: {where}: {e}") from None


__all__ = [
    "QUANTILES",
    "HISTOGRAM_SPECS",
    "HistogramSpec",
    "ComponentStats",
    "FeatureStats",
    "compute_stats",
    "document_problems",
    "stats_document",
    "write_stats_json",
    "load_stats",
    "stats_from_document",
    "STATS_FILENAME",
]
