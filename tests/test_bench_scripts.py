"""The measurement scripts the README quotes run on the sample and print what they promise.

They print figures and never assert them; these tests only check that each runs end to end on
real (sample) archives and reports the quantities the README cites.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_dedupe_check_reports_reupload_sizes_with_and_without_cdc(sample_archives, tmp_path):
    out = _run(str(REPO / "scripts" / "dedupe_check.py"), "--archives", str(sample_archives),
               "--config", "smoothed_speech", "--workdir", str(tmp_path), cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(
        r"CDC (on |off)\s+(one value.*|one trial removed)\s+re-upload\s+([\d.]+) MB of\s+([\d.]+) MB", out.stdout
    )
    assert len(rows) == 4, out.stdout
    assert all(0 <= float(sent) <= float(total) for _, _, sent, total in rows)
    changed = [float(sent) for _, what, sent, _ in rows if what.startswith("one value")]
    assert len(changed) == 2 and all(s > 0 for s in changed)  # the changed trial's row group is new


def test_convert_timeline_accounts_for_the_run(sample_archives, tmp_path):
    out = _run(str(REPO / "scripts" / "convert_timeline.py"), str(sample_archives), str(tmp_path / "felt"),
               "--num-proc", "2", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    m = re.search(r"convert ([\d.]+) s with 2 workers: before the pool ([\d.]+) s, first shard start -> last shard "
                  r"end ([\d.]+) s, after the last shard ([\d.]+) s", out.stdout)  # fmt: skip
    assert m, out.stdout
    total, before, shards, after = map(float, m.groups())
    assert before + shards + after <= total + 0.05
    assert re.search(r"2 workers busy .* CPU inside shards [\d.]+ s for \d+ trials", out.stdout)
    assert (tmp_path / "felt" / "README.md").is_file()


def test_bench_convert_refuses_routes_without_convert(tmp_path):
    out = _run(str(REPO / "scripts" / "bench_convert.py"), "--workdir", str(tmp_path), "--routes", "isal+polars",
               cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2 and "--routes" in out.stderr


def test_bench_media_prints_each_config_from_memory_and_disk(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    from disk_throttle import unavailable

    capped = unavailable(tmp_path) is None
    out = _run(str(REPO / "scripts" / "bench_media.py"), "--trials", "4", "--size", "90x160", "--repeats", "1",
               "--workdir", str(tmp_path / "w"), "--disk-mbps", "400", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    disks = ["cold", "warm"] + (["400 MB/s"] if capped else [])
    for config in ("landmark_overlay_speech", "landmark_plot_speech", "au_animation_speech", "audio_speech"):
        for disk in disks:
            assert re.search(rf"{config}\s+{disk}(\s+[\d.]+){{8}}\n", out.stdout), (config, disk, out.stdout)
    if not capped:
        assert "--disk-mbps: skipped, " in out.stdout
    assert re.search(r"peak RSS converting all four configs: 1 trials \d+ MB, 4 trials \d+ MB", out.stdout)


def test_bench_media_rejects_a_bad_disk_rate(tmp_path):
    out = _run(str(REPO / "scripts" / "bench_media.py"), "--disk-mbps", "fast", cwd=tmp_path)
    assert out.returncode == 2 and "--disk-mbps" in out.stderr and "Traceback" not in out.stderr


def test_bench_convert_runs_every_parse_route_and_the_stages(sample_archives, tmp_path):
    """End to end on the sample (copied where the script keeps its archives): each route, the
    ratios the README quotes, and the per-stage costs with the converter's row-group parse."""
    import shutil

    shutil.copytree(sample_archives, tmp_path / "w" / "archives")
    out = _run(str(REPO / "scripts" / "bench_convert.py"), "--workdir", str(tmp_path / "w"), "--num-proc", "1",
               "--routes", "isal+polars,isal+polars-rowgroup,floor-write,naive-pandas,convert", "--stages", "3",
               "--no-read", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    for route in ("isal+polars", "isal+polars-rowgroup", "floor-write", "naive-pandas", "convert"):
        assert re.search(rf"\n  {re.escape(route)}\s+[\d.]+ s\s+\d+ MB/s", out.stdout), (route, out.stdout)
    assert re.search(r"convert / fastest inflate\+parse \(isal\+polars(-rowgroup)?\): wall [\d.]+", out.stdout)
    assert re.search(r"naive / convert: [\d.]+", out.stdout)
    assert re.search(
        r"floor-write / isal\+polars(-rowgroup)?: wall [\d.]+ cpu [\d.]+ .* convert / floor-write: wall", out.stdout
    )
    assert re.search(
        r"convert / each parse route: isal\+polars wall [\d.]+ cpu [\d.]+, isal\+polars-rowgroup", out.stdout
    )
    assert re.search(r"parse, polars a row group per call \+ record\s+[\d.]+ ms", out.stdout)
    assert (tmp_path / "w" / "felt" / "README.md").is_file()


def test_bench_verify_runs_on_one_actor(tmp_path):
    out = _run(str(REPO / "scripts" / "bench_verify.py"), "--actors", "1", "--workdir", str(tmp_path / "w"),
               cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"1 worker\(s\): [\d.]+ s for \d+ trial pairs, [\d.]+ trials/s", out.stdout), out.stdout


def test_make_doc_images_writes_where_asked_and_says_a_bad_data_path_in_one_line(tmp_path):
    """It had always written the checkout's docs/img, and a bad --data had ended in a traceback."""
    out = tmp_path / "img"
    done = _run(str(REPO / "scripts" / "make_doc_images.py"), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.glob("*.png")} >= {"plot_trial.png", "video_au_heatmap.png"}
    for data, says in ((str(tmp_path / "nope"), "no such folder"), ("", "argument --data: '': expected a path")):
        bad = _run(str(REPO / "scripts" / "make_doc_images.py"), "--data", data, "--out", str(out), cwd=tmp_path)
        assert bad.returncode == 2 and says in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


@pytest.mark.parametrize(
    "argv, says",
    [
        (["bench_convert.py", "--repeat", "0"], "argument --repeat: '0'"),
        (["bench_convert.py", "--actors", "0-3"], "actor 0 is not in 1-24"),
        (["bench_verify.py", "--actors", "abc"], "argument --actors: 'abc'"),
        (["bench_loader.py", "--passes", "0"], "argument --passes: '0'"),
        (["bench_loader.py", "--workers", "-1"], "argument --workers: '-1'"),
        (["bench_loader.py", "--synthetic", "0"], "argument --synthetic: '0'"),  # (had meant 20)
        (["bench_media.py", "--trials", "0"], "argument --trials: '0'"),
        (["bench_render.py", "--trials", "0"], "argument --trials: '0'"),
        (["bench_regen.py", "--clips", "x.mp4", "--batch-size", "0"], "argument --batch-size: '0'"),
        (["convert_timeline.py", "", "out"], "argument archives: ''"),
        (["dedupe_check.py", "--archives", "nope"], "--archives nope: no smoothed_motion_speech.zip there"),
    ],  # fmt: skip
)
def test_script_options_are_one_line_before_any_work(argv, says, tmp_path):
    """``--repeat 0`` had failed after all the generation, bad actors or counts in tracebacks, and
    dedupe_check had left a half-made work folder."""
    done = _run(str(REPO / "scripts" / argv[0]), *argv[1:], cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == [], done.stderr


# site-packages without the .pth files processed: the editable install of felt_hf is not there
_NOT_INSTALLED = (
    "import runpy, sys, sysconfig; paths = sysconfig.get_paths();"
    " sys.path += [paths['purelib'], paths['platlib']]; sys.argv = [sys.argv[1], '--help'];"
    " runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.mark.parametrize("script", ["bench_media.py", "bench_regen.py", "convert_timeline.py", "regenerate.py"])
def test_scripts_that_say_they_run_from_a_checkout_do(script, tmp_path):
    """These put the checkout on ``sys.path`` themselves; three had imported felt_hf first,
    so without an installed package they stopped at ModuleNotFoundError."""
    done = subprocess.run([sys.executable, "-S", "-c", _NOT_INSTALLED, str(REPO / "scripts" / script)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-1500:]
