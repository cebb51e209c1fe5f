"""The converted folder as a contract: every file name in it, the shard naming, and the build summary.

A converted folder (``felt-hf convert``; what ``felt-hf push`` uploads and ``load_dataset`` reads)::

    README.md                                  the card; its YAML declares the configs (CARD_FILENAME)
    stats.json                                 per-feature statistics per config and split (STATS_FILENAME)
    skipped_trials.json                        only when trials were skipped (SKIPPED_FILENAME)
    <config>/<split>-NNNNN-of-NNNNN.parquet    the shards (shard_relpath, SHARD_RE, data_files_glob)
    .tmp-<run>-<name>                          files being written; no glob of datasets picks them up

and, next to *archives* the generator wrote, the ``SYNTHETIC`` marker (SYNTHETIC_MARKER).

Why one module: the converter, the card, the hub push, verify, the viewers and the tests all
need these names; spelled once here, a change of layout is one edit and cannot drift between
the writer and its readers. :class:`BuildSummary` is what the converter hands the card, the
hub code and the CLI: typed, and JSON round-trippable.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CARD_FILENAME = "README.md"
STATS_FILENAME = "stats.json"
SKIPPED_FILENAME = "skipped_trials.json"
SYNTHETIC_MARKER = "SYNTHETIC"  # beside generated archives (felt_hf.synthetic.archives writes it)
EXTRA_FILES = (STATS_FILENAME, SKIPPED_FILENAME)  # besides the card and the shards, nothing else
SHARD_SUFFIX = ".parquet"
TEMP_PREFIX = ".tmp-"
LOCK_FILENAME = ".felt-hf.lock"  # held by a running convert (felt_hf.atomic.folder_lock); never published

SHARD_RE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.parquet$")
TEMP_SHARD_RE = re.compile(r"^\.tmp-[^/]+-[^/]+\.parquet$")

TARGET_SHARD_ROWS = 64  # trials per shard the converter aims at (small shards shuffle well when streamed)
SHARD_MULTIPLE = 8  # the converter's shard counts split evenly over 1, 2, 4 or 8 DDP ranks


def plan_num_shards(num_rows: int, target_rows: int = TARGET_SHARD_ROWS, multiple: int = SHARD_MULTIPLE) -> int:
    """The one shard-count rule: about ``target_rows`` rows per shard, rounded up to a multiple of
    ``multiple``, never more shards than rows (0 rows, 0 shards).

    The converter uses it with the defaults; ``felt_hf.training.suggest_num_shards`` with the lcm
    of the planned ``world_size * num_workers`` as ``multiple``, so both count the same way.
    """
    if num_rows <= 0:
        return 0
    n = math.ceil(math.ceil(num_rows / target_rows) / multiple) * multiple
    return min(n, num_rows)


def shard_name(split: str, index: int, num_shards: int) -> str:
    """``<split>-NNNNN-of-NNNNN.parquet``: the name ``datasets`` itself gives pushed shards."""
    return f"{split}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def shard_relpath(config: str, split: str, index: int, num_shards: int) -> str:
    """Path of one shard inside the folder (posix, as the card's ``data_files`` lists it)."""
    return f"{config}/{shard_name(split, index, num_shards)}"


def data_files_glob(config: str, split: str) -> str:
    """The card's ``data_files`` pattern of one config and split (every shard name matches it)."""
    return f"{config}/{split}-*"


def temp_path(final: Path, run_tag: str) -> Path:
    """A hidden sibling of ``final`` that no ``*.parquet``/``*.json`` glob of ``datasets`` picks up."""
    return final.with_name(f"{TEMP_PREFIX}{run_tag}-{final.name}")


class ShardPaths:
    """Where one shard lands and the temporary name it is written under: mixed into the tracking
    and media converters' shard records (which hold ``config``, ``split``, ``index``,
    ``num_shards``, ``out_dir`` and ``temp_tag``), so both name their files the one way."""

    @property
    def relpath(self) -> str:
        return shard_relpath(self.config, self.split, self.index, self.num_shards)

    @property
    def final_path(self) -> Path:
        return Path(self.out_dir) / self.relpath

    @property
    def tmp_path(self) -> Path:
        return temp_path(self.final_path, self.temp_tag)


def is_shard_name(name: str) -> bool:
    return bool(SHARD_RE.match(name))


def missing_shards(names: Iterable[str]) -> list[str]:
    """The shard names that ``names`` lack although their own ``-of-NNNNN`` says the split has them.

    A reader given only the files a glob found (``datasets``, FeltStream) cannot otherwise tell a
    folder with a shard missing from a smaller one: FeltStream had trained on 35 of 40 trials
    without a word. Names that are not shard names are not counted; names of builds with
    different counts are each checked against their own.
    """
    present: set[str] = set()
    expected: set[str] = set()
    for name in names:
        m = SHARD_RE.match(name)
        if m is None:
            continue
        present.add(name)
        total = int(m["total"])
        expected.update(shard_name(m["split"], i, total) for i in range(total))
    return sorted(expected - present)


def shard_files(folder: str | Path, config: str) -> list[Path]:
    """A config's finished shards, in name order (= split and row order)."""
    sub = Path(folder) / config
    if not sub.is_dir():
        return []
    return sorted(p for p in sub.iterdir() if p.is_file() and is_shard_name(p.name))


def is_converted_folder(folder: str | Path) -> bool:
    """Shards under a config name of this package, or a card beside ``stats.json`` (not any
    ``*/*.parquet``: a home folder with a parquet file two levels down is not a dataset). The
    one test of "a converted folder" for every command that must not write into one."""
    from .schema import CONFIG_NAMES, MEDIA_CONFIG_NAMES

    folder = Path(folder)
    if not folder.is_dir():
        return False
    if (folder / STATS_FILENAME).is_file() and (folder / CARD_FILENAME).is_file():
        return True
    return any(shard_files(folder, c) for c in (*CONFIG_NAMES, *MEDIA_CONFIG_NAMES))


# Files a converted folder may hold that are not the build's, never a problem and never uploaded:
# the `.gitattributes` every hub repo is created with (a `git clone` or `snapshot_download` of a
# pushed folder brings it back, and the hub keeps its own), and what file managers leave behind.
FOREIGN_FILENAMES = (".gitattributes", ".DS_Store", "Thumbs.db", "desktop.ini", LOCK_FILENAME)


def is_foreign_file(rel: str) -> bool:
    """Whether a folder-relative POSIX path is one of :data:`FOREIGN_FILENAMES` (``.gitattributes``
    and the lock only at the top) or a macOS resource fork (``._name``)."""
    name = rel.rsplit("/", 1)[-1]
    if name in (".gitattributes", LOCK_FILENAME):
        return rel == name
    return name in FOREIGN_FILENAMES or name.startswith("._")


GLOB_CHARACTERS = "[]"  # (a path holding `?` or `*` loads: they match themselves too; measured)


def path_glob_problem(folder: str | Path) -> str | None:
    """Why ``load_dataset`` cannot read a local folder at this path, or None: ``datasets`` joins
    the card's ``data_files`` patterns to the folder's path and globs the result, so ``[`` and
    ``]`` in the path make the patterns match nothing (``felt[1]``: "no data files found").
    ``push`` is unaffected: on the hub the files have their own paths."""
    found = sorted({c for c in os.path.abspath(folder) if c in GLOB_CHARACTERS})
    if not found:
        return None
    return (
        f"{folder}: load_dataset cannot read a local folder whose path holds {' '.join(found)} (datasets "
        "globs the card's data_files under it and matches nothing); rename or move it to load it locally"
    )


def has_shards(folder: str | Path) -> bool:
    """A converted folder has ``<config>/*.parquet`` for at least one config."""
    return any(Path(folder).glob(f"*/*{SHARD_SUFFIX}"))


# --- the build summary -------------------------------------------------------------------------


@dataclass
class SplitSummary:
    """One split of one config: sizes ``load_dataset`` checks, and its shards in row order."""

    num_examples: int = 0
    num_frames: int = 0
    num_bytes: int = 0  # Arrow (decoded) size, what datasets calls num_bytes
    files: list[str] = field(default_factory=list)
    media_bytes: int | None = None  # media configs only: encoded video/audio bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.media_bytes is None:
            del d["media_bytes"]
        return d


@dataclass
class ConfigSummary:
    splits: dict[str, SplitSummary] = field(default_factory=dict)
    previews: bool = False  # the `preview` image column (felt-hf convert --previews)
    # media configs only: what the media turned out to be, {fact: {value: files}}, e.g.
    # {"fps": {"30 fps": 1440}, "sample_rate": {"48000 Hz": 1440}} (build/convert_media.py)
    media_facts: dict[str, dict[str, int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"splits": {k: v.to_dict() for k, v in self.splits.items()}}
        if self.previews:
            d["previews"] = True
        if self.media_facts is not None:
            d["media_facts"] = {k: dict(v) for k, v in self.media_facts.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConfigSummary:
        facts = d.get("media_facts")
        return cls(
            splits={k: SplitSummary(**dict(v)) for k, v in (d.get("splits") or {}).items()},
            previews=bool(d.get("previews", False)),
            media_facts=None if facts is None else {k: dict(v) for k, v in facts.items()},
        )


_TOP_KEYS = ("felt_hf_version", "source", "synthetic", "configs", "split_actors", "stats_file", "skipped", "warnings")


@dataclass
class BuildSummary(Mapping):
    """What one conversion wrote: the converter returns it, the card is rendered from it, the CLI
    prints it. It reads like the plain dict it replaced (``summary["configs"]``), so code and
    notebooks written against the dict keep working; ``to_json``/``from_json`` round-trip it."""

    felt_hf_version: str = ""
    source: str = ""
    synthetic: bool = False
    configs: dict[str, ConfigSummary] = field(default_factory=dict)
    split_actors: dict[str, list[int]] = field(default_factory=dict)
    stats_file: str | None = STATS_FILENAME
    skipped: int = 0
    set_aside: int = 0  # second copies of a trial under --skip-bad: listed, but no data missing
    warnings: list[str] = field(default_factory=list)
    repo_id: str | None = None  # set by the hub push, so the card's usage names the repo
    provenance: dict | None = None  # felt_hf.provenance: what the input was (FELT, sample, regenerated)
    regeneration: dict | None = None  # the regeneration manifest's summary, None for published archives

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "felt_hf_version": self.felt_hf_version,
            "source": self.source,
            "synthetic": self.synthetic,
        }
        if self.provenance is not None:
            d["provenance"] = self.provenance
        d |= {
            "configs": {k: v.to_dict() for k, v in self.configs.items()},
            "split_actors": {k: list(v) for k, v in self.split_actors.items()},
            "stats_file": self.stats_file,
            "skipped": self.skipped,
            **({"set_aside": self.set_aside} if self.set_aside else {}),  # (absent: earlier cards' bytes kept)
            "warnings": list(self.warnings),
        }
        if self.regeneration is not None:
            d["regeneration"] = self.regeneration
        if self.repo_id is not None:
            d["repo_id"] = self.repo_id
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BuildSummary:
        if isinstance(d, BuildSummary):
            return d
        return cls(
            felt_hf_version=str(d.get("felt_hf_version", "")),
            source=str(d.get("source", "")),
            synthetic=bool(d.get("synthetic", False)),
            configs={k: ConfigSummary.from_dict(v) for k, v in (d.get("configs") or {}).items()},
            split_actors={k: [int(a) for a in v] for k, v in (d.get("split_actors") or {}).items()},
            stats_file=d.get("stats_file", STATS_FILENAME),
            skipped=int(d.get("skipped") or 0),
            set_aside=int(d.get("set_aside") or 0),
            warnings=[str(w) for w in d.get("warnings") or ()],
            repo_id=d.get("repo_id"),
            provenance=d.get("provenance"),
            regeneration=d.get("regeneration"),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BuildSummary:
        return cls.from_dict(json.loads(text))

    def num_examples(self, config: str) -> int:
        return sum(s.num_examples for s in self.configs[config].splits.values())

    # read-only mapping view of ``to_dict()``: the dict interface the card and callers used
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())
