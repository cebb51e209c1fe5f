"""Settings for the converter's worker processes (tracking and media), applied when one starts.

Hand-written because: no library sets these, and they are measured. A worker allocates and frees
a few megabytes per trial (inflated CSV text, polars columns, numpy arrays, Arrow buffers).

* glibc serves blocks over its mmap threshold with fresh ``mmap`` pages and returns them on
  ``free``, so every trial page-faults its working set in again: about 380 minor faults and
  1.8 ms of kernel time per trial here. Raising the mmap threshold to 64 MB and the trim
  threshold to 128 MB keeps that memory in the heap for the next trial: 40 faults and 1.0 ms
  (6 alternating pairs of runs of the same 210 trials, one process; total CPU per trial
  16.2 -> 15.3 ms). The heap stays bounded by one row group's working set.
* ``gc.freeze()`` after the imports moves the libraries' hundreds of thousands of objects out
  of the garbage collector's view; full collections, which the per-trial allocations trigger,
  then walk only the trial's objects (they were 3% of a worker's samples under ``perf``).

The ``felt-hf`` command also puts pyarrow's own buffers (the parquet writer's pages) on that
glibc heap, by choosing Arrow's system memory pool before pyarrow loads
(``felt_hf.cli.use_system_arrow_pool``; a worker cannot change the pool it inherits).

Both settings here apply only inside worker processes: a user's own process (``num_proc=1``, a notebook)
keeps its allocator and collector as they were.

Every process pool of the package also starts its workers with :func:`ignore_interrupts`; the
converters' pools hand out their shards with :func:`imap_largest_first`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 128 << 20


def _glibc_mallopt(param: int, value: int) -> bool:
    """``mallopt`` where the C library is glibc; False (and nothing changed) anywhere else."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(param, value))


def tune_worker_process() -> dict[str, bool]:
    """Apply both settings; returns which took effect (for tests and curiosity)."""
    done = {
        "mmap_threshold": _glibc_mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        "trim_threshold": _glibc_mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    }
    gc.freeze()
    done["gc_frozen"] = gc.get_freeze_count() > 0
    return done


def ignore_interrupts() -> None:
    """Pool initializer: Ctrl-C is the parent's to handle.

    The terminal sends SIGINT to the whole process group. Left alone, every worker raises
    KeyboardInterrupt and multiprocessing prints its traceback ("Process ForkPoolWorker-3: ...")
    above the command's one-line "interrupted". Ignored in the workers, the parent alone stops:
    leaving its ``with Pool`` terminates the workers, and its cleanup removes their temporary
    files (tests/test_media.py sends a real SIGINT to a converting process group).
    """
    _set_held(signal.SIGINT, signal.SIG_IGN)  # (held while it changes: see SIGTERM below)
    # SIGTERM stays the default (die): ``Pool.terminate`` stops workers with it, and it must not
    # raise in them. The default, not a Python handler: a Python handler's signal arriving just
    # before a worker blocks on the task queue's lock is recorded and never acted on (CPython checks
    # for signals before it blocks, not after), and the pool's terminate then waited forever (1 in
    # 12 runs of a test). SIGTERM is held at the kernel while the disposition changes: CPython runs
    # pending handlers and then installs the new one, and a SIGTERM arriving in between was recorded
    # by the parent's inherited handler and dropped once the handler was SIG_DFL, which hung a
    # SIGTERM'd conversion the same way (seen once). One recorded before this call is run by that
    # check (felt_hf.cli's handler exits at once in a forked worker).
    _set_held(signal.SIGTERM, signal.SIG_DFL)  # (one held meanwhile: dies as it is released)


def _set_held(sig: int, handler) -> None:
    """``signal.signal(sig, handler)`` with ``sig`` held at the kernel meanwhile, so one that
    arrives during the change is delivered to the new disposition, not recorded and dropped."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    try:
        signal.signal(sig, handler)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})


def imap_largest_first(
    pool, fn: Callable[[T], R], items: Sequence[T], size: Callable[[T], int]
) -> Iterator[tuple[int, R]]:
    """``(index, fn(item))`` for every item, computed by ``pool`` largest item first, so no worker
    is left with a long one at the end; the items are submitted at once (before the first result
    is asked for), and the results come back in that largest-first order with their indices."""
    order = sorted(range(len(items)), key=lambda i: -size(items[i]))
    return zip(order, pool.imap(fn, [items[i] for i in order]), strict=True)


__all__ = ["ignore_interrupts", "imap_largest_first", "tune_worker_process"]
