"""Class lists (and other id lists): the user's, and those of standard datasets.

The user's (:func:`read_id_list`, :func:`id_list`): in plain text each line is one
id, the whole line with the spaces around it stripped, so ``Felis catus`` stays
``Felis catus``. A line holding a tab (ImageNet's ``words.txt``:
``wnid<TAB>words``) gives the text before the first tab; the summary says so.
Blank lines and lines starting with ``#`` are skipped. A CSV/TSV or parquet list
is a column of a table (:func:`~hierarchy_cli.inputs.read_table`). Duplicate ids
are an error naming both lines. Whatever is stripped or cut is reported in
``IdList.notes`` (printed under the summary, kept in the metadata).

The shipped ones (:func:`load_dataset`), in ``data_manifests/``: each list is a
text file with one wnid per line in the dataset's class-index order;
``data_manifests/manifests.json`` gives its count, sha256 and provenance.
``scripts/make_manifests.py`` regenerates them. Installed, they live in the
package ``hierarchy_cli.data_manifests``; in a source checkout they are read
from the repository's ``data_manifests/`` folder.

:func:`resolve_classes` reads ``--classes`` or ``--dataset``, as every command does.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import GranularityError, offenders
from .inputs import ID_COLUMN_GUESSES, TABLE_KINDS, InputFile, decode_lines, find_duplicates, read_input

DEFAULT_DATASET = "imagenet21k"


@dataclass(frozen=True)
class IdList:
    """Ids in input order, with the line (or row) each came from and notes on what was cut."""

    ids: list[str]
    lines: list[int]
    source: InputFile
    position: str = "line"  # how ``lines`` are named in messages
    notes: tuple[str, ...] = field(default_factory=tuple)
    # A CSV/TSV whose header named no id column (neither --column nor a guess): its first
    # row's cell in the column taken, and that row's line. The edge source reads the row as
    # a class when that cell is a node of the graph (a class list without a header row).
    first_row: str | None = None
    first_row_line: int = 0

    def where(self, i: int) -> str:
        return f"{self.position} {self.lines[i]}"

    def with_first_row(self, note: str) -> IdList:
        """The list with :attr:`first_row` read as its first id (the file had no header row)."""
        return IdList([self.first_row, *self.ids], [self.first_row_line, *self.lines], self.source, self.position,
                      (*self.notes, note))


def read_id_list(spec: str | os.PathLike, what: str = "class list", column: str | None = None,
                 allow_empty: bool = False) -> IdList:
    """Read ids from text, CSV/TSV or parquet (``column`` picks a column); see the module doc."""
    inp = read_input(spec, what)
    return parse_id_list(inp, what, column, allow_empty)


def id_list(value, what: str, column: str | None = None) -> IdList:
    """Ids from a path (``-`` for stdin; ``column`` picks a CSV/TSV/parquet column) or a
    Python sequence of ids, each taken exactly as given (empty or repeated ids are errors)."""
    if isinstance(value, (str, os.PathLike)):
        return read_id_list(value, what, column=column)
    ids = [str(c) for c in value]
    empty = [i for i, x in enumerate(ids) if not x.strip()]
    if empty:
        raise GranularityError(f"{what}: item {empty[0] + 1} is an empty id")
    data = ("\n".join(ids) + "\n").encode()
    return check_ids(IdList(ids, list(range(1, len(ids) + 1)), InputFile("<list>", data), "item"), what, False)


LIST_FILE_SUFFIXES = (".txt", ".csv", ".tsv", ".tab", ".parquet", ".json")


def cli_id_list(value: str | None) -> str | list[str] | None:
    """An option that takes a file or ids: the path (or ``-``) when it names a file (or
    looks like a path: a folder separator or a list file's extension), else the ids,
    comma-separated (``--ancestors n02084071`` or ``--ancestors n02084071,n02121808``)."""
    if value is None or value == "-" or Path(value).exists():
        return value
    if os.sep in value or "/" in value or value.lower().endswith(LIST_FILE_SUFFIXES):
        return value  # a file that does not exist: its reader says so
    return [x.strip() for x in value.split(",")]


def parse_id_list(inp: InputFile, what: str, column: str | None = None,
                  allow_empty: bool = False) -> IdList:
    """The ids of an input already read: one per line of a text, or a column of a table."""
    from .inputs import read_table

    if inp.kind not in TABLE_KINDS:
        if column is not None:
            raise GranularityError(
                f"--column {column!r} needs a CSV, TSV or parquet file, but {what} {inp.name!r} is plain text")
        out = _text_ids(inp, what)
    else:
        t = read_table(inp, what)
        if not t.columns:
            out = IdList([], [], inp)
        else:
            col = t.pick(column, ID_COLUMN_GUESSES, first_as_default=True)
            raw = t.table.column(col)
            ids = t.strings(col).to_pylist()
            notes = ()
            if t.position != "row":
                padded = sum(1 for a, b in zip(raw.to_pylist(), ids) if a != b)
                if padded:
                    notes = (f"{padded:,} ids in column {col!r} had spaces around them: stripped",)
            defaulted = inp.kind != "parquet" and column is None and col.lower() not in ID_COLUMN_GUESSES
            out = IdList(ids, t.numbers.tolist(), inp, t.position, notes,
                         col if defaulted else None, t.header_line)
    return check_ids(out, what, allow_empty)


def _text_ids(inp: InputFile, what: str) -> IdList:
    """One id per line: the whole line, trimmed; with a tab, the text before the first tab."""
    ids: list[str] = []
    lines: list[int] = []
    tabbed, padded, blank_between = [], [], []
    blanks: list[int] = []
    for n, raw in enumerate(decode_lines(inp, what), 1):
        text = raw.strip()
        if not text:
            blanks.append(n)
            continue
        if text.startswith("#"):
            continue
        if blanks and ids:
            blank_between.extend(blanks)
        blanks = []
        if "\t" in text:
            head, _ = text.split("\t", 1)
            tabbed.append(n)
            text = head.strip()
            if not text:
                raise GranularityError(f"{what} {inp.name!r} line {n}: empty id before the tab")
        elif text != raw:
            padded.append(n)
        ids.append(text)
        lines.append(n)
    notes = []
    if tabbed:
        notes.append(f"{len(tabbed):,} lines hold a tab (first: line {tabbed[0]}): each id is the text "
                     "before the first tab, the rest is not part of it (words.txt style)")
    if padded:
        notes.append(f"{len(padded):,} ids had spaces around them (first: line {padded[0]}): stripped")
    if blank_between:
        notes.append(f"{len(blank_between):,} blank lines between ids skipped (first: line {blank_between[0]}): "
                     "leaf_index counts ids, not lines")
    return IdList(ids, lines, inp, "line", tuple(notes))


def check_ids(out: IdList, what: str, allow_empty: bool) -> IdList:
    """``out``, unless it is empty (and that is not allowed) or repeats an id: errors naming the lines."""
    if not out.ids and not allow_empty:
        raise GranularityError(f"{what} {out.source.name!r} holds no ids")
    if len(set(out.ids)) != len(out.ids):
        dup = find_duplicates(out.ids, out.where)
        raise GranularityError(offenders(dup, "duplicate ids", f"{what} {out.source.name!r}"))
    return out


# ----------------------------------------------------------------------------- the shipped lists


def manifest_dir() -> Path:
    """The folder holding the shipped class lists."""
    try:
        from importlib import resources

        folder = Path(str(resources.files("hierarchy_cli.data_manifests")))
        if (folder / "manifests.json").is_file():
            return folder
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "data_manifests"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict]:
    """``{name: {file, num_classes, sha256, description, provenance}}``."""
    path = manifest_dir() / "manifests.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["datasets"]
    except FileNotFoundError:
        raise GranularityError(f"the shipped class lists are missing ({str(path)!r}): reinstall granularity") from None


def dataset_names() -> list[str]:
    return list(catalogue())


def load_dataset(name: str) -> IdList:
    """The class list of a shipped dataset, checked against its recorded sha256."""
    cat = catalogue()
    if name not in cat:
        raise GranularityError(f"unknown --dataset {name!r}; shipped: {', '.join(cat)}")
    entry = cat[name]
    data = (manifest_dir() / entry["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise GranularityError(
            f"shipped class list {entry['file']!r} does not match its recorded sha256: reinstall granularity",
            exit_code=1,
        )
    return parse_id_list(InputFile(entry["file"], data), f"dataset {name}")


def resolve_classes(classes=None, dataset: str | None = None, column: str | None = None,
                    default: str | None = DEFAULT_DATASET, is_id=None):
    """The leaves from ``--classes`` or ``--dataset``, as every command reads them.

    ``classes`` is a path (``-`` for stdin; ``column`` picks a CSV/TSV/parquet
    column; see :mod:`hierarchy_cli.inputs` for the id rules) or a list of ids,
    each taken exactly as given (empty or repeated ids are errors); without it, ``dataset`` (or ``default``) names a
    shipped list. Returns ``(IdList, metadata, display name)``, or ``None`` when
    neither is given and there is no default.

    A CSV/TSV class list whose header names no id column (and no ``column`` is
    given) may have no header row at all: ``is_id(first cell)`` decides (the caller
    knows what its ids look like: wnids, the nodes of an edge list). True: that row
    is the first class; False: it is the header; without ``is_id`` the file is
    refused, since either reading could be wrong unnoticed.
    """
    if classes is not None and dataset is not None:
        raise GranularityError("give --classes or --dataset, not both")
    if classes is None:
        dataset = dataset or default
        if dataset is None:
            return None
        idl = load_dataset(dataset)
        return idl, {"dataset": dataset, "sha256": idl.source.sha256}, f"dataset {dataset}"
    idl = id_list(classes, "class list", column)
    if not isinstance(classes, (str, os.PathLike)):
        return idl, {"name": "<list>", "sha256": idl.source.sha256}, "class list"
    meta = idl.source.describe()
    if column:
        meta["column"] = column
    if idl.first_row is not None:
        idl, headerless = _header_or_class(idl, is_id)
        if headerless:
            meta["header_row"] = False
    if idl.notes:
        meta["notes"] = list(idl.notes)
    return idl, meta, f"class list {idl.source.name!r}"


def _header_or_class(idl: IdList, is_id) -> tuple[IdList, bool]:
    """A class list's first row that names no id column: its header, or its first class."""
    name, first = idl.source.describe()["name"], idl.first_row
    if is_id is None:
        raise GranularityError(
            f"class list {name!r} line {idl.first_row_line}: its first row ({first!r}) names no id column "
            f"({', '.join(ID_COLUMN_GUESSES)}): name the column with --column, or, if the file has no header "
            "row, list the ids one per line in a text file")
    if not is_id(first):
        return idl, False
    note = f"class list {name!r} has no header row: its first row ({first!r}) is a class id, so it is the first class"
    return check_ids(idl.with_first_row(note), "class list", False), True
