"""Reading embeddings: class embeddings (one row per leaf) and per-sample ones.

Formats
-------
- ``.npy``: a 2-D float array, memory-mapped; one row per class in class-list
  order (there is no id column to match).
- parquet: an id column (``--id-column``, else the first of ``wnid``,
  ``leaf_id``, ``id``, ``class``...) and the vectors, either one fixed-size-list
  or list column of floats (``--column``, else the first such column) or one
  float column per dimension (every other floating-point column, in file
  order). Rows may come in any order; they are matched to the class list by id.

Per-sample input (``--samples``) is a parquet file with a leaf column, read in
record batches, or a 2-D ``.npy`` array (memory-mapped, read in row blocks) with
``--leaves``: a file giving each row's leaf, either a 1-D ``.npy`` array
(integer leaf indices 0..N-1 of the class list, or string leaf ids) or text with
one leaf id per line. Either way the memory used is bounded by a batch (plus the
``(classes, d)`` sums, and for ``.npy`` input the leaf of every row), never by
the embeddings.

Every problem is a :class:`GranularityError` naming the file, the row and the
value: NaN or infinite values, rows of the wrong length, ids missing from or
extra to the class list, duplicate ids, files that are not readable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..arrays import int_array, numpy_view
from ..errors import GranularityError, offenders
from ..inputs import ID_COLUMN_GUESSES, file_sha256

LEAF_COLUMN_GUESSES = ("leaf", "leaf_id", "leaf_index", "label", "class", "wnid", "target")
SAMPLE_ID_GUESSES = ("sample_id", "image", "path", "file", "filename", "image_id")
BATCH_ROWS = 65536


def describe_file(path: str | os.PathLike) -> dict[str, str]:
    return {"name": Path(path).name, "sha256": file_sha256(path)}


def _check_path(path: str, what: str) -> None:
    p = Path(path)
    if not p.exists():
        raise GranularityError(f"{what} {path!r} does not exist")
    if p.is_dir():
        raise GranularityError(f"{what} {path!r} is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise GranularityError(f"cannot read {what} {path!r}: permission denied")


def _first_line(exc: BaseException) -> str:
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


def vector_columns(schema, what: str, exclude: Sequence[str], column: Optional[str]) -> VectorColumns:
    import pyarrow as pa

    names = [f.name for f in schema]
    if column is not None:
        if column not in names:
            raise GranularityError(f"{what} has no column {column!r}; columns are: {', '.join(names)}")
        t = schema.field(column).type
        if (pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)) \
                and (_is_float(t.value_type) or pa.types.is_integer(t.value_type)):
            return VectorColumns(column, [], t.list_size if pa.types.is_fixed_size_list(t) else None)
        raise GranularityError(f"{what}: column {column!r} has type {t}, expected a list of floats")
    for f in schema:
        t = f.type
        if f.name in exclude:
            continue
        if (pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)) \
                and _is_float(t.value_type):
            return VectorColumns(f.name, [], t.list_size if pa.types.is_fixed_size_list(t) else None)
    floats = [f.name for f in schema if f.name not in exclude and _is_float(f.type)]
    if not floats:
        raise GranularityError(
            f"{what} has no embedding column: give a list-of-floats column or one float column "
            f"per dimension (columns are: {', '.join(names)})"
        )
    return VectorColumns(None, floats, len(floats))


def _values(flat) -> np.ndarray:
    """A null-free numeric Arrow array as float32 (through its buffer: pyarrow's
    ``to_numpy`` imports pandas, and converts float16 one value at a time)."""
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


def _open_parquet(path: str, what: str):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:
        raise GranularityError(f"{what} {path!r} is not a readable parquet file: {_first_line(exc)}") from None


def _iter_batches(pf, columns: list[str], what: str, path: str, batch_rows: int) -> Iterator:
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
        raise GranularityError(f"{what} {path!r} is not a readable parquet file: {_first_line(exc)}") from None


def _pick(names: list[str], given: Optional[str], guesses: Sequence[str], what: str, option: str,
          required: bool = True) -> Optional[str]:
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


# ----------------------------------------------------------------------------- class embeddings


@dataclass
class ClassEmbeddings:
    """A ``(classes, d)`` float32 matrix in class-list order, with where it came from."""

    matrix: np.ndarray
    ids: Optional[list[str]]  # the file's ids in file order (parquet), None for .npy
    source: dict


def _open_npy(path: str, what: str, ndim: int, shape_hint: str) -> np.ndarray:
    """A ``.npy`` array of ``ndim`` dimensions, memory-mapped (errors name ``what``)."""
    _check_path(path, what)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise GranularityError(f"{what} {path!r} is not a readable .npy file: {_first_line(exc)}") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != ndim:
        shape = getattr(arr, "shape", "?")
        raise GranularityError(f"{what} {path!r} must be a {shape_hint}, not shape {shape}")
    return arr


def read_npy(path: str, what: str = "embeddings") -> np.ndarray:
    """A 2-D float ``.npy`` array, memory-mapped."""
    arr = _open_npy(path, what, 2, "2-D array (rows x dims)")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise GranularityError(f"{what} {path!r} has dtype {arr.dtype}, expected floats")
    return arr


def read_class_embeddings(
    path: str,
    class_ids: Optional[Sequence[str]],
    *,
    id_column: Optional[str] = None,
    column: Optional[str] = None,
    what: str = "embeddings",
    batch_rows: int = BATCH_ROWS,
    allow_extra: bool = False,
) -> ClassEmbeddings:
    """Class embeddings from ``.npy`` or parquet, aligned to ``class_ids``.

    With ``class_ids`` ``None`` a parquet file's own id order is the class list;
    a ``.npy`` file's rows are the classes in order either way. Parquet ids
    that are not in the class list are an error unless ``allow_extra`` (used
    for the embedded default, which covers all of ImageNet-21k).
    """
    label = f"{what} {path!r}"
    _check_path(path, what)
    if not is_parquet(path):
        if not path.lower().endswith(".npy"):
            with open(path, "rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise GranularityError(f"{label} is neither parquet nor .npy")
        arr = read_npy(path, what)
        if class_ids is not None and arr.shape[0] != len(class_ids):
            raise GranularityError(
                f"{label} has {arr.shape[0]:,} rows but the class list has {len(class_ids):,} classes "
                "(a .npy file holds one row per class, in class-list order)"
            )
        mat = np.empty(arr.shape, dtype=np.float32)
        for s in range(0, arr.shape[0], batch_rows):
            mat[s:s + batch_rows] = arr[s:s + batch_rows]
        names = (lambda i: class_ids[i]) if class_ids is not None else str
        check_finite(mat, label, names)
        return ClassEmbeddings(mat, None, describe_file(path))

    pf = _open_parquet(path, what)
    schema = pf.schema_arrow
    names = [f.name for f in schema]
    idc = _pick(names, id_column, ID_COLUMN_GUESSES, label, "--id-column")
    cols = vector_columns(schema, label, [idc], column)
    import pyarrow as pa

    if not (pa.types.is_string(schema.field(idc).type) or pa.types.is_large_string(schema.field(idc).type)
            or pa.types.is_integer(schema.field(idc).type)):
        raise GranularityError(f"{label}: id column {idc!r} has type {schema.field(idc).type}, expected strings")
    file_ids: list[str] = []
    blocks = []
    dim = cols.dim
    row = 0
    for batch in _iter_batches(pf, [idc, *cols.names], what, path, batch_rows):
        col = batch.column(idc)
        if col.null_count:
            i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise GranularityError(f"{label} row {row + i}: empty id in column {idc!r}")
        ids = [str(v) for v in col.to_pylist()]
        mat = batch_vectors(batch, cols, label, row, dim, lambda i, ids=ids: ids[i])
        dim = mat.shape[1]
        file_ids.extend(ids)
        blocks.append(mat)
        row += batch.num_rows
    if not file_ids:
        raise GranularityError(f"{label} holds no rows")
    full = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    check_finite(full, label, lambda i: file_ids[i])
    pos: dict[str, int] = {}
    dup = []
    for i, x in enumerate(file_ids):
        if x in pos:
            dup.append((x, f"row {i}, first at row {pos[x]}"))
        else:
            pos[x] = i
    if dup:
        raise GranularityError(offenders(dup, f"duplicate ids in column {idc!r}", label))
    if class_ids is None:
        return ClassEmbeddings(np.ascontiguousarray(full, dtype=np.float32), file_ids, describe_file(path))
    wanted = set(class_ids)
    extra = [(x, f"row {i}") for i, x in enumerate(file_ids) if x not in wanted]
    if extra and not allow_extra:
        raise GranularityError(offenders(extra, "ids not in the class list", label))
    missing = [(x, f"class {i}") for i, x in enumerate(class_ids) if x not in pos]
    if missing:
        raise GranularityError(offenders(missing, "classes with no embedding", label))
    order = np.fromiter((pos[x] for x in class_ids), dtype=np.int64, count=len(class_ids))
    return ClassEmbeddings(np.ascontiguousarray(full[order], dtype=np.float32), file_ids, describe_file(path))


# ----------------------------------------------------------------------------- per-sample embeddings


@dataclass
class SampleColumns:
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
        arr = _open_npy(path, what, 1, "1-D array (one leaf per row)")
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
    _check_path(path, what)
    label = f"{what} {path!r}"
    if path.lower().endswith(".npy") and not is_parquet(path):
        return _npy_samples(path, leaves, what)
    if not is_parquet(path):
        raise GranularityError(f"{label} is neither parquet nor .npy")
    if leaves is not None:
        raise GranularityError(f"--leaves is for .npy samples; {label} is parquet (use --leaf-column)")
    pf = _open_parquet(path, what)
    names = [f.name for f in pf.schema_arrow]
    leaf = _pick(names, leaf_column, LEAF_COLUMN_GUESSES, label, "--leaf-column")
    sid = _pick(names, sample_id_column, SAMPLE_ID_GUESSES, label, "--sample-id-column", required=False)
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
    import pyarrow as pa

    pf = _open_parquet(sc.path, "samples")
    n = len(class_ids)
    index_of = {x: i for i, x in enumerate(class_ids)}
    cols = [sc.leaf]
    if with_sample_ids and sc.sample_id:
        cols.append(sc.sample_id)
    if with_vectors:
        cols.extend(sc.vectors.names)
    dim = sc.vectors.dim
    row = 0
    for batch in _iter_batches(pf, list(dict.fromkeys(cols)), "samples", sc.path, batch_rows):
        leafcol = batch.column(sc.leaf)
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
        elif pa.types.is_string(leafcol.type) or pa.types.is_large_string(leafcol.type) \
                or pa.types.is_dictionary(leafcol.type):
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
        else:
            raise GranularityError(
                f"{sc.label}: leaf column {sc.leaf!r} has type {leafcol.type}, expected leaf ids or indices"
            )
        vec = None
        if with_vectors:
            vec = batch_vectors(batch, sc.vectors, sc.label, row, dim,
                                lambda i, lf=leaf: class_ids[int(lf[i])])
            dim = vec.shape[1]
            check_finite(vec, sc.label, lambda i, lf=leaf: class_ids[int(lf[i])], row)
        sids = None
        if with_sample_ids:
            if sc.sample_id:
                col = batch.column(sc.sample_id)
                if col.null_count:
                    i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                    raise GranularityError(
                        f"{sc.label} row {row + i}: empty value in sample id column {sc.sample_id!r}")
                sids = _string_ids(col)
            else:
                sids = row_number_ids(row, batch.num_rows)
        yield row, leaf, vec, sids
        row += batch.num_rows


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
