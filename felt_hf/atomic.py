"""Whole-or-absent file writes, shared by every module that publishes a file.

A reader (``datasets``' globs, a resumed run, a push) must never see half a file under its final
name, so each write goes to a hidden, uniquely named sibling and is renamed into place.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def temp_name(path: Path) -> Path:
    """A hidden sibling that no ``*.csv`` / ``*.parquet`` / ``*.json`` glob picks up."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temporary sibling, fsync, then ``os.replace``: the final name is whole or absent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
