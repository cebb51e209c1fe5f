"""FeltStream: the same rows as load_dataset, split over ranks and workers exactly once per epoch."""

from __future__ import annotations

import shutil

import fsspec
import numpy as np
import pytest
import torch
from datasets import load_dataset

from felt_hf.errors import FeltLookupError
from felt_hf.training import FeltCollator
from felt_hf.training.stream import FeltStream

WORLD, WORKERS = 2, 2


@pytest.fixture(scope="module")
def hub(felt_fake, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub_stream")
    # 5 shards of one row group each: not divisible by 2 ranks x 2 workers on purpose.
    rows = felt_fake.write_hub(out, shards={"train": 5, "validation": 1, "test": 1}, per_actor=4, frames=(8, 20))
    return out, sorted(r["trial_id"] for r in rows["train"])


def _same(a, b, where: str) -> None:
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray), where
        assert a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=True), where
    else:
        assert a == b, where


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_rows_equal_the_map_style_load(sample_hub, split):
    ref = {r["trial_id"]: r for r in load_dataset(str(sample_hub), "smoothed_speech", split=split).with_format("numpy")}
    stream = FeltStream.from_folder(str(sample_hub), "smoothed_speech", split)
    rows = list(stream)
    assert len(rows) == stream.num_rows == len(ref) > 0
    for row in rows:
        want = ref[row["trial_id"]]
        assert set(row) == set(want)
        for col, value in row.items():
            _same(value, want[col], f"{row['trial_id']} {col}")
    assert rows[0]["landmarks"].dtype == np.float32 and rows[0]["landmarks"].shape[1:] == (68, 2)


def _loaders(folder, *, even=False, persistent=True, shuffle=True):
    collate = FeltCollator(["action_units", "landmarks"], max_frames=8)
    base = FeltStream.from_folder(str(folder), "smoothed_speech", "train", columns=collate.columns, shuffle=shuffle)
    base.seed, base.buffer_size, base.even = 5, 4, even
    out = []
    for rank in range(WORLD):
        ds = base.split_by_node(rank, WORLD)
        loader = torch.utils.data.DataLoader(
            ds, batch_size=3, collate_fn=collate, num_workers=WORKERS, persistent_workers=persistent
        )
        out.append((ds, loader))
    return out


def _epoch(loaders, epoch):
    per_rank = []
    for ds, loader in loaders:
        ds.set_epoch(epoch)
        per_rank.append([t for b in loader for t in b["trial_id"]])
    return per_rank


def test_two_ranks_two_persistent_workers_see_each_trial_once_per_epoch(hub):
    folder, expected = hub
    loaders = _loaders(folder)
    orders = []
    for epoch in range(3):
        per_rank = _epoch(loaders, epoch)
        assert sorted(per_rank[0] + per_rank[1]) == expected, f"epoch {epoch}"
        assert not set(per_rank[0]) & set(per_rank[1])
        orders.append(per_rank)
    # Persistent workers were started in epoch 0: only the shared epoch can reshuffle them.
    assert orders[0] != orders[1] != orders[2]
    again = _epoch(_loaders(folder, persistent=False), 1)
    assert again == orders[1], "same seed and epoch, same order, persistent workers or not"


def test_even_gives_every_rank_the_same_number_of_trials(hub):
    folder, expected = hub
    per_rank = _epoch(_loaders(folder, even=True), 0)
    assert len(per_rank[0]) == len(per_rank[1]) > 0
    seen = per_rank[0] + per_rank[1]
    assert len(set(seen)) == len(seen) and set(seen) <= set(expected)
    assert len(expected) - len(seen) == len(expected) % (WORLD * WORKERS)  # fewer than one trial per part


@pytest.mark.parametrize(("world", "workers"), [(8, 4), (8, 2), (4, 2), (2, 3), (1, 2)])
def test_even_parts_on_a_full_split_drop_fewer_trials_than_parts(world, workers):
    """Blocks of 32 and 13 trials, as a full FELT train split is cut (24 shards of 45 trials in
    row groups of 8): trimming whole-block parts to the smallest had kept 416 of 1080 trials at
    8 ranks x 4 workers. Now every part holds the same trials count, disjoint, and the parts
    together miss fewer trials than there are parts."""
    from felt_hf.training.stream import Block

    stream = FeltStream.__new__(FeltStream)  # the split plan only: no files needed
    stream.blocks = [Block(f, g, n) for f in range(24) for g, n in (((0, 1, 2, 3), 32), ((4, 5), 13))]
    stream.shuffle, stream.seed, stream.world_size = True, 3, world
    stream._epoch = torch.zeros((), dtype=torch.int64)
    for epoch in (0, 1):
        order = np.random.default_rng([3, epoch]).permutation(len(stream.blocks))
        sequence = [(stream.blocks[i].file, stream.blocks[i].row_groups[0], k) for i in order
                    for k in range(stream.blocks[i].num_rows)]  # fmt: skip
        got = []
        for per_rank in stream.even_parts(workers, epoch):
            for part in per_rank:
                rows = [(b.file, b.row_groups[0], k) for b in part.blocks for k in range(b.num_rows)]
                got.append(rows[part.skip : part.skip + part.take])
        sizes = {len(p) for p in got}
        assert len(sizes) == 1
        flat = [r for p in got for r in p]
        assert flat == sequence[: len(flat)] and 1080 - len(flat) < world * workers


def test_unshuffled_order_is_file_order(hub):
    folder, _ = hub
    stream = FeltStream.from_folder(str(folder), "smoothed_speech", "train", columns=["trial_id"])
    ref = load_dataset(str(folder), "smoothed_speech", split="train")["trial_id"]
    assert [r["trial_id"] for r in stream] == ref
    # One-row-group shards over three ranks: rank r reads shards r, r + 3, ... in order.
    for rank in range(3):
        own = [r["trial_id"] for r in FeltStream(stream.files[rank::3], columns=["trial_id"])]
        assert [r["trial_id"] for r in stream.split_by_node(rank, 3)] == own


def test_columns_are_projected_and_checked(sample_hub):
    stream = FeltStream.from_folder(str(sample_hub), "smoothed_speech", "validation", columns=["emotion", "head_pose"])
    row = next(iter(stream))
    assert set(row) == {"emotion", "head_pose"} and row["head_pose"].shape[1:] == (3,)
    # ValueErrors (FeltLookupError), as the project's other argument errors: they had been KeyErrors,
    # printed quoted and missed by `except ValueError`.
    with pytest.raises(FeltLookupError, match=r"no column\(s\) \['landmark'\]; it has"):
        FeltStream.from_folder(str(sample_hub), "smoothed_speech", "validation", columns=["landmark"])
    with pytest.raises(ValueError, match="config 'smoothed_speech' has no split 'dev'; it has"):
        FeltStream.from_folder(str(sample_hub), "smoothed_speech", "dev")


def test_fsspec_urls_read_like_local_files(hub):
    folder, _ = hub
    files = sorted((folder / "smoothed_speech").glob("train-*.parquet"))
    mem = fsspec.filesystem("memory")
    urls = []
    for f in files:
        with mem.open(f"/felt/{f.name}", "wb") as fh:
            fh.write(f.read_bytes())
        urls.append(f"memory:///felt/{f.name}")
    remote = [r["trial_id"] for r in FeltStream(urls, columns=["trial_id", "action_units"])]
    local = [r["trial_id"] for r in FeltStream([str(f) for f in files], columns=["trial_id", "action_units"])]
    assert remote == local and len(local) > 0


def test_unreadable_file_is_named(hub, tmp_path):
    folder, _ = hub
    good = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    bad = tmp_path / "train-00009-of-00010.parquet"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(OSError, match="train-00009-of-00010.parquet"):
        FeltStream([str(good), str(bad)])
    # Damaged after the footer was read: the row group read names the file too.
    copy = tmp_path / "train-00001-of-00002.parquet"
    shutil.copy(good, copy)
    stream = FeltStream([str(copy)], columns=["landmarks"])
    meta = stream.metadata[0].row_group(0)
    chunk = next(
        meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema.startswith("landmarks")
    )
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(copy.read_bytes())
    data[start : start + 64] = b"\xff" * 64  # the column's first page header
    copy.write_bytes(bytes(data))
    with pytest.raises(OSError, match="train-00001-of-00002.parquet"):
        list(stream)


def test_bad_rank_is_refused(hub):
    folder, _ = hub
    stream = FeltStream.from_folder(str(folder), "smoothed_speech", "train")
    with pytest.raises(ValueError, match="rank"):
        stream.split_by_node(2, 2)


@pytest.fixture(scope="module")
def small_groups(hub, tmp_path_factory):
    """The train split rewritten as two files with row groups of 3 trials."""
    import pyarrow.parquet as pq

    folder, expected = hub
    table = pq.read_table(sorted((folder / "smoothed_speech").glob("train-*.parquet")))
    out = tmp_path_factory.mktemp("small_groups")
    half = table.num_rows // 2
    paths = []
    for i, part in enumerate((table.slice(0, half), table.slice(half))):
        paths.append(str(out / f"train-{i:05d}-of-00002.parquet"))
        pq.write_table(part, paths[-1], row_group_size=3)
    return paths, table.column("trial_id").to_pylist()


def test_blocks_group_consecutive_row_groups(small_groups):
    paths, ids = small_groups
    fine = FeltStream(paths, columns=["trial_id"], rows_per_read=1)
    coarse = FeltStream(paths, columns=["trial_id"], rows_per_read=8)
    assert all(len(b.row_groups) == 1 for b in fine.blocks)
    assert all(b.num_rows >= 8 or b is blocks[-1] for blocks in _by_file(coarse) for b in blocks)
    assert [len(b.row_groups) for b in coarse.blocks][:1] == [3]
    assert [r["trial_id"] for r in fine] == [r["trial_id"] for r in coarse] == ids


def _by_file(stream):
    out = {}
    for b in stream.blocks:
        out.setdefault(b.file, []).append(b)
    return list(out.values())


@pytest.mark.parametrize("rows_per_read", [1, 8])
def test_blocks_split_exactly_once_over_ranks_and_workers(small_groups, rows_per_read):
    paths, ids = small_groups
    seen = []
    for rank in range(WORLD):
        stream = FeltStream(paths, columns=["trial_id"], shuffle=True, seed=1, rows_per_read=rows_per_read)
        stream = stream.split_by_node(rank, WORLD)
        stream.set_epoch(3)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=WORKERS)
        seen += [r["trial_id"] for r in loader]
    assert sorted(seen) == sorted(ids)


def test_arguments_a_user_might_get_wrong_are_named(sample_hub, tmp_path):
    shard = sorted((sample_hub / "smoothed_speech").glob("train-*.parquet"))[0]
    with pytest.raises(ValueError, match="files must be a list of parquet paths"):
        FeltStream(str(shard))
    with pytest.raises(ValueError, match="columns must be a list"):
        FeltStream([str(shard)], columns="landmarks")
    with pytest.raises(ValueError, match="columns is empty"):
        FeltStream([str(shard)], columns=[])
    for name in ("buffer_size", "rows_per_read"):
        with pytest.raises(ValueError, match=f"{name} must be a whole number >= 1"):
            FeltStream([str(shard)], **{name: 0})
        assert FeltStream([str(shard)], **{name: np.int64(8)}).num_rows > 0  # numpy integers are whole numbers
    with pytest.raises(FileNotFoundError, match="nope_folder: no such folder"):
        FeltStream.from_folder(str(tmp_path / "nope_folder"), "smoothed_speech", "train")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        FeltStream.from_folder("./nope_folder", "smoothed_speech", "train")


def test_find_row_names_a_missing_folder_and_a_media_config(sample_hub, tmp_path):
    from felt_hf.errors import FeltLookupError
    from felt_hf.view.viewrows import find_row

    with pytest.raises(FeltLookupError, match="no such folder"):
        find_row(tmp_path / "nope", "01-01-02-02-02-02-21")
    with pytest.raises(FeltLookupError, match="'audio_speech' is not a tracking config"):
        find_row(sample_hub, "01-01-02-02-02-02-21", config="audio_speech")


def test_from_folder_of_archives_says_convert_first(sample_archives):
    with pytest.raises(FileNotFoundError, match="not a folder written by `felt-hf convert`"):
        FeltStream.from_folder(str(sample_archives), "smoothed_speech", "train")


@pytest.mark.parametrize(("rank", "world_size"), [("0", 1), (0, 0), (-1, 2), (2, 2)])
def test_a_bad_rank_is_named(sample_hub, rank, world_size):
    with pytest.raises(ValueError, match="rank|world_size"):
        FeltStream.from_folder(str(sample_hub), "smoothed_speech", "train", rank=rank, world_size=world_size)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [({"seed": -1}, "seed must be a whole number in \\[0, 2\\*\\*63\\), not -1"),
     ({"seed": 1.5}, "seed must be a whole number"), ({"seed": True}, "seed must be a whole number")],
)  # fmt: skip
def test_a_bad_seed_is_refused_when_the_stream_is_built(sample_hub, kwargs, says):
    """They had failed only at the first row, inside a DataLoader worker, in numpy's words."""
    with pytest.raises(ValueError, match=says):
        FeltStream.from_folder(str(sample_hub), "smoothed_speech", "train", **kwargs)


@pytest.mark.parametrize("epoch", [-1, 1.7, 2**70, "2"])
def test_a_bad_epoch_is_refused_by_set_epoch(sample_hub, epoch):
    """`set_epoch(1.7)` had silently become epoch 1; -1 failed in a worker; 2**70 overflowed."""
    stream = FeltStream.from_folder(str(sample_hub), "smoothed_speech", "train")
    with pytest.raises(ValueError, match=f"epoch must be a whole number in \\[0, 2\\*\\*63\\), not {epoch!r}"):
        stream.set_epoch(epoch)
    stream.set_epoch(3)
    assert stream.epoch == 3


def test_a_null_list_cell_streams_as_none_like_load_dataset(tmp_path):
    """A media config's `tracking_index` is null where the frame map is unknown (AU animations):
    FeltStream had refused the whole config ("FELT rows always carry their arrays")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train-00000-of-00001.parquet"
    index = pa.array([[0, 1, 2], None, [], [5, 6]], type=pa.list_(pa.int32()))
    pq.write_table(pa.table({"trial_id": ["a", "b", "c", "d"], "tracking_index": index}), path, row_group_size=3)
    rows = list(FeltStream([str(path)], rows_per_read=1))
    got = [None if r["tracking_index"] is None else r["tracking_index"].tolist() for r in rows]
    assert [r["trial_id"] for r in rows] == ["a", "b", "c", "d"] and got == [[0, 1, 2], None, [], [5, 6]]


def _copy(sample_hub, tmp_path):
    """A copy of the converted sample's card and smoothed_speech shards, to damage."""
    out = tmp_path / "felt"
    out.mkdir()
    shutil.copy(sample_hub / "README.md", out / "README.md")
    shutil.copytree(sample_hub / "smoothed_speech", out / "smoothed_speech")
    return out


def test_a_missing_shard_is_named_not_silently_skipped(sample_hub, tmp_path):
    """With a shard deleted, from_folder had read the others: fewer trials, without a word."""
    folder = _copy(sample_hub, tmp_path)
    gone = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[1]
    gone.unlink()
    with pytest.raises(ValueError, match="config 'smoothed_speech', split 'train': 1 shard\\(s\\) missing: ") as e:
        FeltStream.from_folder(str(folder), "smoothed_speech", "train")
    assert f"smoothed_speech/{gone.name}" in str(e.value) and str(e.value).startswith(str(folder))
    assert FeltStream.from_folder(str(folder), "smoothed_speech", "validation").num_rows > 0  # the others read


def _card_count_plus_one(readme, config: str, split: str) -> None:
    text = readme.read_text(encoding="utf-8")
    at = text.index(f"- config_name: {config}", text.index("dataset_info:"))
    at = text.index("num_examples: ", text.index(f"- name: {split}", at)) + len("num_examples: ")
    end = text.index("\n", at)
    readme.write_text(text[:at] + str(int(text[at:end]) + 1) + text[end:], encoding="utf-8")


def test_a_count_that_disagrees_with_the_card_is_an_error(sample_hub, tmp_path):
    """The card's dataset_info counts the trials (load_dataset checks it); FeltStream had not."""
    folder = _copy(sample_hub, tmp_path)
    _card_count_plus_one(folder / "README.md", "smoothed_speech", "train")
    n = FeltStream.from_folder(str(sample_hub), "smoothed_speech", "train").num_rows
    with pytest.raises(ValueError, match=f"split 'train': the card \\(README.md\\) counts {n + 1} trials, its "):
        FeltStream.from_folder(str(folder), "smoothed_speech", "train")


def test_a_config_the_card_does_not_declare_is_a_lookup_error_naming_the_folder(sample_hub):
    """It had been datasets' "BuilderConfig 'raw_nope' not found", naming no folder."""
    from felt_hf.errors import FeltLookupError

    with pytest.raises(FeltLookupError, match=rf"^{sample_hub}: no config 'raw_nope' in its card \(README.md\)"):
        FeltStream.from_folder(str(sample_hub), "raw_nope", "train")


def test_a_card_whose_yaml_cannot_be_parsed_is_named(sample_hub, tmp_path):
    """PyYAML's ParserError had named no file."""
    folder = _copy(sample_hub, tmp_path)
    readme = folder / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("configs:\n", "configs: [\n", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="README.md: the card's YAML cannot be parsed: line "):
        FeltStream.from_folder(str(folder), "smoothed_speech", "train")


def test_a_card_pattern_that_matches_no_file_names_config_split_and_pattern(sample_hub, tmp_path):
    """It had been datasets' "Couldn't infer the same data file format for all splits"."""
    folder = _copy(sample_hub, tmp_path)
    readme = folder / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert "smoothed_speech/train-*" in text
    readme.write_text(text.replace("smoothed_speech/train-*", "smoothed_speech/trian-*"), encoding="utf-8")
    says = "README.md: config 'smoothed_speech', split 'train': the data_files pattern 'smoothed_speech/trian-\\*' matches no file"
    with pytest.raises(ValueError, match=says):
        FeltStream.from_folder(str(folder), "smoothed_speech", "validation")


def test_a_mistyped_local_folder_is_not_looked_up_on_the_hub(sample_hub, monkeypatch):
    """``felt/feltt`` beside a local ``felt/`` had been a 24 s hub lookup, then "Couldn't reach"."""
    import datasets

    def no_hub(*args, **kwargs):
        raise AssertionError(f"looked up on the hub: {args}")

    monkeypatch.setattr(datasets, "load_dataset_builder", no_hub)
    monkeypatch.chdir(sample_hub.parent)
    with pytest.raises(FileNotFoundError, match="felt/feltt: no such folder \\(felt/ is a local folder"):
        FeltStream.from_folder("felt/feltt", "smoothed_speech", "train")


def test_a_shard_left_from_another_build_is_an_error_even_without_dataset_info(sample_hub, tmp_path):
    """Each build complete by its own -of-N: a stray -of-00001 beside -of-00004 shards had been read
    too (a trial twice) when the card had no dataset_info to count against."""
    folder = _copy(sample_hub, tmp_path)
    first = sorted((folder / "smoothed_speech").glob("train-*.parquet"))[0]
    assert not first.name.endswith("-of-00001.parquet")
    shutil.copy(first, first.with_name("train-00000-of-00001.parquet"))
    readme = folder / "README.md"
    text = readme.read_text(encoding="utf-8")
    at = text.index("\ndataset_info:") + 1
    readme.write_text(text[:at] + text[text.index("\n---", at) + 1 :], encoding="utf-8")
    with pytest.raises(ValueError, match=r"split 'train': shards of 2 builds \(-of-00001, -of-"):
        FeltStream.from_folder(str(folder), "smoothed_speech", "train")


def test_a_card_pattern_pointing_into_another_config_is_an_error(sample_hub, tmp_path):
    """An edited card had served another config's shards under this config's name."""
    folder = _copy(sample_hub, tmp_path)
    shutil.copytree(sample_hub / "raw_speech", folder / "raw_speech")
    readme = folder / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("smoothed_speech/train-*", "raw_speech/train-*"), encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"config 'smoothed_speech', split 'train': data_files \['raw_speech/train-\*'\]"
    ):
        FeltStream.from_folder(str(folder), "smoothed_speech", "train")


def test_a_folder_given_with_a_tilde_is_read(sample_hub, tmp_path, monkeypatch):
    """``~/felt`` was expanded for the checks only: datasets then got the literal path."""
    folder = _copy(sample_hub, tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    n = FeltStream.from_folder(str(sample_hub), "smoothed_speech", "train").num_rows
    assert FeltStream.from_folder(f"~/{folder.name}", "smoothed_speech", "train").num_rows == n
