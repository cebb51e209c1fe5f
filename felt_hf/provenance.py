"""Where a converted folder's numbers came from, so that nothing but FELT is ever presented as FELT.

Three kinds of input reach ``felt-hf convert``: the published FELT archives, the generated
sample (``felt_hf.synth`` leaves a ``SYNTHETIC`` marker beside it), and regeneration output
(``scripts/regenerate.py``, whose ``manifest/*.jsonl`` records, per trial, the backend, detector,
weights and mode, and, from issue 9's regeneration on, a ``provenance`` object: ``detector``
``pyfeat-0.6.2``/``pyfeat2``/``standin``, ``weights`` ``pretrained``/``random``/``none``,
``felt_exact``). Regenerated tracking counts as FELT only when every trial was made by
Py-Feat 0.6.2 with pretrained weights in FELT-exact mode; anything else (the stand-in detector,
random weights, ``--fast``, the Py-Feat 2.x backend, or a manifest without those fields) is
marked in the card's title, banner and tags, and ``push`` warns before sending it to a public repo.

The manifest is read here as plain JSON lines: the converter does not import the regeneration
package (data flows one way). ``regeneration_provenance``/``provenance_banner`` are the summary
and banner issue 9's tests use; ``detect_provenance`` is what the card's title and tags use.
"""

from __future__ import annotations

import json
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
EXACT_DETECTOR = "pyfeat-0.6.2"  # the manifest's provenance.detector for Py-Feat 0.6.2
MANIFEST_GLOB = "manifest/*.jsonl"  # felt_hf.regen.pipeline.MANIFEST_DIR


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
    elif exact is None and mode is None and not isinstance(record.get("provenance"), Mapping):
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
    prov = record.get("provenance")
    if isinstance(prov, Mapping):  # issue 9's per-trial summary of the same facts
        if prov.get("felt_exact") is False and "the manifest records felt_exact: false" not in issues:
            issues.append("the manifest records felt_exact: false")
        if prov.get("detector") not in (None, EXACT_DETECTOR):
            issues.append(f"detector {prov['detector']}")
        if prov.get("weights") not in (None, *EXACT_WEIGHTS):
            issues.append(f"weights {prov['weights']}")
    return _unique(issues)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def manifest_records(data_dir: str | os.PathLike) -> list[dict]:
    """The regeneration manifest's records under ``data_dir`` (none for FELT's own archives).

    A line torn by a kill is skipped, as ``felt_hf.regen.read_manifest`` does.
    """
    records = []
    for path in sorted(Path(data_dir).glob(MANIFEST_GLOB)):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def regeneration_provenance(data_dir: str | os.PathLike) -> dict | None:
    """``{"detectors": [...], "weights": [...], "felt_exact": bool, "trials": n}`` over the manifest's
    successful trials' ``provenance`` objects, or None when ``data_dir`` has no regeneration manifest."""
    if not any(Path(data_dir).glob(MANIFEST_GLOB)):
        return None
    detectors: set[str] = set()
    weights: set[str] = set()
    exact, trials = True, 0
    for rec in manifest_records(data_dir):
        if rec.get("status") != "ok":
            continue
        prov = rec.get("provenance") or {"detector": "unknown", "weights": "unknown", "felt_exact": False}
        detectors.add(str(prov.get("detector")))
        weights.add(str(prov.get("weights")))
        exact = exact and bool(prov.get("felt_exact"))
        trials += 1
    return {
        "detectors": sorted(detectors),
        "weights": sorted(weights),
        "felt_exact": exact and trials > 0,
        "trials": trials,
    }


def provenance_banner(prov: dict | None) -> str:
    """A warning when :func:`regeneration_provenance` shows models that are not pretrained Py-Feat; else empty."""
    if not prov:
        return ""
    odd_weights = [w for w in prov["weights"] if w != "pretrained"]
    odd_detectors = [d for d in prov["detectors"] if d not in (EXACT_DETECTOR, "pyfeat2")]
    if not odd_weights and not odd_detectors:
        return ""
    return (
        "> [!WARNING]\n"
        f"> **NOT PRETRAINED TRACKING.** This folder was converted from a regeneration run whose detector was "
        f"{', '.join(prov['detectors'])} with weights {', '.join(prov['weights'])} "
        f"({prov['trials']} trials; `random` = randomly initialised models, a dry run; `none` = no model). "
        "Its numbers are not facial tracking: do not use them for research.\n\n"
    )


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

    from .layout import CARD_FILENAME

    card = Path(folder) / CARD_FILENAME
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


__all__ = [
    "detect_provenance",
    "provenance_of",
    "record_issues",
    "card_tags",
    "push_warning",
    "regeneration_provenance",
    "provenance_banner",
]
