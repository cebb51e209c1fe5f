"""Synthetic trials: the model's faces assembled into Py-Feat rows (identities, no-face and
two-face frames, FELT's four CSV layouts), and which trials a sample holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from ..inputs.csv_writer import approx_time_text, felt_csv_bytes
from ..inputs.smoothing import forward_fill, smooth_columns
from ..ravdess import TrialLabels, expected_trial_ids, parse_trial_id
from ..schema import (
    ACTORS_WITHOUT_SONG,
    APPROX_TIME_COLUMN,
    EMOTIONS,
    FRAME_COLUMN,
    IDENTITY_LABEL_COLUMN,
    INPUT_COLUMN,
    PYFEAT_DATA_COLUMNS,
    VARIANTS,
    VOCAL_CHANNELS,
)
from .motion import (
    _EMB,
    _NUMERIC_COLUMNS,
    _SCORE,
    _actor,
    _check_seed,
    _main_face,
    _Plan,
    _plan,
    _second_face,
)

INPUT_ROOT = "C:\\Users\\lab\\Documents\\RAVDESS"


# --- rows, identities, layouts -----------------------------------------------------------------------
def _detector_rows(plan: _Plan, main: np.ndarray, second: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Py-Feat's rows: NaN for a no-face frame, two rows (score order) for a two-face frame."""
    no_face, two_face = set(plan.no_face_frames), set(plan.two_face_frames)
    rows, frames = [], []
    nan_row = np.full(main.shape[1], np.nan)
    for f in range(plan.num_frames):
        if f in no_face:
            faces = [nan_row]
        elif f in two_face and second is not None:
            faces = sorted((main[f], second[f]), key=lambda r: -r[_SCORE])
        else:
            faces = [main[f]]
        rows.extend(faces)
        frames.extend([f] * len(faces))
    return np.vstack(rows), np.asarray(frames, dtype=np.int64)


def _identity_labels(embeddings: np.ndarray, threshold: float = 0.8) -> list[str]:
    """Py-Feat's ``cluster_identities``: cosine similarity > 0.8 links rows, clusters named by first row.

    A NaN row (no face) links to nothing, not even itself, so it gets a fresh ``Person_N``.
    """
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        adjacency = (unit @ unit.T) > threshold
    _, comp = connected_components(adjacency, directed=False)
    _, first = np.unique(comp, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return [f"Person_{r}" for r in rank[comp]]


def _source_video(labels: TrialLabels) -> str:
    """Where the video sat on the producing (Windows) machine: the RAVDESS download's own folders."""
    kind = "Speech" if labels.vocal_channel == "speech" else "Song"
    actor = f"Actor_{labels.actor:02d}"
    return f"{INPUT_ROOT}\\Video_{kind}_{actor}\\{actor}\\{labels.trial_id}.mp4"


def _columns(values: np.ndarray, frames: np.ndarray, identities: list[str], source: str) -> dict:
    """``{PYFEAT_DATA_COLUMNS name: per-row values}`` as :func:`felt_csv_bytes` takes them."""
    cols = np.ascontiguousarray(values.T)
    out: dict = {name: cols[i] for i, name in enumerate(_NUMERIC_COLUMNS)}
    out[IDENTITY_LABEL_COLUMN] = list(identities)
    out[INPUT_COLUMN] = [source] * len(frames)
    out[FRAME_COLUMN] = frames
    out[APPROX_TIME_COLUMN] = approx_time_text(frames)
    return {name: out[name] for name in PYFEAT_DATA_COLUMNS}


@dataclass(frozen=True, eq=False)
class SynthTrial:
    """One generated trial, both as FELT wrote it (raw, smoothed) and with its quirks spelled out.

    ``raw_columns`` are the values of the raw file (forward-filled where FELT re-saved it);
    ``no_face_frames`` etc. say what the detector saw, so tests can check a reader recovers it.
    """

    trial_id: str
    raw_columns: dict
    smoothed_columns: dict
    raw_layout: str
    smoothed_layout: str
    num_frames: int
    no_face_frames: tuple[int, ...]
    two_face_frames: tuple[int, ...]
    leading_no_face: int

    @property
    def labels(self) -> TrialLabels:
        return parse_trial_id(self.trial_id)

    @property
    def num_rows(self) -> int:
        return len(self.raw_columns[FRAME_COLUMN])

    @property
    def has_no_face(self) -> bool:
        return bool(self.no_face_frames)

    @property
    def has_two_faces(self) -> bool:
        return bool(self.two_face_frames)

    def raw_csv(self) -> bytes:
        return felt_csv_bytes(self.raw_columns, self.raw_layout)

    def smoothed_csv(self) -> bytes:
        return felt_csv_bytes(self.smoothed_columns, self.smoothed_layout)

    def csv(self, variant: str) -> bytes:
        """The file of one archive variant, ``raw`` or ``smoothed``."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
        return self.raw_csv() if variant == "raw" else self.smoothed_csv()


def make_trial(trial_id: str, *, seed: int = 0, num_frames: int | None = None) -> SynthTrial:
    """Generate one trial from ``(seed, trial_id)`` alone (and the actor's traits from ``(seed, actor)``).

    Trials with any no-face frame were forward-filled and re-saved by FELT (``raw_resaved`` and
    ``smoothed_resaved`` layouts); leading no-face rows stay NaN there, and smoothing turns every
    filtered column of such a trial into NaN, exactly as FELT's script did.
    """
    plan = _plan(trial_id, seed, num_frames)
    actor = _actor(seed, plan.labels.actor)
    main = _main_face(plan, actor, seed)
    second = _second_face(plan, seed) if plan.two_face_frames else None
    detected, frames = _detector_rows(plan, main, second)
    identities = _identity_labels(detected[:, _EMB])
    source = _source_video(plan.labels)
    resaved = bool(plan.no_face_frames)
    raw_values = forward_fill(detected) if resaved else detected
    raw = _columns(raw_values, frames, identities, source)
    smoothed = smooth_columns(raw, name=trial_id)
    return SynthTrial(
        trial_id=plan.labels.trial_id,
        raw_columns=raw,
        smoothed_columns=smoothed,
        raw_layout="raw_resaved" if resaved else "raw",
        smoothed_layout="smoothed_resaved" if resaved else "smoothed",
        num_frames=plan.num_frames,
        no_face_frames=plan.no_face_frames,
        two_face_frames=plan.two_face_frames,
        leading_no_face=plan.leading_no_face,
    )


# --- which trials -------------------------------------------------------------------------------------
def select_trials(channel: str, actor: int, trials_per_actor: int | None, *, seed: int = 0) -> list[str]:
    """The trials of one actor and channel to generate, sorted.

    ``None`` means all of them. Otherwise a deterministic subset: one trial of each quirk the actor
    has (leading no-face, no-face stretch, two-face frames) so small samples still exercise readers,
    then emotions in turn (shuffled per actor) so the subset covers as many emotions as it can.
    """
    if channel not in VOCAL_CHANNELS:
        raise ValueError(f"unknown vocal channel {channel!r}; expected one of {VOCAL_CHANNELS}")
    if channel == "song" and actor in ACTORS_WITHOUT_SONG:
        return []
    ids = expected_trial_ids(channel, (actor,))
    if trials_per_actor is None or trials_per_actor >= len(ids):
        return ids
    if trials_per_actor < 0:
        raise ValueError(f"trials_per_actor must be >= 0, not {trials_per_actor}")
    plans = [_plan(i, seed) for i in ids]
    picked: list[str] = []
    for has_quirk in (
        lambda p: p.leading_no_face > 0,
        lambda p: len(p.no_face_frames) > p.leading_no_face,
        lambda p: bool(p.two_face_frames),
    ):
        hit = next((p.labels.trial_id for p in plans if has_quirk(p) and p.labels.trial_id not in picked), None)
        if hit is not None and len(picked) < trials_per_actor // 2:
            picked.append(hit)
    rng = np.random.default_rng([_check_seed(seed), 3, actor, VOCAL_CHANNELS.index(channel)])
    by_emotion: dict[str, list[str]] = {}
    for i in rng.permutation(len(ids)):
        by_emotion.setdefault(parse_trial_id(ids[i]).emotion, []).append(ids[i])
    order = [EMOTIONS[i] for i in rng.permutation(len(EMOTIONS)) if EMOTIONS[i] in by_emotion]
    covered = {parse_trial_id(i).emotion for i in picked}
    order = [e for e in order if e not in covered] + [e for e in order if e in covered]
    while len(picked) < trials_per_actor:
        for emotion in order:
            rest = [i for i in by_emotion[emotion] if i not in picked]
            if rest and len(picked) < trials_per_actor:
                picked.append(rest[0])
    return sorted(picked)


def _trial_list(channel: str, actors: Sequence[int], trials_per_actor: int | None, seed: int) -> list[str]:
    """All trials of a channel in archive order (actor folder, then id)."""
    out: list[str] = []
    for actor in sorted(actors):
        out.extend(select_trials(channel, actor, trials_per_actor, seed=seed))
    return out
