"""Importing a torch-only module without torch names the extra to install (one line, ImportError)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# As if torch were not installed: a finder that refuses it (sys.modules["torch"] = None would
# also break scipy, which looks for torch in sys.modules).
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoTorch())
"""


@pytest.mark.parametrize(
    ("module", "named"),
    [
        ("felt_hf.training.collate", "felt_hf.training.collate"),
        ("felt_hf.training.stream", "felt_hf.training.stream"),
        ("felt_hf.training.windows", "felt_hf.training.windows"),
        ("felt_hf.training.distributed", "felt_hf.training.distributed"),
        ("felt_hf.torch", "felt_hf.training.collate"),  # the old paths (issue 12) fail the same way
        ("felt_hf.stream", "felt_hf.training.stream"),
    ],
)
def test_torch_module_without_torch_names_the_extra(module, named):
    code = BLOCK_TORCH + f"import {module}"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "ImportError" in last or "MissingExtraError" in last
    assert f"{named} needs torch" in last and "pip install 'felt-hf[torch]'" in last


def test_core_imports_without_torch():
    code = BLOCK_TORCH + "import felt_hf, felt_hf.convert, felt_hf.cli, felt_hf.card; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_missing_extra_is_an_import_error():
    from felt_hf.extras import MissingExtraError

    e = MissingExtraError("felt_hf.x", "av")
    assert isinstance(e, ImportError) and "felt-hf[video]" in str(e) and e.name == "av"
