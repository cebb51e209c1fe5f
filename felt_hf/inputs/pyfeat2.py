"""Reading current Py-Feat (2.x, ``Detectorv2``) output into the same trial rows as FELT's.

A user who tracked with today's Py-Feat gets a CSV of 2183 columns (Py-Feat v2.0.3,
``feat/detector_v2.py`` + ``feat/multitask``), in this order: ``FaceRectX..FaceScore``,
``x_0..x_67, y_0..y_67``, ``Pitch Roll Yaw X Y Z``, the same 20 AUs as FELT, the emotions
``Neutral Happy Sad Surprise Fear Disgust Anger``, ``valence arousal``, ``gaze_pitch gaze_yaw
gaze_angle``, ``Identity_1..Identity_512`` (ArcFace), ``mesh_x_0..mesh_z_477`` (MediaPipe 478
points), 52 blendshapes, ``FrameHeight FrameWidth``, then ``input frame approx_time Identity``.

What maps, and why (the decision this module documents):

* Same meaning, same row column: face box and score, the 68 landmarks (2.x takes them from its
  mesh in dlib-68 order, in original-frame pixels), ``Pitch Roll Yaw`` (2.x's canonical sign
  convention is 0.6.2's; Py-Feat notes its head under-reads pitch), the 20 AUs (probabilities of
  another model), and the 7 emotions, renamed and reordered into FELT's order.
* ``identity_embedding`` stays NaN, with a warning: 2.x embeds faces with ArcFace, FELT with
  FaceNet. Both are 512 numbers but live in unrelated spaces; one column holding both would make
  every distance between a FELT and a 2.x trial meaningless, silently.
* Not in the row (dropped from the dataset, with one warning naming them): head translation
  ``X Y Z``, valence/arousal, gaze, the 478-point mesh, blendshapes, ``FrameHeight/FrameWidth``
  and the ArcFace embedding. The dataset's schema is FELT's (one source of truth, one feature set
  per config on the hub); :func:`read_pyfeat2_extras` returns these groups as arrays, aligned
  with the row's frames, for a user who wants them.

The layout is detected from the header: a 2.x file has the capitalised emotion names and none
of FELT's lowercase ones; a FELT (0.6.2) file has the lowercase ones and none of the capitalised.
Both at once is an error, so neither can be mistaken for the other.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import FeltFormatError, FeltMissingColumnsError, FeltWarning
from ..schema import (
    APPROX_TIME_COLUMN,
    AU_NAMES,
    EMOTION_SCORE_NAMES,
    FACE_BOX_COLUMNS,
    FACE_SCORE_COLUMN,
    FRAME_ARRAYS,
    FRAME_COLUMN,
    IDENTITY_COLUMNS,
    IDENTITY_LABEL_COLUMN,
    INPUT_COLUMN,
    LANDMARK_X_COLUMNS,
    LANDMARK_Y_COLUMNS,
    POSE_COLUMNS,
)
from .checks import check_float_range
from .csv_reader import NAN_SPELLINGS, TrialRecord, checked_frames, first_input, select_faces

EMOTIONS_V2 = ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger")  # Detectorv2 order
EMOTION_FROM_V2 = {  # FELT name -> 2.x name
    "anger": "Anger",
    "disgust": "Disgust",
    "fear": "Fear",
    "happiness": "Happy",
    "sadness": "Sad",
    "surprise": "Surprise",
    "neutral": "Neutral",
}
POSE_6D = POSE_COLUMNS + ("X", "Y", "Z")
VALENCE_AROUSAL = ("valence", "arousal")
GAZE = ("gaze_pitch", "gaze_yaw", "gaze_angle")
NUM_MESH = 478
MESH = tuple(f"mesh_{a}_{i}" for a in "xyz" for i in range(NUM_MESH))
BLENDSHAPES = (
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)  # fmt: skip  (MP_BLENDSHAPE_NAMES)
FRAME_SIZE = ("FrameHeight", "FrameWidth")

# Every column of a Detectorv2 video result written by Fex.to_csv (the index column aside), in order.
PYFEAT2_COLUMNS = (
    FACE_BOX_COLUMNS
    + (FACE_SCORE_COLUMN,)
    + LANDMARK_X_COLUMNS
    + LANDMARK_Y_COLUMNS
    + POSE_6D
    + AU_NAMES
    + EMOTIONS_V2
    + VALENCE_AROUSAL
    + GAZE
    + IDENTITY_COLUMNS
    + MESH
    + BLENDSHAPES
    + FRAME_SIZE
    + (INPUT_COLUMN, FRAME_COLUMN, APPROX_TIME_COLUMN, IDENTITY_LABEL_COLUMN)
)

# Row array -> the 2.x columns it is read from (identity_embedding: never, see the module doc).
V2_SOURCES: dict[str, tuple[str, ...]] = {
    "face_box": FACE_BOX_COLUMNS,
    "face_score": (FACE_SCORE_COLUMN,),
    "landmarks": FRAME_ARRAYS[2].csv_columns,
    "head_pose": POSE_COLUMNS,
    "action_units": AU_NAMES,
    "emotions": tuple(EMOTION_FROM_V2[e] for e in EMOTION_SCORE_NAMES),
}
# The extra 2.x groups: name -> (columns, per-frame shape).
EXTRA_GROUPS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "head_translation": (("X", "Y", "Z"), (3,)),
    "valence_arousal": (VALENCE_AROUSAL, (2,)),
    "gaze": (GAZE, (3,)),
    "identity_arcface": (IDENTITY_COLUMNS, (len(IDENTITY_COLUMNS),)),
    "mesh": (tuple(f"mesh_{a}_{i}" for i in range(NUM_MESH) for a in "xyz"), (NUM_MESH, 3)),
    "blendshapes": (BLENDSHAPES, (len(BLENDSHAPES),)),
    "frame_size": (FRAME_SIZE, (2,)),
}


def detect_layout(names: Sequence[str], name: str = "<csv>") -> str:
    """``"pyfeat2"`` or ``"felt"`` from a header; both sets of emotion names at once is an error."""
    have = set(names)
    v2 = [c for c in EMOTIONS_V2 if c in have]
    v1 = [c for c in EMOTION_SCORE_NAMES if c in have]
    if v2 and v1:
        raise FeltFormatError(
            name,
            f"header has both Py-Feat 0.6.2 emotion columns ({', '.join(v1[:3])}...) and Py-Feat 2.x ones "
            f"({', '.join(v2[:3])}...): cannot tell which layout it is",
            row=0,
        )
    return "pyfeat2" if v2 else "felt"


def _read(data: bytes, names: list[str], start: int, wanted: list[str], name: str) -> pa.Table:
    types = {c: pa.float32() for c in wanted}
    include = list(wanted)
    if FRAME_COLUMN in names:
        types[FRAME_COLUMN] = pa.float64()
        include.append(FRAME_COLUMN)
    if INPUT_COLUMN in names:
        types[INPUT_COLUMN] = pa.string()
        include.append(INPUT_COLUMN)
    read = pacsv.ReadOptions(column_names=names, use_threads=False, block_size=max(1 << 20, len(data) + 1))
    convert = pacsv.ConvertOptions(
        column_types=types, include_columns=include, strings_can_be_null=True, null_values=NAN_SPELLINGS
    )
    try:
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data).slice(start)), read_options=read, convert_options=convert
        )
    except pa.ArrowInvalid as e:
        from .csv_reader import _located_error  # the reader's row/column wording, one source

        raise _located_error(str(e), names, name) from None


def _frames_and_rows(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame numbers (checked as FELT's reader checks them), the rows kept (one face per frame)
    and the faces seen per frame."""
    n = table.num_rows
    if n == 0:
        raise FeltFormatError(name, "no data rows after the header")
    source = FRAME_COLUMN if FRAME_COLUMN in table.column_names else None
    frame = checked_frames(table.column(source).to_numpy() if source else None, source, n, name)
    keep, num_faces = select_faces(frame, table.column(FACE_SCORE_COLUMN).to_numpy())
    return frame, keep, num_faces


def _block(table: pa.Table, columns: Sequence[str], keep: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """The ``columns`` as float32 ``(kept rows, *shape)``; text beyond float32 (parsed to inf) or a
    literal ``inf`` is an error naming row and column, as in FELT's reader, not a stored inf."""
    mat = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in columns]).astype(np.float32)
    check_float_range(mat, columns, name)
    return np.ascontiguousarray(mat[keep]).reshape(len(keep), *shape)


def read_pyfeat2(data: bytes, names: list[str], start: int, name: str) -> TrialRecord:
    """A Py-Feat 2.x CSV (header already split into deduplicated ``names``) as a trial record."""
    have = set(names)
    missing = [c for cols in V2_SOURCES.values() for c in cols if c not in have]
    if missing:
        raise FeltMissingColumnsError(name, missing)
    table = _read(data, names, start, [c for cols in V2_SOURCES.values() for c in cols], name)
    frame, keep, num_faces = _frames_and_rows(table, name)
    arrays = {}
    for arr in FRAME_ARRAYS:
        if arr.name in V2_SOURCES:
            arrays[arr.name] = _block(table, V2_SOURCES[arr.name], keep, arr.shape, name)
        else:
            arrays[arr.name] = np.full((len(keep), *arr.shape), np.nan, dtype=np.float32)
    dropped = [g for g, (cols, _) in EXTRA_GROUPS.items() if cols[0] in have]
    warnings.warn(
        f"{name}: read as Py-Feat 2.x output: identity_embedding left NaN (2.x embeds with ArcFace, FELT with "
        f"FaceNet: not comparable); not in the row: {', '.join(dropped) or 'none present'} "
        "(felt_hf.pyfeat2.read_pyfeat2_extras returns them)",
        FeltWarning,
        stacklevel=3,
    )
    source = first_input(table)
    return TrialRecord(
        name=name,
        frame=frame[keep].astype(np.int32),
        num_faces=num_faces,
        arrays=arrays,
        source_video=source,
        num_csv_rows=table.num_rows,
        filled=("identity_embedding",),
    )


def read_pyfeat2_extras(source, name: str | None = None) -> dict[str, np.ndarray]:
    """The 2.x groups that are not in the row, one entry per frame as the row keeps them.

    ``mesh`` is ``(T, 478, 3)`` (x, y in original-frame pixels, z relative depth), the others
    ``(T, width)``; a group absent from the file is absent from the result.
    """
    from .csv_reader import _header

    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "<bytes>"
    else:
        name = name or str(source)
        with open(source, "rb") as fh:
            data = fh.read()
    names, start = _header(data, name)
    if detect_layout(names, name) != "pyfeat2":
        raise FeltFormatError(name, "not a Py-Feat 2.x file (no Neutral/Happy/... emotion columns)", row=0)
    have = set(names)
    groups = {g: spec for g, spec in EXTRA_GROUPS.items() if all(c in have for c in spec[0])}
    wanted = [FACE_SCORE_COLUMN] + [c for cols, _ in groups.values() for c in cols]
    table = _read(data, names, start, wanted, name)
    _, keep, _ = _frames_and_rows(table, name)
    return {g: _block(table, cols, keep, shape, name) for g, (cols, shape) in groups.items()}
