"""The converted folder's contract (felt_hf.layout) and the promise that issue 12 changed no byte.

``tests/data/sample_hashes.txt`` holds the sha256 of every file of ``felt-hf convert`` of
``felt-hf sample --media`` (seed 0) made with the code *before* the restructure (main at 05ceb4d);
the tracking shards were re-recorded when issue 13 changed the parquet writer options (no
content-defined chunking, no page index), after their values were checked equal bit for bit.
Parquet bytes also depend on the writer's version (pyarrow writes its version into the footer,
datasets its feature JSON, PyAV the mp4s of the sample), so the comparison runs where those
versions are the recorded ones and is skipped, saying why, elsewhere.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from felt_hf import layout
from felt_hf.build.convert import convert_felt

REPO = Path(__file__).resolve().parents[1]
HASHES = Path(__file__).with_name("data") / "sample_hashes.txt"


def _recorded() -> tuple[dict[str, str], dict[str, str]]:
    versions, hashes = {}, {}
    for line in HASHES.read_text().splitlines():
        if line.startswith("#"):
            versions.update(re.findall(r"(pyarrow|datasets|av|numpy) ([0-9][\w.]*)", line))
        elif line.strip():
            digest, rel = line.split(maxsplit=1)
            hashes[rel] = digest
    return versions, hashes


def _skip_unless_recorded_versions(*names: str) -> dict[str, str]:
    import av
    import datasets
    import numpy
    import pyarrow

    have = {"pyarrow": pyarrow.__version__, "datasets": datasets.__version__, "av": av.__version__}
    have["numpy"] = numpy.__version__
    versions, hashes = _recorded()
    differ = [f"{n} {have[n]} (recorded with {versions[n]})" for n in names if have[n] != versions[n]]
    if differ:
        pytest.skip("byte comparison needs the recorded writer versions: " + ", ".join(differ))
    return hashes


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compare(folder: Path, hashes: dict[str, str], configs: set[str]) -> int:
    expected = {rel: h for rel, h in hashes.items() if rel.split("/")[0] in configs}
    got = {p.relative_to(folder).as_posix(): _sha(p) for c in configs for p in layout.shard_files(folder, c)}
    assert sorted(got) == sorted(expected), "shard names differ from the recorded build"
    changed = [rel for rel in expected if got[rel] != expected[rel]]
    assert not changed, f"bytes changed: {changed}"
    return len(got)


def test_tracking_parquet_and_stats_are_byte_identical_to_before(sample_hub):
    hashes = _skip_unless_recorded_versions("pyarrow", "datasets", "numpy")
    from felt_hf.schema import CONFIG_NAMES

    assert _compare(sample_hub, hashes, set(CONFIG_NAMES)) == 48
    # stats.json of the tracking configs: the media configs add none, so it is the same file
    assert _sha(sample_hub / layout.STATS_FILENAME) == hashes[layout.STATS_FILENAME]


def test_audio_parquet_is_byte_identical_to_before(sample_archives, tmp_path):
    """The audio configs only: the sample's generated *videos* differ from run to run (PyAV's
    encoder), so their shards cannot have fixed hashes; the video configs were compared by hand on
    the very archives of the recorded build (issue 12's report), and test_media checks that the
    mp4 bytes are copied unchanged."""
    hashes = _skip_unless_recorded_versions("pyarrow", "datasets", "numpy", "av")
    from felt_hf.synthetic.media import write_sample_media

    audio = ["audio_speech", "audio_song"]
    data = tmp_path / "archives"
    shutil.copytree(sample_archives, data)
    write_sample_media(data, seed=0)
    out = tmp_path / "felt"
    summary = convert_felt(data, out, configs=audio, progress=False, num_proc=2)
    assert _compare(out, hashes, set(audio)) == 3 * len(audio)
    assert set(summary.configs) == set(audio)


def test_build_summary_is_typed_and_round_trips(sample_hub, sample_archives, tmp_path):
    out = tmp_path / "felt"
    summary = convert_felt(sample_archives, out, configs=["smoothed_song"], progress=False, num_proc=1)
    assert isinstance(summary, layout.BuildSummary)
    split = summary.configs["smoothed_song"].splits["train"]
    assert split.files == [layout.shard_relpath("smoothed_song", "train", i, len(split.files)) for i in range(4)]
    assert all(layout.is_shard_name(Path(f).name) for f in split.files)
    assert summary.num_examples("smoothed_song") == sum(
        s.num_examples for s in summary.configs["smoothed_song"].splits.values()
    )
    back = layout.BuildSummary.from_json(summary.to_json())
    assert back == summary
    assert json.loads(back.to_json()) == summary.to_dict()
    # the dict view the card and older callers read
    assert summary["configs"]["smoothed_song"]["splits"]["train"]["files"] == split.files
    assert summary.get("repo_id") is None and summary.get("skipped") == 0


def test_card_is_the_same_from_the_summary_and_from_its_json(sample_archives, tmp_path):
    from felt_hf.build.card import render_card

    summary = convert_felt(sample_archives, tmp_path / "felt", configs=["raw_speech"], progress=False, num_proc=1)
    card = (tmp_path / "felt" / layout.CARD_FILENAME).read_text(encoding="utf-8")
    assert render_card(summary) == render_card(json.loads(summary.to_json()))
    assert "raw_speech/train-*" in card and layout.data_files_glob("raw_speech", "train") == "raw_speech/train-*"


def test_shard_names_match_the_cards_glob_and_temp_names_match_no_glob(tmp_path):
    import fnmatch

    rel = layout.shard_relpath("raw_song", "validation", 3, 8)
    assert rel == "raw_song/validation-00003-of-00008.parquet"
    assert fnmatch.fnmatchcase(rel, layout.data_files_glob("raw_song", "validation"))
    tmp = layout.temp_path(tmp_path / rel, "123")
    assert tmp.name.startswith(".") and layout.TEMP_SHARD_RE.match(tmp.name)
    assert not fnmatch.fnmatchcase(f"raw_song/{tmp.name}", layout.data_files_glob("raw_song", "validation"))
    assert not layout.is_shard_name(tmp.name)


FOLDER_NAMES = {
    layout.CARD_FILENAME,
    layout.STATS_FILENAME,
    layout.SKIPPED_FILENAME,
    layout.SYNTHETIC_MARKER,
    ".parquet",
}


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_no_module_but_layout_spells_a_file_name_of_the_folder():
    """Code (not docstrings or messages about *other* files) takes the folder's names from layout."""
    offenders = []
    for path in sorted((REPO / "felt_hf").rglob("*.py")):
        if path.name == "layout.py" or "regen" in path.parts:  # regen writes archives, not the folder
            continue
        for line, text in _string_constants(path):
            if text in FOLDER_NAMES:
                offenders.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
    assert not offenders, "spell these through felt_hf.layout:\n" + "\n".join(offenders)


def test_one_shard_count_rule_for_the_converter_and_training():
    """The converter and ``suggest_num_shards`` count shards with the same function (layout's)."""
    pytest.importorskip("torch")
    from felt_hf.build import convert
    from felt_hf.training import suggest_num_shards

    assert convert.plan_num_shards is layout.plan_num_shards
    assert [layout.plan_num_shards(n) for n in (0, 3, 64, 65, 120, 1080)] == [0, 3, 8, 8, 8, 24]
    for n in (1, 5, 64, 700, 1080, 2452):
        assert suggest_num_shards(n) == max(1, layout.plan_num_shards(n, 64, 32))
        assert suggest_num_shards(n, world_sizes=(1, 2, 4, 8), workers=(1,)) == layout.plan_num_shards(n)
    sources = [Path(convert.__file__), Path(convert.__file__).parents[1] / "training" / "distributed.py"]
    for src in sources:
        assert "math.ceil" not in src.read_text(), f"{src.name} counts shards itself"


def test_missing_shards_counts_by_the_names_own_total():
    from felt_hf.layout import missing_shards, shard_name

    assert missing_shards([shard_name("train", i, 3) for i in range(3)]) == []
    assert missing_shards([shard_name("train", 0, 3), shard_name("train", 2, 3), "notes.parquet"]) == [
        shard_name("train", 1, 3)
    ]
    # a stale shard of an earlier build with another count is checked against its own count
    assert missing_shards([shard_name("train", 0, 1), shard_name("train", 0, 2)]) == [shard_name("train", 1, 2)]
