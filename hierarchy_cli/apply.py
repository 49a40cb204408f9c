"""Relabel a per-sample manifest with a label map.

The core is :class:`Relabeler`: built once from a label map, it is a pure,
picklable function from an Arrow ``RecordBatch`` (or ``Table``) to a
``RecordBatch`` (or ``Table``) holding the same rows plus one int32 column per
chosen level (and optionally ``<level>_id`` / ``<level>_name``). It holds no open
files and no state between calls, so a distributed engine can ship it to its
workers and run it per partition (Spark ``mapInArrow``, Ray Data
``map_batches``, Dask ``map_partitions``; see docs/apply.md).

:func:`apply_manifest` is the streaming driver the ``granularity apply`` command
uses: it reads a parquet, CSV or TSV manifest (or stdin) in record batches, runs
the relabeler on each and writes parquet, CSV or TSV atomically, with memory
bounded by a few batches whatever the manifest's size.

The key column holds either the leaf index (an integer, the trainer's class
index, ``0..N-1``) or the leaf id (``n01440764``); or the id is derived from an
ImageNet-style path such as ``n01440764/n01440764_10026.JPEG``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .arrowutil import string_array, to_numpy
from .errors import GranularityError, offenders
from .inputs import file_sha256 as _sha256_file

UNKNOWN_MODES = ("error", "drop", "keep")
KEY_KINDS = ("auto", "index", "id")
FORMATS = ("parquet", "csv", "tsv")
DEFAULT_BATCH_ROWS = 1 << 20

# Auto-detection of the key column, in order of preference. Index names must hold
# integers; id names hold ids (integers are read as their decimal text); the
# ambiguous ones go by the column's type (integers = leaf index).
INDEX_COLUMNS = ("leaf_index", "class_index", "label_index", "target")
ID_COLUMNS = ("leaf_id", "wnid", "synset", "class_id")
AMBIGUOUS_COLUMNS = ("label", "class")
PATH_COLUMNS = ("path", "filepath", "file_path", "relpath", "image_path", "file", "filename", "image")
KEY_COLUMN_GUESSES = INDEX_COLUMNS[:1] + ID_COLUMNS[:2] + AMBIGUOUS_COLUMNS[:1] + INDEX_COLUMNS[1:] \
    + ID_COLUMNS[2:] + AMBIGUOUS_COLUMNS[1:]


def _path_parts(paths):
    """Split each '/'-separated path: ``(parts, lens, starts)``, where ``parts.values``
    holds the last three components of every path (``max_splits=2``, from the end),
    ``lens`` how many there are and ``starts`` where each path's begin. Splitting is
    twice as fast as a regex match."""
    import pyarrow.compute as pc

    parts = pc.split_pattern(paths, "/", max_splits=2, reverse=True)
    lens = parts.value_lengths()
    lens = to_numpy(lens if lens.null_count == 0 else pc.fill_null(lens, 0)).astype(np.int64)
    starts = to_numpy(parts.offsets)[:-1].astype(np.int64)
    return parts.values, lens, starts


def _int64_array(values: np.ndarray):
    """An Arrow int64 array over ``values`` (built from its buffer: ``pa.array``
    would import pandas on first use, 0.4 s)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _int32_array(values: np.ndarray, mask: np.ndarray | None = None):
    """An Arrow int32 array over ``values``, null where ``mask`` is true."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.int32)
    validity = None if mask is None else pa.py_buffer(np.packbits(~mask, bitorder="little"))
    return pa.Array.from_buffers(pa.int32(), len(values), [validity, pa.py_buffer(values)],
                                 null_count=-1 if mask is not None else 0)


def _bool_array(values: np.ndarray):
    """An Arrow boolean array (no nulls) from a numpy bool array."""
    import pyarrow as pa

    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def _first_part(strings, sep: str):
    """The part of each string before the first ``sep`` (the whole string without one)."""
    import pyarrow.compute as pc

    parts = pc.split_pattern(strings, sep, max_splits=1)
    return pc.list_element(parts, 0)


class UnknownLeavesError(GranularityError):
    """Rows whose leaf is not in the label map (``--unknown error``)."""

    def __init__(self, count: int, examples: list[tuple[object, str]], column: str, where: str):
        self.count = count
        self.examples = examples
        self.column = column
        self.where = where
        super().__init__(self._message())

    def _message(self) -> str:
        shown = offenders(self.examples, "", "", limit=len(self.examples)).split(": ", 1)[1]
        more = f", ... ({self.count - len(self.examples)} more)" if self.count > len(self.examples) else ""
        rows = "1 row of {} has".format(self.where) if self.count == 1 else \
            f"{self.count:,} rows of {self.where} have"
        return (f"{rows} a leaf that is not in the label map "
                f"(column {self.column!r}): {shown}{more}; "
                "use --unknown drop or --unknown keep to go on without them")


def _named_pattern(pattern: str) -> str:
    """Check a ``--path-pattern`` and give its capture group the name ``id``.

    Accepts a regular expression (RE2 syntax) with one named group ``id`` or with
    exactly one capture group, which is then renamed.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise GranularityError(f"--path-pattern {pattern!r} is not a regular expression: {exc}") from None
    if "id" in compiled.groupindex:
        return pattern
    if compiled.groups != 1:
        raise GranularityError(
            f"--path-pattern {pattern!r} needs one capture group around the id "
            f"(or a group named 'id'), found {compiled.groups}"
        )
    # find the one capturing '(' (not escaped, not in a [...] class, not '(?')
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                i += 1
        elif c == "(" and pattern[i + 1:i + 2] != "?":
            return pattern[:i + 1] + "?P<id>" + pattern[i + 1:]
        i += 1
    raise GranularityError(f"--path-pattern {pattern!r}: cannot find its capture group")


@dataclass
class Relabeler:
    """A pure function ``RecordBatch -> RecordBatch`` that adds label columns.

    Build it with :func:`make_relabeler`. Calling it on a batch (or a Table)
    returns the batch's rows (all of them, or without the unknown ones with
    ``unknown="drop"``) with, per level, an int32 column ``<level>`` and, with
    ``ids``/``names``, string columns ``<level>_id``/``<level>_name``;
    ``leaf_index=True`` also adds the ``leaf_index`` column when the key is not
    already one. With ``unknown="error"`` a batch holding a leaf not in the map
    raises :class:`UnknownLeavesError`. The object is picklable and holds only
    the label map's small arrays.
    """

    leaf_ids: Any                       # pa.StringArray, leaf_index -> leaf_id
    levels: list[str]
    lookups: np.ndarray                 # int32 [num_levels, num_leaves + 1]; last column = unknown
    level_ids: list[Any]                # per level, pa.StringArray label -> id
    level_names: list[Any]              # per level, pa.StringArray label -> name
    column: str | None = None           # key column; None = auto-detect per schema
    key: str = "auto"                   # auto | index | id
    path_column: str | None = None
    path_pattern: str | None = None
    unknown: str = "error"
    ids: bool = False
    names: bool = False
    leaf_index: bool = False
    dictionary: bool = True             # _id/_name columns dictionary-encoded, else plain strings
    source: str = "label map"
    duplicate_leaf_id: str | None = None  # a leaf id the map holds twice (ids then are ambiguous)
    _value_sets: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.unknown not in UNKNOWN_MODES:
            raise GranularityError(f"--unknown {self.unknown!r}: choose one of {', '.join(UNKNOWN_MODES)}")
        if self.key not in KEY_KINDS:
            raise GranularityError(f"--key {self.key!r}: choose one of {', '.join(KEY_KINDS)}")
        if self.path_column is not None and self.column is not None:
            raise GranularityError("give --column or --path-column, not both")
        if self.path_pattern is not None:
            if self.path_column is None:
                raise GranularityError("--path-pattern needs --path-column")
            self.path_pattern = _named_pattern(self.path_pattern)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_value_sets"] = {}
        return state

    @property
    def num_leaves(self) -> int:
        return len(self.leaf_ids)

    # ------------------------------------------------------------------ key column

    def resolve_key(self, schema, where: str = "the manifest") -> tuple[str, str]:
        """``(column, kind)`` for a manifest schema; kind is index, id or path."""
        import pyarrow as pa

        names = list(schema.names)

        def missing(col: str, option: str):
            return GranularityError(
                f"{where} has no column {col!r} ({option}); columns are: {', '.join(names) or '(none)'}"
            )

        if self.path_column is not None:
            if self.path_column not in names:
                raise missing(self.path_column, "--path-column")
            typ = schema.field(self.path_column).type
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)
                    or pa.types.is_string_view(typ)
                    or (pa.types.is_dictionary(typ) and pa.types.is_string(typ.value_type))):
                raise GranularityError(f"{where}: --path-column {self.path_column!r} has type {typ}, expected strings")
            self._check_unique_ids()
            return self.path_column, "path"
        col = self.column
        if col is None:
            col = next((c for c in KEY_COLUMN_GUESSES if c in names), None)
            if col is None:
                path = next((c for c in PATH_COLUMNS if c in names), None)
                if path is not None:
                    self._check_unique_ids()
                    return path, "path"
                raise GranularityError(
                    f"{where} has no leaf column: name it with --column (leaf index or id) or "
                    f"--path-column (image paths); looked for {', '.join(KEY_COLUMN_GUESSES + PATH_COLUMNS)}; "
                    f"columns are: {', '.join(names) or '(none)'}"
                )
        elif col not in names:
            raise missing(col, "--column")
        typ = schema.field(col).type
        value_type = typ.value_type if pa.types.is_dictionary(typ) else typ
        is_int = pa.types.is_integer(value_type)
        is_str = (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)
                  or pa.types.is_string_view(value_type))
        kind = self.key
        if kind == "auto":
            if col in INDEX_COLUMNS:
                kind = "index"
            elif col in ID_COLUMNS:
                kind = "id"
            else:
                kind = "index" if is_int else "id"
        if kind == "index" and not is_int:
            raise GranularityError(
                f"{where}: column {col!r} has type {value_type}; a leaf index must be an integer "
                "(use --key id if it holds leaf ids)"
            )
        if kind == "id" and not (is_int or is_str):
            raise GranularityError(f"{where}: column {col!r} has type {value_type}, expected leaf ids (strings)")
        if kind == "id":
            self._check_unique_ids()
        return col, kind

    def _check_unique_ids(self) -> None:
        if self.duplicate_leaf_id is not None:
            raise GranularityError(
                f"label map {self.source!r} holds leaf id {self.duplicate_leaf_id!r} twice, so ids cannot "
                "name a leaf; key the manifest by leaf index instead"
            )

    def output_schema(self, schema, where: str = "the manifest"):
        """The schema of the batches this relabeler returns for input ``schema``."""
        import pyarrow as pa

        fields = list(schema)
        for name, typ, _, _ in self._new_columns(schema, where):
            fields.append(pa.field(name, typ, nullable=True))
        return pa.schema(fields, metadata=schema.metadata)

    def _new_columns(self, schema, where: str) -> list[tuple[str, Any, int, str]]:
        """``(name, type, level number, what)`` per added column; what = leaf_index|label|id|name."""
        import pyarrow as pa

        col, kind = self.resolve_key(schema, where)
        out = []
        if self.leaf_index and not (kind == "index" and col == "leaf_index"):
            out.append(("leaf_index", pa.int32(), -1, "leaf_index"))
        for j, lv in enumerate(self.levels):
            out.append((lv, pa.int32(), j, "label"))
            text = pa.dictionary(pa.int32(), pa.string()) if self.dictionary else pa.string()
            if self.ids:
                out.append((f"{lv}_id", text, j, "id"))
            if self.names:
                out.append((f"{lv}_name", text, j, "name"))
        clash = [c[0] for c in out if c[0] in schema.names]
        if clash:
            raise GranularityError(
                f"{where} already has column {clash[0]!r}; rename it or choose other levels"
            )
        return out

    # ------------------------------------------------------------------ the core

    def leaf_indices(self, batch, where: str = "the manifest") -> np.ndarray:
        """Leaf index per row (int32), ``num_leaves`` where the leaf is unknown."""
        col, kind = self.resolve_key(batch.schema, where)
        return self._leaf_indices(batch.column(col), kind)

    def _value_set(self, typ):
        import pyarrow as pa

        key = str(typ)
        vs = self._value_sets.get(key)
        if vs is None:
            vs = self.leaf_ids if typ == pa.string() else self.leaf_ids.cast(typ)
            self._value_sets[key] = vs
        return vs

    def _lookup_ids(self, arr) -> np.ndarray:
        """Leaf index of each id in ``arr`` (strings), ``num_leaves`` if unknown."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = self.num_leaves
        if pa.types.is_dictionary(arr.type):
            # look up only the (few) distinct values, then spread by the codes
            dict_idx = self._lookup_ids(arr.dictionary)
            codes = arr.indices
            codes = to_numpy(codes if codes.null_count == 0 else pc.fill_null(codes, -1))
            ext = np.append(dict_idx, np.int32(n))
            return ext[codes]  # -1 picks the appended 'unknown'
        if pa.types.is_integer(arr.type):
            arr = arr.cast(pa.string())
        elif pa.types.is_string_view(arr.type):
            arr = arr.cast(pa.string())
        found = pc.index_in(arr, value_set=self._value_set(arr.type))
        if found.null_count:
            found = pc.fill_null(found, n)
        return to_numpy(found).astype(np.int32, copy=False)

    def _leaf_indices(self, chunk, kind: str) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = self.num_leaves
        if isinstance(chunk, pa.ChunkedArray):
            chunk = chunk.combine_chunks() if chunk.num_chunks != 1 else chunk.chunk(0)
        if kind == "index":
            if pa.types.is_dictionary(chunk.type):
                chunk = chunk.dictionary_decode()
            v = to_numpy(chunk if chunk.null_count == 0 else pc.fill_null(chunk, -1))
            if v.size and v.min() >= 0 and v.max() < n:
                return v.astype(np.int32, copy=False)
            return np.where((v >= 0) & (v < n), v, n).astype(np.int32, copy=False)
        if kind == "id":
            return self._lookup_ids(chunk)
        # path
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_decode()
        if self.path_pattern is not None:
            ids = pc.extract_regex(chunk, self.path_pattern).field("id")
            return self._lookup_ids(ids)
        values, lens, starts = _path_parts(chunk)
        # the parent folder's name (second-last component) where there is one
        has_folder = lens >= 2
        idx = self._lookup_ids(values.take(_int64_array(np.where(has_folder, starts + lens - 2, 0))))
        idx = np.where(has_folder, idx, n).astype(np.int32)
        miss = np.flatnonzero(idx == n)
        if miss.size:  # else the file name's part before its first '_' (or '.')
            has_name = lens[miss] >= 1
            names = values.take(_int64_array(np.where(has_name, starts[miss] + lens[miss] - 1, 0)))
            found = self._lookup_ids(_first_part(_first_part(names, "_"), "."))
            idx[miss] = np.where(has_name, found, n)
        return idx

    def __call__(self, batch, row_offset: int = 0, where: str = "the manifest"):
        """Relabel ``batch`` (a RecordBatch or Table; returns the same kind).

        ``row_offset`` is the number of rows before this batch in the whole input;
        it only numbers the rows named in an :class:`UnknownLeavesError`.
        """
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            schema = self.output_schema(batch.schema, where)
            out, offset = [], row_offset
            for b in batch.to_batches():
                out.append(self(b, offset, where))
                offset += b.num_rows
            return pa.Table.from_batches(out, schema=schema)
        new_cols = self._new_columns(batch.schema, where)
        col, kind = self.resolve_key(batch.schema, where)
        idx = self._leaf_indices(batch.column(col), kind)
        n = self.num_leaves
        unknown = idx == n
        mask = None
        if unknown.any():
            if self.unknown == "error":
                bad = np.flatnonzero(unknown)
                raise UnknownLeavesError(int(bad.size), self._examples(batch, col, bad, row_offset), col, where)
            if self.unknown == "drop":
                keep = ~unknown
                batch = batch.filter(_bool_array(keep))
                idx = idx[keep]
            else:
                mask = unknown
        arrays = list(batch.columns)
        fields = list(batch.schema)
        labels: dict[int, Any] = {}
        for name, typ, j, what in new_cols:
            if what == "leaf_index":
                arr = _int32_array(idx, mask)
            else:
                if j not in labels:
                    labels[j] = _int32_array(self.lookups[j].take(idx), mask)
                arr = labels[j]
                if what != "label":  # labels index the level's ids/names
                    values = self.level_ids[j] if what == "id" else self.level_names[j]
                    arr = pa.DictionaryArray.from_arrays(arr, values) if self.dictionary else values.take(arr)
            arrays.append(arr)
            fields.append(pa.field(name, typ))
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=batch.schema.metadata))

    def _examples(self, batch, col: str, rows: np.ndarray, row_offset: int, limit: int = 5):
        if limit <= 0:
            return []
        values = batch.column(col).take(rows[:limit]).to_pylist()
        return [("<null>" if v is None else v, f"row {row_offset + int(r)}")
                for v, r in zip(values, rows[:limit].tolist())]

    def unknown_rows(self, batch, row_offset: int = 0, where: str = "the manifest",
                     limit: int = 5) -> tuple[int, list[tuple[object, str]]]:
        """``(count, first examples)`` of the rows of ``batch`` whose leaf is unknown."""
        col, _ = self.resolve_key(batch.schema, where)
        bad = np.flatnonzero(self.leaf_indices(batch, where) == self.num_leaves)
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
    an image path instead (``path_pattern``: a regex with one group around it).
    ``dictionary=False`` writes the ``_id``/``_name`` columns as plain strings
    instead of dictionary-encoded ones (for engines without dictionary support).
    """
    import pyarrow as pa

    from .labelmap import LabelMap, read_label_map

    lm = label_map if isinstance(label_map, LabelMap) else read_label_map(label_map)
    chosen = list(levels) if levels else list(lm.levels)
    for lv in chosen:
        if lv not in lm.levels:
            raise GranularityError(f"no level {lv!r} in {lm.source}; levels are: {', '.join(lm.levels)}")
    if len(set(chosen)) != len(chosen):
        dup = next(lv for lv in chosen if chosen.count(lv) > 1)
        raise GranularityError(f"level {dup!r} is given twice")
    leaf_ids = lm.table.column("leaf_id").combine_chunks()
    if not pa.types.is_string(leaf_ids.type):
        leaf_ids = leaf_ids.cast(pa.string())
    if leaf_ids.null_count:
        raise GranularityError(f"label map {lm.source!r}: column 'leaf_id' has missing values")
    duplicate = None
    if len(leaf_ids.unique()) != len(leaf_ids):
        seen: set[str] = set()
        duplicate = next(x for x in lm.leaf_ids if x in seen or seen.add(x))
    n = len(leaf_ids)
    lookups = np.zeros((len(chosen), n + 1), dtype=np.int32)
    for j, lv in enumerate(chosen):
        lookups[j, :n] = lm.lookup(lv)
    rel = Relabeler(
        leaf_ids=leaf_ids,
        levels=chosen,
        lookups=lookups,
        level_ids=[string_array(lm.ids(lv)) for lv in chosen],
        level_names=[string_array(lm.names(lv)) for lv in chosen],
        column=column, key=key, path_column=path_column, path_pattern=path_pattern,
        unknown=unknown, ids=ids, names=names, leaf_index=leaf_index, dictionary=dictionary,
        source=lm.source,
        duplicate_leaf_id=duplicate,
    )
    return rel


def relabel_table(table, label_map, levels: Sequence[str] | None = None, **options):
    """Relabel a whole in-memory ``pyarrow.Table`` (a notebook's entry point)."""
    return make_relabeler(label_map, levels, **options)(table)


# ----------------------------------------------------------------------------- streaming driver


@dataclass
class ApplyStats:
    """What :func:`apply_manifest` did: rows read and written, unknown rows, format."""

    rows_in: int = 0
    rows_out: int = 0
    unknown: int = 0
    column: str = ""
    kind: str = ""
    input_format: str = ""
    output_format: str = ""
    levels: list[str] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)  # distinct labels seen per level


def output_format(target: str, fmt: str | None) -> str:
    """``parquet``, ``csv`` or ``tsv``: ``fmt`` if given, else from the extension."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise GranularityError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
        return fmt
    name = str(target).lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".tsv", ".tab", ".tsv.gz")):
        return "tsv"
    if name == "-" or name.endswith((".parquet", ".pq")):
        return "parquet"
    raise GranularityError(
        f"cannot tell the output format of {target!r} from its extension; "
        "end it in .parquet, .csv or .tsv, or give --format"
    )


class _Manifest:
    """An open manifest: its format, schema, row count (if known) and batches."""

    def __init__(self, spec: str, batch_rows: int, input_format: str | None, key_hint):
        self.spec = spec
        self.repeated: list[str] = []
        self._first = None
        self.name = "stdin" if spec == "-" else spec
        self.where = f"manifest {self.name!r}"
        self._spool = None
        path = spec
        if spec == "-":
            path = self._spool_stdin()
        elif not os.path.exists(spec):
            raise GranularityError(f"manifest {spec!r} does not exist")
        elif os.path.isdir(spec):
            raise GranularityError(f"manifest {spec!r} is a folder, not a file")
        self.path = path
        self.batch_rows = batch_rows
        try:
            if self._compressed():  # CSV/TSV .gz, .bz2, .zst: pyarrow decompresses as it reads
                import pyarrow as pa

                with pa.input_stream(path, compression="detect") as fh:
                    head = fh.read(65536)
            else:
                with open(path, "rb") as fh:
                    head = fh.read(65536)
        except Exception as exc:  # OSError, or pyarrow's for a corrupt compressed stream
            reason = getattr(exc, "strerror", None) or _reason(exc)
            raise GranularityError(f"cannot read manifest {spec!r}: {reason}") from None
        if not head:
            raise GranularityError(f"manifest {self.name!r} is empty")
        self.format = input_format or self._sniff(head)
        if self.format not in FORMATS:
            raise GranularityError(f"--input-format {self.format!r}: choose one of {', '.join(FORMATS)}")
        if self.format == "parquet":
            self._open_parquet()
        else:
            self._open_csv(head, key_hint)

    def _spool_stdin(self) -> str:
        """Copy stdin to a temporary file: parquet needs random access and the
        output is written only once the whole input has been read."""
        import shutil
        import tempfile

        self._spool = tempfile.NamedTemporaryFile(prefix="granularity-stdin-", suffix=".tmp", delete=False)
        with self._spool as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
        return self._spool.name

    def close(self) -> None:
        if self._spool is not None:
            try:
                os.unlink(self._spool.name)
            except OSError:
                pass
            self._spool = None

    def _compressed(self) -> bool:
        return self.name.lower().endswith(COMPRESSED_SUFFIXES)

    def _sniff(self, head: bytes) -> str:
        if head[:4] == b"PAR1":
            return "parquet"
        low = self.name.lower()
        for suffix in COMPRESSED_SUFFIXES:
            low = low.removesuffix(suffix)
        if low.endswith((".parquet", ".pq")):
            return "parquet"  # not PAR1: reported as corrupt when opened
        if low.endswith(".csv"):
            return "csv"
        if low.endswith((".tsv", ".tab")):
            return "tsv"
        first = head.split(b"\n", 1)[0]
        return "tsv" if b"\t" in first else "csv"

    def _open_parquet(self) -> None:
        import pyarrow.parquet as pq

        try:
            self._pf = pq.ParquetFile(self.path)
            self.schema = self._pf.schema_arrow
            self.num_rows = self._pf.metadata.num_rows
            repeated = self._repeated_strings()
            self.repeated = repeated
            if repeated:
                self._pf = pq.ParquetFile(self.path, read_dictionary=repeated)
                self.schema = self._pf.schema_arrow
        except GranularityError:
            raise
        except Exception as exc:
            raise GranularityError(f"{self.where} is not a readable parquet file: {_reason(exc)}") from None

    def _repeated_strings(self) -> list[str]:
        """String columns with few distinct values (leaf ids, splits...): read and
        written dictionary-encoded, as parquet stores them, which saves decoding and
        re-hashing every value. Judged on the file's first rows, whatever the batch size."""
        import pyarrow as pa

        cols = [f.name for f in self.schema
                if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        if not cols or not self.num_rows:
            return []
        first = next(self._pf.iter_batches(batch_size=SAMPLE_ROWS, columns=cols), None)
        return _repeated(first, cols)

    def _open_csv(self, head: bytes, key_hint) -> None:
        import csv
        import io

        import pyarrow as pa
        import pyarrow.csv as pcsv

        sep = "," if self.format == "csv" else "\t"
        try:
            text = head.decode("utf-8-sig", errors="replace")
            header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
        except csv.Error as exc:
            raise GranularityError(f"{self.where}: cannot read its header: {exc}") from None
        # read id-like key columns as text, so that '00123' or numeric taxon ids stay ids
        types = {c: pa.string() for c in header if key_hint(c) == "id"}
        try:
            self._reader = pcsv.open_csv(
                self.path,
                read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=pcsv.ParseOptions(delimiter=sep),
                convert_options=pcsv.ConvertOptions(column_types=types),
            )
        except Exception as exc:
            raise GranularityError(f"{self.where} is not readable {self.format.upper()}: {_reason(exc)}") from None
        self.schema = self._reader.schema
        self.num_rows = None
        self._first = self._next_csv()
        strings = [f.name for f in self.schema if pa.types.is_string(f.type)]
        self.repeated = _repeated(self._first, strings) if self._first is not None else []

    def _next_csv(self):
        try:
            return self._reader.read_next_batch()
        except StopIteration:
            return None
        except Exception as exc:
            raise GranularityError(f"{self.where} is not readable {self.format.upper()}: {_reason(exc)}") from None

    def batches(self) -> Iterator:
        """The manifest's non-empty record batches, of at most ``batch_rows`` rows."""
        if self.format == "parquet":
            it = self._pf.iter_batches(batch_size=self.batch_rows)
        else:
            it = self._csv_batches()
        while True:
            try:
                b = next(it)
            except StopIteration:
                return
            except GranularityError:
                raise
            except Exception as exc:
                what = "parquet" if self.format == "parquet" else self.format.upper()
                raise GranularityError(f"{self.where} is not readable {what}: {_reason(exc)}") from None
            for start in range(0, b.num_rows, self.batch_rows):
                yield b.slice(start, self.batch_rows)

    def _csv_batches(self) -> Iterator:
        b = self._first
        self._first = None
        while b is not None:
            yield b
            b = self._next_csv()


COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zst")
SAMPLE_ROWS = 1 << 16        # rows judged to pick dictionary-encoded string columns
CSV_BLOCK_BYTES = 4 << 20    # CSV/TSV read block (a batch holds one block's rows)


def _repeated(batch, columns: list[str]) -> list[str]:
    """The string ``columns`` of ``batch`` (its first SAMPLE_ROWS rows) with at most one
    distinct value per 20 rows."""
    import pyarrow.compute as pc

    if batch is None or not batch.num_rows:
        return []
    sample = batch.slice(0, SAMPLE_ROWS)
    return [c for c in columns if pc.count_distinct(sample.column(c)).as_py() * 20 <= sample.num_rows]


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def _prefetch(it: Iterator, depth: int = 2) -> Iterator:
    """Run ``it`` in a background thread, ``depth`` items ahead (reading overlaps
    writing; pyarrow releases the GIL). Errors are re-raised in the caller."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put((item, None))
            q.put((done, None))
        except BaseException as exc:  # handed to the consumer
            q.put((done, exc))

    th = threading.Thread(target=work, name="granularity-read", daemon=True)
    th.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while th.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except Exception:
                th.join(0.01)


class _Writer:
    """Streams batches to parquet/CSV/TSV into an open binary file object."""

    def __init__(self, fh, fmt: str, schema, compression: str, dictionary: list[str] | bool = True):
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        self.fmt = fmt
        if fmt == "parquet":
            import pyarrow as pa

            # 64-bit integers (sample ids, hashes...): delta encoding is three times
            # faster to write than plain + zstd, and smaller for ordered ids
            delta = {f.name: "DELTA_BINARY_PACKED" for f in schema
                     if f.type in (pa.int64(), pa.uint64()) and not (dictionary is True or f.name in dictionary)}
            self._w = pq.ParquetWriter(fh, schema, compression=compression, write_statistics=False,
                                       use_dictionary=dictionary, column_encoding=delta or None)
        else:
            # TSV unquoted (a value holding a tab, newline or quote is an error); CSV quotes strings
            opts = pcsv.WriteOptions(delimiter="," if fmt == "csv" else "\t", include_header=True,
                                     quoting_style="needed" if fmt == "csv" else "none",
                                     quoting_header="needed" if fmt == "csv" else "none")
            self._w = pcsv.CSVWriter(fh, schema, write_options=opts)

    def write(self, batch) -> None:
        if self.fmt != "tsv":
            self._w.write_batch(batch)
            return
        try:
            self._w.write_batch(batch)
        except Exception as exc:
            raise GranularityError(f"cannot write TSV: {_reason(exc)}; write CSV or parquet instead") from None

    def close(self) -> None:
        self._w.close()


class _StdoutSpool:
    """Atomic output to stdout with bounded memory: spool to a temp file, copy at the end."""

    def __enter__(self):
        import tempfile

        self._fh = tempfile.TemporaryFile(prefix="granularity-out-")
        return self._fh

    def __exit__(self, exc_type, exc, tb):
        import shutil

        try:
            if exc_type is None:
                self._fh.flush()
                self._fh.seek(0)
                shutil.copyfileobj(self._fh, sys.stdout.buffer, 1 << 20)
                sys.stdout.buffer.flush()
        finally:
            self._fh.close()
        return False


def apply_manifest(
    manifest: str,
    label_map,
    output: str,
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
    output_format_: str | None = None,
    input_format: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    compression: str = "zstd",
    progress=None,
) -> ApplyStats:
    """Relabel ``manifest`` (path or ``-``) with ``label_map`` and write ``output``.

    Streams in batches of ``batch_rows`` rows: memory stays at a few batches. The
    output (path or ``-``) appears only when the whole manifest has been
    relabelled; on any error there is none. With ``unknown="error"`` the whole
    input is still scanned so that the error gives the total count of unknown
    rows. ``progress(rows_done, rows_total_or_None)`` is called after each batch.
    Parquet output carries the ``granularity`` metadata (map and manifest name and
    sha256, levels, key, unknown policy).
    """
    import threading

    from .labelmap import LabelMap, atomic_output, granularity_metadata, read_label_map

    if batch_rows < 1:
        raise GranularityError(f"--batch-rows {batch_rows} must be at least 1")
    lm = label_map if isinstance(label_map, LabelMap) else read_label_map(label_map)
    rel = make_relabeler(lm, levels, column=column, key=key, path_column=path_column,
                         path_pattern=path_pattern, unknown=unknown, ids=ids, names=names,
                         leaf_index=leaf_index)
    fmt = output_format(output, output_format_)
    if compression not in ("zstd", "snappy", "lz4", "gzip", "none"):
        raise GranularityError(f"--compression {compression!r}: choose zstd, snappy, lz4, gzip or none")

    def key_hint(col: str) -> str | None:
        if path_column is not None:
            return None
        if column is not None:
            return key if col == column and key != "auto" else (
                "id" if col == column and col in ID_COLUMNS else None)
        return "id" if col in ID_COLUMNS else None

    src = _Manifest(manifest, batch_rows, input_format, key_hint)
    try:
        where = src.where
        col, kind = rel.resolve_key(src.schema, where)
        out_schema = rel.output_schema(src.schema, where)
        stats = ApplyStats(column=col, kind=kind, input_format=src.format, output_format=fmt,
                           levels=list(rel.levels))

        # the inputs' sha256 go into the output's metadata, which parquet writes first:
        # hash the manifest in a thread while the first batch is read
        digest: dict[str, str] = {}
        hasher = None
        if fmt == "parquet":
            hasher = threading.Thread(target=lambda: digest.setdefault("sha", _sha256_file(src.path)),
                                      daemon=True)
            hasher.start()
        map_sha = getattr(lm, "sha256", None)
        if map_sha is None and lm.source not in ("stdin",) and os.path.isfile(lm.source):
            map_sha = _sha256_file(lm.source)

        def file_metadata() -> dict[bytes, bytes] | None:
            if hasher is None:
                return None
            hasher.join()
            meta = {
                "method": "apply",
                "map": {"name": _display_name(lm.source), "sha256": map_sha},
                "manifest": {"name": _display_name(manifest), "sha256": digest.get("sha")},
                "levels": list(rel.levels),
                "key": {"column": col, "kind": kind,
                        **({"path_pattern": rel.path_pattern} if rel.path_pattern else {})},
                "unknown": unknown,
            }
            return {**(out_schema.metadata or {}), **granularity_metadata(
                meta, rel.levels, {lv: lm.num_classes(lv) for lv in rel.levels})}

        seen = np.zeros((len(rel.levels), int(rel.lookups.max(initial=0)) + 2), dtype=bool)
        sink = _StdoutSpool() if output == "-" else atomic_output(output, binary=True)
        def relabelled() -> Iterator:
            """Read and relabel (in the reader thread): yields (batch, rows read so far)."""
            failure: UnknownLeavesError | None = None
            offset = 0
            for batch in _prefetch(src.batches()):  # reading overlaps relabelling too
                if failure is not None:  # keep counting for the message, relabel nothing more
                    count, more = rel.unknown_rows(batch, offset, where, 5 - len(failure.examples))
                    failure.count += count
                    failure.examples.extend(more)
                    offset += batch.num_rows
                    continue
                try:
                    out = rel(batch, offset, where)
                except UnknownLeavesError as exc:  # counts every unknown row of this batch
                    failure = exc
                    offset += batch.num_rows
                    continue
                stats.rows_in += batch.num_rows
                stats.rows_out += out.num_rows
                if unknown == "drop":
                    stats.unknown += batch.num_rows - out.num_rows
                elif unknown == "keep":
                    stats.unknown += out.column(rel.levels[0]).null_count
                for j, lv in enumerate(rel.levels):
                    lab = out.column(lv)
                    seen[j, to_numpy(lab if lab.null_count == 0 else lab.drop_null())] = True
                offset += batch.num_rows
                yield out, offset
            if failure is not None:
                raise UnknownLeavesError(failure.count, failure.examples, failure.column, where)
            if offset == 0:
                raise GranularityError(f"{where} has no rows")

        with sink as fh:
            writer = None
            try:
                # reading + relabelling overlap writing (pyarrow releases the GIL)
                for out, done in _prefetch(relabelled()):
                    if writer is None:
                        writer = _Writer(fh, fmt, out_schema.with_metadata(file_metadata()), compression,
                                         _dictionary_columns(out_schema, src.repeated))
                    writer.write(out)
                    if progress is not None:
                        progress(done, src.num_rows)
                if writer is None:  # every row dropped: still a valid, empty file
                    writer = _Writer(fh, fmt, out_schema.with_metadata(file_metadata()), compression,
                                     _dictionary_columns(out_schema, src.repeated))
                writer.close()
            except BaseException:
                if writer is not None:  # let it go quietly: the temp file is discarded
                    try:
                        writer.close()
                    except Exception:
                        pass
                raise
        stats.label_counts = {lv: int(seen[j].sum()) for j, lv in enumerate(rel.levels)}
        return stats
    finally:
        src.close()


def _dictionary_columns(schema, repeated: list[str]) -> list[str]:
    """Columns worth parquet's dictionary encoding: dictionary arrays (the added
    ``_id``/``_name`` columns, repeated strings of a parquet input) and the string
    columns with few distinct values. Trying it on unique values (sample ids,
    paths) costs a hash of each and then falls back; integer labels compress as
    well without it, for half the time."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_dictionary(f.type) or f.name in repeated]


def _display_name(spec: str) -> str:
    return "-" if spec in ("-", "stdin") else Path(spec).name
