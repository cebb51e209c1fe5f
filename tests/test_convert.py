"""`felt-hf convert`: the hub layout loads offline by config, streams, is deterministic and fails safely."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from datasets import Array2D, Array3D, ClassLabel, get_dataset_config_names, load_dataset
from felt_hf.convert import ROW_GROUP_ROWS, SYNTHETIC_MARKER, convert_felt, plan_num_shards
from felt_hf.sources import config_members
from felt_hf.synth import MARKER_FILENAME

from felt_hf.errors import FeltError, FeltFormatError, FeltOutputError, FeltWarning
from felt_hf.ravdess import split_of_actor
from felt_hf.schema import CONFIG_NAMES, DEFAULT_CONFIG, FRAME_ARRAYS, archive_stem

try:
    from felt_fake import rewrite_first_csv
except ImportError:  # tests/ imported as a package
    from tests.felt_fake import rewrite_first_csv


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_layout_and_card_declare_every_config(sample_hub: Path):
    names = sorted(p.relative_to(sample_hub).as_posix() for p in sample_hub.rglob("*") if p.is_file())
    assert "README.md" in names and "stats.json" in names
    assert not [n for n in names if n.endswith(".py") or "/.tmp-" in n]
    for config in CONFIG_NAMES:
        shards = [n for n in names if n.startswith(f"{config}/")]
        assert shards and all(n.endswith(".parquet") for n in shards)
    meta = yaml.safe_load(sample_hub.joinpath("README.md").read_text().split("---")[1])
    declared = {c["config_name"]: c for c in meta["configs"]}
    assert set(declared) == set(CONFIG_NAMES) and declared[DEFAULT_CONFIG].get("default") is True
    assert meta["license"] == "cc-by-nc-sa-4.0"
    assert get_dataset_config_names(str(sample_hub))[0] == DEFAULT_CONFIG
    assert set(get_dataset_config_names(str(sample_hub))) == set(CONFIG_NAMES)


@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_every_config_and_split_loads_offline_with_types_intact(sample_hub, sample_archives, config, tmp_path):
    ds = load_dataset(str(sample_hub), config, cache_dir=str(tmp_path))
    members = config_members(sample_archives, config)
    expected = {}
    for m in members:
        expected.setdefault(split_of_actor(m.labels.actor), set()).add(m.trial_id)
    assert set(ds) == set(expected)
    for split, d in ds.items():
        assert set(d["trial_id"]) == expected[split]
        assert isinstance(d.features["emotion"], ClassLabel) and d.features["emotion"].names[0] == "neutral"
        assert isinstance(d.features["landmarks"], Array3D) and d.features["landmarks"].shape == (None, 68, 2)
        assert isinstance(d.features["action_units"], Array2D)
        row = d.with_format("numpy")[0]
        assert row["landmarks"].shape == (row["num_frames"], 68, 2)
        assert row["identity_embedding"].dtype == np.float32


def test_converted_rows_equal_the_builder_rows(sample_hub, sample_archives, tmp_path):
    from felt_hf.builder import load_felt

    built = load_felt(sample_archives, "smoothed_speech", cache_dir=str(tmp_path), split="validation")
    loaded = load_dataset(str(sample_hub), "smoothed_speech", split="validation", cache_dir=str(tmp_path))
    a = {r["trial_id"]: r for r in built.with_format("numpy")}
    b = {r["trial_id"]: r for r in loaded.with_format("numpy")}
    assert a.keys() == b.keys()
    for tid in a:
        for col in ("frame", "num_faces", "emotion", "actor") + tuple(arr.name for arr in FRAME_ARRAYS):
            np.testing.assert_array_equal(a[tid][col], b[tid][col], err_msg=f"{tid} {col}")


def test_streaming_yields_the_same_rows(sample_hub, tmp_path):
    mapped = load_dataset(str(sample_hub), "raw_song", split="train", cache_dir=str(tmp_path)).with_format("numpy")
    streamed = load_dataset(str(sample_hub), "raw_song", split="train", streaming=True).with_format("numpy")
    by_id = {r["trial_id"]: r for r in mapped}
    seen = []
    for row in streamed:
        seen.append(row["trial_id"])
        np.testing.assert_array_equal(row["landmarks"], by_id[row["trial_id"]]["landmarks"])
        assert row["landmarks"].shape[1:] == (68, 2)
    assert sorted(seen) == sorted(by_id)


def test_parquet_is_zstd_float32_with_small_row_groups(sample_hub):
    shard = next(sample_hub.glob("smoothed_speech/train-*.parquet"))
    md = pq.ParquetFile(shard).metadata
    assert all(md.row_group(i).num_rows <= ROW_GROUP_ROWS for i in range(md.num_row_groups))
    cols = [md.row_group(0).column(j) for j in range(md.num_columns)]
    assert {c.compression for c in cols} == {"ZSTD"}
    lm = next(c for c in cols if c.path_in_schema.startswith("landmarks"))
    assert "BYTE_STREAM_SPLIT" in lm.encodings and pq.read_schema(shard).field("landmarks").type.storage_type
    stats = json.loads(sample_hub.joinpath("stats.json").read_text())
    assert stats and oct(sample_hub.joinpath("stats.json").stat().st_mode & 0o777) == "0o644"


def test_shard_counts_are_planned_for_ranks_and_workers():
    assert plan_num_shards(1080) == 24 and plan_num_shards(120) == 8 and plan_num_shards(3) == 3
    assert plan_num_shards(0) == 0 and all(plan_num_shards(n) % 8 == 0 for n in (64, 500, 1440))


def _copy_archives(src: Path, dst: Path, configs) -> Path:
    dst.mkdir()
    for c in configs:
        shutil.copy(src / f"{archive_stem(c)}.zip", dst)
    return dst


def test_rerun_is_byte_identical_and_removes_stale_shards(sample_archives, tmp_path):
    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    a, b = tmp_path / "a", tmp_path / "b"
    convert_felt(data, a, progress=False, num_proc=2)
    (b / "smoothed_speech").mkdir(parents=True)
    stale = b / "smoothed_speech" / "train-00000-of-00099.parquet"
    stale.write_bytes(b"old build")
    convert_felt(data, b, progress=False, num_proc=1)
    assert not stale.exists()
    assert _files(a) == _files(b)


def test_requested_missing_archive_is_an_error_unrequested_is_not(sample_archives, tmp_path):
    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_song"])
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="raw_motion_speech.zip"):
        convert_felt(data, out, configs=["raw_speech", "smoothed_song"], progress=False)
    assert not out.exists()
    summary = convert_felt(data, out, progress=False)  # default: the configs that are present
    assert list(summary["configs"]) == ["smoothed_song"]
    assert get_dataset_config_names(str(out)) == ["smoothed_song"]


def _corrupt_one_member(zip_path: Path) -> str:
    raw = bytearray(zip_path.read_bytes())
    info = next(
        i for i in zipfile.ZipFile(zip_path).infolist() if i.filename.endswith(".csv") and "/._" not in i.filename
    )
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    zip_path.write_bytes(bytes(raw))
    return info.filename


def test_failed_conversion_into_a_new_folder_leaves_no_folder(sample_archives, tmp_path):
    """The run made the output folder, its parent and a config folder (smoothed_speech's shards
    were written) before a worker met the corrupt member: all of them go, as if never made."""
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech", "smoothed_speech"])
    _corrupt_one_member(data / "raw_motion_speech.zip")
    out = tmp_path / "new" / "felt"
    with pytest.raises(FeltFormatError):
        convert_felt(data, out, progress=False, num_proc=2)
    assert not (tmp_path / "new").exists()


def test_failed_conversion_keeps_folders_it_did_not_make(sample_archives, tmp_path):
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech", "smoothed_speech"])
    out = tmp_path / "felt"
    (out / "notes").mkdir(parents=True)  # the user's own, empty
    _corrupt_one_member(data / "raw_motion_speech.zip")
    with pytest.raises(FeltFormatError):
        convert_felt(data, out, progress=False, num_proc=1)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["notes"]


def test_corrupt_member_fails_cleanly_and_skip_bad_reports_it(sample_archives, tmp_path):
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False)
    before = _files(out)
    zip_path = data / "raw_motion_speech.zip"
    member = _corrupt_one_member(zip_path)
    with pytest.raises(FeltFormatError) as e:
        convert_felt(data, out, progress=False, num_proc=2)
    assert e.value.archive == str(zip_path) and e.value.file == member
    assert _files(out) == before  # the earlier build is untouched, no temporary files left
    summary = convert_felt(data, out, progress=False, skip_bad=True)
    report = json.loads((out / "skipped_trials.json").read_text())
    assert [s["member"] for s in report["skipped"]] == [member] and summary["skipped"] == 1
    total = sum(s["num_examples"] for s in summary["configs"]["raw_speech"]["splits"].values())
    assert total == len(config_members(data, "raw_speech")) - 1
    # push publishes these: the input folder's absolute path (this machine's) shortened to its name
    assert report["skipped"][0]["archive"] == "in/raw_motion_speech.zip"
    # the keys of the media entries too (tracking entries had lacked config and trial_id)
    assert list(report["skipped"][0]) == ["config", "trial_id", "archive", "member", "error"]
    assert report["skipped"][0]["config"] == "raw_speech"
    assert report["skipped"][0]["trial_id"] == Path(member).stem
    for published in ("skipped_trials.json", "README.md"):
        assert str(tmp_path) not in (out / published).read_text(), published


def test_skip_bad_with_every_trial_bad_is_an_error_and_writes_nothing(sample_archives, tmp_path):
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech", "smoothed_speech"])
    zip_path = data / "raw_motion_speech.zip"
    with zipfile.ZipFile(zip_path) as zin, zipfile.ZipFile(tmp_path / "bad.zip", "w") as zout:
        for info in zin.infolist():  # every CSV's body replaced by text that is no number
            body = zin.read(info)
            if info.filename.endswith(".csv") and "/._" not in info.filename:
                body = body[: body.index(b"\n") + 1] + b"abc\n"
            zout.writestr(info, body)
    (tmp_path / "bad.zip").replace(zip_path)
    out = tmp_path / "felt"
    with pytest.raises(
        FeltError, match=r"every trial of raw_speech is unreadable \(\d+ skipped; the first, .*raw_motion_speech\.zip:"
    ):
        convert_felt(data, out, progress=False, skip_bad=True, num_proc=1)
    assert not out.exists()


def _bad_bodies(zip_path: Path, bad) -> list[str]:
    """Every CSV member whose name ``bad`` accepts gets a body that is no number; their names."""
    tmp = zip_path.with_suffix(".tmp")
    hit = []
    with zipfile.ZipFile(zip_path) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith(".csv") and "/._" not in info.filename and bad(info.filename):
                body = body[: body.index(b"\n") + 1] + b"abc\n"
                hit.append(info.filename)
            zout.writestr(info, body)
    tmp.replace(zip_path)
    return hit


def _shards(out: Path, config: str) -> dict[str, list[tuple[str, int]]]:
    by_split: dict[str, list[tuple[str, int]]] = {}
    for p in sorted((out / config).glob("*.parquet")):
        by_split.setdefault(p.name.split("-")[0], []).append((p.name, pq.read_metadata(p).num_rows))
    return by_split


def test_skip_bad_writes_no_empty_shard_and_the_config_loads(sample_archives, tmp_path):
    """A skipped trial that was its shard's only one had left a parquet file of 0 rows, which
    datasets cannot read ("BatchSize must be greater than 0"): load_dataset failed for the whole
    config while verify and push passed the folder."""
    from felt_hf.publish.verify import verify_folder

    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    first = sorted(m.member for m in config_members(data, "smoothed_speech"))[0]
    assert _bad_bodies(data / "smoothed_motion_speech.zip", lambda name: name == first) == [first]
    out = tmp_path / "felt"
    summary = convert_felt(data, out, progress=False, skip_bad=True, num_proc=2)
    shards = _shards(out, "smoothed_speech")
    for split, files in shards.items():
        assert all(rows > 0 for _, rows in files), files
        n = len(files)
        assert [name for name, _ in files] == [f"{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    ds = load_dataset(str(out), "smoothed_speech")
    assert sum(len(ds[s]) for s in ds) == len(config_members(data, "smoothed_speech")) - 1
    assert {s: len(ds[s]) for s in ds} == {
        s: v["num_examples"] for s, v in summary["configs"]["smoothed_speech"]["splits"].items()
    }
    assert verify_folder(out).ok
    assert [e["member"] for e in json.loads((out / "skipped_trials.json").read_text())["skipped"]] == [first]


def test_skip_bad_leaves_out_a_split_whose_every_trial_is_bad(sample_archives, tmp_path):
    from felt_hf.publish.verify import verify_folder
    from felt_hf.ravdess import parse_trial_id

    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    test_actors = {a for a in range(1, 25) if split_of_actor(a) == "test"}
    hit = _bad_bodies(data / "smoothed_motion_speech.zip",
                      lambda name: parse_trial_id(Path(name).stem).actor in test_actors)  # fmt: skip
    assert hit
    out = tmp_path / "felt"
    with pytest.warns(FeltWarning, match="smoothed_speech: every trial of split test was skipped"):
        summary = convert_felt(data, out, progress=False, skip_bad=True, num_proc=1)
    assert "test" not in summary["configs"]["smoothed_speech"]["splits"]
    assert not list((out / "smoothed_speech").glob("test-*"))
    assert "test" not in json.loads((out / "stats.json").read_text())["configs"]["smoothed_speech"]
    assert set(load_dataset(str(out), "smoothed_speech")) == {"train", "validation"}
    assert verify_folder(out).ok
    card = (out / "README.md").read_text()  # (it had said "none of its actors' trials was in their input")
    assert "Split `test` holds no trial of `smoothed_speech`: every one of its trials in the input was skipped" \
        in card and "none of its actors' trials" not in card  # fmt: skip


def test_verify_fails_a_shard_without_rows(sample_archives, tmp_path):
    """Folders converted before the fix above hold such shards: verify (and so push) refuses them."""
    from felt_hf.publish.verify import verify_folder

    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False, num_proc=1)
    path = sorted((out / "smoothed_speech").glob("train-*.parquet"))[0]
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 0), path)
    report = verify_folder(out)
    footers = next(c for c in report.checks if c.name == "footers")
    assert not report.ok and footers.status == "fail"
    assert f"smoothed_speech/{path.name}: holds no rows; load_dataset cannot read such a file, so the whole " \
        "config fails to load" in footers.details  # fmt: skip


def test_synthetic_input_is_labelled_in_the_card(sample_hub):
    assert SYNTHETIC_MARKER == MARKER_FILENAME
    assert "synthetic" in sample_hub.joinpath("README.md").read_text().lower()


def test_literal_load_dataset_felt_from_the_parent_folder(sample_hub, monkeypatch, tmp_path):
    assert sample_hub.name == "felt"
    monkeypatch.chdir(sample_hub.parent)
    ds = load_dataset("felt", "smoothed_speech", split="test", cache_dir=str(tmp_path))
    assert ds.num_rows > 0 and ds.features["landmarks"].shape == (None, 68, 2)


def test_worker_tuning_applies_in_a_child_only():
    """The converter's workers raise glibc's mmap/trim thresholds and freeze the collector; the
    calling process is left alone (its gc still tracks its objects)."""
    import gc
    import multiprocessing as mp

    from felt_hf.workers import tune_worker_process

    before = gc.get_freeze_count()
    with mp.get_context("fork").Pool(1) as pool:
        done = pool.apply(tune_worker_process)
    assert done["gc_frozen"]
    import sys

    if sys.platform.startswith("linux"):
        import platform

        assert done["mmap_threshold"] == done["trim_threshold"] == (platform.libc_ver()[0] == "glibc")
    assert gc.get_freeze_count() == before


def test_shard_statistics_merge_in_task_order_whatever_the_arrival(sample_archives, tmp_path):
    """The parent merges each shard's statistics as it arrives, yet in task order per split, so
    stats.json does not depend on which worker finished first."""
    from felt_hf.build.convert import StatsInTaskOrder, convert_shard, plan_tasks
    from felt_hf.schema import DEFAULT_SPLIT_ACTORS

    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_song"])
    tasks = plan_tasks(data, tmp_path / "out", ["raw_song"], DEFAULT_SPLIT_ACTORS)
    results = [convert_shard(t) for t in tasks]
    for t in tasks:
        t.tmp_path.unlink()
    blobs = [r.stats for r in results]
    merged = {}
    for name, order in (("in order", range(len(tasks))), ("scrambled", [3, 0, *range(len(tasks) - 1, 3, -1), 2, 1])):
        assert sorted(order) == list(range(len(tasks)))
        for r, blob in zip(results, blobs, strict=True):
            r.stats = blob
        m = StatsInTaskOrder(tasks)
        for i in order:
            m.add(i, results[i])
        assert all(r.stats == b"" for r in results)  # every one merged, none kept
        merged[name] = {s: json.dumps(st.to_dict(), sort_keys=True) for s, st in m.merged["raw_song"].items()}
        documents = m.documents
        assert list(documents["raw_song"]) == list(dict.fromkeys(t.split for t in tasks))  # task order
        assert {s: json.dumps(d, sort_keys=True) for s, d in documents["raw_song"].items()} == merged[name]
    assert set(merged["in order"]) == {"train", "validation", "test"}
    assert merged["in order"] == merged["scrambled"]


WORKER_IMPORTS = r"""
import sys
import felt_hf.build.convert as conv

_shard = conv.convert_shard

def shard_and_imports(task):
    result = _shard(task)
    result.skipped.append({"datasets_in_worker": "datasets" in sys.modules})
    return result

conv.convert_shard = shard_and_imports
seen = []
_run = conv._run_tasks

def run(tasks, num_proc, progress, stats):
    assert "datasets" not in sys.modules  # nothing before the pool imported it
    results = _run(tasks, num_proc, progress, stats)
    seen.extend(s["datasets_in_worker"] for r in results for s in r.skipped)
    for r in results:
        r.skipped.clear()
    return results

conv._run_tasks = run
conv.convert_felt(sys.argv[1], sys.argv[2], progress=False, num_proc=2)
print("workers imported datasets:", sorted(set(seen)), len(seen))
"""


def test_workers_start_before_datasets_is_imported_and_write_the_same_bytes(sample_archives, tmp_path):
    """The pool starts first; the parent imports datasets while the workers parse and hands them
    the schema as bytes (felt_hf.build.schema_handoff): no worker imports datasets, and the
    shards equal a single-process build's byte for byte."""
    import subprocess
    import sys

    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_song", "raw_speech"])
    out = subprocess.run([sys.executable, "-c", WORKER_IMPORTS, str(data), str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "workers imported datasets: [False]" in out.stdout, out.stdout
    convert_felt(data, tmp_path / "one", progress=False, num_proc=1)
    assert _files(tmp_path / "two") == _files(tmp_path / "one")


def test_a_second_run_in_one_process_reads_the_new_archive_at_the_same_path(sample_archives, tmp_path):
    """Single-process conversions read members through a cached reader; it is closed at the end
    of each run, so an archive replaced at the same path is read anew, not from the old one."""
    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_song"])
    archive = data / f"{archive_stem('smoothed_song')}.zip"
    convert_felt(data, tmp_path / "a", progress=False, num_proc=1)
    with zipfile.ZipFile(archive) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    target = sorted(n for n in members if n.endswith(".csv") and "__MACOSX" not in n and "/._" not in n)[0]
    lines = members[target].split(b"\n")
    header = lines[0].decode().rstrip("\r").split(",")
    col = header.index("x_3")
    cells = lines[1].split(b",")
    cells[col] = b"123.5"
    lines[1] = b",".join(cells)
    members[target] = b"\n".join(lines)
    archive.unlink()  # a new file at the same path
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name, payload in members.items():
            z.writestr(name, payload)
    convert_felt(data, tmp_path / "b", progress=False, num_proc=1)
    trial = Path(target).name.removesuffix(".csv")
    table = pq.read_table(sorted((tmp_path / "b").glob("smoothed_song/*.parquet")), columns=["trial_id", "landmarks"])
    row = table["trial_id"].to_pylist().index(trial)
    assert table["landmarks"][row].as_py()[0][3][0] == 123.5  # x_3 of the first frame


def test_schema_handoff_gives_the_schema_once_published():
    import multiprocessing as mp

    from felt_hf.build.schema_handoff import SchemaHandoff
    from felt_hf.schema import trial_arrow_schema

    h = SchemaHandoff(mp.get_context())
    assert h.get(wait=False) is None  # not yet: the worker keeps its row groups
    h.publish(trial_arrow_schema())
    got = h.get(wait=False)
    assert got is not None and h.get(wait=True) is got
    assert got.serialize().to_pybytes() == trial_arrow_schema().serialize().to_pybytes()


def test_shards_are_handed_out_largest_first_with_their_indices():
    from multiprocessing.pool import ThreadPool

    from felt_hf.workers import imap_largest_first

    items = ["bb", "a", "dddd", "ccc", "ee"]
    with ThreadPool(2) as pool:
        got = list(imap_largest_first(pool, str.upper, items, len))
    assert got == [(2, "DDDD"), (3, "CCC"), (0, "BB"), (4, "EE"), (1, "A")]  # ties keep their order


def test_configs_must_be_a_non_empty_list_and_out_not_the_input(sample_archives, tmp_path):
    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    with pytest.raises(ValueError, match="configs is empty"):
        convert_felt(data, tmp_path / "a", configs=[], progress=False)
    with pytest.raises(ValueError, match=r"not a string"):
        convert_felt(data, tmp_path / "b", configs="smoothed_speech", progress=False)
    with pytest.raises(FeltOutputError, match="is the input folder"):
        convert_felt(data, data, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert [p.name for p in data.iterdir()] == ["smoothed_motion_speech.zip"]  # nothing written among the inputs


def test_out_may_not_hold_the_inputs_or_sit_inside_an_extracted_config(sample_archives, tmp_path):
    import zipfile

    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    with pytest.raises(FeltOutputError, match="is inside the output folder"):
        convert_felt(data, tmp_path, progress=False)
    extracted = tmp_path / "ex"
    with zipfile.ZipFile(data / "smoothed_motion_speech.zip") as zf:
        zf.extractall(extracted)
    before = sorted(p.relative_to(extracted) for p in extracted.rglob("*"))
    with pytest.raises(FeltOutputError, match="is inside the extracted input folder"):
        convert_felt(extracted, extracted / "smoothed_motion_speech" / "felt", progress=False)
    assert sorted(p.relative_to(extracted) for p in extracted.rglob("*")) == before
    convert_felt(data, data / "felt", configs=["smoothed_speech"], progress=False)  # beside the archives: fine
    assert (data / "felt" / "README.md").is_file()


def test_a_run_stopped_while_renaming_puts_the_earlier_build_back(sample_archives, tmp_path, monkeypatch):
    """Stopped between two renames of the commit phase (an exception the held Ctrl-C does not
    cover), the folder is the earlier build again, byte for byte: never its card or statistics over
    new shards, nor a card-less mix (the card and stats.json had simply been dropped first)."""
    import felt_hf.build.convert as convert

    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False, num_proc=1)
    before = _files(out)
    real, calls = os.replace, []

    def stop_after_first(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(convert.os, "replace", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        convert_felt(data, out, progress=False, num_proc=1, split_actors={"train": range(1, 21), "test": range(21, 25)})
    monkeypatch.setattr(convert.os, "replace", real)
    assert _files(out) == before


def test_trials_outside_the_split_rule_are_said_on_screen_and_on_the_card(sample_archives, tmp_path):
    """A rule that leaves actors out drops their trials: said with count and actors (it was silent)."""
    from felt_hf.errors import FeltWarning

    with pytest.warns(
        FeltWarning, match=r"smoothed_speech: \d+ of \d+ trial\(s\) left out, their actors \(19-20, 22\)"
    ):
        convert_felt(sample_archives, tmp_path / "felt", configs=["smoothed_speech"], progress=False, num_proc=1,
                     split_actors={"train": (1, 2), "test": (21,)})  # fmt: skip
    card = (tmp_path / "felt" / "README.md").read_text()
    assert "left out, their actors (19-20, 22) being in no split of --split-actors (train=1-2 test=21)" in card


@pytest.mark.parametrize("failure", ["card", "stats", "rename"])
def test_an_error_while_the_new_build_is_swapped_in_puts_the_earlier_one_back(sample_archives, tmp_path, monkeypatch,
                                                                             failure):  # fmt: skip
    """A full disk while stats.json or the card was written (after the shards were swapped in), or
    an old shard that could not be replaced, had left new shards without card and statistics, or
    old and new shards mixed: the earlier build was lost. It is put back, byte for byte, and no
    backup or temporary file is left."""
    import errno
    import os

    from felt_hf import atomic
    from felt_hf.build import card

    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech", "smoothed_speech"])
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False, num_proc=1, split_actors={"train": (1, 2, 19, 20, 21, 22)})
    before = _files(out)  # another split rule: other shard files, some of which a new build removes

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failure == "card":
        monkeypatch.setattr(card, "write_card", full_disk)
    elif failure == "stats":
        monkeypatch.setattr("felt_hf.build.convert.write_stats_json", full_disk)
    else:
        real, calls = os.replace, []

        def sixth_rename_fails(src, dst):
            calls.append(dst)
            if len(calls) == 6:  # a few shards in: old ones set aside, new ones in place
                raise PermissionError(errno.EPERM, "Operation not permitted", str(dst))
            return real(src, dst)

        monkeypatch.setattr(atomic.os, "replace", sixth_rename_fails)
    with pytest.raises(OSError):
        convert_felt(data, out, progress=False, num_proc=1)
    assert _files(out) == before


def _nested(media_archives: Path, tmp_path: Path, keep_tracking: bool) -> Path:
    """The media sample one folder down (``dl/sample/``), with or without its tracking zips."""
    dl = tmp_path / "dl"
    shutil.copytree(media_archives, dl / "sample")
    if not keep_tracking:
        for c in CONFIG_NAMES:
            (dl / "sample" / f"{archive_stem(c)}.zip").unlink()
    return dl


def test_tracking_archives_one_folder_down_are_named_not_left_out(media_archives, tmp_path):
    """Media are found at any depth, tracking archives only in the folder given: a download one
    folder down had converted its 8 media configs alone, with exit 0 and no word of the tracking."""
    dl = _nested(media_archives, tmp_path, keep_tracking=True)
    out = tmp_path / "felt"
    with pytest.raises(FeltError) as e:
        convert_felt(dl, out, progress=False, num_proc=1)
    assert f"is in {dl / 'sample'}: convert that folder" in str(e.value) and "only media" in str(e.value)
    assert not out.exists()


def test_a_synthetic_marker_below_the_input_labels_the_build(media_archives, tmp_path):
    """Media of the built-in sample one folder down, no tracking: the card had presented them as FELT."""
    dl = _nested(media_archives, tmp_path, keep_tracking=False)
    out = tmp_path / "felt"
    summary = convert_felt(dl, out, progress=False, num_proc=1, configs=["audio_speech"])
    assert summary["synthetic"] and "synthetic" in (out / "README.md").read_text().lower()


def test_progress_bar_counts_every_trial_with_workers(sample_archives, tmp_path, monkeypatch):
    """Workers tick once a row group: the bar still ends at the trial count, skipped trials
    included, and the run draws no bar where none is wanted."""
    import tqdm.auto

    import felt_hf.build.convert as conv

    bars = []

    class Recorder(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            self.label = kwargs.get("desc")
            super().__init__(*args, **kwargs)

        def close(self):
            if self.label == "Converting FELT" and not getattr(self, "recorded", False):
                self.recorded = True  # (tqdm closes again when collected, disabled by then)
                bars.append((self.disable, self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    _corrupt_one_member(data / "raw_motion_speech.zip")
    monkeypatch.setattr(conv, "bars_wanted", lambda progress: progress)
    conv.convert_felt(data, tmp_path / "a", progress=True, num_proc=2, skip_bad=True)
    total = len(config_members(data, "raw_speech"))
    assert bars[-1] == (False, total, total)
    conv.convert_felt(data, tmp_path / "b", progress=False, num_proc=2, skip_bad=True)
    assert bars[-1][0] is True


def test_a_second_copy_of_a_trial_is_set_aside_not_counted_as_skipped(sample_archives, tmp_path, capsys):
    """With --skip-bad a second copy of a trial had been counted among the files that "could not
    be converted and were skipped" (card, stdout, verify) while its first copy was converted and no
    data was missing. It is now listed apart, with the copy kept."""
    from felt_hf.cli import main as cli_main
    from felt_hf.publish.verify import verify_folder

    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    zip_path = data / "raw_motion_speech.zip"
    with zipfile.ZipFile(zip_path) as zf:
        first = next(n for n in zf.namelist() if n.endswith(".csv") and "/._" not in n and "MACOSX" not in n)
        body = zf.read(first)
    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr(f"copy/{Path(first).name}", body)
    out = tmp_path / "felt"
    assert cli_main(["convert", str(data), "--out", str(out), "--skip-bad", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "set aside 1 second copy(ies) of a trial" in printed and "bad input file" not in printed
    report = json.loads((out / "skipped_trials.json").read_text())
    assert report["skipped"] == []
    [entry] = report["set_aside"]
    assert entry["member"] == f"copy/{Path(first).name}" and entry["kept"] == f"in/raw_motion_speech.zip:{first}"
    card = (out / "README.md").read_text()
    assert "could not be converted" not in card and "1 second copy(ies) of a trial were set aside" in card
    from felt_hf.inputs.sources import scan_members

    total = sum(pq.read_metadata(p).num_rows for p in (out / "raw_speech").glob("*.parquet"))
    assert total == len(scan_members(zip_path, channel="speech")[0])  # every trial converted, once
    checks = {c.name: c for c in verify_folder(out).checks}
    assert checks["skipped"].status == "pass", checks["skipped"].summary
    (out / "skipped_trials.json").write_text(json.dumps({"skipped": []}))  # the card's count no longer listed
    checks = {c.name: c for c in verify_folder(out).checks}
    assert checks["skipped"].status == "fail" and "set aside" in checks["skipped"].summary
    no_kept = {"skipped": [], "set_aside": [{k: v for k, v in entry.items() if k != "kept"}]}
    (out / "skipped_trials.json").write_text(json.dumps(no_kept))  # (the counts still agree with the card)
    checks = {c.name: c for c in verify_folder(out).checks}
    assert checks["skipped"].status == "fail", checks["skipped"].summary
    assert checks["skipped"].summary == "skipped_trials.json: set_aside[0]: no `kept` naming the copy converted instead"
    (out / "skipped_trials.json").write_text(json.dumps({"skipped": [], "set_aside": [entry | {"member": 3}]}))
    checks = {c.name: c for c in verify_folder(out).checks}
    assert checks["skipped"].summary == "skipped_trials.json: set_aside[0].member: 3 is not a string"
    for bad, says in (
        ({"config": "no_such_config"}, "set_aside[0].config: 'no_such_config' is not a config of the card"),
        ({"trial_id": "not-a-trial"}, "set_aside[0].trial_id: 'not-a-trial' is not a RAVDESS trial id"),
    ):
        (out / "skipped_trials.json").write_text(json.dumps({"skipped": [], "set_aside": [entry | bad]}))
        checks = {c.name: c for c in verify_folder(out).checks}
        assert checks["skipped"].summary == f"skipped_trials.json: {says}", checks["skipped"].summary
    (out / "skipped_trials.json").write_text(json.dumps({"skipped": [], "set_aside": [entry, entry]}))
    checks = {c.name: c for c in verify_folder(out).checks}
    assert checks["skipped"].summary == "skipped_trials.json: set_aside[1]: the same entry as set_aside[0]"


def test_a_second_copy_that_cannot_be_read_is_skipped_not_set_aside_as_the_same_file(sample_archives, tmp_path):
    """A copy whose deflate stream is damaged had been set aside, and the card had said it was the
    same file as the copy converted, unread."""
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    zip_path = data / "raw_motion_speech.zip"
    with zipfile.ZipFile(zip_path) as zf:
        first = next(n for n in zf.namelist() if n.endswith(".csv") and "/._" not in n and "MACOSX" not in n)
        body = zf.read(first)
    copy = f"copy/{Path(first).name}"
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(copy, body)
    with zipfile.ZipFile(zip_path) as zf:
        info = zf.getinfo(copy)
    raw = bytearray(zip_path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 100, start + 140):  # the compressed stream's middle
        raw[i] ^= 0xFF
    zip_path.write_bytes(bytes(raw))
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False, num_proc=1, skip_bad=True)
    report = json.loads((out / "skipped_trials.json").read_text())
    [entry] = report["skipped"]
    assert "set_aside" not in report and entry["member"] == copy and "kept" not in entry
    assert f"could not be read to compare with the copy converted (in/raw_motion_speech.zip:{first})" in entry["error"]
    ids = {
        t for p in (out / "raw_speech").glob("*.parquet") for t in pq.read_table(p, columns=["trial_id"])[0].to_pylist()
    }
    assert Path(first).stem in ids  # (the trial itself converted from its first copy)
    assert "is the same file" not in (out / "README.md").read_text()


def test_a_split_emptied_by_differing_copies_is_said_to_be_skipped(sample_archives, tmp_path):
    """Differing copies are left out before any work, so no emptied-split note had been made: the
    card said none of the split's actors' trials was in the input."""
    from felt_hf.ravdess import parse_trial_id

    data = _copy_archives(sample_archives, tmp_path / "in", ["smoothed_speech"])
    zip_path = data / "smoothed_motion_speech.zip"
    test_actors = {a for a in range(1, 25) if split_of_actor(a) == "test"}
    with zipfile.ZipFile(zip_path) as zf:
        names = [n for n in zf.namelist() if n.endswith(".csv") and "/._" not in n and "MACOSX" not in n]
        copies = {f"copies/{Path(n).name}": zf.read(n) + b"\r\n" for n in names
                  if parse_trial_id(Path(n).stem).actor in test_actors}  # fmt: skip
    assert copies
    with zipfile.ZipFile(zip_path, "a") as zf:
        for name, body in copies.items():
            zf.writestr(name, body)
    out = tmp_path / "felt"
    with pytest.warns(FeltWarning, match="smoothed_speech: every trial of split test was skipped"):
        convert_felt(data, out, progress=False, skip_bad=True, num_proc=1)
    card = (out / "README.md").read_text()
    assert "Split `test` holds no trial of `smoothed_speech`: every one of its trials in the input was skipped" in card
    assert "none of its actors' trials" not in card


def test_a_copy_set_aside_whose_kept_copy_was_skipped_is_a_skipped_file():
    """The kept copy unreadable at conversion (its bytes had read the same as the copy's when
    compared, or could not be read then): the trial is missing, so the copy is no longer "set aside"."""
    from felt_hf.build.skipped import skip_entry, split_set_aside

    lost = skip_entry("raw_speech", "01-01-01-01-01-01-01", "a.zip", "x/t.csv", "a.zip:x/t.csv: CRC error")
    copy = skip_entry("raw_speech", "01-01-01-01-01-01-01", "a.zip", "y/t.csv", "found twice", kept="a.zip:x/t.csv")
    other = skip_entry("raw_speech", "01-01-01-01-01-01-02", "a.zip", "y/u.csv", "found twice", kept="a.zip:x/u.csv")
    skipped, aside = split_set_aside([lost, copy, other])
    assert aside == [other] and [e["member"] for e in skipped] == ["x/t.csv", "y/t.csv"]
    assert "kept" not in skipped[1] and "the copy kept (a.zip:x/t.csv) could not be read" in skipped[1]["error"]


def test_two_different_copies_of_a_trial_convert_neither(sample_archives, tmp_path, capsys):
    """Under --skip-bad the copy first in the zip had been converted and the other set aside with
    "no data is missing": which values were published depended on the zip's order. Copies that
    differ are both skipped now; identical ones are still set aside (the test above)."""
    from felt_hf.cli import main as cli_main
    from felt_hf.publish.verify import verify_folder

    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    zip_path = data / "raw_motion_speech.zip"
    with zipfile.ZipFile(zip_path) as zf:
        first = next(n for n in zf.namelist() if n.endswith(".csv") and "/._" not in n and "MACOSX" not in n)
        body = zf.read(first)
    lines = body.split(b"\n")
    lines[1] = lines[1].replace(b",", b",1", 8)  # other numbers in the copy's first row
    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr(f"copy/{Path(first).name}", b"\n".join(lines))
    out = tmp_path / "felt"
    assert cli_main(["convert", str(data), "--out", str(out), "--no-progress"]) == 2  # (without --skip-bad)
    assert "found twice" in capsys.readouterr().err
    assert cli_main(["convert", str(data), "--out", str(out), "--skip-bad", "--no-progress"]) == 0
    report = json.loads((out / "skipped_trials.json").read_text())
    trial = Path(first).stem
    assert [e["member"] for e in report["skipped"]] == [first, f"copy/{Path(first).name}"]
    assert all(f"trial {trial} has copies that differ" in e["error"] for e in report["skipped"])
    assert "set_aside" not in report
    checks = {c.name: c for c in verify_folder(out).checks}  # (two files, one trial: counted as files)
    assert checks["skipped"].summary.startswith("2 input file(s) skipped (1 trial(s) named)"), checks["skipped"].summary
    ids = {
        t for p in (out / "raw_speech").glob("*.parquet") for t in pq.read_table(p, columns=["trial_id"])[0].to_pylist()
    }
    assert trial not in ids
    assert verify_folder(out).ok


def _zip_with(zip_path: Path, extra: dict) -> str:
    """Append entries (name -> bytes) to a zip; returns the first trial CSV's name."""
    with zipfile.ZipFile(zip_path) as zf:
        first = next(n for n in zf.namelist() if n.endswith(".csv") and "/._" not in n and "MACOSX" not in n)
        body = zf.read(first)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (zipfile warns of a duplicate name: that is the point)
        with zipfile.ZipFile(zip_path, "a") as zf:
            for name, data in extra.items():
                zf.writestr(name.format(first=first), data if data is not None else body.replace(b",", b";", 50))
    return first


def test_two_entries_of_one_name_in_a_zip_are_neither_read(sample_archives, tmp_path):
    """zipfile reads a name's last entry: --skip-bad had converted the second entry's values while
    the report said the first was kept. Which entry is the trial cannot be told by name."""
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    zip_path = data / "raw_motion_speech.zip"
    first = _zip_with(zip_path, {"{first}": None})
    with pytest.raises(FeltFormatError, match=rf"{re.escape(first)}: the zip holds 2 entries of this name"):
        convert_felt(data, tmp_path / "x", progress=False, num_proc=1)
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False, num_proc=1, skip_bad=True)
    report = json.loads((out / "skipped_trials.json").read_text())
    assert [e["member"] for e in report["skipped"]] == [first] and "set_aside" not in report
    ids = [
        t
        for p in (out / "raw_speech").glob("*.parquet")
        for t in pq.read_table(p, columns=["trial_id"])["trial_id"].to_pylist()
    ]
    assert Path(first).stem not in ids


def test_a_second_copy_whose_kept_copy_is_unreadable_is_counted_as_skipped(sample_archives, tmp_path):
    """The kept copy unreadable, the trial missing: the card had still said of the other copy
    "the first copy of each was converted, so no data is missing for them"."""
    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech"])
    zip_path = data / "raw_motion_speech.zip"
    first, good = rewrite_first_csv(zip_path, lambda body: b"not,a\ncsv,file,at,all\n")
    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr(f"zz/{Path(first).name}", good)  # a good second copy, after it
    out = tmp_path / "felt"
    convert_felt(data, out, progress=False, num_proc=1, skip_bad=True)
    report = json.loads((out / "skipped_trials.json").read_text())
    assert "set_aside" not in report and len(report["skipped"]) == 2
    assert all(f"trial {Path(first).stem} has copies that differ" in e["error"] for e in report["skipped"])
    card = (out / "README.md").read_text()
    assert "2 input file(s) could not be converted" in card and "set aside" not in card


def test_a_tracking_archive_one_folder_down_is_said_not_left_out_silently(sample_archives, tmp_path, capsys):
    """With the other archives at the top, ``sub/raw_motion_speech.zip`` had been left out without
    a word, and ``--configs raw_speech`` had not said where it was."""
    from felt_hf.cli import main as cli_main

    data = _copy_archives(sample_archives, tmp_path / "in", ["raw_speech", "smoothed_speech"])
    (data / "sub").mkdir()
    (data / "raw_motion_speech.zip").rename(data / "sub" / "raw_motion_speech.zip")
    with pytest.warns(FeltWarning, match=r"^sub/raw_motion_speech\.zip is below .*: that config is not converted"):
        assert cli_main(["convert", str(data), "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli_main(["convert", str(data), "--out", str(tmp_path / "b"), "--configs", "raw_speech"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "(sub/raw_motion_speech.zip is below it: archives are looked for in the folder" in err[0]


def test_the_every_file_skipped_error_names_its_file_once():
    from felt_hf.build.skipped import refuse_all_skipped, skip_entry

    for error in ("in/x.zip:a.mp4: the mp4 has no audio stream", "in/x.zip:a.mp4, row 0: not a CSV header"):
        entry = skip_entry("landmark_plot_speech", "t", "in/x.zip", "a.mp4", error)
        with pytest.raises(FeltError) as e:
            refuse_all_skipped({}, {"landmark_plot_speech": [entry]}, "file of {config} is unreadable")
        assert str(e.value).count("in/x.zip:a.mp4") == 1, str(e.value)  # (the row-located one was named twice)


def test_the_cards_skipped_note_is_a_paragraph_of_its_own():
    """It had been glued to the end of the Sizes sentence."""
    from felt_hf.build.card import skipped_note

    assert skipped_note({"skipped": 0}) == ""
    note = skipped_note({"skipped": 2, "warnings": ["raw and smoothed differ"]})
    assert note.startswith("\n\n**2 input file(s) could not be converted") and "\n\n**Warning:** raw and" in note
