"""The leaf embeddings that ``cluster`` clusters: one vector per leaf class.

:func:`load_leaf_embeddings` finds them in one of four places: the embedded default
(``hierarchy_cli/data/class_gloss_minilm_pca128.parquet``, one vector per class of
every shipped class list), an array, a class-embedding file (:func:`read_class_embeddings`),
or per-sample embeddings, whose class means are taken (:mod:`.samples`).

Class-embedding files
---------------------
- ``.npy``: a 2-D float array, memory-mapped; one row per class in class-list
  order (there is no id column to match).
- parquet: an id column (``--id-column``, else the first of ``wnid``,
  ``leaf_id``, ``id``, ``class``...) and the vectors (see :mod:`.vectors`). Rows
  may come in any order; they are matched to the class list by id.

Every problem is a :class:`GranularityError` naming the file, the row and the
value: NaN or infinite values, rows of the wrong length, ids missing from or
extra to the class list, duplicate ids, files that are not readable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import GranularityError, offenders
from ..inputs import ID_COLUMN_GUESSES, file_sha256
from ..manifests import DEFAULT_DATASET
from .vectors import (BATCH_ROWS, batch_vectors, check_finite, check_path, is_parquet, iter_batches,
                      open_parquet, pick_column, read_npy, vector_columns)

DEFAULT_EMBEDDINGS = "class_gloss_minilm_pca128.parquet"


def describe_file(path: str | os.PathLike) -> dict[str, str]:
    return {"name": Path(path).name, "sha256": file_sha256(path)}


# ----------------------------------------------------------------------------- class embeddings


@dataclass
class ClassEmbeddings:
    """A ``(classes, d)`` float32 matrix in class-list order, with where it came from."""

    matrix: np.ndarray
    ids: Optional[list[str]]  # the file's ids in file order (parquet), None for .npy
    source: dict


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
    check_path(path, what)
    if not is_parquet(path):
        return _read_npy_embeddings(path, class_ids, label, what, batch_rows)
    idc, file_ids, full = _read_parquet_embeddings(path, label, what, id_column, column, batch_rows)
    pos = _positions(file_ids, idc, label)
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


def _read_npy_embeddings(path: str, class_ids: Optional[Sequence[str]], label: str, what: str,
                         batch_rows: int) -> ClassEmbeddings:
    """A ``.npy`` file's rows, the classes in class-list order, copied a block at a time."""
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


def _read_parquet_embeddings(path: str, label: str, what: str, id_column: Optional[str],
                             column: Optional[str], batch_rows: int) -> tuple[str, list[str], np.ndarray]:
    """``(id column, ids, matrix)`` of a parquet file, in file order, checked row by row."""
    import pyarrow as pa

    pf = open_parquet(path, what)
    schema = pf.schema_arrow
    idc = pick_column([f.name for f in schema], id_column, ID_COLUMN_GUESSES, label, "--id-column")
    cols = vector_columns(schema, label, [idc], column)
    idt = schema.field(idc).type
    if not (pa.types.is_string(idt) or pa.types.is_large_string(idt) or pa.types.is_integer(idt)):
        raise GranularityError(f"{label}: id column {idc!r} has type {idt}, expected strings")
    file_ids: list[str] = []
    blocks = []
    dim = cols.dim
    row = 0
    for batch in iter_batches(pf, [idc, *cols.names], what, path, batch_rows):
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
    return idc, file_ids, full


def _positions(file_ids: list[str], idc: str, label: str) -> dict[str, int]:
    """Each id's row; a repeated id is an error naming both rows."""
    from ..inputs import find_duplicates

    dup = find_duplicates(file_ids, lambda i: f"row {i}")
    if dup:
        raise GranularityError(offenders(dup, f"duplicate ids in column {idc!r}", label))
    return {x: i for i, x in enumerate(file_ids)}


# ----------------------------------------------------------------------------- the leaf embeddings


def default_embeddings_path() -> str:
    """The embedded default embeddings' path, refused when the installation lacks them."""
    from importlib import resources

    path = str(resources.files("hierarchy_cli.data").joinpath(DEFAULT_EMBEDDINGS))
    if not os.path.isfile(path):
        raise GranularityError(
            f"the embedded default embeddings {path!r} are missing: reinstall granularity, "
            "or give --embeddings FILE"
        )
    return path


def resolve_class_ids(classes, dataset, column, default: Optional[str], is_id=None):
    """``(ids or None, metadata, display name)`` from --classes / --dataset (or ``default``)."""
    from ..manifests import resolve_classes as resolve

    found = resolve(classes, dataset, column, default=default, is_id=is_id)
    if found is None:
        return None, None, None
    idl, meta, name = found
    return list(idl.ids), meta, name


def load_leaf_embeddings(
    embeddings=None, classes=None, dataset=None, column=None, id_column=None, samples=None,
    leaf_column=None, embedding_column=None, batch_rows: int = 65536, progress=None,
    leaves=None,
):
    """``(class_ids, matrix, meta, where)``: the leaves and one vector per leaf, from
    ``samples`` (the class means), the embedded default (``embeddings`` ``None``), an
    array or a file; ``where`` names the class list in errors."""
    if embeddings is not None and samples is not None:
        raise GranularityError("give --embeddings or --samples, not both")
    if leaves is not None and samples is None:
        raise GranularityError("--leaves gives the leaf of each row of --samples FILE.npy: give --samples too")
    if samples is not None:
        return _sample_means(samples, classes, dataset, column, leaf_column, embedding_column, leaves,
                             batch_rows, progress)
    if embeddings is None:
        return _default_embeddings(classes, dataset, column)
    if isinstance(embeddings, np.ndarray):
        return _array_embeddings(embeddings, classes, dataset, column)
    return _file_embeddings(embeddings, classes, dataset, column, id_column, embedding_column)


def _sample_means(samples, classes, dataset, column, leaf_column, embedding_column, leaves,
                  batch_rows: int, progress):
    """The leaves of the class list (default: the default dataset) and their samples' means."""
    from .samples import class_means, sample_columns

    ids, cmeta, where = resolve_class_ids(classes, dataset, column, DEFAULT_DATASET)
    sc = sample_columns(samples, leaf_column, None, embedding_column, leaves=leaves)
    tick = (lambda m: progress("averaging", m, sc.num_rows)) if progress else None
    x, counts = class_means(sc, ids, batch_rows, tick)
    meta = {"samples": {**samples_meta(samples, sc), "num_samples": int(counts.sum())}, "classes": cmeta}
    return ids, x, meta, where


def _default_embeddings(classes, dataset, column):
    """The class list's rows of the embedded default (whose ids are wnids)."""
    from ..sources.wordnet import WNID_RE

    path = default_embeddings_path()
    ids, cmeta, where = resolve_class_ids(classes, dataset, column, DEFAULT_DATASET, WNID_RE.fullmatch)
    emb = read_class_embeddings(path, ids, what="embedded default embeddings", allow_extra=True)
    meta = {"embeddings": {**emb.source, "default": True}, "classes": cmeta}
    return ids, emb.matrix, meta, where


def _array_embeddings(embeddings: np.ndarray, classes, dataset, column):
    """An array's rows: the classes of the class list, in order, or classes named by row."""
    import hashlib

    ids, cmeta, where = resolve_class_ids(classes, dataset, column, None)
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise GranularityError(f"embeddings must be 2-D (classes x dims), not shape {x.shape}")
    if ids is None:
        ids = [str(i) for i in range(x.shape[0])]
        cmeta = {"name": "<rows>", "num_classes": len(ids)}
    elif len(ids) != x.shape[0]:
        raise GranularityError(f"{x.shape[0]} embedding rows for {len(ids)} classes")
    check_finite(x, "embeddings", lambda i: ids[i])
    meta = {"embeddings": {"name": "<array>", "sha256": hashlib.sha256(x.tobytes()).hexdigest(),
                           "shape": list(x.shape)}, "classes": cmeta}
    return ids, x, meta, where or "embeddings"


def _file_embeddings(embeddings, classes, dataset, column, id_column, embedding_column):
    """A class-embedding file's rows, matched to the class list (without one: the file's
    own ids, in file order, or its rows)."""
    ids, cmeta, where = resolve_class_ids(classes, dataset, column, None)
    emb = read_class_embeddings(str(embeddings), ids, id_column=id_column, column=embedding_column)
    source: dict[str, Any] = dict(emb.source)
    if id_column:
        source["id_column"] = id_column
    if embedding_column:
        source["column"] = embedding_column
    if ids is None:
        where = f"embeddings {os.path.basename(str(embeddings))!r}"
        if emb.ids is not None:
            ids = emb.ids
            cmeta = {"from": "embeddings", "num_classes": len(ids)}
        else:
            ids = [str(i) for i in range(emb.matrix.shape[0])]
            cmeta = {"from": "rows", "num_classes": len(ids)}
    return ids, emb.matrix, {"embeddings": source, "classes": cmeta}, where


def samples_meta(samples, sc) -> dict:
    """Provenance of per-sample input: file name and sha256, and where the leaves came from."""
    if sc.leaves_path is not None:
        return {**describe_file(samples), "leaves": describe_file(sc.leaves_path)}
    return {**describe_file(samples), "leaf_column": sc.leaf, "sample_id_column": sc.sample_id}
