"""The label-map file: parquet, schema version 1 (see DESIGN.md).

One row per leaf, ordered by ``leaf_index``; columns ``leaf_index``, ``leaf_id``,
``leaf_name`` and, per level, ``<level>`` (int32), ``<level>_id``, ``<level>_name``.
File metadata key ``granularity`` holds JSON describing how the file was made.
Same hierarchy and metadata in, byte-identical file out.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import __version__
from .arrays import int32_array, string_array
from .errors import GranularityError
from .hierarchy import OUTSIDE, Hierarchy, Level, first_appearance_labels
from .outputs import write_table

SCHEMA_VERSION = 1
METADATA_KEY = b"granularity"
LEAF_COLUMNS = ("leaf_index", "leaf_id", "leaf_name")


# ----------------------------------------------------------------------------- writing


def granularity_metadata(
    fields: Mapping[str, Any],
    levels: Sequence[str],
    num_classes: Mapping[str, int],
    **counts: int,
) -> dict[bytes, bytes]:
    """The ``granularity`` schema metadata of every file this tool writes.

    ``fields`` says how the file was made (method/source, parameters, inputs with
    their sha256); ``levels`` are the level columns, finest first, and
    ``num_classes`` their class counts; ``counts`` adds ``num_leaves`` and/or
    ``num_samples``. Returns ``{b"granularity": <canonical JSON>}`` (sorted keys, no
    timestamps) for ``Table.replace_schema_metadata``; the schema number is
    :data:`SCHEMA_VERSION`.
    """
    meta: dict[str, Any] = {"schema": SCHEMA_VERSION, "tool_version": __version__, **fields,
                            "levels": list(levels), "num_classes": dict(num_classes), **counts}
    blob = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return {METADATA_KEY: blob}


def to_arrow(h: Hierarchy):
    """The label map as a ``pyarrow.Table`` (with the ``granularity`` metadata)."""
    import pyarrow as pa

    cols: dict[str, Any] = {
        "leaf_index": int32_array(np.arange(h.num_leaves)),
        "leaf_id": string_array(h.leaf_ids),
        "leaf_name": string_array(h.leaf_names),
    }
    for lv in h.levels:
        if lv.name in cols or f"{lv.name}_id" in cols or f"{lv.name}_name" in cols:
            raise GranularityError(f"level name {lv.name!r} clashes with another column")
        outside = lv.labels < 0 if lv.num_outside else None  # null: the leaf is outside the level
        cols[lv.name] = int32_array(lv.labels, outside)
        labels = cols[lv.name]  # each label's id and name made once, then taken per leaf (null: null)
        cols[f"{lv.name}_id"] = string_array(lv.ids).take(labels)
        cols[f"{lv.name}_name"] = string_array(lv.names).take(labels)
    for name, values in h.columns.items():  # extra per-leaf columns that are not levels
        if name in cols:
            raise GranularityError(f"column {name!r} clashes with another column")
        values = np.asarray(values)
        cols[name] = int32_array(values) if values.dtype.kind in "iu" else string_array(values.tolist())
    table = pa.Table.from_arrays(list(cols.values()), names=list(cols))
    num_classes = {lv.name: lv.num_classes for lv in h.levels}
    fields = {**h.metadata, **({"extra_columns": list(h.columns)} if h.columns else {})}
    outside = {lv.name: lv.num_outside for lv in h.levels if lv.num_outside}
    if outside:
        fields["num_outside"] = outside
    return table.replace_schema_metadata(
        granularity_metadata(fields, h.level_names, num_classes, num_leaves=h.num_leaves))


def write_label_map(h: Hierarchy, target: str | os.PathLike) -> None:
    """Validate ``h`` and write it as a label map to ``target`` (path or ``-``)."""
    h.validate()
    write_table(to_arrow(h), target)


# ----------------------------------------------------------------------------- reading

INT32_MAX = 2**31 - 1


@dataclass
class LabelMap:
    """A label map read back from parquet, checked (see :func:`read_label_map`).

    ``lookup(level)`` maps a leaf index to that level's label (an int32 array),
    ``names(level)`` and ``ids(level)`` give the labels' names and ids,
    ``num_classes(level)`` their count; ``metadata`` is the ``granularity`` JSON;
    ``sha256`` is the sha256 of the bytes read. ``table`` holds the columns in
    their canonical types (int32 labels, ``string`` ids and names), so that every
    consumer sees the same values.
    """

    table: Any
    metadata: dict[str, Any]
    source: str
    sha256: str | None = None
    level_names: list[str] | None = None
    _labels: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def levels(self) -> list[str]:
        if self.level_names is not None:
            return list(self.level_names)
        return list(self.metadata.get("levels") or _level_columns(self.table.column_names))

    @property
    def num_leaves(self) -> int:
        return self.table.num_rows

    @property
    def leaf_ids(self) -> list[str]:
        return self.table.column("leaf_id").to_pylist()

    @property
    def leaf_names(self) -> list[str]:
        return self.table.column("leaf_name").to_pylist()

    def _check_level(self, level: str) -> None:
        if level not in self.levels:
            raise GranularityError(
                f"no level {level!r} in {self.source}; levels are: {', '.join(self.levels)}"
            )

    def _stored(self, level: str) -> np.ndarray:
        """The labels of ``level`` as stored, :data:`OUTSIDE` (-1) where null."""
        self._check_level(level)
        if level not in self._labels:
            col = self.table.column(level)
            self._labels[level] = np.asarray([OUTSIDE if v is None else v for v in col.to_pylist()],
                                             dtype=np.int32)
        return self._labels[level]

    def lookup(self, level: str, outside: int | None = None) -> np.ndarray:
        """Leaf index -> label of ``level`` (int32; the label is the class index).

        A leaf outside the level's label space (a null label: a class outside the
        task) has no label: when the level has such leaves, ``outside`` must say
        which value stands for them (``lookup(level, outside=-1)``), so that a
        missing label can never pass for a class index unnoticed.
        """
        lab = self._stored(level)
        n_out = self.num_outside(level)
        if n_out and outside is None:
            raise GranularityError(
                f"level {level!r} of {self.source} leaves {n_out:,} of {self.num_leaves:,} leaves outside its "
                f"label space (null labels): say which value stands for them, lookup({level!r}, outside=-1)"
            )
        if n_out and outside != OUTSIDE:
            return np.where(lab < 0, np.int32(outside), lab)
        return lab

    def num_outside(self, level: str) -> int:
        """How many leaves have no label at ``level`` (outside its label space)."""
        return int((self._stored(level) < 0).sum())

    def _per_label(self, level: str, suffix: str) -> list[str]:
        """One value of ``<level>_<suffix>`` per label 0..K-1, from the label's first leaf."""
        lab = self._stored(level)
        inside = np.flatnonzero(lab >= 0)
        if inside.size == 0:
            return []
        _, firsts = np.unique(lab[inside], return_index=True)  # labels are 0..K-1: sorted = by label
        values = self.table.column(f"{level}_{suffix}").to_pylist()
        return [values[i] for i in inside[firsts].tolist()]

    def names(self, level: str) -> list[str]:
        return self._per_label(level, "name")

    def ids(self, level: str) -> list[str]:
        return self._per_label(level, "id")

    def num_classes(self, level: str) -> int:
        lab = self._stored(level)
        return int(lab.max()) + 1 if lab.size and lab.max() >= 0 else 0

    def to_hierarchy(self, levels: Sequence[str] | None = None) -> Hierarchy:
        """The :class:`Hierarchy` this file stores (only ``levels``, default all).

        Labels are kept as stored: the label is the class index a trainer uses, so
        a map numbered 0..K-1 in another order than first appearance keeps that
        order (its level says ``numbering="given"``); outside leaves stay outside.
        """
        chosen = list(levels) if levels is not None else self.levels
        out = []
        for lv in chosen:
            lab = self._stored(lv)
            inside = lab[lab >= 0]
            first = np.array_equal(first_appearance_labels(inside)[0], inside)
            out.append(Level(lv, lab, tuple(self.ids(lv)), tuple(self.names(lv)), "first" if first else "given"))
        meta = {k: v for k, v in self.metadata.items() if k not in _DERIVED_KEYS}
        extra = {c: self.table.column(c).to_pylist() for c in self.metadata.get("extra_columns", [])}
        return Hierarchy(self.leaf_ids, self.leaf_names, out, meta, columns=extra)


_DERIVED_KEYS = ("schema", "tool_version", "levels", "num_leaves", "num_classes", "extra_columns", "num_outside")


def _level_columns(columns: Sequence[str]) -> list[str]:
    names = set(columns)
    return [c for c in columns
            if c not in LEAF_COLUMNS and f"{c}_id" in names and f"{c}_name" in names]


def _read_bytes(path) -> tuple[Any, str]:
    """The bytes of a label map (bytes or an Arrow buffer) and the name to show for it.

    ``'-'`` (stdin), bytes and binary file objects are read whole, and pyarrow then
    reads from an Arrow buffer: pyarrow reading through a Python file object can
    abort the interpreter at exit ("terminate called without an active exception",
    apache/arrow#33975).
    """
    import pyarrow as pa

    if isinstance(path, (bytes, bytearray, memoryview, pa.Buffer)):
        return pa.py_buffer(path), "<bytes>"
    if isinstance(path, (str, os.PathLike)) and str(path) == "-":
        return sys.stdin.buffer.read(), "stdin"
    if isinstance(path, (str, os.PathLike)):
        source = str(path)
        if Path(path).is_dir():
            raise GranularityError(f"label map {source!r} is a folder, not a file")
        try:
            return Path(path).read_bytes(), source
        except FileNotFoundError:
            raise GranularityError(f"label map {source!r} does not exist") from None
        except OSError as exc:
            raise GranularityError(f"cannot read label map {source!r}: {exc.strerror or exc}") from None
    if not callable(getattr(path, "read", None)):
        raise TypeError(f"path: expected '-', a file path, bytes or a binary file object, got {type(path).__name__}")
    data, source = path.read(), str(getattr(path, "name", None) or "<file>")
    if isinstance(data, str):
        raise TypeError(f"path: file {source!r} is open in text mode; open it with 'rb'")
    return data, source


def _arrow_owned(data):
    """A copy of ``data`` in memory Arrow allocated and owns.

    A table read from a buffer over a Python object (``bytes``) may release that
    object from one of Arrow's worker threads; at interpreter exit such a thread
    cannot take the GIL, is ended by Python, and the process aborts ("terminate
    called without an active exception", about 1 run in 40 here: the crash of
    apache/arrow#33975 in another guise). A buffer Arrow owns needs no GIL to free.
    """
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    sink.write(data)
    return sink.getvalue()


def read_label_map(path: str | os.PathLike | bytes | IO[bytes], check: bool = True) -> LabelMap:
    """Read and check a label map written by granularity or by any other tool.

    ``path`` is a path, ``-`` (stdin), the file's bytes, or a binary file object
    (read to its end). The file is
    checked once, here, by the rules of docs/format.md ("Reading a label map"):
    a map that breaks one is refused with a :class:`GranularityError` naming the
    file, the column and the first bad value; nothing is renumbered. Every
    command reads maps through this function, so all give a leaf the same label.
    ``check=False`` skips the checks (for tools that repair maps).
    """
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    data, source = _read_bytes(path)
    try:
        table = pq.ParquetFile(pa.BufferReader(_arrow_owned(data))).read()  # read_table imports pandas
    except Exception as exc:  # pyarrow raises several types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GranularityError(f"label map {source!r} is not a readable parquet file: {reason}") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        raise GranularityError(f"label map {source!r}: its 'granularity' metadata is not JSON") from None
    if not isinstance(meta, dict):
        raise GranularityError(f"label map {source!r}: its 'granularity' metadata is not a JSON object")
    lm = LabelMap(table, meta, source, hashlib.sha256(data).hexdigest())
    return _checked(lm) if check else lm


def _checked(lm: LabelMap) -> LabelMap:
    """``lm`` with its table checked and cast to the canonical column types."""
    import pyarrow as pa

    where = f"label map {lm.source!r}"
    table = _drop_pandas_index(lm.table)
    cols = table.column_names
    schema = lm.metadata.get("schema")
    if schema is not None and schema != SCHEMA_VERSION:
        raise GranularityError(f"{where} has schema version {schema!r}; this tool reads {SCHEMA_VERSION}")
    for c in LEAF_COLUMNS:
        if c not in cols:
            raise GranularityError(f"{where} is missing column {c!r}")
    extra = _extra_columns(lm.metadata, cols, where)
    levels = _levels_of(lm.metadata, [c for c in cols if c not in extra], where)
    n = table.num_rows
    _check_counts(lm.metadata, levels, n, where)
    arrays = {"leaf_index": _int_column(table, "leaf_index", where, "row")}
    if not np.array_equal(arrays["leaf_index"], np.arange(n)):
        bad = int(np.flatnonzero(arrays["leaf_index"] != np.arange(n))[0])
        raise GranularityError(
            f"{where}: leaf_index is not 0..N-1 in order: row {bad} holds {int(arrays['leaf_index'][bad])}"
        )
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
    labels: dict[str, np.ndarray] = {}
    recorded_k = lm.metadata.get("num_classes")
    for lv in levels:
        lab, outside = _label_column(table, lv, where)
        labels[lv] = lab
        recorded = recorded_k.get(lv) if isinstance(recorded_k, dict) else None
        k = int(lab.max()) + 1 if n and lab.max() >= 0 else 0
        if recorded is not None and recorded != k:
            raise GranularityError(f"{where}: its metadata says level {lv!r} has {recorded!r} classes but it has {k}")
        out[lv] = _as_int32(table.column(lv))
        for suffix in ("id", "name"):
            c = f"{lv}_{suffix}"
            out[c] = _string_column(table, c, where, outside, lv)
            _check_one_value_per_label(out[c].to_pylist(), lab, c, where)
    for c in extra:  # per-leaf columns that are not levels, listed in the metadata
        if c in out:
            raise GranularityError(f"{where}: extra column {c!r} clashes with a level column")
        out[c] = table.column(c)
    canonical = pa.Table.from_arrays(list(out.values()), names=list(out))
    if lm.table.schema.metadata and METADATA_KEY in lm.table.schema.metadata:
        canonical = canonical.replace_schema_metadata({METADATA_KEY: lm.table.schema.metadata[METADATA_KEY]})
    return LabelMap(canonical, lm.metadata, lm.source, lm.sha256, levels, labels)


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
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
            raise GranularityError(f"{where}: the metadata's 'levels' is not a list of column names")
        if len(set(listed)) != len(listed):
            dup = next(x for x in listed if listed.count(x) > 1)
            raise GranularityError(f"{where}: the metadata lists level {dup!r} twice")
        for lv in listed:
            for c in (lv, f"{lv}_id", f"{lv}_name"):
                if c not in cols:
                    raise GranularityError(f"{where} is missing column {c!r} (the metadata lists level {lv!r})")
        levels = list(listed)
    else:
        levels = _level_columns(cols)
    known = set(LEAF_COLUMNS).union(*({lv, f"{lv}_id", f"{lv}_name"} for lv in levels))
    for c in cols:
        if c in known:
            continue
        if listed is not None:
            raise GranularityError(
                f"{where}: column {c!r} is not one of the levels its metadata lists ({', '.join(listed)})"
            )
        if c.endswith(("_id", "_name")) and c.rsplit("_", 1)[0] in cols:
            lv = c.rsplit("_", 1)[0]
            gap = f"{lv}_name" if c.endswith("_id") else f"{lv}_id"
            raise GranularityError(f"{where} is missing column {gap!r} (for level {lv!r})")
        if c.endswith(("_id", "_name")):
            lv = c.rsplit("_", 1)[0]
            raise GranularityError(f"{where} is missing column {lv!r} (the labels of {c!r})")
        gap = next(x for x in (f"{c}_id", f"{c}_name") if x not in cols)
        raise GranularityError(f"{where} is missing column {gap!r} (for level {c!r})")
    if not levels:
        raise GranularityError(f"{where} has no level columns")
    return levels


def _check_counts(meta: dict, levels: list[str], n: int, where: str) -> None:
    recorded = meta.get("num_leaves")
    if recorded is not None and recorded != n:
        raise GranularityError(f"{where}: its metadata says {recorded!r} leaves but it has {n} rows")


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
