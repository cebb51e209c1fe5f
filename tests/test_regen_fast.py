"""Fast mode's machinery on CPU: one-pass decoding equals Py-Feat's per-frame decoding, threaded batches,
Py-Feat's tail-frame truncation, and identical tables from the fast and FELT-exact paths."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from felt_hf.regen.detectors import FeltExactTracker
from felt_hf.regen.fast import FastTracker, decode_frames, iter_batches, move_models_to_device, probe_video
from felt_hf.regen.standin import StandInDetector
from felt_hf.regen.tracks import pyfeat_frame_limit

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "pyfeat"
SINGLE, NOFACE = FIXTURES / "single_face.mp4", FIXTURES / "no_face.mp4"
pytestmark = pytest.mark.skipif(not SINGLE.is_file(), reason="Py-Feat fixture videos absent")


def pyfeat_load_frame(path: Path, idx: int) -> np.ndarray:
    """Py-Feat 0.6.2 ``VideoDataset.load_frame``: reopen, decode from frame 0, take frame ``idx``."""
    import av

    container = av.open(str(path))
    stream = container.streams.video[0]
    frame = next(islice(container.decode(stream), idx, None))
    out = frame.to_ndarray(format="rgb24")
    container.close()
    return out


@pytest.mark.parametrize(("video", "indices"), [(SINGLE, [0, 1, 30, 71]), (NOFACE, [0, 47, 94])])
def test_one_pass_threaded_decode_equals_pyfeat_per_frame_decode(video, indices):
    frames = list(decode_frames(str(video)))
    for i in indices:
        assert np.array_equal(frames[i], pyfeat_load_frame(video, i)), f"frame {i}"
    assert len({f.tobytes()[:4096] for f in frames}) > 1, "frames must differ (a real video)"


def test_probe_reads_container_metadata():
    assert probe_video(str(SINGLE)) == (72, 30.0)
    meta, fps = probe_video(str(NOFACE))
    assert meta == 98 and fps == pytest.approx(150528 / 6359)
    assert sum(1 for _ in decode_frames(str(NOFACE))) == 95  # metadata promises 3 frames that never decode


@pytest.mark.parametrize("batch_size", [1, 7, 32, 100])
def test_threaded_batches_cover_every_frame_in_order(batch_size):
    whole = np.stack(list(decode_frames(str(SINGLE))))
    batches = list(iter_batches(str(SINGLE), batch_size, prefetch=2))
    assert [len(b.indices) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    got = np.concatenate([b.frames for b in batches])
    assert np.array_equal(np.concatenate([b.indices for b in batches]), np.arange(72))
    assert np.array_equal(got, whole)


def test_batches_respect_max_frames_and_early_stop():
    gen = iter_batches(str(SINGLE), 4, max_frames=10, prefetch=1)
    first = next(gen)
    assert first.indices.tolist() == [0, 1, 2, 3]
    gen.close()  # consumer stops early: the decoding thread must not hang
    assert sum(len(b.indices) for b in iter_batches(str(SINGLE), 4, max_frames=10)) == 10


def test_decoding_error_names_the_video(tmp_path):
    bad = tmp_path / "01-01-01-01-01-01-01.mp4"
    bad.write_bytes(b"definitely not an mp4" * 100)
    with pytest.raises(RuntimeError, match=str(bad)):
        list(iter_batches(str(bad), 8))


@pytest.mark.parametrize(
    ("meta", "decodable", "batch", "want"),
    [(98, 95, 5, 95), (98, 96, 5, 95), (98, 99, 5, 98), (98, 98, 5, 98), (10, 7, 5, 5), (10, 4, 5, 0), (72, 72, 5, 72)],
)
def test_pyfeat_frame_limit(meta, decodable, batch, want):
    assert pyfeat_frame_limit(meta, decodable, batch) == want


@pytest.mark.parametrize("video", [SINGLE, NOFACE])
def test_fast_and_exact_paths_give_the_same_table(video):
    exact = FeltExactTracker(StandInDetector(), device="cpu").track(str(video))
    fast = FastTracker(StandInDetector(), batch_size=16, prefetch=2).track(str(video))
    assert len(exact) > 0
    pd.testing.assert_frame_equal(fast, exact)


def test_models_moved_to_device_are_wrapped_and_agree():
    torch = pytest.importorskip("torch")

    class Holder:
        pass

    det = Holder()
    det.landmark_detector = torch.nn.Linear(6, 4)
    det.emotion_model = Holder()
    det.emotion_model.model = torch.nn.Linear(6, 7)
    det.identity_model = Holder()
    det.identity_model.model = torch.nn.Linear(6, 5)
    det.au_model = "xgb stays on the CPU"
    x = torch.randn(3, 6)
    before = det.landmark_detector(x).detach()
    moved = move_models_to_device(det, torch.device("cpu"))
    assert moved == ["landmark_model", "emotion_model", "identity_model"]
    with torch.inference_mode():
        after = det.landmark_detector(x)
    assert after.device.type == "cpu" and torch.allclose(after, before)
    assert det.emotion_model.model(x).shape == (3, 7) and det.identity_model.model(x).shape == (3, 5)
    assert det.au_model == "xgb stays on the CPU"


def test_compare_tables_reports_differences_in_their_units():
    from felt_hf.regen.compare import compare_tables

    exact = FeltExactTracker(StandInDetector(), device="cpu").track(str(SINGLE))
    other = exact.copy()
    other["x_3"] = other["x_3"] + 0.25
    other["AU12"] = other["AU12"] - 0.01
    report = compare_tables(exact, other)
    assert report["frames"] == 72 and report["frames_with_different_face_counts"] == 0
    assert report["landmarks_px"]["max"] == pytest.approx(0.25)
    assert report["aus"]["max"] == pytest.approx(0.01)
    assert report["emotions"]["max"] == 0.0
    dropped = other[other["frame"] != 11]  # frame 11 has two faces in the stand-in schedule
    assert compare_tables(exact, dropped)["frames_with_different_face_counts"] == 1
