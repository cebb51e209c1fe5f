"""The training-loop helpers on the real converter's output of the built-in sample."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from datasets import load_dataset

from felt_hf.training import FeltCollator, prepare_stream

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_baseline.py"


def test_converted_shards_serve_two_ranks_two_workers_exactly_once(sample_hub):
    expected = sorted(load_dataset(str(sample_hub), "smoothed_speech", split="train")["trial_id"])
    stream = load_dataset(str(sample_hub), "smoothed_speech", split="train", streaming=True)
    assert stream.num_shards % 4 == 0  # the converter planned whole shards for 2 ranks x 2 workers
    collate = FeltCollator(["landmarks", "action_units", "head_pose"], max_frames=32)
    for epoch in range(2):
        seen = []
        for rank in range(2):
            ds = prepare_stream(stream, rank=rank, world_size=2, num_workers=2, seed=0, buffer_size=4)
            ds.set_epoch(epoch)
            for batch in torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate, num_workers=2):
                assert batch["features"].shape[1:] == (32, 68 * 2 + 20 + 3)
                seen.extend(batch["trial_id"])
        assert sorted(seen) == expected


def test_baseline_runs_a_few_steps_on_the_sample(sample_hub, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_baseline", SCRIPT)
    bl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bl)
    out = tmp_path / "run"
    args = ["--data", str(sample_hub), "--out", str(out), "--epochs", "3", "--max-steps", "3", "--batch-size", "2"]
    assert bl.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 3 and 0.0 <= metrics["test_war"] <= 1.0
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "means NOTHING" in capsys.readouterr().out
