"""Where converted numbers came from, when the input is a regeneration (``scripts/regenerate.py`` output).

The regeneration manifest (``<input>/manifest/*.jsonl``) records per trial a ``provenance`` object:
``detector`` (``pyfeat-0.6.2``, ``pyfeat2``, ``standin``), ``weights`` (``pretrained``, ``random``,
``none``) and ``felt_exact``. ``felt-hf convert`` summarises it into the card's summary so that a
folder tracked with random models (``--weights random``) or with the stand-in is never presented as
pretrained Py-Feat output. Read here as plain JSON lines: the converter does not import the
regeneration package (data flows one way).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def regeneration_provenance(data_dir: str | os.PathLike) -> dict | None:
    """``{"detectors": [...], "weights": [...], "felt_exact": bool, "trials": n}`` over the manifest's
    successful trials, or None when ``data_dir`` has no regeneration manifest (published FELT archives)."""
    files = sorted(Path(data_dir).glob("manifest/*.jsonl"))
    if not files:
        return None
    detectors: set[str] = set()
    weights: set[str] = set()
    exact, trials = True, 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line torn by a kill
                continue
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
    """A warning for the card when the tracking is not pretrained Py-Feat output; empty otherwise."""
    if not prov:
        return ""
    odd_weights = [w for w in prov["weights"] if w != "pretrained"]
    odd_detectors = [d for d in prov["detectors"] if d not in ("pyfeat-0.6.2", "pyfeat2")]
    if not odd_weights and not odd_detectors:
        return ""
    return (
        "> [!WARNING]\n"
        f"> **NOT PRETRAINED TRACKING.** This folder was converted from a regeneration run whose detector was "
        f"{', '.join(prov['detectors'])} with weights {', '.join(prov['weights'])} "
        f"({prov['trials']} trials; `random` = randomly initialised models, a dry run; `none` = no model). "
        "Its numbers are not facial tracking: do not use them for research.\n\n"
    )
