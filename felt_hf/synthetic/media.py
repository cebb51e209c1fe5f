"""Generated FELT-style videos and RAVDESS-style audio, for tests, the demo and benchmarks.

Made the way FELT's rendering scripts made theirs, as far as matters to a converter:

* three kinds, one mp4 per trial, h264 (PyAV's libx264) at **30 fps** although the tracking is at
  29.97 fps; ``Landmark_Overlay`` and ``Landmark_Plot`` have one frame per row of the smoothed
  CSV (two-face frames give two rows, hence two video frames); the AU animation leaves out about
  10% of rows (FELT's plots that failed), chosen at random per trial, so its map is unknown;
* the AU folder is called ``ActionUnit_Activation`` (the name FELT's own script used);
* pictures are drawn with numpy (no matplotlib): the trial's smoothed landmarks as dots on a
  grey (overlay) or white (plot) canvas, AU activations as coloured bars, and in the top strip
  the **CSV row index as a 10-bit barcode** that survives h264, so tests can read back which row
  each video frame shows (the generated stand-in for matplotlib's ``Frame N`` title);
* RAVDESS audio: 48 kHz 16-bit mono wav ``03-VV-EE-II-SS-RR-AA.wav``, as long as the trial's
  video (``num_frames / 29.97`` s), a voiced-sounding tone; optionally full-AV ``01-...mp4`` files
  carrying it as AAC (the other audio source) beside video-only ``02-`` ones (to be ignored).

The archives are named arbitrarily on purpose: the converter must not depend on archive names.
Small frames (160x90) by default so CI stays fast; ``size=(720, 1280)`` gives FELT's full size.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..atomic import temp_name
from ..ravdess import parse_trial_id
from ..schema import AU_NAMES, AUDIO_SAMPLE_RATE, FPS, VIDEO_FPS, VIDEO_SIZE, VOCAL_CHANNELS
from .archives import (
    SAMPLE_ACTORS,
    SAMPLE_TRIALS_PER_ACTOR,
    ZIP_DATE_TIME,
    _trial_list,
    make_trial,
    refuse_to_overwrite,
)

SMALL_SIZE = (90, 160)  # height, width: tiny but even (yuv420p) and wide enough for the barcode
BARCODE_BITS = 10  # rows up to 1023; FELT's longest trials have ~150 rows (plus two-face rows)
P_DROPPED = 0.10  # share of AU-animation frames left out
KIND_FOLDERS = {
    "landmark_overlay": "Landmark_Overlay",
    "landmark_plot": "Landmark_Plot",
    "au_animation": "ActionUnit_Activation",
}

__all__ = [
    "KIND_FOLDERS",
    "SMALL_SIZE",
    "MediaTrial",
    "decode_barcode",
    "encode_video",
    "media_trial",
    "render_au_with_titles",
    "render_video",
    "render_wav",
    "write_media",
    "write_sample_media",
]


def video_codec() -> str:
    """libx264 when this PyAV build has it (FELT's codec); otherwise mpeg4, and the README says so."""
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


@dataclass(frozen=True)
class MediaTrial:
    """What a trial's media show: the smoothed CSV's rows and the AU animation's kept rows."""

    trial_id: str
    csv_frames: np.ndarray  # the `frame` number of each CSV row (two-face frames twice)
    landmarks: np.ndarray  # (rows, 68, 2) px in 1280x720, NaN where no face
    aus: np.ndarray  # (rows, 20)
    kept_au_rows: np.ndarray  # CSV rows that made it into the AU animation
    num_frames: int  # video frames of the source video (for the audio length)


def media_trial(trial_id: str, *, seed: int = 0) -> MediaTrial:
    """From the same generated trial the CSV archives hold, so videos match the tracking."""
    from ..schema import AU_NAMES as AUS
    from ..schema import LANDMARK_X_COLUMNS, LANDMARK_Y_COLUMNS

    trial = make_trial(trial_id, seed=seed)
    cols = trial.smoothed_columns
    lm = np.stack(
        [np.stack([cols[x] for x in LANDMARK_X_COLUMNS], 1), np.stack([cols[y] for y in LANDMARK_Y_COLUMNS], 1)], -1
    )
    aus = np.stack([cols[a] for a in AUS], 1)
    rows = lm.shape[0]
    rng = np.random.default_rng([seed, 14, *(int(p) for p in trial_id.split("-"))])
    kept = np.flatnonzero(rng.random(rows) >= P_DROPPED)
    if kept.size == rows:  # every real AU animation lost some frames; so does every generated one
        kept = np.delete(kept, int(rng.integers(rows)))
    return MediaTrial(trial_id, np.asarray(cols["frame"]), lm, aus, kept, trial.num_frames)


# --- pictures -------------------------------------------------------------------------------------
def _barcode(img: np.ndarray, value: int) -> None:
    """Row index as white/black blocks across the top eighth of the frame (MSB first)."""
    h, w = img.shape[:2]
    bw, bh = w // BARCODE_BITS, max(8, h // 8)
    for b in range(BARCODE_BITS):
        bit = (value >> (BARCODE_BITS - 1 - b)) & 1
        img[:bh, b * bw + 1 : (b + 1) * bw - 1] = 255 if bit else 0


def decode_barcode(frame: np.ndarray) -> int:
    """The CSV row index drawn by :func:`_barcode`, read back from a decoded RGB frame."""
    h, w = frame.shape[:2]
    bw, bh = w // BARCODE_BITS, max(8, h // 8)
    value = 0
    for b in range(BARCODE_BITS):
        block = frame[2 : bh - 2, b * bw + 3 : (b + 1) * bw - 3]
        value = (value << 1) | int(block.mean() > 127)
    return value


def _dots(img: np.ndarray, pts: np.ndarray, color: tuple[int, int, int], origin: np.ndarray | None = None) -> None:
    h, w = img.shape[:2]
    if not np.all(np.isfinite(pts)):
        return
    if origin is not None:
        pts = pts - origin + np.array([VIDEO_SIZE[1] * 0.4, VIDEO_SIZE[0] * 0.3])
    xy = np.round(pts * np.array([w / VIDEO_SIZE[1], h / VIDEO_SIZE[0]])).astype(int)
    r = max(1, w // 160)
    for x, y in xy:
        img[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] = color


def _picture(kind: str, t: MediaTrial, row: int, size: tuple[int, int], grain: int = 0) -> np.ndarray:
    h, w = size
    if kind == "landmark_overlay":
        img = np.full((h, w, 3), 90, np.uint8)
        img[h // 4 :, :, 0] = 120  # a stand-in for the (personal-data) face image underneath
        _dots(img, t.landmarks[row], (0, 255, 255))
    elif kind == "landmark_plot":
        img = np.full((h, w, 3), 255, np.uint8)
        if np.all(np.isfinite(t.landmarks[row])):
            _dots(img, t.landmarks[row], (40, 40, 200), origin=t.landmarks[row].min(axis=0))
    else:
        img = np.full((h, w, 3), 230, np.uint8)
        a = np.clip(np.nan_to_num(t.aus[row]), 0.0, 1.0)
        bar_w = max(1, w // len(AU_NAMES))
        for i, v in enumerate(a):
            top = h - int(round(v * (h * 0.8)))
            img[top:, i * bar_w : (i + 1) * bar_w - 1] = (int(255 * v), 0, int(255 * (1 - v)))
    if grain:  # camera-like noise, so frames cost as many bytes as FELT's 720p ones (benchmarks)
        noise = np.random.default_rng([row, h, w]).integers(-grain, grain + 1, img.shape, dtype=np.int16)
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    _barcode(img, row)
    return img


def encode_video(
    frames: Iterable[np.ndarray], *, fps: float = VIDEO_FPS, codec: str | None = None, audio=None
) -> bytes:
    """An mp4 (h264, yuv420p) of RGB frames at ``fps``, optionally with a mono AAC track.

    ``audio`` is ``(int16 samples, rate)``. One encoder thread; even so this build's libx264 does
    not always give the same bytes for the same frames on a busy machine (a third of the
    sample's videos differed, decoding up to 56 grey levels apart; setting every frame's pts,
    x264's lookahead and thread options or PyAV's thread type changed nothing), so only the
    tracking archives and the wavs are byte-reproducible (the ``sample --seed`` help says so).
    """
    import av

    buf = io.BytesIO()
    frames = iter(frames)
    first = next(frames)
    with av.open(buf, mode="w", format="mp4") as out:
        vs = out.add_stream(codec or video_codec(), rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        vs.thread_count = 1
        if vs.codec_context.name == "libx264":
            vs.options = {"crf": "20", "preset": "veryfast"}
        astream = None
        if audio is not None:
            astream = out.add_stream("aac", rate=audio[1])
            astream.layout = "mono"
        for img in (first, *frames):
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None:
            samples, rate = audio
            step = 1024
            for i in range(0, len(samples), step):
                chunk = samples[i : i + step].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout="mono")
                frame.sample_rate = rate
                # timestamps from 0, so the muxer writes the edit list that hides the AAC encoder's
                # priming samples, as real encoders do: without them the decoded audio started 1024
                # samples (21 ms) late and could not reveal a priming bug in the reader
                frame.pts, frame.time_base = i, Fraction(1, rate)
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return buf.getvalue()


def render_video(
    kind: str, t: MediaTrial, size: tuple[int, int] = SMALL_SIZE, codec: str | None = None, grain: int = 0
) -> bytes:
    """One FELT video of ``kind`` for a trial: a frame per CSV row (AU animation: kept rows only).

    ``grain`` adds per-pixel noise of that amplitude (benchmarks: realistic bytes per frame)."""
    rows = t.kept_au_rows if kind == "au_animation" else np.arange(t.landmarks.shape[0])
    return encode_video((_picture(kind, t, int(r), size, grain) for r in rows), codec=codec)


def render_samples(trial_id: str, num_frames: int, *, seed: int = 0) -> np.ndarray:
    """A RAVDESS-like mono int16 signal as long as the trial's video: a voiced tone with syllables."""
    n = int(round(num_frames / FPS * AUDIO_SAMPLE_RATE))
    rng = np.random.default_rng([seed, 15, *(int(p) for p in trial_id.split("-"))])
    t = np.arange(n) / AUDIO_SAMPLE_RATE
    f0 = rng.uniform(100, 220) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 4) * t), 0, None) * (t > 0.4) * (t < t[-1] - 0.3)
    noise = rng.normal(0, 0.003, n)
    return np.clip(np.round((0.25 * voice * envelope + noise) * 32767), -32768, 32767).astype(np.int16)


def render_wav(trial_id: str, num_frames: int, *, seed: int = 0) -> bytes:
    """The RAVDESS audio-only file of a trial: 48 kHz, 16-bit PCM, mono."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, render_samples(trial_id, num_frames, seed=seed), AUDIO_SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# --- writing archives -------------------------------------------------------------------------------
def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.create_system = 0
    info.external_attr = 0x20
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


class _Sink:
    """A zip (deflated at level 1, as a plain OS zip tool would) or a folder, complete or absent."""

    def __init__(self, final: Path, as_zip: bool) -> None:
        self.final, self.as_zip = final, as_zip
        self.tmp = temp_name(final)  # (hidden, and a name the next run removes if this one is killed)
        self.zf = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) if as_zip else None
        self.names: list[str] = []

    def add(self, name: str, data: bytes) -> None:
        self.names.append(name)
        if self.zf is not None:
            self.zf.writestr(_zip_info(name), data)
        else:
            p = self.tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)

    def abort(self) -> None:
        """An interrupted or failed write leaves nothing (a full disk had left a hidden partial zip)."""
        import shutil

        if self.zf is not None:
            with contextlib.suppress(OSError):
                self.zf.close()
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)

    def close(self) -> Path:
        if self.zf is not None:
            self.zf.writestr(_zip_info(f"__MACOSX/{self.names[0].rsplit('/', 1)[0]}/._x.mp4"), b"\x00\x05\x16\x07")
            self.zf.close()
        elif not self.tmp.exists():
            self.tmp.mkdir(parents=True)
        if self.final.is_dir():
            import shutil

            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)
        return self.final


@contextlib.contextmanager
def _sink(final: Path, as_zip: bool) -> Iterator[_Sink]:
    sink = _Sink(final, as_zip)
    try:
        yield sink
    except BaseException:
        sink.abort()
        raise


def _archive_names(channel: str) -> tuple[str, str, str]:
    """The sample's videos, audio-only wavs and full-AV mp4s of one channel (names without
    ``.zip``; the videos may be a folder of that name)."""
    return f"felt_videos_{channel}", f"Audio_{channel.title()}_Actors", f"RAVDESS_{channel}_av"


def write_media(
    out_dir,
    trial_ids: Sequence[str],
    *,
    seed: int = 0,
    size: tuple[int, int] = SMALL_SIZE,
    kinds: Iterable[str] = tuple(KIND_FOLDERS),
    wav_channels: Iterable[str] = ("speech",),
    full_av_channels: Iterable[str] = ("song",),
    videos_as_folder_channels: Iterable[str] = ("song",),
    codec: str | None = None,
    grain: int = 0,
) -> dict[str, Path]:
    """Write FELT-style video archives and RAVDESS-style audio for ``trial_ids`` into ``out_dir``.

    Layout (names deliberately not FELT's, whatever those are): per channel, videos in
    ``felt_videos_<channel>.zip`` (or an extracted folder ``felt_videos_<channel>/``) as
    ``FELT/<KindFolder>/Actor_NN/<id>.mp4``; audio as ``Audio_<Channel>_Actors.zip`` holding
    ``Actor_NN/03-....wav``, or, for ``full_av_channels``, ``RAVDESS_<channel>_av.zip`` holding
    full-AV ``01-`` mp4s with AAC audio and video-only ``02-`` ones. Returns ``{name: path}``.
    """
    out_dir = Path(out_dir)
    kinds = tuple(kinds)
    wav_channels, full_av_channels = set(wav_channels), set(full_av_channels)
    folders = set(videos_as_folder_channels)
    by_channel: dict[str, list[str]] = {}
    for tid in sorted(trial_ids):
        by_channel.setdefault(parse_trial_id(tid).vocal_channel, []).append(tid)
    targets = [out_dir / n for ch in by_channel for stem in _archive_names(ch) for n in (stem, f"{stem}.zip")]
    refuse_to_overwrite(out_dir, targets)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for channel, ids in by_channel.items():
        trials = [media_trial(t, seed=seed) for t in ids]
        if kinds:
            name = _archive_names(channel)[0]
            with _sink(out_dir / (name if channel in folders else f"{name}.zip"), channel not in folders) as sink:
                for kind in kinds:
                    for t in trials:
                        actor = parse_trial_id(t.trial_id).actor
                        sink.add(f"FELT/{KIND_FOLDERS[kind]}/Actor_{actor:02d}/{t.trial_id}.mp4",
                                 render_video(kind, t, size, codec, grain))  # fmt: skip
                written[name] = sink.close()
        if channel in wav_channels:
            name = _archive_names(channel)[1]
            with _sink(out_dir / f"{name}.zip", True) as sink:
                for t in trials:
                    actor = parse_trial_id(t.trial_id).actor
                    sink.add(
                        f"Actor_{actor:02d}/03{t.trial_id[2:]}.wav", render_wav(t.trial_id, t.num_frames, seed=seed)
                    )
                written[name] = sink.close()
        if channel in full_av_channels:
            name = _archive_names(channel)[2]
            with _sink(out_dir / f"{name}.zip", True) as sink:
                for t in trials:
                    actor = parse_trial_id(t.trial_id).actor
                    frames = [np.full((*size, 3), 128, np.uint8)] * max(2, t.num_frames // 20)
                    av_mp4 = encode_video(frames, fps=FPS, codec=codec,
                                          audio=(render_samples(t.trial_id, t.num_frames, seed=seed), AUDIO_SAMPLE_RATE))  # fmt: skip
                    sink.add(f"Actor_{actor:02d}/{t.trial_id}.mp4", av_mp4)
                    sink.add(
                        f"Actor_{actor:02d}/02{t.trial_id[2:]}.mp4", encode_video(frames[:2], fps=FPS, codec=codec)
                    )
                written[name] = sink.close()
    return written


def write_sample_media(
    out_dir, *, seed: int = 0, trials_per_actor: int = SAMPLE_TRIALS_PER_ACTOR, size: tuple[int, int] = SMALL_SIZE
) -> dict[str, Path]:
    """Media for the built-in sample's trials (:func:`felt_hf.synth.write_sample`): speech audio
    as wav, song audio inside full-AV mp4s, speech videos zipped, song videos as a folder."""
    ids = [t for ch in VOCAL_CHANNELS for t in _trial_list(ch, SAMPLE_ACTORS, trials_per_actor, seed)]
    return write_media(out_dir, ids, seed=seed, size=size)


def render_au_with_titles(t: MediaTrial, size: tuple[int, int] = (240, 320), codec: str | None = None) -> bytes:
    """An AU animation drawn the way FELT's script drew it: one matplotlib figure per kept row, at
    100 dpi, titled ``Frame {row}`` in matplotlib's default title font, AU bars below (a stand-in
    for ``plot_face``'s face). Needs matplotlib; slow (tens of ms a frame), so tests use a few."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def frames():
        for row in t.kept_au_rows:
            fig = Figure(figsize=(size[1] / 100, size[0] / 100), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
            ax.bar(np.arange(len(AU_NAMES)), np.clip(np.nan_to_num(t.aus[row]), 0, 1), color="tab:red")
            ax.set_ylim(0, 1)
            ax.set_axis_off()
            ax.set_title(f"Frame {int(row)}")
            fig.canvas.draw()
            yield np.ascontiguousarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])

    return encode_video(frames(), codec=codec)
