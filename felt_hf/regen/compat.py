"""Importing Py-Feat 0.6.2 on today's stacks, and its one runtime bug, without touching site-packages.

The supported install is the pinned one (``requirements-regen.txt`` or the ``regen`` extra:
torch 2.10 + torchvision 0.25 + scipy 1.13.1 + numpy < 1.24), where 0.6.2 imports as released.
The shims here are a fallback for environments that cannot pin: scipy >= 1.14 removed
``scipy.integrate.simps`` (Py-Feat imports it at module level, uses it only in a plotting statistic)
and torchvision >= 0.26 removed ``torchvision.io.read_video`` (imported by ``feat.data``, used only
by ``Fex`` video plotting, never by ``detect_video``), and numpy 2 removed ``np.mat`` (called by Py-Feat's
face alignment on the first frame with a face; ``np.asmatrix`` is the same function). Each shim is added only when the name is
missing, so on the pinned stack they do nothing.

FELT's producing scripts edited Py-Feat's ``detect_identity`` to call ``.detach()`` before
``.numpy()`` (the FaceNet forward runs with autograd on); :func:`patch_detect_identity` binds an
equivalent method on the detector instance instead.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as md
import platform
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import FeltError

PYFEAT_FELT_VERSION = "0.6.2"
INSTALL_HINT = (
    "install the pinned regeneration stack: `pip install -r requirements-regen.txt` "
    "(or `pip install -e .[regen]`); see docs/REGENERATION.md"
)


class FeltRegenError(FeltError):
    """Regeneration cannot run as asked (backend missing, wrong version, bad setting)."""


def _simps_from_simpson(simpson: Callable) -> Callable:
    """scipy's old ``simps(y, x=None, dx=1, axis=-1)`` on top of ``simpson`` (keyword-only ``x``)."""

    def simps(y, x=None, dx=1.0, axis=-1, even=None):  # ``even`` went away with simps
        return simpson(y, x=x, dx=dx, axis=axis)

    simps.__felt_shim__ = True
    return simps


def _read_video_removed(*args: Any, **kwargs: Any):
    raise NotImplementedError(
        "torchvision.io.read_video was removed in torchvision 0.26; felt_hf's shim only lets Py-Feat 0.6.2 "
        "import. detect_video does not need it (it decodes with PyAV); Fex video plotting does."
    )


_read_video_removed.__felt_shim__ = True


def _lib2to3_convert_removed(*args: Any, **kwargs: Any):
    raise NotImplementedError("lib2to3 is not in this Python; felt_hf's stub only lets Py-Feat 0.6.2 import it")


def install_shims() -> list[str]:
    """Add the two removed functions where they are missing; returns the names that were shimmed.

    Imports scipy and torchvision if they are installed; does nothing for absent packages, so
    the error a user then sees is Py-Feat's own ``ModuleNotFoundError`` naming the missing package.
    """
    added = []
    try:
        integrate = importlib.import_module("scipy.integrate")
    except ImportError:
        integrate = None
    if integrate is not None and not hasattr(integrate, "simps"):
        integrate.simps = _simps_from_simpson(integrate.simpson)
        added.append("scipy.integrate.simps")
    try:
        tv_io = importlib.import_module("torchvision.io")
    except ImportError:
        tv_io = None
    if tv_io is not None and not hasattr(tv_io, "read_video"):
        tv_io.read_video = _read_video_removed
        added.append("torchvision.io.read_video")
    try:
        importlib.import_module("lib2to3.pytree")
    except ImportError:  # gone in Python 3.13 (and stripped from some 3.12 builds); resmasknet_test imports it
        sys.modules["lib2to3"] = types.ModuleType("lib2to3")
        pytree = types.ModuleType("lib2to3.pytree")
        pytree.convert = _lib2to3_convert_removed
        sys.modules["lib2to3.pytree"] = pytree
        added.append("lib2to3.pytree")
    import numpy as np

    if not hasattr(np, "mat"):  # numpy 2 removed the alias; feat.utils.image_operations calls np.mat(...)
        np.mat = np.asmatrix
        added.append("numpy.mat")
    return added


def package_version(name: str) -> str | None:
    """Installed distribution version, or None; never imports the package."""
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def import_pyfeat(*, require_version: str | None = PYFEAT_FELT_VERSION, shims: bool = True) -> types.ModuleType:
    """Import ``feat`` for regeneration, with a clear error when it is absent or the wrong release.

    ``require_version=None`` accepts any release (the Py-Feat 2.x backend passes its own check).
    """
    installed = package_version("py-feat")
    if installed is None:
        raise FeltRegenError(f"py-feat is not installed; {INSTALL_HINT}")
    if require_version is not None and installed != require_version:
        raise FeltRegenError(
            f"FELT-exact regeneration needs py-feat=={require_version}, found {installed}; {INSTALL_HINT}. "
            "Py-Feat 2.x can run as the (not FELT-exact) `--backend pyfeat2`."
        )
    if shims:
        install_shims()
    try:
        return importlib.import_module("feat")
    except ImportError as e:
        raise FeltRegenError(f"py-feat {installed} is installed but does not import ({e}); {INSTALL_HINT}") from e


def detached_detect_identity(convert: Callable, extract: Callable, is_empty: Callable) -> Callable:
    """Py-Feat 0.6.2's ``Detector.detect_identity`` with FELT's fix: ``.detach().cpu()`` before ``.numpy()``.

    The helpers are passed in (``convert_image_to_tensor``, ``extract_face_from_bbox``,
    ``is_list_of_lists_empty``) so the body can be tested without Py-Feat.
    """

    def detect_identity(self, frame, facebox, **identity_model_kwargs):
        frame = convert(frame, img_type="float32") / 255
        if is_empty(facebox):
            return facebox
        extracted_faces, _ = extract(frame, facebox)
        face_embeddings = self.identity_model(extracted_faces, **identity_model_kwargs)
        return self._convert_detector_output(facebox, face_embeddings.detach().cpu().numpy())

    detect_identity.__felt_patch__ = True
    return detect_identity


def patch_detect_identity(detector: Any) -> Any:
    """Bind the detached ``detect_identity`` on one 0.6.2 ``Detector`` instance (the class is untouched)."""
    from feat.utils import is_list_of_lists_empty
    from feat.utils.image_operations import convert_image_to_tensor, extract_face_from_bbox

    fn = detached_detect_identity(convert_image_to_tensor, extract_face_from_bbox, is_list_of_lists_empty)
    detector.detect_identity = types.MethodType(fn, detector)
    return detector


@contextmanager
def pyfeat_progress_bars(enabled: bool) -> Iterator[None]:
    """Py-Feat 0.6.2's ``detect_video`` wraps its loader in ``tqdm(data_loader)`` with no switch
    (``feat/detector.py``), so ``regenerate.py --no-progress`` still printed a bar per video
    (seen on the GPU machine). Turned off, the ``tqdm`` name inside ``feat.detector`` is bound to
    a disabled tqdm while the block runs and restored after; site-packages is not touched. A
    no-op when bars are wanted or Py-Feat 0.6.2 is not loaded (stand-in, pyfeat2)."""
    module = sys.modules.get("feat.detector")
    original = getattr(module, "tqdm", None) if module is not None else None
    if enabled or original is None:
        yield
        return
    module.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        module.tqdm = original


def environment_versions() -> dict[str, str | None]:
    """Versions recorded in every manifest line, so a regenerated file can be traced to its stack."""
    from .. import __version__

    out: dict[str, str | None] = {"felt_hf": __version__, "python": platform.python_version()}
    for dist in ("py-feat", "torch", "torchvision", "numpy", "scipy", "pandas", "av", "xgboost", "kornia"):
        out[dist] = package_version(dist)
    out["xgboost"] = out["xgboost"] or package_version("xgboost-cpu")  # the CPU-only wheel of the same package
    out["scikit-learn"] = package_version("scikit-learn")
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch, "version", None) is not None:
        out["cuda"] = getattr(torch.version, "cuda", None)
    return out
