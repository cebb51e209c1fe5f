"""Old module paths (``felt_hf.convert``, ``felt_hf.torch``, ...) keep importing after issue 12.

Why a finder rather than a shim file per old path: a file left at the old path would stop git's
rename detection, so edits made elsewhere to ``felt_hf/convert.py`` would no longer merge into
``felt_hf/build/convert.py``. The finder maps the old name to the *same* module object (so
``monkeypatch.setattr("felt_hf.convert.x", ...)`` still patches the code that runs). The training
modules warn with ``DeprecationWarning``: their old paths go away after one release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

MOVED_MODULES: dict[str, str] = {
    "felt_hf.inflate": "felt_hf.inputs.inflate",
    "felt_hf.checks": "felt_hf.inputs.checks",
    "felt_hf.pyfeat2": "felt_hf.inputs.pyfeat2",
    "felt_hf.csv_reader": "felt_hf.inputs.csv_reader",
    "felt_hf.csv_fast": "felt_hf.inputs.csv_fast",
    "felt_hf.csv_writer": "felt_hf.inputs.csv_writer",
    "felt_hf.sources": "felt_hf.inputs.sources",
    "felt_hf.smoothing": "felt_hf.inputs.smoothing",
    "felt_hf.media": "felt_hf.inputs.media",
    "felt_hf.au_titles": "felt_hf.inputs.au_titles",
    "felt_hf.rows": "felt_hf.build.rows",
    "felt_hf.builder": "felt_hf.build.builder",
    "felt_hf.stats": "felt_hf.build.stats",
    "felt_hf.previews": "felt_hf.build.previews",
    "felt_hf.card": "felt_hf.build.card",
    "felt_hf.convert": "felt_hf.build.convert",
    "felt_hf.convert_media": "felt_hf.build.convert_media",
    "felt_hf.verify": "felt_hf.publish.verify",
    "felt_hf.hub": "felt_hf.publish.hub",
    "felt_hf.torch": "felt_hf.training",  # collate + windows + distributed, re-exported
    "felt_hf.stream": "felt_hf.training.stream",
    "felt_hf.transforms": "felt_hf.training.transforms",
    "felt_hf.frames": "felt_hf.training.frames",
    "felt_hf.synth": "felt_hf.synthetic.archives",
    "felt_hf.synth_media": "felt_hf.synthetic.media",
    "felt_hf.viewrows": "felt_hf.view.viewrows",
    "felt_hf.plots": "felt_hf.view.plots",
    "felt_hf.render": "felt_hf.view.render",
    "felt_hf.pyfeat": "felt_hf.view.pyfeat",
}
# Old modules that were one file: importing the old name imports all of its parts at once, so it
# fails at once (naming the extra) where torch is missing, as the one file did.
EAGER = {"felt_hf.torch": ("felt_hf.training.collate", "felt_hf.training.windows", "felt_hf.training.distributed")}
DEPRECATED = frozenset({"felt_hf.torch", "felt_hf.stream", "felt_hf.transforms", "felt_hf.frames"})


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an old module name to the module at its new path (one object, two names)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        new = MOVED_MODULES[spec.name]
        if spec.name in DEPRECATED:
            warnings.warn(
                f"{spec.name} moved to {new}; the old path goes away in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
        for part in EAGER.get(spec.name, ()):
            importlib.import_module(part)
        module = importlib.import_module(new)
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module):
        # importlib stamped the alias spec on the shared module object; give it back its own
        module.__spec__ = self._real_spec


def install_moved_module_finder() -> None:
    """Idempotent: one finder, first on ``sys.meta_path`` (an editable install elsewhere would
    otherwise answer the old names from its own tree)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())  # before the editable-install finder of a checkout
