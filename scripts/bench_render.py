"""Rendering speed: felt_hf.view.render (numpy/PIL frames -> PyAV) against one matplotlib figure per frame.

FELT's videos were made by drawing one matplotlib figure per tracking row, saving it as a PNG at
DPI 100 and appending the PNGs to an mp4 (``src/4_visualize_*.py``: ``Fex.plot_detections`` for the
landmark plots, ``feat.plotting.plot_face(muscles={"all": "heatmap"})`` for the AU animations).
This script times both routes on the same trials and frames, in one run, and prints per-frame
times and their ratio. Both routes end in the same PyAV H.264 encoder (same settings), so the
ratio measures the drawing route; the encoder's own share is printed too.

Reference route: with Py-Feat importable (the regen environment, ``/work/envs/regen`` here), the
real ``Fex.plot_detections`` / ``plot_face`` calls FELT made; otherwise the same panels drawn with
matplotlib (``felt_hf.view.plots``), one new figure per frame, which is labelled "emulated".

    python scripts/bench_render.py                       # generated sample, 3 trials x 30 frames
    python scripts/bench_render.py --data felt --trials 6 --frames 60
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from felt_hf.argtypes import OneLineParser, positive_int, seed_int
from felt_hf.view.render import RENDERERS, encode_frames, render_trial
from felt_hf.view.viewrows import iter_rows

PER_FRAME_KEYS = ("frame", "time_s", "num_faces", "face_box", "face_score", "landmarks", "head_pose")


def _cut(row: dict, n: int) -> dict:
    """The first ``n`` frames of a row (every per-frame array sliced the same way)."""
    out = dict(row)
    for k, v in row.items():
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == len(row["frame"]):
            out[k] = v[:n]
    out["num_frames"] = min(n, len(row["frame"]))
    return out


def _png_to_array(data: bytes) -> np.ndarray:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2  # yuv420p needs even sizes
    return img[:h, :w]


def _savefig_png(fig, plt, folder: Path, i: int) -> Path:
    path = folder / f"{i:05d}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _pyfeat_figures(row: dict, kind: str, folder: Path) -> list[Path] | None:
    """FELT's own calls, one figure per row, saved as PNG; None when Py-Feat is not importable."""
    try:
        import matplotlib.pyplot as plt
        from feat.plotting import plot_face

        from felt_hf.view.pyfeat import to_fex
    except Exception:
        return None
    if kind == "au_heatmap":
        try:  # plot_face needs Py-Feat's AU->landmark model, downloaded on first use
            from feat.plotting import load_viz_model

            load_viz_model()
        except Exception:
            return None
    fex = to_fex(row)
    paths = []
    for i in range(len(row["frame"])):
        if kind == "landmark_plot":
            figs = fex.iloc[[i]].plot_detections(
                faces="landmarks", faceboxes=True, poses=True, plot_original_image=False
            )
            fig = figs[0]
        else:
            aus = fex.aus.iloc[i].to_numpy()
            fig, ax = plt.subplots()
            plot_face(au=aus, muscles={"all": "heatmap"}, ax=ax, title=f"Frame {i}")
        paths.append(_savefig_png(fig, plt, folder, i))
    return paths


def _emulated_figures(row: dict, kind: str, folder: Path) -> list[Path]:
    """The same panels with matplotlib (felt_hf.view.plots), one new figure per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from felt_hf.view.plots import plot_au_heatmap, plot_landmarks

    paths = []
    for i in range(len(row["frame"])):
        if kind == "landmark_plot":
            fig, ax = plt.subplots(figsize=(6.4, 6.4))
            plot_landmarks(row, i, ax)
        else:
            fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.2, 5.6), width_ratios=(4, 1), layout="constrained")
            plot_au_heatmap(row, ax)
            ax.axvline(float(row["frame"][i]) / 29.97, color="cyan")
            bx.barh(range(20), row["action_units"][i], color="purple")
            bx.set_xlim(0, 1)
            bx.invert_yaxis()
        paths.append(_savefig_png(fig, plt, folder, i))
    return paths


def reference_route(row: dict, kind: str, out: Path, work: Path) -> tuple[int, str]:
    """Figures -> PNG files -> read back -> the same encoder. Returns (frames, which route)."""
    folder = Path(tempfile.mkdtemp(dir=work))
    paths = _pyfeat_figures(row, kind, folder)
    route = "Py-Feat 0.6.2 plot_detections/plot_face"
    if paths is None:
        paths, route = _emulated_figures(row, kind, folder), "matplotlib figure per frame (emulated)"
    n = encode_frames((_png_to_array(p.read_bytes()) for p in paths), out)
    return n, route


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="converted folder or FELT archives (default: the generated sample)")
    p.add_argument("--config", default="smoothed_speech")
    p.add_argument("--trials", type=positive_int, default=3)
    p.add_argument("--frames", type=seed_int, default=30, help="first N frames of each trial (0 = all)")
    p.add_argument("--kinds", nargs="+", default=list(RENDERERS), choices=list(RENDERERS))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = args.data
        if data is None:
            from felt_hf.synthetic.archives import write_sample

            data = work / "archives"
            write_sample(data, seed=0)
        rows = []
        for row in iter_rows(data, args.config):
            rows.append(_cut(row, args.frames) if args.frames else row)
            if len(rows) == args.trials:
                break
        frames = sum(len(r["frame"]) for r in rows)
        print(f"{len(rows)} trials, {frames} frames each route, config {args.config}, data {data}")
        for kind in args.kinds:
            t0 = time.perf_counter()
            for r in rows:
                render_trial(r, kind, work / f"ours_{kind}_{r['trial_id']}.mp4")
            ours = (time.perf_counter() - t0) / frames
            drawn = [RENDERERS[kind](r).frame(i) for r in rows[:1] for i in range(len(r["frame"]))]
            t0 = time.perf_counter()
            encode_frames(drawn, work / "encode_only.mp4")
            enc = (time.perf_counter() - t0) / len(drawn)
            t0 = time.perf_counter()
            route = ""
            for r in rows:
                _, route = reference_route(r, kind, work / f"ref_{kind}_{r['trial_id']}.mp4", work)
            ref = (time.perf_counter() - t0) / frames
            print(
                f"{kind:14s} felt_hf.view.render {1e3 * ours:7.2f} ms/frame (encoder alone {1e3 * enc:5.2f})  "
                f"reference {1e3 * ref:8.2f} ms/frame [{route}]  ratio {ref / ours:5.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
