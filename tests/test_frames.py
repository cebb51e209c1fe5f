"""Frame-level view of trial rows, map-style and streaming."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import load_dataset

from felt_hf import schema
from felt_hf.training.frames import to_frames


@pytest.fixture(scope="module")
def hub(felt_fake, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub_frames")
    rows = felt_fake.write_hub(out, per_actor=2, frames=(5, 12))
    return out, rows["validation"]


def test_map_style_frames_match_trials(hub):
    folder, rows = hub
    ds = load_dataset(str(folder), "smoothed_speech", split="validation")
    frames = to_frames(ds)
    assert len(frames) == sum(r["num_frames"] for r in rows)
    assert frames.features["landmarks"].shape == (schema.NUM_LANDMARKS, 2)
    assert frames.features["emotion"] == ds.features["emotion"]
    f = frames.with_format("numpy")
    by_trial = {r["trial_id"]: r for r in rows}
    for i in (0, 3, len(f) - 1):
        fr = f[i]
        trial = by_trial[str(fr["trial_id"])]
        k = int(fr["frame_index"])
        assert fr["frame"] == trial["frame"][k]
        assert fr["emotion"] == schema.EMOTIONS.index(trial["emotion"])
        np.testing.assert_array_equal(fr["landmarks"], trial["landmarks"][k])
        np.testing.assert_array_equal(fr["action_units"], trial["action_units"][k])


def test_drop_no_face_and_streaming(hub):
    folder, rows = hub
    stream = load_dataset(str(folder), "smoothed_speech", split="validation", streaming=True)
    frames = list(to_frames(stream, features=["action_units"], drop_no_face=True).with_format("numpy"))
    assert len(frames) == sum(int((r["num_faces"] > 0).sum()) for r in rows)
    assert all(np.isfinite(f["action_units"]).all() for f in frames)
    assert all(f["frame_index"] >= 1 for f in frames)  # the fake rows have no face at frame 0
    assert set(frames[0]) >= {"trial_id", "actor", "frame_index", "action_units"} and "landmarks" not in frames[0]


def test_unknown_feature_is_rejected(hub):
    folder, _ = hub
    ds = load_dataset(str(folder), "smoothed_speech", split="validation")
    with pytest.raises(ValueError, match="not in the dataset"):
        to_frames(ds, features=["landmark"])


def test_features_as_a_string_or_a_whole_dataset_dict_are_named(hub):
    folder, _ = hub
    ds = load_dataset(str(folder), "smoothed_speech")
    with pytest.raises(TypeError, match=r"to_frames takes one split \(e.g. ds\['train'\]\), not a DatasetDict"):
        to_frames(ds)
    with pytest.raises(ValueError, match=r"features must be a list of column names, e.g. \['landmarks'\]"):
        to_frames(ds["validation"], features="landmarks")


def test_drop_nan_leaves_out_smoothed_frames_that_are_nan_whatever_num_faces_says(sample_hub):
    """In the converted sample's smoothed_speech, trials whose raw file began without a face are
    NaN in every frame with num_faces 1: drop_no_face keeps them, drop_nan does not."""
    ds = load_dataset(str(sample_hub), "smoothed_speech", split="train")
    rows = ds.with_format("numpy")
    nan_frames = sum(int(np.isnan(r["action_units"]).all(axis=1).sum()) for r in rows)
    no_face = sum(int((r["num_faces"] == 0).sum()) for r in rows)
    assert nan_frames > no_face, "the sample has no smoothed trial that is NaN beyond its no-face frames"
    kept = to_frames(ds, features=["action_units"], drop_no_face=True).with_format("numpy")
    assert np.isnan(kept["action_units"]).all(axis=1).sum() == nan_frames - no_face
    clean = to_frames(ds, features=["action_units"], drop_nan=True).with_format("numpy")
    assert len(clean) == sum(r["num_frames"] for r in rows) - nan_frames
    assert not np.isnan(clean["action_units"]).all(axis=1).any()
    by_trial = {r["trial_id"]: r for r in rows}
    for f in (clean[0], clean[len(clean) - 1]):
        np.testing.assert_array_equal(f["action_units"], by_trial[f["trial_id"]]["action_units"][f["frame_index"]])
