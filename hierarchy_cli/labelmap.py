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
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import __version__
from .errors import GranularityError, GranularityFailure
from .hierarchy import Hierarchy, Level

SCHEMA_VERSION = 1
METADATA_KEY = b"granularity"
LEAF_COLUMNS = ("leaf_index", "leaf_id", "leaf_name")


# ----------------------------------------------------------------------------- output


def check_target(target: str | os.PathLike) -> Path:
    """Fail early, with one line, if ``target`` cannot be written; return its folder."""
    path = Path(target)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GranularityError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise GranularityError(f"cannot write {str(path)!r}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise GranularityError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable")
    return folder


@contextmanager
def atomic_output(target: str | os.PathLike, binary: bool = True):
    """Yield a file object whose content replaces ``target`` only on success.

    ``target`` ``-`` means stdout: the data is buffered and written at the end, so
    a failure writes nothing. Otherwise a temporary file is created beside the
    target and renamed over it once the block finishes; on any error, Ctrl-C,
    SIGTERM or SIGHUP the temporary file is deleted (after a SIGKILL it stays, hidden
    as ``.<name>.*.tmp``) and the target keeps its previous content or stays
    absent. A replaced file keeps its permission bits; the command line says on
    stderr that it replaced it. A signal whose exception was swallowed on the way
    (see :mod:`hierarchy_cli.process`) is raised again before the rename.
    """
    from . import process

    process.check()
    if str(target) == "-":
        import io

        buf = io.BytesIO() if binary else io.StringIO()
        yield buf
        with process.deferred():
            process.check()
            out = sys.stdout.buffer if binary else sys.stdout
            out.write(buf.getvalue())
            out.flush()
            process.commit()
        return
    path = Path(target)
    folder = check_target(path)
    if path.exists() and not path.is_file():
        # a device or a pipe (/dev/null, a FIFO): nothing to rename over; buffer the
        # data so that a failure still writes nothing, then write it in one go.
        import io

        buf = io.BytesIO() if binary else io.StringIO()
        yield buf
        process.check()
        try:
            with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
                fh.write(buf.getvalue())
        except OSError as exc:
            raise GranularityFailure(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        process.commit()
        return
    with process.deferred():  # a signal between mkstemp and the try would leak the file
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise GranularityError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    try:
        process.check()
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8",
                       newline=None if binary else "") as fh:
            yield fh
        # No fsync: a rename after a complete write already guarantees that a killed
        # process leaves the old file or the new one; fsync would only add power-loss
        # durability, at 0.1-0.2 s per file on this disk.
        replaced = path.is_file()
        os.chmod(tmp, (path.stat().st_mode & 0o7777) if replaced else 0o666 & ~_umask())
        with process.deferred():  # from here a signal no longer undoes the finished file
            process.check()
            os.replace(tmp, path)
            process.commit()
        if replaced:
            process.note(f"note: replaced the existing {str(path)!r}")
    except BaseException as exc:
        with process.deferred():
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, GranularityError):
            raise GranularityFailure(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise


@contextmanager
def temporary_folder(prefix: str = "granularity-", dir: str | os.PathLike | None = None):
    """A temporary folder (in ``dir``, else TMPDIR) removed on every way out.

    Success, an error, Ctrl-C, SIGTERM or SIGHUP: the folder and everything in it
    are deleted (a second signal during the removal does not cut it short). Every
    temporary folder of the package is made here.
    """
    import shutil

    from . import process

    process.check()
    with process.deferred():
        path = tempfile.mkdtemp(prefix=prefix, dir=dir)
    try:
        yield path
    finally:
        with process.deferred():
            shutil.rmtree(path, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ----------------------------------------------------------------------------- writing


def metadata_json(h: Hierarchy) -> bytes:
    """The ``granularity`` metadata: canonical JSON (sorted keys, no timestamps)."""
    meta: dict[str, Any] = {"schema": SCHEMA_VERSION, "tool_version": __version__}
    meta.update(h.metadata)
    meta["levels"] = h.level_names
    meta["num_leaves"] = h.num_leaves
    meta["num_classes"] = {lv.name: lv.num_classes for lv in h.levels}
    if h.columns:
        meta["extra_columns"] = list(h.columns)
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def to_arrow(h: Hierarchy):
    """The label map as a ``pyarrow.Table`` (with the ``granularity`` metadata)."""
    import pyarrow as pa

    from .arrowutil import int32_array, string_array

    cols: dict[str, Any] = {
        "leaf_index": int32_array(np.arange(h.num_leaves)),
        "leaf_id": string_array(list(h.leaf_ids)),
        "leaf_name": string_array(list(h.leaf_names)),
    }
    for lv in h.levels:
        if lv.name in cols or f"{lv.name}_id" in cols or f"{lv.name}_name" in cols:
            raise GranularityError(f"level name {lv.name!r} clashes with another column")
        idx = int32_array(lv.labels)
        cols[lv.name] = idx
        # expand per leaf in numpy (dictionary_decode would import pyarrow.compute)
        cols[f"{lv.name}_id"] = string_array(np.asarray(lv.ids, dtype=object)[lv.labels].tolist())
        cols[f"{lv.name}_name"] = string_array(np.asarray(lv.names, dtype=object)[lv.labels].tolist())
    for name, values in h.columns.items():  # extra per-leaf columns that are not levels
        if name in cols:
            raise GranularityError(f"column {name!r} clashes with another column")
        values = np.asarray(values)
        cols[name] = int32_array(values) if values.dtype.kind in "iu" else string_array(values.tolist())
    table = pa.Table.from_arrays(list(cols.values()), names=list(cols))
    return table.replace_schema_metadata({METADATA_KEY: metadata_json(h)})


def write_table(table, target: str | os.PathLike) -> None:
    """Write an Arrow table as parquet to ``target`` (a path or ``-``), atomically."""
    import pyarrow.parquet as pq

    with atomic_output(target) as fh:
        pq.write_table(table, fh, compression="zstd", write_statistics=False)


def write_label_map(h: Hierarchy, target: str | os.PathLike) -> None:
    """Validate ``h`` and write it as a label map to ``target`` (path or ``-``)."""
    h.validate()
    write_table(to_arrow(h), target)


# ----------------------------------------------------------------------------- reading


@dataclass
class LabelMap:
    """A label map read back from parquet.

    ``lookup(level)`` maps a leaf index to that level's label (an int32 array),
    ``names(level)`` and ``ids(level)`` give the labels' names and ids,
    ``num_classes(level)`` their count; ``metadata`` is the ``granularity`` JSON.
    """

    table: Any
    metadata: dict[str, Any]
    source: str

    @property
    def levels(self) -> list[str]:
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

    def lookup(self, level: str) -> np.ndarray:
        self._check_level(level)
        from .arrowutil import to_numpy

        return to_numpy(self.table.column(level)).astype(np.int32, copy=False)

    def _per_label(self, level: str, suffix: str) -> list[str]:
        """One value of ``<level>_<suffix>`` per label, from the label's first row."""
        from .arrowutil import int32_array

        lab = self.lookup(level)
        if lab.size == 0:
            return []
        _, firsts = np.unique(lab, return_index=True)  # labels are 0..K-1: sorted = by label
        column = self.table.column(f"{level}_{suffix}")
        return column.take(int32_array(firsts)).to_pylist()

    def names(self, level: str) -> list[str]:
        return self._per_label(level, "name")

    def ids(self, level: str) -> list[str]:
        return self._per_label(level, "id")

    def num_classes(self, level: str) -> int:
        lab = self.lookup(level)
        return int(lab.max()) + 1 if lab.size else 0

    def to_hierarchy(self) -> Hierarchy:
        """The :class:`Hierarchy` this file stores."""
        levels = [
            Level(lv, self.lookup(lv), tuple(self.ids(lv)), tuple(self.names(lv)))
            for lv in self.levels
        ]
        meta = {k: v for k, v in self.metadata.items()
                if k not in ("schema", "tool_version", "levels", "num_leaves", "num_classes")}
        return Hierarchy(self.leaf_ids, self.leaf_names, levels, meta)


def _level_columns(columns: list[str]) -> list[str]:
    names = set(columns)
    return [c for c in columns
            if c not in LEAF_COLUMNS and f"{c}_id" in names and f"{c}_name" in names]


def _map_source(path) -> tuple[Any, str]:
    """``(what pyarrow opens, the name messages use)`` for ``read_label_map(path)``.

    ``'-'`` (stdin), bytes and binary file objects are read whole into an Arrow
    buffer: pyarrow reading through a Python file object can abort the interpreter
    at exit ("terminate called without an active exception", apache/arrow#33975).
    """
    import pyarrow as pa

    if isinstance(path, (str, os.PathLike)) and str(path) != "-":
        return path, str(path)
    if isinstance(path, (bytes, bytearray, memoryview, pa.Buffer)):
        return pa.BufferReader(pa.py_buffer(path)), "<bytes>"
    if str(path) == "-":
        data, source = sys.stdin.buffer.read(), "stdin"
    elif callable(getattr(path, "read", None)):
        data, source = path.read(), str(getattr(path, "name", None) or "<file>")
        if isinstance(data, str):
            raise TypeError(f"path: file {source!r} is open in text mode; open it with 'rb'")
    else:
        raise TypeError(f"path: expected '-', a file path, bytes or a binary file object, got {type(path).__name__}")
    return pa.BufferReader(pa.py_buffer(data)), source


def read_label_map(path: str | os.PathLike | bytes | IO[bytes], check: bool = True) -> LabelMap:
    """Read a label map written by granularity (or any file with its columns).

    ``path`` is a file path, ``'-'`` for stdin, the file's bytes, or a binary file
    object (read to its end). Raises :class:`GranularityError` naming the file and
    the problem when it is not readable parquet or lacks a column of the schema.
    """
    import pyarrow.parquet as pq

    path, source = _map_source(path)
    if isinstance(path, (str, os.PathLike)):
        if Path(path).is_dir():
            raise GranularityError(f"label map {source!r} is a folder, not a file")
        if not Path(path).exists():
            raise GranularityError(f"label map {source!r} does not exist")
    try:
        table = pq.ParquetFile(path).read()  # pq.read_table would import pandas
    except FileNotFoundError:
        raise GranularityError(f"label map {source!r} does not exist") from None
    except IsADirectoryError:
        raise GranularityError(f"label map {source!r} is a folder, not a file") from None
    except Exception as exc:  # pyarrow raises several types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GranularityError(f"label map {source!r} is not a readable parquet file: {reason}") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        raise GranularityError(f"label map {source!r}: its 'granularity' metadata is not JSON") from None
    lm = LabelMap(table, meta, source)
    if check:
        _check_schema(lm)
    return lm


def _check_schema(lm: LabelMap) -> None:
    import pyarrow as pa

    cols = lm.table.column_names
    for c in LEAF_COLUMNS:
        if c not in cols:
            raise GranularityError(f"label map {lm.source!r} is missing column {c!r}")
    schema = lm.metadata.get("schema")
    if schema is not None and schema != SCHEMA_VERSION:
        raise GranularityError(
            f"label map {lm.source!r} has schema version {schema!r}; this tool reads {SCHEMA_VERSION}"
        )
    levels = lm.levels
    if not levels:
        for c in cols:  # an integer column that lacks its _id/_name companions: name the missing one
            if c not in LEAF_COLUMNS and pa.types.is_integer(lm.table.schema.field(c).type):
                gap = next(x for x in (f"{c}_id", f"{c}_name") if x not in cols)
                raise GranularityError(f"label map {lm.source!r} is missing column {gap!r} (for level {c!r})")
        raise GranularityError(f"label map {lm.source!r} has no level columns")
    for lv in levels:
        for c in (lv, f"{lv}_id", f"{lv}_name"):
            if c not in cols:
                raise GranularityError(f"label map {lm.source!r} is missing column {c!r}")
        if not pa.types.is_integer(lm.table.schema.field(lv).type):
            raise GranularityError(
                f"label map {lm.source!r}: column {lv!r} has type {lm.table.schema.field(lv).type}, expected int32"
            )
        if lm.table.column(lv).null_count:
            raise GranularityError(f"label map {lm.source!r}: column {lv!r} has missing values")
    from .arrowutil import to_numpy

    idx = to_numpy(lm.table.column("leaf_index"))
    if not np.array_equal(idx, np.arange(len(idx))):
        raise GranularityError(f"label map {lm.source!r}: leaf_index is not 0..N-1 in order")



def read_map_level(spec: str, option: str) -> tuple[LabelMap, str | None]:
    """Parse ``MAP[:LEVEL]`` (as in ``--within in21k.parquet:level_3``) and read MAP.

    Returns the label map and the level name (``None`` when no ``:LEVEL`` is given);
    a level that is not in the map is an error naming ``option``.
    """
    path, level = spec, None
    if ":" in spec and not Path(spec).exists():
        path, level = spec.rsplit(":", 1)
    lm = read_label_map(path)
    if level is not None and level not in lm.levels:
        raise GranularityError(
            f"{option} {spec!r}: no level {level!r} in {lm.source}; levels are: {', '.join(lm.levels)}"
        )
    return lm, level
