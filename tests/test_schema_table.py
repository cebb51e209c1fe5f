"""The schema's column tables are the single source: features, row order, card table, label classes."""

from __future__ import annotations

import pytest

from felt_hf import schema


def test_features_and_row_order_come_from_the_tables():
    feats = schema.trial_features()
    table = schema.TRIAL_COLUMN_TABLE + schema.PER_FRAME_INDEX_TABLE
    assert list(feats)[: len(table)] == [c.name for c in table]
    assert list(feats) == list(schema.ROW_COLUMNS)
    for c in table:
        assert feats[c.name] == c.feature()
        if c.dtype == "class":
            assert tuple(feats[c.name].names) == c.class_names == schema.CLASS_LABELS[c.name]


def test_card_collator_and_viewer_read_the_same_table():
    pytest.importorskip("torch")
    from felt_hf.build import card
    from felt_hf.training.collate import CLASS_NAMES
    from felt_hf.view import viewrows

    text = card.columns_table()
    for c in schema.TRIAL_COLUMN_TABLE + schema.PER_FRAME_INDEX_TABLE:
        line = next(line for line in text.splitlines() if line.startswith(f"| `{c.name}`"))
        assert f"| {c.unit} |" in line and c.description.split(",")[0] in line
    assert CLASS_NAMES == schema.CLASS_LABELS == viewrows._CLASS_NAMES


def test_config_names_are_parsed_once_into_a_value():
    for name in schema.ALL_CONFIG_NAMES:
        c = schema.ConfigName.parse(name)
        assert f"{c.kind}_{c.channel}" == name and c.is_media != c.is_tracking
        assert c is schema.ConfigName.parse(name)  # cached: one parse per name
    assert schema.config_parts("smoothed_song") == ("smoothed", "song")
    assert schema.media_config_parts("landmark_overlay_speech") == ("landmark_overlay", "speech")
    with pytest.raises(ValueError, match="unknown FELT config 'smoothed'"):
        schema.ConfigName.parse("smoothed")
    with pytest.raises(ValueError, match="unknown FELT config"):
        schema.config_parts("audio_song")  # a media config is not a tracking config


def test_media_configs_come_from_their_column_tables():
    """Media Features, row order and the card's media column tables are the schema's tables."""
    from felt_hf.build import card

    for kind, table in [(schema.AUDIO_KIND, schema.AUDIO_COLUMN_TABLE)] + [
        (k.name, schema.VIDEO_COLUMN_TABLE) for k in schema.VIDEO_KINDS
    ]:
        feats = schema.media_features(kind)
        assert list(feats) == list(schema.LABEL_COLUMNS) + [c.name for c in table] == list(schema.media_columns(kind))
        for c in table:
            assert feats[c.name] == c.feature()
        for c in schema.LABEL_COLUMNS:
            assert feats[c] == schema.trial_features()[c]
        text = card._media_columns_table(kind)
        for c in table:
            line = next(line for line in text.splitlines() if line.startswith(f"| `{c.name}`"))
            assert f"| {c.unit} |" in line and c.description.split("`")[0].split(",")[0] in line
    assert type(schema.media_features("audio")["audio"]).__name__ == "Audio"
    assert type(schema.media_features("landmark_plot")["video"]).__name__ == "Video"
    with pytest.raises(ValueError, match="unknown media kind"):
        schema.media_column_table("landmarks")
