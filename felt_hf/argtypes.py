"""argparse value types and parser shared by ``felt-hf`` and ``scripts/regenerate.py``, and the
library calls' check of the same counts (:func:`whole`).

A bad value is an option error before any work (one line, exit status 2), never a silent
default: an empty actor list used to mean every actor, ``--num-proc 0`` ran anyway.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from .schema import NUM_ACTORS


def whole(name: str, value, minimum: int = 1) -> int:
    """``value`` as a whole number of at least ``minimum`` (``True`` is not a count): the library
    calls' check of what the options check (``convert_felt(num_proc=-3)`` had run, ``'2'`` had
    failed in a comparison deep inside)."""
    from numbers import Integral

    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return int(value)


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line, like every other error of felt-hf:
    ``felt-hf: error: <what> (see `<prog> --help`)``, exit status 2. argparse's own prints the
    whole usage block first, two lines or more, before the line that says what is wrong.
    Subcommand parsers are of the same class (argparse makes them with the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"felt-hf: error: {message} (see `{self.prog} --help`)\n")


class BackwardsRangeError(ValueError):
    """A range such as ``5-1`` or ``1-99999999999``: an error of its own, so its message is kept."""


MAX_RANGE = 10_000  # far beyond any actor list; a longer range is a typo, not a list to build


def int_list(text: str) -> tuple[int, ...]:
    """``1-3,7`` -> (1, 2, 3, 7); a range written backwards (``5-1``) is an error, not nothing,
    and so is one of more than :data:`MAX_RANGE` numbers (``1-99999999999999999999`` had been an
    OverflowError traceback, and ``1-2000000000`` a list of tens of GB, before any bounds check)."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            if hi < lo:
                raise BackwardsRangeError(f"range {part!r} runs backwards")
            if hi - lo >= MAX_RANGE:
                raise BackwardsRangeError(f"range {part!r} is not a list of actors (more than {MAX_RANGE} numbers)")
            out.extend(range(lo, hi + 1))
        elif part.strip():
            out.append(int(part))
    return tuple(out)


def actor_list(text: str) -> list[int]:
    """``--actors 1-4,7``: RAVDESS actors, at least one, each in 1-24."""
    try:
        out = list(int_list(text))
    except BackwardsRangeError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected actors such as 1-4,7") from None
    if not out:
        raise argparse.ArgumentTypeError(f"{text!r}: names no actor")
    bad = [a for a in out if not 1 <= a <= NUM_ACTORS]
    if bad:
        raise argparse.ArgumentTypeError(f"{text!r}: actor {bad[0]} is not in 1-{NUM_ACTORS}")
    return out


def whole_number(text: str, minimum: int, expected: str) -> int:
    """An option's whole number of at least ``minimum``; ``expected`` says what is wanted, in the
    one-line error (the option types below, and the scripts' own, are made of it)."""
    try:
        n = int(text)
    except ValueError:
        n = minimum - 1
    if n < minimum:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
    return n


def positive_int(text: str) -> int:
    """``--num-proc``, ``--batch-size``, ``--trials-per-actor``: a whole number, at least 1."""
    return whole_number(text, 1, "a whole number, at least 1")


def sample_count(text: str) -> int:
    """``verify --sample``: a whole number from 1, or ``all`` (every trial, every media cell decoded
    whole). A number beyond ``sys.maxsize`` is ``all`` too: passed on, it overflowed numpy's C long
    and verify reported good shards as unreadable."""
    if text.strip().lower() == "all":
        return sys.maxsize
    return min(whole_number(text, 1, "a whole number, at least 1, or all"), sys.maxsize)


def seed_int(text: str) -> int:
    """``--seed``: a non-negative whole number (numpy's seeds are)."""
    return whole_number(text, 0, "a non-negative whole number")


def folder_path(text: str) -> str:
    """``--out``: a path with something in it; an empty one meant the current folder, unasked."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a folder path (use . for the current folder)")
    return text


def input_path(text: str) -> str:
    """A command's input path (a folder, an archive, one CSV; ``regenerate --videos``): an empty one
    had meant the current folder, unasked (``convert ''`` converted whatever lay below it,
    ``--videos ""`` scanned it), while ``--out ""`` was refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a path (use . for the current folder)")
    return text


def file_path(text: str) -> str:
    """A file to write (``verify --json``): an empty one had silently written no report."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a file path")
    return text


_DEVICE = re.compile(r"cpu|cuda|cuda:\d+|mps|auto")


def torch_device(text: str) -> str:
    """``--device``: what Py-Feat 0.6.2 takes (``cpu``, ``cuda``, ``mps``, ``auto``) or ``cuda:N``
    (regenerate maps it to ``torch.cuda.set_device``). Checked here because the stand-in backend
    never hands it to torch, and ``cuda:x`` used to fail inside the run."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: expected cpu, cuda, cuda:N, mps or auto")
    return text


__all__ = [
    "BackwardsRangeError",
    "OneLineParser",
    "actor_list",
    "file_path",
    "folder_path",
    "input_path",
    "int_list",
    "positive_int",
    "sample_count",
    "seed_int",
    "torch_device",
    "whole_number",
    "whole",
]
