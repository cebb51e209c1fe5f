"""Writing tracking tables in FELT's own CSV layouts (the four header variants).

The sample-archive generator and the regeneration pipeline both write files that must be
interchangeable with the published archives, down to the header quirks, Windows line endings and
full float64 precision. pyarrow's CSV writer does it at memory speed; pandas' ``to_csv`` would
give the same text several times slower.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..schema import (
    APPROX_TIME_COLUMN,
    FACE_BOX_COLUMNS,
    FPS,
    FRAME_COLUMN,
    IDENTITY_LABEL_COLUMN,
    INPUT_COLUMN,
    PYFEAT_DATA_COLUMNS,
    SECOND_FRAME_COLUMN,
    header_for,
)

_STRING_COLUMNS = {IDENTITY_LABEL_COLUMN, INPUT_COLUMN, APPROX_TIME_COLUMN}


def _writer_has_eol() -> bool:
    """pyarrow >= 26 writes ``\r\n`` itself; 25 (the newest that runs on numpy 1.x, which Py-Feat 0.6.2
    needs) has no ``eol`` option, so :func:`felt_csv_bytes` then rewrites the line ends itself."""
    try:
        pacsv.WriteOptions(eol="\r\n")
    except TypeError:
        return False
    return True


WRITER_HAS_EOL = _writer_has_eol()


def approx_time_text(frames: Sequence[int] | np.ndarray, fps: float = FPS) -> list[str]:
    """Py-Feat 0.6.2's ``approx_time``: ``MM:SS``, truncated to whole seconds."""
    out = []
    for f in np.asarray(frames):
        secs = int(math.floor(float(f) / fps))
        out.append(f"{secs // 60:02d}:{secs % 60:02d}")
    return out


def _float_text(values: np.ndarray) -> pa.Array:
    """Floats as pandas writes them: ``repr`` (so ``236.0`` keeps its ``.0``), NaN empty."""
    return pa.array([None if v != v else repr(float(v)) for v in values], type=pa.string())


def _arrow_differs(values: np.ndarray) -> bool:
    """Whether pyarrow would format some value unlike pandas: whole numbers (``1`` for ``1.0``),
    magnitudes below 1e-4 (``0.00001`` / ``1.5e-7`` for ``1e-05`` / ``1.5e-07``) or from 1e9 up (exponents).
    Such columns (an AU07 at exactly 1.0, tiny emotion scores) take the slower ``repr`` path."""
    a = np.abs(values)
    with np.errstate(invalid="ignore"):
        return bool(np.any((values == np.trunc(values)) | (a < 1e-4) | (a >= 1e9)))


def felt_csv_bytes(columns: Mapping[str, Sequence | np.ndarray], layout: str) -> bytes:
    """Render one trial as FELT CSV bytes in ``layout`` (see :func:`felt_hf.schema.header_for`).

    ``columns`` maps every name of :data:`~felt_hf.schema.PYFEAT_DATA_COLUMNS` to one value per
    row (``frame`` as ints, ``Identity``/``input``/``approx_time`` as strings, the rest floats
    with NaN for missing). The leading index column is made here: the frame numbers for
    ``raw`` (``detect_video``'s index), a fresh 0..n-1 for the re-saved layouts.
    """
    missing = [c for c in PYFEAT_DATA_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"cannot write a FELT CSV without columns {missing[:5]}...")
    n = len(columns[FRAME_COLUMN])
    header = header_for(layout)
    arrays = []
    for i, name in enumerate(header):
        if i == 0 and layout in ("raw_resaved", "smoothed_resaved"):
            arrays.append(pa.array(np.arange(n, dtype=np.int64)))
            continue
        key = FRAME_COLUMN if name == SECOND_FRAME_COLUMN else name
        values = columns[key]
        if key == FRAME_COLUMN:
            arrays.append(pa.array(np.asarray(values, dtype=np.int64)))
        elif key in _STRING_COLUMNS:
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
        elif key in FACE_BOX_COLUMNS:
            arrays.append(_float_text(np.asarray(values, dtype=np.float64)))
        else:
            col = np.asarray(values, dtype=np.float64)
            arrays.append(_float_text(col) if _arrow_differs(col) else pa.array(col, from_pandas=True))
    table = pa.Table.from_arrays(arrays, names=list(header))
    buf = io.BytesIO()
    if WRITER_HAS_EOL:
        pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="none", quoting_header="none", eol="\r\n"))
        return buf.getvalue()
    _check_no_line_breaks(columns)
    pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
    return buf.getvalue().replace(b"\n", b"\r\n")


def _check_no_line_breaks(columns: Mapping[str, Sequence | np.ndarray]) -> None:
    """Unquoted cells cannot hold line breaks (pyarrow >= 26 refuses them too); checked here because the
    pyarrow 25 path turns every ``\n`` of the output into ``\r\n``, which must only ever hit line ends."""
    for name in _STRING_COLUMNS:
        for row, v in enumerate(columns[name]):
            if v is not None and ("\n" in str(v) or "\r" in str(v)):
                raise ValueError(f"column {name!r}, row {row}: a line break cannot be written unquoted: {str(v)!r}")
