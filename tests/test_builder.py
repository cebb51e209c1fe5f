"""The `Felt` builder as a class on datasets 5.x: every config and split, labels, overrides."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from datasets import Array3D, ClassLabel

from felt_hf import Felt, load_felt
from felt_hf.inputs.sources import config_members
from felt_hf.ravdess import parse_trial_id, split_of_actor
from felt_hf.schema import CONFIG_NAMES, DEFAULT_CONFIG, ROW_COLUMNS
from felt_hf.synthetic.archives import make_trial


@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_every_config_and_split(sample_archives, tmp_path, config):
    builder = Felt(config_name=config, data_dir=str(sample_archives), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    ds = builder.as_dataset()
    members = config_members(sample_archives, config)
    assert set(ds) == {"train", "validation", "test"}
    for split, d in ds.items():
        want = sorted(m.trial_id for m in members if split_of_actor(m.labels.actor) == split)
        assert sorted(d["trial_id"]) == want
        assert list(d.features) == list(ROW_COLUMNS)
        assert isinstance(d.features["landmarks"], Array3D) and isinstance(d.features["sex"], ClassLabel)
        for row in d.with_format("numpy"):
            lab = parse_trial_id(str(row["trial_id"]))
            feats = d.features
            assert feats["emotion"].int2str(int(row["emotion"])) == lab.emotion
            assert feats["vocal_channel"].int2str(int(row["vocal_channel"])) == config.split("_")[1]
            assert feats["statement"].int2str(int(row["statement"])) == lab.statement
            assert feats["sex"].int2str(int(row["sex"])) == lab.sex and int(row["actor"]) == lab.actor
            assert row["landmarks"].shape == (row["num_frames"], 68, 2) == (len(row["frame"]), 68, 2)


def test_builder_values_match_the_generator(sample_archives, tmp_path):
    ds = load_felt(sample_archives, "raw_speech", cache_dir=str(tmp_path), split="test").with_format("numpy")
    row = ds[0]
    trial = make_trial(str(row["trial_id"]), seed=0)
    x0 = np.asarray(trial.raw_columns["x_0"], dtype=np.float64)
    if not trial.has_two_faces:
        np.testing.assert_array_equal(row["landmarks"][:, 0, 0], x0.astype(np.float32))


def test_split_rule_can_be_overridden(sample_archives, tmp_path):
    rule = {"train": (1, 19, 21), "test": (2, 20, 22)}
    ds = load_felt(sample_archives, DEFAULT_CONFIG, cache_dir=str(tmp_path), split_actors=rule)
    assert set(ds) == {"train", "test"}
    assert set(ds["train"]["actor"]) == {1, 19, 21} and set(ds["test"]["actor"]) == {2, 20, 22}


def test_missing_data_dir_and_archive_are_clear(tmp_path):
    with pytest.raises(ValueError, match="data_dir"):
        Felt(config_name="raw_song", cache_dir=str(tmp_path)).download_and_prepare()
    with pytest.raises(FileNotFoundError, match="raw_motion_song.zip"):
        Felt(config_name="raw_song", data_dir=str(tmp_path), cache_dir=str(tmp_path)).download_and_prepare()
    with pytest.raises(ValueError, match="smoothed_dance"):
        Felt(config_name="smoothed_dance", data_dir=str(tmp_path))


def test_default_config_and_loading_script():
    assert Felt.DEFAULT_CONFIG_NAME == DEFAULT_CONFIG == "smoothed_speech"
    assert [c.name for c in Felt.BUILDER_CONFIGS] == list(CONFIG_NAMES)
    spec = importlib.util.spec_from_file_location("felt_script", __file__.replace("tests/test_builder.py", "felt.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.Felt is Felt


@pytest.mark.parametrize("config", ["smoothed_speech", "raw_song"])
def test_builder_and_converter_give_equal_tables(sample_archives, sample_hub, tmp_path, config):
    """One row encoding: the builder's Arrow tables are the converter's, value for value and type
    for type (ClassLabel ints, Array2D/3D extension types), split by split, in the same order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from felt_hf import layout

    built = load_felt(sample_archives, config, cache_dir=str(tmp_path))
    for split, ds in built.items():
        files = [p for p in layout.shard_files(sample_hub, config) if p.name.startswith(f"{split}-")]
        converted = pa.concat_tables([pq.read_table(p) for p in files]).combine_chunks()
        mine = ds.data.table.combine_chunks()
        by_id = {t: i for i, t in enumerate(mine.column("trial_id").to_pylist())}
        order = [by_id[t] for t in converted.column("trial_id").to_pylist()]  # shards are planned, not in read order
        mine = mine.take(order)
        assert mine.schema.remove_metadata() == converted.schema.remove_metadata()
        for name in converted.column_names:
            assert _levels(mine.column(name)) == _levels(converted.column(name)), f"{config}/{split}: {name} differs"


def _levels(col) -> list:
    """A column as its list lengths at every nesting level plus its leaf values' exact bytes
    (``equals`` would call two NaN unequal; FELT's no-face frames are NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col.combine_chunks()
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    out = []
    while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        out.append(pc.list_value_length(arr).to_pylist())
        arr = arr.flatten()
    if pa.types.is_floating(arr.type):
        out.append(arr.to_numpy(zero_copy_only=False).tobytes())
    else:
        out.append(arr.to_pylist())
    return out


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"train": range(1, 22), "test": range(20, 25)}, "actor 20 is in both 'train' and 'test'"),
        ({"train": (5, 6)}, "belongs to a split of split_actors (train=5-6)"),
        ({"train": (1, 99)}, "actor 99 is not in 1-24"),
        ({"train": "1-18"}, "actors must be whole numbers"),
        ([(1, 18)], "split_actors must map split names to actors"),
    ],
)
def test_a_bad_split_rule_is_refused_not_applied(sample_archives, tmp_path, rule, message):
    """datasets sets a config's fields without running FeltConfig.__init__, so the rule used to go
    unchecked: overlapping actors went to the first split, a rule selecting nothing gave an empty
    DatasetDict."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_felt(sample_archives, "smoothed_speech", split_actors=rule, cache_dir=str(tmp_path))
    if isinstance(rule, dict) and not isinstance(rule.get("train"), str):
        builder = Felt(config_name="smoothed_speech", data_dir=str(sample_archives), cache_dir=str(tmp_path / "b"),
                       split_actors=rule)  # fmt: skip
        with pytest.raises(ValueError, match="actor|split"):
            builder.download_and_prepare()


def test_a_replaced_archive_is_rebuilt_not_served_from_the_cache(sample_archives, tmp_path):
    """datasets keys its cache on data_dir's path; a different archive at that path must not come
    back with the old numbers (it did: same trial count and values after the archive changed)."""
    import shutil
    import zipfile

    data = tmp_path / "data"
    shutil.copytree(sample_archives, data)
    archive = data / "smoothed_motion_speech.zip"
    cache = str(tmp_path / "cache")
    first = load_felt(data, "smoothed_speech", cache_dir=cache, split="train")
    dropped, *keep = sorted(first["trial_id"])
    smaller = tmp_path / "smaller.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(smaller, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename.endswith(".csv") and dropped in info.filename:
                continue  # one train trial fewer
            dst.writestr(info, src.read(info))
    shutil.move(smaller, archive)
    again = load_felt(data, "smoothed_speech", cache_dir=cache, split="train")
    assert sorted(again["trial_id"]) == keep and again.num_rows == first.num_rows - 1
    same = load_felt(data, "smoothed_speech", cache_dir=cache, split="train")  # unchanged archive: the cache
    assert same.cache_files[0]["filename"] == again.cache_files[0]["filename"]
