"""Reading the user's input files: the one way to open one, tell its format, read a table.

:func:`read_input` opens a path or ``-`` for stdin (or a folder, where a reader takes
one); :attr:`InputFile.kind` tells its format, once for every reader:

plain text  one entry per line (class lists, ``parent child`` edge lists, names files);
CSV / TSV   a header row, then one row per entry (``.csv``: commas, ``.tsv``/``.tab``:
            tabs), read by :func:`read_table` with :mod:`pyarrow.csv`;
parquet     any file starting with ``PAR1``, whatever its name;
JSON        ``.json``, or text starting with ``{`` (iNat annotations, Open Images' hierarchy);
taxdump     NCBI's ``.dmp`` files (``\\t|\\t`` between fields).

UTF-8 with or without a BOM, LF or CRLF. Every reader keeps the input's name and
sha256 for the label map's metadata and raises :class:`GranularityError` naming
the file and the line (``row`` for parquet, counted from 0) on bad input; a
repeated id is found by :func:`find_duplicates`. Class lists and other id lists
are read by :mod:`hierarchy_cli.manifests`.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import GranularityError

PARQUET_MAGIC = b"PAR1"
BOM = b"\xef\xbb\xbf"
TAXDUMP_SEPARATOR = b"\t|\t"
TABLE_KINDS = ("parquet", "csv", "tsv")
ID_COLUMN_GUESSES = ("wnid", "leaf_id", "id", "class", "synset", "label")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, read in 1 MiB blocks (embedding files and manifests can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class InputFile:
    """Raw bytes of one input with its display name and sha256 (``folder``: the input is a
    folder, where a reader takes one; ``data`` is then empty)."""

    name: str
    data: bytes
    folder: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> dict[str, str]:
        """``{"name": ..., "sha256": ...}`` for the label map's metadata (no host path)."""
        return {"name": self.name if self.name == "-" else Path(self.name).name, "sha256": self.sha256}

    @property
    def kind(self) -> str:
        """The input's format: the one place it is told, from the content or the name.

        ``folder``; ``parquet`` (its magic bytes, whatever its name); ``csv``, ``tsv``
        (``.tsv``, ``.tab``); ``taxdump`` (NCBI's ``.dmp``, or a first line holding its
        ``\\t|\\t`` separator); ``json`` (``.json``, or text starting with ``{``: both
        JSON formats read are objects); else ``text``. :data:`TABLE_KINDS` are tables.
        """
        suffix = Path(self.name).suffix.lower()
        if self.folder:
            return "folder"
        if self.data[:4] == PARQUET_MAGIC:
            return "parquet"
        if suffix in (".csv", ".tsv", ".tab"):
            return "csv" if suffix == ".csv" else "tsv"
        if suffix == ".dmp" or TAXDUMP_SEPARATOR in self.data[:4096].split(b"\n", 1)[0]:
            return "taxdump"
        if suffix == ".json" or self.data[:64].lstrip(BOM + b" \t\r\n")[:1] == b"{":
            return "json"
        return "text"


def read_input(spec: str | os.PathLike, what: str, folders: bool = False) -> InputFile:
    """Read a whole input (``-`` = stdin); ``what`` names it in errors. With ``folders``, a
    folder is an input too (kind ``folder``, its reader lists it), else an error."""
    spec = str(spec)
    if spec == "-":
        return InputFile("-", sys.stdin.buffer.read())
    path = Path(spec)
    if folders and path.is_dir():
        return InputFile(spec, b"", folder=True)
    try:
        return InputFile(spec, path.read_bytes())
    except FileNotFoundError:
        raise GranularityError(f"{what} {spec!r} does not exist") from None
    except IsADirectoryError:
        raise GranularityError(f"{what} {spec!r} is a folder, not a file") from None
    except OSError as exc:
        raise GranularityError(f"cannot read {what} {spec!r}: {exc.strerror or exc}") from None


def utf8_text(inp: InputFile, what: str) -> str:
    """The input as text (BOM dropped), or a one-line error naming the line of the bad byte."""
    try:
        return inp.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = inp.data[: exc.start].count(b"\n") + 1
        raise GranularityError(f"{what} {inp.name!r} is not UTF-8 text (bad byte at line {line})") from None


def decode_lines(inp: InputFile, what: str) -> list[str]:
    """Decode UTF-8 text (BOM tolerated) into lines ended by LF, CRLF or CR, nothing else.

    (``str.splitlines`` would also split at form feeds, U+2028 and others, cutting an id.)
    """
    lines = utf8_text(inp, what).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def text_lines(inp: InputFile, what: str):
    """Lines of a text input as an Arrow string array (CR stripped): line ``i+1`` at index ``i``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .arrays import large_binary_value

    utf8_text(inp, what)  # the check with a line number; Arrow then takes the bytes as they are
    data = inp.data[3:] if inp.data[:3] == BOM else inp.data
    whole = large_binary_value(data).cast(pa.large_string())
    lines = pc.split_pattern(whole, "\n").flatten()
    if len(lines) and data.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    return pc.utf8_rtrim(lines, "\r")


# ----------------------------------------------------------------------------- tables


@dataclass
class Table:
    """A CSV/TSV (header row) or parquet input as an Arrow table, with each row's position.

    CSV/TSV columns are strings exactly as written (no type guessing, so ``00123``
    stays ``00123``; empty cells are ``""``); parquet columns keep their types.
    ``numbers[i]`` is row ``i``'s line in the file (``position == "line"``), or its
    row counted from 0 (``"row"``, parquet), or its record counted from 1 below
    the header (``"record"``, when quoted values span lines).
    """

    source: InputFile
    table: object  # pyarrow.Table
    numbers: object  # numpy int64 per row
    position: str
    what: str
    header: bool = True  # False: the first row was data (columns column_1, column_2, ...)
    header_line: int = 0  # the header's line (CSV/TSV with a header)

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def label(self) -> str:
        return f"{self.what} {self.source.name!r}"

    def where(self, i: int) -> str:
        return f"{self.position} {int(self.numbers[i])}"

    def pick(self, given: str | None, guesses=(), option: str = "--column", role: str = "id",
             first_as_default: bool = False) -> str:
        """The column named ``given`` (exact, else any case), or the first of ``guesses`` present."""
        cols = self.columns
        lower: dict[str, str] = {}
        for c in cols:
            lower.setdefault(c.lower(), c)
        if given is not None:
            found = given if given in cols else lower.get(given.lower())
            if found is None:
                raise GranularityError(
                    f"{option}: {self.label} has no column {given!r}; columns are: {', '.join(cols)}")
            return found
        for g in guesses:
            if g.lower() in lower:
                return lower[g.lower()]
        if first_as_default and cols:
            return cols[0]
        raise GranularityError(
            f"{self.label} has no {role} column: name it in the header ({guesses[0]}) or with {option}; "
            f"columns are: {', '.join(cols)}")

    def strings(self, column: str, allow_empty: bool = False):
        """Column ``column`` as a trimmed Arrow string array; integers become text.

        Other types, nulls and (unless ``allow_empty``) empty values are errors naming the row.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from .arrays import bool_numpy, empty_strings

        arr = self.table.column(column).combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
                or pa.types.is_integer(arr.type)):
            raise GranularityError(f"{self.label}: column {column!r} has type {arr.type}, expected strings")
        arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        if not allow_empty:
            empty = np.flatnonzero(empty_strings(arr) | ~bool_numpy(arr.is_valid()))
            if empty.size:
                more = f" ({empty.size - 1:,} more rows like it)" if empty.size > 1 else ""
                raise GranularityError(
                    f"{self.label} {self.where(int(empty[0]))}: empty id in column {column!r}{more}")
        return pc.fill_null(arr, "") if arr.null_count else arr


def csv_options(delimiter: str, column_names: list[str] | None = None, column_types=None,
                block_size: int = 1 << 24, invalid_row_handler=None, use_threads: bool = False):
    """The ``pyarrow.csv`` read, parse and convert options every CSV/TSV input is read with.

    No type guessing for the named string columns, empty cells are ``""`` (never
    null), ``"`` quotes as in RFC 4180, blank lines skipped. ``use_threads`` parses
    blocks in parallel and reads ahead (a streamed manifest), at the price of line
    numbers in pyarrow's errors.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if column_types is None and column_names is not None:
        column_types = {c: pa.string() for c in column_names}
    return (
        pcsv.ReadOptions(column_names=column_names, block_size=block_size, use_threads=use_threads),
        pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid_row_handler),
        pcsv.ConvertOptions(column_types=column_types or {}, strings_can_be_null=False,
                            quoted_strings_can_be_null=False),
    )


def open_csv_stream(source, delimiter: str, column_types=None, block_size: int = 1 << 24,
                    use_threads: bool = False):
    """Stream a CSV/TSV with a header row as record batches, parsed like :func:`read_table`.

    ``source`` is a path or a binary file object (``pyarrow.input_stream`` for
    compressed files); ``column_types`` fixes some columns' types (say
    ``pa.string()`` for ids), the others are inferred from the first block.
    Returns ``pyarrow.csv.open_csv``'s reader; its errors are pyarrow's.
    """
    import pyarrow.csv as pcsv

    return pcsv.open_csv(source, *csv_options(delimiter, None, column_types, block_size, use_threads=use_threads))


def _line_numbers(body: bytes):
    """1-based line number of every non-empty line of ``body`` (``\\n``, ``\\r\\n`` or ``\\r`` ends a line)."""
    import numpy as np

    flat = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    ends = np.flatnonzero(np.frombuffer(flat, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(flat)]])
    return np.flatnonzero(stops > starts) + 1


def read_table(source: str | os.PathLike | InputFile, what: str, header: bool = True) -> Table:
    """Read a CSV/TSV (with a header row) or parquet input as a :class:`Table`.

    ``source`` is a path, ``-`` (stdin) or an :class:`InputFile` already read.
    Rows whose cells are all empty are skipped like blank lines. Errors name the
    file and the line: not UTF-8, no header, a column named twice, a row with
    more or fewer fields than the header. With ``header=False`` (a CSV/TSV whose
    first row is data, see :func:`first_row`) the columns are named ``column_1``,
    ``column_2``, ... and every row is data.
    """
    import numpy as np

    inp = source if isinstance(source, InputFile) else read_input(source, what)
    if inp.kind == "parquet":
        import io

        import pyarrow.parquet as pq

        try:
            table = pq.read_table(io.BytesIO(inp.data))
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GranularityError(f"{what} {inp.name!r} is not a readable parquet file: {reason}") from None
        return Table(inp, table, np.arange(table.num_rows, dtype=np.int64), "row", what)
    return _read_delimited(inp, what, _delimiter(inp), header)


def _delimiter(inp: InputFile) -> str:
    return "\t" if inp.kind == "tsv" else ","


def _header_fields(line: bytes, delimiter: str) -> list[str]:
    """The fields of a header line, parsed by pyarrow.csv with the same quoting rules (no type guessing)."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv

    most = line.count(delimiter.encode()) + 1  # quoted delimiters make it fewer
    row = pcsv.read_csv(
        io.BytesIO(line + b"\n"),
        read_options=pcsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
        parse_options=pcsv.ParseOptions(delimiter=delimiter),
        convert_options=pcsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(most)},
                                            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    return [str(v).strip() for v in row.to_pylist()[0].values()]


def _first_line(inp: InputFile, what: str) -> tuple[bytes, int, int, int, int]:
    """``(data, start, end, body_start, line)`` of a CSV/TSV's first line with any text."""
    label = f"{what} {inp.name!r}"
    utf8_text(inp, what)
    data = inp.data[3:] if inp.data[:3] == BOM else inp.data
    m = re.search(rb"[^\r\n]", data)
    if m is None:
        raise GranularityError(f"{label} is empty: expected a header row")
    start = m.start()
    end_m = re.compile(rb"\r\n|\r|\n").search(data, start)
    end = end_m.start() if end_m else len(data)
    body_start = end_m.end() if end_m else len(data)
    line = data[:start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    return data, start, end, body_start, line


def first_row(inp: InputFile, what: str) -> tuple[list[str], int]:
    """The fields of a CSV/TSV's first line with text (trimmed, quotes as in the body) and its line.

    Whether that row is a header is the caller's decision (the edge and names readers
    look for the column names they need); :func:`read_table` then reads it with or
    without a header.
    """
    *_, line, fields = _first_fields(inp, what, _delimiter(inp), "first row")
    return fields, line


def _first_fields(inp: InputFile, what: str, delimiter: str, row: str) -> tuple[bytes, int, int, int, list[str]]:
    """``(data, start, body_start, line, fields)`` of the first line with text (csv parses just
    that one line); ``row`` names it in the error when it cannot be read."""
    import pyarrow as pa

    data, start, end, body_start, line = _first_line(inp, what)
    try:
        return data, start, body_start, line, _header_fields(data[start:end], delimiter)
    except pa.ArrowInvalid as exc:
        raise GranularityError(f"{what} {inp.name!r} line {line}: cannot read the {row}: "
                               f"{str(exc).splitlines()[0]}") from None


def _read_delimited(inp: InputFile, what: str, delimiter: str, has_header: bool = True) -> Table:
    """A CSV/TSV as a :class:`Table` (see :func:`read_table`)."""
    import numpy as np

    label = f"{what} {inp.name!r}"
    data, start, body_start, header_line, header = _first_fields(inp, what, delimiter, "header row")
    if not has_header:  # the first row is data: columns by position
        header = [f"column_{j + 1}" for j in range(len(header))]
        body_start, header_line = start, header_line - 1
    _check_header(header, label, header_line)
    body = data[body_start:]
    table, bad = _parse_body(body, delimiter, header, label)
    lines = _line_numbers(body) + header_line
    multiline = _multiline(table, header)
    if bad:
        rec = bad[0].number  # records below the header, from 1 (blank lines not counted)
        pos = f"line {int(lines[rec - 1])}" if rec is not None and not multiline and rec <= lines.size \
            else f"record {rec}"
        like = "the header" if has_header else "the first row"
        raise GranularityError(
            f"{label} {pos}: {bad[0].actual_columns} fields, expected {bad[0].expected_columns} like {like}")
    if multiline or lines.size != table.num_rows:
        numbers, position = np.arange(1, table.num_rows + 1, dtype=np.int64), "record"
    else:
        numbers, position = lines.astype(np.int64), "line"
    table, numbers = _without_blank_rows(table, numbers, header)
    return Table(inp, table, numbers, position, what, header=has_header,
                 header_line=header_line if has_header else 0)


def _check_header(header: list[str], label: str, line: int) -> None:
    """Every column has a name, and no name twice."""
    if not any(header):
        raise GranularityError(f"{label} line {line}: the header row is empty")
    seen: set[str] = set()
    for j, h in enumerate(header):
        if not h:
            raise GranularityError(f"{label} line {line}: header field {j + 1} is empty (every column needs a name)")
        if h in seen:
            raise GranularityError(f"{label} line {line}: the header names column {h!r} twice")
        seen.add(h)


def _parse_body(body: bytes, delimiter: str, header: list[str], label: str):
    """``(table, bad rows)``: the rows below the header, strings as written; the rows with
    more or fewer fields than the header are skipped and returned (pyarrow's records)."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv

    from .arrays import string_array

    bad: list = []

    def on_invalid(row):
        bad.append(row)
        return "skip"

    try:
        if not body.strip(b"\r\n"):  # a header and nothing below it
            return pa.Table.from_pydict({c: string_array([]) for c in header}), bad
        return pcsv.read_csv(io.BytesIO(body), *csv_options(delimiter, header, invalid_row_handler=on_invalid)), bad
    except pa.ArrowInvalid as exc:
        raise GranularityError(f"{label} is not readable {'TSV' if delimiter == chr(9) else 'CSV'}: "
                               f"{str(exc).splitlines()[0]}") from None


def _multiline(table, header: list[str]) -> bool:
    """Does a quoted value span lines (then rows are counted as records, not lines)?"""
    import pyarrow.compute as pc

    return any(pc.any(pc.match_substring_regex(table.column(c), r"[\r\n]")).as_py()
               for c in header if table.num_rows)


def _without_blank_rows(table, numbers, header: list[str]):
    """The table and row numbers without the rows whose cells are all empty (blank lines too)."""
    import numpy as np
    import pyarrow.compute as pc

    from .arrays import bool_array, empty_strings

    if not table.num_rows:
        return table, numbers
    blank = np.ones(table.num_rows, dtype=bool)
    for c in header:
        blank &= empty_strings(pc.utf8_trim_whitespace(table.column(c)))
    if blank.any():
        return table.filter(bool_array(~blank)), numbers[~blank]
    return table, numbers


def find_duplicates(ids, where, names=None) -> list[tuple[object, str]]:
    """``(id, '<where i>, first at <where j>')`` for every repeat in ``ids``: the one
    duplicate finder of every input (class lists, names files, taxonomies, taxdumps, BREEDS).

    ``where(i)`` names position ``i`` (``"line 4"``, ``"row 3"``...); ``names(i)``, when
    given, shows repeat ``i`` instead of its id (a species by its name when its id is a path).
    """
    first: dict = {}
    dup = []
    for i, x in enumerate(ids):
        if x in first:
            dup.append((x if names is None else names(i), f"{where(i)}, first at {where(first[x])}"))
        else:
            first[x] = i
    return dup
