"""Per-sample input (``--samples``): each sample's leaf, sample id and vector, streamed.

A parquet file with a leaf column (leaf ids, or leaf indices 0..N-1 of the class list),
an optional sample id column and the vectors, read in record batches; or a 2-D ``.npy``
array (memory-mapped, read in row blocks) with ``--leaves``: a file giving each row's
leaf, either a 1-D ``.npy`` array (integer leaf indices 0..N-1 of the class list, or
string leaf ids) or text with one leaf id per line. Either way the memory used is
bounded by a batch (plus, for ``.npy`` input, the leaf of every row), never by the
embeddings: :func:`class_means` adds the ``(classes, d)`` sums.

Every problem is a :class:`GranularityError` naming the file, the row and the value:
leaves not in the class list, empty leaves or sample ids, NaN or infinite values,
rows of the wrong length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..arrays import int_array, numpy_view
from ..errors import GranularityError, offenders
from .vectors import (BATCH_ROWS, VectorColumns, batch_vectors, check_finite, check_path, is_parquet,
                      iter_batches, open_npy, open_parquet, pick_column, read_npy, vector_columns)

LEAF_COLUMN_GUESSES = ("leaf", "leaf_id", "leaf_index", "label", "class", "wnid", "target")
SAMPLE_ID_GUESSES = ("sample_id", "image", "path", "file", "filename", "image_id")


@dataclass
class SampleColumns:
    """Where a per-sample input's leaves, sample ids and vectors are."""

    path: str
    label: str
    leaf: str  # the leaf column (parquet), or "--leaves FILE" (.npy)
    sample_id: Optional[str]
    vectors: VectorColumns
    num_rows: int
    array: Optional[np.ndarray] = None  # .npy input: the memory-mapped rows
    leaf_values: Optional[np.ndarray] = None  # .npy input: each row's leaf (indices or ids)
    leaves_path: Optional[str] = None


def _npy_samples(path: str, leaves: Optional[str], what: str) -> SampleColumns:
    label = f"{what} {path!r}"
    if leaves is None:
        raise GranularityError(
            f"{label} is a .npy array, which holds no leaves: give --leaves FILE (each row's leaf)")
    arr = read_npy(path, what)
    values = read_leaves(leaves, arr.shape[0], label)
    return SampleColumns(path, label, f"--leaves {Path(leaves).name}", None,
                         VectorColumns(None, [], arr.shape[1]), arr.shape[0], arr, values, leaves)


def read_leaves(path: str, rows: int, samples_label: str) -> np.ndarray:
    """Each row's leaf from ``--leaves``: int64 indices, or an array of string ids."""
    what = "--leaves"
    if path.lower().endswith(".npy"):
        arr = open_npy(path, what, 1, "1-D array (one leaf per row)")
        if np.issubdtype(arr.dtype, np.integer):
            values = np.asarray(arr, dtype=np.int64)
        elif arr.dtype.kind == "U":
            values = np.asarray(arr)
        else:
            raise GranularityError(
                f"{what} {path!r} has dtype {arr.dtype}, expected integer leaf indices or string leaf ids")
    else:
        from ..inputs import decode_lines, read_input

        lines = decode_lines(read_input(path, what), what)
        values = np.array([line.strip() for line in lines], dtype=str)
        blank = np.flatnonzero(values == "")
        if blank.size:
            raise GranularityError(f"{what} {path!r} line {int(blank[0]) + 1} is empty (one leaf id per row)")
    if values.shape[0] != rows:
        raise GranularityError(
            f"{what} {path!r} gives {values.shape[0]:,} leaves but {samples_label} has {rows:,} rows")
    return values


def _match_leaves(sc: SampleColumns, class_ids: Sequence[str]) -> np.ndarray:
    """The ``.npy`` input's leaves as indices into ``class_ids`` (errors name the rows)."""
    v = sc.leaf_values
    n = len(class_ids)
    where = f"--leaves {sc.leaves_path!r}"
    if v.dtype.kind == "i":
        bad = np.flatnonzero((v < 0) | (v >= n))
        if bad.size:
            raise GranularityError(offenders([(int(v[i]), f"row {int(i)}") for i in bad],
                                             f"leaf indices outside 0..{n - 1}", where))
        return v
    uniq, inv = np.unique(v, return_inverse=True)
    index_of = {x: i for i, x in enumerate(class_ids)}
    lut = np.array([index_of.get(str(u), -1) for u in uniq], dtype=np.int64)
    leaf = lut[inv.ravel()]
    bad = np.flatnonzero(leaf < 0)
    if bad.size:
        raise GranularityError(offenders([(str(v[i]), f"row {int(i)}") for i in bad],
                                         "leaf ids not in the class list", where))
    return leaf


def sample_columns(path, leaf_column: Optional[str], sample_id_column: Optional[str],
                   column: Optional[str], what: str = "samples", leaves=None,
                   with_vectors: bool = True) -> SampleColumns:
    """Where the leaves, sample ids and vectors of per-sample input are. Without
    ``with_vectors`` a parquet file needs no vector column (``--instance`` reads none)."""
    path = str(path)
    leaves = None if leaves is None else str(leaves)
    check_path(path, what)
    label = f"{what} {path!r}"
    if path.lower().endswith(".npy") and not is_parquet(path):
        return _npy_samples(path, leaves, what)
    if not is_parquet(path):
        raise GranularityError(f"{label} is neither parquet nor .npy")
    if leaves is not None:
        raise GranularityError(f"--leaves is for .npy samples; {label} is parquet (use --leaf-column)")
    pf = open_parquet(path, what)
    names = [f.name for f in pf.schema_arrow]
    leaf = pick_column(names, leaf_column, LEAF_COLUMN_GUESSES, label, "--leaf-column")
    sid = pick_column(names, sample_id_column, SAMPLE_ID_GUESSES, label, "--sample-id-column", required=False)
    cols = vector_columns(pf.schema_arrow, label, [c for c in (leaf, sid) if c], column) \
        if with_vectors else VectorColumns(None, [], None)
    return SampleColumns(path, label, leaf, sid, cols, pf.metadata.num_rows)


def _iter_npy_batches(sc: SampleColumns, class_ids: Sequence[str], with_vectors: bool,
                      with_sample_ids: bool, batch_rows: int):
    leaf_all = _match_leaves(sc, class_ids)
    for row in range(0, sc.num_rows, batch_rows):
        leaf = leaf_all[row:row + batch_rows]
        vec = None
        if with_vectors:
            vec = np.asarray(sc.array[row:row + batch_rows], dtype=np.float32)
            check_finite(vec, sc.label, lambda i, lf=leaf: class_ids[int(lf[i])], row)
        sids = row_number_ids(row, leaf.size) if with_sample_ids else None
        yield row, leaf, vec, sids


def row_number_ids(first_row: int, rows: int):
    """The sample ids of input without a sample id column: row numbers, as an Arrow string array."""
    import pyarrow as pa

    return int_array(np.arange(first_row, first_row + rows, dtype=np.int64)).cast(pa.string())


def _string_ids(col):
    """A sample id column as an Arrow string array (never as Python strings: 5M of them take
    about 400 MB)."""
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col if pa.types.is_string(col.type) else col.cast(pa.string())


def iter_sample_batches(
    sc: SampleColumns,
    class_ids: Sequence[str],
    *,
    with_vectors: bool = True,
    with_sample_ids: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[tuple[int, np.ndarray, Optional[np.ndarray], Optional[list[str]]]]:
    """Yield ``(first_row, leaf_index, vectors, sample_ids)`` per record batch; the sample ids
    (with ``with_sample_ids``) are an Arrow string array.

    The leaf column holds leaf ids (strings, matched to ``class_ids``) or leaf
    indices (integers 0..N-1). Unknown leaves, NaN/inf and ragged rows raise.
    """
    if sc.array is not None:
        yield from _iter_npy_batches(sc, class_ids, with_vectors, with_sample_ids, batch_rows)
        return
    pf = open_parquet(sc.path, "samples")
    index_of = {x: i for i, x in enumerate(class_ids)}
    cols = [sc.leaf]
    if with_sample_ids and sc.sample_id:
        cols.append(sc.sample_id)
    if with_vectors:
        cols.extend(sc.vectors.names)
    dim = sc.vectors.dim
    row = 0
    for batch in iter_batches(pf, list(dict.fromkeys(cols)), "samples", sc.path, batch_rows):
        leaf = _batch_leaves(batch.column(sc.leaf), sc, index_of, len(class_ids), row)
        vec = None
        if with_vectors:
            vec = batch_vectors(batch, sc.vectors, sc.label, row, dim,
                                lambda i, lf=leaf: class_ids[int(lf[i])])
            dim = vec.shape[1]
            check_finite(vec, sc.label, lambda i, lf=leaf: class_ids[int(lf[i])], row)
        sids = _batch_sample_ids(batch, sc, row) if with_sample_ids else None
        yield row, leaf, vec, sids
        row += batch.num_rows


def _batch_leaves(leafcol, sc: SampleColumns, index_of: dict[str, int], n: int, row: int) -> np.ndarray:
    """One batch's leaf column as indices 0..n-1 (int64): leaf indices checked, or leaf
    ids looked up in ``index_of``; a null, an unknown leaf or another type raises."""
    import pyarrow as pa

    if leafcol.null_count:
        i = int(np.flatnonzero(leafcol.is_null().to_numpy(zero_copy_only=False))[0])
        raise GranularityError(f"{sc.label} row {row + i}: empty value in leaf column {sc.leaf!r}")
    if pa.types.is_integer(leafcol.type):
        leaf = numpy_view(leafcol).astype(np.int64)
        bad = np.flatnonzero((leaf < 0) | (leaf >= n))
        if bad.size:
            raise GranularityError(offenders(
                [(int(leaf[i]), f"row {row + int(i)}") for i in bad],
                f"leaf indices outside 0..{n - 1} in column {sc.leaf!r}", sc.label))
        return leaf
    if not (pa.types.is_string(leafcol.type) or pa.types.is_large_string(leafcol.type)
            or pa.types.is_dictionary(leafcol.type)):
        raise GranularityError(
            f"{sc.label}: leaf column {sc.leaf!r} has type {leafcol.type}, expected leaf ids or indices"
        )
    enc = leafcol.dictionary_encode() if not pa.types.is_dictionary(leafcol.type) else leafcol
    dict_vals = [str(v) for v in enc.dictionary.to_pylist()]
    lut = np.array([index_of.get(v, -1) for v in dict_vals], dtype=np.int64)
    codes = numpy_view(enc.indices).astype(np.int64)
    leaf = lut[codes] if lut.size else np.zeros(0, np.int64)
    bad = np.flatnonzero(leaf < 0)
    if bad.size:
        raise GranularityError(offenders(
            [(dict_vals[codes[i]], f"row {row + int(i)}") for i in bad],
            f"leaf ids not in the class list in column {sc.leaf!r}", sc.label))
    return leaf


def _batch_sample_ids(batch, sc: SampleColumns, row: int):
    """One batch's sample ids as an Arrow string array (the row numbers when the input has
    no sample id column); a null id raises."""
    if not sc.sample_id:
        return row_number_ids(row, batch.num_rows)
    col = batch.column(sc.sample_id)
    if col.null_count:
        i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise GranularityError(
            f"{sc.label} row {row + i}: empty value in sample id column {sc.sample_id!r}")
    return _string_ids(col)


def leaf_indices(sc: SampleColumns, ids: Sequence[str], batch_rows: int) -> np.ndarray:
    """Each sample's leaf index (int32), in one pass over the input's leaf column."""
    parts = [leaf.astype(np.int32) for _, leaf, _, _ in
             iter_sample_batches(sc, ids, with_vectors=False, batch_rows=batch_rows)]
    if not parts or not sum(p.size for p in parts):
        raise GranularityError(f"{sc.label} holds no rows")
    return np.concatenate(parts)


def class_means(sc: SampleColumns, class_ids: Sequence[str], batch_rows: int = BATCH_ROWS,
                progress: Optional[Callable[[int], None]] = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean embedding and sample count of each class, streamed batch by batch.

    Memory: one batch plus the ``(classes, d)`` float64 sums. Classes with no
    sample are an error naming them.
    """
    n = len(class_ids)
    sums = None
    counts = np.zeros(n, dtype=np.int64)
    for row, leaf, vec, _ in iter_sample_batches(sc, class_ids, batch_rows=batch_rows):
        if sums is None:
            sums = np.zeros((n, vec.shape[1]), dtype=np.float64)
        order = np.argsort(leaf, kind="stable")
        sl = leaf[order]
        starts = np.flatnonzero(np.r_[True, sl[1:] != sl[:-1]])
        sums[sl[starts]] += np.add.reduceat(vec[order].astype(np.float64), starts, axis=0)
        counts += np.bincount(leaf, minlength=n)
        if progress:
            progress(len(leaf))
    if sums is None:
        raise GranularityError(f"{sc.label} holds no rows")
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise GranularityError(offenders([(class_ids[i], f"class {i}") for i in empty],
                                         "classes with no sample", sc.label))
    return (sums / counts[:, None]).astype(np.float32), counts
