"""A weight-free stand-in for Py-Feat's detector, for tests, CI and dry runs (``--backend standin``).

Model weights cannot be downloaded everywhere the pipeline must be tested, so this class plays
Py-Feat 0.6.2's part: it really decodes the video with PyAV (metadata frame count, the
batch-truncation quirk and all), and returns a table shaped exactly like ``detect_video``'s: one
NaN row per no-face frame (with a fresh ``Person_k`` identity), several rows per multi-face frame,
whole-number face boxes, identities clustered like Py-Feat. Values are derived from the pixels, so
a decoding change shows up in the output; they mean nothing as tracking.

It also implements the fast-mode batch interface, so the same numbers come out of both paths.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..schema import (
    AU_NAMES,
    EMBEDDING_DIM,
    EMOTION_SCORE_NAMES,
    FRAME_COLUMN,
    NUM_LANDMARKS,
    PYFEAT_DATA_COLUMNS,
)
from .tracks import IDENTITY_THRESHOLD, cluster_identities, pyfeat_approx_time

FaceSchedule = Callable[[str, int, np.ndarray], int]


def default_face_schedule(name: str, index: int, image: np.ndarray) -> int:
    """0 faces for a video named ``*no_face*``; otherwise 1, with a no-face and a two-face frame every so often."""
    if "no_face" in name:
        return 0
    if index % 17 == 9:
        return 0
    if index % 23 == 11:
        return 2
    return 1


def _face_values(image: np.ndarray, face: int, rng_base: np.ndarray) -> dict[str, Any]:
    """Plausible, pixel-dependent numbers for one face (whole-number box, 68 points inside it)."""
    gray = image[::4, ::4].mean(axis=2, dtype=np.float32).astype(np.float64) / 255.0  # every 4th pixel: cheap
    gh, gw = gray.shape
    h, w = image.shape[:2]
    mean = float(gray.mean())
    x = float(round(w * (0.25 + 0.35 * face) + 10 * mean))
    y = float(round(h * 0.2 + 10 * float(gray[: gh // 2].mean())))
    bw, bh = float(round(w * 0.25)), float(round(h * 0.5))
    theta = np.linspace(0, 2 * np.pi, NUM_LANDMARKS, endpoint=False)
    rows = gray[np.linspace(0, gray.shape[0] - 1, NUM_LANDMARKS).astype(int)].mean(axis=1)
    lx = x + bw * (0.5 + 0.4 * np.cos(theta)) + rows
    ly = y + bh * (0.5 + 0.4 * np.sin(theta)) - rows
    patches = gray[: (gh // 4) * 4, : (gw // 7) * 7].reshape(4, gh // 4, 7, gw // 7).mean(axis=(1, 3)).ravel()
    aus = 1 / (1 + np.exp(-8 * (np.resize(patches, len(AU_NAMES)) - mean)))
    logits = 5 * patches[: len(EMOTION_SCORE_NAMES)]
    emotions = np.exp(logits - logits.max())
    emb = rng_base[face] + 0.01 * np.resize(patches, EMBEDDING_DIM)
    return {
        "box": [x, y, bw, bh],
        "score": 0.9 + 0.09 * mean,
        "lx": lx,
        "ly": ly,
        "pose": [20 * (mean - 0.5), 5 * float(rows.std()), 30 * (float(gray[:, : gw // 2].mean()) - mean)],
        "aus": aus,
        "emotions": emotions / emotions.sum(),
        "identity": emb / np.linalg.norm(emb),
    }


def _rows_for_frame(image: np.ndarray, index: int, n_faces: int, base: np.ndarray) -> list[list]:
    """Py-Feat's ``_create_fex`` rows for one frame: a NaN row when no face, else one row per face."""
    width = len(PYFEAT_DATA_COLUMNS)
    if n_faces == 0:
        return [[np.nan] * width]
    out = []
    for face in range(n_faces):
        v = _face_values(image, face, base)
        numeric = [
            *v["box"],
            v["score"],
            *v["lx"],
            *v["ly"],
            *v["pose"],
            *v["aus"],
            *v["emotions"],
            np.nan,
            *v["identity"],
        ]
        out.append(numeric + [np.nan] * (width - len(numeric)))
    return out


class StandInDetector:
    """Quacks like ``feat.Detector`` (0.6.2) for ``detect_video``, and like a fast-mode batch runner.

    ``init_kwargs`` and ``calls`` record what the pipeline passed, so tests can check that the
    FELT-exact path passes exactly the documented arguments.
    """

    felt_exact = False
    weights = "stand-in (no model)"

    def __init__(self, faces: FaceSchedule | None = None, seed: int = 0, fail_on: Sequence[str] = (), **kwargs: Any):
        self.init_kwargs = dict(kwargs)
        self.calls: list[tuple[str, dict]] = []
        self.faces = faces or default_face_schedule
        self.fail_on = tuple(fail_on)
        base = np.random.default_rng(seed).standard_normal((4, EMBEDDING_DIM))
        self._base = base / np.linalg.norm(base, axis=1, keepdims=True)

    # --- Py-Feat 0.6.2 Detector surface -------------------------------------------------------
    def detect_video(self, video_path: str, **kwargs: Any):
        """Decode like ``VideoDataset`` (PyAV, metadata frame count) and return ``detect_video``'s table."""
        from .fast import decode_frames, probe_video

        self.calls.append((str(video_path), dict(kwargs)))
        self._maybe_fail(video_path)
        meta_frames, fps = probe_video(video_path)
        batch_size = int(kwargs.get("batch_size", 1))
        decoded = decode_frames(video_path, max_frames=meta_frames)
        parts = []
        for start in range(0, meta_frames, batch_size):
            want = min(batch_size, meta_frames - start)
            frames = list(itertools.islice(decoded, want))
            if len(frames) < want:  # Py-Feat's StopIteration ends the loop and drops this batch
                break
            parts.append(self.detect_batch(np.stack(frames), np.arange(start, start + want), str(video_path)))
        return self.finalize(parts, fps=fps, num_frames=meta_frames)

    # --- fast-mode batch runner surface ----------------------------------------------------------
    def detect_batch(self, frames: np.ndarray, indices: np.ndarray, file_name: str):
        """Rows for a batch of RGB frames ``(B, H, W, 3)`` uint8 with their frame numbers."""
        import pandas as pd

        self._maybe_fail(file_name)
        name = Path(file_name).name
        rows, frame_ids = [], []
        for image, idx in zip(frames, indices, strict=True):
            got = _rows_for_frame(image, int(idx), self.faces(name, int(idx), image), self._base)
            rows += got
            frame_ids += [int(idx)] * len(got)
        df = pd.DataFrame(rows, columns=list(PYFEAT_DATA_COLUMNS))
        df[FRAME_COLUMN] = np.asarray(frame_ids, dtype=np.int64)
        df["input"] = file_name
        return df

    def finalize(self, parts: list, *, fps: float, num_frames: int):
        """Concatenate batches, then ``approx_time``, identities and the ``frame`` index, like ``detect_video``."""
        import pandas as pd

        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(PYFEAT_DATA_COLUMNS))
        df["approx_time"] = [pyfeat_approx_time(int(f), fps, num_frames) for f in df[FRAME_COLUMN]]
        emb = df[[f"Identity_{i}" for i in range(1, EMBEDDING_DIM + 1)]].to_numpy(dtype=np.float64)
        df["Identity"] = cluster_identities(emb, IDENTITY_THRESHOLD)
        return df.set_index(FRAME_COLUMN, drop=False)

    def describe(self) -> dict:
        return {"detector": "StandInDetector", "weights": self.weights, "init_kwargs": _jsonable(self.init_kwargs)}

    def _maybe_fail(self, path: str) -> None:
        name = Path(str(path)).name
        if any(tag in name for tag in self.fail_on):
            raise RuntimeError(f"stand-in detector told to fail on {name}")


def _jsonable(d: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
