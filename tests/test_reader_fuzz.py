"""Property: whatever damage a CSV suffers, the reader returns the record the text says, or
raises the project's own error. Never another exception, never a silently different number.

Valid FELT CSVs (every header layout) are mutated byte-wise by hypothesis (flips to characters
that matter to a CSV parser, deletions, insertions, truncation, duplicated and swapped lines).
When the reader returns a record, it is compared with an independent parse of the same bytes
(Python's csv module and float(), rounded to float32): frames, face selection and every array.
"""

from __future__ import annotations

import csv
import io
import warnings

import numpy as np
import pytest
from felt_hf.csv_reader import dedupe_header, read_trial_csv, select_faces
from felt_hf.synth import make_trial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from felt_hf.errors import FeltError
from felt_hf.schema import FACE_SCORE_COLUMN, FRAME_ARRAYS, FRAME_COLUMN, SECOND_FRAME_COLUMN

# The cells a float column reads as NaN: empty and the spellings of NaN (no words such as NA or null).
ARROW_NULLS = {"", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "NaN", "nan"}
BASES = {
    "raw": make_trial("01-01-05-02-01-02-03", seed=3, num_frames=22).raw_csv(),
    # A trial with no-face rows (re-saved layouts) and one with two-face frames.
    **{f"seed{s}": make_trial("01-02-03-01-02-01-05", seed=s, num_frames=20).smoothed_csv() for s in (1, 4)},
}
ALPHABET = [b",", b"\r", b"\n", b"\r\n", b'"', b"-", b"+", b"e", b"E", b"9", b"0", b".", b"n", b"a", b"\x00",
            b"\xff", b" ", b"inf", b"1e39", b"9999999999", b"NaN", b"\xef\xbb\xbf"]  # fmt: skip


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "delete", "insert", "truncate", "dup_line", "swap_lines"]))
        if not data:
            break
        # A third of the edits land in the header or the first rows, where parsers branch the most.
        hot = draw(st.sampled_from([True, False, False]))
        pos = draw(st.integers(0, min(len(data) - 1, 12_000) if hot else len(data) - 1))
        if kind == "replace":
            data[pos : pos + draw(st.integers(1, 3))] = draw(st.sampled_from(ALPHABET))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(ALPHABET))
        elif kind == "truncate":
            del data[pos:]
        else:
            lines = bytes(data).split(b"\r\n")
            lo = min(draw(st.sampled_from([0, 1, 1, 1])), len(lines) - 1)  # mostly data lines; sometimes the header
            i, j = draw(st.integers(lo, len(lines) - 1)), draw(st.integers(lo, len(lines) - 1))
            if kind == "dup_line":
                lines.insert(i, lines[j])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\r\n".join(lines))
    return bytes(data)


def _float(cell: str) -> float:
    return np.nan if cell in ARROW_NULLS else float(cell)


def oracle(data: bytes) -> dict:
    """The record the bytes describe, parsed without pyarrow."""
    text = data.decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    names = dedupe_header(rows[0])
    body = rows[1:]
    assert body and all(len(r) == len(names) for r in body), "ragged rows were accepted"
    col = {n: i for i, n in enumerate(names)}
    source = FRAME_COLUMN if FRAME_COLUMN in col else SECOND_FRAME_COLUMN if SECOND_FRAME_COLUMN in col else None
    frames = (np.array([float(r[col[source]]) for r in body]) if source else np.arange(len(body))).astype(np.int64)
    score = np.array([_float(r[col[FACE_SCORE_COLUMN]]) for r in body], dtype=np.float32)
    keep, num_faces = select_faces(frames, score)
    arrays = {}
    for arr in FRAME_ARRAYS:
        if all(c in col for c in arr.csv_columns):
            vals = np.array([[_float(r[col[c]]) for c in arr.csv_columns] for r in body], dtype=np.float32)
        else:
            vals = np.full((len(body), arr.width), np.nan, dtype=np.float32)
        arrays[arr.name] = vals[keep].reshape((len(keep), *arr.shape))
    return {"frame": frames[keep], "num_faces": num_faces, "arrays": arrays}


@settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_mutated_csv_gives_the_right_record_or_a_felt_error(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FeltWarning (filled groups) is allowed
        try:
            record = read_trial_csv(data, name="fuzz.csv")
        except FeltError as e:
            assert str(e).startswith("fuzz.csv"), str(e)  # names the file
            return
    want = oracle(data)
    np.testing.assert_array_equal(record.frame, want["frame"])
    np.testing.assert_array_equal(record.num_faces, want["num_faces"])
    for name, values in want["arrays"].items():
        np.testing.assert_array_equal(record.arrays[name], values, err_msg=name)
        assert not np.isinf(record.arrays[name]).any()


@pytest.mark.parametrize("name", sorted(BASES))
def test_unmutated_bases_read_and_match_the_oracle(name):
    """The property's oracle agrees with the reader on the valid files (so it can judge)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = read_trial_csv(BASES[name], name=name)
    want = oracle(BASES[name])
    for arr, values in want["arrays"].items():
        np.testing.assert_array_equal(record.arrays[arr], values)
