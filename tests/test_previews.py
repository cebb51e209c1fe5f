"""`felt-hf convert --previews`: an Image column the viewer shows; the default output unchanged."""

from __future__ import annotations

import io

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from felt_hf.build.convert import convert_felt  # noqa: E402
from felt_hf.build.previews import PREVIEW_COLUMN, SIZE, preview_image, preview_png  # noqa: E402
from felt_hf.view.render import colorize  # noqa: E402
from felt_hf.view.viewrows import iter_rows  # noqa: E402


@pytest.fixture(scope="module")
def previews_hub(sample_archives, tmp_path_factory):
    out = tmp_path_factory.mktemp("previews") / "felt"
    convert_felt(sample_archives, out, configs=["smoothed_speech"], progress=False, num_proc=2, previews=True)
    return out


def test_thumbnail_shows_the_aus_and_emotions(sample_archives):
    row = next(iter_rows(sample_archives, "smoothed_speech"))
    img = preview_image(row)
    assert img.shape == (SIZE[1], SIZE[0], 3)
    # the heat map's first column is the first frame's AUs, one 5 px band per AU
    np.testing.assert_array_equal(img[2:100:5, 0], colorize(row["action_units"][0]))
    # the emotion strip is not blank
    assert (img[104:, :].min(axis=2) < 200).mean() > 0.01
    png = preview_png(row)
    assert 1_000 < len(png) < 40_000
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), img)


def test_previews_column_loads_as_images(previews_hub, sample_archives):
    from datasets import load_dataset

    ds = load_dataset(str(previews_hub), "smoothed_speech", split="train", cache_dir=str(previews_hub.parent / "c"))
    assert ds.features[PREVIEW_COLUMN].__class__.__name__ == "Image"
    first = ds[0]
    assert first[PREVIEW_COLUMN].size == SIZE
    want = preview_image(next(iter_rows(sample_archives, "smoothed_speech", [first["trial_id"]])))
    np.testing.assert_array_equal(np.asarray(first[PREVIEW_COLUMN].convert("RGB")), want)
    card = (previews_hub / "README.md").read_text()
    assert "name: preview" in card and "dtype: image" in card


def test_default_output_has_no_preview(sample_hub):
    for path in (sample_hub / "smoothed_speech").glob("*.parquet"):
        assert PREVIEW_COLUMN not in pq.read_schema(path).names
    assert "preview" not in (sample_hub / "README.md").read_text()


def test_a_folder_with_previews_passes_verify_and_a_dry_run_push(previews_hub, capsys):
    """verify compared the card's features with the schema without the preview column, so every
    --previews folder failed it and `felt-hf push` refused to upload it."""
    from felt_hf.cli import main
    from felt_hf.publish.verify import verify_folder

    report = verify_folder(previews_hub)
    assert report.ok, report.table()
    assert main(["push", str(previews_hub), "--repo-id", "someone/felt", "--dry-run"]) == 0
    assert "DRY RUN" in capsys.readouterr().out
