"""The label-map schema (version 1): its columns, and the rules a table read back must keep.

One row per leaf, ordered by ``leaf_index``; columns ``leaf_index``, ``leaf_id``,
``leaf_name`` and, per level, ``<level>`` (int32), ``<level>_id``, ``<level>_name``;
the file metadata key ``granularity`` holds JSON describing how the file was made.
:func:`checked_table` applies the rules of docs/format.md ("Reading a label map") once,
for :func:`hierarchy_cli.labelmap.read_label_map`: a table that breaks one is refused
with a :class:`GranularityError` naming the file, the column and the first bad value;
nothing is renumbered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import GranularityError
from .hierarchy import OUTSIDE

SCHEMA_VERSION = 1
METADATA_KEY = b"granularity"
LEAF_COLUMNS = ("leaf_index", "leaf_id", "leaf_name")
INT32_MAX = 2**31 - 1


def level_columns(columns: Sequence[str]) -> list[str]:
    """The level columns of a table without a level list: every ``X`` that has ``X_id`` and ``X_name``."""
    names = set(columns)
    return [c for c in columns
            if c not in LEAF_COLUMNS and f"{c}_id" in names and f"{c}_name" in names]


def checked_table(table, meta: dict, where: str) -> tuple[Any, list[str], dict[str, np.ndarray]]:
    """``table`` checked and cast to the canonical column types (int32 labels, ``string``
    ids and names), with its level names and, per level, its labels as int32
    (:data:`OUTSIDE` where null). ``meta`` is the file's ``granularity`` JSON; errors
    start with ``where`` (``label map 'x.parquet'``)."""
    import pyarrow as pa

    stored = table.schema.metadata
    table = _drop_pandas_index(table)
    cols = table.column_names
    schema = meta.get("schema")
    if schema is not None and schema != SCHEMA_VERSION:
        raise GranularityError(f"{where} has schema version {schema!r}; this tool reads {SCHEMA_VERSION}")
    for c in LEAF_COLUMNS:
        if c not in cols:
            raise GranularityError(f"{where} is missing column {c!r}")
    extra = _extra_columns(meta, cols, where)
    levels = _levels_of(meta, [c for c in cols if c not in extra], where)
    recorded = meta.get("num_leaves")
    if recorded is not None and recorded != table.num_rows:
        raise GranularityError(f"{where}: its metadata says {recorded!r} leaves but it has {table.num_rows} rows")
    out = _leaf_columns(table, where)
    recorded_k = meta.get("num_classes")
    recorded_k = recorded_k if isinstance(recorded_k, dict) else {}
    labels = {lv: _level(table, lv, recorded_k.get(lv), where, out) for lv in levels}
    for c in extra:  # per-leaf columns that are not levels, listed in the metadata
        if c in out:
            raise GranularityError(f"{where}: extra column {c!r} clashes with a level column")
        out[c] = table.column(c)
    canonical = pa.Table.from_arrays(list(out.values()), names=list(out))
    if stored and METADATA_KEY in stored:
        canonical = canonical.replace_schema_metadata({METADATA_KEY: stored[METADATA_KEY]})
    return canonical, levels, labels


def _leaf_columns(table, where: str) -> dict[str, Any]:
    """The leaf columns, checked: ``leaf_index`` is 0..N-1 in order, ``leaf_id`` unique."""
    n = table.num_rows
    index = _int_column(table, "leaf_index", where, "row")
    if not np.array_equal(index, np.arange(n)):
        bad = int(np.flatnonzero(index != np.arange(n))[0])
        raise GranularityError(f"{where}: leaf_index is not 0..N-1 in order: row {bad} holds {int(index[bad])}")
    out: dict[str, Any] = {"leaf_index": _as_int32(table.column("leaf_index"))}
    for c in ("leaf_id", "leaf_name"):
        out[c] = _string_column(table, c, where)
    ids = out["leaf_id"].to_pylist()
    if len(set(ids)) != n:
        first: dict[str, int] = {}
        for i, x in enumerate(ids):
            if x in first:
                raise GranularityError(f"{where}: leaf_id {x!r} appears twice (leaves {first[x]} and {i})")
            first[x] = i
    return out


def _level(table, level: str, recorded: Any, where: str, out: dict[str, Any]) -> np.ndarray:
    """Check ``level``'s three columns (against the metadata's class count ``recorded``),
    add them to ``out`` in canonical types, and return its labels."""
    lab, outside = _label_column(table, level, where)
    k = int(lab.max()) + 1 if lab.size and lab.max() >= 0 else 0
    if recorded is not None and recorded != k:
        raise GranularityError(f"{where}: its metadata says level {level!r} has {recorded!r} classes but it has {k}")
    out[level] = _as_int32(table.column(level))
    for suffix in ("id", "name"):
        c = f"{level}_{suffix}"
        out[c] = _string_column(table, c, where, outside, level)
        _check_one_value_per_label(out[c].to_pylist(), lab, c, where)
    return lab


def _drop_pandas_index(table):
    """``table`` without the index columns pandas' ``to_parquet`` adds (not data)."""
    import re

    raw = (table.schema.metadata or {}).get(b"pandas")
    index = []
    if raw:
        try:
            index = [c for c in json.loads(raw).get("index_columns", []) if isinstance(c, str)]
        except (ValueError, AttributeError):
            index = []
    index += [c for c in table.column_names if re.fullmatch(r"__index_level_\d+__", c)]
    drop = [c for c in dict.fromkeys(index) if c in table.column_names and c not in LEAF_COLUMNS]
    return table.drop_columns(drop) if drop else table


def _extra_columns(meta: dict, cols: list[str], where: str) -> list[str]:
    """The metadata's ``extra_columns`` (per-leaf columns that are not levels)."""
    listed = meta.get("extra_columns", [])
    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
        raise GranularityError(f"{where}: the metadata's 'extra_columns' is not a list of column names")
    for c in listed:
        if c not in cols:
            raise GranularityError(f"{where} is missing column {c!r} (the metadata lists it in extra_columns)")
        if c in LEAF_COLUMNS:
            raise GranularityError(f"{where}: the metadata lists leaf column {c!r} in extra_columns")
    return listed


def _levels_of(meta: dict, cols: list[str], where: str) -> list[str]:
    """The level names: the metadata's ``levels``, else every ``X`` with ``X_id`` and
    ``X_name`` columns; every other column is an error (it would be ignored)."""
    listed = meta.get("levels")
    levels = level_columns(cols) if listed is None else _listed_levels(listed, cols, where)
    known = set(LEAF_COLUMNS).union(*({lv, f"{lv}_id", f"{lv}_name"} for lv in levels))
    stray = next((c for c in cols if c not in known), None)
    if stray is not None:
        raise _stray_column(stray, cols, listed, where)
    if not levels:
        raise GranularityError(f"{where} has no level columns")
    return levels


def _listed_levels(listed: Any, cols: list[str], where: str) -> list[str]:
    """The metadata's ``levels``: a list of distinct names, each with its three columns."""
    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
        raise GranularityError(f"{where}: the metadata's 'levels' is not a list of column names")
    if len(set(listed)) != len(listed):
        dup = next(x for x in listed if listed.count(x) > 1)
        raise GranularityError(f"{where}: the metadata lists level {dup!r} twice")
    for lv in listed:
        for c in (lv, f"{lv}_id", f"{lv}_name"):
            if c not in cols:
                raise GranularityError(f"{where} is missing column {c!r} (the metadata lists level {lv!r})")
    return list(listed)


def _stray_column(c: str, cols: list[str], listed: list[str] | None, where: str) -> GranularityError:
    """The error for column ``c``, which belongs to no level: what it lacks to be one."""
    if listed is not None:
        return GranularityError(f"{where}: column {c!r} is not one of the levels its metadata lists "
                                f"({', '.join(listed)})")
    if c.endswith(("_id", "_name")):
        lv = c.rsplit("_", 1)[0]
        if lv in cols:
            gap = f"{lv}_name" if c.endswith("_id") else f"{lv}_id"
            return GranularityError(f"{where} is missing column {gap!r} (for level {lv!r})")
        return GranularityError(f"{where} is missing column {lv!r} (the labels of {c!r})")
    gap = next(x for x in (f"{c}_id", f"{c}_name") if x not in cols)
    return GranularityError(f"{where} is missing column {gap!r} (for level {c!r})")


def _label_column(table, level: str, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A level's labels as int32, :data:`OUTSIDE` where null (a leaf outside the level's
    label space), and the null mask (``None`` without nulls); the labels are checked."""
    import pyarrow as pa

    col = table.column(level)
    if not col.null_count:
        lab = _int_column(table, level, where, "leaf")
        _check_labels(lab, level, where)
        return lab.astype(np.int32), None
    if not pa.types.is_integer(col.type):
        raise GranularityError(f"{where}: column {level!r} has type {col.type}, expected integers (int32)")
    values = col.to_pylist()
    outside = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    inside = np.asarray([v for v in values if v is not None],
                        dtype=object if col.type == pa.uint64() else np.int64)
    _check_labels(inside, level, where, np.flatnonzero(~outside))
    lab = np.full(len(values), OUTSIDE, dtype=np.int32)
    lab[~outside] = inside.astype(np.int32)
    return lab, outside


def _int_column(table, name: str, where: str, row: str) -> np.ndarray:
    """An integer column as int64 numpy (no nulls, values within int64)."""
    import pyarrow as pa

    col = table.column(name)
    if not pa.types.is_integer(col.type):
        raise GranularityError(f"{where}: column {name!r} has type {col.type}, expected integers (int32)")
    values = col.to_pylist()
    if col.null_count:
        raise GranularityError(f"{where}: column {name!r} has a missing value at {row} {values.index(None)}")
    # uint64 values may not fit int64: keep them as Python ints for the range check
    return np.asarray(values, dtype=object if col.type == pa.uint64() else np.int64)


def _as_int32(col):
    """An integer column (already checked to fit) as one int32 array."""
    import pyarrow as pa

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return col if col.type == pa.int32() else col.cast(pa.int32())


def _check_labels(lab: np.ndarray, level: str, where: str, leaves: np.ndarray | None = None) -> None:
    """Labels are 0..K-1 and each is used: then the label is the class index. ``leaves``
    are the leaf indices of ``lab``'s values (default 0..N-1; only labelled leaves with nulls)."""
    if lab.size == 0:
        return
    leaf = (lambda i: i) if leaves is None else (lambda i: int(leaves[i]))
    neg = np.flatnonzero(lab < 0)
    if neg.size:
        i = int(neg[0])
        raise GranularityError(f"{where}: column {level!r} has label {int(lab[i])} at leaf {leaf(i)}; labels must "
                               "be >= 0 (a leaf outside the level's label space has a null label)")
    big = np.flatnonzero(lab > INT32_MAX)
    if big.size:
        i = int(big[0])
        raise GranularityError(
            f"{where}: column {level!r} has label {int(lab[i])} at leaf {leaf(i)}, beyond int32 ({INT32_MAX})"
        )
    lab = lab.astype(np.int64)
    top = int(lab.max())
    if top >= lab.size:
        used = np.unique(lab)
    else:
        used = np.flatnonzero(np.bincount(lab, minlength=top + 1))
    if used.size != top + 1:
        gap = int(np.flatnonzero(used != np.arange(used.size))[0]) if used.size else 0
        raise GranularityError(
            f"{where}: column {level!r} uses labels up to {top} but not label {gap}; labels must be "
            f"0..K-1 with every label used (renumber them, e.g. by first appearance)"
        )


def _string_column(table, name: str, where: str, outside: np.ndarray | None = None, level: str | None = None):
    """A string-like column (string, large_string, string_view, dictionary) as ``string``;
    null exactly where ``outside`` (a level's ``_id``/``_name`` of leaves outside it)."""
    import pyarrow as pa

    col = table.column(name)
    typ = col.type
    value = typ.value_type if pa.types.is_dictionary(typ) else typ
    if not (pa.types.is_string(value) or pa.types.is_large_string(value) or pa.types.is_string_view(value)):
        raise GranularityError(f"{where}: column {name!r} has type {typ}, expected strings")
    if col.null_count or outside is not None:
        null = np.fromiter((v is None for v in col.to_pylist()), dtype=bool, count=len(col))
        expected = np.zeros(len(col), dtype=bool) if outside is None else outside
        if not np.array_equal(null, expected):
            row = int(np.flatnonzero(null != expected)[0])
            if null[row]:
                raise GranularityError(f"{where}: column {name!r} has a missing value at leaf {row}")
            raise GranularityError(f"{where}: column {name!r} has a value at leaf {row}, whose {level!r} label is "
                                   "null (a leaf outside the level has a null id and name too)")
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return col if typ == pa.string() else col.cast(pa.string())


def _check_one_value_per_label(values: list[str], labels: np.ndarray, column: str, where: str) -> None:
    """Every leaf of a label has the same id (or name) in ``column`` (outside leaves have none)."""
    inside = np.flatnonzero(labels >= 0)
    if not values or inside.size == 0:
        return
    lab = labels[inside]
    _, firsts = np.unique(lab, return_index=True)  # labels are 0..K-1: firsts[k] is label k's first
    first_of = inside[firsts[lab]]
    arr = np.asarray(values, dtype=object)
    bad = np.flatnonzero(arr[inside] != arr[first_of])
    if bad.size:
        i, j = int(inside[bad[0]]), int(first_of[bad[0]])
        raise GranularityError(
            f"{where}: column {column!r} has two values for label {int(labels[i])}: "
            f"{values[j]!r} (leaf {j}) and {values[i]!r} (leaf {i})"
        )
