"""Finding RAVDESS full-AV videos in zips and folders (no decoding needed)."""

from __future__ import annotations

import zipfile

import pytest

from felt_hf.errors import FeltDuplicateTrialError, FeltFormatError, FeltNameError
from felt_hf.regen.videos import discover_videos

SPEECH = "01-01-03-02-01-01-05"
SONG = "01-02-06-01-02-02-05"


def test_official_zips_folder_and_filters(tmp_path):
    with zipfile.ZipFile(tmp_path / "Video_Speech_Actor_05.zip", "w") as zf:
        zf.writestr(f"Actor_05/{SPEECH}.mp4", b"speech")
        zf.writestr("Actor_05/02-01-03-02-01-01-05.mp4", b"video-only")
        zf.writestr(f"__MACOSX/Actor_05/._{SPEECH}.mp4", b"junk")
        zf.writestr("Actor_05/", b"")
    with zipfile.ZipFile(tmp_path / "Video_Song_Actor_05.zip", "w") as zf:
        zf.writestr(f"Actor_05/{SONG}.mp4", b"song")
    (tmp_path / "Actor_06").mkdir()
    (tmp_path / "Actor_06" / "01-01-01-01-01-01-06.mp4").write_bytes(b"x")
    (tmp_path / "Actor_06" / "readme.md").write_text("ignored")
    items = discover_videos(tmp_path)
    assert [it.trial_id for it in items] == sorted([SPEECH, SONG, "01-01-01-01-01-01-06"])
    speech = items[[it.trial_id for it in items].index(SPEECH)]
    assert speech.member == f"Actor_05/{SPEECH}.mp4" and speech.display.endswith(
        f"Video_Speech_Actor_05.zip/Actor_05/{SPEECH}.mp4"
    )
    assert [it.trial_id for it in discover_videos(tmp_path, channels=["song"])] == [SONG]
    assert [it.trial_id for it in discover_videos(tmp_path, actors=[6])] == ["01-01-01-01-01-01-06"]
    assert [it.trial_id for it in discover_videos([tmp_path / "Video_Song_Actor_05.zip"])] == [SONG]


def test_zip_member_extracted_to_a_real_file_and_removed(tmp_path):
    with zipfile.ZipFile(tmp_path / "v.zip", "w") as zf:
        zf.writestr(f"Actor_05/{SPEECH}.mp4", b"payload-bytes")
    (item,) = discover_videos(tmp_path / "v.zip")
    with item.local_path(tmp_path / "tmp") as path:
        with open(path, "rb") as f:
            assert f.read() == b"payload-bytes"
    assert not list((tmp_path / "tmp").iterdir())


def test_impossible_ravdess_name_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "Actor_05").mkdir()
    bad = tmp_path / "Actor_05" / "01-02-07-01-01-01-05.mp4"  # a sung disgust cannot exist
    bad.write_bytes(b"x")
    with pytest.raises(FeltNameError, match=r"01-02-07-01-01-01-05\.mp4.*song has no disgust"):
        discover_videos(tmp_path)


def test_same_trial_twice_is_an_error(tmp_path):
    (tmp_path / "Actor_05").mkdir()
    (tmp_path / "Actor_05" / f"{SPEECH}.mp4").write_bytes(b"x")
    with zipfile.ZipFile(tmp_path / "Video_Speech_Actor_05.zip", "w") as zf:
        zf.writestr(f"Actor_05/{SPEECH}.mp4", b"x")
    with pytest.raises(FeltDuplicateTrialError, match=f"{SPEECH} found twice") as e:
        discover_videos(tmp_path)
    assert "Video_Speech_Actor_05.zip" in str(e.value) and f"Actor_05/{SPEECH}.mp4" in str(e.value)


def test_bad_zip_and_missing_path(tmp_path):
    broken = tmp_path / "Video_Speech_Actor_01.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(FeltFormatError, match="Video_Speech_Actor_01.zip.*cannot open the archive"):
        discover_videos(broken)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        discover_videos(tmp_path / "nowhere")


def test_one_finder_walks_regeneration_inputs():
    """Regeneration walks with the inputs stage's finder (one junk filter, one duplicate check)."""
    from pathlib import Path

    import felt_hf.regen.videos as videos

    text = Path(videos.__file__).read_text(encoding="utf-8")
    assert "iter_input_files(" in text and "duplicate_of(" in text
    assert not any(w in text for w in ("os.walk(", ".rglob(", ".infolist(")), "regen walks its inputs itself"
