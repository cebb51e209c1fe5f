"""Where a converted folder's numbers came from, so that nothing but FELT is ever presented as FELT.

Three kinds of input reach ``felt-hf convert``: the published FELT archives, the generated
sample (``felt_hf.synth`` leaves a ``SYNTHETIC`` marker beside it), and regeneration output
(``scripts/regenerate.py``, whose ``manifest/*.jsonl`` records, per trial, the backend, detector,
weights and mode). Regenerated tracking counts as FELT only when every trial was made by
Py-Feat 0.6.2 with pretrained weights in FELT-exact mode; anything else (the stand-in detector,
random weights, ``--fast``, the Py-Feat 2.x backend, or a manifest without those fields) is
marked in the card's title, banner and tags, and ``push`` warns before sending it to a public repo.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SYNTHETIC_TAG = "synthetic"
NOT_FELT_TAG = "not-felt-exact"
REGENERATED_TAG = "regenerated"
EXACT_MODES = ("felt-exact", "exact")
EXACT_WEIGHTS = ("pretrained",)
EXACT_BACKENDS = ("pyfeat",)
PYFEAT_VERSION = "0.6.2"


def record_issues(record: Mapping[str, Any]) -> list[str]:
    """Why one manifest record is not FELT-exact Py-Feat 0.6.2 tracking (empty when it is).

    A field that is absent is not evidence of anything, except ``felt_exact``/``mode`` together:
    a record that states neither cannot show how it was made.
    """
    settings = record.get("settings") or {}
    issues = []
    mode, exact = settings.get("mode"), settings.get("felt_exact")
    if exact is False:
        issues.append("the manifest records felt_exact: false")
    elif mode is not None and str(mode) not in EXACT_MODES:
        issues.append(f"mode {mode} is not FELT-exact")
    elif exact is None and mode is None:
        issues.append("the manifest does not record the tracking mode")
    backend = settings.get("backend")
    if backend is not None and str(backend) not in EXACT_BACKENDS:
        issues.append(f"backend {backend}")
    detector = settings.get("detector")
    if detector is not None:
        text = str(detector).lower().replace("-", "").replace(" ", "")
        if "standin" in text:
            issues.append(f"detector {detector} (no model: a dry-run stand-in)")
        elif PYFEAT_VERSION not in str(detector):
            issues.append(f"detector {detector}")
    weights = settings.get("weights")
    if weights is not None and str(weights) not in EXACT_WEIGHTS:
        issues.append(f"weights {weights}")
    pyfeat = (record.get("versions") or {}).get("py-feat")
    if pyfeat is not None and str(pyfeat) != PYFEAT_VERSION:
        issues.append(f"py-feat {pyfeat}")
    return issues


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def manifest_records(data_dir: str | os.PathLike) -> list[dict]:
    """The regeneration manifest's records under ``data_dir`` (none for FELT's own archives)."""
    from .regen.pipeline import MANIFEST_DIR, read_manifest

    if not (Path(data_dir) / MANIFEST_DIR).is_dir():
        return []
    return read_manifest(data_dir)


def provenance_of(records: list[dict], *, synthetic: bool = False) -> dict:
    """The summary's ``provenance`` entry: kind, whether the card must be marked, and why."""
    if synthetic:
        return {
            "kind": "synthetic",
            "marked": True,
            "title": "SYNTHETIC sample data",
            "reasons": ["built from felt_hf's generated sample archives, not from the FELT release"],
        }
    if not records:
        return {"kind": "felt", "marked": False, "title": "", "reasons": []}
    ok = [r for r in records if r.get("status") == "ok"] or records
    reasons = _unique(issue for r in ok for issue in record_issues(r))
    if reasons:
        return {
            "kind": "regenerated-not-exact",
            "marked": True,
            "title": "NOT FELT: regenerated tracking that is not FELT-exact",
            "reasons": reasons,
        }
    return {
        "kind": "regenerated-exact",
        "marked": False,
        "title": "",
        "reasons": [f"regenerated with Py-Feat {PYFEAT_VERSION}, pretrained weights, FELT-exact mode"],
    }


def detect_provenance(data_dir: str | os.PathLike, *, synthetic: bool = False) -> dict:
    """:func:`provenance_of` for a conversion input folder."""
    return provenance_of(manifest_records(data_dir), synthetic=synthetic)


def card_tags(provenance: Mapping[str, Any] | None) -> list[str]:
    """Extra hub tags, so a search for the dataset shows what a marked folder is."""
    kind = (provenance or {}).get("kind", "felt")
    if kind == "synthetic":
        return [SYNTHETIC_TAG]
    if kind == "regenerated-not-exact":
        return [REGENERATED_TAG, NOT_FELT_TAG]
    if kind == "regenerated-exact":
        return [REGENERATED_TAG]
    return []


def push_warning(folder: str | os.PathLike) -> str | None:
    """A one-line warning when the folder's card marks it synthetic or not FELT-exact, else None."""
    from huggingface_hub import DatasetCard

    card = Path(folder) / "README.md"
    if not card.is_file():
        return None
    try:
        tags = DatasetCard.load(card).data.to_dict().get("tags") or []
    except Exception:  # an unreadable card is the folder check's error to report, not this one's
        return None
    if SYNTHETIC_TAG in tags:
        return f"{folder} holds SYNTHETIC sample data (its card says so); use --private or a test repo"
    if NOT_FELT_TAG in tags:
        return f"{folder} holds regenerated tracking that is NOT FELT-exact (its card says so); use --private or a test repo"
    return None


__all__ = ["detect_provenance", "provenance_of", "record_issues", "card_tags", "push_warning"]
