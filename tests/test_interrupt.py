"""Issue 11, item 6: a conversion killed at any moment leaves a folder that tells the truth.

A real ``felt-hf convert`` runs in its own process group (its pool workers included) and the
whole group gets SIGKILL at several moments, found by watching the folder: before any file
appears, while workers write temporary shards, right after the old card was removed (shards
being swapped in), and after the new stats were written but before the new card. After each
kill the folder must be the earlier build byte for byte or carry no card; ``push`` must accept
it when it has a card; and the next run must remove every leftover and give byte-identical
output to an uninterrupted build.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from felt_hf import hub, stops
from felt_hf.atomic import folder_writer, temp_leftovers
from felt_hf.build.convert import convert_felt
from felt_hf.errors import FeltOutputError
from felt_hf.layout import LOCK_FILENAME
from felt_hf.publish.verify import verify_folder
from felt_hf.synthetic.archives import write_sample

try:
    from interrupts import sigint_when
except ImportError:  # tests/ imported as a package
    from tests.interrupts import sigint_when

REPO = Path(__file__).resolve().parents[1]
CONFIG = "smoothed_speech"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file but the temporary ones and a killed run's lock file (which locks nothing, and
    which datasets, verify and push ignore), with its bytes."""
    temps = {*temp_leftovers(folder), folder / LOCK_FILENAME}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p not in temps}  # fmt: skip


@pytest.fixture(scope="module")
def builds(tmp_path_factory, sample_archives):
    """Input A (the earlier build, seed 0) and input B (seed 1), and B's uninterrupted build."""
    root = tmp_path_factory.mktemp("interrupt")
    a, b = root / "in_a", root / "in_b"
    a.mkdir()
    shutil.copy(sample_archives / "smoothed_motion_speech.zip", a)
    full_b = root / "full_b"
    full_b.mkdir()
    write_sample(full_b, seed=1)
    b.mkdir()
    shutil.copy(full_b / "smoothed_motion_speech.zip", b)
    earlier, reference = root / "earlier", root / "reference"
    convert_felt(a, earlier, progress=False, num_proc=2)
    convert_felt(b, reference, progress=False, num_proc=2)
    assert snapshot(earlier) != snapshot(reference)  # so an old card over new shards would show
    return {"a": a, "b": b, "earlier": earlier, "reference": reference, "root": root}


def _inodes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_ino for p in out.rglob("*") if p.is_file()}


def _replaced(out: Path, before: dict[str, int], names) -> bool:
    """Whether any of ``names`` was swapped (new inode) or removed since ``before``."""
    for rel in names:
        try:
            if (out / rel).stat().st_ino != before[rel]:
                return True
        except FileNotFoundError:
            return True
    return False


# Each moment is watched through the folder itself (inodes change when a file is swapped in), so
# it does not depend on how the converter orders its steps: a converter that swapped shards
# under the old card would be caught at "a shard swapped in".
MOMENTS = {
    "0.2s, during start-up": lambda out, before: None,
    "workers writing temporary shards": lambda out, before: any(out.glob(f"{CONFIG}/.tmp-*")),
    "a shard swapped in or the card removed": lambda out, before: _replaced(
        out, before, [r for r in before if r.endswith(".parquet")] + ["README.md"]
    ),
    "stats.json swapped in": lambda out, before: _replaced(out, before, ["stats.json"]),
}


def _kill_when(proc: subprocess.Popen, cond, out: Path, timeout: float = 120.0) -> bool:
    """Busy-watch the folder; SIGKILL the whole process group when ``cond`` holds. False if the
    run finished first (the moment was missed)."""
    start = time.monotonic()
    while proc.poll() is None:
        hit = cond(out)
        hit = (time.monotonic() - start > 0.2) if hit is None else hit
        if hit:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if time.monotonic() - start > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("conversion did not finish in time")
    return False


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill_at_any_moment_leaves_a_truthful_folder(builds, tmp_path, moment):
    out = tmp_path / "felt"
    shutil.copytree(builds["earlier"], out)
    before = _inodes(out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "felt_hf.cli", "convert", str(builds["b"]), "--out", str(out), "--num-proc", "2",
           "--no-progress"]  # fmt: skip
    killed = False
    for _attempt in range(3):  # a fast run can outpace the watcher; try again from the earlier build
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        killed = _kill_when(proc, lambda o, b=before: MOMENTS[moment](o, b), out)
        if killed:
            break
        shutil.rmtree(out)
        shutil.copytree(builds["earlier"], out)
        before = _inodes(out)
    if not killed:
        pytest.skip(f"the run finished before the moment {moment!r} could be caught (3 tries)")
    time.sleep(0.2)  # let any orphan die
    after = snapshot(out)
    if (out / "README.md").exists():
        assert after == snapshot(builds["earlier"]), "a card is present but the folder is not the earlier build"
        hub.check_folder(out)  # push accepts it; leftovers are not uploaded
        assert verify_folder(out).ok
    else:
        assert not verify_folder(out).ok  # no card: verify says so, push refuses
        with pytest.raises(hub.PushError):
            hub.check_folder(out)
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert temp_leftovers(out) == [] and not (out / LOCK_FILENAME).exists()  # the killed run's lock: gone
    assert snapshot(out) == snapshot(builds["reference"])


def test_leftovers_of_any_pid_are_removed_and_never_block_push(builds, tmp_path):
    out = tmp_path / "felt"
    shutil.copytree(builds["earlier"], out)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(ended.stdout)  # a pid whose process is over (as a killed run's is)
    planted = [
        out / CONFIG / f".tmp-{dead}-train-00000-of-00008.parquet",
        out / f".stats.json.{dead}.deadbeef.tmp",
        out / f".README.md.{dead}.0123abcd.tmp",
    ]
    for p in planted:
        p.write_bytes(b"half written")
    files, _, _ = hub.check_folder(out)
    assert not any(".tmp" in f.path_in_repo for f in files)
    report = verify_folder(out)
    assert report.ok and [c.status for c in report.checks if c.name == "temp_files"] == ["warn"]
    plan = hub.push_folder(out, "someone/felt", dry_run=True)
    assert all(".tmp" not in f.path_in_repo for f in plan.files)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # another run, still writing into the folder: its temporary files are not this run's to remove
        busy = out / CONFIG / f".tmp-{live.pid}-train-00001-of-00008.parquet"
        busy.write_bytes(b"being written")
        convert_felt(builds["b"], out, progress=False, num_proc=1)
        assert busy.exists()
    finally:
        live.kill()
        live.wait()
    busy.unlink()
    assert not any(p.exists() for p in planted)
    assert snapshot(out) == snapshot(builds["reference"])


@pytest.mark.parametrize(
    ("sig", "group", "code", "line"),
    [
        (signal.SIGINT, True, 130, "interrupted"),  # Ctrl-C: the terminal signals the process group
        (signal.SIGTERM, False, 143, "terminated"),  # kill, timeout: the process alone
        (signal.SIGTERM, True, 143, "terminated"),  # docker stop, a scheduler: the group
    ],
    ids=["ctrl-c", "sigterm to the process", "sigterm to the group"],
)
def test_a_stop_while_workers_write_is_one_line_and_keeps_the_earlier_build(builds, tmp_path, sig, group, code, line):
    """A stop while worker processes write temporary shards: the exit code and its one line (no
    worker tracebacks), no temporary file left, the earlier build untouched. SIGTERM had killed
    the run on the spot: temporary shards left, no message, and mid-swap old and new shards mixed."""
    out = tmp_path / "felt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "felt_hf.cli", "convert", str(builds["b"]), "--out", str(out), "--num-proc", "2",
           "--no-progress"]  # fmt: skip

    def reset() -> None:
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(builds["earlier"], out)

    got = sigint_when(cmd, lambda: any(out.glob(f"{CONFIG}/.tmp-*")), reset=reset, env=env, sig=sig, group=group)
    if got is None:
        pytest.skip("the shards were written before the watcher could catch them (5 tries)")
    returncode, err = got
    assert returncode == code and err.strip().splitlines() == [line], err[-3000:]
    assert temp_leftovers(out) == []
    assert snapshot(out) == snapshot(builds["earlier"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_while_the_new_build_replaces_the_earlier_is_held_until_it_is_whole(builds, tmp_path, monkeypatch, sig):
    """A SIGINT, or a SIGTERM with felt_hf.cli's handler, arriving while the finished shards are
    renamed into place (delivered right there, in this process's main thread) stops the run only
    once the new build is whole: the earlier build is never left without card and stats with old
    and new shards mixed."""
    from felt_hf.build import convert as convert_mod
    from felt_hf.errors import Terminated

    out = tmp_path / "felt"
    shutil.copytree(builds["earlier"], out)
    real_replace, sent = os.replace, []

    def replace_then_stop(src, dst, *a, **k):
        real_replace(src, dst, *a, **k)
        if not sent and str(dst).endswith(".parquet"):
            sent.append(dst)
            os.kill(os.getpid(), sig)  # handled at the next bytecode: mid-commit

    previous = stops.terminate_as_interrupt() if sig == signal.SIGTERM else None  # what felt_hf.cli.main installs
    try:
        monkeypatch.setattr(convert_mod.os, "replace", replace_then_stop)
        with pytest.raises(Terminated if sig == signal.SIGTERM else KeyboardInterrupt):
            convert_felt(builds["b"], out, progress=False, num_proc=1)
        monkeypatch.undo()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    assert sent and temp_leftovers(out) == []
    assert snapshot(out) == snapshot(builds["reference"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_run_into_a_folder_being_written_is_refused_in_one_line(builds, tmp_path):
    """Two conversions into one folder had both swapped in, the later winning without a word.
    Now the second is refused (exit 2, one line naming the first one's pid) and changes nothing;
    while the first runs, verify and push say the folder is being written."""
    out = tmp_path / "felt"
    shutil.copytree(builds["earlier"], out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "felt_hf.cli", "convert", str(builds["b"]), "--out", str(out), "--num-proc", "1",
           "--no-progress"]  # fmt: skip
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / LOCK_FILENAME).exists() or not (out / LOCK_FILENAME).read_text():
            assert first.poll() is None and time.monotonic() < deadline, "the first run ended before it was seen"
            time.sleep(0.01)
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        report = verify_folder(out)
        try:
            hub.check_folder(out)
            push_error = ""
        except hub.PushError as e:
            push_error = str(e)
        # the first run takes its lock once: still held now, it was held through the three checks
        held = folder_writer(out) is not None
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    if not held:
        pytest.skip("the first conversion ended while the second was refused")
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip().splitlines() == [
        f"felt-hf: error: {out}: felt-hf convert (pid {first.pid}) is writing this folder; wait for it to end or write "
        "into another folder"
    ]
    assert not report.ok and any(f"felt-hf convert (pid {first.pid}) is writing" in c.summary for c in report.checks)
    assert f"felt-hf convert (pid {first.pid}) is writing this folder" in push_error
    assert snapshot(out) == snapshot(builds["reference"])  # the first run's build, whole
    assert not (out / LOCK_FILENAME).exists() and temp_leftovers(out) == []


def test_a_killed_runs_lock_file_locks_nothing(builds, tmp_path):
    """The lock is ``flock``, not the file: a file left by a killed run (its pid gone) blocks no
    later run, verify and push ignore it, and the next conversion removes it."""
    from felt_hf.atomic import folder_lock

    out = tmp_path / "felt"
    shutil.copytree(builds["earlier"], out)
    (out / LOCK_FILENAME).write_text("felt-hf convert (pid 999999999)\n")
    assert folder_writer(out) is None
    assert verify_folder(out).ok
    files, _, _ = hub.check_folder(out)
    assert LOCK_FILENAME not in [f.path_in_repo for f in files]
    with folder_lock(out, "convert"):  # held in this process: a conversion here is refused too
        assert folder_writer(out) == f"felt-hf convert (pid {os.getpid()})"
        with pytest.raises(FeltOutputError, match="is writing this folder"):
            convert_felt(builds["b"], out, progress=False, num_proc=1)
    assert snapshot(out) == snapshot(builds["earlier"])
    convert_felt(builds["b"], out, progress=False, num_proc=1)
    assert not (out / LOCK_FILENAME).exists()
    assert snapshot(out) == snapshot(builds["reference"])


def _signal_self_then_start_like_a_worker(sig: int) -> None:
    """A pool worker's first moments: Pool.terminate's SIGTERM, or the terminal's Ctrl-C, lands
    before its initializer, recorded by the handler it inherited from felt_hf.cli."""
    from felt_hf.workers import ignore_interrupts

    os.kill(os.getpid(), sig)
    ignore_interrupts()
    time.sleep(30)  # (a worker that survived would wait here for a task, as the hung one did)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "ctrl-c"])
def test_a_worker_stopped_as_it_starts_exits_at_once_without_a_traceback(capfd, sig, code):
    """A worker the pool had just respawned got Pool.terminate's SIGTERM while it still had the
    parent's handler: it raised Terminated (a worker traceback above the one-line message), and a
    SIGTERM recorded while its handler became SIG_DFL was dropped, leaving it waiting forever on
    the task queue while the converter hung in Pool.terminate (seen once, on a loaded machine).
    Python's default SIGINT handler likewise raised KeyboardInterrupt in a just-forked worker.
    Either must end the worker at once, quietly, with 128 + the signal."""
    import multiprocessing as mp

    install = stops.terminate_as_interrupt if sig == signal.SIGTERM else stops.interrupt_quietly_in_workers
    previous = install()
    assert previous is not None
    try:
        proc = mp.get_context("fork").Process(target=_signal_self_then_start_like_a_worker, args=(sig,))
        proc.start()
    finally:
        signal.signal(sig, previous)
    proc.join(20)
    alive = proc.is_alive()
    if alive:
        proc.kill()
    assert not alive and proc.exitcode == code, proc.exitcode
    assert "Traceback" not in capfd.readouterr().err
