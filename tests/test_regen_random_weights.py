"""Random-weights set-up around Py-Feat, in the main environment (no py-feat): where its gigabyte of
files goes and that it never stays behind. The real set-up with Py-Feat 0.6.2 runs in
``tests/test_regen_pyfeat.py`` (regen env), which also checks that no run leaves a folder in ``$TMPDIR``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from felt_hf.regen import random_weights
from felt_hf.regen.compat import FeltRegenError

REPO = Path(__file__).resolve().parents[1]


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.glob("felt-random-weights-*"))


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_private_folder_is_removed_when_the_process_exits(tmp_path):
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    code = (
        "from felt_hf.regen.random_weights import private_weights_folder\n"
        "root = private_weights_folder()\n"
        "(root / 'weights.pth').write_bytes(b'x' * 1000)\n"
        "print(root)\n"
    )
    env = {"PYTHONPATH": str(REPO), "TMPDIR": str(tmp), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    root = Path(proc.stdout.strip())
    assert root.parent == tmp and root.name.startswith("felt-random-weights-")
    assert not root.exists() and leftovers(tmp) == []


@pytest.mark.skipif(importlib.util.find_spec("feat") is not None, reason="needs an environment without py-feat")
def test_a_failed_set_up_removes_its_folder_at_once(private_tmp):
    with pytest.raises(FeltRegenError, match="py-feat is not installed"):
        random_weights.activate_random_weights()
    assert leftovers(private_tmp) == []


@pytest.mark.skipif(importlib.util.find_spec("feat") is not None, reason="needs an environment without py-feat")
def test_a_folder_given_by_the_caller_is_kept_after_a_failure(tmp_path, private_tmp):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "mine.txt").write_text("x")
    with pytest.raises(FeltRegenError, match="py-feat is not installed"):
        random_weights.activate_random_weights(keep)
    assert (keep / "mine.txt").read_text() == "x" and leftovers(private_tmp) == []


def test_a_full_disk_is_one_error_naming_the_file_and_no_partial_file(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")

    def full_disk(obj, f):
        Path(f).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:668] . unexpected pos 349910144 vs 349910040\nmore")

    monkeypatch.setattr(torch, "save", full_disk)
    target = tmp_path / "ResMaskNet_Z_resmasking_dropout1_rot30.pth"
    with pytest.raises(FeltRegenError) as info:
        random_weights._save({"net": {}}, target)
    message = str(info.value)
    assert "\n" not in message and str(target) in message and "MB free" in message
    assert "unexpected pos" in message
    assert list(tmp_path.iterdir()) == []


def test_the_two_img2pose_files_share_their_bytes(tmp_path):
    src = tmp_path / "img2pose_v1.pth"
    src.write_bytes(b"state" * 100)
    dst = tmp_path / "img2pose_v1_ft_300w_lp.pth"
    dst.write_bytes(b"stale")
    assert random_weights._same_file(src, dst) == dst.name
    assert dst.read_bytes() == src.read_bytes() and dst.stat().st_ino == src.stat().st_ino


def test_day_old_folders_of_killed_runs_are_swept_recent_ones_kept(private_tmp):
    import os
    import time

    old, recent, other = (private_tmp / f"felt-random-weights-{n}" for n in ("old", "recent", "x"))
    for folder in (old, recent):
        (folder / "feat").mkdir(parents=True)
    stale = time.time() - 2 * 24 * 3600
    os.utime(old, (stale, stale))
    (private_tmp / "unrelated-old").mkdir()
    os.utime(private_tmp / "unrelated-old", (stale, stale))
    other.write_text("a file, not a folder")
    os.utime(other, (stale, stale))
    root = random_weights.private_weights_folder()
    assert sorted(p.name for p in private_tmp.iterdir()) == sorted(
        [root.name, "felt-random-weights-recent", "felt-random-weights-x", "unrelated-old"]
    )
