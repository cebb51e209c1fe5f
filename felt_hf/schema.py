"""The single source of truth for FELT's layout and for the typed rows this package makes.

Column names of the Py-Feat CSVs, the 20 action units, the 7 emotion scores, the RAVDESS
label tables, which columns FELT smoothed, the per-frame arrays of a trial row with their units,
the configs and the split rule all live here. The reader, the builder, the converter, the card,
the regeneration code and the tests read these names; none of them spells a column itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType

FPS = 29.97  # RAVDESS video frame rate; FELT's `approx_time` and our `time_s` derive from it.
VIDEO_SIZE = (720, 1280)  # height, width of RAVDESS full-AV video in pixels
NUM_LANDMARKS = 68
EMBEDDING_DIM = 512

# --- CSV column groups (Py-Feat 0.6.2 names) ---------------------------------------------
FACE_BOX_COLUMNS = ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight")
FACE_SCORE_COLUMN = "FaceScore"
LANDMARK_X_COLUMNS = tuple(f"x_{i}" for i in range(NUM_LANDMARKS))
LANDMARK_Y_COLUMNS = tuple(f"y_{i}" for i in range(NUM_LANDMARKS))
POSE_COLUMNS = ("Pitch", "Roll", "Yaw")
AU_NAMES = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU11", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43",
)  # fmt: skip
AU_DESCRIPTIONS = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU09": "nose wrinkler", "AU10": "upper lip raiser", "AU11": "nasolabial deepener",
    "AU12": "lip corner puller", "AU14": "dimpler", "AU15": "lip corner depressor",
    "AU17": "chin raiser", "AU20": "lip stretcher", "AU23": "lip tightener",
    "AU24": "lip pressor", "AU25": "lips part", "AU26": "jaw drop", "AU28": "lip suck",
    "AU43": "eyes closed",
}  # fmt: skip
PRESENCE_AUS = ("AU07", "AU11", "AU20")  # the FELT record calls these 0/1 presence
EMOTION_SCORE_NAMES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
IDENTITY_LABEL_COLUMN = "Identity"
IDENTITY_COLUMNS = tuple(f"Identity_{i}" for i in range(1, EMBEDDING_DIM + 1))
FRAME_COLUMN = "frame"
SECOND_FRAME_COLUMN = "frame.1"  # what pandas calls the second `frame` once read and re-saved
INPUT_COLUMN = "input"
APPROX_TIME_COLUMN = "approx_time"

# Columns FELT smoothed (Butterworth + filtfilt + Savitzky-Golay); not FaceScore, the
# emotions or the identity. In CSV order.
SMOOTHED_COLUMNS = FACE_BOX_COLUMNS + LANDMARK_X_COLUMNS + LANDMARK_Y_COLUMNS + POSE_COLUMNS + AU_NAMES

# The tracking columns every Py-Feat version writes (all floats), in Py-Feat 0.6.2's order.
TRACKING_COLUMNS = (
    FACE_BOX_COLUMNS
    + (FACE_SCORE_COLUMN,)
    + LANDMARK_X_COLUMNS
    + LANDMARK_Y_COLUMNS
    + POSE_COLUMNS
    + AU_NAMES
    + EMOTION_SCORE_NAMES
)
# Every float column of a FELT CSV, in CSV order (the identity embedding last).
NUMERIC_COLUMNS = TRACKING_COLUMNS + IDENTITY_COLUMNS

# The 687 data columns of a Py-Feat 0.6.2 `detect_video` result, in order; the leading index
# column (also named `frame`) comes on top when written with `to_csv(path)`.
PYFEAT_DATA_COLUMNS = (
    TRACKING_COLUMNS + (IDENTITY_LABEL_COLUMN,) + IDENTITY_COLUMNS + (INPUT_COLUMN, FRAME_COLUMN, APPROX_TIME_COLUMN)
)


def header_for(layout: str) -> tuple[str, ...]:
    """The exact header of a FELT CSV in one of its layouts.

    ``raw``: written by ``to_csv(path)``: index ``frame`` first, a second ``frame`` near the end.
    ``smoothed``: read back by pandas (second ``frame`` became ``frame.1``), written ``index=False``.
    ``raw_resaved``: raw re-saved by the forward-fill step with the index again: empty first name.
    ``smoothed_resaved``: smoothed made from a re-saved raw file: ``Unnamed: 0`` first.
    """
    read_back = (FRAME_COLUMN,) + PYFEAT_DATA_COLUMNS[:-2] + (SECOND_FRAME_COLUMN, APPROX_TIME_COLUMN)
    if layout == "raw":
        return (FRAME_COLUMN,) + PYFEAT_DATA_COLUMNS
    if layout == "smoothed":
        return read_back
    if layout == "raw_resaved":
        return ("",) + read_back
    if layout == "smoothed_resaved":
        return ("Unnamed: 0",) + read_back
    raise ValueError(f"unknown CSV layout {layout!r}; expected one of {CSV_LAYOUTS}")


CSV_LAYOUTS = ("raw", "smoothed", "raw_resaved", "smoothed_resaved")


# --- per-frame arrays of a trial row ---------------------------------------------------------
@dataclass(frozen=True)
class FrameArray:
    """One per-frame float32 array of a trial row and the CSV columns it is made of.

    ``csv_columns`` are in the order that a C-order reshape to ``(T, *shape)`` expects.
    """

    name: str
    csv_columns: tuple[str, ...]
    shape: tuple[int, ...]
    unit: str
    description: str
    required: bool = True

    @property
    def width(self) -> int:
        return len(self.csv_columns)


def _interleave(xs: tuple[str, ...], ys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for pair in zip(xs, ys, strict=True) for c in pair)


FRAME_ARRAYS: tuple[FrameArray, ...] = (
    FrameArray(
        "face_box", FACE_BOX_COLUMNS, (4,), "px",
        "Face bounding box x, y (top-left corner), width, height in video pixels (1280x720).",
    ),
    FrameArray("face_score", (FACE_SCORE_COLUMN,), (), "probability 0-1", "Face detector confidence."),
    FrameArray(
        "landmarks", _interleave(LANDMARK_X_COLUMNS, LANDMARK_Y_COLUMNS), (NUM_LANDMARKS, 2), "px",
        "68 2-D facial landmarks (iBUG 68-point order), [..., 0] = x, [..., 1] = y, video pixels.",
    ),
    FrameArray("head_pose", POSE_COLUMNS, (3,), "degrees", "Head pose pitch, roll, yaw (img2pose)."),
    FrameArray(
        "action_units", AU_NAMES, (len(AU_NAMES),), "probability 0-1",
        "Action unit activations, xgb classifier probabilities, in AU_NAMES order.",
    ),
    FrameArray(
        "emotions", EMOTION_SCORE_NAMES, (len(EMOTION_SCORE_NAMES),), "probability 0-1",
        "ResMaskNet emotion scores, in EMOTION_SCORE_NAMES order (sum to 1).",
    ),
    FrameArray(
        "identity_embedding", IDENTITY_COLUMNS, (EMBEDDING_DIM,), "FaceNet embedding (unitless)",
        "512-d FaceNet identity embedding; NaN where the CSV has none (older Py-Feat output).",
        required=False,
    ),
)  # fmt: skip
FRAME_ARRAYS_BY_NAME = {a.name: a for a in FRAME_ARRAYS}
# The names that are stored as Array2D/Array3D with a dynamic first (time) dimension.

# --- RAVDESS labels ------------------------------------------------------------------------------
MODALITIES = {1: "full-AV", 2: "video-only", 3: "audio-only"}
VOCAL_CHANNELS = ("speech", "song")  # codes 01, 02
EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")  # 01..08
SONG_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful")
INTENSITIES = ("normal", "strong")  # 01, 02
STATEMENTS = ("Kids are talking by the door", "Dogs are sitting by the door")  # 01, 02
SEXES = ("male", "female")  # odd actor = male, even = female
NUM_ACTORS = 24

# FELT_FORMAT.md, "Regeneration settings": the Py-Feat 0.6.2 models FELT's producing script chose.
# The regeneration builds its Detector with them and the Fex bridge records them as metadata.
PYFEAT_MODELS = MappingProxyType(
    {
        "face_model": "img2pose",
        "landmark_model": "mobilenet",
        "au_model": "xgb",
        "emotion_model": "resmasknet",
        "facepose_model": "img2pose-c",
        "identity_model": "facenet",
    }
)

ACTORS_WITHOUT_SONG = (18,)

# --- configs and splits --------------------------------------------------------------------------
VARIANTS = ("raw", "smoothed")
CONFIG_NAMES = ("raw_speech", "raw_song", "smoothed_speech", "smoothed_song")
DEFAULT_CONFIG = "smoothed_speech"
SPLIT_NAMES = ("train", "validation", "test")
# Actor-disjoint and balanced by sex: 9+9 / 1+1 / 2+2 male+female actors.
DEFAULT_SPLIT_ACTORS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(1, 19)),
    "validation": (19, 20),
    "test": (21, 22, 23, 24),
}


def config_parts(config_name: str) -> tuple[str, str]:
    """``"smoothed_speech"`` -> ``("smoothed", "speech")``, rejecting unknown names."""
    if config_name not in CONFIG_NAMES:
        raise ValueError(f"unknown FELT config {config_name!r}; expected one of {CONFIG_NAMES}")
    c = ConfigName.parse(config_name)
    return c.kind, c.channel


def archive_stem(config_name: str) -> str:
    """The FELT archive name of a config without ``.zip``, e.g. ``smoothed_motion_speech``."""
    variant, channel = config_parts(config_name)
    return f"{variant}_motion_{channel}"


# --- the typed row -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowColumn:
    """One non-array column of a trial row: its ``datasets`` type, unit and description.

    ``dtype`` is a ``datasets.Value`` dtype, ``"class"`` for a ``ClassLabel`` over
    ``class_names``, or ``"video"`` / ``"audio"`` for the media configs' ``datasets.Video`` /
    ``datasets.Audio`` cells; ``per_frame`` columns are ``(T,)`` lists. The features, the row column
    order, the card's column tables, the collator's and the viewer's label classes all come from here.
    """

    name: str
    dtype: str
    unit: str
    description: str
    class_names: tuple[str, ...] = ()
    per_frame: bool = False

    def feature(self):
        from datasets import ClassLabel, Value

        List = _datasets_list()
        if self.dtype == "class":
            return ClassLabel(names=list(self.class_names))
        if self.dtype == "video":
            from datasets import Video

            return Video()
        if self.dtype == "audio":
            from datasets import Audio

            return Audio()  # native rate kept (no resampling on decode); see `sample_rate`
        return List(Value(self.dtype)) if self.per_frame else Value(self.dtype)


def _datasets_list():
    """``datasets.List``, or on datasets < 4 (where only felt.py runs) ``Sequence``: for a Value
    it is the same Arrow list."""
    try:
        from datasets import List
    except ImportError:
        from datasets import Sequence as List
    return List


# Trial-level columns in row order, with a one-line description each (the card prints these).
TRIAL_COLUMN_TABLE: tuple[RowColumn, ...] = (
    RowColumn("trial_id", "string", "-",
              "RAVDESS file name without extension, MM-VV-EE-II-SS-RR-AA (e.g. 01-01-03-02-01-01-12)"),
    RowColumn("vocal_channel", "class", "class", "speech or song (VV)", VOCAL_CHANNELS),
    RowColumn("emotion", "class", "class", "RAVDESS emotion label (EE), the classification target", EMOTIONS),
    RowColumn("intensity", "class", "class", "normal or strong (II); neutral has only normal", INTENSITIES),
    RowColumn("statement", "class", "class", "the sentence spoken or sung (SS)", STATEMENTS),
    RowColumn("repetition", "int8", "count", "1 or 2 (RR)"),
    RowColumn("actor", "int8", "id", "actor number 1-24 (AA)"),
    RowColumn("sex", "class", "class", "actor sex: odd actors male, even female", SEXES),
    RowColumn("num_frames", "int32", "frames", "number of video frames tracked (T)"),
    RowColumn("source_video", "string", "-",
              "the `input` path Py-Feat recorded (as written on the producing machine)"),
)  # fmt: skip
PER_FRAME_INDEX_TABLE: tuple[RowColumn, ...] = (
    RowColumn("frame", "int32", "frame index",
              "video frame number as written by Py-Feat (0-based in Py-Feat 0.6.2), shape (T,)", per_frame=True),
    RowColumn("time_s", "float32", "s", "seconds from the start of the video, frame / 29.97, shape (T,)",
              per_frame=True),
    RowColumn("num_faces", "uint8", "count",
              "faces detected in that frame (0 = no face: NaN row; 2 = two-face frame, one kept)", per_frame=True),
)  # fmt: skip
ROW_COLUMNS_BY_NAME = {c.name: c for c in TRIAL_COLUMN_TABLE + PER_FRAME_INDEX_TABLE}
TRIAL_COLUMNS: dict[str, str] = {c.name: c.description for c in TRIAL_COLUMN_TABLE}
PER_FRAME_INDEX_COLUMNS: dict[str, str] = {c.name: c.description for c in PER_FRAME_INDEX_TABLE}
# ClassLabel columns -> their names in label order (the collator and viewer map names <-> ints)
CLASS_LABELS: dict[str, tuple[str, ...]] = {c.name: c.class_names for c in TRIAL_COLUMN_TABLE if c.dtype == "class"}


def trial_features():
    """The ``datasets.Features`` of one trial row.

    Per-frame arrays of rank >= 2 are ``Array2D``/``Array3D`` with a dynamic first dimension:
    ``datasets`` formats those hundreds of times faster than nested ``List`` columns.
    """
    from datasets import Array2D, Array3D, Features, Value

    List = _datasets_list()

    feats: dict = {c.name: c.feature() for c in TRIAL_COLUMN_TABLE + PER_FRAME_INDEX_TABLE}
    for arr in FRAME_ARRAYS:
        if arr.shape == ():
            feats[arr.name] = List(Value("float32"))
        elif len(arr.shape) == 1:
            feats[arr.name] = Array2D(shape=(None, *arr.shape), dtype="float32")
        else:
            feats[arr.name] = Array3D(shape=(None, *arr.shape), dtype="float32")
    return Features(feats)


@functools.cache
def trial_arrow_schema():
    """The Arrow schema of :func:`trial_features` (with its ``huggingface`` metadata), built once
    per process: ``Features.arrow_schema`` re-derives every type and the JSON metadata on each
    call, about 1.5 ms, which the converter paid per row group (0.2 ms a trial, measured with
    cProfile). A ``pyarrow.Schema`` is immutable, so sharing one is safe."""
    return trial_features().arrow_schema


ROW_COLUMNS = tuple(TRIAL_COLUMNS) + tuple(PER_FRAME_INDEX_COLUMNS) + tuple(a.name for a in FRAME_ARRAYS)


# --- media configs: FELT's tracking videos and the RAVDESS audio -----------------------------------
# Declared here beside the tracking configs so the converter, the card and the tests share one list.
VIDEO_FPS = 30.0  # FELT's renderers wrote every video at 30 fps (imageio), though the tracking is 29.97
AUDIO_SAMPLE_RATE = 48_000  # RAVDESS audio, 16-bit; kept as is (FLAC, lossless)


@dataclass(frozen=True)
class VideoKind:
    """One kind of FELT tracking video: the folder names that hold it and what it shows.

    ``folders`` are matched case-insensitively against any folder in a file's path (FELT's own
    rendering script called the AU folder ``ActionUnit_Activation``, the record
    ``ActionUnit_Animation``). ``one_frame_per_row`` says whether the renderer wrote one video
    frame for every row of the smoothed CSV (so the video -> tracking map is known).
    """

    name: str
    folders: tuple[str, ...]
    one_frame_per_row: bool
    description: str
    made_with: str


VIDEO_KINDS: tuple[VideoKind, ...] = (
    VideoKind(
        "landmark_overlay", ("Landmark_Overlay",), True,
        "the RAVDESS video frame with the tracked face box, 68 landmarks and head pose drawn over it "
        "(shows the actor's face)",
        "Py-Feat `Fex.plot_detections(faceboxes=True, add_titles=False, plot_original_image=True)`, "
        "one matplotlib figure per smoothed-CSV row, saved at 100 dpi and appended with imageio at 30 fps",
    ),
    VideoKind(
        "landmark_plot", ("Landmark_Plot",), True,
        "the tracked box, landmarks and head pose alone on a blank canvas, anchored to the box's "
        "top-left corner (translational head motion removed)",
        "Py-Feat `Fex.plot_detections(..., plot_original_image=False)`, one figure per smoothed-CSV "
        "row, 100 dpi, imageio at 30 fps",
    ),
    VideoKind(
        "au_animation", ("ActionUnit_Animation", "ActionUnit_Activation"), False,
        "a cartoon face whose muscles are coloured by the 20 action-unit activations, titled `Frame N`",
        "Py-Feat `plot_face(au=row_aus, muscles={'all': 'heatmap'}, title=f'Frame {i}')`, one figure per "
        "smoothed-CSV row; rows whose plot failed were left out (about 10%); imageio at 30 fps",
    ),
)  # fmt: skip
VIDEO_KINDS_BY_NAME = {k.name: k for k in VIDEO_KINDS}
AUDIO_KIND = "audio"
MEDIA_CONFIG_NAMES = tuple(f"{k.name}_{ch}" for k in VIDEO_KINDS for ch in VOCAL_CHANNELS) + tuple(
    f"{AUDIO_KIND}_{ch}" for ch in VOCAL_CHANNELS
)
ALL_CONFIG_NAMES = CONFIG_NAMES + MEDIA_CONFIG_NAMES

# How a video row maps to the tracking (the `alignment` column).
ALIGNMENTS: dict[str, str] = {
    "exact": "one video frame per row of the smoothed CSV, checked by count: `tracking_index` is known",
    "dropped_frames_unknown": "fewer video frames than CSV rows (frames whose plot failed were left out) "
    "and which ones is not recorded: `tracking_index` is null",
    "count_mismatch": "the frame count differs from the CSV rows where one frame per row was expected: "
    "`tracking_index` is null",
    "no_tracking": "this trial's tracking was not part of the conversion: `tracking_index` is null",
    "from_titles": "an AU animation whose `Frame N` titles were read back from its pictures (`--au-titles`) "
    "and proved a strictly increasing run of CSV rows: `tracking_index` is known",
}
AUDIO_SOURCES = {
    "ravdess_wav": "RAVDESS audio-only file 03-VV-EE-II-SS-RR-AA.wav (16-bit PCM), re-packed losslessly as FLAC",
    "full_av_mp4": "the AAC track of the full-AV RAVDESS 01-...mp4, decoded with PyAV and written as 16-bit FLAC",
}

# The media configs' own columns (after the label columns), in row order, one table per kind of
# media: their Features, row order and the card's column tables come from these, like the tracking's.
_SOURCE_FILE = RowColumn("source_file", "string", "-", "archive (or folder) name and member path the media came from")
_DURATION = RowColumn("duration_s", "float32", "s", "duration of the media in seconds, as PyAV / soundfile read it")
VIDEO_COLUMN_TABLE: tuple[RowColumn, ...] = (
    _SOURCE_FILE,
    RowColumn("video", "video", "mp4 bytes", "the mp4 exactly as FELT published it (h264 bytes, not re-encoded)"),
    RowColumn("num_video_frames", "int32", "frames", "video frames in the mp4 (its sample index less edit-list-hidden samples, read with PyAV)"),
    RowColumn("fps", "float32", "frames/s", "the video stream's average frame rate (PyAV's `average_rate`: frames over duration; 30 in FELT, whose tracking is 29.97)"),
    RowColumn("width", "int32", "px", "frame width in pixels"),
    RowColumn("height", "int32", "px", "frame height in pixels"),
    _DURATION,
    RowColumn("num_tracking_rows", "int32", "rows",
              "rows of the trial's smoothed CSV (two-face frames count twice); null without tracking"),
    RowColumn("alignment", "string", "-", "how video frames map to tracking frames: " + ", ".join(ALIGNMENTS)),
    RowColumn("tracking_index", "int32", "row index",
              "per video frame, the index into this trial's tracking arrays it shows (row of "
              "`landmarks` etc. in the tracking configs); null where that cannot be known (see `alignment`)",
              per_frame=True),
)  # fmt: skip
AUDIO_COLUMN_TABLE: tuple[RowColumn, ...] = (
    _SOURCE_FILE,
    RowColumn("audio", "audio", "FLAC bytes", "FLAC, lossless, at the rate recorded (see `sample_rate`)"),
    RowColumn("audio_source", "string", "-", "where the audio came from: " + ", ".join(AUDIO_SOURCES)),
    RowColumn("sample_rate", "int32", "Hz", "samples per second (48000 in RAVDESS)"),
    RowColumn("num_channels", "int8", "count", "audio channels"),
    RowColumn("num_samples", "int64", "samples", "samples per channel"),
    _DURATION,
)  # fmt: skip
MEDIA_COLUMNS: dict[str, str] = {c.name: c.description for c in VIDEO_COLUMN_TABLE + AUDIO_COLUMN_TABLE}
LABEL_COLUMNS = ("trial_id", "vocal_channel", "emotion", "intensity", "statement", "repetition", "actor", "sex")


def media_config_parts(config_name: str) -> tuple[str, str]:
    """``"landmark_plot_song"`` -> ``("landmark_plot", "song")``, ``"audio_speech"`` -> ``("audio", "speech")``."""
    if config_name not in MEDIA_CONFIG_NAMES:
        raise ValueError(f"unknown FELT media config {config_name!r}; expected one of {MEDIA_CONFIG_NAMES}")
    c = ConfigName.parse(config_name)
    return c.kind, c.channel


@dataclass(frozen=True)
class ConfigName:
    """A config name parsed once: ``kind`` is the variant (``raw``/``smoothed``) of a tracking
    config or the media kind (a video kind, ``audio``) of a media config; ``channel`` is
    ``speech``/``song``. Every module asks this instead of splitting names itself."""

    name: str
    kind: str
    channel: str

    @property
    def is_media(self) -> bool:
        return self.name in MEDIA_CONFIG_NAMES

    @property
    def is_tracking(self) -> bool:
        return self.name in CONFIG_NAMES

    @classmethod
    def parse(cls, name: str) -> ConfigName:
        return _parse_config(name)


@functools.cache
def _parse_config(name: str) -> ConfigName:
    if name not in ALL_CONFIG_NAMES:
        raise ValueError(f"unknown FELT config {name!r}; expected one of {ALL_CONFIG_NAMES}")
    kind, channel = name.rsplit("_", 1)
    return ConfigName(name, kind, channel)


def media_column_table(kind: str) -> tuple[RowColumn, ...]:
    """The media columns of a media config of ``kind`` (a video kind name or ``audio``), in order."""
    if kind == AUDIO_KIND:
        return AUDIO_COLUMN_TABLE
    if kind in VIDEO_KINDS_BY_NAME:
        return VIDEO_COLUMN_TABLE
    raise ValueError(f"unknown media kind {kind!r}")


def media_columns(kind: str) -> tuple[str, ...]:
    """Row columns of a media config of ``kind`` (a video kind name or ``audio``), in order."""
    return LABEL_COLUMNS + tuple(c.name for c in media_column_table(kind))


def media_features(kind: str):
    """The ``datasets.Features`` of a media row: the tracking's label columns, then the media.

    Media are ``datasets.Video`` / ``datasets.Audio`` holding the bytes, so the folder is
    self-contained and the hub viewer plays them; load with ``decode=False`` where torchcodec is
    missing (see :mod:`felt_hf.media`).
    """
    from datasets import Features

    labels = {c.name: c for c in TRIAL_COLUMN_TABLE if c.name in LABEL_COLUMNS}
    return Features(
        {c: labels[c].feature() for c in LABEL_COLUMNS} | {c.name: c.feature() for c in media_column_table(kind)}
    )


def config_features(config_name: str):
    """Features of any config, tracking or media (what the card's ``dataset_info`` declares)."""
    if config_name in CONFIG_NAMES:
        return trial_features()
    return media_features(media_config_parts(config_name)[0])
