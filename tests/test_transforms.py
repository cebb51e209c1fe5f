"""Face-relative landmarks and standardisation: numpy and torch agree, references are right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from felt_hf.build.stats import compute_stats
from felt_hf.training.transforms import Standardizer, face_relative_landmarks, feature_mean_std, standardize


def _face(t: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of a moving, scaling face: a fixed template, shifted and scaled per frame."""
    rng = np.random.default_rng(seed)
    template = rng.uniform(-0.5, 0.5, (68, 2))
    shift = rng.uniform(200, 800, (t, 1, 2))
    size = rng.uniform(100, 300, (t, 1, 1))
    lm = template * size + shift
    box = np.concatenate([shift[:, 0] - size[:, 0] / 2, size[:, 0], size[:, 0]], axis=1)
    return lm.astype(np.float64), box.astype(np.float64)


def test_box_reference_undoes_translation_and_scale():
    lm, box = _face()
    out = face_relative_landmarks(lm, box, center="box", scale="box")
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), atol=1e-9)
    assert np.abs(out).max() <= 0.5 + 1e-9


def test_eye_reference_is_invariant_and_interocular_is_unit_scale():
    lm, box = _face()
    out = face_relative_landmarks(lm, center="eyes", scale="interocular")
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(out[:, 45] - out[:, 36], axis=-1), 1.0)
    eyes_mid = (out[:, 36:42].mean(1) + out[:, 42:48].mean(1)) / 2
    np.testing.assert_allclose(eyes_mid, 0.0, atol=1e-9)


def test_keeping_head_translation_keeps_motion_and_nan_frames():
    lm, box = _face()
    lm[2] = np.nan
    box[2] = np.nan
    kept = face_relative_landmarks(lm, box, remove_head_translation=False)
    removed = face_relative_landmarks(lm, box, remove_head_translation=True)
    assert np.isnan(kept[2]).all() and np.isnan(removed[2]).all()
    motion = np.nanstd(kept[:, :, 0].mean(1))
    assert motion > 0.1  # the face moves within the trial
    assert np.nanstd(removed[:, :, 0].mean(1)) < 1e-9


def test_torch_matches_numpy_batched():
    lm, box = _face(t=6, seed=3)
    lm_b, box_b = np.stack([lm, lm * 2]), np.stack([box, box * 2])
    for kw in ({}, {"center": "eyes", "scale": "interocular", "remove_head_translation": False}):
        want = face_relative_landmarks(lm_b, box_b, **kw)
        got = face_relative_landmarks(torch.from_numpy(lm_b), torch.from_numpy(box_b), **kw)
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_bad_options():
    lm, box = _face()
    with pytest.raises(ValueError, match="face_box"):
        face_relative_landmarks(lm)
    with pytest.raises(ValueError, match="center"):
        face_relative_landmarks(lm, box, center="nose")


def test_standardizer_from_stats(felt_fake):
    rng = np.random.default_rng(0)
    rows = [felt_fake.make_row("01-01-03-01-01-01-01", 30, rng) for _ in range(3)]
    st = compute_stats(rows)
    mean, std = feature_mean_std(st, ["action_units", "head_pose"], skip=["head_pose"])
    assert mean.shape == (23,) and std.shape == (23,)
    np.testing.assert_array_equal(mean[20:], 0.0)
    np.testing.assert_array_equal(std[20:], 1.0)
    au = np.concatenate([r["action_units"] for r in rows]).astype(np.float64)
    z = Standardizer.from_stats(st, ["action_units"])(au)
    np.testing.assert_allclose(np.nanmean(z, 0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.nanstd(z, 0), 1.0, rtol=1e-4)
    zt = standardize(torch.from_numpy(au), mean[:20], std[:20])
    np.testing.assert_allclose(zt.numpy(), z, rtol=1e-5, equal_nan=True)


def test_shapes_and_names_a_user_might_get_wrong_are_named():
    rng = np.random.default_rng(0)
    lm = rng.normal(size=(16, 68, 2)).astype(np.float32) * 50 + 300
    box = np.tile(np.array([250, 250, 100, 100], np.float32), (16, 1))
    with pytest.raises(ValueError, match=r"landmarks must have shape \(\.\.\., T, 68, 2\), not \(16, 136\)"):
        face_relative_landmarks(lm.reshape(16, 136), box)
    with pytest.raises(ValueError, match=r"landmarks must have shape"):
        face_relative_landmarks(box, lm)  # arguments swapped
    with pytest.raises(ValueError, match=r"face_box must have shape \(\.\.\., T, 4\)"):
        face_relative_landmarks(lm, box[:10])
    stats = compute_stats([{"landmarks": lm, "action_units": rng.random((16, 20), dtype=np.float32)}])
    with pytest.raises(ValueError, match=r"unknown feature\(s\) \['landmark'\]"):
        Standardizer.from_stats(stats, ["landmark"])
    with pytest.raises(ValueError, match="one split's FeatureStats"):
        feature_mean_std({"smoothed_speech": {"train": stats}}, ["landmarks"])
