"""The baseline script: metrics, the PNG writer, and a few reproducible steps on fake hub data."""

from __future__ import annotations

import importlib.util
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

try:
    from felt_fake import flip_a_landmark_bit
except ImportError:  # tests/ imported as a package
    from tests.felt_fake import flip_a_landmark_bit

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_baseline.py"


@pytest.fixture(scope="module")
def bl():
    spec = importlib.util.spec_from_file_location("train_baseline", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_uar_war_against_definition(bl):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, 5, 200))
    cm = bl.confusion_matrix(y, p, 8)
    uar, war = bl.uar_war(cm)
    assert war == pytest.approx(np.mean(y == p))
    assert uar == pytest.approx(np.mean([np.mean(p[y == c] == c) for c in range(5)]))  # absent classes ignored
    assert cm.sum() == 200 and cm[5:].sum() == 0


def _read_png(path: Path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = size
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, 3)


def test_png_round_trip(bl, tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    bl.write_png(tmp_path / "x.png", img)
    np.testing.assert_array_equal(_read_png(tmp_path / "x.png"), img)


def test_confusion_png_names_every_class_and_axis(bl, tmp_path):
    cm = np.diag(np.arange(1, 9))
    bl.confusion_png(tmp_path / "cm.png", cm)
    img = _read_png(tmp_path / "cm.png")
    h, w, _ = img.shape
    top, left = h - 8 * 48, w - 8 * 48
    assert top > 40 and left > 40
    dark = img.min(axis=2) < 100
    for i in range(8):  # a class name left of every row and above every column
        assert dark[top + i * 48 + 10 : top + (i + 1) * 48 - 10, 10:left].any(), f"row {i} unlabelled"
        assert dark[20:top, left + i * 48 + 10 : left + (i + 1) * 48 - 10].any(), f"column {i} unlabelled"
    assert dark[:12, left:].any() and dark[top:, :14].any()  # PREDICTED above, TRUE at the left
    # the grid stays where it was: diagonal cells (recall 1) blue, the others white
    assert img[top + 7 * 48 + 5, left + 7 * 48 + 5, 0] < 100 and img[top + 5, left + 48 + 5, 0] == 255


def test_actor_folds(bl):
    folds = bl.actor_folds(list(range(1, 25)), 6)
    assert folds[0] == [1, 2, 3, 4] and sum(len(f) for f in folds) == 24
    assert all(sum(a % 2 for a in f) == 2 for f in folds)  # 2 male + 2 female per fold


def test_few_steps_reproducible(felt_fake, bl, tmp_path, capsys):
    hub = tmp_path / "hub"
    rows = felt_fake.write_hub(hub, per_actor=2, frames=(10, 30))
    metrics = []
    for run in ("a", "b"):
        args = ["--data", str(hub), "--out", str(tmp_path / run), "--epochs", "2", "--max-steps", "2"]
        assert bl.main(args + ["--max-frames", "16", "--batch-size", "4"]) == 0
        metrics.append(json.loads((tmp_path / run / "metrics.json").read_text()))
        png = _read_png(tmp_path / run / "confusion.png")
        assert png.shape[0] > 8 * 48 and png.shape[1] > 8 * 48  # grid plus the label margins
    out = capsys.readouterr().out
    assert "means NOTHING" in out
    assert metrics[0]["steps"] == 2 and metrics[0]["caveat"]
    a, b = ({k: v for k, v in m.items() if k != "seconds"} for m in metrics)
    assert a == b, "same seed, same result"
    assert np.array(a["confusion"]).sum() == len(rows["test"])  # every test trial evaluated once


def test_streamed_training_is_reproducible(felt_fake, bl, tmp_path):
    hub = tmp_path / "hub"
    felt_fake.write_hub(hub, per_actor=2, frames=(10, 30))
    metrics = []
    for run in ("a", "b"):
        args = ["--data", str(hub), "--out", str(tmp_path / run), "--epochs", "2", "--stream", "--num-workers", "2"]
        assert bl.main(args + ["--max-frames", "16", "--batch-size", "4"]) == 0
        metrics.append(json.loads((tmp_path / run / "metrics.json").read_text()))
    a, b = ({k: v for k, v in m.items() if k != "seconds"} for m in metrics)
    assert a == b, "same seed, same result, with 2 workers and a shuffled stream"
    # 12 train trials in 4 one-row-group shards: 6 per worker; DataLoader batches each worker's
    # rows separately: 4 + 2 per worker, 4 steps an epoch (drop_last had dropped 2 trials a worker).
    assert a["steps"] == 2 * 4
    with pytest.raises(SystemExit):
        bl.main(["--data", str(hub), "--stream", "--cv-folds", "3"])


def test_streamed_workers_with_shares_smaller_than_a_batch_train(felt_fake, bl, tmp_path):
    """--stream --num-workers 2 with 12 trials, 6 a worker, and batches of 8: drop_last (12 > 8) had
    dropped every batch, and the epoch of no step ended in UnboundLocalError ('loss')."""
    hub = tmp_path / "hub"
    felt_fake.write_hub(hub, per_actor=2, frames=(10, 30))
    args = ["--data", str(hub), "--out", str(tmp_path / "run"), "--epochs", "2", "--stream", "--num-workers", "2"]
    assert bl.main(args + ["--max-frames", "16", "--batch-size", "8"]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 2 * 2  # one batch a worker


def test_two_cv_folds_are_refused_not_an_epoch_without_training(bl, sample_hub, tmp_path, capsys):
    """With 2 folds, one tested and one validated on, no actor was left to train on."""
    assert bl.main(["--data", str(sample_hub), "--cv-folds", "2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("train_baseline.py: error: --cv-folds 2: must be between 3") and err.count("\n") == 1


def _shard(folder: Path) -> Path:
    return sorted((folder / "smoothed_speech").glob("train-*.parquet"))[1]


def _flip_a_landmark_bit(folder: Path) -> Path:
    """One bit flipped inside row group 0's landmarks: without the pages' checksums it decodes
    silently into other numbers."""
    shard = _shard(folder)
    flip_a_landmark_bit(shard)
    return shard


def _truncate(folder: Path) -> Path:
    shard = _shard(folder)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    return shard


def _remove(folder: Path) -> Path:
    shard = _shard(folder)
    shard.unlink()
    return shard


def _remove_and_renumber(folder: Path) -> Path:
    """A train shard removed and the others renamed -of-N-1: nothing looks missing, but the card's
    split size is no longer the data's."""
    shards = sorted((folder / "smoothed_speech").glob("train-*.parquet"))
    shards[-1].unlink()
    for i, shard in enumerate(shards[:-1]):
        shard.rename(shard.with_name(f"train-{i:05d}-of-{len(shards) - 1:05d}.parquet"))
    return folder / "README.md"


def _bad_yaml(folder: Path) -> Path:
    card = folder / "README.md"
    card.write_text(card.read_text().replace("configs:", "configs: [", 1))
    return card


def _glob_of_no_file(folder: Path) -> Path:
    card = folder / "README.md"
    card.write_text(card.read_text().replace("path: smoothed_speech/train-*", "path: smoothed_speech/trian-*", 1))
    return card


@pytest.mark.parametrize(
    "damage, says",
    [
        (_flip_a_landmark_bit,
         "cannot read this parquet shard: row group 0, column 'landmarks': a page's checksum does not match"),
        (_truncate, "cannot read this parquet shard: does not read: Parquet magic bytes not found"),
        (_remove, "missing; the other train shards of smoothed_speech name it"),
        (_remove_and_renumber, "the split sizes it records (dataset_info) do not match the smoothed_speech shards"),
        (_bad_yaml, "the card's YAML cannot be parsed: line"),
        (_glob_of_no_file, "config 'smoothed_speech': Couldn't infer"),
    ],
    ids=["flipped-bit", "truncated", "shard-removed", "split-size", "bad-yaml", "glob-of-no-file"],
)  # fmt: skip
@pytest.mark.parametrize("stream", [False, True], ids=["map", "stream"])
def test_a_damaged_folder_is_one_line_naming_the_file(bl, sample_hub, tmp_path, capsys, damage, says, stream):
    """A flipped bit had been trained on without an error (datasets' parquet reader checks no page
    CRC); a removed or truncated shard or a card whose YAML does not parse had ended in datasets'
    or PyYAML's tracebacks, exit 1."""
    import shutil

    folder = tmp_path / "felt"
    shutil.copytree(sample_hub, folder)
    named = damage(folder)
    args = ["--data", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1", "--max-steps", "1"]
    assert bl.main(args + ["--stream"] * stream) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"train_baseline.py: error: {named}: ") and says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_datasets_cache_of_another_folder_of_the_same_name_is_not_trained_on(bl, sample_hub, tmp_path, capsys):
    """datasets keys its cache of a local folder by the folder's name and card, not its files: a
    second folder ``felt`` with a shard fewer had loaded the first one's 4 train trials."""
    import shutil

    first, second = tmp_path / "a" / "felt", tmp_path / "b" / "felt"
    shutil.copytree(sample_hub, first)
    shutil.copytree(sample_hub, second)
    args = ["--epochs", "1", "--max-steps", "1", "--out", str(tmp_path / "run")]
    assert bl.main(["--data", str(first), *args]) == 0
    card = _remove_and_renumber(second)
    capsys.readouterr()
    assert bl.main(["--data", str(second), *args]) == 2
    assert f"train_baseline.py: error: {card}: the split sizes it records" in capsys.readouterr().err


def test_cross_validation_and_every_documented_option_on_the_sample(bl, sample_hub, tmp_path, capsys):
    """--cv-folds (crashed on datasets 4+: Column has no tolist) with every other option set."""
    out = tmp_path / "cv"
    args = ["--data", str(sample_hub), "--config", "raw_speech", "--out", str(out), "--cv-folds", "3"]
    args += ["--epochs", "1", "--max-steps", "1", "--batch-size", "2", "--max-frames", "16", "--frame-stride", "1"]
    args += ["--lr", "1e-3", "--seed", "3", "--num-workers", "0"]
    assert bl.main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"] == "raw_speech" and len(m["folds"]) == 3
    tested = sorted(a for f in m["folds"] for a in f["test_actors"])
    assert tested == sorted(set(tested)) and len(tested) == 6  # every actor tested exactly once
    pooled = sum(np.array(f["confusion"]) for f in m["folds"])
    from datasets import load_dataset

    trials = sum(len(d) for d in load_dataset(str(sample_hub), "raw_speech").values())
    assert pooled.sum() == trials  # every trial of the config tested exactly once
    assert "pooled over folds" in capsys.readouterr().out
    assert _read_png(out / "confusion.png").ndim == 3


def test_sample_option_builds_its_own_data(bl, tmp_path, capsys):
    assert bl.main(["--sample", "--max-steps", "1", "--epochs", "1", "--out", str(tmp_path / "s")]) == 0
    m = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert m["steps"] == 1 and "synthetic" in m["caveat"]
    assert "means NOTHING" in capsys.readouterr().out


def test_user_errors_exit_2_with_one_line(bl, sample_hub, tmp_path, capsys):
    assert bl.main(["--data", str(sample_hub), "--cv-folds", "99", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("train_baseline.py: error: --cv-folds 99") and "Traceback" not in err
    with pytest.raises(SystemExit) as e:  # argparse's usage error: exit status 2 as well
        bl.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert e.value.code == 2 and "not a folder written by felt-hf convert" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--epochs", "0"], "argument --epochs: '0': expected a whole number, at least 1"),
        (["--max-steps", "-5"], "argument --max-steps: '-5': expected a non-negative whole number"),
        (["--batch-size", "0"], "argument --batch-size: '0'"),
        (["--max-frames", "1"], "argument --max-frames: '1': expected a whole number, at least 2"),
        (["--data", ""], "argument --data: '': expected a path"),
    ],  # fmt: skip
)
def test_bad_options_are_one_line_before_any_work(bl, tmp_path, capsys, extra, says):
    """``--epochs 0`` had trained nothing and then crashed in torch's load_state_dict(None);
    ``--max-steps -5`` had stopped after one step."""
    with pytest.raises(SystemExit) as e:
        bl.main(["--sample", "--out", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert says in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_an_out_that_is_a_file_is_one_line(bl, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(SystemExit) as e:
        bl.main(["--sample", "--out", str(afile)])
    assert (
        e.value.code == 2
        and f"--out {afile}: a file, not a folder" in capsys.readouterr().err
        and afile.read_text() == "x"
    )
