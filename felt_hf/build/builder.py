"""The ``datasets`` builder: FELT's four tracking archives as four configs of typed trial rows.

``Felt`` works as a class on any recent ``datasets`` (5.x refuses loading scripts, so
``Felt(config_name=..., data_dir=...).download_and_prepare()`` is the way in there); the
repository's ``felt.py`` exposes the same class as a loading script for ``datasets`` < 4.
Splits are actor-disjoint (see :data:`felt_hf.schema.DEFAULT_SPLIT_ACTORS`) and can be replaced
with ``split_actors={...}``.

It is an ``ArrowBasedBuilder`` yielding the converter's own Arrow tables
(:func:`felt_hf.build.rows.rows_table`), so the builder and ``felt-hf convert`` share one row
encoding and cannot drift (``tests/test_builder.py`` compares their tables).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import datasets
import pyarrow as pa

from ..inputs.sources import CsvMember, config_members, iter_records, members_by_split, source_fingerprint
from ..ravdess import validate_split_actors
from ..schema import CONFIG_NAMES, DEFAULT_CONFIG, DEFAULT_SPLIT_ACTORS, config_parts, trial_features
from .card import LICENSE
from .rows import rows_table, trial_row

_CITATION = """\
@dataset{liao_2024_felt,
  author    = {Liao, Harvey and Livingstone, Steven R. and Russo, Frank A.},
  title     = {Facial Expression and Landmark Tracking (FELT) dataset},
  year      = {2024},
  publisher = {Zenodo},
  doi       = {10.5281/zenodo.13243600}
}
@article{livingstone_2018_ravdess,
  author  = {Livingstone, Steven R. and Russo, Frank A.},
  title   = {The Ryerson Audio-Visual Database of Emotional Speech and Song (RAVDESS)},
  journal = {PLoS ONE},
  volume  = {13},
  number  = {5},
  pages   = {e0196391},
  year    = {2018},
  doi     = {10.1371/journal.pone.0196391}
}
"""
_DESCRIPTION = (
    "FELT: Py-Feat 0.6.2 tracking (face box, 68 landmarks, head pose, 20 action units, 7 emotion "
    "scores, FaceNet identity embedding) of all 2452 RAVDESS audio-video trials, raw and smoothed, "
    "one row per trial with per-frame arrays and the RAVDESS labels."
)
_HOMEPAGE = "https://doi.org/10.5281/zenodo.13243600"


class FeltConfig(datasets.BuilderConfig):
    """One FELT archive (raw or smoothed, speech or song) and the split rule to apply to it."""

    def __init__(self, *args, split_actors: dict[str, tuple[int, ...]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        variant, channel = config_parts(self.name)
        self.variant = variant
        self.channel = channel
        self.split_actors = validate_split_actors(split_actors or DEFAULT_SPLIT_ACTORS)

    def create_config_id(self, config_kwargs: dict, custom_features: datasets.Features | None = None) -> str:
        """``datasets``' config id (the cache folder's name), with the archive's size and modification
        time in it: ``datasets`` keys the cache on ``data_dir``'s path only, so a replaced archive was
        served from the old cache, old numbers and all (:func:`felt_hf.sources.source_fingerprint`)."""
        data_dir = config_kwargs.get("data_dir")
        name = config_kwargs.get("name", self.name)
        if data_dir and name in CONFIG_NAMES:
            fingerprint = source_fingerprint(os.path.expanduser(data_dir), name)
            if fingerprint is not None:
                config_kwargs = {**config_kwargs, "source": fingerprint}
        return super().create_config_id(config_kwargs, custom_features=custom_features)


TABLE_ROWS = 8  # trials per yielded table: the converter's row group, ~2.5 MB of float32


class Felt(datasets.ArrowBasedBuilder):
    """FELT tracking as typed trial rows; point ``data_dir`` at the folder holding the zips."""

    BUILDER_CONFIG_CLASS = FeltConfig
    BUILDER_CONFIGS = [
        FeltConfig(name=name, version=datasets.Version("1.0.0"), description=f"FELT {name.replace('_', ' ')} tracking")
        for name in CONFIG_NAMES
    ]
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    DEFAULT_WRITER_BATCH_SIZE = 64  # a trial is ~0.3 MB of float32: keep writer batches small

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=trial_features(),
            homepage=_HOMEPAGE,
            citation=_CITATION,
            license=LICENSE,
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        data_dir = self.config.data_dir
        if not data_dir:
            raise ValueError(
                "FELT's archives cannot be downloaded automatically: pass data_dir= pointing at the folder with "
                "raw_motion_speech.zip, smoothed_motion_speech.zip, raw_motion_song.zip, smoothed_motion_song.zip"
            )
        members = config_members(os.path.expanduser(data_dir), self.config.name)
        # validated here too: datasets may set a config's fields without running FeltConfig.__init__
        by_split = members_by_split(members, validate_split_actors(self.config.split_actors))
        return [datasets.SplitGenerator(name=split, gen_kwargs={"members": ms}) for split, ms in by_split.items() if ms]

    def _generate_tables(self, members: list[CsvMember]) -> Iterator[tuple[str, pa.Table]]:
        batch: list[dict] = []
        for member, record in iter_records(members):
            batch.append(trial_row(record, member.labels))
            if len(batch) == TABLE_ROWS:
                yield batch[0]["trial_id"], rows_table(batch)
                batch = []
        if batch:
            yield batch[0]["trial_id"], rows_table(batch)


def load_felt(
    data_dir: str | os.PathLike,
    config_name: str = DEFAULT_CONFIG,
    *,
    split: str | None = None,
    cache_dir: str | None = None,
    split_actors: dict[str, tuple[int, ...]] | None = None,
    num_proc: int | None = None,
) -> datasets.DatasetDict | datasets.Dataset:
    """Build (or reuse from cache) one config from local FELT archives and return it.

    The one-call form of ``Felt(...).download_and_prepare(); .as_dataset()``.
    """
    kwargs = {"split_actors": validate_split_actors(split_actors)} if split_actors is not None else {}
    builder = Felt(config_name=config_name, data_dir=os.fspath(data_dir), cache_dir=cache_dir, **kwargs)
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset(split=split)
