"""FeltCollator, windows and map-style loading into PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import load_dataset

from felt_hf import schema
from felt_hf.build.stats import compute_stats
from felt_hf.training import (
    FeltCollator,
    aggregate_windows,
    feature_layout,
    suggest_num_shards,
    trial_windows,
    window_starts,
)


@pytest.fixture(scope="module")
def rows(felt_fake):
    rng = np.random.default_rng(5)
    ids = ["01-01-01-01-01-01-01", "01-01-03-02-01-02-02", "01-01-05-01-02-01-03", "01-01-08-02-02-02-04"]
    return [felt_fake.make_row(tid, n, rng, nan_frames=1) for tid, n in zip(ids, (10, 25, 40, 7), strict=True)]


@pytest.fixture(scope="module")
def hub(felt_fake, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub")
    felt_fake.write_hub(out, per_actor=3, frames=(20, 70))
    return out


def test_layout_and_concatenation_order(rows):
    feats = ["action_units", "landmarks", "head_pose"]
    lay = feature_layout(feats)
    assert (
        lay["action_units"] == slice(0, 20)
        and lay["landmarks"] == slice(20, 156)
        and lay["head_pose"] == slice(156, 159)
    )
    b = FeltCollator(feats, crop="start")(rows)
    x = b["features"]
    assert x.shape == (4, 40, 159) and x.dtype == torch.float32
    r = rows[1]
    np.testing.assert_array_equal(x[1, 1:25, lay["landmarks"]].numpy(), r["landmarks"][1:].reshape(24, -1))
    np.testing.assert_array_equal(x[1, 1:25, lay["action_units"]].numpy(), r["action_units"][1:])
    assert b["lengths"].tolist() == [10, 25, 40, 7]
    assert b["mask"].sum(1).tolist() == [10, 25, 40, 7]
    assert not b["face_mask"][:, 0].any() and b["face_mask"][1, 1:25].all()  # first frame has no face
    assert torch.isfinite(x).all() and (x[0, 10:] == 0).all()
    assert b["emotion"].tolist() == [schema.EMOTIONS.index(e) for e in ("neutral", "happy", "angry", "surprised")]
    assert b["trial_id"] == [r["trial_id"] for r in rows]


def test_static_shapes_and_crops(rows):
    torch.manual_seed(0)
    c = FeltCollator(["action_units"], labels=["emotion", "actor", "sex"], max_frames=16, crop="random")
    starts = set()
    for _ in range(20):
        b = c(rows)
        assert b["features"].shape == (4, 16, 20)
        assert b["padded"].tolist() == [True, False, False, True] and b["cropped"].tolist() == [
            False,
            True,
            True,
            False,
        ]
        starts.add(int(b["start"][2]))
        s = int(b["start"][2])
        np.testing.assert_array_equal(b["features"][2].numpy(), np.nan_to_num(rows[2]["action_units"][s : s + 16]))
    assert len(starts) > 3  # random crops move
    assert b["actor"].tolist() == [1, 2, 3, 4] and b["sex"].tolist() == [0, 1, 0, 1]
    center = FeltCollator(["action_units"], max_frames=16, crop="center")(rows)
    assert center["start"].tolist() == [0, 4, 12, 0]


def test_frame_stride(rows):
    b = FeltCollator(["head_pose"], max_frames=8, crop="start", frame_stride=3)(rows)
    assert b["lengths"].tolist() == [4, 8, 8, 3]
    np.testing.assert_array_equal(b["features"][1, :8].numpy(), np.nan_to_num(rows[1]["head_pose"][0:24:3]))


def test_face_landmarks_and_standardisation(rows):
    st = compute_stats(rows)
    b = FeltCollator(["landmarks", "action_units"], landmarks="face", stats=st, crop="start")(rows)
    lm = b["features"][..., :136][b["face_mask"]]
    assert lm.abs().max() < 2  # face units, not pixels
    au = b["features"][..., 136:][b["face_mask"]]
    assert abs(float(au.mean())) < 0.1 and 0.8 < float(au.std()) < 1.2


def test_windows_cover_trials():
    assert window_starts(10, 4, 4) == [0, 4, 6]
    assert window_starts(3, 4) == [0]
    assert window_starts(20, 4, 2, frame_stride=2) == [0, 4, 8, 12]
    with pytest.raises(ValueError):
        window_starts(10, 0)
    keys, mean = aggregate_windows(torch.tensor([[1.0, 0], [3, 0], [0, 5]]), ["a", "a", "b"])
    assert keys == ["a", "b"] and mean.tolist() == [[2.0, 0.0], [0.0, 5.0]]


def test_map_style_loader_with_workers_and_windows(hub):
    ds = load_dataset(str(hub), "smoothed_speech", split="validation").with_format("numpy")
    expected = sorted(ds["trial_id"])
    c = FeltCollator(["landmarks", "action_units"], max_frames=32, crop="center")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=c, num_workers=2)
    seen = [t for b in loader for t in b["trial_id"]]
    assert sorted(seen) == expected
    win = trial_windows(ds, window=16, hop=8)
    n_expected = sum(len(window_starts(int(n), 16, 8)) for n in ds["num_frames"])
    assert len(win) == n_expected
    wl = torch.utils.data.DataLoader(win, batch_size=8, collate_fn=FeltCollator(max_frames=16, crop="start"))
    got = [b for b in wl]
    assert sum(len(b["trial_id"]) for b in got) == n_expected
    first = got[0]
    assert first["features"].shape[1:] == (16, 156) and "window_start" in first
    keys, _ = aggregate_windows(torch.zeros(n_expected, 8), [t for b in got for t in b["trial_id"]])
    assert sorted(keys) == expected


def test_torch_format_and_compile_friendly(hub):
    ds = load_dataset(str(hub), "smoothed_speech", split="test").with_format("torch")
    c = FeltCollator(["action_units", "head_pose"], max_frames=24)
    shapes = {
        tuple(b["features"].shape) for b in torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=c, drop_last=True)
    }
    assert shapes == {(4, 24, 23)}


def test_suggest_num_shards():
    n = suggest_num_shards(1080, max_rows_per_shard=64)
    assert n % 32 == 0 and 1080 / n <= 64
    assert suggest_num_shards(5) == 5


def test_partly_missing_frame_keeps_its_finite_values(rows):
    row = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in rows[1].items()}
    row["action_units"][5, 3] = np.nan
    row["action_units"][6, :] = np.inf
    b = FeltCollator(["landmarks", "action_units"], crop="start", nan_value=-5.0)([row, rows[3]])
    x, lay = b["features"], feature_layout(["landmarks", "action_units"])
    assert not b["face_mask"][0, 5] and not b["face_mask"][0, 6] and b["face_mask"][0, 4]
    assert x[0, 5, lay["action_units"]][3] == -5.0 and (x[0, 6, lay["action_units"]] == -5.0).all()
    np.testing.assert_array_equal(x[0, 5, lay["landmarks"]].numpy(), row["landmarks"][5].reshape(-1))
    np.testing.assert_array_equal(x[0, 5, lay["action_units"]][:3].numpy(), row["action_units"][5, :3])
    assert (x[1, 7:] == -5.0).all() and not b["face_mask"][1, 7:].any()  # padding


def test_batches_built_in_a_worker_are_one_shared_memory_block(rows, monkeypatch):
    collate = FeltCollator(["action_units"], max_frames=12, crop="start")
    assert not collate(rows)["features"].is_shared()
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())
    b = collate(rows)
    assert b["features"].is_shared() and b["features"].shape == (4, 12, 20)  # nothing to copy on the way out
    tensors = [v for v in b.values() if isinstance(v, torch.Tensor)]
    assert len(tensors) >= 9 and len({t.untyped_storage().data_ptr() for t in tensors}) == 1  # one segment
    assert b["lengths"].tolist() == [10, 12, 12, 7] and b["mask"].sum().item() == 10 + 12 + 12 + 7
    assert b["emotion"].dtype == torch.int64 and b["trial_id"] == [r["trial_id"] for r in rows]
    np.testing.assert_array_equal(b["features"][1, 1:12].numpy(), rows[1]["action_units"][1:12])


def test_misuse_is_named_when_the_collator_is_built(rows):
    with pytest.raises(ValueError, match=r"unknown label column\(s\) \['emotoin'\]"):
        FeltCollator(["landmarks"], labels=["emotoin"])
    with pytest.raises(ValueError, match="labels must be a list of column names"):
        FeltCollator(["landmarks"], labels="actor")
    with pytest.raises(ValueError, match="features must be a list"):
        FeltCollator("landmarks")
    with pytest.raises(ValueError, match="features is empty"):
        FeltCollator([])
    with pytest.raises(ValueError, match="max_frames must be a whole number"):
        FeltCollator(["landmarks"], max_frames=2.5)
    # landmark_options: checked here, not at the first batch inside a DataLoader worker
    with pytest.raises(ValueError, match=r"landmark_options \{'centre': 'eyes'\}: .*unexpected keyword.*'centre'"):
        FeltCollator(["landmarks"], landmarks="face", landmark_options={"centre": "eyes"})
    with pytest.raises(ValueError, match=r"landmark_options \{'center': 'nose'\}: center must be one of"):
        FeltCollator(["landmarks"], landmarks="face", landmark_options={"center": "nose"})
    with pytest.raises(ValueError, match=r"apply to landmarks='face', not 'pixels'"):
        FeltCollator(["landmarks"], landmark_options={"center": "eyes"})
    FeltCollator(["landmarks"], landmarks="face", landmark_options={"center": "eyes", "scale": "interocular"})
    with pytest.raises(ValueError, match=r"remove_head_translation must be True or False, not 'no'"):
        FeltCollator(["landmarks"], landmarks="face", landmark_options={"remove_head_translation": "no"})


def test_misuse_is_named_when_a_batch_is_collated(rows):
    collate = FeltCollator(["landmarks", "action_units"], labels=["emotion", "actor"])
    with pytest.raises(TypeError, match="a list of rows"):
        collate(rows[0])
    partial = [dict(r) for r in rows[:2]]
    del partial[1]["actor"]
    with pytest.raises(KeyError, match=rf"trial {partial[1]['trial_id']}: the row has no \['actor'\] column"):
        collate(partial)
    short = [dict(r) for r in rows[:2]]
    short[0]["action_units"] = short[0]["action_units"][:3]
    n = len(short[0]["landmarks"])
    with pytest.raises(
        ValueError, match=rf"trial {short[0]['trial_id']}: action_units has 3 frames, landmarks has {n}"
    ):
        collate(short)
    long = [dict(r) for r in rows[:2]]  # a longer feature had been cut to the first's length silently
    long[0]["action_units"] = np.concatenate([long[0]["action_units"], long[0]["action_units"][:1]])
    with pytest.raises(ValueError, match=rf"action_units has {n + 1} frames, landmarks has {n}: every feature"):
        collate(long)
    none = [dict(r) for r in rows[:2]]
    none[1]["action_units"] = None  # (had been "object of type 'NoneType' has no len()")
    with pytest.raises(ValueError, match=rf"trial {none[1]['trial_id']}: action_units is None"):
        collate(none)
    batch = collate(rows)  # and the right use still works, labels included
    assert batch["emotion"].shape == (4,) and batch["actor"].shape == (4,)


def _rows_of(n_frames: list[int], seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {"trial_id": f"t{i}", "emotion": 3, "actor": 1, "action_units": rng.random((n, 20), dtype=np.float32)}
        for i, n in enumerate(n_frames)
    ]


def test_cropped_says_whether_frames_were_cut_off_whatever_the_random_phase():
    """A trial padded under a stride was reported cropped whenever its random phase was not 0."""
    import torch

    torch.manual_seed(0)
    collate = FeltCollator(["action_units"], ["emotion"], max_frames=50, crop="random", frame_stride=3)
    batch = collate(_rows_of([113] * 8 + [200]))
    lengths, padded, cropped = batch["lengths"].numpy(), batch["padded"].numpy(), batch["cropped"].numpy()
    assert (cropped[:8] == (lengths[:8] == 50)).all() and not cropped[:8].any() and padded[:8].all()
    assert cropped[8] and not padded[8] and lengths[8] == 50


def test_padding_is_nan_value_after_standardisation():
    from felt_hf.stats import compute_stats

    rows = _rows_of([10, 4])
    collate = FeltCollator(["action_units"], ["emotion"], stats=compute_stats(rows), nan_value=0.0)
    out = collate(rows)["features"].numpy()
    assert (out[1, 4:] == 0.0).all() and np.abs(out[1, :4]).max() > 0


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"emotion": "furious"}, "emotion 'furious' is not one of"),
        ({"emotion": None}, "label emotion is None, not a whole number"),
        ({"emotion": np.float32(5.9)}, "label emotion is 5.9, not a whole number"),
        ({"actor": 2.5}, "label actor is 2.5"),
    ],
)
def test_a_bad_label_value_is_refused_naming_the_trial(change, says):
    rows = _rows_of([5, 5])
    rows[1].update(change)
    with pytest.raises(ValueError, match=r"trial t1: ") as e:
        FeltCollator(["action_units"], ["emotion", "actor"])(rows)
    assert says in str(e.value)


@pytest.mark.parametrize("stride", [1.5, "2", 0, True])
def test_frame_stride_must_be_a_whole_number(stride):
    with pytest.raises(ValueError, match="frame_stride must be a whole number >= 1"):
        FeltCollator(["action_units"], frame_stride=stride)


def test_helpers_name_a_bad_argument():
    from felt_hf.training import aggregate_windows, face_relative_landmarks, feature_dim, trial_windows

    with pytest.raises(ValueError, match="unknown feature 'x'"):
        feature_dim(["x"])
    assert feature_dim(["action_units", "head_pose"]) == 23
    with pytest.raises(ValueError, match="window must be a whole number >= 1, not 2.5"):
        trial_windows([{"action_units": np.zeros((3, 20))}], window=2.5)
    with pytest.raises(ValueError, match="window must be a whole number >= 1, not 0"):
        trial_windows(_EmptyStream(), window=0)  # a stream: said now, not at its first row
    with pytest.raises(ValueError, match=r"got shape \(3, 2\) and 2 key\(s\)"):
        aggregate_windows(torch.zeros(3, 2), ["a", "b"])
    with pytest.raises(TypeError, match="numpy arrays or torch tensors"):
        face_relative_landmarks([[1, 2]])


class _EmptyStream(torch.utils.data.IterableDataset):
    def __iter__(self):
        return iter(())


def test_windows_of_a_dataset_loaded_with_the_collators_columns(hub):
    """docs/TRAINING.md loads ``columns=collate.columns`` and cuts sliding windows: that had failed
    in datasets with "Column 'num_frames' doesn't exist"."""
    collate = FeltCollator(["landmarks"], max_frames=16, crop="start")
    ds = load_dataset(str(hub), "smoothed_speech", split="validation", columns=collate.columns).with_format("numpy")
    win = trial_windows(ds, window=16, hop=8)
    assert len(win) == sum(len(window_starts(int(n), 16, 8)) for n in ds["num_frames"])
    bare = ds.remove_columns(["num_frames"])
    with pytest.raises(ValueError, match=r"trial_windows needs the num_frames column"):
        trial_windows(bare, window=16, hop=8)
