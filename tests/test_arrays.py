"""hierarchy_cli.arrays: Arrow <-> numpy through buffers gives what pyarrow's own calls give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from hierarchy_cli.arrays import (bool_array, bool_numpy, empty_strings, int32_array, int_array,
                                  large_binary_value, numpy_view, string_array)
from hierarchy_cli.errors import GranularityError


@pytest.mark.parametrize("typ", [pa.int8(), pa.int32(), pa.int64(), pa.uint16(), pa.float16(), pa.float32(),
                                 pa.float64()])
def test_numpy_view_matches_to_numpy_on_slices_and_chunks(typ):
    values = np.arange(-5, 45) if not pa.types.is_unsigned_integer(typ) else np.arange(50)
    arr = pa.array(values, type=typ)
    for part in (arr, arr.slice(7, 20), arr.slice(50), pa.chunked_array([arr.slice(0, 3), arr.slice(10, 5)])):
        want = part.to_numpy() if isinstance(part, pa.Array) else part.combine_chunks().to_numpy()
        got = numpy_view(part)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_bool_numpy_counts_nulls_as_false_and_keeps_offsets():
    arr = pa.array([True, None, False, True, True, None, False, True, True, False, True])
    for part in (arr, arr.slice(3), arr.slice(5, 4), arr.slice(11)):
        want = np.array([v is True for v in part.to_pylist()], dtype=bool)
        assert np.array_equal(bool_numpy(part), want)
    assert np.array_equal(bool_numpy(bool_array(np.array([1, 0, 1], dtype=bool))), [True, False, True])


def test_empty_strings():
    arr = pa.array(["", "a", None, "", "bc"])
    assert empty_strings(arr).tolist() == [True, False, False, True, False]
    assert empty_strings(arr.slice(1, 3)).tolist() == [False, False, True]


def test_int_arrays_keep_or_fix_their_width():
    assert int_array(np.arange(3, dtype=np.int64)).type == pa.int64()
    assert int_array(np.arange(3, dtype=np.int16)).type == pa.int32()
    masked = int_array(np.array([4, 5, 6]), mask=np.array([False, True, False]))
    assert masked.to_pylist() == [4, None, 6]
    assert int32_array(np.arange(3, dtype=np.int64)).type == pa.int32()
    assert int32_array(np.array([2**31 - 1, -2**31])).to_pylist() == [2**31 - 1, -2**31]
    with pytest.raises(GranularityError, match="2147483648 does not fit an int32 column"):
        int32_array(np.array([1, 2**31]))  # never wrapped to -2**31


def test_string_and_binary_arrays():
    values = ["a", "", "日本", "x\x00y"]
    assert string_array(values).to_pylist() == values and string_array(values).type == pa.string()
    assert string_array(np.array(values)).equals(string_array(values))  # numpy strings too
    with pytest.raises(GranularityError, match="a string column got None at row 1"):
        string_array(["a", None])  # never a null in a column of names or ids
    assert large_binary_value(b"ab\ncd").to_pylist() == [b"ab\ncd"]
