from collections import Counter

import pytest

from felt_hf.errors import FeltNameError
from felt_hf.ravdess import expected_trial_ids, parse_trial_id, split_of_actor, validate_split_actors
from felt_hf.schema import DEFAULT_SPLIT_ACTORS, EMOTIONS, STATEMENTS


def test_all_2452_ids_parse_with_the_documented_counts():
    ids = expected_trial_ids()
    assert len(ids) == len(set(ids)) == 2452
    labels = [parse_trial_id(i) for i in ids]
    by_channel = Counter(lab.vocal_channel for lab in labels)
    assert by_channel == {"speech": 1440, "song": 1012}
    per_actor = Counter((lab.vocal_channel, lab.actor) for lab in labels)
    for actor in range(1, 25):
        assert per_actor[("speech", actor)] == 60
        assert per_actor[("song", actor)] == (0 if actor == 18 else 44)
    assert not any(lab.emotion in ("disgust", "surprised") for lab in labels if lab.vocal_channel == "song")
    assert not any(lab.emotion == "neutral" and lab.intensity == "strong" for lab in labels)
    assert len(expected_trial_ids("song", actors=(18,))) == 0


def test_parse_fields_and_paths():
    lab = parse_trial_id("Actor_12\\01-02-03-02-01-01-12.csv")
    assert (lab.trial_id, lab.vocal_channel, lab.emotion, lab.intensity) == (
        "01-02-03-02-01-01-12",
        "song",
        "happy",
        "strong",
    )
    assert (lab.statement, lab.repetition, lab.actor, lab.sex) == (STATEMENTS[0], 1, 12, "female")
    lab = parse_trial_id("deep/path/Actor_07/01-01-08-01-02-02-07.csv")
    assert (lab.emotion, lab.statement, lab.repetition, lab.sex) == (EMOTIONS[7], STATEMENTS[1], 2, "male")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("01-01-01-02-01-01-01.csv", "neutral has no strong"),
        ("01-02-07-01-01-01-01.csv", "song has no disgust"),
        ("01-02-08-01-01-01-01.csv", "song has no surprised"),
        ("01-02-03-01-01-01-18.csv", "actor 18 recorded no song"),
        ("02-01-03-01-01-01-01.csv", "modality 02"),
        ("01-01-09-01-01-01-01.csv", "emotion 09"),
        ("01-01-03-01-01-03-01.csv", "repetition 03"),
        ("01-01-03-01-01-01-25.csv", "actor 25"),
        ("01-01-03-01-01-01.csv", "not a RAVDESS trial name"),
        ("notes.csv", "not a RAVDESS trial name"),
    ],
)
def test_invalid_names_are_errors_naming_the_file(name, why):
    with pytest.raises(FeltNameError, match=why) as e:
        parse_trial_id(name)
    assert name in str(e.value)


def test_default_splits_are_actor_disjoint_and_balanced_by_sex():
    rule = validate_split_actors(DEFAULT_SPLIT_ACTORS)
    assert sorted(a for actors in rule.values() for a in actors) == list(range(1, 25))
    for actors in rule.values():
        assert sum(a % 2 for a in actors) * 2 == len(actors)  # as many odd (male) as even (female)
    assert split_of_actor(18) == "train" and split_of_actor(20) == "validation" and split_of_actor(21) == "test"
    with pytest.raises(ValueError, match="actor-disjoint"):
        validate_split_actors({"train": (1, 2), "test": (2, 3)})


def test_a_split_rule_given_as_generators_keeps_its_actors():
    rule = validate_split_actors({"train": (a for a in range(1, 5)), "test": iter([21, 22])})
    assert rule == {"train": (1, 2, 3, 4), "test": (21, 22)}


def test_split_names_differing_only_in_case_are_refused(sample_archives, tmp_path, capsys):
    """`Train-00000-...` and `train-00000-...` are one file on macOS and Windows by default."""
    from felt_hf.cli import main

    with pytest.raises(ValueError, match="split names 'Train' and 'train' differ only in case"):
        validate_split_actors({"Train": (1, 2), "train": (19, 20)})
    assert main(["convert", str(sample_archives), "--out", str(tmp_path / "o"), "--split-actors", "Train=1-2",
                 "train=19-20"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "differ only in case" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
