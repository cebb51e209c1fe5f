"""A real Ctrl-C for tests: SIGINT to a command's whole process group at a moment seen on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def sigint_when(cmd: list[str], ready: Callable[[], bool], *, reset: Callable[[], None], env: dict | None = None,
                tries: int = 5, sig: int = signal.SIGINT, group: bool = True) -> tuple[int, str] | None:  # fmt: skip
    """Run ``cmd`` in its own session and send SIGINT to its process group (as a terminal's Ctrl-C
    does, workers included) the first time ``ready()`` holds. ``reset()`` runs before each try.
    ``sig``/``group``: another signal, or to the command's process alone (as ``timeout`` sends
    SIGTERM). Returns (exit code, stderr), or None when every try finished before the moment was seen."""
    for _ in range(tries):
        reset()
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        sent = False
        while proc.poll() is None:
            if not sent and ready():
                (os.killpg if group else os.kill)(proc.pid, sig)
                sent = True
            time.sleep(0.001)
        err = proc.stderr.read()
        if sent:
            time.sleep(0.2)  # let the workers finish dying
            return proc.returncode, err
    return None
