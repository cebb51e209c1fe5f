"""Provenance of regenerated files (manifest -> convert -> card), ``--weights`` checks, and the shims for
unpinned stacks. Runs in the main environment; the real-detector side is tests/test_regen_pyfeat.py."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from felt_hf.provenance import provenance_banner, regeneration_provenance
from felt_hf.regen import compat
from felt_hf.regen.cli import main
from felt_hf.regen.detectors import FeltExactTracker, tracker_provenance
from felt_hf.regen.fast import FastTracker
from felt_hf.regen.pipeline import run
from felt_hf.regen.standin import StandInDetector
from felt_hf.regen.videos import discover_videos

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "pyfeat"
TRIAL = "01-01-03-02-01-02-01"
needs_video = pytest.mark.skipif(not (FIXTURES / "single_face.mp4").is_file(), reason="fixture video absent")


class RandomWeightsDetector:
    """Only what tracker_provenance reads from a Py-Feat Detector built by random_weights.py."""

    felt_weights = "random"


def test_tracker_provenance_names_detector_and_weights():
    assert tracker_provenance(FeltExactTracker(StandInDetector(), device="cpu")) == {
        "detector": "standin",
        "weights": "none",
        "felt_exact": False,
    }
    assert tracker_provenance(FastTracker(StandInDetector()))["detector"] == "standin"
    assert tracker_provenance(FeltExactTracker(RandomWeightsDetector(), device="cpu")) == {
        "detector": "pyfeat-0.6.2",
        "weights": "random",
        "felt_exact": True,
    }
    assert tracker_provenance(FeltExactTracker(object(), device="cpu"))["weights"] == "pretrained"


def _manifest(root: Path, *records: dict) -> Path:
    (root / "manifest").mkdir(parents=True)
    lines = [json.dumps(r) for r in records] + ['{"torn by a kill']
    (root / "manifest" / "shard-00000-of-00001.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_provenance_summary_and_banner(tmp_path):
    assert regeneration_provenance(tmp_path) is None and provenance_banner(None) == ""
    ok = {"status": "ok", "provenance": {"detector": "pyfeat-0.6.2", "weights": "pretrained", "felt_exact": True}}
    failed = {"status": "error", "provenance": {"detector": "pyfeat-0.6.2", "weights": "random", "felt_exact": True}}
    prov = regeneration_provenance(_manifest(tmp_path / "a", ok, failed))
    assert prov == {"detectors": ["pyfeat-0.6.2"], "weights": ["pretrained"], "felt_exact": True, "trials": 1}
    assert provenance_banner(prov) == ""
    rnd = {"status": "ok", "provenance": {"detector": "pyfeat-0.6.2", "weights": "random", "felt_exact": False}}
    prov = regeneration_provenance(_manifest(tmp_path / "b", ok, rnd))
    assert prov["weights"] == ["pretrained", "random"] and prov["felt_exact"] is False
    assert "NOT PRETRAINED TRACKING" in provenance_banner(prov) and "random" in provenance_banner(prov)
    old = {"status": "ok"}  # a manifest line written before provenance existed
    assert regeneration_provenance(_manifest(tmp_path / "c", old))["weights"] == ["unknown"]


@needs_video
def test_converted_card_of_a_standin_regeneration_says_so(tmp_path):
    from felt_hf.convert import convert_felt

    actor = tmp_path / "videos" / "Actor_01"
    actor.mkdir(parents=True)
    (actor / f"{TRIAL}.mp4").write_bytes((FIXTURES / "single_face.mp4").read_bytes())
    out = tmp_path / "regen"
    run(discover_videos(tmp_path / "videos"), FeltExactTracker(StandInDetector(), device="cpu"), out, progress=False)
    rec = json.loads((out / "manifest" / "shard-00000-of-00001.jsonl").read_text().splitlines()[0])
    assert rec["provenance"] == {"detector": "standin", "weights": "none", "felt_exact": False}
    summary = convert_felt(out, tmp_path / "hub", num_proc=1, progress=False)
    assert summary["regeneration"]["detectors"] == ["standin"]
    card = (tmp_path / "hub" / "README.md").read_text()
    assert "NOT PRETRAINED TRACKING" in card and "standin" in card


@needs_video
def test_weights_random_needs_the_pyfeat_backend(tmp_path, capsys):
    actor = tmp_path / "videos" / "Actor_01"
    actor.mkdir(parents=True)
    (actor / f"{TRIAL}.mp4").write_bytes((FIXTURES / "single_face.mp4").read_bytes())
    args = ["--videos", str(tmp_path / "videos"), "--out", str(tmp_path / "o"), "--backend", "standin"]
    assert main([*args, "--weights", "random"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--weights random applies to --backend pyfeat" in err[0]
    assert not (tmp_path / "o").exists()


def test_numpy_mat_and_lib2to3_shims(monkeypatch):
    monkeypatch.delattr(np, "mat", raising=False)
    monkeypatch.setitem(sys.modules, "lib2to3", None)  # as on Python 3.13 or a build without it
    monkeypatch.setitem(sys.modules, "lib2to3.pytree", None)
    added = compat.install_shims()
    assert "numpy.mat" in added and "lib2to3.pytree" in added
    assert np.mat is np.asmatrix
    from lib2to3.pytree import convert  # what Py-Feat's resmasknet_test imports

    with pytest.raises(NotImplementedError, match="lib2to3"):
        convert()
    assert isinstance(sys.modules["lib2to3"], types.ModuleType)
    again = compat.install_shims()
    assert "numpy.mat" not in again and "lib2to3.pytree" not in again
