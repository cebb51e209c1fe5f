"""When felt-hf draws progress bars: one rule for every command.

Bars only where stderr is a terminal. In a log or a pipe a bar is noise, and it stood before an
error line, so a user error was no longer the one line on stderr (``felt-hf: error: ...``).
``--no-progress`` turns them off on a terminal too. The tqdm bars follow it through
``disable=not bars_wanted(progress)``; ``datasets``' bars and Py-Feat's own are switched by it too.
"""

from __future__ import annotations

import sys


def bars_wanted(progress: bool) -> bool:
    """Whether to draw progress bars: asked for (no ``--no-progress``) and stderr is a terminal."""
    return bool(progress) and sys.stderr.isatty()


__all__ = ["bars_wanted"]
