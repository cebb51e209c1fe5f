"""The benchmarks' disk read cap (scripts/disk_throttle.py): real where this machine allows it.

The capped read runs for real when the tests run as root on a machine with a cgroup block-I/O
controller (the project's machines are); elsewhere it is skipped with the reason, and only the
pure parts (device and cap wording) are checked.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from disk_throttle import ThrottleError, capped_reads, evict, find_controller, unavailable, whole_disk  # noqa: E402


def test_capped_read_is_no_faster_than_the_cap_and_the_group_is_left(tmp_path):
    reason = unavailable(tmp_path)
    if reason:
        pytest.skip(reason)
    data = tmp_path / "blob"
    data.write_bytes(os.urandom(24_000_000))
    before = Path("/proc/self/cgroup").read_text()
    evict(data)
    with capped_reads(data, 12) as device:
        t0 = time.perf_counter()
        assert len(data.read_bytes()) == 24_000_000
        elapsed = time.perf_counter() - t0
        assert f"felt_bench_{os.getpid()}" in Path("/proc/self/cgroup").read_text()
    assert ":" in device
    assert elapsed >= 1.0, f"24 MB read in {elapsed:.2f} s through a 12 MB/s cap"  # uncapped: well under 0.5 s
    assert Path("/proc/self/cgroup").read_text() == before
    controller = find_controller()
    assert controller is not None and not (controller.root / f"felt_bench_{os.getpid()}").exists()


def test_cap_is_refused_with_a_reason_where_there_is_no_controller(tmp_path):
    if os.geteuid() != 0:
        assert "root" in unavailable(tmp_path)
    else:
        assert "no cgroup block-I/O controller" in unavailable(tmp_path, root=tmp_path)
    with pytest.raises(ThrottleError):
        with capped_reads(tmp_path, 10, root=tmp_path):
            pass


def test_cgroup_v2_wording_and_partition_parent(tmp_path):
    (tmp_path / "cgroup.subtree_control").write_text("cpu io memory\n")
    controller = find_controller(tmp_path)
    assert controller is not None and controller.version == 2
    assert controller.cap_line("8:0", 200_000_000) == "8:0 rbps=200000000"
    assert controller.cap_file(tmp_path / "g").name == "io.max"
    disk = tmp_path / "devices" / "sda"
    (disk / "sda1").mkdir(parents=True)
    (disk / "dev").write_text("8:0\n")
    (disk / "sda1" / "partition").write_text("1\n")
    sys_block = tmp_path / "dev_block"
    sys_block.mkdir()
    (sys_block / "8:1").symlink_to(disk / "sda1")
    assert whole_disk(os.makedev(8, 1), sys_block) == "8:0"
    assert whole_disk(os.makedev(8, 5), sys_block) == "8:5"
