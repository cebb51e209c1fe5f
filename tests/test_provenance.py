"""Provenance: stand-in, random-weight, fast or Py-Feat 2.x tracking is never presented as FELT.

The end-to-end test runs the real regeneration pipeline with the stand-in detector on a real
mp4 (PyAV), converts its output and reads the card; the unit tests pin the manifest fields
(issue 9's ``weights``/``detector``/``mode``) that decide it.
"""

from __future__ import annotations

import json

import pytest

from felt_hf import card
from felt_hf.cli import main
from felt_hf.provenance import provenance_of, push_warning, record_issues

try:
    from videos_fake import write_ravdess_folder
except ImportError:  # tests/ imported as a package
    from tests.videos_fake import write_ravdess_folder

EXACT = {
    "status": "ok",
    "settings": {"mode": "felt-exact", "felt_exact": True, "backend": "pyfeat", "weights": "pretrained"},
    "versions": {"py-feat": "0.6.2"},
}


def _with(**settings) -> dict:
    return {**EXACT, "settings": {**EXACT["settings"], **settings}}


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        (_with(weights="random"), "weights random"),
        (_with(mode="fast", felt_exact=False), "felt_exact: false"),
        (_with(mode="fast", felt_exact=None), "mode fast"),
        (_with(backend="standin"), "backend standin"),
        (_with(detector="StandInDetector"), "stand-in"),
        (_with(detector="standin"), "stand-in"),
        (_with(backend="pyfeat2", detector="py-feat 2.x Detectorv1"), "backend pyfeat2"),
        ({**EXACT, "versions": {"py-feat": "0.6.3"}}, "py-feat 0.6.3"),
        ({"status": "ok", "settings": {}}, "does not record the tracking mode"),
    ],
)
def test_anything_but_exact_pretrained_062_is_flagged(record, needle):
    issues = record_issues(record)
    assert any(needle in i for i in issues), issues
    prov = provenance_of([EXACT, record])
    assert prov["marked"] and prov["kind"] == "regenerated-not-exact"


def test_exact_pretrained_062_is_not_flagged():
    assert record_issues(EXACT) == []
    assert record_issues(_with(mode="exact", detector="pyfeat-0.6.2")) == []
    prov = provenance_of([EXACT])
    assert prov["kind"] == "regenerated-exact" and not prov["marked"]
    assert provenance_of([])["kind"] == "felt"


def test_not_exact_card_title_banner_tags():
    summary = {
        "configs": {
            "smoothed_speech": {"splits": {"train": {"num_examples": 1, "files": ["smoothed_speech/train-1"]}}}
        },
        "provenance": provenance_of([_with(weights="random")]),
    }
    summary["configs"]["smoothed_speech"]["splits"]["train"]["files"] = ["smoothed_speech/train-00000-of-00001.parquet"]
    y = card.card_yaml(summary)
    assert "NOT FELT" in y["pretty_name"] and {"regenerated", "not-felt-exact"} <= set(y["tags"])
    body = card.render_card(summary).split("\n---\n", 1)[1].lstrip()
    assert body.startswith("> [!WARNING]") and "**NOT FELT.**" in body and "weights random" in body
    assert body.split("\n# ", 1)[1].startswith(y["pretty_name"])


def test_standin_regeneration_converts_into_a_marked_card_and_push_warns(tmp_path, capsys):
    videos = write_ravdess_folder(tmp_path / "RAVDESS", ("01-01-03-01-01-01-01", "01-01-05-02-01-02-02"))
    regen = tmp_path / "regen"
    argv = ["--videos", str(videos), "--out", str(regen), "--backend", "standin", "--device", "cpu", "--no-progress"]
    assert main(["regenerate", *argv]) == 0
    out = tmp_path / "felt"
    assert main(["convert", str(regen), "--out", str(out), "--no-progress", "--num-proc", "1"]) == 0
    err = capsys.readouterr().err
    assert "note: NOT FELT" in err and "stand-in" in err
    text = (out / "README.md").read_text()
    assert "pretty_name: 'FELT: RAVDESS Facial Expression and Landmark Tracking (NOT FELT" in text
    assert "- not-felt-exact" in text and "> **NOT FELT.**" in text
    assert "regenerated tracking (scripts/regenerate.py)" in text
    assert push_warning(out) and "NOT FELT-exact" in push_warning(out)
    assert main(["push", str(out), "--repo-id", "someone/felt", "--dry-run"]) == 0
    assert "felt-hf: warning:" in capsys.readouterr().err
    assert main(["push", str(out), "--repo-id", "someone/felt", "--dry-run", "--private"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_synthetic_sample_push_warns(sample_hub, capsys):
    assert main(["push", str(sample_hub), "--repo-id", "someone/felt", "--dry-run"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().err


def test_felt_card_has_no_warning(sample_hub, tmp_path):
    import shutil

    folder = tmp_path / "felt"
    shutil.copytree(sample_hub, folder)
    text = (folder / "README.md").read_text().replace("- synthetic\n", "")
    (folder / "README.md").write_text(text)
    assert push_warning(folder) is None


@pytest.mark.parametrize(
    ("prov", "needle"),
    [
        ({"detector": "pyfeat-0.6.2", "weights": "random", "felt_exact": True}, "weights random"),
        ({"detector": "standin", "weights": "none", "felt_exact": False}, "detector standin"),
        ({"detector": "pyfeat2", "weights": "pretrained", "felt_exact": False}, "felt_exact: false"),
        ({"detector": "pyfeat-0.6.2", "weights": "pretrained", "felt_exact": False}, "felt_exact: false"),  # --fast
    ],
)
def test_issue9_provenance_objects_are_read(prov, needle):
    """The per-trial ``provenance`` object the regeneration manifest carries (issue 9)."""
    record = {"status": "ok", "provenance": prov}
    assert any(needle in i for i in record_issues(record)), record_issues(record)
    exact = {"status": "ok", "provenance": {"detector": "pyfeat-0.6.2", "weights": "pretrained", "felt_exact": True}}
    assert record_issues(exact) == [] and not provenance_of([exact])["marked"]


def test_manifest_read_as_json_lines(tmp_path):
    from felt_hf.provenance import detect_provenance, regeneration_provenance

    (tmp_path / "manifest").mkdir()
    rec = {"status": "ok", "provenance": {"detector": "pyfeat-0.6.2", "weights": "random", "felt_exact": True}}
    (tmp_path / "manifest" / "shard-00000-of-00001.jsonl").write_text(json.dumps(rec) + '\n{"torn')
    assert detect_provenance(tmp_path)["reasons"] == ["weights random"]
    assert regeneration_provenance(tmp_path) == {
        "detectors": ["pyfeat-0.6.2"],
        "weights": ["random"],
        "felt_exact": True,
        "trials": 1,
    }
    assert detect_provenance(tmp_path / "no_manifest")["kind"] == "felt"
