"""What a conversion's media turned out to be: frame rates, frame sizes, alignments, sample
rates, channels and audio sources, counted per media config.

Why: the card must state what the files are, not what FELT and RAVDESS are documented to be (a
44.1 kHz wav described as 48 kHz would be a silently wrong number), and media those projects would
not have produced deserve one warning per config, with a count and the first file, rather than
one line per file or none. Each file's own facts are its row's columns; these counts are their
summary, carried in the build summary (``ConfigSummary.media_facts``) to the card.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..schema import AUDIO_SAMPLE_RATE, VIDEO_FPS

# (fact, how a row's value of it is written): the facts counted per media config
VIDEO_FACTS: tuple[tuple[str, Callable[[dict], str]], ...] = (
    ("fps", lambda r: f"{r['fps']:g} fps"),
    ("frame_size", lambda r: f"{r['width']}x{r['height']}"),
    ("alignment", lambda r: r["alignment"]),
)
AUDIO_FACTS: tuple[tuple[str, Callable[[dict], str]], ...] = (
    ("sample_rate", lambda r: f"{r['sample_rate']} Hz"),
    ("channels", lambda r: f"{r['num_channels']} channel" + ("s" if r["num_channels"] != 1 else "")),
    ("audio_source", lambda r: r["audio_source"]),
)


def count_row(facts: dict[str, dict[str, int]], firsts: dict[str, str], row: dict, where: str) -> None:
    """Add one converted row's facts to ``facts`` (``{fact: {value: files}}``), keeping in
    ``firsts`` the first file (``archive:member``) per ``fact=value``."""
    table = AUDIO_FACTS if "audio" in row else VIDEO_FACTS
    for fact, how in table:
        value = how(row)
        counts = facts.setdefault(fact, {})
        counts[value] = counts.get(value, 0) + 1
        detail = where
        if fact == "alignment" and row.get("num_tracking_rows") is not None:
            detail = f"{where} ({row['num_video_frames']} frames for {row['num_tracking_rows']} CSV rows)"
        firsts.setdefault(f"{fact}={value}", detail)


def merge_facts(parts: Sequence) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """The counts of several shards (anything with ``facts`` and ``firsts``) summed, values sorted,
    and the first file per value in the shards' order (so the result does not depend on which
    worker wrote which shard)."""
    facts: dict[str, dict[str, int]] = {}
    firsts: dict[str, str] = {}
    for part in parts:
        for fact, counts in part.facts.items():
            into = facts.setdefault(fact, {})
            for value, n in counts.items():
                into[value] = into.get(value, 0) + n
        for key, where in part.firsts.items():
            firsts.setdefault(key, where)
    return {k: dict(sorted(v.items())) for k, v in facts.items()}, firsts


def media_notes(
    config: str, facts: dict[str, dict[str, int]], firsts: dict[str, str], titles_asked: bool = False
) -> list[str]:
    """Warnings for media that FELT or RAVDESS would not have produced: videos not at FELT's
    30 fps, frame counts that contradict the CSV rows where one frame per row was expected, audio
    not at RAVDESS's 48 kHz; and, where ``--au-titles`` was asked (``titles_asked``), the AU
    animations whose titles gave no map (the built-in sample's have none: the option had done
    nothing, without a word). Each is kept as it is (the columns hold each file's own facts) and
    said once per config, with a count and the first file, never silently."""
    notes = []
    total = sum(next(iter(facts.values()), {}).values())
    expected = {"fps": f"{VIDEO_FPS:g} fps", "sample_rate": f"{AUDIO_SAMPLE_RATE} Hz"}
    for fact, usual in expected.items():
        odd = {v: n for v, n in facts.get(fact, {}).items() if v != usual}
        if odd:
            first = next(iter(odd))
            whose = "FELT's videos" if fact == "fps" else "RAVDESS's audio"
            notes.append(f"{config}: {sum(odd.values())} of {total} file(s) at {', '.join(odd)}, not {usual} like "
                         f"{whose} (first: {firsts[f'{fact}={first}']}); kept as they are, `{fact}` holds each "
                         "file's own")  # fmt: skip
    n = facts.get("alignment", {}).get("count_mismatch", 0)
    if n:
        notes.append(f"{config}: {n} of {total} video(s) have a frame count that contradicts their trial's CSV rows "
                     f"(first: {firsts['alignment=count_mismatch']}); their `tracking_index` is left null (alignment "
                     "count_mismatch)")  # fmt: skip
    n = facts.get("alignment", {}).get("dropped_frames_unknown", 0)
    if titles_asked and n:
        notes.append(f"{config}: --au-titles read no increasing run of 'Frame N' titles in {n} of {total} AU "
                     f"animation(s) (first: {firsts['alignment=dropped_frames_unknown']}); their `tracking_index` "
                     "stays null (alignment dropped_frames_unknown)")  # fmt: skip
    return notes


__all__ = ["AUDIO_FACTS", "VIDEO_FACTS", "count_row", "media_notes", "merge_facts"]
