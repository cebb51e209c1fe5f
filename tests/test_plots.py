"""Figures of one row: sizes, not blank, and drawn landmarks where the numbers say."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402 (after the skip: Pillow comes with matplotlib)

from felt_hf import plots  # noqa: E402
from felt_hf.build.rows import trial_row  # noqa: E402
from felt_hf.inputs.csv_reader import read_trial_csv  # noqa: E402
from felt_hf.ravdess import parse_trial_id  # noqa: E402
from felt_hf.schema import AU_DESCRIPTIONS, AU_NAMES  # noqa: E402
from felt_hf.synthetic.archives import make_trial  # noqa: E402

TRIAL = "01-01-05-02-01-02-03"
RED = np.array([214, 39, 40])  # tab:red, the landmark markers


@pytest.fixture(scope="module")
def row():
    t = make_trial(TRIAL, seed=0, num_frames=40)
    return trial_row(read_trial_csv(t.smoothed_csv(), name="x.csv"), parse_trial_id(TRIAL))


def _rgb(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _near(img: np.ndarray, x: float, y: float, color: np.ndarray, r: int = 2, tol: int = 60) -> bool:
    h = img.shape[0]
    cx, cy = int(round(x)), int(round(h - y))  # display coordinates have y up
    patch = img[max(cy - r, 0) : cy + r + 1, max(cx - r, 0) : cx + r + 1].astype(int)
    return bool((np.abs(patch - color).sum(axis=-1) < tol).any())


def test_landmarks_are_drawn_where_the_numbers_say(row):
    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    i = 17
    plots.plot_landmarks(row, i, ax)
    img = _rgb(fig)
    pts, (w, h) = plots.face_relative(row, i)
    np.testing.assert_allclose(pts + row["face_box"][i, :2], row["landmarks"][i], rtol=1e-6)
    disp = ax.transData.transform(pts)
    hits = [_near(img, x, y, RED) for x, y in disp]
    assert all(hits), f"landmarks not drawn at {np.flatnonzero(~np.array(hits))}"
    # far from every landmark (the box's centre column near its top) there is no marker
    x, y = ax.transData.transform((w / 2, 0.02 * h))
    assert not _near(img, x, y, RED, r=1)
    # the face box's corners are at the origin and (w, h): translation removed
    corners = ax.transData.transform([(0, 0), (w, h)])
    assert all(_near(img, cx, cy, np.array([44, 160, 44]), r=2, tol=90) for cx, cy in corners)
    assert "frame" in ax.get_title() and "(px)" in ax.get_xlabel() and "(px)" in ax.get_ylabel()
    plt.close(fig)


def test_au_heatmap_shows_the_values_with_names_and_descriptions(row):
    plt = plots._plt()
    fig, ax = plt.subplots()
    plots.plot_au_heatmap(row, ax)
    np.testing.assert_array_equal(ax.images[0].get_array(), row["action_units"].T.astype(np.float64))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{a} {AU_DESCRIPTIONS[a]}" for a in AU_NAMES]
    assert ax.get_xlabel() == "time (s)"
    plt.close(fig)


def test_emotion_and_pose_curves_are_the_rows_numbers(row):
    plt = plots._plt()
    fig, (a, b) = plt.subplots(2)
    plots.plot_emotions(row, a)
    plots.plot_head_pose(row, b)
    np.testing.assert_allclose(a.lines[3].get_ydata(), row["emotions"][:, 3])
    np.testing.assert_allclose(b.lines[2].get_ydata(), row["head_pose"][:, 2])
    np.testing.assert_allclose(b.lines[0].get_xdata(), row["frame"] / 29.97)
    assert "degrees" in b.get_ylabel() and "probability" in a.get_ylabel()
    plt.close(fig)


def test_trial_figure_and_pngs(row, tmp_path):
    fig = plots.plot_trial(row)
    assert "happy" not in fig.get_suptitle() and "angry (strong)" in fig.get_suptitle()
    assert f"actor {int(TRIAL[-2:])}" in fig.get_suptitle()
    plots._plt().close(fig)
    paths = plots.save_trial_pngs(row, tmp_path, dpi=80)
    assert [p.name for p in paths] == [f"{TRIAL}_{k}.png" for k in (*plots.PANELS, "trial")]
    for p, (_, size) in zip(paths, plots.PANELS.values(), strict=False):
        img = np.asarray(Image.open(io.BytesIO(p.read_bytes())).convert("RGB"))
        assert img.shape[:2] == (round(size[1] * 80), round(size[0] * 80)), p.name
        assert (img.min(axis=2) < 200).mean() > 0.02, f"{p.name} is blank"
        assert 5_000 < p.stat().st_size < 150_000, p.name


def test_core_imports_without_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import felt_hf, felt_hf.build.convert, felt_hf.view.pyfeat, felt_hf.view.render, felt_hf.view.viewrows, felt_hf.cli\n"
        "import felt_hf.view.plots\n"
        "try:\n    felt_hf.view.plots._plt()\nexcept ImportError as e:\n    print('ok', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ok") and "felt-hf[plot]" in out


def test_au_heatmap_columns_sit_at_their_frames_times_when_frames_skip(row):
    """Frames 3, 5, 7...: each row's column spans its own frame's time, the missing frames blank,
    so the heat map lines up with the emotion and pose curves (plotted at frame / 29.97)."""
    plt = plots._plt()
    skipping = dict(row, frame=3 + 2 * np.arange(len(row["frame"])))
    fig, ax = plt.subplots()
    plots.plot_au_heatmap(skipping, ax)
    shown = np.ma.filled(ax.images[0].get_array(), np.nan)
    assert shown.shape == (len(AU_NAMES), 2 * len(row["frame"]) - 1)
    np.testing.assert_array_equal(shown[:, ::2], row["action_units"].T.astype(np.float64))
    assert np.isnan(shown[:, 1::2]).all()
    left, right = ax.images[0].get_extent()[:2]
    width = (right - left) / shown.shape[1]
    k = 7  # the k-th row's column starts at its frame's time
    assert left + 2 * k * width == pytest.approx(skipping["frame"][k] / 29.97)
    plt.close(fig)


def test_a_full_disk_leaves_the_earlier_png_set_whole_and_a_killed_runs_temp_png_goes(row, tmp_path, monkeypatch):
    """A PNG set is replaced as one: a write failing at the third PNG (a full disk) leaves every
    earlier PNG as it was, not half old, half new, and no temporary file; the next run removes a
    killed run's temporary PNG (its pid gone) and nothing else in the folder."""
    import builtins
    import errno
    import subprocess
    import sys

    from felt_hf.atomic import temp_leftovers

    earlier = plots.save_trial_pngs(row, tmp_path, dpi=40)
    before = {p: p.read_bytes() for p in earlier}
    real_open, count = builtins.open, []

    def fill_disk_at_third(file, mode="r", *a, **k):
        if "w" in str(mode) and str(file).endswith(".tmp"):
            count.append(file)
            if len(count) == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", fill_disk_at_third)
    with pytest.raises(OSError, match="No space left") as err:
        plots.save_trial_pngs(row, tmp_path, dpi=80)
    monkeypatch.undo()
    assert err.value.filename == str(earlier[2])  # named as the PNG asked for
    assert {p: p.read_bytes() for p in earlier} == before and temp_leftovers(tmp_path) == []
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)  # fmt: skip
    killed = tmp_path / f".{earlier[0].name}.{dead}.0123abcd.tmp"
    other = tmp_path / f".notes.txt.{dead}.0123abcd.tmp"  # not one of this trial's PNGs: not ours to remove
    killed.write_bytes(b"half a png")
    other.write_bytes(b"someone's")
    plots.save_trial_pngs(row, tmp_path, dpi=80)
    assert not killed.exists() and other.exists()
    assert all(p.read_bytes() != before[p] for p in earlier)  # the new set, whole


def _pngs(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("earlier", [False, True])
def test_a_folder_in_the_way_of_one_png_is_said_before_any_png_is_replaced(earlier, tmp_path, capsys):
    """A folder named like the third of the five PNGs: one error line naming it (exit 2), and the
    folder as it was: the earlier set whole and unchanged, or no PNG at all (two new PNGs had been
    renamed into place before the third failed)."""
    from felt_hf.atomic import temp_leftovers
    from felt_hf.cli import main

    csv = tmp_path / f"{TRIAL}.csv"
    csv.write_bytes(make_trial(TRIAL, seed=0, num_frames=40).smoothed_csv())
    out = tmp_path / "fig"
    if earlier:
        assert main(["show", str(csv), "--out", str(out)]) == 0
        capsys.readouterr()
        (out / f"{TRIAL}_emotions.png").unlink()
        csv.write_bytes(make_trial(TRIAL, seed=1, num_frames=40).smoothed_csv())  # other numbers: other PNGs
    (out / f"{TRIAL}_emotions.png").mkdir(parents=True)
    before = _pngs(out)
    assert len(before) == (4 if earlier else 0)
    assert main(["show", str(csv), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"felt-hf: error: {out / f'{TRIAL}_emotions.png'}: is a folder; a file is needed here", err
    assert _pngs(out) == before and temp_leftovers(out) == []


@pytest.mark.parametrize("earlier", [False, True])
def test_a_rename_failing_midway_puts_back_what_was_there(row, earlier, tmp_path, monkeypatch):
    """The third of five renames fails (a folder made read-only, a file system error): the two
    new PNGs already renamed are taken back and the earlier ones put back, so the folder holds the
    earlier set whole, or no PNG, and no temporary or set-aside file."""
    import errno
    import os
    from pathlib import Path

    from felt_hf.atomic import is_temp_name, temp_leftovers

    if earlier:
        plots.save_trial_pngs(row, tmp_path, dpi=40)
    before = _pngs(tmp_path)
    third = tmp_path / f"{TRIAL}_emotions.png"
    real_replace, failed = os.replace, []

    def fail_into_the_third(src, dst, *a, **k):
        if Path(dst) == third and is_temp_name(Path(src).name) and not failed:  # (once: the put-back may)
            failed.append(src)
            raise OSError(errno.EIO, "Input/output error", str(src), None, str(dst))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", fail_into_the_third)
    with pytest.raises(OSError, match="Input/output error"):
        plots.save_trial_pngs(row, tmp_path, dpi=80)
    monkeypatch.undo()
    assert failed and _pngs(tmp_path) == before and temp_leftovers(tmp_path) == []
    assert len(before) == (5 if earlier else 0)
