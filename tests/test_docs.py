"""Executable docs: every ```python and ```bash block of README.md, docs/*.md and the generated
card's usage section runs, as written, on the generated sample.

How a document runs: in a fresh temporary folder laid out like a checkout in use (``scripts/``
and ``felt.py`` of this repository, ``felt_demo/`` as ``felt-hf demo --workdir felt_demo``
writes it, ``felt`` (the same converted folder) and ``path/to/felt_zips`` (the sample
archives), so the docs' placeholders are real folders), its blocks run in order, the Python
ones in one shared namespace (a later block may use names an earlier one defined, as a reader
would run them one after the other), the shell ones with ``bash -euo pipefail``. ``felt-hf`` and
``python`` on the blocks' PATH are this checkout's code under the test's interpreter, and the
Hugging Face caches are the session's temporary ones (conftest), so nothing is written elsewhere.

A block that cannot run here (GPU, the hub, real FELT, a package install, minutes of work) has,
on the line directly above its opening fence, exactly ``<!-- docs-test: skip (reason) -->``.
Every fence must name its language; only python and bash run (``text``, ``bibtex``... do not).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    from videos_fake import write_ravdess_folder
except ImportError:  # tests/ imported as a package
    from tests.videos_fake import write_ravdess_folder

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SKIP_RE = re.compile(r"^<!-- docs-test: skip \((?P<reason>[^()]*\S[^()]*)\) -->$")
FENCE_RE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+)(?P<lang>[^`\s]*)\s*$")
RUN_LANGS = {"python": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
CARD_PLACEHOLDER = "<user>/felt"  # felt_hf.card.REPO_PLACEHOLDER; the card's usage loads this folder instead
CARD_FOLDER = "./felt_demo/felt"
BLOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # 1-based line of the opening fence
    lang: str  # as written after the fence
    code: str
    skip: str | None  # the reason, when marked

    @property
    def runs(self) -> bool:
        return self.skip is None and self.lang in RUN_LANGS


def extract_blocks(text: str, doc: str) -> list[Block]:
    """Fenced blocks in order, with the skip marker of the line directly above each."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m["fence"], i
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if j == len(lines):
            raise ValueError(f"{doc}:{start + 1}: code fence never closed")
        above = lines[start - 1].strip() if start else ""
        skip = SKIP_RE.match(above)
        if above.startswith("<!-- docs-test") and not skip:
            raise ValueError(f"{doc}:{start}: malformed marker {above!r}; expected <!-- docs-test: skip (reason) -->")
        indent = len(m["indent"])
        code = "\n".join(line[indent:] if line[:indent].isspace() else line for line in lines[start + 1 : j])
        blocks.append(Block(doc, start + 1, m["lang"], code + "\n", skip["reason"] if skip else None))
        i = j + 1
    return blocks


def usage_section(card_text: str) -> str:
    """The card's ``## Usage`` section, up to the next level-2 heading."""
    m = re.search(r"^## Usage\n(.*?)(?=^## )", card_text, flags=re.S | re.M)
    if not m:
        raise ValueError("the card has no '## Usage' section")
    return m.group(1)


# --- the runner ----------------------------------------------------------------------------------
_DRIVER = r"""
import json, subprocess, sys, traceback
blocks = json.load(open(sys.argv[1]))
ns = {"__name__": "__main__"}
for b in blocks:
    where = f"{b['doc']}:{b['line']}"
    print(f"--- docs-test: running {b['lang']} block at {where}", flush=True)
    if b["lang"] == "python":
        try:
            exec(compile(b["code"], where, "exec"), ns)
        except BaseException:
            traceback.print_exc()
            print(f"docs-test: FAILED {where}", flush=True)
            sys.exit(1)
    else:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]])
        if r.returncode:
            print(f"docs-test: FAILED {where} (exit {r.returncode})", flush=True)
            sys.exit(1)
"""


def _bin_dir(root: Path) -> Path:
    """``felt-hf`` and ``python`` for the blocks: this checkout's code, this interpreter."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    felt = bin_dir / "felt-hf"
    felt.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m felt_hf.cli "$@"\n')
    felt.chmod(0o755)
    for name in ("python", "python3"):  # a script, not a symlink: a symlinked venv python loses its venv
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        shim.chmod(0o755)
    return bin_dir


def block_env(bin_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(HF_HUB_OFFLINE="1", MPLBACKEND="Agg", TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def docs_root(tmp_path_factory) -> Path:
    """The demo's output, made once by the demo itself (what README's main command runs), and RAVDESS-named clips."""
    root = tmp_path_factory.mktemp("docs_root")
    bin_dir = _bin_dir(root)
    work = root / "template"
    work.mkdir()
    demo = subprocess.run(
        ["felt-hf", "demo", "--workdir", "felt_demo", "--no-progress"],
        cwd=work,
        env=block_env(bin_dir),
        check=True,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    (root / "demo.out").write_text(demo.stdout)
    shutil.rmtree(work / "felt_demo" / "hf_cache", ignore_errors=True)
    write_ravdess_folder(root / "RAVDESS")  # real mp4s for the regeneration dry run
    return root


def _workdir(docs_root: Path, name: str) -> Path:
    """A fresh folder laid out like a checkout in use, for one document."""
    cwd = docs_root / f"run-{name}"
    shutil.copytree(docs_root / "template", cwd, symlinks=True)
    shutil.copytree(cwd / "felt_demo" / "felt", cwd / "felt")
    (cwd / "path" / "to").mkdir(parents=True)
    (cwd / "path" / "to" / "felt_zips").symlink_to(cwd / "felt_demo" / "felt_sample_archives")
    for item in ("scripts", "felt.py"):
        (cwd / item).symlink_to(REPO / item)
    (cwd / "path" / "to" / "RAVDESS").symlink_to(docs_root / "RAVDESS")
    return cwd


def run_blocks(blocks: list[Block], docs_root: Path, name: str) -> subprocess.CompletedProcess:
    cwd = _workdir(docs_root, name)
    spec = cwd / ".docs_blocks.json"
    spec.write_text(json.dumps([b.__dict__ for b in blocks if b.runs]))
    driver = cwd / ".docs_driver.py"
    driver.write_text(_DRIVER)
    return subprocess.run(
        [sys.executable, str(driver), str(spec)],
        cwd=cwd,
        env=block_env(docs_root / "bin"),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )


def _check(result: subprocess.CompletedProcess) -> None:
    if result.returncode:
        out = (result.stdout + result.stderr)[-6000:]
        failed = [line for line in result.stdout.splitlines() if line.startswith("docs-test: FAILED")]
        pytest.fail(f"{failed[-1] if failed else 'docs-test failed'}\n{out}", pytrace=False)


# --- tests ---------------------------------------------------------------------------------------
def _doc_blocks(path: Path) -> list[Block]:
    return extract_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_fence_is_labelled_and_every_skip_has_a_reason(doc):
    for b in _doc_blocks(doc):
        assert b.lang, f"{b.doc}:{b.line}: unlabelled fence; write ```python, ```bash or ```text"
        if b.skip is not None:
            assert b.skip.strip(), f"{b.doc}:{b.line}: skip marker without a reason"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_blocks_run(doc, docs_root):
    blocks = _doc_blocks(doc)
    if not any(b.runs for b in blocks):
        pytest.skip(f"{doc.name}: every block is marked skip: " + "; ".join(sorted({b.skip or "" for b in blocks})))
    _check(run_blocks(blocks, docs_root, doc.stem))


def test_demo_prints_the_exact_load_line(docs_root):
    """The printed line works as printed, from the folder the demo ran in."""
    out = (docs_root / "demo.out").read_text()
    line = 'load_dataset("./felt_demo/felt", "smoothed_speech")'
    assert f"ds = {line}" in out
    code = f"```python\nfrom datasets import load_dataset\nds = {line}\nassert ds['train'].num_rows > 0\n```\n"
    _check(run_blocks(extract_blocks(code, "demo-output"), docs_root, "demo-line"))


def test_card_usage_blocks_run(docs_root):
    """The generated card's usage section, pointed at the sample's converted folder."""
    card = (docs_root / "template" / "felt_demo" / "felt" / "README.md").read_text(encoding="utf-8")
    section = usage_section(card)
    assert CARD_PLACEHOLDER in section
    blocks = extract_blocks(section.replace(CARD_PLACEHOLDER, CARD_FOLDER), "card:Usage")
    assert sum(b.runs for b in blocks) >= 2
    _check(run_blocks(blocks, docs_root, "card"))


# --- the runner itself can fail ------------------------------------------------------------------
def test_extract_blocks_reads_markers_and_languages():
    text = "\n".join(
        [
            "intro",
            "```python",
            "x = 1",
            "```",
            "<!-- docs-test: skip (needs a GPU) -->",
            "```bash",
            "nvidia-smi",
            "```",
            "```text",
            "tree",
            "```",
        ]
    )
    blocks = extract_blocks(text, "t.md")
    assert [(b.line, b.lang, b.skip, b.runs) for b in blocks] == [
        (2, "python", None, True),
        (6, "bash", "needs a GPU", False),
        (9, "text", None, False),
    ]
    with pytest.raises(ValueError, match="malformed marker"):
        extract_blocks("<!-- docs-test: skip -->\n```bash\nls\n```\n", "t.md")
    with pytest.raises(ValueError, match="never closed"):
        extract_blocks("```python\nx = 1\n", "t.md")


def test_a_drifted_block_fails(docs_root):
    """A block using a name the library no longer has, and a failing shell line, both fail."""
    bad_py = extract_blocks("```python\nfrom felt_hf.torch import NoSuchThing\n```\n", "drift.md")
    result = run_blocks(bad_py, docs_root, "drift-py")
    assert result.returncode == 1 and "docs-test: FAILED drift.md:1" in result.stdout
    assert "ImportError" in result.stderr
    bad_sh = extract_blocks("```bash\nfelt-hf convert no/such/folder --out x\necho never\n```\n", "drift.md")
    result = run_blocks(bad_sh, docs_root, "drift-sh")
    assert result.returncode == 1 and "never" not in result.stdout and "felt-hf: error:" in result.stderr


def test_blocks_run_under_this_interpreter(docs_root):
    """So a run in the datasets 4.x venv really tests 4.x in every block, python and bash alike."""
    import datasets

    code = (
        "```bash\n"
        f'test "$(python -c \'import datasets; print(datasets.__version__)\')" = "{datasets.__version__}"\n'
        f"felt-hf --version\n"
        "```\n"
        "```python\nimport datasets\n"
        f'assert datasets.__version__ == "{datasets.__version__}", datasets.__version__\n'
        "```\n"
    )
    _check(run_blocks(extract_blocks(code, "interpreter"), docs_root, "interpreter"))


def test_hf_caches_are_isolated():
    """conftest points every Hugging Face cache at a temporary folder before datasets is imported."""
    import datasets.config

    test_home = Path(os.environ["HF_HOME"])
    home = Path.home() / ".cache" / "huggingface"
    for path in (datasets.config.HF_DATASETS_CACHE, datasets.config.HF_MODULES_CACHE):
        assert Path(path).is_relative_to(test_home) and not Path(path).is_relative_to(home)
