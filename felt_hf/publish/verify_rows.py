"""``felt-hf verify``'s ``rows`` check: every tracking row agrees with itself.

A row carries facts twice: its labels are also spelled by its ``trial_id``, and its per-frame
index columns (``frame``, ``time_s``, ``num_faces``) by ``num_frames`` and each other. An edited
or foreign shard with a wrong training target (emotion 5 for a trial whose id says 4, actor 99)
or shifted times had passed ``verify --sample all``; a ``num_frames`` that disagreed with the
arrays had crashed the media check. The small columns are read for *every* row (about 1% of a
shard's bytes), so no sample size hides a row; the large per-frame arrays' lengths are checked on
the rows ``stats`` re-reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import schema
from ..errors import FeltError
from ..parquet_reads import read_table
from ..ravdess import parse_trial_id

INDEX_COLUMNS = ("num_frames", "frame", "time_s", "num_faces")
MAX_FACES = 2  # FELT keeps one face per frame; a two-face frame is counted 2 (schema: num_faces)


def check_rows(report, root: Path, configs: dict, footers: dict) -> None:
    """Add the ``rows`` line: per tracking row, labels against ``trial_id`` and the config's
    channel, ``frame``/``time_s``/``num_faces`` against ``num_frames``, each other and (raw
    configs) the no-face rows; across rows, no trial twice in a config and no actor in two splits
    (the card promises actor-disjoint splits; a shard copied into another split's files broke that
    unseen). One problem per shard at most (the first row), every shard read."""
    problems, rows = [], 0
    places = _Places()
    for name in configs:
        if name not in schema.CONFIG_NAMES:
            continue
        _, channel = schema.config_parts(name)
        for split, got in footers.get(name, {}).items():
            for rel, footer in got:
                if not footer.get("schema_ok", True):
                    continue  # the features check failed this file already
                try:
                    first = _first_problem(root / rel, rel, name, split, channel, places)
                except Exception as e:  # pyarrow raises several types for a damaged file
                    first = f"{rel}: unreadable: {type(e).__name__}: {e}"
                if first:
                    problems.append(first)
                rows += footer.get("num_rows", 0)
    if not rows and not problems:
        return
    report.add("rows", "fail" if problems else "pass",
               f"{len(problems)} problem(s): {problems[0]}" if problems else
               f"{rows} tracking row(s): labels equal their trial ids; frame, time_s and num_faces agree with "
               "num_frames; no trial twice in a config, no actor in two splits", problems)  # fmt: skip


class _Places:
    """Where each (config, trial) and each actor's split were first seen, over the whole folder."""

    def __init__(self) -> None:
        self.trials: dict[tuple[str, str], str] = {}
        self.actors: dict[int, tuple[str, str]] = {}

    def problem(self, where: str, config: str, split: str, trial_id, actor) -> str | None:
        if isinstance(trial_id, str):
            earlier = self.trials.setdefault((config, trial_id), where)
            if earlier != where:
                return (
                    f"{where}, column 'trial_id': {trial_id} again (first at {earlier}); a trial is one row of a config"
                )
        if isinstance(actor, int):
            first_split, earlier = self.actors.setdefault(actor, (split, where))
            if first_split != split:
                return (f"{where}, column 'actor': actor {actor} in split {split!r}, and in split {first_split!r} at "
                        f"{earlier}; splits are actor-disjoint")  # fmt: skip
        return None


def _first_problem(path: Path, rel: str, config: str, split: str, channel: str, places: _Places) -> str | None:
    raw = config.startswith("raw")
    columns = [*schema.LABEL_COLUMNS, *INDEX_COLUMNS, *(("face_score",) if raw else ())]
    table = read_table(path, columns=columns)
    values = {c: table.column(c).to_pylist() for c in schema.LABEL_COLUMNS + ("num_frames",)}
    lists = {c: table.column(c) for c in INDEX_COLUMNS[1:] + (("face_score",) if raw else ())}
    for i in range(table.num_rows):
        where = f"{rel} row {i}"
        problem = label_problem(where, {c: values[c][i] for c in schema.LABEL_COLUMNS}, channel)
        problem = problem or _index_problem(where, values["num_frames"][i], {c: v[i] for c, v in lists.items()})
        problem = problem or places.problem(where, config, split, values["trial_id"][i], values["actor"][i])
        if problem:
            return problem
    return None


def label_problem(where: str, labels: dict, channel: str | None = None) -> str | None:
    """The first label cell (``trial_id`` included; ClassLabels as ints or names) that is not what
    the row's ``trial_id`` says, and, given ``channel``, a trial of the other vocal channel; shared
    with the media rows' check (:mod:`felt_hf.publish.verify_media`)."""
    tid = labels["trial_id"]
    try:
        want = parse_trial_id(tid).as_row() if isinstance(tid, str) else None
    except (FeltError, ValueError) as e:
        return f"{where}, column 'trial_id': {e}"
    if want is None:
        return f"{where}, column 'trial_id': {tid!r} is not a RAVDESS trial id"
    if channel is not None and want["vocal_channel"] != channel:
        return f"{where}, column 'trial_id': {tid} is a {want['vocal_channel']} trial in a {channel} config"
    for column, value in labels.items():
        names = schema.CLASS_LABELS.get(column)
        if names is not None and isinstance(value, int) and 0 <= value < len(names):
            value = names[value]
        if value != want[column]:
            return f"{where}, column {column!r}: {value!r}, the trial id {tid} says {want[column]!r}"
    return None


def _index_problem(where: str, num_frames, cells: dict) -> str | None:
    if num_frames is None:
        return f"{where}, column 'num_frames': null"
    arrays = {}
    for column, cell in cells.items():
        arr = cell.values.to_numpy(zero_copy_only=False) if cell.is_valid else None
        if arr is None:
            return f"{where}, column {column!r}: null"
        if len(arr) != num_frames:
            return f"{where}, column {column!r}: {len(arr)} value(s), num_frames says {num_frames}"
        arrays[column] = arr
    frame, time_s, faces = arrays["frame"], arrays["time_s"], arrays["num_faces"]
    if len(frame) and (frame[0] < 0 or np.any(np.diff(frame.astype(np.int64)) <= 0)):
        at = 0 if frame[0] < 0 else int(np.flatnonzero(np.diff(frame.astype(np.int64)) <= 0)[0]) + 1
        return (
            f"{where}, column 'frame', frame index {at}: {int(frame[at])} (frame numbers start at 0 or more and rise)"
        )
    want = (frame.astype(np.float64) / schema.FPS).astype(np.float32)
    bad = np.flatnonzero(time_s.astype(np.float32) != want)
    if bad.size:
        at = int(bad[0])
        return (f"{where}, column 'time_s', frame index {at}: {float(time_s[at])!r}, frame {int(frame[at])} / "
                f"{schema.FPS} is {float(want[at])!r}")  # fmt: skip
    bad = np.flatnonzero(faces > MAX_FACES)
    if bad.size:
        return f"{where}, column 'num_faces', frame index {int(bad[0])}: {int(faces[bad[0]])} (0, 1 or 2)"
    if "face_score" in arrays:  # raw: a frame without a face is NaN throughout, and only such a frame
        bad = np.flatnonzero((faces == 0) != np.isnan(arrays["face_score"]))
        if bad.size:
            at = int(bad[0])
            return (f"{where}, column 'num_faces', frame index {at}: {int(faces[at])} but face_score is "
                    f"{float(arrays['face_score'][at])!r} (0 exactly where no face was found)")  # fmt: skip
    return None


__all__ = ["check_rows", "label_problem"]
