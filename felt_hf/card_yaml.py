"""The card's YAML (README.md's front matter) read one way for every reader: ``felt-hf verify``,
``felt-hf push`` and :meth:`felt_hf.training.FeltStream.from_folder`.

Why one module: a card that cannot be parsed is one error naming README.md with the file's own
line and column, whichever command or call met it (FeltStream had surfaced PyYAML's parser error,
which names no file), and each reader takes the configs' ``data_files`` patterns the same way.
"""

from __future__ import annotations

from pathlib import Path

from .errors import FeltFormatError, FeltPathError
from .layout import CARD_FILENAME


def card_data_files(config: dict) -> dict[str, list[str]]:
    """``split -> globs`` of one config's ``data_files`` (str, list or split list forms)."""
    data_files = config.get("data_files")
    if isinstance(data_files, str):
        return {"train": [data_files]}
    out: dict[str, list[str]] = {}
    for entry in data_files or []:
        if isinstance(entry, str):
            out.setdefault("train", []).append(entry)
        else:
            path = entry.get("path")
            out.setdefault(entry.get("split", "train"), []).extend([path] if isinstance(path, str) else path or [])
    return out


def parse_card(readme: Path):
    """``readme`` as a ``huggingface_hub.DatasetCard``, or a FeltFormatError in one line naming the
    file's own line and column (PyYAML's message is seven lines with a caret diagram, and counts
    lines from the start of the YAML block, not of the file). A card without front matter is said
    here too: huggingface_hub would only log that it set the metadata to empty."""
    import yaml
    from huggingface_hub import DatasetCard

    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise FeltFormatError(str(readme), "no YAML front matter (a `---` block at the top declaring the configs)")
    try:
        return DatasetCard(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 2}, column {mark.column + 1}: " if mark is not None else ""
        raise FeltFormatError(
            str(readme), f"the card's YAML cannot be parsed: {where}{e.problem or e.context}"
        ) from None
    except Exception as e:  # any other parse error: the card cannot drive load_dataset
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FeltFormatError(str(readme), f"the dataset card cannot be parsed: {first}") from None


def read_card(root: Path) -> tuple[dict, dict[str, dict], str]:
    """The card's YAML data, its configs by name, and its body text; a FeltError if unreadable."""

    readme = root / CARD_FILENAME
    if not readme.is_file():
        raise FeltPathError(f"{root}: no {CARD_FILENAME} (a killed or failed conversion; run `felt-hf convert` again)")
    card = parse_card(readme)
    data = card.data.to_dict()
    entries = data.get("configs") or []  # datasets' load_dataset raises on a card shaped otherwise
    if not isinstance(entries, list):
        raise FeltFormatError(
            str(readme), "the card's YAML `configs` is not a list; load_dataset cannot read this card"
        )
    bad = next((i for i, c in enumerate(entries, 1) if not isinstance(c, dict)), None)
    if bad is not None:
        raise FeltFormatError(str(readme), f"the card's YAML `configs` entry {bad} is not a mapping; load_dataset "
                              "cannot read this card")  # fmt: skip
    configs: dict[str, dict] = {}
    for c in entries:
        name = c.get("config_name", "default")
        if name in configs:
            raise FeltFormatError(str(readme), f"the card's YAML declares config {name!r} twice; load_dataset "
                                  "would take the last declaration without a word")  # fmt: skip
        configs[name] = c
        twice = _split_listed_twice(c)
        if twice is not None:
            raise FeltFormatError(str(readme), f"the card's YAML lists split {twice!r} of config {name!r} twice in "
                                  "its data_files; load_dataset cannot read this card")  # fmt: skip
    return data, configs, card.text


def _split_listed_twice(config: dict) -> str | None:
    """The first split a config's ``data_files`` list names twice (datasets refuses such a card
    with a message naming neither README.md nor the config), or None."""
    data_files = config.get("data_files")
    seen: set[str] = set()
    for entry in data_files if isinstance(data_files, list) else []:
        if isinstance(entry, dict):
            split = entry.get("split", "train")
            if split in seen:
                return split
            seen.add(split)
    return None


__all__ = ["card_data_files", "parse_card", "read_card"]
