"""The dataset card: hub/datasets parse it, it follows the schema, and load_dataset works from it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from felt_hf import card, schema
from felt_hf.ravdess import expected_trial_ids, parse_trial_id

# huggingface.js packages/tasks/src/pipelines.ts: the dataset-visible task ids and subtask ids
# that could describe this data (snapshot; the card must pick from the hub's list).
HUB_TASK_CATEGORIES = {
    "tabular-classification",
    "tabular-regression",
    "time-series-forecasting",
    "video-classification",
    "feature-extraction",
    "tabular-to-text",
    "audio-classification",
    "image-classification",
    "other",
}
HUB_TASK_IDS = {
    "tabular-multi-class-classification",
    "tabular-multi-label-classification",
    "univariate-time-series-forecasting",
    "multivariate-time-series-forecasting",
    "multi-class-classification",
}
# The hub's size_categories values (huggingface.js; the dataset card spec's allowed list).
HUB_SIZE_CATEGORIES = {
    "n<1K",
    "1K<n<10K",
    "10K<n<100K",
    "100K<n<1M",
    "1M<n<10M",
    "10M<n<100M",
    "100M<n<1B",
    "1B<n<10B",
    "10B<n<100B",
    "100B<n<1T",
    "n>1T",
}
SPLIT_ACTORS = {k: list(v) for k, v in schema.DEFAULT_SPLIT_ACTORS.items()}
SPLIT_SIZES = {"train": 2, "validation": 1, "test": 1}


def make_summary(configs=("smoothed_speech", "raw_song"), synthetic=False, stats_file="stats.json", **extra) -> dict:
    out = {}
    for name in configs:
        out[name] = {
            "splits": {
                split: {
                    "num_examples": n,
                    "num_frames": 10 * n,
                    "num_bytes": 1000 * n,
                    "files": [f"{name}/{split}-00000-of-00001.parquet"],
                }
                for split, n in SPLIT_SIZES.items()
            }
        }
    return {
        "felt_hf_version": "0.1.0",
        "source": "generated sample, seed 0" if synthetic else "FELT archives in /data/felt",
        "synthetic": synthetic,
        "configs": out,
        "split_actors": SPLIT_ACTORS,
        "stats_file": stats_file,
        **extra,
    }


@pytest.fixture(scope="module")
def summary() -> dict:
    return make_summary()


@pytest.fixture(scope="module")
def text(summary) -> str:
    return card.render_card(summary)


# --- YAML -------------------------------------------------------------------------------------
def test_yaml_header_fields(summary):
    y = card.card_yaml(summary)
    assert y["license"] == "cc-by-nc-sa-4.0"
    assert y["pretty_name"]
    assert set(y["task_categories"]) <= HUB_TASK_CATEGORIES
    assert set(y["task_ids"]) <= HUB_TASK_IDS
    assert y["size_categories"] == ["n<1K"]
    assert set(y["size_categories"]) <= HUB_SIZE_CATEGORIES
    assert "emotion-recognition" in y["tags"] and "synthetic" not in y["tags"]


def test_configs_default_first_and_globs(summary):
    configs = card.card_yaml(summary)["configs"]
    assert [c["config_name"] for c in configs] == ["smoothed_speech", "raw_song"]
    assert configs[0]["default"] is True and "default" not in configs[1]
    assert configs[0]["data_files"] == [
        {"split": s, "path": f"smoothed_speech/{s}-*"} for s in ("train", "validation", "test")
    ]


@pytest.mark.parametrize(
    ("n", "label"), [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (4904, "1K<n<10K"), (10**5, "100K<n<1M")]
)
def test_size_category(n, label):
    assert card.size_category(n) == label


@pytest.mark.parametrize("exponent", range(0, 14))
def test_size_category_is_always_a_hub_value(exponent):
    for n in (10**exponent - 1, 10**exponent, 3 * 10**exponent):
        assert card.size_category(n) in HUB_SIZE_CATEGORIES, n


def test_hub_card_parses_and_roundtrips(summary, text):
    from huggingface_hub import DatasetCard, DatasetCardData

    parsed = DatasetCard(text)
    assert isinstance(parsed.data, DatasetCardData)
    assert parsed.data.to_dict() == card.card_yaml(summary)
    again = DatasetCard(str(parsed))
    assert again.data.to_dict() == parsed.data.to_dict()
    assert parsed.data.license == "cc-by-nc-sa-4.0"
    # strict construction: the hub's card-data class rejects nothing here
    DatasetCardData(ignore_metadata_errors=False, **card.card_yaml(summary))


def test_hub_metadata_load(summary, tmp_path):
    from huggingface_hub import metadata_load

    path = card.write_card(tmp_path, summary)
    assert metadata_load(path) == card.card_yaml(summary)


def test_datasets_reads_configs_and_infos(summary, text):
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    data = DatasetCard(text).data
    configs = MetadataConfigs.from_dataset_card_data(data)
    assert list(configs) == ["smoothed_speech", "raw_song"]
    assert configs.get_default_config_name() == "smoothed_speech"
    for cfg in configs.values():
        MetadataConfigs._raise_if_data_files_field_not_valid(cfg)
    infos = DatasetInfosDict.from_dataset_card_data(data)
    assert set(infos) == {"smoothed_speech", "raw_song"}
    for info in infos.values():
        assert info.features == schema.trial_features()
        assert {s: v.num_examples for s, v in info.splits.items()} == SPLIT_SIZES
        assert info.dataset_size == 1000 * sum(SPLIT_SIZES.values())


def test_missing_default_config_marks_first_present():
    y = card.card_yaml(make_summary(configs=("raw_song", "raw_speech")))
    # schema order, not summary order
    assert [c["config_name"] for c in y["configs"]] == ["raw_speech", "raw_song"]
    assert y["configs"][0].get("default") is True
    assert sum(bool(c.get("default")) for c in y["configs"]) == 1


def test_rejects_bad_summaries():
    with pytest.raises(ValueError, match="unknown FELT config"):
        card.card_yaml(make_summary(configs=("smoothed_dance",)))
    with pytest.raises(ValueError, match="no configs"):
        card.card_yaml({"configs": {}})
    bad = make_summary(configs=("smoothed_speech",))
    bad["configs"]["smoothed_speech"]["splits"]["train"]["files"] = ["smoothed_speech/training-00000-of-00001.parquet"]
    with pytest.raises(ValueError, match="does not match"):
        card.card_yaml(bad)
    bad["configs"]["smoothed_speech"]["splits"]["train"]["files"] = []
    with pytest.raises(ValueError, match="no files"):
        card.card_yaml(bad)


# --- body follows the schema -------------------------------------------------------------------
def _table_rows(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_columns_table_lists_every_column_with_shape_and_unit(text):
    rows = _table_rows(text, "| column | type | shape | unit |")
    assert [r[0].strip("`") for r in rows] == list(schema.ROW_COLUMNS)
    by_name = {r[0].strip("`"): r for r in rows}
    feats = schema.trial_features()
    assert set(by_name) == set(feats)
    for arr in schema.FRAME_ARRAYS:
        _, typ, shape, unit, _desc = by_name[arr.name]
        assert shape == ("(T,)" if not arr.shape else "(" + ", ".join(["T", *map(str, arr.shape)]) + ")")
        assert unit == arr.unit
    assert by_name["emotion"][1] == f"ClassLabel ({len(schema.EMOTIONS)})"
    assert by_name["time_s"][3] == "s"
    assert set(card.SCALAR_UNITS) == set(schema.TRIAL_COLUMNS) | set(schema.PER_FRAME_INDEX_COLUMNS)


def test_label_tables_come_from_schema(text):
    emo = _table_rows(text, "| id | code | name | in speech | in song |")
    assert [r[2] for r in emo] == list(schema.EMOTIONS)
    assert [r[4] == "yes" for r in emo] == [e in schema.SONG_EMOTIONS for e in schema.EMOTIONS]
    aus = _table_rows(text, "| index | AU | FACS name |")
    assert [(r[1], r[2]) for r in aus] == [(a, schema.AU_DESCRIPTIONS[a]) for a in schema.AU_NAMES]
    assert [r[1] for r in aus if r[3].startswith("presence")] == list(schema.PRESENCE_AUS)
    statements = _table_rows(text, "| id | code | statement |")
    assert [r[2].strip('"') for r in statements] == list(schema.STATEMENTS)
    for name in schema.EMOTION_SCORE_NAMES + schema.INTENSITIES + schema.VOCAL_CHANNELS + schema.SEXES:
        assert f"`{name}`" in text
    assert f"odd = `{parse_trial_id('01-01-01-01-01-01-01').sex}`" in text
    assert f"even = `{parse_trial_id('01-01-01-01-01-01-02').sex}`" in text


def test_card_follows_schema_changes(summary, monkeypatch):
    monkeypatch.setitem(schema.AU_DESCRIPTIONS, "AU01", "renamed inner brow thing")
    monkeypatch.setattr(schema, "PRESENCE_AUS", ("AU43",))
    monkeypatch.setitem(schema.PER_FRAME_INDEX_COLUMNS, "time_s", "a brand new time description")
    out = card.render_card(summary)
    assert "| 0 | AU01 | renamed inner brow thing | intensity 0-1 |" in out
    assert "| 19 | AU43 | eyes closed | presence 0/1 |" in out
    assert "a brand new time description" in out


def test_new_feature_without_card_entry_fails(monkeypatch):
    from datasets import Value

    real = schema.trial_features

    def more():
        f = real()
        f["brand_new"] = Value("float32")
        return f

    monkeypatch.setattr(schema, "trial_features", more)
    with pytest.raises(ValueError, match="brand_new"):
        card.columns_table()


def test_body_facts(summary, text):
    assert "10.5281/zenodo.13243600" in text and "e0196391" in text
    assert text.count("@dataset{") == 1 and text.count("@article{") == 1
    assert "butter(5, 6 / (0.5 * 29.97)" in text and "savgol_filter(column, 11, 5)" in text
    assert "0.6.2" in text and 'face_model="img2pose"' in text
    assert f"{len(expected_trial_ids())} trials" in text
    for caveat in ("approx_time", "FaceScore", "num_faces", "10%", "all-NaN", "AU07, AU11, AU20"):
        assert caveat.lower() in text.lower(), caveat
    assert 'load_dataset("<user>/felt", "smoothed_speech")' in text
    assert "streaming=True" in text and 'with_format("numpy")' in text and 'with_format("torch"' in text
    assert "felt_hf.training" in text
    sizes = _table_rows(text, "| config | split | trials |")
    assert [(r[0], r[1], r[2]) for r in sizes] == [
        (c, s, str(n)) for c in ("raw_song", "smoothed_speech") for s, n in SPLIT_SIZES.items()
    ]  # schema order
    assert "This is the default rule." in text and "actor-disjoint" in text
    split_rows = _table_rows(text, "| split | actors | actors by sex |")
    assert split_rows[0] == ["train", ", ".join(map(str, range(1, 19))), "9 male + 9 female"]
    assert "$" not in text.replace("$$", "")


def test_stats_section_only_with_stats_file():
    assert "## Normalisation statistics" in card.render_card(make_summary(stats_file="stats.json"))
    assert "## Normalisation statistics" not in card.render_card(make_summary(stats_file=None))


def test_overridden_split_rule_is_stated():
    s = make_summary(split_actors={"train": list(range(1, 21)), "test": [21, 22, 23, 24]})
    text = card.render_card(s)
    assert "**overrides** the default rule" in text
    assert "| train | " + ", ".join(map(str, range(1, 21))) + " | 10 male + 10 female |" in text


def test_synthetic_is_prominent():
    text = card.render_card(make_summary(synthetic=True))
    body = text.split("\n---\n", 1)[1]
    assert body.lstrip().startswith("> [!WARNING]") and "SYNTHETIC DATA" in body.split("\n# ", 1)[0]
    y = card.card_yaml(make_summary(synthetic=True))
    assert "synthetic" in y["tags"] and "synthetic" in y["pretty_name"]
    assert "SYNTHETIC" not in card.render_card(make_summary(synthetic=False))


def test_skipped_trials_are_reported():
    assert "could not be converted" in card.render_card(make_summary(skipped=3))
    assert "could not be converted" not in card.render_card(make_summary(skipped=0))


def _privacy(text: str) -> str:
    return text.split("## Personal and sensitive information", 1)[1].split("\n## ", 1)[0]


def test_privacy_section_follows_media_configs():
    """Tracking only: no media, faces on Zenodo. With media: names them, overlay faces and voices are personal data."""
    tracking = _privacy(card.render_card(make_summary()))
    assert "FELT contains no video, audio or image" in tracking
    assert "on Zenodo (not in this repository) include landmark-overlay videos" in tracking
    media = _privacy(
        card.render_card(make_summary(configs=("smoothed_speech", "landmark_overlay_speech", "audio_song")))
    )
    assert "no video, audio or image" not in media and "not in this repository" not in media
    assert "This build holds media configs besides the tracking (`landmark_overlay_speech`, `audio_song`;" in media
    assert "(`landmark_overlay_speech`) show the actors' faces: personal data, under the same terms as RAVDESS" in media
    assert "(`audio_song`) hold the actors' voices: personal data" in media
    plot_only = _privacy(card.render_card(make_summary(configs=("raw_song", "landmark_plot_song"))))
    assert "(`landmark_plot_song`;" in plot_only and "landmark-overlay videos, which show" in plot_only
    assert "no video, audio or image" not in plot_only and "voices" not in plot_only


def test_sizes_table_shows_no_frame_count_for_audio_configs():
    """Audio configs had shown 0 frames, video configs a count that is not the tracking's: the
    audio rows now show "-" and the text above the table says which frames each row counts."""
    text = card.render_card(make_summary(configs=("smoothed_speech", "landmark_plot_speech", "audio_speech")))
    rows = [line for line in text.split("## Sizes", 1)[1].splitlines() if line.startswith("| ")]
    audio = [r.split(" | ") for r in rows if r.startswith("| audio_speech ")]
    tracking = [r.split(" | ") for r in rows if r.startswith("| smoothed_speech ")]
    assert audio and all(r[3] == "-" for r in audio) and all(r[3] != "-" for r in tracking)
    assert "video frames for the video configs" in text and "none for the audio configs" in text


def test_every_template_value_is_used():
    template = card.TEMPLATE_PATH.read_text(encoding="utf-8")
    names = set(re.findall(r"\$(\w+)", template))
    assert names == set(card.template_values(make_summary()))


# --- write_card ----------------------------------------------------------------------------
def test_write_card_atomic(summary, tmp_path, monkeypatch):
    (tmp_path / "README.md").write_text("old card")
    path = card.write_card(tmp_path, summary)
    assert path == tmp_path / "README.md" and path.read_text(encoding="utf-8") == card.render_card(summary)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    assert path.stat().st_mode & 0o777 == 0o644

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(card.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        card.write_card(tmp_path, make_summary(synthetic=True))
    assert path.read_text(encoding="utf-8") == card.render_card(summary)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


# --- end to end: parquet folder + card -> load_dataset --------------------------------------------
def fake_row(trial_id: str, num_frames: int, rng: np.random.Generator) -> dict:
    row = parse_trial_id(trial_id).as_row()
    row.update(
        num_frames=num_frames,
        source_video=f"C:\\RAVDESS\\{trial_id}.mp4",
        frame=list(range(num_frames)),
        time_s=[f / schema.FPS for f in range(num_frames)],
        num_faces=[1] * num_frames,
    )
    for arr in schema.FRAME_ARRAYS:
        row[arr.name] = rng.random((num_frames, *arr.shape), dtype=np.float32)
    return row


def write_parquet_folder(root: Path, configs: tuple[str, ...]) -> dict:
    """The converter's layout, written with datasets itself; returns the matching summary."""
    from datasets import Dataset

    rng = np.random.default_rng(0)
    summary = make_summary(configs=configs, stats_file=None)
    for name in configs:
        _, channel = schema.config_parts(name)
        for split, n in SPLIT_SIZES.items():
            actors = schema.DEFAULT_SPLIT_ACTORS[split][:1]
            ids = expected_trial_ids(channel, actors)[:n]
            rows = [fake_row(t, 3 + i, rng) for i, t in enumerate(ids)]
            ds = Dataset.from_dict(
                {k: [r[k] for r in rows] for k in schema.ROW_COLUMNS}, features=schema.trial_features()
            )
            rel = summary["configs"][name]["splits"][split]["files"][0]
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            ds.to_parquet(root / rel)
            summary["configs"][name]["splits"][split]["num_frames"] = sum(r["num_frames"] for r in rows)
    card.write_card(root, summary)
    return summary


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    write_parquet_folder(root, ("raw_song", "smoothed_speech"))
    return root


@pytest.fixture
def offline(monkeypatch, tmp_path):
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return tmp_path / "cache"


def test_load_dataset_from_card(hub_folder, offline):
    from datasets import Array2D, Array3D, ClassLabel, get_dataset_config_names, load_dataset

    assert get_dataset_config_names(str(hub_folder)) == ["smoothed_speech", "raw_song"]
    ds = load_dataset(str(hub_folder), "smoothed_speech", cache_dir=str(offline))
    assert list(ds) == ["train", "validation", "test"]
    assert {s: len(d) for s, d in ds.items()} == SPLIT_SIZES
    feats = ds["train"].features
    assert feats == schema.trial_features()
    assert isinstance(feats["emotion"], ClassLabel) and feats["emotion"].names == list(schema.EMOTIONS)
    assert feats["statement"].names == list(schema.STATEMENTS)
    assert isinstance(feats["landmarks"], Array3D) and feats["landmarks"].shape == (None, schema.NUM_LANDMARKS, 2)
    assert isinstance(feats["action_units"], Array2D) and feats["action_units"].shape == (None, len(schema.AU_NAMES))
    row = ds["train"].with_format("numpy")[1]
    assert row["landmarks"].shape == (4, schema.NUM_LANDMARKS, 2) and row["landmarks"].dtype == np.float32
    assert all(r["vocal_channel"] == 0 for r in ds["test"])
    song = load_dataset(str(hub_folder), "raw_song", split="validation", cache_dir=str(offline))
    assert len(song) == 1 and song[0]["vocal_channel"] == schema.VOCAL_CHANNELS.index("song")
    default = load_dataset(str(hub_folder), split="test", cache_dir=str(offline))
    assert default[0]["vocal_channel"] == schema.VOCAL_CHANNELS.index("speech")


def test_load_dataset_checks_card_counts(tmp_path, offline):
    """The card's split sizes are really used: a wrong count is caught by datasets."""
    from datasets import load_dataset
    from datasets.exceptions import NonMatchingSplitsSizesError

    summary = write_parquet_folder(tmp_path, ("smoothed_speech",))
    summary["configs"]["smoothed_speech"]["splits"]["train"]["num_examples"] += 1
    card.write_card(tmp_path, summary)
    with pytest.raises(NonMatchingSplitsSizesError):
        load_dataset(str(tmp_path), "smoothed_speech", cache_dir=str(offline))


def test_reviewer_metadata_and_sections(summary, text):
    """What a hub reviewer checks: language, creators, sources, and the responsible-use sections."""
    y = card.card_yaml(summary)
    assert y["language"] == ["en"] and y["multilinguality"] == ["monolingual"]
    assert set(y["annotations_creators"]) <= {"machine-generated", "expert-generated", "crowdsourced", "found"}
    assert y["source_datasets"] and all(s == "original" or s.startswith("extended") for s in y["source_datasets"])
    for heading in (
        "## Personal and sensitive information",
        "## Out-of-scope uses",
        "## Bias, risks and limitations",
        "## Citation",
    ):
        assert f"\n{heading}\n" in text, heading
    assert "biometric" in text and "Re-identification" in text and "24 actors" in text
    assert "@dataset{liao_2024_felt" in text and "@article{livingstone_2018_ravdess" in text
