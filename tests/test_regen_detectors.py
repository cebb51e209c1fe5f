"""Backends: FELT's exact Py-Feat arguments, the Py-Feat 2.x column mapping, import shims, the .detach() fix."""

from __future__ import annotations

import configparser
import importlib
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from felt_hf.errors import FeltMissingColumnsError
from felt_hf.regen import compat
from felt_hf.regen.detectors import (
    FELT_DETECT_VIDEO_KWARGS,
    FELT_DETECTOR_KWARGS,
    FeltExactTracker,
    build_tracker,
    make_pyfeat_detector,
    map_pyfeat2_frame,
)
from felt_hf.regen.fast import FastTracker
from felt_hf.regen.standin import StandInDetector
from felt_hf.regen.tracks import cluster_identities, columns_from_frame, pyfeat_approx_time
from felt_hf.schema import AU_NAMES, EMOTION_SCORE_NAMES, IDENTITY_COLUMNS, PYFEAT_DATA_COLUMNS

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / ".." / "shared" / "fixtures" / "pyfeat"
FORMAT_DOC = REPO / ".." / "shared" / "docs" / "FELT_FORMAT.md"

# Spelled out from FELT_FORMAT.md ("Regeneration settings"), not imported, so a drift in the
# constants fails here.
DOC_DETECTOR = {
    "face_model": "img2pose",
    "landmark_model": "mobilenet",
    "au_model": "xgb",
    "emotion_model": "resmasknet",
    "facepose_model": "img2pose-c",
    "identity_model": "facenet",
    "device": "cuda",
    "n_jobs": 1,
    "verbose": False,
}
DOC_DETECT_VIDEO = {
    "skip_frames": None,
    "output_size": (720, 1280),
    "batch_size": 5,
    "num_workers": 0,
    "pin_memory": False,
    "face_detection_threshold": 0.83,
    "face_identity_threshold": 0.8,
}


@pytest.mark.skipif(not (FIXTURES / "single_face.mp4").is_file(), reason="fixture video absent")
def test_felt_exact_path_passes_exactly_the_documented_arguments():
    det = make_pyfeat_detector("cuda", detector_cls=StandInDetector)
    assert det.init_kwargs == DOC_DETECTOR
    tracker = build_tracker("pyfeat", device="cuda", detector=det)
    assert isinstance(tracker, FeltExactTracker) and tracker.felt_exact
    tracker.track(str(FIXTURES / "single_face.mp4"))
    assert len(det.calls) == 1
    path, kwargs = det.calls[0]
    assert path.endswith("single_face.mp4")
    assert kwargs == DOC_DETECT_VIDEO and type(kwargs["output_size"]) is tuple


@pytest.mark.skipif(not FORMAT_DOC.is_file(), reason="FELT_FORMAT.md absent")
def test_constants_match_the_format_document():
    text = re.sub(r"\s+", " ", FORMAT_DOC.read_text())

    def call(name: str, kwargs) -> str:
        def lit(v):
            return f'"{v}"' if isinstance(v, str) else repr(v)

        return f"{name}(" + ", ".join(f"{k}={lit(v)}" for k, v in kwargs.items())

    assert call("Detector", FELT_DETECTOR_KWARGS) + ")" in text
    assert call("detect_video", {"path": None, **FELT_DETECT_VIDEO_KWARGS}).replace("path=None", "path") + ")" in text


def test_device_is_the_only_detector_argument_that_may_change():
    det = make_pyfeat_detector("cpu", detector_cls=StandInDetector)
    assert det.init_kwargs == {**DOC_DETECTOR, "device": "cpu"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "pyfeat", "batch_size": 8}, "batch_size=5"),
        ({"backend": "standin", "batch_size": 16}, "batch_size=5"),
        ({"backend": "pyfeat2", "fast": True}, "--fast"),
        ({"backend": "nope"}, "unknown backend"),
    ],
)
def test_build_tracker_rejects_inexact_combinations(kwargs, match):
    backend = kwargs.pop("backend")
    with pytest.raises(compat.FeltRegenError, match=match):
        build_tracker(backend, detector=StandInDetector(), **kwargs)


def test_fast_standin_tracker_is_marked_not_exact():
    t = build_tracker("standin", device="cpu", fast=True, batch_size=7)
    assert isinstance(t, FastTracker) and t.batch_size == 7
    d = t.describe()
    assert d["felt_exact"] is False and d["mode"] == "fast"


# --- Py-Feat 2.x mapping -----------------------------------------------------------------------------
def _pyfeat2_frame(rng, frames):
    """A Detectorv1-like table: AUs before pose, 6-DoF pose, gaze, identity last, no rows for faceless frames."""
    n = len(frames)
    cols = {}
    for c in ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight", "FaceScore"):
        cols[c] = rng.uniform(1, 100, n)
    for i in range(68):
        cols[f"x_{i}"] = rng.uniform(0, 1280, n)
    for i in range(68):
        cols[f"y_{i}"] = rng.uniform(0, 720, n)
    for c in AU_NAMES:
        cols[c] = rng.uniform(0, 1, n)
    for c in ("Pitch", "Roll", "Yaw", "X", "Y", "Z"):
        cols[c] = rng.normal(size=n)
    for c in EMOTION_SCORE_NAMES:
        cols[c] = rng.uniform(0, 1, n)
    cols["gaze_angle_x"] = rng.normal(size=n)
    base = rng.normal(size=512)
    emb = base + 0.01 * rng.normal(size=(n, 512))
    for i, c in enumerate(IDENTITY_COLUMNS):
        cols[c] = emb[:, i]
    cols["input"] = "clip.mp4"
    cols["frame"] = frames
    cols["approx_time"] = "00:00"
    cols["Identity"] = "Person_0"
    return pd.DataFrame(cols)


def test_pyfeat2_output_maps_onto_felt_layout():
    rng = np.random.default_rng(1)
    src = _pyfeat2_frame(rng, np.array([0, 0, 2]))
    out = map_pyfeat2_frame(src, num_frames=4, fps=29.97, file="clip.mp4")
    assert list(out.columns) == list(PYFEAT_DATA_COLUMNS)
    assert out["frame"].tolist() == [0, 0, 1, 2, 3]
    assert out["x_5"].iloc[[2, 4]].isna().all(), "frames 2.x dropped come back as NaN rows"
    np.testing.assert_array_equal(out["Yaw"].to_numpy()[[0, 1, 3]], src["Yaw"].to_numpy())
    ids = out["Identity"].tolist()
    assert ids[0] == ids[1] == ids[3] and len({ids[2], ids[4], ids[0]}) == 3
    cols = columns_from_frame(out, "clip.mp4")
    assert cols["frame"].tolist() == [0, 0, 1, 2, 3]


def test_pyfeat2_missing_column_names_the_file():
    src = _pyfeat2_frame(np.random.default_rng(2), np.array([0, 1])).drop(columns=["AU43"])
    with pytest.raises(FeltMissingColumnsError, match=r"clip\.mp4.*AU43"):
        map_pyfeat2_frame(src, num_frames=2, fps=30.0, file="clip.mp4")


# --- Py-Feat behaviours reproduced in tracks.py ----------------------------------------------------------
def test_cluster_identities_gives_nan_rows_fresh_labels():
    a = np.array([1.0, 0.0, 0.0])
    emb = np.array([a, a * 2, [np.nan] * 3, [0.0, 1.0, 0.0], a, [np.nan] * 3])
    assert cluster_identities(emb) == ["Person_0", "Person_0", "Person_1", "Person_2", "Person_0", "Person_3"]


@pytest.mark.parametrize(
    ("frame", "want"), [(0, "00:00"), (29, "00:00"), (30, "00:01"), (1800, "01:00"), (2500, "01:06")]
)
def test_approx_time_like_pyfeat(frame, want):
    assert pyfeat_approx_time(frame, 30.0, num_frames=2000) == want  # past the end: capped at 2000 / 30 s


def test_missing_column_in_detector_output_names_the_video():
    df = pd.DataFrame({"frame": [0], "FaceRectX": [1.0]})
    with pytest.raises(FeltMissingColumnsError, match=r"Actor_01/x\.mp4.*FaceRectY"):
        columns_from_frame(df, "Actor_01/x.mp4")


# --- import path: shims, pins, the real package ----------------------------------------------------------
def test_simps_shim_added_only_where_missing():
    integrate = importlib.import_module("scipy.integrate")
    had = hasattr(integrate, "simps")
    try:
        added = compat.install_shims()
        assert ("scipy.integrate.simps" in added) == (not had)
        y = np.array([0.0, 1.0, 4.0, 9.0, 16.0])
        assert integrate.simps(y) == pytest.approx(integrate.simpson(y))
        assert integrate.simps(y, np.arange(5) * 0.5) == pytest.approx(integrate.simpson(y, x=np.arange(5) * 0.5))
        assert "scipy.integrate.simps" not in compat.install_shims(), "second call must be a no-op"
    finally:
        if not had and getattr(getattr(integrate, "simps", None), "__felt_shim__", False):
            del integrate.simps


def test_read_video_shim_on_a_torchvision_without_it(monkeypatch):
    tv = types.ModuleType("torchvision")
    tv_io = types.ModuleType("torchvision.io")
    tv.io = tv_io
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.io", tv_io)
    assert "torchvision.io.read_video" in compat.install_shims()
    with pytest.raises(NotImplementedError, match="read_video"):
        tv_io.read_video("x.mp4")

    def real(*a):
        return "decoded"

    tv_io.read_video = real
    assert "torchvision.io.read_video" not in compat.install_shims()
    assert tv_io.read_video is real


def test_detached_detect_identity_fixes_the_grad_error():
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(4, 3)

    class Host:
        identity_model = staticmethod(lambda faces: model(faces))

        @staticmethod
        def _convert_detector_output(facebox, arr):
            return [arr[: len(facebox[0])]]

    frame = torch.ones(1, 4) * 255
    fn = compat.detached_detect_identity(
        convert=lambda f, img_type=None: f.float(),
        extract=lambda frame, facebox: (frame, None),
        is_empty=lambda boxes: all(len(b) == 0 for b in boxes),
    )
    with pytest.raises(RuntimeError, match="grad"):
        model(frame / 255).numpy()  # what unpatched Py-Feat 0.6.2 does
    out = fn(Host(), frame, [[[0, 0, 1, 1, 0.9]]])
    np.testing.assert_allclose(out[0], model(frame / 255).detach().numpy())
    assert fn(Host(), frame, [[]]) == [[]]


def test_import_pyfeat_explains_how_to_install(monkeypatch):
    monkeypatch.setattr(compat, "package_version", lambda name: None)
    with pytest.raises(compat.FeltRegenError, match="requirements-regen.txt"):
        compat.import_pyfeat()
    monkeypatch.setattr(compat, "package_version", lambda name: "2.1.5")
    with pytest.raises(compat.FeltRegenError, match=r"py-feat==0\.6\.2.*found 2\.1\.5"):
        compat.import_pyfeat()


def _requirements(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower()
            out[name] = line[len(name) :].strip()
    return out


def test_pins_agree_between_requirements_file_and_regen_extra():
    req = _requirements((REPO / "requirements-regen.txt").read_text())
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    extra = _requirements(cfg["options.extras_require"]["regen"])
    for name, spec in {"torch": "==2.10.*", "torchvision": "==0.25.*", "scipy": "==1.13.1"}.items():
        assert req[name] == spec and extra[name] == spec, name
    assert req["numpy"] == extra["numpy"] == ">=1.24,<2"
    for name, spec in {"scikit-learn": ">=1.2,<1.8", "pyarrow": ">=24,<26", "xgboost": "==2.1.*"}.items():
        assert req[name] == extra[name] == spec, name
    core = {"tqdm"}  # in felt-hf's install_requires already
    assert {k: v for k, v in req.items() if k not in core} == extra, "the file and the regen extra must pin one stack"
    # py-feat/nltools go in with --no-deps (nltools' numpy<1.24 cap cannot co-exist with felt-hf's numpy>=1.24)
    assert "py-feat" not in req and "nltools" not in req and "py-feat" not in extra
    doc = (REPO / "docs" / "REGENERATION.md").read_text()
    assert "pip install --no-deps py-feat==0.6.2 nltools==0.5.1" in doc


@pytest.mark.skipif(compat.package_version("py-feat") != "0.6.2", reason="py-feat 0.6.2 not installed here")
def test_real_pyfeat_062_imports_through_our_path():
    feat = compat.import_pyfeat()
    assert hasattr(feat, "Detector") and hasattr(feat.Detector, "detect_video")
    import inspect

    params = inspect.signature(feat.Detector.detect_video).parameters
    assert set(DOC_DETECT_VIDEO) <= set(params)
    assert set(DOC_DETECTOR) - {"device", "n_jobs", "verbose"} <= set(inspect.signature(feat.Detector).parameters)
