"""Py-Feat 0.6.2's detector with randomly initialised models, for speed measurements without weights.

Py-Feat downloads its weights on first use; where that is impossible the model classes can still be
built (img2pose's ``img2poseModel`` with an untrained ResNet-18 FPN, ``MobileNet_GDConv(136)``,
``resmasking_dropout1(3, 7)``, ``InceptionResnetV1(pretrained=None)``), which costs the same
compute per image. Two things cannot be random and stay realistic, so the benchmark says so:

- an untrained img2pose scores every box near 0.5, below FELT's 0.83 threshold, so nothing
  downstream would run. :class:`OneFace` keeps its best box per frame and lifts its score to 0.95,
  giving one face per frame as in RAVDESS.
- the xgb AU models are 20 gradient-boosted tree files; the stand-in returns random probabilities
  after Py-Feat's real HOG extraction (the tree evaluation itself is cheap next to HOG).

Nothing here is imported by the pipeline; only ``scripts/bench_regen.py`` uses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .compat import import_pyfeat, patch_detect_identity


class OneFace:
    """Wraps an img2pose callable: best box per frame, score 0.95 (a centred box if there is none)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __call__(self, frames):
        faces, poses = self.inner(frames)
        h, w = frames.shape[-2:]
        out_f, out_p = [], []
        for f, p in zip(faces, poses, strict=True):
            if len(f):
                best = int(np.argmax([b[4] for b in f]))
                box, pose = list(f[best]), p[best]
            else:
                box, pose = [w * 0.35, h * 0.2, w * 0.65, h * 0.8, 0.0], np.zeros(3)
            box[4] = 0.95
            out_f.append([box])
            out_p.append([pose])
        return out_f, out_p

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class RandomAU:
    """Stands in for the xgb AU models: random probabilities, one row per HOG feature row."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def detect_au(self, frame, landmarks, **kwargs):
        return self.rng.uniform(0, 1, (np.asarray(frame).shape[0], 20))


def _random_img2pose(device: Any, seed: int) -> Any:
    """An ``Img2Pose`` (unconstrained) with an untrained backbone; no file is read or downloaded."""
    import torch
    from feat.facepose_detectors.img2pose import img2pose_model as im
    from feat.facepose_detectors.img2pose.img2pose_test import Img2Pose

    torch.manual_seed(seed)
    original = im.resnet_fpn_backbone
    im.resnet_fpn_backbone = lambda name, pretrained=True, **kw: original(backbone_name=name, weights=None, **kw)
    try:
        rng = np.random.default_rng(seed)
        model = im.img2poseModel(
            18,
            400,
            1400,
            device=device,
            pose_mean=np.zeros(6),
            pose_stddev=np.ones(6),
            threed_68_points=rng.normal(size=(68, 3)),
        )
    finally:
        im.resnet_fpn_backbone = original
    model.evaluate()
    det = Img2Pose.__new__(Img2Pose)
    det.device = model.device
    det.model = model
    det.detection_threshold, det.nms_threshold, det.nms_inclusion_threshold = 0.5, 0.6, 0.05
    det.top_k, det.keep_top_k, det.MIN_SIZE, det.MAX_SIZE = 5000, 750, 400, 1400
    det.BORDER_SIZE, det.RETURN_DIM = 100, 3
    return det


def build_random_pyfeat_detector(device: str = "cuda", seed: int = 0) -> Any:
    """A 0.6.2 ``Detector`` as FELT configured it, every model randomly initialised (same ``seed``, same weights)."""
    import torch

    import_pyfeat()
    from feat.detector import Detector
    from feat.emo_detectors.ResMaskNet.resmasknet_test import ResMaskNet, resmasking_dropout1
    from feat.identity_detectors.facenet.facenet_test import Facenet
    from feat.landmark_detectors.basenet_test import MobileNet_GDConv
    from feat.pretrained import AU_LANDMARK_MAP
    from feat.utils import (
        FEAT_EMOTION_COLUMNS,
        FEAT_FACEBOX_COLUMNS,
        FEAT_FACEPOSE_COLUMNS_3D,
        FEAT_IDENTITY_COLUMNS,
        openface_2d_landmark_columns,
        set_torch_device,
    )

    det = Detector.__new__(Detector)
    det.verbose = False
    det.device = set_torch_device(device)
    det.info = {
        "face_model": "img2pose",
        "landmark_model": "mobilenet",
        "emotion_model": "resmasknet",
        "facepose_model": "img2pose-c",
        "au_model": "xgb",
        "identity_model": "facenet",
        "n_jobs": 1,
        "face_detection_columns": FEAT_FACEBOX_COLUMNS,
        "mapper": openface_2d_landmark_columns,
        "face_landmark_columns": openface_2d_landmark_columns,
        "facepose_model_columns": FEAT_FACEPOSE_COLUMNS_3D,
        "au_presence_columns": AU_LANDMARK_MAP["Feat"],
        "emotion_model_columns": FEAT_EMOTION_COLUMNS,
        "identity_model_columns": FEAT_IDENTITY_COLUMNS,
    }
    # face_model="img2pose" and facepose_model="img2pose-c" both build the unconstrained model
    det.face_detector = OneFace(_random_img2pose(det.device, seed))
    det.facepose_detector = OneFace(_random_img2pose(det.device, seed))
    torch.manual_seed(seed + 1)
    det.landmark_detector = MobileNet_GDConv(136).eval()
    det.au_model = RandomAU(seed)
    emo = ResMaskNet.__new__(ResMaskNet)
    emo.device = det.device
    emo.FER_2013_EMO_DICT = dict(enumerate(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")))
    emo.image_size = (224, 224)
    emo.model = resmasking_dropout1(in_channels=3, num_classes=7).eval()
    det.emotion_model = emo
    det.identity_model = Facenet(pretrained=None, device=det.device)
    det.felt_weights = "random (untrained models; img2pose top box forced to 0.95; AUs random after real HOG)"
    return patch_detect_identity(det)
