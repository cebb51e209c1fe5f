"""What to install when an optional dependency is missing.

``import felt_hf`` needs neither torch nor PyAV nor Py-Feat; the modules that do say, on import,
which extra brings the missing package, instead of a bare ``No module named 'torch'``.
"""

from __future__ import annotations

EXTRAS = {"torch": "torch", "av": "video", "feat": "regen", "isal": "fast", "matplotlib": "plot", "Pillow": "video"}


def missing_extra(module: str, package: str) -> str:
    """The one-line message of the ImportError a module raises when ``package`` is missing."""
    extra = EXTRAS.get(package, package)
    return f"{module} needs {package}, which is not installed: pip install 'felt-hf[{extra}]'"


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""

    def __init__(self, module: str, package: str) -> None:
        super().__init__(missing_extra(module, package), name=package)


__all__ = ["MissingExtraError", "missing_extra", "EXTRAS"]
