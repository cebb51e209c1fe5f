"""Reads from a disk of a chosen speed, for benchmarks: a Linux cgroup read-bandwidth limit.

A benchmark that compares converting media with reading the same bytes "from disk" depends on how
fast the disk is. On the machines this project is measured on, the input files sit on a virtual
disk that the host caches, so even bytes dropped from the guest's page cache come back at about
1 GB/s, faster than most disks users keep FELT's tens of GB of video on. This module lets a
benchmark read at the rate of a slower disk without owning one: the process moves into a cgroup
whose block-I/O controller caps read bandwidth on the device holding the data (cgroup v1
``blkio.throttle.read_bps_device``, or v2 ``io.max`` ``rbps``), and processes it forks inherit the
cap. Writes are not capped. Buffered reads, kernel read-ahead and ``posix_fadvise(WILLNEED)``
reads issued by a capped process are capped alike.

It needs root and a cgroup filesystem with that controller; :func:`unavailable` says why not,
in one line, so a benchmark can skip the capped rows instead of failing. Only cgroup v1 has been
exercised on the project's machines (they mount v1); the v2 branch follows the kernel's
documented ``io.max`` format. Worker processes must be started from inside the block (fork or
spawn); a ``forkserver`` started earlier would hand out uncapped workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


class ThrottleError(RuntimeError):
    """Reads cannot be capped here; the message says why, in one line."""


@dataclass(frozen=True)
class Controller:
    """Where to make a capped group, and how to word the cap for this cgroup version."""

    root: Path  # the hierarchy holding the block-I/O controller
    version: int  # 1 or 2

    def cap_file(self, group: Path) -> Path:
        return group / ("blkio.throttle.read_bps_device" if self.version == 1 else "io.max")

    def cap_line(self, device: str, bytes_per_s: int) -> str:
        return f"{device} {bytes_per_s}" if self.version == 1 else f"{device} rbps={bytes_per_s}"


def find_controller(root: Path = CGROUP_ROOT) -> Controller | None:
    """The block-I/O controller's hierarchy: v1 ``blkio``, else v2 with ``io`` enabled for children."""
    v1 = root / "blkio"
    if (v1 / "blkio.throttle.read_bps_device").exists():
        return Controller(v1, 1)
    controllers = root / "cgroup.subtree_control"
    if controllers.exists() and "io" in controllers.read_text().split():
        return Controller(root, 2)
    return None


def whole_disk(dev: int, sys_block: Path = Path("/sys/dev/block")) -> str:
    """``major:minor`` of the disk holding device ``dev`` (a partition's parent disk: the kernel caps
    bios after they are remapped from the partition to the disk)."""
    node = sys_block / f"{os.major(dev)}:{os.minor(dev)}"
    if (node / "partition").exists():
        return (node.resolve().parent / "dev").read_text().strip()
    return f"{os.major(dev)}:{os.minor(dev)}"


def unavailable(path: Path, root: Path = CGROUP_ROOT) -> str | None:
    """Why reads of ``path`` cannot be capped here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "capping disk reads needs root (a cgroup's block-I/O limit)"
    if find_controller(root) is None:
        return f"no cgroup block-I/O controller under {root} (v1 blkio or v2 io)"
    dev = os.stat(path).st_dev
    if not Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").exists():
        return f"{path} is not on a block device (major:minor {os.major(dev)}:{os.minor(dev)})"
    return None


def evict(path: Path) -> None:
    """Drop one file from the page cache (after an fsync, ``posix_fadvise(DONTNEED)``; no root
    needed), so its next read comes from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _own_group(controller: Controller) -> Path:
    """This process's current group in that hierarchy (to return to afterwards)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, rel = line.split(":", 2)
        if (controller.version == 1 and "blkio" in names.split(",")) or (controller.version == 2 and names == ""):
            return controller.root / rel.lstrip("/")
    return controller.root


@contextmanager
def capped_reads(path: Path, mb_per_s: float, root: Path = CGROUP_ROOT) -> Iterator[str]:
    """Within the block, this process and the processes it starts read ``path``'s disk at no more
    than ``mb_per_s`` MB/s (10^6 bytes). Yields the device capped. Raises :class:`ThrottleError`
    with the reason when it cannot (before the block runs)."""
    reason = unavailable(path, root)
    if reason is not None:
        raise ThrottleError(reason)
    controller = find_controller(root)
    assert controller is not None
    device = whole_disk(os.stat(path).st_dev)
    home = _own_group(controller)
    group = controller.root / f"felt_bench_{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
    except OSError as e:
        raise ThrottleError(f"cannot make the cgroup {group}: {e.strerror}") from None
    try:
        try:
            controller.cap_file(group).write_text(controller.cap_line(device, int(mb_per_s * 1e6)) + "\n")
            (group / "cgroup.procs").write_text(f"{os.getpid()}\n")
        except OSError as e:
            raise ThrottleError(f"cannot cap reads of {device} in {group}: {e.strerror}") from None
        try:
            yield device
        finally:
            (home / "cgroup.procs").write_text(f"{os.getpid()}\n")
    finally:
        try:
            group.rmdir()  # empty again once this process left and its children exited
        except OSError as e:  # a child still alive: the empty group is harmless, say where it is
            print(f"note: could not remove {group}: {e.strerror}")


__all__ = ["ThrottleError", "capped_reads", "evict", "find_controller", "unavailable", "whole_disk"]
