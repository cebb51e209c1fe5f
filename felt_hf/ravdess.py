"""RAVDESS trial names (``MM-VV-EE-II-SS-RR-AA``): parsing, validation, the full list, splits.

FELT names every CSV after its RAVDESS video, so the file name is the only place the labels
live. Parsing is strict: a name that RAVDESS could not have produced (a song with disgust, a
strong neutral, a song by actor 18) is an error, because it means a mislabelled file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral
from pathlib import PurePosixPath, PureWindowsPath

from .errors import FeltNameError
from .schema import (
    ACTORS_WITHOUT_SONG,
    DEFAULT_SPLIT_ACTORS,
    EMOTIONS,
    INTENSITIES,
    NUM_ACTORS,
    SEXES,
    SONG_EMOTIONS,
    SPLIT_NAMES,
    STATEMENTS,
    VOCAL_CHANNELS,
)

_ID_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


@dataclass(frozen=True)
class TrialLabels:
    """The labels encoded in one RAVDESS file name; string fields use the schema's names."""

    trial_id: str
    modality: int
    vocal_channel: str
    emotion: str
    intensity: str
    statement: str
    repetition: int
    actor: int
    sex: str

    def as_row(self) -> dict:
        """The label columns of a trial row (ClassLabels given by name)."""
        return {
            "trial_id": self.trial_id,
            "vocal_channel": self.vocal_channel,
            "emotion": self.emotion,
            "intensity": self.intensity,
            "statement": self.statement,
            "repetition": self.repetition,
            "actor": self.actor,
            "sex": self.sex,
        }


def trial_id_from_filename(name: str) -> str:
    """``Actor_01/01-01-03-02-01-01-01.csv`` (any separators, any depth) -> the bare id."""
    base = PureWindowsPath(PurePosixPath(name).name).name
    return base.rsplit(".", 1)[0] if "." in base else base


def parse_trial_id(name: str, *, modalities: tuple[int, ...] = (1,)) -> TrialLabels:
    """Parse and validate a RAVDESS name (a bare id or a file name/path).

    FELT tracked only full-AV files, so modality must be 01 unless ``modalities`` says otherwise.
    """
    trial_id = trial_id_from_filename(name)
    m = _ID_RE.match(trial_id)
    if not m:
        raise FeltNameError(
            f"{name}: not a RAVDESS trial name (expected MM-VV-EE-II-SS-RR-AA, e.g. 01-01-03-02-01-01-12)"
        )
    mm, vv, ee, ii, ss, rr, aa = (int(g) for g in m.groups())

    def bad(why: str) -> FeltNameError:
        return FeltNameError(f"{name}: invalid RAVDESS trial name: {why}")

    if mm not in modalities:
        raise bad(f"modality {mm:02d} (FELT tracks full-AV trials, modality 01)")
    if not 1 <= vv <= len(VOCAL_CHANNELS):
        raise bad(f"vocal channel {vv:02d} (01 speech, 02 song)")
    if not 1 <= ee <= len(EMOTIONS):
        raise bad(f"emotion {ee:02d} (01-08)")
    if not 1 <= ii <= len(INTENSITIES):
        raise bad(f"intensity {ii:02d} (01 normal, 02 strong)")
    if not 1 <= ss <= len(STATEMENTS):
        raise bad(f"statement {ss:02d} (01 or 02)")
    if rr not in (1, 2):
        raise bad(f"repetition {rr:02d} (01 or 02)")
    if not 1 <= aa <= NUM_ACTORS:
        raise bad(f"actor {aa:02d} (01-24)")
    channel, emotion = VOCAL_CHANNELS[vv - 1], EMOTIONS[ee - 1]
    if emotion == "neutral" and ii == 2:
        raise bad("neutral has no strong intensity")
    if channel == "song" and emotion not in SONG_EMOTIONS:
        raise bad(f"song has no {emotion}")
    if channel == "song" and aa in ACTORS_WITHOUT_SONG:
        raise bad(f"actor {aa} recorded no song")
    return TrialLabels(
        trial_id=trial_id,
        modality=mm,
        vocal_channel=channel,
        emotion=emotion,
        intensity=INTENSITIES[ii - 1],
        statement=STATEMENTS[ss - 1],
        repetition=rr,
        actor=aa,
        sex=SEXES[(aa + 1) % 2],
    )


def expected_trial_ids(channel: str | None = None, actors: tuple[int, ...] | None = None) -> list[str]:
    """Every full-AV trial id FELT tracked (2452 in all), sorted; optionally one channel/actors."""
    channels = VOCAL_CHANNELS if channel is None else (channel,)
    ids = []
    for ch in channels:
        vv = VOCAL_CHANNELS.index(ch) + 1
        emotions = EMOTIONS if ch == "speech" else SONG_EMOTIONS
        for aa in actors or range(1, NUM_ACTORS + 1):
            if ch == "song" and aa in ACTORS_WITHOUT_SONG:
                continue
            for emo in emotions:
                ee = EMOTIONS.index(emo) + 1
                for ii in (1,) if emo == "neutral" else (1, 2):
                    for ss in (1, 2):
                        for rr in (1, 2):
                            ids.append(f"01-{vv:02d}-{ee:02d}-{ii:02d}-{ss:02d}-{rr:02d}-{aa:02d}")
    return sorted(ids)


def validate_split_actors(split_actors: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Check a split rule is actor-disjoint and names known splits/actors; returns it normalised."""
    if not isinstance(split_actors, Mapping):
        raise ValueError(f"split_actors must map split names to actors, e.g. {{'train': range(1, 19)}}; "
                         f"got a {type(split_actors).__name__}")  # fmt: skip
    seen: dict[int, str] = {}
    out = {}
    for split, actors in split_actors.items():
        if not isinstance(split, str) or not split or not split.replace("_", "").isalnum():
            raise ValueError(f"bad split name {split!r}: letters, digits and _ only (it names shard files and "
                             "load_dataset's split)")  # fmt: skip
        if split == "all":  # datasets' keyword for every split at once: load_dataset refuses it as a name
            raise ValueError("bad split name 'all': datasets reserves it for all splits together")
        twin = next((s for s in out if s.lower() == split.lower()), None)
        if twin is not None:  # their shards (Train-00000-..., train-00000-...) are one file on macOS/Windows
            raise ValueError(f"split names {twin!r} and {split!r} differ only in case: their shard files would "
                             "collide on case-insensitive file systems")  # fmt: skip
        if isinstance(actors, (str, bytes)) or not isinstance(actors, Iterable):
            raise ValueError(f"split {split!r}: actors must be whole numbers (e.g. range(1, 19)), not {actors!r}")
        actors = tuple(actors)  # (a generator is read once: the checks below and the result see the same)
        if any(isinstance(a, bool) or not isinstance(a, Integral) for a in actors):
            raise ValueError(f"split {split!r}: actors must be whole numbers, not {list(actors)!r}")
        for a in actors:
            if not 1 <= int(a) <= NUM_ACTORS:
                raise ValueError(f"split {split!r}: actor {a} is not in 1-{NUM_ACTORS}")
            if int(a) in seen and seen[int(a)] == split:
                raise ValueError(f"split {split!r} names actor {a} twice")
            if int(a) in seen:
                raise ValueError(f"actor {a} is in both {seen[int(a)]!r} and {split!r}: splits must be actor-disjoint")
            seen[int(a)] = split
        out[split] = tuple(sorted(int(a) for a in actors))
    return out


def actor_ranges(actors: Iterable[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7" (for messages)."""
    runs: list[list[int]] = []
    for a in sorted(actors):
        if runs and a == runs[-1][-1] + 1:
            runs[-1].append(a)
        else:
            runs.append([a])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def split_rule_text(split_actors: Mapping[str, Iterable[int]]) -> str:
    """``{"train": (1, 2, 3)}`` -> ``train=1-3`` (as --split-actors spells it)."""
    return " ".join(f"{split}={actor_ranges(actors) or 'none'}" for split, actors in split_actors.items())


def split_of_actor(actor: int, split_actors: dict[str, tuple[int, ...]] = DEFAULT_SPLIT_ACTORS) -> str | None:
    """Which split an actor belongs to, or None if the rule leaves the actor out."""
    for split, actors in split_actors.items():
        if actor in actors:
            return split
    return None


__all__ = [
    "actor_ranges",
    "split_rule_text",
    "TrialLabels",
    "parse_trial_id",
    "trial_id_from_filename",
    "expected_trial_ids",
    "validate_split_actors",
    "split_of_actor",
    "SPLIT_NAMES",
]
