"""Arrow <-> numpy conversions that pyarrow's own calls make slower or lossier.

Each helper was measured against the plain pyarrow call that would replace it (pyarrow
22 and 26, pandas blocked as on the command line; ``benchmarks/README.md``), and is
kept for what it does better: ``bool_numpy`` (nulls as False) is 13x faster at 2M values
than ``pc.fill_null(arr, False).to_numpy(zero_copy_only=False)``, ``empty_strings`` 5x
faster than ``pc.equal(arr, "")``, ``bool_array`` 20x and ``int_array`` with a mask 24x
faster than ``pa.array``; ``numpy_view`` keeps an array with nulls in its own dtype,
without a copy, where ``to_numpy`` makes floats or refuses; ``int32_array`` never wraps
a value beyond int32 and ``large_binary_value`` never copies. ``string_array`` is
``pa.array`` (1.2-5x faster than building the buffers here) with the checks that a
label map's string column needs.

Avoiding pandas is not their job: pyarrow imports it on its first ``pa.array``,
``to_numpy`` or Python scalar, and the command line blocks that import once for every
call (:class:`hierarchy_cli.__main__.NoPandas`).

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


# numpy's dtype of each numeric Arrow type (``DataType.to_pandas_dtype`` needs pandas
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
    """Which values of a string array are ``""`` (nulls: False), as numpy bools (from the
    lengths: 5x faster than ``pc.equal(arr, "")`` and ``fill_null`` at 2M values)."""
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
    """An Arrow string array (no nulls) from Python strings; more than one column's 2 GiB
    of text, or a ``None``, is an error."""
    import pyarrow as pa

    from .errors import GranularityFailure

    if isinstance(values, np.ndarray):  # pyarrow would cut a numpy string at its first NUL
        values = values.tolist()
    arr = pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):  # pyarrow splits what one array's int32 offsets cannot hold
        import pyarrow.compute as pc

        raise GranularityFailure(f"{pc.sum(pc.binary_length(arr)).as_py():,} bytes of text are too many "
                                 "for one string column")
    if arr.null_count:
        row = int(np.flatnonzero(bool_numpy(arr.is_null()))[0])
        raise GranularityFailure(f"a string column got None at row {row}")
    return arr


def large_binary_value(data: bytes):
    """A one-element Arrow ``large_binary`` array holding ``data`` (no copy)."""
    import pyarrow as pa

    offsets = np.array([0, len(data)], dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
