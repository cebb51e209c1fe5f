"""The ``--skip-bad`` rule both converters share: a config whose every input was skipped is an
error, not a config written with exit status 0.

Why one place: the tracking converter (a config of no rows) and the media converter (a config of
empty cells) would otherwise each spell the rule and its message; ``verify`` would pass either
folder, since nothing in it contradicts itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import FeltError


def skip_entry(config: str | None, trial_id: str | None, archive: str | None, member: str | None, error: str,
               kept: str | None = None) -> dict:  # fmt: skip
    """One entry of ``skipped_trials.json``, the same keys for tracking and media whatever went
    wrong (tracking entries had lacked ``config`` and ``trial_id``): ``config`` and ``trial_id`` are
    null where the file's name says neither, ``archive`` and ``member`` where no file was found.

    ``kept``: for a second copy of a trial set aside under ``--skip-bad``, where the copy that was
    converted is. Such an entry loses no data, so it is listed apart (:func:`split_set_aside`)."""
    entry = {"config": config, "trial_id": trial_id, "archive": archive, "member": member, "error": error}
    return entry if kept is None else entry | {"kept": kept}


def split_set_aside(entries: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """``(skipped, set_aside)``: files whose trial (or media cell) is missing from the build, and
    second copies of a trial whose first copy was converted. A second copy whose kept copy was
    itself skipped (unreadable) is a skipped file: its trial is missing, and the card had said "no
    data is missing" of it. Counted together, a video zip also
    extracted beside itself had made the card say "36 input file(s) could not be converted and
    were skipped" of a build in which no cell was empty."""
    skipped = [e for e in entries if "kept" not in e]
    lost = {(e["config"], e["trial_id"]) for e in skipped}
    set_aside = []
    for e in entries:
        if "kept" not in e:
            continue
        if (e["config"], e["trial_id"]) in lost:  # the copy kept was unreadable: the trial is missing
            kept = e["kept"]
            e = {k: v for k, v in e.items() if k != "kept"}
            e["error"] += (
                f"; the copy kept ({kept}) could not be read, so the trial is missing (this copy was not tried)"
            )
            skipped.append(e)
        else:
            set_aside.append(e)
    return skipped, set_aside


def compare_copies(kept, others: Sequence) -> tuple[str | None, dict[str, str]]:
    """``(where the first of others that differs from kept is, or None; {where: read error} of the
    others that cannot be read)``: second copies of one trial (readers' members) against the first.

    Why: under ``--skip-bad`` a second copy is set aside and the card says no data is missing for
    it. That is true only of an identical copy: two different copies had been resolved by their
    order in the zip, the first converted without a word, and an unreadable copy had been called
    "the same file" unread. Copies are rare, so reading them here, before any work, costs nothing
    a normal download pays. An unreadable kept copy is left to the conversion (it is skipped there,
    its other copies with it)."""
    from ..errors import FeltError
    from ..inputs.sources import MemberReader

    reader = MemberReader()
    try:
        try:
            data = reader.read_bytes(kept)
        except FeltError:
            return None, {}
        unreadable: dict[str, str] = {}
        for other in others:
            try:
                if reader.read_bytes(other) != data:
                    return other.where(), unreadable
            except FeltError as e:
                unreadable[other.where()] = str(e)
        return None, unreadable
    finally:
        reader.close()


def unreadable_copy_error(error: str, kept: str) -> str:
    """Why a second copy that cannot be read is listed as skipped, not set aside (the trial itself
    is converted from ``kept``)."""
    return f"{error}; a second copy of a trial that could not be read to compare with the copy converted ({kept})"


def differing_copies_error(trial_id: str, kept: str, other: str) -> str:
    """Why a trial with two different copies is not converted (each copy's skip entry says it)."""
    return (f"trial {trial_id} has copies that differ ({kept} and {other}); which one is the trial cannot be "
            "told, so none is converted")  # fmt: skip


def emptied_split_note(config: str, split: str) -> str:
    """The warning (and card line) for a split whose every trial was skipped; the card also
    recognises it by this text, to say why the split is missing (not "none of its actors' trials
    was in the input", which was false of it)."""
    return f"{config}: every trial of split {split} was skipped (--skip-bad); the split is left out"


def trial_id_of(member: str) -> str | None:
    """The RAVDESS trial id a member's file name spells, or None (a badly named file)."""
    from pathlib import PurePosixPath

    from ..ravdess import parse_trial_id

    try:
        return parse_trial_id(PurePosixPath(member).stem).trial_id
    except (FeltError, ValueError):
        return None


def refuse_all_skipped(kept: Mapping[str, int], skipped: Mapping[str, Sequence[dict]], what: str) -> None:
    """Raise for the first config with skipped entries and nothing ``kept``.

    ``what`` says what was lost, after "every": ``"trial of {config} is unreadable"``. The error
    names the first skipped entry's archive and member (where it has one) and its error.
    """
    for config, entries in skipped.items():
        if entries and kept.get(config, 0) == 0:
            first = entries[0]
            where = f"{first['archive']}:{first['member']}: " if first.get("member") else ""
            if where and first["error"].startswith(where[:-2]):  # (an error that names its file already:
                where = ""  # "archive:member, row 0: ..." had been printed after the same name)
            raise FeltError(f"every {what.format(config=config)} ({len(entries)} skipped; the first, "
                            f"{where}{first['error']}); nothing was written")  # fmt: skip


__all__ = [
    "differing_copies_error",
    "compare_copies",
    "emptied_split_note",
    "unreadable_copy_error",
    "refuse_all_skipped",
    "skip_entry",
    "split_set_aside",
    "trial_id_of",
]
