"""Input normalisation for FELT features: standardisation from ``stats.json`` and face-relative landmarks.

Landmarks are stored in video pixels, so a model fed raw coordinates mostly learns where each
actor stood and how close they were to the camera. The FELT landmark-plot videos show the face
centred and scaled; :func:`face_relative_landmarks` does the same with a choice of reference
(face box or eyes), of scale (box size or inter-ocular distance) and of whether head translation
is removed frame by frame or kept relative to the trial's mean position.

Everything here works on numpy arrays and on torch tensors alike (arithmetic, indexing and a
small dispatch for the NaN-aware mean), and never imports torch itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..schema import FRAME_ARRAYS_BY_NAME
from .args import column_names

# iBUG 68-point indices (0-based): the subject's right eye is 36-41, the left eye 42-47.
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
RIGHT_EYE_OUTER = 36
LEFT_EYE_OUTER = 45
CENTERS = ("box", "eyes")
SCALES = ("box", "interocular")


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _nanmean(x: Any, axis: int) -> Any:
    """Mean over ``axis`` skipping NaN, keeping the axis (numpy or torch)."""
    if _is_torch(x):
        return x.nanmean(dim=axis, keepdim=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN trials stay NaN, on purpose
        return np.nanmean(x, axis=axis, keepdims=True)


def _maximum(a: Any, b: Any) -> Any:
    if _is_torch(a):
        import torch

        return torch.maximum(a, b)
    return np.maximum(a, b)


def _reference(landmarks: Any, face_box: Any | None, center: str, scale: str) -> tuple[Any, Any]:
    """Per-frame centre ``(..., 1, 2)`` and scale ``(..., 1, 1)``."""
    if center not in CENTERS:
        raise ValueError(f"center must be one of {CENTERS}, not {center!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    if "box" in (center, scale) and face_box is None:
        raise ValueError("center='box' or scale='box' needs face_box")
    if center == "box":
        c = face_box[..., None, 0:2] + face_box[..., None, 2:4] / 2
    else:
        right = landmarks[..., RIGHT_EYE, :].sum(-2) / 6
        left = landmarks[..., LEFT_EYE, :].sum(-2) / 6
        c = ((right + left) / 2)[..., None, :]
    if scale == "box":
        s = _maximum(face_box[..., 2], face_box[..., 3])[..., None, None]
    else:
        d = landmarks[..., LEFT_EYE_OUTER, :] - landmarks[..., RIGHT_EYE_OUTER, :]
        s = ((d**2).sum(-1) ** 0.5)[..., None, None]
    return c, s


def face_relative_landmarks(
    landmarks: Any,
    face_box: Any | None = None,
    *,
    center: str = "box",
    scale: str = "box",
    remove_head_translation: bool = True,
) -> Any:
    """Landmarks ``(..., T, 68, 2)`` in face units: centred and divided by a face size.

    ``center``: ``"box"`` (face-box centre) or ``"eyes"`` (midpoint of the two eye centres).
    ``scale``: ``"box"`` (the larger of box width and height; coordinates then span about
    [-0.5, 0.5]) or ``"interocular"`` (outer eye corners 36-45; about [-1.5, 1.5]).
    ``remove_head_translation=True`` uses each frame's own centre and scale, so only the face's
    shape and expression remain; ``False`` uses the trial's mean centre and scale (over the
    ``T`` axis, NaN frames skipped), so head movement within the trial stays visible.
    NaN (no-face) frames stay NaN.
    """
    if not isinstance(remove_head_translation, (bool, np.bool_)):  # ("no" had counted as True)
        raise ValueError(f"remove_head_translation must be True or False, not {remove_head_translation!r}")
    if not hasattr(landmarks, "shape") or (face_box is not None and not hasattr(face_box, "shape")):
        raise TypeError("landmarks and face_box must be numpy arrays or torch tensors (e.g. np.asarray(rows))")
    if tuple(landmarks.shape[-2:]) != (68, 2):
        raise ValueError(f"landmarks must have shape (..., T, 68, 2), not {tuple(landmarks.shape)}")
    if face_box is not None and (face_box.shape[-1] != 4 or tuple(face_box.shape[:-1]) != tuple(landmarks.shape[:-2])):
        raise ValueError(f"face_box must have shape (..., T, 4) matching landmarks {tuple(landmarks.shape)}, "
                         f"not {tuple(face_box.shape)}")  # fmt: skip
    c, s = _reference(landmarks, face_box, center, scale)
    if not remove_head_translation:
        c, s = _nanmean(c, axis=-3), _nanmean(s, axis=-3)
    return (landmarks - c) / s


def standardize(x: Any, mean: Any, std: Any, eps: float = 1e-6) -> Any:
    """``(x - mean) / max(std, eps)``; broadcasting over the leading axes (numpy or torch)."""
    if _is_torch(x):
        import torch

        mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
        std = torch.as_tensor(std, dtype=x.dtype, device=x.device).clamp_min(eps)
        return (x - mean) / std
    return (x - mean) / np.maximum(std, eps)


def feature_mean_std(stats: Any, features: Sequence[str], *, skip: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std vectors (float32) matching the concatenation of ``features``, flattened.

    ``stats`` is a :class:`felt_hf.stats.FeatureStats`. Features in ``skip`` (for instance
    landmarks already made face-relative) get mean 0 and std 1. Components without data (all
    NaN) get mean 0 and std 1 too, so they pass through unchanged.
    """
    features = column_names("features", features)
    unknown = [n for n in features if n not in FRAME_ARRAYS_BY_NAME]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; choose from {tuple(FRAME_ARRAYS_BY_NAME)}")
    if isinstance(stats, dict) and not hasattr(stats, "features"):  # load_stats' {config: {split: ...}}
        raise ValueError("stats must be one split's FeatureStats, e.g. load_stats(folder)['smoothed_speech']['train'], "
                         f"not the whole file (keys {sorted(stats)[:4]})")  # fmt: skip
    if not hasattr(stats, "features"):  # (None or a string had failed in a subscript, in Python's words)
        raise ValueError(f"stats must be one split's FeatureStats (felt_hf.stats.load_stats(folder)[config][split]), "
                         f"not {stats!r}")  # fmt: skip
    means, stds = [], []
    for name in features:
        width = FRAME_ARRAYS_BY_NAME[name].width
        if name in skip:
            means.append(np.zeros(width))
            stds.append(np.ones(width))
            continue
        acc = stats[name]
        has = acc.count > 0
        means.append(np.where(has, acc.mean, 0.0))
        stds.append(np.where(has & (acc.std > 0), acc.std, 1.0))
    return np.concatenate(means).astype(np.float32), np.concatenate(stds).astype(np.float32)


class Standardizer:
    """Picklable ``x -> (x - mean) / std`` for the concatenated feature vector (DataLoader workers)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, eps: float = 1e-6) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.maximum(np.asarray(std, dtype=np.float32), eps)

    @classmethod
    def from_stats(cls, stats: Any, features: Sequence[str], *, skip: Sequence[str] = ()) -> Standardizer:
        return cls(*feature_mean_std(stats, features, skip=skip))

    def __call__(self, x: Any) -> Any:
        return standardize(x, self.mean, self.std)


__all__ = [
    "face_relative_landmarks",
    "standardize",
    "feature_mean_std",
    "Standardizer",
    "RIGHT_EYE",
    "LEFT_EYE",
    "CENTERS",
    "SCALES",
]
