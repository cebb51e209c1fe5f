"""Small synthetic FELT trial rows and hub folders for the training-loop tests.

Independent of the converter so the stats/torch/frames tests can run on their own; the rows
follow ``schema.trial_features()`` exactly (labels from real RAVDESS ids, NaN no-face frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from felt_hf import schema
from felt_hf.ravdess import expected_trial_ids, parse_trial_id


def make_row(trial_id: str, num_frames: int, rng: np.random.Generator, nan_frames: int = 1) -> dict:
    """One trial row; the first ``nan_frames`` frames have no face (NaN), as FELT's leading gaps."""
    t = num_frames
    labels = parse_trial_id(trial_id)
    box = np.array([500.0, 200.0, 260.0, 300.0]) + rng.normal(0, 3, (t, 4))
    base = rng.uniform(0.1, 0.9, (schema.NUM_LANDMARKS, 2))
    landmarks = box[:, None, :2] + base[None] * box[:, None, 2:] + rng.normal(0, 1, (t, schema.NUM_LANDMARKS, 2))
    emotions = rng.dirichlet(np.ones(len(schema.EMOTION_SCORE_NAMES)), t)
    emb = rng.normal(0, 1, (t, schema.EMBEDDING_DIM))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    arrays = {
        "face_box": box,
        "face_score": rng.uniform(0.9, 1.0, t),
        "landmarks": landmarks,
        "head_pose": rng.normal(0, 8, (t, 3)),
        "action_units": rng.uniform(0, 1, (t, len(schema.AU_NAMES))),
        "emotions": emotions,
        "identity_embedding": emb,
    }
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    num_faces = np.ones(t, dtype=np.uint8)
    for v in arrays.values():
        v[:nan_frames] = np.nan
    num_faces[:nan_frames] = 0
    frame = np.arange(t, dtype=np.int32)
    return {
        **labels.as_row(),
        "num_frames": t,
        "source_video": f"C:\\RAVDESS\\{trial_id}.mp4",
        "frame": frame,
        "time_s": (frame / schema.FPS).astype(np.float32),
        "num_faces": num_faces,
        **arrays,
    }


def make_rows(actors: tuple[int, ...], rng: np.random.Generator, per_actor: int = 4, frames=(12, 40)) -> list[dict]:
    """``per_actor`` speech trials for each actor, cycling through the emotions."""
    rows = []
    for a in actors:
        ids = expected_trial_ids("speech", (a,))
        step = max(1, len(ids) // per_actor)
        for tid in ids[::step][:per_actor]:
            rows.append(make_row(tid, int(rng.integers(frames[0], frames[1] + 1)), rng))
    return rows


def to_dataset(rows: list[dict]):
    import datasets

    cols = {c: [r[c] for r in rows] for c in schema.ROW_COLUMNS}
    return datasets.Dataset.from_dict(cols, features=schema.trial_features())


SPLIT_ACTORS_SMALL = {"train": (1, 2, 3, 4, 5, 6), "validation": (19, 20), "test": (21, 22)}


def write_hub(
    out: Path,
    *,
    config: str = "smoothed_speech",
    shards: dict[str, int] | None = None,
    per_actor: int = 4,
    seed: int = 0,
    split_actors: dict[str, tuple[int, ...]] = SPLIT_ACTORS_SMALL,
    frames=(12, 40),
) -> dict[str, list[dict]]:
    """Write ``out/<config>/<split>-0000i-of-0000n.parquet`` and a README declaring the config."""
    rng = np.random.default_rng(seed)
    shards = shards or {"train": 4, "validation": 2, "test": 2}
    out = Path(out)
    (out / config).mkdir(parents=True, exist_ok=True)
    all_rows = {}
    for split, actors in split_actors.items():
        rows = make_rows(actors, rng, per_actor=per_actor, frames=frames)
        all_rows[split] = rows
        n = shards.get(split, 1)
        for i, part in enumerate(np.array_split(np.arange(len(rows)), n)):
            to_dataset([rows[j] for j in part]).to_parquet(str(out / config / f"{split}-{i:05d}-of-{n:05d}.parquet"))
    files = "\n".join(f'      - split: {s}\n        path: "{config}/{s}-*"' for s in split_actors)
    (out / "README.md").write_text(
        f"---\nconfigs:\n  - config_name: {config}\n    default: true\n    data_files:\n{files}\n---\n# fake FELT\n"
    )
    return all_rows


def flip_a_landmark_bit(shard: Path) -> None:
    """One bit flipped in the middle of row group 0's landmarks (raw float bytes inside the zstd
    frame): read without the pages' checksums, it decodes silently into other numbers."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(shard).metadata.row_group(0)
    chunk = next(
        meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema.startswith("landmarks")
    )
    data = bytearray(shard.read_bytes())
    data[chunk.data_page_offset + chunk.total_compressed_size // 2] ^= 0x10
    shard.write_bytes(bytes(data))


def shorten_a_frame_column(shard: Path) -> int:
    """One bit flipped in the data page header of row group 0's ``frame`` column, found by trying
    each bit of its first 48 bytes: one the page checksum does not cover (it covers the page's
    data) and after which the row group reads whole without an error but the column holds
    another number of values than ``num_frames`` says. Returns the offset changed."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from felt_hf.parquet_reads import open_shard

    pf = pq.ParquetFile(shard)
    meta = pf.metadata.row_group(0)
    chunk = next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema.startswith("frame"))
    start = chunk.data_page_offset  # (after the dictionary page, where there is one)
    want = pf.read_row_group(0, columns=["num_frames"]).column(0).to_pylist()
    original = shard.read_bytes()
    for at in range(start, start + 48):
        for bit in range(8):
            data = bytearray(original)
            data[at] ^= 1 << bit
            shard.write_bytes(bytes(data))
            try:
                with open_shard(shard) as damaged:  # (whole: every column, so the row counts agree)
                    frame = damaged.read_row_group(0).column("frame")
            except Exception:
                continue
            if pc.list_value_length(frame).to_pylist() != want:
                return at
    shard.write_bytes(original)
    raise AssertionError(f"{shard}: no bit of the frame column's page header shortens it")


def rewrite_first_csv(zip_path: Path, change, extra: dict[str, bytes] | None = None) -> tuple[str, bytes]:
    """Rewrite a zip with its first trial CSV's bytes replaced by ``change(bytes)`` and ``extra``
    entries appended; returns that CSV's name and its original bytes."""
    import zipfile

    with zipfile.ZipFile(zip_path) as zf:
        items = [(n, zf.read(n)) for n in zf.namelist()]
    first = next(n for n, _ in items if n.endswith(".csv") and "/._" not in n and "MACOSX" not in n)
    with zipfile.ZipFile(zip_path, "w") as zf:
        for n, body in items:
            zf.writestr(n, change(body) if n == first else body)
        for n, body in (extra or {}).items():
            zf.writestr(n, body)
    return first, dict(items)[first]
