#!/usr/bin/env python
"""Rerun Py-Feat over RAVDESS and write FELT's CSV layout; see docs/REGENERATION.md."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from felt_hf.regen.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
