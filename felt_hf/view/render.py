"""Videos from any tracking: landmark plots and AU heat maps, one video frame per tracking frame.

FELT's own videos were made by drawing one matplotlib figure per CSV row, saving it as PNG and
appending the PNGs to an mp4 at 30 fps (the tracking is at 29.97), and the AU animations skipped
the rows Py-Feat's ``plot_face`` failed on. Here every frame is drawn straight into a numpy/PIL
image (the static parts once per trial, only what moves per frame) and encoded with PyAV at
exactly 30000/1001 fps, one video frame per tracking frame from frame 0 (a frame the tracking
has no row for is drawn without a face): ``scripts/bench_render.py``
measures this against the matplotlib-per-frame route on the same trials (figures in the README).

Works on any typed row: FELT's, a regeneration's (after ``felt-hf convert``, or straight from its
archives) or a user's own CSVs in FELT's layout. Needs PyAV and Pillow (the ``video`` extra).
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import warnings
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..atomic import remove_temp_leftovers, temp_name
from ..colormap import COLORMAP, colorize  # noqa: F401  (COLORMAP re-exported: part of this module's API)
from ..errors import FeltLookupError, FeltWarning
from ..extras import MissingExtraError
from ..progress import bars_wanted
from ..schema import AU_DESCRIPTIONS, AU_NAMES, FPS
from ..workers import ignore_interrupts
from .viewrows import GRID_LIMIT, count_rows, iter_rows, row_on_frame_grid, row_title, trial_ids_in

FRAME_RATE = Fraction(30000, 1001)  # RAVDESS' 29.97 fps, exactly
KINDS = ("landmark_plot", "au_heatmap")
LANDMARK_SIZE = 640  # square landmark-plot frames
AU_SIZE = (1120, 560)  # width, height of AU heat-map frames
_NEEDED = ("trial_id", "frame", "num_faces", "face_box", "landmarks", "head_pose", "action_units")


def _pil():
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtraError("felt_hf.view.render", "Pillow") from e
    return Image, ImageDraw, ImageFont


def _font(size: int):
    _, _, ImageFont = _pil()
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


# --- landmark plot ---------------------------------------------------------------------------------
class LandmarkPlot:
    """Face-relative landmark frames of one trial, like FELT's Landmark_Plot videos.

    Points are shifted by the face box's top-left corner (head translation removed) and scaled
    by one factor per trial (the largest box fits), so face size changes stay visible. Pixel
    ``(x, y)`` of the canvas is ``origin + scale * (landmark - box corner)``: :meth:`to_canvas`.
    """

    def __init__(self, row: dict, size: int = LANDMARK_SIZE) -> None:
        Image, ImageDraw, _ = _pil()
        self.row, self.size = row, size
        boxes = np.asarray(row["face_box"], dtype=np.float64)
        biggest = np.nanmax(boxes[:, 2:4]) if np.isfinite(boxes[:, 2:4]).any() else 1.0
        self.top = 56
        self.margin = 24
        self.scale = (size - self.top - 2 * self.margin) / max(float(biggest), 1.0)
        self.origin = np.array(
            [self.margin + (size - 2 * self.margin - self.scale * biggest) / 2, self.top + self.margin]
        )
        base = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(base)
        draw.text((10, 6), row_title(row, short=True), fill="black", font=_font(16))
        self.base = base
        self.small = _font(13)

    def to_canvas(self, index: int) -> np.ndarray:
        """Canvas pixel coordinates of frame ``index``'s 68 landmarks."""
        box = np.asarray(self.row["face_box"][index], dtype=np.float64)
        pts = np.asarray(self.row["landmarks"][index], dtype=np.float64) - box[:2]
        return self.origin + self.scale * pts

    def frame(self, index: int) -> np.ndarray:
        from .plots import IBUG_CONTOURS, contour_indices

        _, ImageDraw, _ = _pil()
        img = self.base.copy()
        draw = ImageDraw.Draw(img)
        frame = int(self.row["frame"][index])
        box = np.asarray(self.row["face_box"][index], dtype=np.float64)
        pose = np.asarray(self.row["head_pose"][index], dtype=np.float64)
        caption = f"frame {frame}  {frame / FPS:6.2f} s"
        if not np.isfinite(box).all():
            draw.text((10, 30), caption + "  no face", fill="gray", font=self.small)
            return np.asarray(img)
        caption += f"  pitch {pose[0]:+5.1f}  roll {pose[1]:+5.1f}  yaw {pose[2]:+5.1f} deg"
        draw.text((10, 30), caption, fill="black", font=self.small)
        x0, y0 = self.origin
        draw.rectangle((x0, y0, x0 + self.scale * box[2], y0 + self.scale * box[3]), outline=(44, 160, 44), width=2)
        pts = self.to_canvas(index)
        for first, last, closed in IBUG_CONTOURS:
            seq = [tuple(p) for p in pts[contour_indices(first, last, closed)]]
            draw.line(seq, fill=(31, 119, 180), width=2)
        r = 2.5
        for x, y in pts:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(214, 39, 40))
        return np.asarray(img)


# --- AU heat map -----------------------------------------------------------------------------------
class AUHeatmap:
    """The trial's 20 AUs over time as a heat map with a moving cursor, and the current values as bars.

    The heat map, labels and title are drawn once; a frame is a copy of that plus the cursor
    column and 20 bars, written with numpy slicing.
    """

    LABEL_W, MAP_W, BAR_W, TOP, ROW_H = 250, 640, 170, 64, 22

    def __init__(self, row: dict) -> None:
        Image, ImageDraw, _ = _pil()
        self.row = row
        aus = np.asarray(row["action_units"], dtype=np.float64)
        self.n = aus.shape[0]
        w, h = AU_SIZE
        base = Image.new("RGB", (w, h), "white")
        draw = ImageDraw.Draw(base)
        draw.text((10, 6), row_title(row), fill="black", font=_font(14))
        draw.text(
            (10, 28), "action units (probability 0-1) over time; bars: this frame", fill="dimgray", font=_font(12)
        )
        font = _font(12)
        for k, au in enumerate(AU_NAMES):
            draw.text((8, self.TOP + k * self.ROW_H + 4), f"{au} {AU_DESCRIPTIONS[au]}", fill="black", font=font)
        self.base = np.array(base)
        cols = (np.arange(self.MAP_W) * self.n // self.MAP_W).clip(0, self.n - 1)
        heat = colorize(aus[cols].T)  # (20, MAP_W, 3)
        heat = np.repeat(heat, self.ROW_H, axis=0)
        self.map_x = self.LABEL_W
        self.base[self.TOP : self.TOP + heat.shape[0], self.map_x : self.map_x + self.MAP_W] = heat
        self.bar_x = self.map_x + self.MAP_W + 20
        ax_y = self.TOP + len(AU_NAMES) * self.ROW_H + 4
        draw = ImageDraw.Draw(img := Image.fromarray(self.base))
        duration = self.n / FPS
        for s in range(int(duration) + 1):
            x = self.map_x + int(s * FPS * self.MAP_W / max(self.n, 1))
            draw.line((x, ax_y, x, ax_y + 5), fill="black")
            draw.text((x - 3, ax_y + 7), f"{s}", fill="black", font=font)
        draw.text((self.map_x + self.MAP_W // 2 - 20, ax_y + 24), "time (s)", fill="black", font=font)
        draw.text((self.bar_x, ax_y + 7), "0", fill="black", font=font)
        draw.text((self.bar_x + self.BAR_W - 6, ax_y + 7), "1", fill="black", font=font)
        self.base = np.array(img)
        self.caption_font = _font(13)

    def cursor_x(self, index: int) -> int:
        """Canvas column of frame ``index`` in the heat map."""
        return self.map_x + min(int((index + 0.5) * self.MAP_W / self.n), self.MAP_W - 1)

    def frame(self, index: int) -> np.ndarray:
        img = self.base.copy()
        x = self.cursor_x(index)
        y0, y1 = self.TOP, self.TOP + len(AU_NAMES) * self.ROW_H
        img[y0:y1, max(x - 1, 0) : x + 2] = (0, 200, 255)
        values = np.asarray(self.row["action_units"][index], dtype=np.float64)
        colors = colorize(values)
        for k, v in enumerate(values):
            top = self.TOP + k * self.ROW_H + 3
            img[top : top + self.ROW_H - 6, self.bar_x : self.bar_x + self.BAR_W] = 235
            if np.isfinite(v):
                img[top : top + self.ROW_H - 6, self.bar_x : self.bar_x + int(round(v * self.BAR_W))] = colors[k]
        Image, ImageDraw, _ = _pil()
        frame = int(self.row["frame"][index])
        im = Image.fromarray(img)
        ImageDraw.Draw(im).text(
            (self.bar_x, 34), f"frame {frame}  {frame / FPS:5.2f} s", fill="black", font=self.caption_font
        )
        return np.asarray(im)


RENDERERS = {"landmark_plot": LandmarkPlot, "au_heatmap": AUHeatmap}


# --- encoding --------------------------------------------------------------------------------------
def encode_frames(
    frames: Iterable[np.ndarray], path: str | os.PathLike, crf: int = 23, preset: str = "superfast"
) -> int:
    """H.264 mp4 at 30000/1001 fps, one video frame per array (RGB uint8, even sizes); returns the count.

    Written under a temporary name and renamed when complete. ``superfast`` is the x264 preset:
    the encoder is most of the per-frame cost here (about 9 ms for 640x640 against 11.5 ms with
    ``veryfast``, measured), and these flat drawings stay small (about 5 KB per frame).
    """
    try:
        import av
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("rendering needs PyAV and Pillow: pip install 'felt-hf[video]'") from e

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path).with_suffix(".mp4")
    count = 0
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = None
            for arr in frames:
                if stream is None:
                    h, w = arr.shape[:2]
                    stream = out.add_stream("libx264", rate=FRAME_RATE)
                    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                    stream.options = {"crf": str(crf), "preset": preset}
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
                frame.pts = count
                frame.time_base = 1 / FRAME_RATE
                out.mux(stream.encode(frame))
                count += 1
            if stream is not None:
                out.mux(stream.encode())
        if count == 0:
            raise ValueError(f"{path}: no frames to encode")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def render_trial(row: dict, kind: str, path: str | os.PathLike) -> int:
    """One trial's video of ``kind`` (see :data:`KINDS`); returns the number of frames written.

    Video frame i shows tracking frame i (:func:`on_video_frames`), so the video plays at the
    tracking's speed and lines up with the video tracked."""
    if kind not in RENDERERS:
        raise ValueError(f"unknown video kind {kind!r}; expected one of {KINDS}")
    row = on_video_frames(row)
    r = RENDERERS[kind](row)
    return encode_frames((r.frame(i) for i in range(len(row["frame"]))), path)


def on_video_frames(row: dict) -> dict:
    """``row`` with one entry per tracking frame from frame 0 (:func:`~.viewrows.row_on_frame_grid`,
    the rule ``show``'s heat map follows): a frame without a row is drawn as a frame without a face.
    One video frame per row had played a trial whose frames skip (Py-Feat 2.x writes no row for a
    frame without a face) too fast: 2.34 s of tracking became a 1.2 s video. Frames that do not
    rise, or that spread over more than ``GRID_LIMIT`` times the rows, stay one video frame per row,
    with a warning."""
    out = row_on_frame_grid(row, start=0)
    frame = np.asarray(row["frame"], dtype=np.int64)
    if out is row and np.any(np.diff(frame) != 1):
        warnings.warn(
            f"trial {row['trial_id']}: frame numbers {frame[0]}-{frame[-1]} in {frame.size} rows skip, and do not rise or "
            f"are sparser than 1 in {GRID_LIMIT}; the video has one frame per row and plays faster than the tracking",
            FeltWarning,
            stacklevel=2,
        )
    return out


def video_path(out_dir: str | os.PathLike, kind: str, trial_id: str) -> Path:
    """``<out>/<kind>/Actor_NN/<trial>.mp4``, the per-actor folders FELT's videos use
    (``other/`` for a file name that is not a RAVDESS id)."""
    tail = trial_id.rsplit("-", 1)[-1]
    folder = f"Actor_{int(tail):02d}" if tail.isdigit() and "-" in trial_id else "other"
    return Path(out_dir) / kind / folder / f"{trial_id}.mp4"


def _render_job(job: tuple[dict, tuple[str, ...], str]) -> tuple[str, int]:
    row, kinds, out = job
    frames = 0
    for kind in kinds:
        frames = render_trial(row, kind, video_path(out, kind, row["trial_id"]))
    return row["trial_id"], frames


def render_folder(
    folder: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    config: str = "smoothed_speech",
    kinds: Sequence[str] = KINDS,
    trial_ids: Sequence[str] | None = None,
    num_proc: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Render every trial of ``config`` in a converted folder (or FELT archives) with all cores.

    Rows are read in this process and drawn and encoded in a pool of ``num_proc`` workers
    (default: all cores), one trial per task; a progress bar counts trials. A kind or trial given
    twice is rendered once.
    """
    from tqdm.auto import tqdm

    for kind in kinds:
        if kind not in RENDERERS:
            raise ValueError(f"unknown video kind {kind!r}; expected one of {KINDS}")
    # Each once, in the order given: a kind given twice had rendered one file twice ("wrote 2 video(s)").
    kinds = tuple(dict.fromkeys(kinds))
    if trial_ids is not None:
        trial_ids = list(dict.fromkeys(trial_ids))
    found = iter_rows(folder, config, trial_ids)
    first = next(found, None)  # a missing config or unreadable shard is reported here, before the pool
    if trial_ids is not None:  # every id checked before any video is written (none left behind)
        unknown = sorted(set(trial_ids) - trial_ids_in(folder, config))
        if unknown:
            raise FeltLookupError(f"{folder}: trial(s) {', '.join(unknown)} not found in config {config}")
    found = itertools.chain([first] if first is not None else [], found)
    rows = ({k: r[k] for k in _NEEDED} for r in found)
    jobs = ((r, kinds, os.fspath(out_dir)) for r in rows)
    done: list[str] = []
    total = len(trial_ids) if trial_ids is not None else count_rows(folder, config)
    num_proc = max(1, min(num_proc or os.cpu_count() or 1, total))  # one trial is one task: no idle workers
    bar = tqdm(total=total, unit="trial", desc=f"Rendering {'+'.join(kinds)}", disable=not bars_wanted(progress))
    remove_temp_leftovers(out_dir)  # half-written videos of an earlier, killed run
    try:
        if num_proc == 1:
            for job in jobs:
                done.append(_render_job(job)[0])
                bar.update(1)
        else:
            with mp.get_context().Pool(num_proc, initializer=ignore_interrupts) as pool:
                for tid, _ in pool.imap_unordered(_render_job, jobs):
                    done.append(tid)
                    bar.update(1)
    except BaseException:  # Ctrl-C or an error: the pool is gone; so are the videos it left half-written
        remove_temp_leftovers(out_dir)
        raise
    finally:
        bar.close()
    return [video_path(out_dir, k, t) for t in sorted(done) for k in kinds]
