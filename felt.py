"""FELT loading script for ``datasets`` < 4 (``load_dataset("path/to/felt.py", "smoothed_speech", data_dir=...)``).

``datasets`` 4 and later refuse loading scripts: there, use ``felt_hf.Felt`` as a class, or load
the parquet folder written by ``felt-hf convert`` (no script needed). This file must never be
copied into a generated dataset folder: a ``felt.py`` inside a folder named ``felt`` makes
``load_dataset("felt", ...)`` try to run it.
"""

from felt_hf.builder import Felt, FeltConfig  # noqa: F401
