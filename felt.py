"""FELT loading script for ``datasets`` 3.x: ``load_dataset("path/to/felt.py", "smoothed_speech",
data_dir="path/to/felt_zips", trust_remote_code=True)``.

``datasets`` 4 and later refuse loading scripts: there, load the parquet folder written by
``felt-hf convert`` (no script needed), or use ``felt_hf.Felt`` as a class. On 3.x this script
gives the same rows and values as ``Felt`` on 5.x (``tests/test_felt_script.py``, run by
``.ci/datasets_envs.sh 3``); the only difference in the features is that 3.x has no
``datasets.List``, so the 1-d per-frame columns are ``Sequence(Value(...))`` (the same Arrow type).
It imports felt-hf's reader: install felt-hf in the 3.x environment with ``pip install --no-deps -e .``.

This file must never be copied into a generated dataset folder: a ``felt.py`` inside a folder
named ``felt`` makes ``load_dataset("felt", ...)`` try to run it.
"""

# datasets 3.x reads the text after "# From:" as the pip name it asks for when the import fails
from felt_hf.builder import Felt, FeltConfig  # From: felt-hf

__all__ = ["Felt", "FeltConfig"]
