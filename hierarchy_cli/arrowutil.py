"""Arrow <-> numpy without pyarrow's pandas probe.

``pa.array(...)`` and ``Array.to_numpy()`` import pandas the first time they
run (about 0.4 s here) just to check whether the argument is a pandas object.
The label-map path never needs pandas, so it builds and reads arrays straight
from their buffers with these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def int32_array(values: np.ndarray):
    """An Arrow int32 array (no nulls) over ``values``."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.int32)
    return pa.Array.from_buffers(pa.int32(), len(values), [None, pa.py_buffer(values)])


def string_array(values: Sequence[str]):
    """An Arrow string array (no nulls) from Python strings."""
    import pyarrow as pa

    values = list(values)
    n = len(values)
    joined = "\x00".join(values)
    if n == 0 or joined.count("\x00") != n - 1:
        encoded = [v.encode("utf-8") for v in values]  # rare: strings holding NUL
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=n)
        data = b"".join(encoded)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
    else:
        raw = joined.encode("utf-8")
        seps = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0)
        offsets = np.empty(n + 1, dtype=np.int64)
        offsets[0] = 0
        offsets[1:n] = seps - np.arange(n - 1)
        data = raw.replace(b"\x00", b"")
        offsets[n] = len(data)
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(
            pa.string(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
        )
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


_NUMERIC = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
            "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
            "float": np.float32, "double": np.float64, "halffloat": np.float16}


def to_numpy(arr) -> np.ndarray:
    """A numeric Arrow array or chunked array (no nulls) as a numpy array."""
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    dtype = _NUMERIC.get(str(arr.type))
    if dtype is None or arr.null_count:
        return arr.to_numpy(zero_copy_only=False)
    buf = arr.buffers()[1]
    if buf is None:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype)[arr.offset: arr.offset + len(arr)]


def list_parts(arr) -> tuple[np.ndarray, object]:
    """Offsets (int64, starting at 0) and the values array of a list array."""
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32 if str(arr.type).startswith("list") else np.int64)
    offsets = offsets[arr.offset: arr.offset + len(arr) + 1].astype(np.int64)
    return offsets - offsets[0], arr.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
