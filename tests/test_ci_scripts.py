"""The CI scripts' own housekeeping: cached environments of an old requirements hash are removed
(each regen env is 8.4 GB; stale ones filled a long-lived CI machine's disk), recent ones kept."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_prune_envs_removes_stale_siblings_of_the_same_kind_only(tmp_path):
    for name in ("regen-new", "regen-old", "regen-busy", "regen-never-used", "datasets3-old"):
        (tmp_path / name).mkdir()
    old = time.time() - 3 * 3600
    for name in ("regen-old", "datasets3-old"):
        (tmp_path / name / ".felt-used").touch()
        os.utime(tmp_path / name / ".felt-used", (old, old))
    (tmp_path / "regen-busy" / ".felt-used").touch()
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "prune_envs.sh"), str(tmp_path / "regen-new")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets3-old", "regen-busy", "regen-new"]
    assert (tmp_path / "regen-new" / ".felt-used").is_file()
    assert "regen-old" in proc.stderr and "regen-never-used" in proc.stderr
