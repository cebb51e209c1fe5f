"""argparse value types shared by ``felt-hf`` and ``scripts/regenerate.py``.

A bad value is an option error before any work (argparse prints the usage and exits 2), never a
silent default: an empty actor list used to mean every actor, ``--num-proc 0`` ran anyway.
"""

from __future__ import annotations

import argparse

from .schema import NUM_ACTORS


def int_list(text: str) -> tuple[int, ...]:
    """``1-3,7`` -> (1, 2, 3, 7); a range written backwards (``5-1``) is a ValueError, not nothing."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            if hi < lo:
                raise ValueError(f"range {part!r} runs backwards")
            out.extend(range(lo, hi + 1))
        elif part.strip():
            out.append(int(part))
    return tuple(out)


def actor_list(text: str) -> list[int]:
    """``--actors 1-4,7``: RAVDESS actors, at least one, each in 1-24."""
    try:
        out = list(int_list(text))
    except ValueError as e:
        why = str(e) if "backwards" in str(e) else "expected actors such as 1-4,7"
        raise argparse.ArgumentTypeError(f"{text!r}: {why}") from None
    if not out:
        raise argparse.ArgumentTypeError(f"{text!r}: names no actor")
    bad = [a for a in out if not 1 <= a <= NUM_ACTORS]
    if bad:
        raise argparse.ArgumentTypeError(f"{text!r}: actor {bad[0]} is not in 1-{NUM_ACTORS}")
    return out


def _whole_number(text: str, minimum: int, expected: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = minimum - 1
    if n < minimum:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
    return n


def positive_int(text: str) -> int:
    """``--num-proc``, ``--batch-size``, ``--trials-per-actor``: a whole number, at least 1."""
    return _whole_number(text, 1, "a whole number, at least 1")


def seed_int(text: str) -> int:
    """``--seed``: a non-negative whole number (numpy's seeds are)."""
    return _whole_number(text, 0, "a non-negative whole number")


__all__ = ["actor_list", "int_list", "positive_int", "seed_int"]
