"""The label-map file: parquet, schema version 1 (see docs/format.md), written and read.

:func:`write_label_map` writes a :class:`~hierarchy_cli.hierarchy.Hierarchy` (same
hierarchy and metadata in, byte-identical file out); :func:`read_label_map` reads
any map back, checked once by :func:`hierarchy_cli.mapschema.checked_table`, as a
:class:`LabelMap`, whose methods give every consumer the same per-leaf and
per-label values.
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
from .arrays import int32_array, int_array, string_array
from .errors import GranularityError
from .hierarchy import OUTSIDE, Hierarchy, Level, first_appearance_labels
from .mapschema import METADATA_KEY, SCHEMA_VERSION, checked_table, level_columns
from .outputs import write_table


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

@dataclass
class LabelMap:
    """A label map read back from parquet, checked (see :func:`read_label_map`).

    ``lookup(level)`` maps a leaf index to that level's label (an int32 array),
    ``names(level)`` and ``ids(level)`` give the labels' names and ids (as Arrow
    arrays: ``name_array``, ``id_array``), ``num_classes(level)`` their count;
    ``metadata`` is the ``granularity`` JSON; ``sha256`` is the sha256 of the bytes
    read. ``table`` holds the columns in their canonical types (int32 labels,
    ``string`` ids and names), so that every consumer sees the same values.
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
        return list(self.metadata.get("levels") or level_columns(self.table.column_names))

    @property
    def num_leaves(self) -> int:
        return self.table.num_rows

    @property
    def leaf_ids(self) -> list[str]:
        return self.table.column("leaf_id").to_pylist()

    @property
    def leaf_names(self) -> list[str]:
        return self.table.column("leaf_name").to_pylist()

    def leaf_id_array(self):
        """The leaf ids in leaf_index order, as one Arrow ``string`` array."""
        return _as_string(self.table.column("leaf_id").combine_chunks())

    def check_level(self, level: str, where: str | None = None) -> str:
        """``level`` when the map has it, else the one-line error naming the map and its
        levels (after ``where``, the option or argument that named the level)."""
        if level not in self.levels:
            raise GranularityError(f"{where + ': ' if where else ''}no level {level!r} in {self.source}; "
                                   f"levels are: {', '.join(self.levels)}")
        return level

    def _stored(self, level: str) -> np.ndarray:
        """The labels of ``level`` as stored, :data:`OUTSIDE` (-1) where null."""
        self.check_level(level)
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

    def _per_label(self, level: str, suffix: str):
        """The ``<level>_<suffix>`` value of each label 0..K-1, from the label's first leaf
        (an Arrow array)."""
        lab = self._stored(level)
        inside = np.flatnonzero(lab >= 0)
        _, firsts = np.unique(lab[inside], return_index=True)  # labels are 0..K-1: sorted = by label
        column = self.table.column(f"{level}_{suffix}").combine_chunks()
        return column.take(int_array(inside[firsts].astype(np.int64)))

    def names(self, level: str) -> list[str]:
        """The name of each label 0..K-1 of ``level``."""
        return self._per_label(level, "name").to_pylist()

    def ids(self, level: str) -> list[str]:
        """The id of each label 0..K-1 of ``level``."""
        return self._per_label(level, "id").to_pylist()

    def name_array(self, level: str):
        """:meth:`names` as one Arrow ``string`` array (label -> name, for ``take``)."""
        return _as_string(self._per_label(level, "name"))

    def id_array(self, level: str):
        """:meth:`ids` as one Arrow ``string`` array (label -> id, for ``take``)."""
        return _as_string(self._per_label(level, "id"))

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


def _as_string(values):
    """An Arrow array of text as ``string`` (a map read with ``check=False`` may hold
    another string type; a checked one already is)."""
    import pyarrow as pa

    return values if values.type == pa.string() else values.cast(pa.string())


_DERIVED_KEYS = ("schema", "tool_version", "levels", "num_leaves", "num_classes", "extra_columns", "num_outside")


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
        table = pq.ParquetFile(pa.BufferReader(_arrow_owned(data))).read()
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
    sha256 = hashlib.sha256(data).hexdigest()
    if not check:
        return LabelMap(table, meta, source, sha256)
    table, levels, labels = checked_table(table, meta, f"label map {source!r}")
    return LabelMap(table, meta, source, sha256, levels, labels)
