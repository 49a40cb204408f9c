"""The pure relabel step: an Arrow batch in, the same rows plus label columns out.

:class:`Relabeler` is built once from a label map by :func:`make_relabeler`. It holds
no open files and no state between calls, so a distributed engine can ship it to its
workers and run it per partition (Spark ``mapInArrow``, Ray Data ``map_batches``, Dask
``map_partitions``; see docs/apply.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arrays import bool_array, int_array
from ..errors import GranularityError, offenders
from ..options import UNKNOWN_MODES, one_of
from . import keys as keymod
from .lookup import IdLookup, index_keys, path_keys, pattern_keys


class UnknownLeavesError(GranularityError):
    """Rows whose leaf is not in the label map, or is outside the label space of a level
    the map leaves it out of (a null label), under ``--unknown error``."""

    def __init__(self, count: int, examples: list[tuple[object, str]], column: str, where: str,
                 outside: str | None = None):
        self.count = count
        self.examples = examples
        self.column = column
        self.where = where
        self.outside = outside  # a level that leaves some of these rows' leaves out, if any
        super().__init__(self._message())

    def _message(self) -> str:
        shown = offenders(self.examples, "", "", limit=len(self.examples)).split(": ", 1)[1]
        more = f", ... ({self.count - len(self.examples)} more)" if self.count > len(self.examples) else ""
        rows = "1 row of {} has".format(self.where) if self.count == 1 else \
            f"{self.count:,} rows of {self.where} have"
        what = "a leaf that is not in the label map" if self.outside is None else \
            f"a leaf that is not in the label map or is outside level {self.outside!r} (a null label in the map)"
        return (f"{rows} {what} "
                f"(column {self.column!r}): {shown}{more}; "
                "use --unknown drop or --unknown keep to go on without them")


@dataclass
class Relabeler:
    """A pure function ``RecordBatch -> RecordBatch`` that adds label columns.

    Build it with :func:`make_relabeler`. Calling it on a batch (or a Table)
    returns the batch's rows (all of them, or without the unknown ones with
    ``unknown="drop"``), their columns untouched, with, per level, an int32 column
    ``<level>`` and, with ``ids``/``names``, string columns ``<level>_id``/
    ``<level>_name``; ``leaf_index=True`` also adds the ``leaf_index`` column when
    the key is not already one. With ``unknown="error"`` a batch holding a leaf not
    in the map raises :class:`UnknownLeavesError`. The object is picklable and
    holds only the label map's small arrays.
    """

    leaf_ids: Any                       # pa.StringArray, leaf_index -> leaf_id
    levels: list[str]
    lookups: np.ndarray                 # int32 [num_levels, num_leaves]: leaf -> label
    level_ids: list[Any]                # per level, pa.StringArray label -> id
    level_names: list[Any]              # per level, pa.StringArray label -> name
    column: str | None = None           # key column; None = auto-detect per schema
    key: str = "auto"                   # auto | index | id
    path_column: str | None = None
    path_pattern: str | None = None     # checked by RE2, its capture group named
    unknown: str = "error"
    ids: bool = False
    names: bool = False
    leaf_index: bool = False
    dictionary: bool = True             # _id/_name columns dictionary-encoded, else plain strings
    source: str = "label map"
    _ids: IdLookup = field(init=False, repr=False, compare=False)
    _outside_level: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._ids = IdLookup(self.leaf_ids)
        rows = np.flatnonzero((self.lookups < 0).any(axis=1)) if self.lookups.size else []
        self._outside_level = self.levels[int(rows[0])] if len(rows) else None

    @property
    def num_leaves(self) -> int:
        return len(self.leaf_ids)

    # ------------------------------------------------------------------ schema

    def resolve_key(self, schema, where: str = "the manifest") -> tuple[str, str]:
        """``(column, kind)`` for a manifest schema; kind is index, id or path."""
        col, kind = keymod.resolve_key(schema, self.column, self.key, self.path_column, where)
        return col, kind

    def output_schema(self, schema, where: str = "the manifest"):
        """The schema of the batches this relabeler returns for input ``schema``."""

        return _with_columns(schema, self._new_columns(schema, where))

    def _new_columns(self, schema, where: str) -> list[tuple[str, Any, int, str]]:
        """``(name, type, level number, what)`` per added column; what = leaf_index|label|id|name."""
        import pyarrow as pa

        col, kind = self.resolve_key(schema, where)
        out = []
        if self.leaf_index and not (kind == "index" and col == "leaf_index"):
            out.append(("leaf_index", pa.int32(), -1, "leaf_index"))
        text = pa.dictionary(pa.int32(), pa.string()) if self.dictionary else pa.string()
        for j, lv in enumerate(self.levels):
            out.append((lv, pa.int32(), j, "label"))
            if self.ids:
                out.append((f"{lv}_id", text, j, "id"))
            if self.names:
                out.append((f"{lv}_name", text, j, "name"))
        clash = [c[0] for c in out if c[0] in schema.names]
        if clash:
            raise GranularityError(f"{where} already has column {clash[0]!r}; rename it or choose other levels")
        return out

    # ------------------------------------------------------------------ the core

    def leaf_indices(self, batch, where: str = "the manifest") -> np.ndarray:
        """Leaf index per row (int32), ``num_leaves`` where the leaf is unknown."""
        col, kind = self.resolve_key(batch.schema, where)
        return self._leaf_indices(batch.column(col), kind)

    def _leaf_indices(self, arr, kind: str) -> np.ndarray:
        if kind == "index":
            return index_keys(arr, self.num_leaves)
        if kind == "id":
            return self._ids(arr)
        if self.path_pattern is not None:
            return pattern_keys(arr, self.path_pattern, self._ids)
        return path_keys(arr, self._ids)

    def __call__(self, batch, row_offset: int = 0, where: str = "the manifest"):
        """Relabel ``batch`` (a RecordBatch or Table; returns the same kind).

        ``row_offset`` is the number of rows before this batch in the whole input;
        it only numbers the rows named in an :class:`UnknownLeavesError`.
        """
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            return self._table(batch, row_offset, where)
        new_cols = self._new_columns(batch.schema, where)
        col, kind = self.resolve_key(batch.schema, where)
        idx = self._leaf_indices(batch.column(col), kind)
        batch, idx, mask = self._unknown(batch, idx, col, row_offset, where)
        arrays = list(batch.columns) + self._label_arrays(new_cols, idx, mask)
        return pa.RecordBatch.from_arrays(arrays, schema=_with_columns(batch.schema, new_cols))

    def _table(self, table, row_offset: int, where: str):
        import pyarrow as pa

        out, offset = [], row_offset
        for b in table.to_batches():
            out.append(self(b, offset, where))
            offset += b.num_rows
        return pa.Table.from_batches(out, schema=self.output_schema(table.schema, where))

    def _unplaced(self, idx: np.ndarray) -> np.ndarray:
        """Rows whose leaf is unknown, or outside a chosen level (a null label in the map)."""
        unknown = idx == self.num_leaves
        if self.outside_level is None:
            return unknown
        lab = self.lookups.take(np.where(unknown, 0, idx), axis=1)
        return unknown | ((lab < 0).any(axis=0) & ~unknown)

    @property
    def outside_level(self) -> str | None:
        """The first chosen level that leaves some leaves outside its label space."""
        return self._outside_level


    def _unknown(self, batch, idx: np.ndarray, col: str, row_offset: int, where: str):
        """Apply the unknown policy: ``(batch, idx, null mask or None)``."""
        bad = self._unplaced(idx)
        if not bad.any():
            return batch, idx, None
        if self.unknown == "error":
            rows = np.flatnonzero(bad)
            raise UnknownLeavesError(int(rows.size), self._examples(batch, col, rows, row_offset), col, where,
                                     self.outside_level)
        if self.unknown == "drop":
            return batch.filter(bool_array(~bad)), idx[~bad], None
        unknown = idx == self.num_leaves  # keep: unknown rows get no leaf index, outside ones keep theirs
        return batch, np.where(unknown, 0, idx), unknown if unknown.any() else None

    def _label_arrays(self, new_cols, idx: np.ndarray, mask: np.ndarray | None) -> list:
        """The added columns' arrays, in ``new_cols`` order."""
        import pyarrow as pa

        labels = {}
        out = []
        for _, _, j, what in new_cols:
            if what == "leaf_index":
                out.append(int_array(idx, mask))
                continue
            if j not in labels:
                lab = self.lookups[j].take(idx)
                null = lab < 0 if self.outside_level is not None else None
                if mask is not None:
                    null = mask if null is None else (null | mask)
                labels[j] = int_array(lab, null if null is not None and null.any() else None)
            if what == "label":
                out.append(labels[j])
                continue
            values = self.level_ids[j] if what == "id" else self.level_names[j]
            out.append(pa.DictionaryArray.from_arrays(labels[j], values) if self.dictionary
                       else values.take(labels[j]))
        return out

    def _examples(self, batch, col: str, rows: np.ndarray, row_offset: int, limit: int = 5):
        if limit <= 0:
            return []
        values = batch.column(col).take(int_array(rows[:limit].astype(np.int64))).to_pylist()
        return [("<null>" if v is None else v, f"row {row_offset + int(r)}")
                for v, r in zip(values, rows[:limit].tolist())]

    def unknown_rows(self, batch, row_offset: int = 0, where: str = "the manifest",
                     limit: int = 5) -> tuple[int, list[tuple[object, str]]]:
        """``(count, first examples)`` of the rows of ``batch`` whose leaf is unknown (or
        outside a chosen level)."""
        col, _ = self.resolve_key(batch.schema, where)
        bad = np.flatnonzero(self._unplaced(self.leaf_indices(batch, where)))
        return int(bad.size), self._examples(batch, col, bad, row_offset, limit)

    def map_batches(self, batches: Iterable) -> Iterator:
        """Relabel an iterator of batches (the shape Spark's ``mapInArrow`` wants)."""
        offset = 0
        for b in batches:
            yield self(b, offset)
            offset += b.num_rows

    def map_pandas(self, df):
        """Relabel a pandas DataFrame (for Dask ``map_partitions``); keeps its index."""
        import pyarrow as pa

        table = self(pa.Table.from_pandas(df, preserve_index=False))
        for i, f in enumerate(table.schema):  # pandas categories must be unique; names may repeat
            if pa.types.is_dictionary(f.type) and any(_repeats(c.dictionary) for c in table.column(i).chunks):
                table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type).dictionary_encode())
        out = table.to_pandas()
        if self.unknown != "drop":
            out.index = df.index
        return out


def _repeats(values) -> bool:
    import pyarrow.compute as pc

    return len(pc.unique(values)) != len(values)


def _with_columns(schema, new_cols):
    import pyarrow as pa

    return pa.schema(list(schema) + [pa.field(name, typ) for name, typ, _, _ in new_cols],
                     metadata=schema.metadata)


def make_relabeler(
    label_map,
    levels: Sequence[str] | None = None,
    *,
    column: str | None = None,
    key: str = "auto",
    path_column: str | None = None,
    path_pattern: str | None = None,
    unknown: str = "error",
    ids: bool = False,
    names: bool = False,
    leaf_index: bool = False,
    dictionary: bool = True,
) -> Relabeler:
    """A :class:`Relabeler` for ``label_map`` (a path or a :class:`LabelMap`).

    ``levels`` picks the level columns to add (default: every level of the map, in
    its order). ``column`` names the key column (default: auto-detected, see
    ``KEY_COLUMN_GUESSES``); ``key`` says whether it holds leaf indices or ids
    (``auto``: by name, then by type). ``path_column`` derives the leaf id from
    an image path instead (``path_pattern``: an RE2 regular expression with one
    capture group around it). ``dictionary=False`` writes the ``_id``/``_name``
    columns as plain strings instead of dictionary-encoded ones (for engines
    without dictionary support). Every option is checked here, once.
    """
    from ..labelmap import LabelMap, read_label_map

    one_of(unknown, UNKNOWN_MODES, "--unknown")
    keymod.check_key_options(column, key, path_column, path_pattern)
    pattern = keymod.check_path_pattern(path_pattern) if path_pattern is not None else None
    lm = label_map if isinstance(label_map, LabelMap) else read_label_map(label_map)
    chosen = _chosen_levels(lm, levels)
    lookups = np.stack([lm.lookup(lv, outside=-1) for lv in chosen]) \
        if lm.num_leaves else np.zeros((len(chosen), 0), dtype=np.int32)
    return Relabeler(
        leaf_ids=lm.leaf_id_array(), levels=chosen, lookups=lookups,
        level_ids=[lm.id_array(lv) for lv in chosen], level_names=[lm.name_array(lv) for lv in chosen],
        column=column, key=key, path_column=path_column, path_pattern=pattern,
        unknown=unknown, ids=ids, names=names, leaf_index=leaf_index, dictionary=dictionary,
        source=lm.source,
    )


def _chosen_levels(lm, levels: Sequence[str] | None) -> list[str]:
    chosen = list(levels) if levels else list(lm.levels)
    for lv in chosen:
        lm.check_level(lv)
    dup = next((lv for i, lv in enumerate(chosen) if lv in chosen[:i]), None)
    if dup is not None:
        raise GranularityError(f"--level {dup!r} is given twice")
    return chosen


def relabel_table(table, label_map, levels: Sequence[str] | None = None, **options):
    """Relabel a whole in-memory ``pyarrow.Table`` (a notebook's entry point)."""
    return make_relabeler(label_map, levels, **options)(table)
