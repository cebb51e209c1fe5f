"""Stage 3: from a converted folder into a PyTorch loop.

One place for training: :mod:`.collate` (padding, crops, masks, labels), :mod:`.windows`
(sliding windows), :mod:`.stream` (``FeltStream``, the recommended streaming path),
:mod:`.distributed` (``datasets``' own streaming for DDP, the shard-count rule),
:mod:`.transforms` (standardisation, face-relative landmarks) and :mod:`.frames` (frame view).
``from felt_hf.training import FeltCollator, FeltStream`` reaches them all; nothing here is
imported before it is asked for, so ``transforms`` and ``frames`` work without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FeltCollator": "collate",
    "feature_layout": "collate",
    "feature_dim": "collate",
    "seed_everything": "collate",
    "DEFAULT_FEATURES": "collate",
    "DEFAULT_LABELS": "collate",
    "CLASS_NAMES": "collate",
    "trial_windows": "windows",
    "window_starts": "windows",
    "aggregate_windows": "windows",
    "prepare_stream": "distributed",
    "one_input_shard": "distributed",
    "check_shard_plan": "distributed",
    "suggest_num_shards": "distributed",
    "BatchDecodedStream": "distributed",
    "FeltStream": "stream",
    "Block": "stream",
    "Standardizer": "transforms",
    "face_relative_landmarks": "transforms",
    "standardize": "transforms",
    "feature_mean_std": "transforms",
    "to_frames": "frames",
    "frame_features": "frames",
    "DEFAULT_FRAME_LABELS": "frames",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
