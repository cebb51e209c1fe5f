"""The README's pictures (docs/img/*.png), made from the generated sample.

    python scripts/make_doc_images.py            # writes the sample to a temporary folder first
    python scripts/make_doc_images.py --data felt_demo/felt
    python scripts/make_doc_images.py --out /tmp/img   # anywhere else than the checkout's docs/img

Palette-quantised PNGs, so each picture stays at a few to a few tens of KB in the repository.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

from felt_hf import plots
from felt_hf.argtypes import OneLineParser, folder_path, input_path
from felt_hf.errors import FeltError
from felt_hf.view.render import AUHeatmap, LandmarkPlot
from felt_hf.view.viewrows import find_row

TRIAL = "01-01-02-02-02-02-21"  # in the built-in sample (seed 0), smoothed_speech
OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def _save(img: Image.Image, name: str, colors: int, out: Path) -> None:
    path = out / name
    img.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path} {path.stat().st_size / 1e3:.1f} KB {img.size}")


def _figure(fig, dpi: int) -> Image.Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plots._plt().close(fig)
    return Image.open(buf)


def make(data: Path, out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    row = find_row(data, TRIAL, "smoothed_speech")
    plt = plots._plt()
    _save(_figure(plots.plot_trial(row), 72), "plot_trial.png", 96, out)
    for name, (fn, size) in plots.PANELS.items():
        fig = plt.figure(figsize=size, layout="constrained")
        fn(row, ax=fig.add_subplot())
        _save(_figure(fig, 64), f"plot_{name}.png", 64, out)
    _save(
        Image.fromarray(LandmarkPlot(row).frame(50)).resize((400, 400), Image.LANCZOS),
        "video_landmark_plot.png",
        32,
        out,
    )
    _save(Image.fromarray(AUHeatmap(row).frame(50)).resize((800, 400), Image.LANCZOS), "video_au_heatmap.png", 64, out)


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=input_path, help="converted sample folder or sample archives (default: write the sample)"
    )
    p.add_argument(
        "--out", type=folder_path, default=str(OUT), help="where the PNGs go (default: the checkout's docs/img)"
    )
    args = p.parse_args(argv)
    try:  # (a bad --data had ended in a traceback whose last line was this one)
        if args.data:
            make(Path(args.data), Path(args.out))
            return 0
        from felt_hf.synthetic.archives import write_sample

        with tempfile.TemporaryDirectory() as tmp:
            write_sample(Path(tmp), seed=0)
            make(Path(tmp), Path(args.out))
        return 0
    except (FeltError, OSError) as e:
        print(f"make_doc_images.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
