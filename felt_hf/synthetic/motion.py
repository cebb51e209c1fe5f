"""The face-motion model of the synthetic archives: a 68-point face that moves, speaks, blinks
and leans towards the trial's emotion, as pure functions of ``(seed, trial_id)``.

Split out of :mod:`felt_hf.synthetic.archives` (issue 12): the model, the trial assembly
(:mod:`.trials`) and the archive writing (:mod:`.archives`) are three concerns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..inputs.smoothing import min_filtfilt_length
from ..ravdess import TrialLabels, parse_trial_id
from ..schema import (
    AU_NAMES,
    EMBEDDING_DIM,
    EMOTION_SCORE_NAMES,
    FPS,
    NUM_LANDMARKS,
    NUMERIC_COLUMNS,
    PYFEAT_DATA_COLUMNS,
    VIDEO_SIZE,
)

# How often the quirks happen (per trial). FELT's counts are not published; "a few percent".
P_MIDDLE_NO_FACE = 0.03
P_LEADING_NO_FACE = 0.01
P_TWO_FACE = 0.03

# The numeric (float) columns of a Py-Feat row, in CSV order; strings and `frame` come after.
_NUMERIC_COLUMNS = NUMERIC_COLUMNS
_BOX = slice(0, 4)
_SCORE = 4
_LM_X = slice(5, 5 + NUM_LANDMARKS)
_LM_Y = slice(5 + NUM_LANDMARKS, 5 + 2 * NUM_LANDMARKS)
_POSE = slice(_LM_Y.stop, _LM_Y.stop + 3)
_AUS = slice(_POSE.stop, _POSE.stop + len(AU_NAMES))
_EMOS = slice(_AUS.stop, _AUS.stop + len(EMOTION_SCORE_NAMES))
_EMB = slice(_EMOS.stop, _EMOS.stop + EMBEDDING_DIM)
assert _EMB.stop == len(_NUMERIC_COLUMNS) == len(PYFEAT_DATA_COLUMNS) - 4

# Mean iBUG-68 shape from a real Py-Feat video output (feat/tests/data/001.csv, MIT), aligned on
# the eyes, mirrored and averaged to make it symmetric. Origin = mid-point of the eyes, unit = jaw
# width (x_16 - x_0), y down as in image coordinates.
_TEMPLATE = np.array(
    [
        [-0.5, -0.021], [-0.491, 0.116], [-0.472, 0.249], [-0.446, 0.38], [-0.397, 0.501], [-0.319, 0.607],
        [-0.224, 0.696], [-0.12, 0.769], [0.0, 0.791], [0.12, 0.769], [0.224, 0.696], [0.319, 0.607],
        [0.397, 0.501], [0.446, 0.38], [0.472, 0.249], [0.491, 0.116], [0.5, -0.021],
        [-0.42, -0.084], [-0.357, -0.14], [-0.269, -0.155], [-0.178, -0.145], [-0.091, -0.115],
        [0.091, -0.115], [0.178, -0.145], [0.269, -0.155], [0.357, -0.14], [0.42, -0.084],
        [0.0, -0.007], [0.0, 0.092], [0.0, 0.189], [0.0, 0.286],
        [-0.105, 0.314], [-0.055, 0.337], [0.0, 0.358], [0.055, 0.337], [0.105, 0.314],
        [-0.305, 0.0], [-0.251, -0.03], [-0.186, -0.029], [-0.13, 0.011], [-0.19, 0.024], [-0.254, 0.024],
        [0.13, 0.011], [0.186, -0.029], [0.251, -0.03], [0.305, 0.0], [0.254, 0.024], [0.19, 0.024],
        [-0.182, 0.445], [-0.111, 0.445], [-0.046, 0.445], [0.0, 0.456], [0.046, 0.445], [0.111, 0.445],
        [0.182, 0.445], [0.116, 0.507], [0.052, 0.538], [0.0, 0.544], [-0.052, 0.538], [-0.116, 0.507],
        [-0.155, 0.454], [-0.048, 0.472], [0.0, 0.479], [0.048, 0.472], [0.155, 0.454],
        [0.049, 0.488], [0.0, 0.496], [-0.049, 0.488],
    ]
)  # fmt: skip
_MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)  # fmt: skip


def _depth() -> np.ndarray:
    """A rough depth per landmark (nose forward, jaw edges back), so yaw/pitch move points unevenly."""
    x = _TEMPLATE[:, 0]
    z = 0.3 * (1.0 - np.minimum(1.0, (2.0 * x) ** 2))
    z[27:31] += np.linspace(0.05, 0.22, 4)
    z[31:36] += 0.12
    return z


_Z = _depth()

# Logit shifts of the AUs per RAVDESS emotion (FACS prototypes), before intensity and expressiveness.
_EMOTION_AUS: dict[str, dict[str, float]] = {
    "neutral": {},
    "calm": {"AU12": 0.3, "AU43": 0.3, "AU04": -0.3},
    "happy": {"AU06": 1.2, "AU12": 1.6, "AU25": 0.4, "AU14": 0.3},
    "sad": {"AU01": 1.0, "AU04": 0.8, "AU15": 1.1, "AU17": 0.7, "AU43": 0.3},
    "angry": {"AU04": 1.4, "AU07": 0.9, "AU23": 0.9, "AU24": 0.7, "AU10": 0.4},
    "fearful": {"AU01": 0.9, "AU02": 0.7, "AU04": 0.6, "AU05": 1.1, "AU20": 0.8, "AU25": 0.5},
    "disgust": {"AU09": 1.5, "AU10": 1.1, "AU15": 0.5, "AU04": 0.5},
    "surprised": {"AU01": 1.2, "AU02": 1.3, "AU05": 1.2, "AU26": 0.8, "AU25": 0.6},
}
# Which ResMaskNet class each RAVDESS emotion pushes up, and by how much (calm looks neutral-ish).
_EMOTION_CLASS = {
    "neutral": ("neutral", 0.8),
    "calm": ("neutral", 0.5),
    "happy": ("happiness", 1.2),
    "sad": ("sadness", 1.0),
    "angry": ("anger", 1.0),
    "fearful": ("fear", 1.0),
    "disgust": ("disgust", 1.0),
    "surprised": ("surprise", 1.1),
}
# How steep each AU's classifier probability is: AU07 comes out nearly binary from Py-Feat's xgb model,
# AU11 barely moves from 0.5 and AU20 is presence-like (see FELT_FORMAT.md).
_AU_GAIN = np.array([{"AU07": 12.0, "AU11": 0.08, "AU20": 3.0}.get(a, 1.0) for a in AU_NAMES])
_AU_INDEX = {a: i for i, a in enumerate(AU_NAMES)}


# --- random streams ---------------------------------------------------------------------------------
def _check_seed(seed: int) -> int:
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    return int(seed)


def _trial_rng(seed: int, labels: TrialLabels, stream: int) -> np.random.Generator:
    """A stream keyed by the trial id only, so a trial never depends on what else is generated."""
    key = [int(p) for p in labels.trial_id.split("-")]
    return np.random.default_rng([_check_seed(seed), 1, stream, *key])


def _actor_rng(seed: int, actor: int) -> np.random.Generator:
    return np.random.default_rng([_check_seed(seed), 2, actor])


def _smooth_noise(rng: np.random.Generator, n: int, width: int, sigma: float) -> np.ndarray:
    """Unit-variance Gaussian-smoothed noise, ``(n, width)``: slow, natural-looking drifts."""
    pad = int(4 * sigma) + 1
    white = rng.standard_normal((n + 2 * pad, width))
    out = gaussian_filter1d(white, sigma, axis=0, mode="nearest")[pad : pad + n]
    return out * np.sqrt(2.0 * np.sqrt(np.pi) * sigma)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _f32(x: np.ndarray) -> np.ndarray:
    """Round through float32: Py-Feat's networks and xgb produce float32 that pandas writes as float64."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


# --- the plan of a trial: length and quirks -----------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """How long a trial is and where its quirks fall; cheap, so subsets can be chosen by quirk."""

    labels: TrialLabels
    num_frames: int
    leading_no_face: int
    no_face_frames: tuple[int, ...]  # all no-face frames, leading ones included
    two_face_frames: tuple[int, ...]


def _runs(rng: np.random.Generator, n: int, count: int, max_len: int, lo: int, hi: int) -> set[int]:
    """``count`` runs of 1..max_len frames starting in [lo, hi), clipped to the clip."""
    frames: set[int] = set()
    for _ in range(count):
        start = lo + int(rng.random() * max(1, hi - lo))
        length = int(rng.integers(1, max_len + 1))
        frames.update(range(start, min(n - 1, start + length)))
    return frames


def _plan(trial_id: str, seed: int, num_frames: int | None = None) -> _Plan:
    labels = parse_trial_id(trial_id)
    rng = _trial_rng(seed, labels, 0)
    lo, hi = (95, 140) if labels.vocal_channel == "speech" else (110, 150)
    n = int(rng.integers(lo, hi + 1))
    if num_frames is not None:
        if num_frames < min_filtfilt_length():
            raise ValueError(
                f"num_frames={num_frames}: FELT's smoothing needs at least {min_filtfilt_length()} frames "
                "(its script raised on shorter clips); real trials have 90-150"
            )
        n = int(num_frames)
    u = rng.random(3)
    counts = rng.integers(1, 3, size=2)
    leading = int(rng.integers(1, 6)) if u[0] < P_LEADING_NO_FACE else 0
    no_face = set(range(leading))
    if u[1] < P_MIDDLE_NO_FACE:
        no_face |= _runs(rng, n, int(counts[0]), 8, max(leading + 3, n // 8), n - n // 8)
    two_face: set[int] = set()
    if u[2] < P_TWO_FACE:
        two_face = _runs(rng, n, int(counts[1]), 6, n // 10, n - n // 10) - no_face
    return _Plan(labels, n, leading, tuple(sorted(no_face)), tuple(sorted(two_face)))


# --- actor traits -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Actor:
    """What stays the same for an actor across trials: face, framing, habits, identity embedding."""

    jaw_px: float
    eye_center: tuple[float, float]
    pose_bias: np.ndarray  # pitch, roll, yaw in degrees
    shape: np.ndarray  # (68, 2) template with this actor's proportions
    au_base: np.ndarray  # (20,) logits
    emotion_bias: np.ndarray  # (7,) logits
    expressiveness: float
    embedding: np.ndarray  # (512,) unit vector


def _actor(seed: int, actor: int) -> _Actor:
    rng = _actor_rng(seed, actor)
    jaw = float(rng.uniform(215.0, 285.0))
    eye = (float(640.0 + rng.normal(0, 30)), float(300.0 + rng.normal(0, 18)))
    pose = np.array([rng.normal(-3.0, 3.0), rng.normal(0.0, 2.0), rng.normal(0.0, 3.0)])
    delta = rng.normal(0, 0.012, _TEMPLATE.shape)
    delta = (delta + delta[_MIRROR] * [-1, 1]) / 2  # keep the face symmetric
    shape = _TEMPLATE + delta
    shape[:17, 1] = _TEMPLATE[:17, 1] * rng.uniform(0.92, 1.08)  # face length
    au_base = rng.normal(-1.0, 0.6, len(AU_NAMES))
    au_base[_AU_INDEX["AU43"]] -= 2.0  # eyes are open most of the time
    au_base[_AU_INDEX["AU25"]] -= 0.5
    emotion_bias = rng.normal(0.0, 0.6, len(EMOTION_SCORE_NAMES))
    emotion_bias[EMOTION_SCORE_NAMES.index("neutral")] += 1.5
    embedding = rng.standard_normal(EMBEDDING_DIM)
    embedding /= np.linalg.norm(embedding)
    return _Actor(jaw, eye, pose, shape, au_base, emotion_bias, float(rng.uniform(0.7, 1.3)), embedding)


# --- per-frame signals ------------------------------------------------------------------------------
def _vocal_activity(rng: np.random.Generator, t: np.ndarray, song: bool) -> tuple[np.ndarray, np.ndarray]:
    """(utterance envelope, mouth opening) in 0-1: syllables at ~4.5 Hz in speech, notes at ~1.3 Hz in song."""
    duration = t[-1] if len(t) > 1 else 1.0
    onset = rng.uniform(0.15, 0.3) * duration
    length = rng.uniform(0.5, 0.65) * duration if not song else rng.uniform(0.6, 0.72) * duration
    env = _sigmoid((t - onset) / 0.08) * _sigmoid((onset + length - t) / 0.1)
    rate = rng.uniform(1.0, 1.6) if song else rng.uniform(3.8, 5.2)
    wobble = np.cumsum(0.15 * _smooth_noise(rng, len(t), 1, 10.0)[:, 0]) / FPS
    phase = 2 * np.pi * rate * (t + wobble) + rng.uniform(0, 2 * np.pi)
    syllables = (0.5 + 0.5 * np.sin(phase)) ** (1.2 if song else 1.6)
    depth = rng.uniform(0.7, 1.0) if song else rng.uniform(0.45, 0.75)
    return env, np.clip(env * syllables * depth, 0.0, 1.0)


def _blinks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Eye closure 0-1: ~0.3 blinks per second, each ~5 frames long."""
    closure = np.zeros(n)
    shape = np.array([0.35, 0.85, 1.0, 0.7, 0.3])
    for start in np.flatnonzero(rng.random(n) < 0.3 / FPS):
        stop = min(n, start + len(shape))
        closure[start:stop] = np.maximum(closure[start:stop], shape[: stop - start])
    return closure


def _au_logits(rng, plan: _Plan, actor: _Actor, env: np.ndarray, mouth: np.ndarray, blink: np.ndarray):
    """Smooth AU logits (T, 20): actor habits + the emotion's AUs during the utterance + speech + blinks."""
    n = plan.num_frames
    labels = plan.labels
    strength = (0.6 if labels.intensity == "normal" else 1.0) * actor.expressiveness
    shift = np.zeros(len(AU_NAMES))
    for au, value in _EMOTION_AUS[labels.emotion].items():
        shift[_AU_INDEX[au]] = value * strength
    expression = 0.5 + 0.5 * env  # expressions peak while the sentence is spoken or sung
    logits = (
        actor.au_base
        + rng.normal(0.0, 0.45, len(AU_NAMES))  # trial-to-trial variation dilutes the label signal
        + shift[None, :] * expression[:, None]
        + 0.6 * _smooth_noise(rng, n, len(AU_NAMES), 6.0)
    )
    logits[:, _AU_INDEX["AU25"]] += 4.0 * mouth - 0.5
    logits[:, _AU_INDEX["AU26"]] += 3.0 * mouth - 0.6
    logits[:, _AU_INDEX["AU43"]] += 7.0 * blink
    return logits


def _deform(shape: np.ndarray, aus: np.ndarray, mouth: np.ndarray, blink: np.ndarray) -> np.ndarray:
    """Per-frame landmark shapes (T, 68, 2) in jaw units: jaw drop, lips, smile, brows, lids."""
    n = len(mouth)
    pts = np.repeat(shape[None], n, axis=0)
    dy = np.zeros((n, NUM_LANDMARKS))
    dx = np.zeros((n, NUM_LANDMARKS))
    jaw = 0.075 * mouth
    dy[:, 4:13] += jaw[:, None] * np.array([0.15, 0.4, 0.65, 0.85, 1.0, 0.85, 0.65, 0.4, 0.15])
    dy[:, 55:60] += jaw[:, None] * 1.1
    dy[:, 65:68] += jaw[:, None] * 1.25
    dy[:, 61:64] -= jaw[:, None] * 0.12
    smile = aus[:, _AU_INDEX["AU12"]] - 0.3
    for i, side in ((48, -1), (60, -1), (54, 1), (64, 1)):
        dx[:, i] += side * 0.035 * smile
        dy[:, i] -= 0.02 * smile
    raise_ = (aus[:, _AU_INDEX["AU01"]] + aus[:, _AU_INDEX["AU02"]]) / 2 - 0.3
    lower = aus[:, _AU_INDEX["AU04"]] - 0.3
    dy[:, 17:27] -= 0.04 * raise_[:, None]
    dy[:, 19:25] += 0.025 * lower[:, None]
    dx[:, 20:22] += 0.012 * lower[:, None]
    dx[:, 22:24] -= 0.012 * lower[:, None]
    gap = 0.05 * blink
    dy[:, [37, 38, 43, 44]] += gap[:, None]
    dy[:, [40, 41, 46, 47]] -= 0.3 * gap[:, None]
    pts[..., 0] += dx
    pts[..., 1] += dy
    return pts


def _project(pts: np.ndarray, pose_deg: np.ndarray, scale: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Rotate the shapes by pitch/roll/yaw (rough depth), scale to pixels, place in the image."""
    pitch, roll, yaw = (np.deg2rad(pose_deg[:, i])[:, None] for i in range(3))
    x, y, z = pts[..., 0], pts[..., 1], _Z[None, :]
    x, z = x * np.cos(yaw) + z * np.sin(yaw), z * np.cos(yaw) - x * np.sin(yaw)
    y = y * np.cos(pitch) - z * np.sin(pitch)
    x, y = x * np.cos(roll) - y * np.sin(roll), x * np.sin(roll) + y * np.cos(roll)
    return np.stack([x, y], axis=-1) * scale[:, None, None] + center[:, None, :]


def _face_box(lm: np.ndarray, scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """img2pose-like boxes around the landmarks, with forehead, a little jitter, whole pixels."""
    left, right = lm[:, :17, 0].min(axis=1), lm[:, :17, 0].max(axis=1)
    top = lm[:, 17:27, 1].min(axis=1) - 0.33 * scale
    bottom = lm[:, :17, 1].max(axis=1) + 0.05 * scale
    margin = 0.03 * scale
    edges = np.stack([left - margin, top, right + margin, bottom], axis=1) + rng.normal(0, 1.2, (len(lm), 4))
    h, w = VIDEO_SIZE
    edges = np.clip(edges, 0, [w - 1, h - 1, w - 1, h - 1])
    box = np.stack([edges[:, 0], edges[:, 1], edges[:, 2] - edges[:, 0], edges[:, 3] - edges[:, 1]], axis=1)
    return np.rint(box)


def _face_score(rng: np.random.Generator, n: int) -> np.ndarray:
    """Detector confidence ~0.99-0.9999 (far above FELT's 0.83 threshold)."""
    miss = 2.9 + 0.35 * _smooth_noise(rng, n, 1, 8.0)[:, 0] + rng.normal(0, 0.08, n)
    return _f32(1.0 - 10.0 ** (-np.clip(miss, 1.7, 4.5)))


def _emotion_scores(rng, plan: _Plan, actor: _Actor, env: np.ndarray) -> np.ndarray:
    """ResMaskNet-like softmax scores (T, 7), peaky, leaning weakly towards the trial's emotion."""
    n = plan.num_frames
    cls, push = _EMOTION_CLASS[plan.labels.emotion]
    shift = np.zeros(len(EMOTION_SCORE_NAMES))
    shift[EMOTION_SCORE_NAMES.index(cls)] = push * (0.7 if plan.labels.intensity == "normal" else 1.0)
    logits = (
        actor.emotion_bias
        + rng.normal(0.0, 0.9, len(EMOTION_SCORE_NAMES))
        + shift[None, :] * (0.5 + 0.5 * env[:, None])
        + 0.7 * _smooth_noise(rng, n, len(EMOTION_SCORE_NAMES), 5.0)
        + rng.normal(0.0, 0.2, (n, len(EMOTION_SCORE_NAMES)))
    ) * 2.2
    return _softmax_f32(logits)


def _softmax_f32(logits: np.ndarray) -> np.ndarray:
    """Softmax computed in float32, as the network does, so rows sum to 1 to float32 precision."""
    e = np.exp((logits - logits.max(axis=1, keepdims=True)).astype(np.float32))
    return (e / e.sum(axis=1, keepdims=True, dtype=np.float32)).astype(np.float64)


def _embeddings(rng: np.random.Generator, base: np.ndarray, n: int, jitter: float) -> np.ndarray:
    """FaceNet-like unit vectors: a stable identity plus per-trial and per-frame wobble."""
    k = 1.0 / np.sqrt(EMBEDDING_DIM)
    vec = (
        base[None, :]
        + 0.2 * k * rng.standard_normal(EMBEDDING_DIM)[None, :]
        + jitter * k * _smooth_noise(rng, n, EMBEDDING_DIM, 4.0)
        + 0.5 * jitter * k * rng.standard_normal((n, EMBEDDING_DIM))
    )
    return _f32(vec / np.linalg.norm(vec, axis=1, keepdims=True))


def _main_face(plan: _Plan, actor: _Actor, seed: int) -> np.ndarray:
    """The actor's face in every frame as a (T, 683) block of Py-Feat's numeric columns."""
    rng = _trial_rng(seed, plan.labels, 1)
    n = plan.num_frames
    t = np.arange(n) / FPS
    env, mouth = _vocal_activity(rng, t, plan.labels.vocal_channel == "song")
    blink = _blinks(rng, n)
    logits = _au_logits(rng, plan, actor, env, mouth, blink)
    geometry_aus = _sigmoid(logits)  # the face moves with the smooth AU activity, not its jitter
    aus = _f32(_sigmoid(_AU_GAIN * (logits + rng.normal(0.0, 0.25, logits.shape))))
    nod = 1.2 * env * np.sin(2 * np.pi * rng.uniform(1.0, 2.0) * t + rng.uniform(0, 2 * np.pi))
    pose = actor.pose_bias + rng.normal(0, 1.5, 3) + _smooth_noise(rng, n, 3, 12.0) * [3.0, 1.5, 4.0]
    pose[:, 0] += nod
    drift = _smooth_noise(rng, n, 2, 15.0) * [10.0, 6.0] + rng.normal(0, [12.0, 8.0], 2)
    center = np.asarray(actor.eye_center) + drift + np.stack([0.3 * pose[:, 2], -0.4 * pose[:, 0]], axis=1)
    scale = actor.jaw_px * (1.0 + 0.02 * _smooth_noise(rng, n, 1, 20.0)[:, 0] + rng.normal(0, 0.03))
    shapes = _deform(actor.shape, geometry_aus, mouth, blink)
    lm = _project(shapes, pose, scale, center)
    lm += rng.normal(0, 0.6, lm.shape) + 0.5 * _smooth_noise(rng, n, NUM_LANDMARKS * 2, 3.0).reshape(lm.shape)
    block = np.empty((n, len(_NUMERIC_COLUMNS)))
    block[:, _BOX] = _face_box(lm, scale, rng)
    block[:, _SCORE] = _face_score(rng, n)
    block[:, _LM_X] = lm[..., 0]
    block[:, _LM_Y] = lm[..., 1]
    block[:, _POSE] = _f32(pose + rng.normal(0, 0.5, pose.shape))
    block[:, _AUS] = aus
    block[:, _EMOS] = _emotion_scores(rng, plan, actor, env)
    block[:, _EMB] = _embeddings(rng, actor.embedding, n, 0.12)
    return block


def _second_face(plan: _Plan, seed: int) -> np.ndarray:
    """A weaker false detection at one spot away from the actor (a poster, a reflection), per frame."""
    rng = _trial_rng(seed, plan.labels, 2)
    n = plan.num_frames
    size = rng.uniform(70.0, 140.0)
    left_side = rng.random() < 0.5
    cx = rng.uniform(90.0, 260.0) if left_side else rng.uniform(1020.0, 1190.0)
    center = np.array([cx, rng.uniform(380.0, 560.0)]) + rng.normal(0, 1.5, (n, 2))
    pose = rng.normal(0, [8.0, 10.0, 20.0]) + rng.normal(0, 2.0, (n, 3))
    shapes = _TEMPLATE[None] + rng.normal(0, 0.03, (n, NUM_LANDMARKS, 2))
    scale = np.full(n, size)
    lm = _project(shapes, pose, scale, center)
    block = np.empty((n, len(_NUMERIC_COLUMNS)))
    block[:, _BOX] = _face_box(lm, scale, rng)
    block[:, _SCORE] = _f32(rng.uniform(0.84, 0.97) + rng.normal(0, 0.01, n)).clip(0.831, 0.98)
    block[:, _LM_X] = lm[..., 0]
    block[:, _LM_Y] = lm[..., 1]
    block[:, _POSE] = _f32(pose)
    block[:, _AUS] = _f32(_sigmoid(rng.normal(-0.3, 1.0, len(AU_NAMES)) + rng.normal(0, 0.4, (n, len(AU_NAMES)))))
    block[:, _EMOS] = _softmax_f32(rng.normal(0, 1.5, len(EMOTION_SCORE_NAMES)) + rng.normal(0, 0.5, (n, 7)))
    other = rng.standard_normal(EMBEDDING_DIM)
    block[:, _EMB] = _embeddings(rng, other / np.linalg.norm(other), n, 0.2)
    return block
