"""Regenerating FELT: rerun Py-Feat over the RAVDESS videos and write FELT's CSV layouts.

Nothing here imports Py-Feat (or torch) at import time; the backends load it when a tracker is
built, so discovery, sharding, post-processing and the stand-in detector work without it.
Data flows one way: this package writes CSVs and never imports the reader, builder or converter.
See docs/REGENERATION.md.
"""

from __future__ import annotations

from .detectors import FELT_DETECT_VIDEO_KWARGS, FELT_DETECTOR_KWARGS, build_tracker
from .pipeline import read_manifest, run
from .videos import VideoItem, discover_videos

__all__ = [
    "FELT_DETECTOR_KWARGS",
    "FELT_DETECT_VIDEO_KWARGS",
    "VideoItem",
    "build_tracker",
    "discover_videos",
    "read_manifest",
    "run",
]
