"""felt-hf: the FELT facial-tracking dataset as a typed Hugging Face dataset.

The heavy pieces (``datasets`` builder, torch helpers, Py-Feat regeneration) load lazily, so
``import felt_hf`` stays cheap and never needs torch or py-feat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import FeltError, FeltFormatError, FeltMissingColumnsError, FeltNameError, FeltSmoothingError, FeltWarning

__version__ = "0.1.0"

_LAZY = {
    "Felt": "felt_hf.builder",
    "FeltConfig": "felt_hf.builder",
    "load_felt": "felt_hf.builder",
    "read_trial_csv": "felt_hf.csv_reader",
    "TrialRecord": "felt_hf.csv_reader",
    "parse_trial_id": "felt_hf.ravdess",
    "expected_trial_ids": "felt_hf.ravdess",
}

if TYPE_CHECKING:  # pragma: no cover
    from .builder import Felt, FeltConfig, load_felt
    from .csv_reader import TrialRecord, read_trial_csv
    from .ravdess import expected_trial_ids, parse_trial_id


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'felt_hf' has no attribute {name!r}")


__all__ = [
    "Felt",
    "FeltConfig",
    "load_felt",
    "read_trial_csv",
    "TrialRecord",
    "parse_trial_id",
    "expected_trial_ids",
    "FeltError",
    "FeltFormatError",
    "FeltMissingColumnsError",
    "FeltNameError",
    "FeltSmoothingError",
    "FeltWarning",
    "__version__",
]
