"""felt-hf: the FELT facial-tracking dataset as a typed Hugging Face dataset.

The package is laid out by stage of the data flow (docs/ARCHITECTURE.md): foundation modules
(``schema``, ``errors``, ``ravdess``, ``layout``, ``atomic``) at the top, then ``inputs`` ->
``build`` -> ``publish`` / ``training``, with ``synthetic``, ``regen`` and ``view`` beside them.

The heavy pieces (``datasets`` builder, torch helpers, Py-Feat regeneration) load lazily, so
``import felt_hf`` stays cheap and never needs torch or py-feat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._moved import install_moved_module_finder
from .errors import FeltError, FeltFormatError, FeltMissingColumnsError, FeltNameError, FeltSmoothingError, FeltWarning

try:  # the installed distribution's version, one source: setup.cfg
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("felt-hf")
except PackageNotFoundError:  # pragma: no cover - a checkout on PYTHONPATH that was never installed
    __version__ = "0.0.0+unknown"

install_moved_module_finder()

_LAZY = {
    "Felt": "felt_hf.build.builder",
    "FeltConfig": "felt_hf.build.builder",
    "load_felt": "felt_hf.build.builder",
    "read_trial_csv": "felt_hf.inputs.csv_reader",
    "TrialRecord": "felt_hf.inputs.csv_reader",
    "parse_trial_id": "felt_hf.ravdess",
    "expected_trial_ids": "felt_hf.ravdess",
}

if TYPE_CHECKING:  # pragma: no cover
    from .build.builder import Felt, FeltConfig, load_felt
    from .inputs.csv_reader import TrialRecord, read_trial_csv
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
