"""Reading the user's input files: a path or ``-`` for stdin.

Class lists and other id columns come as plain text (one id per line; only the
first whitespace-separated field counts, so ``words.txt``-style lines work),
CSV/TSV with a header row, or parquet. UTF-8 with or without a BOM, LF or CRLF.
Every reader reports the input's name and sha256 for the label map's metadata,
and raises :class:`GranularityError` naming the file and line on bad input.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import GranularityError, offenders

PARQUET_MAGIC = b"PAR1"
ID_COLUMN_GUESSES = ("wnid", "leaf_id", "id", "class", "synset", "label")


@dataclass(frozen=True)
class InputFile:
    """Raw bytes of one input with its display name and sha256."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> dict[str, str]:
        """``{"name": ..., "sha256": ...}`` for the label map's metadata (no host path)."""
        return {"name": self.name if self.name == "-" else Path(self.name).name, "sha256": self.sha256}

    @property
    def kind(self) -> str:
        """``parquet``, ``csv``, ``tsv`` or ``text``, from the extension or the content."""
        if self.data[:4] == PARQUET_MAGIC:
            return "parquet"
        suffix = Path(self.name).suffix.lower()
        if suffix in (".csv",):
            return "csv"
        if suffix in (".tsv", ".tab"):
            return "tsv"
        return "text"


def read_input(spec: str | os.PathLike, what: str) -> InputFile:
    """Read a whole input (``-`` = stdin); ``what`` names it in errors."""
    spec = str(spec)
    if spec == "-":
        return InputFile("-", sys.stdin.buffer.read())
    path = Path(spec)
    try:
        return InputFile(spec, path.read_bytes())
    except FileNotFoundError:
        raise GranularityError(f"{what} {spec!r} does not exist") from None
    except IsADirectoryError:
        raise GranularityError(f"{what} {spec!r} is a folder, not a file") from None
    except OSError as exc:
        raise GranularityError(f"cannot read {what} {spec!r}: {exc.strerror or exc}") from None


def decode_lines(inp: InputFile, what: str) -> list[str]:
    """Decode UTF-8 text (BOM and CRLF tolerated) into lines."""
    try:
        text = inp.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = inp.data[: exc.start].count(b"\n") + 1
        raise GranularityError(
            f"{what} {inp.name!r} is not UTF-8 text (bad byte at line {line})"
        ) from None
    return text.splitlines()


@dataclass(frozen=True)
class IdList:
    """Ids in input order, with the line (or row) each came from."""

    ids: list[str]
    lines: list[int]
    source: InputFile
    position: str = "line"  # how ``lines`` are named in messages

    def where(self, i: int) -> str:
        return f"{self.position} {self.lines[i]}"


def read_id_list(spec: str | os.PathLike, what: str = "class list", column: str | None = None,
                 allow_empty: bool = False) -> IdList:
    """Read ids from text, CSV/TSV or parquet (``column`` picks a column)."""
    inp = read_input(spec, what)
    return parse_id_list(inp, what, column, allow_empty)


def parse_id_list(inp: InputFile, what: str, column: str | None = None,
                  allow_empty: bool = False) -> IdList:
    kind = inp.kind
    if kind == "parquet":
        out = _parquet_ids(inp, what, column)
    elif kind in ("csv", "tsv"):
        out = _table_ids(inp, what, column, "," if kind == "csv" else "\t")
    else:
        if column is not None:
            raise GranularityError(
                f"--column {column!r} needs a CSV, TSV or parquet file, but {what} {inp.name!r} is plain text"
            )
        all_lines = decode_lines(inp, what)
        tokens = inp.data.split()
        if len(tokens) == len(all_lines) and b"#" not in inp.data and all(all_lines):
            # fast path: one bare id per line, no comments or blank lines
            ids = [line.strip() for line in all_lines]
            return _checked(IdList(ids, list(range(1, len(ids) + 1)), inp), what, allow_empty)
        ids, lines = [], []
        for n, line in enumerate(all_lines, 1):
            field = line.strip()
            if not field or field.startswith("#"):
                continue
            ids.append(field.split()[0])
            lines.append(n)
        out = IdList(ids, lines, inp)
    return _checked(out, what, allow_empty)


def _checked(out: IdList, what: str, allow_empty: bool) -> IdList:
    if not out.ids and not allow_empty:
        raise GranularityError(f"{what} {out.source.name!r} holds no ids")
    if len(set(out.ids)) != len(out.ids):
        dup = duplicate_positions(out)
        raise GranularityError(offenders(dup, "duplicate ids", f"{what} {out.source.name!r}"))
    return out


def find_duplicates(ids, where) -> list[tuple[str, str]]:
    """``(id, '<where i>, first at <where j>')`` for every repeat in ``ids``.

    ``where(i)`` names position ``i`` (``"line 4"``, ``"row 3"``...).
    """
    first: dict[str, int] = {}
    dup = []
    for i, x in enumerate(ids):
        if x in first:
            dup.append((x, f"{where(i)}, first at {where(first[x])}"))
        else:
            first[x] = i
    return dup


def duplicate_positions(ids: IdList) -> list[tuple[str, str]]:
    """Every repeated id of an :class:`IdList`, with its line and the first one's."""
    return find_duplicates(ids.ids, ids.where)


def _pick_column(columns: list[str], column: str | None, what: str, name: str) -> str:
    if column is not None:
        if column not in columns:
            raise GranularityError(
                f"{what} {name!r} has no column {column!r}; columns are: {', '.join(columns)}"
            )
        return column
    for guess in ID_COLUMN_GUESSES:
        if guess in columns:
            return guess
    return columns[0]


def _table_ids(inp: InputFile, what: str, column: str | None, sep: str) -> IdList:
    import csv

    lines = decode_lines(inp, what)
    rows = csv.reader(lines, delimiter=sep)
    try:
        header = next(rows)
    except StopIteration:
        return IdList([], [], inp)
    header = [h.strip() for h in header]
    col = _pick_column(header, column, what, inp.name)
    j = header.index(col)
    ids, where = [], []
    for n, row in enumerate(rows, 2):
        if not row or all(not f.strip() for f in row):
            continue
        if len(row) != len(header):
            raise GranularityError(
                f"{what} {inp.name!r} line {n}: {len(row)} fields, expected {len(header)} like the header"
            )
        value = row[j].strip()
        if not value:
            raise GranularityError(f"{what} {inp.name!r} line {n}: empty value in column {col!r}")
        ids.append(value)
        where.append(n)
    return IdList(ids, where, inp)


def read_parquet_bytes(inp: InputFile, what: str, columns: list[str] | None = None):
    """Read a parquet input into an Arrow table, with a one-line error if corrupt."""
    import io

    import pyarrow.parquet as pq

    try:
        return pq.read_table(io.BytesIO(inp.data), columns=columns)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GranularityError(f"{what} {inp.name!r} is not a readable parquet file: {reason}") from None


def _parquet_ids(inp: InputFile, what: str, column: str | None) -> IdList:
    import pyarrow as pa

    table = read_parquet_bytes(inp, what)
    col = _pick_column(table.column_names, column, what, inp.name)
    arr = table.column(col)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
            or pa.types.is_integer(arr.type)):
        raise GranularityError(
            f"{what} {inp.name!r}: column {col!r} has type {arr.type}, expected strings"
        )
    values = arr.to_pylist()
    bad = [(v, f"row {i}") for i, v in enumerate(values) if v is None or str(v).strip() == ""]
    if bad:
        raise GranularityError(offenders(bad, f"empty values in column {col!r}", f"{what} {inp.name!r}"))
    return IdList([str(v).strip() for v in values], list(range(len(values))), inp, position="row")
