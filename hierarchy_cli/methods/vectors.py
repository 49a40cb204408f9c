"""Vectors in files: where they are in a parquet schema or a ``.npy`` array, read batch by
batch into float32 matrices, with the checks that name the file, the row and the value.

Shared by the class embeddings (:mod:`.embeddings`) and the per-sample input
(:mod:`.samples`).

- ``.npy``: a 2-D float (or integer) array, memory-mapped.
- parquet: the vectors are either one fixed-size-list or list column of floats
  (``--embedding-column``, else the first such column) or one float column per
  dimension (every other floating-point column, in file order). Files are read one
  row group at a time, so memory stays bounded by a row group.

Problems are :class:`GranularityError`: NaN or infinite values, null values, rows of
the wrong length, files that are missing or not readable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..arrays import numpy_view
from ..errors import GranularityError

BATCH_ROWS = 65536


def check_path(path: str, what: str) -> None:
    """Refuse a ``path`` that is missing, a folder, or not readable (naming ``what``)."""
    p = Path(path)
    if not p.exists():
        raise GranularityError(f"{what} {path!r} does not exist")
    if p.is_dir():
        raise GranularityError(f"{what} {path!r} is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise GranularityError(f"cannot read {what} {path!r}: permission denied")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a reader's error, for a one-line error)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_finite(x: np.ndarray, what: str, row_name: Callable[[int], str], first_row: int = 0) -> None:
    """Raise naming the rows of ``x`` that hold NaN or infinite values."""
    if not x.size or np.isfinite(x).all():
        return
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    shown = ", ".join(f"{row_name(int(i))!r} (row {first_row + int(i)})" for i in bad[:5])
    more = f", ... ({bad.size - 5} more)" if bad.size > 5 else ""
    raise GranularityError(f"{bad.size} rows with NaN or infinite values in {what}: {shown}{more}")


# ----------------------------------------------------------------------------- parquet columns


@dataclass
class VectorColumns:
    """Where the vectors are in a parquet schema: one list column or many float columns."""

    list_column: Optional[str]
    float_columns: list[str]
    dim: Optional[int]  # known from a fixed-size list or the number of float columns

    @property
    def names(self) -> list[str]:
        return [self.list_column] if self.list_column else self.float_columns


def _is_float(t) -> bool:
    import pyarrow as pa

    return pa.types.is_floating(t)


def _is_list(t) -> bool:
    import pyarrow as pa

    return pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)


def _list_size(t) -> Optional[int]:
    import pyarrow as pa

    return t.list_size if pa.types.is_fixed_size_list(t) else None


def vector_columns(schema, what: str, exclude: Sequence[str], column: Optional[str]) -> VectorColumns:
    """Where the vectors are in ``schema``: ``column`` (a list column), else the first list
    column of floats not in ``exclude``, else every other float column, one per dimension."""
    if column is not None:
        return _named_vector_column(schema, what, column)
    for f in schema:
        if f.name not in exclude and _is_list(f.type) and _is_float(f.type.value_type):
            return VectorColumns(f.name, [], _list_size(f.type))
    floats = [f.name for f in schema if f.name not in exclude and _is_float(f.type)]
    if not floats:
        names = [f.name for f in schema]
        raise GranularityError(
            f"{what} has no embedding column: give a list-of-floats column or one float column "
            f"per dimension (columns are: {', '.join(names)})"
        )
    return VectorColumns(None, floats, len(floats))


def _named_vector_column(schema, what: str, column: str) -> VectorColumns:
    """The list column ``column`` (of floats or integers), refused when missing or not a list."""
    import pyarrow as pa

    names = [f.name for f in schema]
    if column not in names:
        raise GranularityError(f"{what} has no column {column!r}; columns are: {', '.join(names)}")
    t = schema.field(column).type
    if _is_list(t) and (_is_float(t.value_type) or pa.types.is_integer(t.value_type)):
        return VectorColumns(column, [], _list_size(t))
    raise GranularityError(f"{what}: column {column!r} has type {t}, expected a list of floats")


def _values(flat) -> np.ndarray:
    """A null-free numeric Arrow array as float32 (through its buffer: pyarrow's
    ``to_numpy`` converts float16 one value at a time)."""
    return numpy_view(flat).astype(np.float32, copy=False)


def batch_vectors(batch, cols: VectorColumns, what: str, first_row: int,
                  expected_dim: Optional[int], row_name: Callable[[int], str]) -> np.ndarray:
    """The ``(rows, d)`` float32 matrix of one record batch (errors name the row)."""
    import pyarrow as pa

    if cols.list_column is None:
        arrs = []
        for name in cols.float_columns:
            a = batch.column(name)
            if a.null_count:
                i = int(np.flatnonzero(a.is_null().to_numpy(zero_copy_only=False))[0])
                raise GranularityError(
                    f"{what} row {first_row + i} ({row_name(i)!r}): column {name!r} is empty"
                )
            arrs.append(_values(a))
        return np.stack(arrs, axis=1) if arrs else np.zeros((batch.num_rows, 0), np.float32)
    a = batch.column(cols.list_column)
    if a.null_count:
        i = int(np.flatnonzero(a.is_null().to_numpy(zero_copy_only=False))[0])
        raise GranularityError(f"{what} row {first_row + i} ({row_name(i)!r}): no embedding (null)")
    if pa.types.is_fixed_size_list(a.type):
        d = a.type.list_size
        flat = a.flatten()
        if flat.null_count:
            i = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0]) // d
            raise GranularityError(f"{what} row {first_row + i} ({row_name(i)!r}): a null value in the embedding")
        mat = _values(flat).reshape(-1, d)
    else:
        offs = numpy_view(a.offsets)
        lens = np.diff(offs)
        want = expected_dim if expected_dim is not None else (int(lens[0]) if lens.size else 0)
        bad = np.flatnonzero(lens != want)
        if bad.size:
            i = int(bad[0])
            raise GranularityError(
                f"dimension mismatch in {what}: row {first_row + i} ({row_name(i)!r}) has "
                f"{int(lens[i])} values, expected {want}"
            )
        flat = a.flatten()
        if flat.null_count:
            i = int(np.searchsorted(offs, np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0],
                                    side="right")) - 1
            raise GranularityError(f"{what} row {first_row + i} ({row_name(i)!r}): a null value in the embedding")
        mat = _values(flat).reshape(-1, want)
    if expected_dim is not None and mat.shape[1] != expected_dim:
        raise GranularityError(
            f"dimension mismatch in {what}: row {first_row} ({row_name(0)!r}) has "
            f"{mat.shape[1]} values, expected {expected_dim}"
        )
    return mat


def open_parquet(path: str, what: str):
    """A ``pyarrow.parquet.ParquetFile``, refused (naming ``what``) when not readable."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:
        raise GranularityError(f"{what} {path!r} is not a readable parquet file: {first_line(exc)}") from None


def iter_batches(pf, columns: list[str], what: str, path: str, batch_rows: int) -> Iterator:
    """Record batches, one row group at a time.

    ``ParquetFile.iter_batches`` over the whole file keeps memory growing with
    the file (measured: +290 MB over 1M rows x 64 floats), so row groups are
    read one by one, cut into batches, and the pool's unused memory is
    released after each: memory stays bounded by a row group.
    """
    import pyarrow as pa

    try:
        for rg in range(pf.metadata.num_row_groups):
            table = pf.read_row_group(rg, columns=columns)
            yield from table.to_batches(max_chunksize=batch_rows)
            del table
            pa.default_memory_pool().release_unused()
    except GranularityError:
        raise
    except Exception as exc:
        raise GranularityError(f"{what} {path!r} is not a readable parquet file: {first_line(exc)}") from None


def pick_column(names: list[str], given: Optional[str], guesses: Sequence[str], what: str, option: str,
                required: bool = True) -> Optional[str]:
    """The column ``given`` (refused when missing), else the first of ``guesses`` present;
    none found is an error naming ``option`` unless not ``required``."""
    if given is not None:
        if given not in names:
            raise GranularityError(f"{what} has no column {given!r} ({option}); columns are: {', '.join(names)}")
        return given
    for g in guesses:
        if g in names:
            return g
    if required:
        raise GranularityError(
            f"{what} has no id column (tried {', '.join(guesses)}); name it with {option}"
        )
    return None


def is_parquet(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


# ----------------------------------------------------------------------------- .npy


def open_npy(path: str, what: str, ndim: int, shape_hint: str) -> np.ndarray:
    """A ``.npy`` array of ``ndim`` dimensions, memory-mapped (errors name ``what``)."""
    check_path(path, what)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise GranularityError(f"{what} {path!r} is not a readable .npy file: {first_line(exc)}") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != ndim:
        shape = getattr(arr, "shape", "?")
        raise GranularityError(f"{what} {path!r} must be a {shape_hint}, not shape {shape}")
    return arr


def read_npy(path: str, what: str = "embeddings") -> np.ndarray:
    """A 2-D float ``.npy`` array, memory-mapped."""
    arr = open_npy(path, what, 2, "2-D array (rows x dims)")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise GranularityError(f"{what} {path!r} has dtype {arr.dtype}, expected floats")
    return arr
