"""Leaf index per manifest row, from a key column (leaf index, leaf id or image path).

Everything here is a pure function of Arrow arrays. Results are numpy int32 arrays
holding ``n`` (the number of leaves) where the row's leaf is unknown. Arrays cross
between Arrow and numpy through their buffers (:mod:`hierarchy_cli.arrays`).
"""

from __future__ import annotations

import numpy as np

from ..arrays import bool_numpy, int_array, numpy_view


def _filled(arr, fill: int) -> np.ndarray:
    """An integer Arrow array as numpy, nulls replaced by ``fill``."""
    if not arr.null_count:
        return numpy_view(arr)
    out = numpy_view(_zero_nulls(arr)).astype(np.int64)
    out[~bool_numpy(arr.is_valid())] = fill
    return out


def _zero_nulls(arr):
    """``arr`` with its validity bitmap dropped (null slots hold whatever the buffer has)."""
    import pyarrow as pa

    return pa.Array.from_buffers(arr.type, len(arr), [None, arr.buffers()[1]], offset=arr.offset)


def index_keys(arr, n: int) -> np.ndarray:
    """Leaf indices from an integer column: values outside ``0..n-1`` and nulls are unknown."""
    import pyarrow as pa

    arr = _one_array(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    v = _filled(arr, -1)
    if v.size and v.min() >= 0 and v.max() < n:
        return v.astype(np.int32, copy=False)
    return np.where((v >= 0) & (v < n), v, n).astype(np.int32)


class IdLookup:
    """Leaf index of each leaf id; the map's ids cast once per key type."""

    def __init__(self, leaf_ids):
        self.leaf_ids = leaf_ids          # pa.StringArray, leaf_index -> leaf_id
        self._by_type: dict[str, object] = {}

    def __getstate__(self):
        return {"leaf_ids": self.leaf_ids, "_by_type": {}}

    def _value_set(self, typ):
        import pyarrow as pa

        key = str(typ)
        if key not in self._by_type:
            self._by_type[key] = self.leaf_ids if typ == pa.string() else self.leaf_ids.cast(typ)
        return self._by_type[key]

    def __call__(self, arr) -> np.ndarray:
        """Leaf index per id in ``arr`` (strings, integers as their decimal text, or a
        dictionary of them), ``n`` where it is not a leaf id of the map."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(self.leaf_ids)
        arr = _one_array(arr)
        if pa.types.is_dictionary(arr.type):
            # look up only the (few) distinct values, then spread them by the codes
            found = np.append(self(arr.dictionary), np.int32(n))
            return found[_filled(arr.indices, -1)]  # -1 picks the appended 'unknown'
        if pa.types.is_integer(arr.type):
            arr = arr.cast(pa.string())
        found = pc.index_in(arr, value_set=self._value_set(arr.type))
        return _filled(found, n).astype(np.int32, copy=False)


def _one_array(arr):
    """A chunked array as one array; string_view as string (the string kernels' type)."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string()) if pa.types.is_string_view(arr.type) else arr


def path_keys(paths, lookup: IdLookup) -> np.ndarray:
    """Leaf index from each image path: its parent folder's name when that is a leaf
    id, else its file name's part before the first ``_`` (or ``.``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(lookup.leaf_ids)
    paths = _one_array(paths)
    if pa.types.is_dictionary(paths.type):
        found = np.append(path_keys(paths.dictionary, lookup), np.int32(n))
        return found[_filled(paths.indices, -1)]
    # the last three '/'-separated parts of each path (splitting beats a regex 2:1)
    parts = pc.split_pattern(paths, "/", max_splits=2, reverse=True)
    lens = _filled(parts.value_lengths(), 0).astype(np.int64)
    ends = numpy_view(parts.offsets)[1:].astype(np.int64)  # positions in parts.values
    values = parts.values
    has_folder = lens >= 2
    idx = lookup(values.take(int_array(np.where(has_folder, ends - 2, 0).astype(np.int64))))
    idx = np.where(has_folder, idx, n).astype(np.int32)
    miss = np.flatnonzero(idx == n)
    if miss.size:
        has_name = lens[miss] >= 1
        names = values.take(int_array(np.where(has_name, ends[miss] - 1, 0).astype(np.int64)))
        idx[miss] = np.where(has_name, lookup(_before(_before(names, "_"), ".")), n)
    return idx


def pattern_keys(paths, pattern: str, lookup: IdLookup) -> np.ndarray:
    """Leaf index from the one capture group of ``pattern`` (checked by
    :func:`~hierarchy_cli.apply.keys.check_path_pattern`); no match is unknown."""
    import pyarrow as pa
    import pyarrow.compute as pc

    paths = _one_array(paths)
    if pa.types.is_dictionary(paths.type):
        n = len(lookup.leaf_ids)
        found = np.append(pattern_keys(paths.dictionary, pattern, lookup), np.int32(n))
        return found[_filled(paths.indices, -1)]
    return lookup(pc.extract_regex(paths, pattern).field(0))


def _before(strings, sep: str):
    """Each string up to its first ``sep`` (all of it without one)."""
    import pyarrow.compute as pc

    parts = pc.split_pattern(strings, sep, max_splits=1)
    return parts.values.take(parts.offsets.slice(0, len(parts)))
