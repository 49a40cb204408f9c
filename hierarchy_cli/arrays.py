"""Arrow arrays to and from numpy through their buffers.

``pyarrow.array`` and ``Array.to_numpy`` probe for pandas on their first call and so
import it: 0.2-0.4 s of a command that never uses pandas (measured: ``build --taxonomy``
on a 3-line table 0.4 s slower, ``cluster`` on float16 embeddings 0.4 s). These helpers
build or view the same arrays from their buffers, which never probes; so do Python
scalars given to ``pyarrow.compute`` (``pc.equal(arr, "")``), hence :func:`empty_strings`.
Nulls: ``numpy_view`` leaves them as whatever the buffer holds, ``bool_numpy`` and
``empty_strings`` count them as False, ``int_array`` takes a mask; callers that must
refuse nulls check them first (their error messages name the row).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _one_chunk(arr):
    import pyarrow as pa

    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


# numpy's dtype of each numeric Arrow type (``DataType.to_pandas_dtype`` imports pandas
# on pyarrow 22)
_DTYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
           "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
           "halffloat": np.float16, "float": np.float32, "double": np.float64}


def numpy_view(arr) -> np.ndarray:
    """A numeric Arrow array (int, uint, float16/32/64; nulls hold arbitrary values) as a
    read-only numpy view, without a copy."""
    arr = _one_chunk(arr)
    dtype = np.dtype(_DTYPES[str(arr.type)])
    buf = arr.buffers()[1]
    if buf is None:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype)[arr.offset: arr.offset + len(arr)]


def _bits(buf, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), count=offset + n, bitorder="little")[offset:]


def bool_numpy(arr) -> np.ndarray:
    """An Arrow boolean array as a numpy bool array; a null counts as False."""
    arr = _one_chunk(arr)
    validity, values = arr.buffers()[:2]
    if values is None or not len(arr):
        return np.zeros(len(arr), dtype=bool)
    out = _bits(values, arr.offset, len(arr))
    if arr.null_count:
        out &= _bits(validity, arr.offset, len(arr))
    return out.astype(bool)


def empty_strings(arr) -> np.ndarray:
    """Which values of a string array are ``""`` (nulls: False), as numpy bools. Lengths,
    not ``pc.equal(arr, "")``: any Python scalar passed to pyarrow imports pandas."""
    import pyarrow.compute as pc

    return (numpy_view(pc.binary_length(arr)) == 0) & bool_numpy(_one_chunk(arr).is_valid())


def int_array(values: np.ndarray, mask: np.ndarray | None = None):
    """An Arrow int32 array (int64 for int64 ``values``), null where ``mask``."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    if values.dtype != np.int64:
        values = values.astype(np.int32, copy=False)
    typ = pa.int64() if values.dtype == np.int64 else pa.int32()
    validity = None if mask is None else pa.py_buffer(np.packbits(~mask, bitorder="little"))
    return pa.Array.from_buffers(typ, len(values), [validity, pa.py_buffer(values)],
                                 null_count=-1 if mask is not None else 0)


def int32_array(values, mask: np.ndarray | None = None):
    """An Arrow int32 array from integers of any width, null where ``mask``; values beyond
    int32 are an error, never wrapped."""
    from .errors import GranularityFailure

    values = np.asarray(values)
    if values.size and values.dtype != np.int32 and (values.min() < -2**31 or values.max() >= 2**31):
        raise GranularityFailure(f"value {int(values.max() if values.max() >= 2**31 else values.min())} "
                                 "does not fit an int32 column")
    return int_array(values.astype(np.int32, copy=False), mask)


def bool_array(values: np.ndarray):
    """An Arrow boolean array (no nulls) from a numpy bool array."""
    import pyarrow as pa

    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def string_array(values: Sequence[str]):
    """An Arrow string array (no nulls) from Python strings."""
    import pyarrow as pa

    from .errors import GranularityFailure

    data = "".join(values).encode("utf-8")
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    if len(data) != int(lengths.sum()):  # not all ASCII: byte lengths differ from characters
        lengths = np.fromiter((len(v.encode("utf-8")) for v in values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise GranularityFailure(f"{offsets[-1]:,} bytes of text are too many for one string column")
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))


def large_binary_value(data: bytes):
    """A one-element Arrow ``large_binary`` array holding ``data`` (no copy)."""
    import pyarrow as pa

    offsets = np.array([0, len(data)], dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
