"""Detector backends behind one small interface, and FELT's exact Py-Feat settings.

A *tracker* turns one local video file into a Py-Feat-shaped table (``detect_video``'s output:
one row per face per frame, a NaN row per no-face frame). The pipeline only ever sees trackers, so
tests inject a weight-free stand-in and everything else (decoding, forward-fill, smoothing, CSV
layout, sharding, resume, manifest) runs for real.

Backends:
- ``pyfeat`` (default): Py-Feat 0.6.2 with FELT's exact ``Detector(...)`` and ``detect_video(...)``
  arguments: FELT-exact. With ``fast=True``, the fast runner of :mod:`.fast` (not FELT-exact).
- ``pyfeat2``: Py-Feat 2.x ``Detectorv1`` mapped onto FELT's columns: NOT FELT-exact (other model
  code, weights fetched from the hub, no-face frames restored as NaN rows by us).
- ``standin``: :class:`~.standin.StandInDetector`, no models; for dry runs and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from ..errors import FeltMissingColumnsError
from ..schema import (
    FRAME_COLUMN,
    IDENTITY_COLUMNS,
    PYFEAT_DATA_COLUMNS,
    PYFEAT_MODELS,
    TRACKING_COLUMNS,
)
from .compat import FeltRegenError, import_pyfeat, package_version, patch_detect_identity
from .tracks import IDENTITY_THRESHOLD, cluster_identities, pyfeat_approx_time

# FELT_FORMAT.md, "Regeneration settings": the exact arguments of FELT's producing script.
FELT_DETECTOR_KWARGS = MappingProxyType(
    {
        **PYFEAT_MODELS,
        "device": "cuda",
        "n_jobs": 1,
        "verbose": False,
    }
)
FELT_DETECT_VIDEO_KWARGS = MappingProxyType(
    {
        "skip_frames": None,
        "output_size": (720, 1280),
        "batch_size": 5,
        "num_workers": 0,
        "pin_memory": False,
        "face_detection_threshold": 0.83,
        "face_identity_threshold": 0.8,
    }
)
BACKENDS = ("pyfeat", "pyfeat2", "standin")


class Tracker(Protocol):
    """One video file in, one Py-Feat-shaped ``pandas.DataFrame`` out."""

    felt_exact: bool
    mode: str

    def track(self, video_path: str) -> Any: ...

    def describe(self) -> dict: ...


def felt_detector_kwargs(device: str = "cuda") -> dict:
    """FELT's ``Detector(...)`` arguments; only ``device`` may differ (it does not change the models)."""
    return {**FELT_DETECTOR_KWARGS, "device": device}


def make_pyfeat_detector(device: str = "cuda", detector_cls: Callable[..., Any] | None = None) -> Any:
    """Build Py-Feat 0.6.2's ``Detector`` with FELT's arguments; ``detector_cls`` injects a stand-in.

    The real class gets FELT's ``.detach()`` fix bound on the instance (site-packages untouched).
    """
    if detector_cls is None:
        feat = import_pyfeat()
        detector_cls = feat.Detector
        try:
            detector = detector_cls(**felt_detector_kwargs(device))
        except OSError as e:  # urllib's URLError/HTTPError, a missing file, a full disk
            raise missing_weights_error(e) from None
        return patch_detect_identity(detector)
    return detector_cls(**felt_detector_kwargs(device))


def missing_weights_error(cause: BaseException) -> FeltRegenError:
    """One line: which weight files are missing, where Py-Feat and torchvision looked, and what to do."""
    from feat.utils.io import get_resource_path

    from .random_weights import missing_weight_files

    missing = missing_weight_files(get_resource_path())
    by_dir: dict[str, list[str]] = {}
    for path in missing:
        folder, _, name = path.rpartition("/")
        by_dir.setdefault(folder, []).append(name)
    where = "; ".join(f"{len(names)} missing in {folder}: {', '.join(names)}" for folder, names in by_dir.items())
    reason = " ".join(f"{type(cause).__name__}: {cause}".split())
    return FeltRegenError(
        f"Py-Feat weights could not be loaded or downloaded ({reason}); {where or 'no file is missing'}. "
        "Run once with network access, copy the files there, or use --weights random for a dry run"
    )


class FeltExactTracker:
    """Calls ``detector.detect_video(path, **FELT_DETECT_VIDEO_KWARGS)``, nothing else."""

    felt_exact = True
    mode = "felt-exact"

    def __init__(self, detector: Any, *, device: str = "cuda", weights: str = "pretrained"):
        self.detector = detector
        self.device = device
        self.weights = weights

    def track(self, video_path: str):
        return self.detector.detect_video(str(video_path), **FELT_DETECT_VIDEO_KWARGS)

    def describe(self) -> dict:
        described = self.detector.describe() if hasattr(self.detector, "describe") else {}
        return {
            "mode": self.mode,
            "felt_exact": getattr(self.detector, "felt_exact", True),
            "detector_kwargs": _jsonable(felt_detector_kwargs(self.device)),
            "detect_video_kwargs": _jsonable(FELT_DETECT_VIDEO_KWARGS),
            "weights": self.weights,
            **described,
        }


def _jsonable(d) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(d).items()}


# --- Py-Feat 2.x Detectorv1 ----------------------------------------------------------------------
PYFEAT2_DETECTOR_KWARGS = MappingProxyType(
    {
        "face_model": "img2pose",
        "landmark_model": "mobilenet",
        "au_model": "xgb",
        "emotion_model": "resmasknet",
        "identity_model": "facenet",
        "gaze_model": None,
    }
)


def make_pyfeat2_detector(device: str = "cuda", detector_cls: Callable[..., Any] | None = None) -> Any:
    """Py-Feat 2.x ``Detectorv1`` with the models closest to FELT's (weights come from the HF hub)."""
    if detector_cls is None:
        version = package_version("py-feat") or ""
        if not version or int(version.split(".")[0]) < 2:
            raise FeltRegenError(
                f"--backend pyfeat2 needs py-feat>=2 (found {version or 'none'}); pip install 'py-feat>=2'"
            )
        detector_cls = import_pyfeat(require_version=None, shims=False).Detectorv1
    return detector_cls(**PYFEAT2_DETECTOR_KWARGS, device=device)


class PyFeat2Tracker:
    """``Detectorv1.detect(path, data_type="video")`` mapped onto FELT's 0.6.2 layout. Not FELT-exact."""

    felt_exact = False
    mode = "pyfeat2"

    def __init__(self, detector: Any, *, batch_size: int = 5, device: str = "cuda"):
        self.detector = detector
        self.batch_size = batch_size
        self.device = device

    def track(self, video_path: str):
        from .fast import probe_video

        df = self.detector.detect(
            str(video_path),
            data_type="video",
            output_size=FELT_DETECT_VIDEO_KWARGS["output_size"],
            batch_size=self.batch_size,
            num_workers=0,
            pin_memory=False,
            face_detection_threshold=FELT_DETECT_VIDEO_KWARGS["face_detection_threshold"],
            face_identity_threshold=FELT_DETECT_VIDEO_KWARGS["face_identity_threshold"],
            progress_bar=False,
        )
        num_frames, fps = probe_video(video_path)
        return map_pyfeat2_frame(df, num_frames=num_frames, fps=fps, file=str(video_path))

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "felt_exact": False,
            "detector": "py-feat 2.x Detectorv1",
            "detector_kwargs": _jsonable(PYFEAT2_DETECTOR_KWARGS),
            "batch_size": self.batch_size,
            "device": self.device,
        }


_PYFEAT2_REQUIRED = TRACKING_COLUMNS


def map_pyfeat2_frame(df, *, num_frames: int, fps: float, file: str):
    """Py-Feat 2.x output -> 0.6.2's table: columns by name, NaN rows for the no-face frames 2.x drops.

    2.x adds ``X, Y, Z`` pose translation and gaze columns (dropped), may order groups differently,
    and writes no row for a frame without a face; 0.6.2 wrote a NaN row there. Identities are
    re-clustered over the full table so no-face rows get fresh ``Person_k`` labels as in 0.6.2.
    """
    import pandas as pd

    names = set(map(str, df.columns))
    missing = [c for c in (FRAME_COLUMN, *_PYFEAT2_REQUIRED) if c not in names]
    if missing:
        raise FeltMissingColumnsError(file, missing)
    frames = np.asarray(df[FRAME_COLUMN], dtype=np.int64)
    total = max(int(num_frames), int(frames.max()) + 1 if frames.size else 0)
    order = np.argsort(frames, kind="stable")
    numeric = list(_PYFEAT2_REQUIRED) + list(IDENTITY_COLUMNS)
    values = np.column_stack(
        [np.asarray(df[c], dtype=np.float64) if c in names else np.full(len(df), np.nan) for c in numeric]
    )[order]
    present = np.zeros(total, dtype=bool)
    present[frames] = True
    empty = np.flatnonzero(~present)
    all_frames = np.concatenate([frames[order], empty])
    all_values = np.vstack([values, np.full((len(empty), len(numeric)), np.nan)])
    resort = np.argsort(all_frames, kind="stable")
    out = pd.DataFrame(all_values[resort], columns=numeric)
    out[FRAME_COLUMN] = all_frames[resort]
    out["input"] = file
    out["approx_time"] = [pyfeat_approx_time(int(f), fps, num_frames) for f in out[FRAME_COLUMN]]
    out["Identity"] = cluster_identities(out[list(IDENTITY_COLUMNS)].to_numpy(), IDENTITY_THRESHOLD)
    return out[list(PYFEAT_DATA_COLUMNS)].set_index(FRAME_COLUMN, drop=False)


# --- one place that builds a tracker from CLI choices ------------------------------------------------
def check_tracker_options(backend: str, *, fast: bool = False, batch_size: int | None = None) -> None:
    """The options :func:`build_tracker` refuses, checked without building anything: the command
    line checks them before ``--list`` too, which had listed (exit 0) what the run then refused."""
    if backend not in BACKENDS:
        raise FeltRegenError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if backend == "pyfeat2":
        if fast:
            raise FeltRegenError(
                "--fast applies to the Py-Feat 0.6.2 backend; pyfeat2 has its own batching (--batch-size)"
            )
        return
    if not fast and batch_size not in (None, FELT_DETECT_VIDEO_KWARGS["batch_size"]):
        raise FeltRegenError("FELT-exact mode runs detect_video with batch_size=5; --batch-size needs --fast")


def build_tracker(
    backend: str = "pyfeat",
    *,
    device: str = "cuda",
    fast: bool = False,
    batch_size: int | None = None,
    detector: Any = None,
) -> Tracker:
    """A tracker for ``backend``; ``detector`` injects a ready detector (tests, benchmarks)."""
    from .fast import DEFAULT_FAST_BATCH, FastTracker, PyFeatFastRunner

    check_tracker_options(backend, fast=fast, batch_size=batch_size)
    if backend == "pyfeat2":
        return PyFeat2Tracker(detector or make_pyfeat2_detector(device), batch_size=batch_size or 5, device=device)
    if backend == "standin":
        from .standin import StandInDetector

        det = detector or StandInDetector(**felt_detector_kwargs(device))
        if fast:
            return FastTracker(det, batch_size=batch_size or DEFAULT_FAST_BATCH)
        return FeltExactTracker(det, device=device, weights=det.weights)
    det = detector or make_pyfeat_detector(device)
    if fast:
        runner = PyFeatFastRunner(
            det,
            device=device,
            threshold=FELT_DETECT_VIDEO_KWARGS["face_detection_threshold"],
            identity_threshold=FELT_DETECT_VIDEO_KWARGS["face_identity_threshold"],
        )
        return FastTracker(runner, batch_size=batch_size or DEFAULT_FAST_BATCH)
    return FeltExactTracker(det, device=device, weights=getattr(det, "felt_weights", "pretrained"))


# --- provenance: what made a regenerated file (manifest -> convert -> card) ----------------------------
PROVENANCE_DETECTORS = ("pyfeat-0.6.2", "pyfeat2", "standin")
PROVENANCE_WEIGHTS = ("pretrained", "random", "none")


def tracker_provenance(tracker: Any) -> dict:
    """``{"detector": one of PROVENANCE_DETECTORS, "weights": one of PROVENANCE_WEIGHTS, "felt_exact": bool}``.

    Written into every manifest line under ``provenance`` so that ``felt-hf convert`` can tell users of
    the card when the numbers come from random models (``--weights random``) or from no model at all.
    """
    from .fast import PyFeatFastRunner
    from .standin import StandInDetector

    exact = bool(tracker.describe().get("felt_exact", False))
    if isinstance(tracker, PyFeat2Tracker):
        return {"detector": "pyfeat2", "weights": "pretrained", "felt_exact": False}
    det = getattr(tracker, "detector", None) or getattr(tracker, "runner", None)
    if isinstance(det, PyFeatFastRunner):
        det = det.detector
    if isinstance(det, StandInDetector):
        return {"detector": "standin", "weights": "none", "felt_exact": exact}
    weights = str(getattr(det, "felt_weights", "pretrained"))
    return {
        "detector": "pyfeat-0.6.2",
        "weights": "random" if weights.startswith("random") else "pretrained",
        "felt_exact": exact,
    }
