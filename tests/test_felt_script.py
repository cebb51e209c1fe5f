"""``felt.py``, the loading script, on the ``datasets`` versions that still run scripts (3.x).

``.ci/datasets_envs.sh 3`` runs this module in a venv with datasets 3.x and sets
``FELT_REFERENCE_PYTHON`` to the main environment's interpreter (datasets 5.x): the rows and
features ``load_dataset("felt.py", ..., trust_remote_code=True)`` gives there are compared,
column by column and value by value, with what the ``Felt`` class gives on 5.x for the same
archives. In the main environment only the 4+/5.x behaviour is checked (scripts refused, clearly).

Where the features differ: datasets 3.x has no ``datasets.List``, so the 1-d per-frame columns
(``frame``, ``time_s``, ``num_faces``, ``face_score``) are ``Sequence(Value(...))`` there and
``List(Value(...))`` on 4+; both are the same Arrow ``list<...>`` type, and the values are equal.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

datasets = pytest.importorskip("datasets")
REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "felt.py"
MAJOR = int(datasets.__version__.split(".")[0])
CONFIGS = ("smoothed_speech", "raw_song")

# Run by the reference interpreter: the Felt class on datasets >= 4, each split saved as Arrow IPC.
_REFERENCE = """
import json, sys
import pyarrow as pa
import datasets
from felt_hf.builder import load_felt

data_dir, config, out, cache = sys.argv[1:5]
dd = load_felt(data_dir, config, cache_dir=cache)
meta = {"datasets": datasets.__version__, "features": dd["train"].features.to_dict(), "splits": list(dd)}
for split, ds in dd.items():
    table = ds.data.table
    with pa.OSFile(f"{out}/{split}.arrow", "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
json.dump(meta, open(f"{out}/meta.json", "w"))
"""


def _flat(col: pa.ChunkedArray) -> list[np.ndarray]:
    """Every level of a (possibly extension, possibly nested list) column as numpy arrays."""
    arr = col.combine_chunks()
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    out = []
    while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        out.append(np.asarray(arr.value_lengths().fill_null(-1)))
        arr = arr.flatten()
    out.append(np.asarray(arr.to_numpy(zero_copy_only=False)))
    return out


def _plain(features: dict) -> dict:
    """Feature dicts of 3.x (Sequence) and 4+ (List) in one vocabulary, ids and lengths dropped."""
    if isinstance(features, dict):
        t = features.get("_type")
        d = {k: _plain(v) for k, v in features.items() if k not in ("id", "length")}
        if t in ("Sequence", "List", "LargeList"):
            d["_type"] = "List"
        return d
    if isinstance(features, list):
        return [_plain(v) for v in features]
    return features


@pytest.mark.skipif(MAJOR >= 4, reason="datasets >= 4 refuses loading scripts; the 3.x venv runs this")
@pytest.mark.parametrize("config", CONFIGS)
def test_script_on_datasets3_matches_felt_class_on_5(config, sample_archives, tmp_path):
    ref_python = os.environ.get("FELT_REFERENCE_PYTHON")
    if not ref_python:
        pytest.skip("FELT_REFERENCE_PYTHON (an interpreter with datasets >= 5) not set; .ci/datasets_envs.sh sets it")
    ref = tmp_path / "ref"
    ref.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [ref_python, "-c", _REFERENCE, str(sample_archives), config, str(ref), str(tmp_path / "ref_cache")],
        check=True,
        env=env,
    )
    meta = json.loads((ref / "meta.json").read_text())
    assert int(meta["datasets"].split(".")[0]) >= 5

    dd = datasets.load_dataset(str(SCRIPT), config, data_dir=str(sample_archives), trust_remote_code=True)
    assert list(dd) == meta["splits"]
    feats = dd["train"].features
    assert _plain(json.loads(json.dumps(feats.to_dict()))) == _plain(meta["features"])
    assert type(feats["frame"]).__name__ == "Sequence"  # the documented difference
    for split, ds in dd.items():
        with pa.OSFile(str(ref / f"{split}.arrow"), "rb") as f:
            expected = pa.ipc.open_file(f).read_all()
        got = ds.data.table
        assert got.column_names == expected.column_names
        assert got.num_rows == expected.num_rows > 0
        for name in got.column_names:
            a, b = _flat(got.column(name)), _flat(expected.column(name))
            assert len(a) == len(b), name
            for x, y in zip(a, b, strict=True):
                assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (split, name)


@pytest.mark.skipif(MAJOR >= 4, reason="datasets >= 4 refuses loading scripts")
def test_script_on_datasets3_without_data_dir_says_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="data_dir"):
        datasets.load_dataset(str(SCRIPT), "smoothed_speech", trust_remote_code=True, cache_dir=str(tmp_path))


@pytest.mark.skipif(MAJOR < 4, reason="datasets 3.x runs scripts")
def test_script_is_refused_on_datasets4_and_later(sample_archives):
    with pytest.raises(Exception, match="(?i)script"):
        datasets.load_dataset(str(SCRIPT), "smoothed_speech", data_dir=str(sample_archives))
