"""Shared fixtures: the real Py-Feat outputs from ../shared and generated FELT archives.

Generated data is built once per test session (it is deterministic), in a temporary folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYFEAT_FIXTURES = REPO.parent / "shared" / "fixtures" / "pyfeat"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hub is unreachable here; nothing may try it


def _isolate_hf_caches() -> Path:
    """Point every Hugging Face cache at a temporary folder, before ``datasets`` is imported.

    ``datasets`` reads these variables once, at import; without this the suite would write
    builder caches and module folders into the user's ``~/.cache/huggingface``, and a dataset
    cached there under the name ``felt`` could be returned in place of the folder under test.
    """
    root = Path(tempfile.mkdtemp(prefix="felt-hf-tests-hf-"))
    os.environ["HF_HOME"] = str(root)
    os.environ["HF_DATASETS_CACHE"] = str(root / "datasets")
    os.environ["HF_HUB_CACHE"] = str(root / "hub")
    os.environ["HF_MODULES_CACHE"] = str(root / "modules")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


HF_TEST_HOME = _isolate_hf_caches()
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def pyfeat_fixtures() -> Path:
    if not PYFEAT_FIXTURES.is_dir():
        pytest.skip(f"real Py-Feat fixtures not found at {PYFEAT_FIXTURES}")
    return PYFEAT_FIXTURES


@pytest.fixture(scope="session")
def sample_archives(tmp_path_factory) -> Path:
    """The built-in sample: all four configs as zips, every split populated."""
    from felt_hf.synth import write_sample

    out = tmp_path_factory.mktemp("sample_archives")
    write_sample(out, seed=0)
    return out


@pytest.fixture(scope="session")
def media_archives(sample_archives, tmp_path_factory) -> Path:
    """The built-in sample's tracking zips plus generated media for the same trials (read only:
    a test that changes an input copies it first)."""
    import shutil

    from felt_hf.synthetic.media import write_sample_media

    out = tmp_path_factory.mktemp("media_archives")
    for p in sample_archives.iterdir():
        shutil.copy(p, out / p.name)
    write_sample_media(out)
    return out


@pytest.fixture(scope="session")
def media_build(media_archives, tmp_path_factory):
    """``media_build(configs)``: the media sample converted with those configs, made once per
    config list in the session (read only: copy it with ``editable_copy`` to change it)."""
    from felt_hf.build.convert import convert_felt

    made: dict[tuple[str, ...], Path] = {}

    def build(configs) -> Path:
        key = tuple(configs)
        if key not in made:
            out = tmp_path_factory.mktemp("media_build") / "felt"
            convert_felt(media_archives, out, configs=list(key), progress=False, num_proc=1)
            made[key] = out
        return made[key]

    return build


@pytest.fixture()
def editable_copy(tmp_path):
    """``editable_copy(folder)``: a copy of a converted folder at ``tmp_path / "felt"`` to damage."""

    def copy(folder: Path) -> Path:
        out = tmp_path / "felt"
        shutil.copytree(folder, out)
        return out

    return copy


@pytest.fixture()
def config_build(request, media_build) -> Path:
    """The media sample converted with the test module's ``CONFIGS`` (read only)."""
    return media_build(request.module.CONFIGS)


@pytest.fixture()
def config_build_copy(config_build, editable_copy) -> Path:
    """A copy of :func:`config_build` to damage."""
    return editable_copy(config_build)


@pytest.fixture(scope="session")
def sample_hub(sample_archives, tmp_path_factory) -> Path:
    """``felt-hf convert`` of the sample into a folder named ``felt``."""
    from felt_hf.convert import convert_felt

    out = tmp_path_factory.mktemp("hub") / "felt"
    convert_felt(sample_archives, out, progress=False, num_proc=2)
    return out


@pytest.fixture(scope="session")
def felt_fake():
    """``tests/felt_fake.py`` (synthetic rows and hub folders, independent of the converter) as a
    module, loaded by path: the same whether pytest imports ``tests/`` as a package or not."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("felt_fake", Path(__file__).with_name("felt_fake.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
