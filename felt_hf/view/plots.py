"""Matplotlib figures of one trial row: landmarks, AU heat map, emotion scores, head pose.

Researchers look at tracking before they trust it. Every function takes one typed row (a dict
from :func:`felt_hf.rows.trial_row`, :func:`felt_hf.viewrows.find_row` or a converted dataset in
numpy format) and draws on a given ``Axes`` or a new ``Figure``. matplotlib is the optional
``plot`` extra (``pip install felt-hf[plot]``); the rest of the package never imports it.

The landmark panel is face-relative, as FELT's Landmark_Plot videos are: points are shifted by
the face box's top-left corner, so head translation is removed and the box is drawn at the
origin. Axes use image orientation (y grows downwards).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..extras import MissingExtraError
from ..schema import AU_DESCRIPTIONS, AU_NAMES, EMOTION_SCORE_NAMES, FPS, POSE_COLUMNS
from .viewrows import row_on_frame_grid, row_title

# iBUG 68-point contours: (first index, last index inclusive, closed)
IBUG_CONTOURS: tuple[tuple[int, int, bool], ...] = (
    (0, 16, False),  # jaw
    (17, 21, False),  # right brow
    (22, 26, False),  # left brow
    (27, 30, False),  # nose bridge
    (30, 35, True),  # lower nose (closed through the tip)
    (36, 41, True),  # right eye
    (42, 47, True),  # left eye
    (48, 59, True),  # outer lips
    (60, 67, True),  # inner lips
)


def contour_indices(first: int, last: int, closed: bool) -> list[int]:
    """Landmark indices of one contour as drawn (closed ones return to their first point)."""
    idx = list(range(first, last + 1))
    return idx + [first] if closed else idx


def _plt():
    try:
        import matplotlib

        if os.environ.get("MPLBACKEND") is None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtraError("felt_hf.plots", "matplotlib") from e
    return plt


def default_frame(row: dict) -> int:
    """The middle frame with a face (the first one if none is in the middle)."""
    ok = np.flatnonzero(np.isfinite(np.asarray(row["face_box"])).all(axis=1))
    if ok.size == 0:
        return 0
    return int(ok[np.argmin(np.abs(ok - len(row["frame"]) // 2))])


def face_relative(row: dict, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of frame ``index`` minus the box's top-left corner, and the box size (w, h)."""
    box = np.asarray(row["face_box"][index], dtype=np.float64)
    pts = np.asarray(row["landmarks"][index], dtype=np.float64) - box[:2]
    return pts, box[2:4]


def _time(row: dict) -> np.ndarray:
    return np.asarray(row["frame"], dtype=np.float64) / FPS


def plot_landmarks(row: dict, index: int | None = None, ax=None):
    """The 68 landmarks of one frame with the face box and the iBUG contour lines, face-relative."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4.4))
    index = default_frame(row) if index is None else index
    pts, (w, h) = face_relative(row, index)
    ax.add_patch(_rectangle(w, h))
    for first, last, closed in IBUG_CONTOURS:
        idx = contour_indices(first, last, closed)
        ax.plot(pts[idx, 0], pts[idx, 1], "-", color="tab:blue", lw=1.2)
    ax.plot(pts[:, 0], pts[:, 1], "o", color="tab:red", ms=2.5)
    pad = 0.08 * max(w, h) if np.isfinite(w + h) else 1.0
    ax.set_xlim(-pad, (w if np.isfinite(w) else 1) + pad)
    ax.set_ylim((h if np.isfinite(h) else 1) + pad, -pad)  # image orientation
    ax.set_aspect("equal")
    frame = int(row["frame"][index])
    ax.set_title(f"landmarks, frame {frame} ({frame / FPS:.2f} s)", fontsize=9)
    ax.set_xlabel("x from face box left edge (px)")
    ax.set_ylabel("y from face box top edge (px)")
    return ax


def _rectangle(w: float, h: float):
    from matplotlib.patches import Rectangle

    return Rectangle((0, 0), w, h, fill=False, ec="tab:green", lw=1.5, label="face box")


def plot_au_heatmap(row: dict, ax=None):
    """The 20 AUs over time as a heat map, labelled with AU names and their descriptions."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    aus, t = _on_frame_grid(np.asarray(row["action_units"], dtype=np.float64), np.asarray(row["frame"]))
    end = t[-1] + 1 / FPS if t.size else 1.0
    cmap = plt.get_cmap("magma").with_extremes(bad="white")  # frames the CSV lacks
    im = ax.imshow(
        aus.T, aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest",
        extent=(t[0] if t.size else 0.0, end, len(AU_NAMES) - 0.5, -0.5),
    )  # fmt: skip
    ax.set_yticks(range(len(AU_NAMES)))
    ax.set_yticklabels([f"{a} {AU_DESCRIPTIONS[a]}" for a in AU_NAMES], fontsize=7)
    ax.set_xlabel("time (s)")
    ax.set_title("action units (probability 0-1)", fontsize=9)
    ax.figure.colorbar(im, ax=ax, label="probability", fraction=0.04, pad=0.02)
    return ax


def _on_frame_grid(values: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (T, k) as one column per video frame from the first to the last, NaN where the
    CSV has no row, and the columns' times: a heat map's columns then sit at their frames' times,
    like the curves of the other panels, when frame numbers skip (:func:`~.viewrows.frame_grid`)."""
    grid = row_on_frame_grid({"frame": frame, "values": values}, start=None)
    return grid["values"], np.asarray(grid["frame"], dtype=np.float64) / FPS


def plot_emotions(row: dict, ax=None):
    """The 7 emotion scores over time."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    emo = np.asarray(row["emotions"], dtype=np.float64)
    t = _time(row)
    for k, name in enumerate(EMOTION_SCORE_NAMES):
        ax.plot(t, emo[:, k], lw=1.3, label=name)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score (probability)")
    ax.set_title("emotion scores (ResMaskNet)", fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    return ax


def plot_head_pose(row: dict, ax=None):
    """Head pitch, roll and yaw over time."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    pose = np.asarray(row["head_pose"], dtype=np.float64)
    t = _time(row)
    for k, name in enumerate(POSE_COLUMNS):
        ax.plot(t, pose[:, k], lw=1.3, label=name.lower())
    ax.set_xlabel("time (s)")
    ax.set_ylabel("angle (degrees)")
    ax.set_title("head pose (img2pose)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return ax


def plot_trial(row: dict, index: int | None = None):
    """One figure with all four panels and the RAVDESS labels in the title."""
    plt = _plt()
    fig = plt.figure(figsize=(13, 8), layout="constrained")
    grid = fig.add_gridspec(3, 2, width_ratios=(1, 2.4))
    plot_landmarks(row, index, fig.add_subplot(grid[:, 0]))
    plot_au_heatmap(row, fig.add_subplot(grid[0, 1]))
    plot_emotions(row, fig.add_subplot(grid[1, 1]))
    plot_head_pose(row, fig.add_subplot(grid[2, 1]))
    fig.suptitle(row_title(row), fontsize=11)
    return fig


PANELS = {
    "landmarks": (plot_landmarks, (4.2, 4.6)),
    "au_heatmap": (plot_au_heatmap, (8, 4.5)),
    "emotions": (plot_emotions, (8, 3.2)),
    "head_pose": (plot_head_pose, (8, 3.2)),
}


def save_trial_pngs(row: dict, out_dir: str | os.PathLike, dpi: int = 80) -> list[Path]:
    """``<trial>_<panel>.png`` for each panel plus ``<trial>_trial.png`` with all of them, replaced
    as one set (:func:`felt_hf.atomic.write_files_together`): drawn in memory (a few hundred KB),
    then written."""
    plt = _plt()
    out = Path(out_dir)
    pngs: dict[Path, bytes] = {}
    title = row_title(row)
    for name, (fn, size) in PANELS.items():
        fig = plt.figure(figsize=size, layout="constrained")
        fn(row, ax=fig.add_subplot())
        fig.suptitle(title, fontsize=8)
        pngs[out / f"{row['trial_id']}_{name}.png"] = _png(fig, dpi)
    pngs[out / f"{row['trial_id']}_trial.png"] = _png(plot_trial(row), dpi)
    from ..atomic import write_files_together

    return write_files_together(pngs)


def _png(fig, dpi: int) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    return buf.getvalue()
