"""Fast mode (``--fast``): decode once, every torch model on the GPU, big batches, decode beside inference.

Py-Feat 0.6.2's ``VideoDataset.load_frame`` reopens the video and decodes from frame 0 for every
frame (quadratic in clip length), keeps the landmark, emotion and identity networks on the CPU
even with ``device="cuda"``, runs img2pose twice per frame (once as face detector, once as pose
model, same unconstrained weights and input) and works in batches of 5. Fast mode keeps Py-Feat's
own per-face code (cropping, HOG, xgb, ``_create_fex``, identity clustering) and changes only:

- frames come from one sequential PyAV pass (threaded codec) in a background thread, queued
  ahead of inference; the same frames as Py-Feat's per-frame decode (a test checks bit-equality);
- the landmark, ResMaskNet and FaceNet modules run on the GPU (inputs moved in, outputs moved back
  to the CPU, so the surrounding Py-Feat code is unchanged), under ``torch.inference_mode``;
- img2pose runs once per frame and its poses are reused (what ``detect_facepose`` recomputes);
- batches of ``--batch-size`` frames (default 32) instead of 5.

Outputs differ from FELT-exact mode only by floating-point effects of running the three networks on
the GPU (and batching); ``scripts/bench_regen.py --compare`` measures it (docs/REGENERATION.md).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .tracks import pyfeat_frame_limit

FELT_BATCH_SIZE = 5  # batch size of FELT's detect_video call; decides which tail frames Py-Feat drops
DEFAULT_FAST_BATCH = 32


def probe_video(path: str) -> tuple[int, float]:
    """``(stream.frames, average_rate)`` as Py-Feat's ``VideoDataset.get_video_metadata`` reads them."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return int(stream.frames), float(stream.average_rate) if stream.average_rate else 0.0


def decode_frames(path: str, *, max_frames: int | None = None, threads: bool = True) -> Iterator[np.ndarray]:
    """RGB24 frames ``(H, W, 3)`` uint8 in decode order, one sequential pass.

    Frame-threaded decoding gives the same pictures as single-threaded decoding (the codec is
    deterministic); only the wall time changes.
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if max_frames is not None and i >= max_frames:
                break
            yield frame.to_ndarray(format="rgb24")


def count_decodable_frames(path: str, limit: int) -> int:
    """How many frames decode, up to ``limit``, in one single-threaded pass as Py-Feat 0.6.2's
    loader decodes; a decoding error (a cut file: "Invalid data") ends the count, as it ended
    the loader's frames. Only the count: no frame is converted to an array."""
    import av

    n = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(container.streams.video[0]):
                n += 1
                if n >= limit:
                    break
        except av.error.FFmpegError:
            pass
    return n


@dataclass
class FrameBatch:
    """Consecutive decoded frames and their 0-based frame numbers."""

    frames: np.ndarray  # (B, H, W, 3) uint8
    indices: np.ndarray  # (B,) int64


_END = object()


def iter_batches(
    path: str, batch_size: int, *, max_frames: int | None = None, prefetch: int = 4
) -> Iterator[FrameBatch]:
    """Batches from a background decoding thread, up to ``prefetch`` batches ahead of the consumer.

    PyAV releases the GIL while decoding, so decoding the next batches overlaps inference on this
    one. A decoding error is re-raised in the consumer, naming the video.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    q: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()

    def produce() -> None:
        try:
            buf: list[np.ndarray] = []
            start = 0
            for frame in decode_frames(path, max_frames=max_frames):
                if stop.is_set():
                    return
                buf.append(frame)
                if len(buf) == batch_size:
                    q.put(FrameBatch(np.stack(buf), np.arange(start, start + len(buf))))
                    start += len(buf)
                    buf = []
            if buf:
                q.put(FrameBatch(np.stack(buf), np.arange(start, start + len(buf))))
            q.put(_END)
        except BaseException as e:  # handed to the consumer, which re-raises it
            q.put(e)

    worker = threading.Thread(target=produce, name="felt-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise RuntimeError(f"{path}: decoding failed: {item}") from item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


class BatchRunner(Protocol):
    """What fast mode needs from a detector: per-batch rows, then ``detect_video``'s finishing steps."""

    def detect_batch(self, frames: np.ndarray, indices: np.ndarray, file_name: str) -> Any: ...

    def finalize(self, parts: list, *, fps: float, num_frames: int) -> Any: ...

    def describe(self) -> dict: ...


class FastTracker:
    """Runs a :class:`BatchRunner` over one sequential decode of each video."""

    felt_exact = False
    mode = "fast"

    def __init__(self, runner: BatchRunner, *, batch_size: int = DEFAULT_FAST_BATCH, prefetch: int = 4):
        self.runner = runner
        self.batch_size = batch_size
        self.prefetch = prefetch

    def track(self, video_path: str):
        """Py-Feat-shaped table of one video, with the same frames FELT-exact mode would return."""
        meta_frames, fps = probe_video(video_path)
        parts, decoded = [], 0
        for batch in iter_batches(video_path, self.batch_size, max_frames=meta_frames or None, prefetch=self.prefetch):
            decoded += len(batch.indices)
            parts.append(self.runner.detect_batch(batch.frames, batch.indices, str(video_path)))
        limit = pyfeat_frame_limit(meta_frames, decoded, FELT_BATCH_SIZE) if meta_frames else decoded
        kept = [_rows_before(df, limit) for df in parts]
        return self.runner.finalize(kept, fps=fps, num_frames=meta_frames or decoded)

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "felt_exact": False,
            "batch_size": self.batch_size,
            "prefetch": self.prefetch,
            **self.runner.describe(),
        }


def _rows_before(df, limit: int):
    """Rows of frames ``< limit`` (what Py-Feat would have returned; see ``pyfeat_frame_limit``)."""
    frames = np.asarray(df["frame"], dtype=np.int64)
    return df if frames.size == 0 or frames.max() < limit else df[frames < limit]


# --- Py-Feat 0.6.2 on the GPU ----------------------------------------------------------------------


def _on_device_class():
    """An ``nn.Module`` wrapper that moves inputs to the device and outputs back to the CPU."""
    import torch

    class OnDevice(torch.nn.Module):
        def __init__(self, module: torch.nn.Module, device: Any):
            super().__init__()
            self.inner = module.to(device).eval()
            self.device = device

        def forward(self, x, *args, **kwargs):
            out = self.inner(x.to(self.device, non_blocking=True), *args, **kwargs)
            return _to_cpu(out)

    return OnDevice


def _to_cpu(out: Any) -> Any:
    if hasattr(out, "cpu"):
        return out.cpu()
    if isinstance(out, (tuple, list)):
        return type(out)(_to_cpu(o) for o in out)
    return out


def move_models_to_device(detector: Any, device: Any) -> list[str]:
    """Put Py-Feat 0.6.2's CPU-resident torch models on ``device``; returns what moved.

    img2pose is already there (Py-Feat moves it); HOG and xgb are not torch code.
    """
    on_device = _on_device_class()
    moved = []
    if getattr(detector, "landmark_detector", None) is not None:
        detector.landmark_detector = on_device(detector.landmark_detector, device)
        moved.append("landmark_model")
    emo = getattr(detector, "emotion_model", None)
    if emo is not None and hasattr(emo, "model"):
        emo.model = on_device(emo.model, device)
        moved.append("emotion_model")
    ident = getattr(detector, "identity_model", None)
    if ident is not None and hasattr(ident, "model"):
        ident.model = on_device(ident.model, device)
        moved.append("identity_model")
    return moved


class PyFeatFastRunner:
    """Py-Feat 0.6.2's detection waterfall on decoded batches, models on the GPU, one img2pose pass."""

    def __init__(self, detector: Any, *, device: str, threshold: float = 0.83, identity_threshold: float = 0.8):
        import torch

        info = detector.info
        if (info.get("face_model"), info.get("facepose_model")) != ("img2pose", "img2pose-c"):
            raise ValueError(
                "fast mode reuses img2pose's poses; it needs face_model='img2pose', facepose_model='img2pose-c'"
            )
        self.detector = detector
        self.device = torch.device(device)
        self.threshold = threshold
        self.identity_threshold = identity_threshold
        self.moved = move_models_to_device(detector, self.device) if self.device.type != "cpu" else []

    def detect_batch(self, frames: np.ndarray, indices: np.ndarray, file_name: str):
        import torch

        batch = self._collate(frames, indices, file_name)
        with torch.inference_mode():
            faces, landmarks, poses, aus, emotions, identities = self._waterfall(batch)
        return self.detector._create_fex(
            faces, landmarks, poses, aus, emotions, identities, batch["FileName"], list(batch["Frame"].numpy())
        )

    def _collate(self, frames: np.ndarray, indices: np.ndarray, file_name: str) -> dict:
        """The dict a DataLoader over ``VideoDataset(output_size=(720, 1280))`` would yield for these frames."""
        import torch
        from feat.transforms import Rescale
        from torch.utils.data import default_collate

        rescale = Rescale((720, 1280), preserve_aspect_ratio=True, padding=False)
        items = []
        for image, idx in zip(frames, indices, strict=True):
            t = torch.from_numpy(image).permute(2, 0, 1)  # VideoDataset's two swapaxes
            r = rescale(t)
            items.append(
                {
                    "Image": r["Image"],
                    "Frame": int(idx),
                    "FileName": file_name,
                    "Scale": r["Scale"],
                    "Padding": r["Padding"],
                }
            )
        return default_collate(items)

    def _waterfall(self, batch: dict):
        """``Detector._run_detection_waterfall`` with the img2pose result shared by faces and poses."""
        from feat.data import _inverse_face_transform, _inverse_landmark_transform
        from feat.utils.image_operations import convert_image_to_tensor

        det = self.detector
        images = batch["Image"]
        tensor = convert_image_to_tensor(images, img_type="float32") / 255
        all_faces, all_poses = det.face_detector(tensor)
        faces = [[f for f in frame if f[4] >= self.threshold] for frame in all_faces]
        landmarks = det.detect_landmarks(images, detected_faces=faces)
        aus = det.detect_aus(images, landmarks)
        emotions = det.detect_emotions(images, faces, landmarks)
        identities = det.detect_identity(images, faces)
        faces = _inverse_face_transform(faces, batch)
        landmarks = _inverse_landmark_transform(landmarks, batch)
        faces, poses = det._match_faces_to_poses(faces, all_faces, all_poses)
        return faces, landmarks, poses, aus, emotions, identities

    def finalize(self, parts: list, *, fps: float, num_frames: int):
        """``detect_video``'s tail: concat, ``approx_time``, identity clustering, ``frame`` index."""
        import pandas as pd

        from .tracks import pyfeat_approx_time

        out = pd.concat(parts)
        out.reset_index(drop=True, inplace=True)
        out["approx_time"] = [pyfeat_approx_time(int(x), fps, num_frames) for x in out["frame"].to_numpy()]
        out.compute_identities(threshold=self.identity_threshold, inplace=True)
        return out.set_index("frame", drop=False)

    def describe(self) -> dict:
        return {
            "detector": "py-feat 0.6.2 Detector (fast runner)",
            "moved_to_device": self.moved,
            "device": str(self.device),
        }
