"""Rendered videos: frame count, exact 29.97 fps, decoded content (PyAV), drawn points where the numbers say."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow.parquet as pq
import pytest

av = pytest.importorskip("av")
pytest.importorskip("PIL")

from felt_hf.build.rows import trial_row  # noqa: E402
from felt_hf.errors import FeltError  # noqa: E402
from felt_hf.inputs.csv_reader import read_trial_csv  # noqa: E402
from felt_hf.ravdess import parse_trial_id  # noqa: E402
from felt_hf.view import render  # noqa: E402
from felt_hf.view.render import AU_SIZE, AUHeatmap, LandmarkPlot, render_folder, render_trial  # noqa: E402
from felt_hf.view.viewrows import find_row, iter_rows  # noqa: E402

RED = np.array([214, 39, 40])
NOFACE = "01-01-01-01-01-02-03"  # seed 0, 40 frames: frames 0-3 have no face


def _row(tid: str, variant: str = "smoothed") -> dict:
    from felt_hf.synthetic.archives import make_trial

    t = make_trial(tid, seed=0, num_frames=40)
    return trial_row(read_trial_csv(t.csv(variant), name="x.csv"), parse_trial_id(tid))


@pytest.fixture(scope="module")
def row():
    return _row(NOFACE, "raw")  # the smoothed file is all NaN: FELT could not fill leading gaps


def _reddish(img: np.ndarray, x: float, y: float, r: int = 1) -> bool:
    cx, cy = int(round(x)), int(round(y))
    patch = img[cy - r : cy + r + 1, cx - r : cx + r + 1].astype(int)
    return bool((np.abs(patch - RED).sum(axis=-1) < 90).any())


def test_landmark_frame_draws_points_where_the_numbers_say(row):
    plot = LandmarkPlot(row)
    img = plot.frame(20)
    assert img.shape == (640, 640, 3) and img.dtype == np.uint8
    pts = plot.to_canvas(20)
    expected = plot.origin + plot.scale * (row["landmarks"][20] - row["face_box"][20, :2])
    np.testing.assert_allclose(pts, expected)
    assert all(_reddish(img, x, y) for x, y in pts)
    # where no landmark is, nothing red
    reds = np.abs(img.astype(int) - RED).sum(axis=-1) < 90
    ys, xs = np.nonzero(reds)
    d = np.min(np.hypot(xs[:, None] - pts[None, :, 0], ys[:, None] - pts[None, :, 1]), axis=1)
    assert d.max() < 4.5, "red pixels away from every landmark"
    # head motion is removed: the box always starts at the same canvas corner
    assert (img[int(plot.origin[1]), int(plot.origin[0]) + 5] != 255).any()


def test_no_face_frame_has_no_landmarks(row):
    img = LandmarkPlot(row).frame(0)
    assert row["num_faces"][0] == 0
    assert not (np.abs(img.astype(int) - RED).sum(axis=-1) < 90).any()
    assert (img < 250).any()  # the caption says so


def test_au_frame_cursor_and_bars_follow_the_values(row):
    hm = AUHeatmap(row)
    i = 25
    img = hm.frame(i)
    assert img.shape == (AU_SIZE[1], AU_SIZE[0], 3)
    x = hm.cursor_x(i)
    assert (img[hm.TOP + 5 : hm.TOP + 20, x] == (0, 200, 255)).all()
    for k, v in enumerate(row["action_units"][i]):
        y = hm.TOP + k * hm.ROW_H + hm.ROW_H // 2
        end = hm.bar_x + int(round(v * hm.BAR_W))
        if end - hm.bar_x >= 3:
            assert (img[y, end - 2] != 235).any(), k  # coloured up to the value
        if hm.bar_x + hm.BAR_W - end >= 3:
            assert (img[y, end + 2] == 235).all(), k  # grey after it
    assert not np.array_equal(img, hm.frame(i + 5))


def _decode(path) -> tuple[list[np.ndarray], object]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate, count = s.average_rate, s.frames
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return frames, (rate, count)


@pytest.mark.parametrize("kind", ["landmark_plot", "au_heatmap"])
def test_video_has_one_frame_per_row_at_2997_fps_and_the_drawn_content(row, kind, tmp_path):
    path = tmp_path / f"{kind}.mp4"
    n = render_trial(row, kind, path)
    frames, (rate, count) = _decode(path)
    assert n == len(frames) == count == row["num_frames"] == 40
    assert rate == Fraction(30000, 1001)
    drawer = (LandmarkPlot if kind == "landmark_plot" else AUHeatmap)(row)
    for k in (0, 17, 39):
        want = drawer.frame(k).astype(int)
        got = frames[k].astype(int)
        err = np.abs(got - want).mean()
        other = np.abs(got - drawer.frame((k + 20) % 40).astype(int)).mean()
        assert err < 4 and err < other, (k, err, other)  # each decoded frame is its own drawing
    if kind == "landmark_plot":
        pts = drawer.to_canvas(17)
        assert np.mean([_reddish(frames[17], x, y, r=2) for x, y in pts]) > 0.9


def _every_other_frame_from_3(row: dict) -> dict:
    """The rows of frames 3, 5, ..., 39: tracking whose frame numbers skip (Py-Feat 2.x writes no
    row for a frame without a face), from a first frame that is not 0."""
    keep = np.arange(3, len(row["frame"]), 2)
    n = len(row["frame"])
    return {k: v[keep] if isinstance(v, np.ndarray) and v.ndim and len(v) == n else v for k, v in row.items()}


@pytest.mark.parametrize("kind", ["landmark_plot", "au_heatmap"])
def test_video_frame_i_is_tracking_frame_i_when_frames_skip(row, kind, tmp_path):
    """One video frame per tracking frame from frame 0, as the README says: 18 rows of frames
    3-39 are a 40-frame video lasting 40 / 29.97 s (it was 18 frames, 0.6 s: too fast), each
    row at its own frame and the frames without a row drawn without a face."""
    sub = _every_other_frame_from_3(row)
    path = tmp_path / f"{kind}.mp4"
    assert render_trial(sub, kind, path) == 40
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.frames == 40 and float(s.duration * s.time_base) == pytest.approx(40 / (30000 / 1001), abs=1e-3)
    frames, _ = _decode(path)
    assert len(frames) == 40
    if kind == "landmark_plot":
        k = int(np.flatnonzero(sub["frame"] == 17)[0])
        assert np.mean([_reddish(frames[17], x, y, r=2) for x, y in LandmarkPlot(sub).to_canvas(k)]) > 0.9
        for missing in (0, 2, 16, 18, 38):  # no row: no landmarks
            assert (np.abs(frames[missing].astype(int) - RED).sum(axis=-1) < 90).sum() == 0, missing
    else:
        hm = AUHeatmap(render.on_video_frames(sub))
        assert hm.n == 40
        for i in (16, 17):
            x = hm.cursor_x(i)
            assert (np.abs(frames[i][hm.TOP + 5 : hm.TOP + 20, x].astype(int) - (0, 200, 255)).sum(axis=-1) < 60).all()


def test_frames_that_cannot_be_placed_are_one_video_frame_per_row_with_a_warning(row, tmp_path):
    from felt_hf.errors import FeltWarning

    back = dict(row, frame=row["frame"][::-1].copy())  # frames that do not rise
    with pytest.warns(FeltWarning, match="one frame per row and plays faster"):
        assert render_trial(back, "au_heatmap", tmp_path / "back.mp4") == 40


def test_render_folder_uses_a_pool_and_names_videos_per_actor(sample_archives, tmp_path):
    ids = [r["trial_id"] for r in iter_rows(sample_archives, "smoothed_speech")][:2]
    paths = render_folder(sample_archives, tmp_path, kinds=["landmark_plot"], trial_ids=ids, num_proc=2, progress=False)
    assert [p.relative_to(tmp_path).parts[:2] for p in paths] == [
        ("landmark_plot", f"Actor_{int(t[-2:]):02d}") for t in sorted(ids)
    ]
    for p in paths:
        frames, (rate, _) = _decode(p)
        assert len(frames) == find_row(sample_archives, p.stem, "smoothed_speech")["num_frames"]
    with pytest.raises(FeltError, match="trial 01-01-01-01-01-01-05 not found"):
        find_row(sample_archives, "01-01-01-01-01-01-05")
    with pytest.raises(FeltError, match="01-01-01-01-01-01-05"):
        render_folder(sample_archives, tmp_path, trial_ids=["01-01-01-01-01-01-05"], num_proc=1, progress=False)


def test_cli_show_and_render(sample_archives, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from felt_hf.cli import main

    tid = next(iter_rows(sample_archives, "smoothed_speech"))["trial_id"]
    assert main(["show", str(sample_archives), tid, "--out", str(tmp_path / "fig")]) == 0
    assert len(list((tmp_path / "fig").glob(f"{tid}_*.png"))) == 5
    args = ["render", str(sample_archives), "--kind", "au_heatmap", "--trials", tid, "--out", str(tmp_path / "v")]
    assert main(args + ["--no-progress", "--num-proc", "1"]) == 0
    assert len(list((tmp_path / "v" / "au_heatmap").rglob("*.mp4"))) == 1
    assert main(["show", str(sample_archives), "01-01-01-01-01-01-99"]) != 0
    assert "felt-hf: error:" in capsys.readouterr().err
    assert main(["show", str(sample_archives), "01-01-01-01-01-01-05"]) != 0  # valid name, not in the sample
    assert "trial 01-01-01-01-01-01-05 not found" in capsys.readouterr().err


def test_cli_says_which_extra_is_missing(sample_archives, tmp_path, capsys, monkeypatch):
    import sys

    from felt_hf.cli import main

    tid = next(iter_rows(sample_archives, "smoothed_speech"))["trial_id"]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    assert main(["show", str(sample_archives), tid, "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("felt-hf: error:") and "felt-hf[plot]" in err and "Traceback" not in err


def test_a_users_own_csv_renders_and_plots(tmp_path, capsys, monkeypatch):
    """Any tracking: one CSV (FELT, Py-Feat 0.6.x or 2.x layout) whose name is not a RAVDESS id;
    parsed once per command (the id check before rendering had parsed it a first time)."""
    from felt_hf.cli import main
    from felt_hf.inputs import csv_reader
    from felt_hf.synthetic.archives import make_trial

    parses = []
    real = csv_reader.read_trial_csv
    monkeypatch.setattr(csv_reader, "read_trial_csv", lambda *a, **k: parses.append(1) or real(*a, **k))

    path = tmp_path / "my_interview.csv"
    path.write_bytes(make_trial("01-01-03-01-01-01-04", seed=0, num_frames=30).smoothed_csv())
    argv = ["render", str(path), "--kind", "landmark_plot", "--out", str(tmp_path / "v"), "--no-progress"]
    assert main([*argv, "--num-proc", "1", "--trials", "my_interview"]) == 0 and len(parses) == 1
    video = tmp_path / "v" / "landmark_plot" / "other" / "my_interview.mp4"
    frames, (rate, _) = _decode(video)
    assert len(frames) == 30 and rate == Fraction(30000, 1001)
    pytest.importorskip("matplotlib")
    assert main(["show", str(path), "--out", str(tmp_path / "fig")]) == 0
    assert len(list((tmp_path / "fig").glob("my_interview_*.png"))) == 5
    assert main(["show", str(tmp_path)]) != 0
    assert "give a TRIAL_ID" in capsys.readouterr().err


def _job_that_dies_half_way(job):
    """A render job that leaves a half-written video (as a worker killed by Ctrl-C does) and fails."""
    from pathlib import Path

    from felt_hf.atomic import temp_name
    from felt_hf.view import render

    row, kinds, out_dir = job
    final = render.video_path(out_dir, kinds[0], row["trial_id"])
    final.parent.mkdir(parents=True, exist_ok=True)
    temp_name(Path(final)).with_suffix(".mp4").write_bytes(b"\x00" * 48)
    raise KeyboardInterrupt


def test_an_interrupted_render_leaves_no_half_written_video(sample_archives, tmp_path, monkeypatch):
    from felt_hf.atomic import temp_leftovers
    from felt_hf.view import render

    out = tmp_path / "videos"
    stale = out / "landmark_plot" / "Actor_01" / ".01-01-01-01-01-01-01.mp4.123.0123abcd.mp4"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")  # an earlier killed run's
    monkeypatch.setattr(render, "_render_job", _job_that_dies_half_way)  # (forked workers inherit it)
    with pytest.raises(KeyboardInterrupt):
        render_folder(sample_archives, out, kinds=["landmark_plot"], num_proc=1, progress=False)
    assert temp_leftovers(out) == [] and not stale.exists()


def test_an_unknown_trial_id_is_refused_before_any_video_is_written(sample_hub, tmp_path, capsys):
    """One known and one unknown id: exit 2 naming the unknown one, and no video of the known one
    left on disk (it used to be rendered first)."""
    from felt_hf.cli import main

    known = pq.read_table(next((sample_hub / "smoothed_speech").glob("train-*.parquet")), columns=["trial_id"])
    known = known.column("trial_id")[0].as_py()
    out = tmp_path / "videos"
    code = main(["render", str(sample_hub), "--config", "smoothed_speech", "--trials", known, "01-01-01-01-01-01-05",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.splitlines() == [err] and "01-01-01-01-01-01-05 not found" in err, err
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_a_kind_or_trial_given_twice_is_rendered_and_counted_once(tmp_path, capsys, monkeypatch):
    from felt_hf.cli import main
    from felt_hf.synthetic.archives import make_trial

    encoded = []
    real = render.encode_frames
    monkeypatch.setattr(
        render, "encode_frames", lambda frames, path, **k: encoded.append(path) or real(frames, path, **k)
    )
    path = tmp_path / "my_interview.csv"
    path.write_bytes(make_trial("01-01-03-01-01-01-04", seed=0, num_frames=20).smoothed_csv())
    argv = ["render", str(path), "--kind", "au_heatmap", "landmark_plot", "au_heatmap", "--trials", "my_interview",
            "my_interview", "--out", str(tmp_path / "v"), "--no-progress", "--num-proc", "1"]  # fmt: skip
    assert main(argv) == 0
    assert "wrote 2 video(s)" in capsys.readouterr().out
    assert [p.parent.parent.name for p in encoded] == ["au_heatmap", "landmark_plot"]
