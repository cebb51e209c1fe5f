"""The generator must be faithful to FELT: these tests parse its output with the stdlib ``csv``
module (never with project code) and check every documented quirk, determinism and realism."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from felt_hf import schema, synth
from felt_hf.ravdess import expected_trial_ids, parse_trial_id

ID_RE = re.compile(r"^\d\d-\d\d-\d\d-\d\d-\d\d-\d\d-\d\d$")
NUMERIC = [c for c in schema.PYFEAT_DATA_COLUMNS if c not in ("Identity", "input", "frame", "approx_time")]


def _plans(seed: int = 0):
    return [synth._plan(i, seed) for i in expected_trial_ids()]


def _first(pred, seed: int = 0) -> str:
    return next(p.labels.trial_id for p in _plans(seed) if pred(p))


@pytest.fixture(scope="module")
def quirky_ids() -> dict[str, str]:
    """One trial id of each kind, found from the cheap plans of all 2452 trials."""
    return {
        "leading": _first(lambda p: p.leading_no_face > 0),
        "middle": _first(lambda p: p.no_face_frames and p.leading_no_face == 0),
        "two_face": _first(lambda p: p.two_face_frames and not p.no_face_frames),
        "plain": _first(lambda p: not p.no_face_frames and not p.two_face_frames),
    }


def parse(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV, with the stdlib reader (and a check of the Windows line endings)."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def floats(header: list[str], rows: list[list[str]], name: str) -> np.ndarray:
    i = header.index(name)
    return np.array([float(r[i]) if r[i] != "" else np.nan for r in rows])


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, Path]:
    return synth.write_sample(tmp_path_factory.mktemp("sample"), num_proc=2)


# --- determinism --------------------------------------------------------------------------------------
def test_zips_byte_identical_across_runs(tmp_path, sample):
    again = synth.write_sample(tmp_path / "again", num_proc=1)
    assert set(again) == set(schema.CONFIG_NAMES)
    for name, path in sample.items():
        assert path.read_bytes() == again[name].read_bytes(), name


def test_make_trial_independent_of_other_trials(quirky_ids):
    tid = quirky_ids["plain"]
    alone = synth.make_trial(tid, seed=3)
    for other in expected_trial_ids("song", (5,))[:3]:
        synth.make_trial(other, seed=3)
    again = synth.make_trial(tid, seed=3)
    assert alone.raw_csv() == again.raw_csv() and alone.smoothed_csv() == again.smoothed_csv()
    assert synth.make_trial(tid, seed=4).raw_csv() != alone.raw_csv()


def test_precompressed_members_match_zipfile(tmp_path):
    data = synth.make_trial("01-02-03-01-01-01-05").raw_csv()
    for path, own in ((tmp_path / "a.zip", True), (tmp_path / "b.zip", False)):
        with zipfile.ZipFile(path, "w") as zf:
            info = synth._zip_info("Actor_05/01-02-03-01-01-01-05.csv")
            if own:
                synth._write_deflated(zf, info, synth._deflate(data, 6))
            else:
                zf.writestr(info, data, compresslevel=6)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.testzip() is None and zf.read(zf.namelist()[0]) == data


# --- trial lists --------------------------------------------------------------------------------------
def test_full_trial_lists():
    assert len(synth.select_trials("speech", 7, None)) == 60
    assert len(synth.select_trials("song", 7, None)) == 44
    assert synth.select_trials("song", 18, None) == []
    assert synth.select_trials("song", 18, 5) == []


def test_subsets_deterministic_and_cover_emotions():
    sub = synth.select_trials("speech", 3, 8, seed=1)
    assert sub == synth.select_trials("speech", 3, 8, seed=1) and len(sub) == 8 == len(set(sub))
    assert len({parse_trial_id(t).emotion for t in sub}) >= 6
    assert all(parse_trial_id(t).actor == 3 for t in sub)


def test_sample_members_and_splits(sample):
    actors = set()
    for config, path in sample.items():
        variant, channel = schema.config_parts(config)
        assert path.name == f"{variant}_motion_{channel}.zip"
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            assert names == sorted(names)
            csvs = [n for n in names if n.endswith(".csv") and not Path(n).name.startswith("._")]
            assert any(n.startswith("__MACOSX/") for n in names)
            assert any(Path(n).name.startswith("._") for n in names)
            assert any(not n.endswith((".csv", "/")) for n in names)
            for n in csvs:
                parts = n.split("/")
                assert not n.startswith("__MACOSX/")
                assert re.fullmatch(r"Actor_\d\d", parts[-2]) and ID_RE.match(parts[-1][:-4]), n
                labels = parse_trial_id(parts[-1])
                assert parts[-2] == f"Actor_{labels.actor:02d}" and labels.vocal_channel == channel
                actors.add(labels.actor)
    assert actors == set(synth.SAMPLE_ACTORS)
    for split, members in schema.DEFAULT_SPLIT_ACTORS.items():
        assert actors & set(members), split
    assert (sample["raw_speech"].parent / synth.MARKER_FILENAME).exists()
