"""Argument checks shared by the training helpers: a wrong value is one clear ``ValueError``
naming the argument, raised when the helper is built, not a ``TypeError`` from numpy or torch at
the first batch, nor a silent loss (a negative shuffle buffer once yielded one trial of four)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Integral
from typing import Any

from ..argtypes import whole  # (one check of counts for the library's calls)

SEED_LIMIT = 2**63  # numpy's SeedSequence takes any non-negative int, torch's int64 epoch counter fewer


def seed_number(name: str, value: Any) -> int:
    """A random seed or epoch: a whole number in ``[0, 2**63)``. A negative or fractional one had
    failed only at the first row, inside a DataLoader worker, in numpy's words (``set_epoch(1.7)``
    silently became epoch 1)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name} must be a whole number in [0, 2**63), not {value!r}")
    return int(value)


def rank_in(rank: Any, world_size: Any) -> tuple[int, int]:
    """A DDP ``rank`` of ``world_size`` ranks, both whole numbers, ``0 <= rank < world_size``."""
    world_size = whole("world_size", world_size, 1)
    rank = whole("rank", rank, 0)
    if rank >= world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    return rank, world_size


def column_names(what: str, names: Any) -> tuple[str, ...]:
    """A list of column names, each once; a bare string would be iterated letter by letter, and a
    name given twice made the collator twice as wide while its layout named one slice."""
    if isinstance(names, str):
        raise ValueError(f"{what} must be a list of column names, e.g. [{names!r}], not a string")
    if isinstance(names, (bytes, Mapping)) or not isinstance(names, Iterable):
        raise ValueError(f"{what} must be a list of column names, not {names!r}")
    out = tuple(names)
    bad = next((n for n in out if not isinstance(n, str)), None)
    if bad is not None:
        raise ValueError(f"{what} must be a list of column names, not a list holding {bad!r}")
    twice = next((n for i, n in enumerate(out) if n in out[:i]), None)
    if twice is not None:
        raise ValueError(f"{what} lists {twice!r} twice")
    return out


__all__ = ["whole", "rank_in", "column_names", "seed_number"]
