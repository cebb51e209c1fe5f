"""The Python API's arguments, checked as the command line checks its options (found by an
adversarial sweep of the API): a wrong type or value is one ValueError naming the argument (or
the file), before any work, never a TypeError from deep inside numpy, PyAV, json or a comparison.
Every case failed before its fix."""

from __future__ import annotations

import pytest

from felt_hf.build.convert import convert_felt
from felt_hf.build.stats import load_stats
from felt_hf.inputs.media import media_bytes, read_audio, read_video_frames
from felt_hf.publish.verify import verify_folder
from felt_hf.training import FeltCollator, Standardizer, feature_layout


@pytest.mark.parametrize(
    "features, says",
    [
        ("landmarks", "not a string"),
        (["landmarks", "landmarks"], "lists 'landmarks' twice"),
        (None, "not None"),
        ([1], "not a list holding 1"),
    ],  # fmt: skip
)
def test_feature_lists_are_lists_of_names_each_once(features, says):
    """``feature_layout("landmarks")`` had said "unknown feature 'l'"; a name twice made the
    collator 272 wide while its layout named one slice."""
    with pytest.raises(ValueError, match=says):
        feature_layout(features)
    with pytest.raises(ValueError, match=says):
        FeltCollator(features)


@pytest.mark.parametrize("num_proc", [-3, 0, "2", 1.5])
def test_convert_felt_checks_num_proc_before_making_anything(sample_archives, tmp_path, num_proc):
    out = tmp_path / "felt"
    with pytest.raises(ValueError, match=rf"num_proc must be a whole number >= 1, not {num_proc!r}"):
        convert_felt(sample_archives, out, configs=["raw_speech"], num_proc=num_proc, progress=False)
    assert not out.exists()


@pytest.mark.parametrize("sample", ["x", -1, 0])
def test_verify_folder_checks_sample(sample_hub, sample):
    with pytest.raises(ValueError, match=rf"sample must be a whole number >= 1, not {sample!r}"):
        verify_folder(sample_hub, sample=sample)


def test_stream_parts_refuse_a_negative_worker_count(sample_hub):
    from felt_hf.training import FeltStream

    stream = FeltStream.from_folder(str(sample_hub), "smoothed_speech", "train")
    assert len(stream.parts(0)[0]) == 1  # 0: the DataLoader's main process, one part
    for parts in (stream.parts, stream.even_parts):
        with pytest.raises(ValueError, match="num_workers must be a whole number >= 0, not -2"):
            parts(-2)


@pytest.mark.parametrize("content", [b"{bad", b"", b"PK\x03\x04\xea\xff\x00"])
def test_load_stats_names_a_file_that_is_not_json(tmp_path, content):
    path = tmp_path / "stats.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^{path}: not a FELT stats file \(not JSON text: "):
        load_stats(path)
    with pytest.raises(ValueError, match=rf"^{path}: not a FELT stats file"):
        load_stats(tmp_path)  # the folder holding it


def test_load_stats_names_a_file_nested_too_deep(tmp_path):
    """json's decoder recurses: 100 000 nested brackets had been a RecursionError traceback."""
    path = tmp_path / "stats.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=rf"^{path}: not a FELT stats file \(JSON nested too deep to read\)"):
        load_stats(path)


def test_media_helpers_say_what_they_cannot_decode():
    with pytest.raises(ValueError, match="^PyAV cannot decode this video: "):
        read_video_frames(b"hello")
    row = {"trial_id": "01-01-01-01-01-01-01", "video": {"bytes": b"hello", "path": None}}
    with pytest.raises(ValueError, match="^trial 01-01-01-01-01-01-01: PyAV cannot decode this video: "):
        read_video_frames(row)
    with pytest.raises(ValueError, match="^soundfile cannot decode this audio: "):
        read_audio(b"hello")
    with pytest.raises(ValueError, match="expected a row, a media cell, bytes or a path, not 5"):
        media_bytes(5)


@pytest.mark.parametrize("stats", [None, "x", 3])
def test_standardizer_stats_must_be_one_splits_statistics(stats):
    with pytest.raises(ValueError, match="stats must be one split's FeatureStats"):
        Standardizer.from_stats(stats, ["landmarks"])
    if stats is not None:  # (None: the collator's own "no standardising")
        with pytest.raises(ValueError, match="stats must be one split's FeatureStats"):
            FeltCollator(["landmarks"], stats=stats)


def test_the_collators_nan_value_must_be_a_number():
    with pytest.raises(ValueError, match="nan_value must be a number, not 'x'"):
        FeltCollator(["landmarks"], nan_value="x")
