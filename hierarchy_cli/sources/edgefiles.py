"""The edge source's files, read into arrays: edge lists and names files.

Edge files (:func:`read_edges`; the format comes from :attr:`~hierarchy_cli.inputs.InputFile.kind`)
    plain text   one ``parent child`` pair per line, whitespace-separated
                 (ImageNet's ``wordnet.is_a.txt``, BREEDS' ``class_hierarchy.txt``);
                 blank lines and lines starting with ``#`` are skipped.
    CSV / TSV    a header row; the ``parent`` and ``child`` columns (any case),
                 or the columns named by ``parent_column``/``child_column``;
                 optionally a ``rank`` column (the child's rank, or ``rank_column``);
                 other columns are ignored. A first row that names none of the
                 columns needed, in a file of two columns, is data: column 1 is
                 the parent, column 2 the child ("no header row"). A header whose
                 column name is also a node id, or a header-less first row that
                 shares no node with the rest, is refused rather than guessed.
    parquet      the same columns (strings or integers).
    JSON         Open Images' ``bbox_labels_600_hierarchy.json``
                 (:mod:`~hierarchy_cli.sources.openimages`).
    ``.dmp``     NCBI's ``nodes.dmp``, with ranks (:mod:`~hierarchy_cli.sources.ncbi`).

Nodes are numbered by first appearance in the file; each edge keeps its line
(or row) for messages.

Names (:func:`read_names_file`): a text file of ``id<TAB>name`` lines (ImageNet's
``words.txt``, BREEDS' ``node_names.txt``; without a tab, the first
whitespace ends the id), a CSV/TSV/parquet with id and name columns
(:data:`NAME_ID_GUESSES`, :data:`NAME_GUESSES`, or ``names_columns``; two
columns without a header row are id, name), or NCBI's ``names.dmp``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..arrays import bool_array, bool_numpy, empty_strings, int_array, numpy_view, string_array
from ..errors import GranularityError, offenders

PARENT_GUESSES = ("parent", "parent_id", "hypernym", "source", "from")
CHILD_GUESSES = ("child", "child_id", "hyponym", "target", "to")
RANK_GUESSES = ("rank",)  # the child's rank, in an edge list that carries ranks
# names files: the id and the name columns (Open Images: LabelName, DisplayName)
NAME_ID_GUESSES = ("id", "wnid", "node", "node_id", "leaf_id", "labelname", "label_name", "class_id", "synset",
                   "mid", "tax_id", "taxon_id")
NAME_GUESSES = ("name", "names", "displayname", "display_name", "class_name", "classname", "label", "words",
                "scientific_name")


@dataclass
class EdgeList:
    """Edges as node indices (nodes numbered by first appearance) with their lines."""

    ids: list[str]
    parents: np.ndarray  # int32 per edge
    children: np.ndarray  # int32 per edge
    lines: np.ndarray  # int64 per edge: line (text/CSV) or row (parquet)
    position: str  # "line" or "row"
    source: object  # InputFile
    info: dict = field(default_factory=dict)  # what the metadata adds to the input's name and sha256
    notes: list = field(default_factory=list)  # what the summary says about how the file was read
    rank_codes: np.ndarray | None = None  # int32 per node: its rank in ``rank_names``, -1 none; None: no ranks
    rank_names: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name

    def describe(self) -> dict:
        """The input's name and sha256, with ``info`` (``header_row: false`` ...), for the metadata."""
        return {**self.source.describe(), **self.info}

    def where(self, edge: int) -> str:
        """Edge ``edge``'s position in the file, for messages (``line 4``, ``row 3``)."""
        return f"{self.position} {int(self.lines[edge])}"


def interleaved(n: int):
    """``0, n, 1, n+1, ...``: parent and child of each row in turn, so that nodes are
    numbered by first appearance."""
    return int_array(np.stack([np.arange(n), np.arange(n) + n], 1).ravel())


def node_index(flat_ids):
    """Node index per id (first appearance order) and the node ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_string(flat_ids.type) and len(flat_ids) < 2**30:
        flat_ids = flat_ids.cast(pa.string())  # hashing 32-bit offsets is faster
    enc = pc.dictionary_encode(flat_ids)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    idx = numpy_view(enc.indices).astype(np.int32)
    return idx, enc.dictionary.to_pylist()


def _fast_text_edges(inp) -> EdgeList | None:
    """The common case, ASCII ``parent child`` lines with one space each, via Arrow's CSV reader.

    Returns ``None`` whenever the file is anything else (tabs, CR, blank or comment
    lines, extra spaces, non-ASCII text, a malformed row): the general reader
    then parses it and reports errors with their lines. Both give the same result.
    """
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from ..inputs import BOM

    data = inp.data[3:] if inp.data[:3] == BOM else inp.data
    if not data or not data.isascii() or any(ch in data for ch in (b"\t", b"\r", b"\x0b", b"\x0c", b"\x1c",
                                                                   b"\x1d", b"\x1e", b"\x1f")):
        return None
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if data.count(b" ") != n_lines:
        return None
    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=["parent", "child"], block_size=1 << 24),
            parse_options=pcsv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False,
                                            double_quote=False, newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(column_types={"parent": pa.string(), "child": pa.string()},
                                                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    if table.num_rows != n_lines:
        return None
    p = table.column("parent").combine_chunks()
    c = table.column("child").combine_chunks()
    if (pc.min(pc.binary_length(p)).as_py() == 0 or pc.min(pc.binary_length(c)).as_py() == 0
            or pc.any(pc.starts_with(p, "#")).as_py()):
        return None
    n = table.num_rows
    inter = pc.take(pa.concat_arrays([p, c]), interleaved(n))
    idx, ids = node_index(inter)
    return EdgeList(ids, idx[0::2], idx[1::2], np.arange(1, n + 1, dtype=np.int64), "line", inp)


def _parse_text_edges(inp) -> EdgeList:
    import pyarrow.compute as pc

    fast = _fast_text_edges(inp)
    if fast is not None:
        return fast
    from ..inputs import text_lines

    what = "edge list"
    lines = pc.utf8_trim_whitespace(text_lines(inp, what))
    fields = pc.utf8_split_whitespace(lines)
    nfields = numpy_view(pc.list_value_length(fields))
    blank = empty_strings(lines)
    comment = bool_numpy(pc.starts_with(lines, "#"))
    keep = ~blank & ~comment
    bad = np.flatnonzero(keep & (nfields != 2))
    if bad.size:
        items = [(lines[int(i)].as_py().strip(), f"line {int(i) + 1}: {int(nfields[i])} fields") for i in bad[:5]]
        items += [(None, None)] * (bad.size - len(items))
        raise GranularityError(
            offenders(items, "malformed edges (expected 'parent child')", f"edge list {inp.name!r}")
        )
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise GranularityError(f"edge list {inp.name!r} holds no edges (expected 'parent child' lines)")
    flat = fields.filter(bool_array(keep)).flatten()
    idx, ids = node_index(flat)
    return EdgeList(ids, idx[0::2], idx[1::2], rows + 1, "line", inp)


def _pair_columns(inp, what: str, roles) -> tuple:
    """The table of a CSV/TSV/parquet with two roles (parent/child, id/name) and their columns.

    ``roles`` is two ``(given, guesses, option, role)``. A CSV/TSV's first row is a
    header when it names a column of either role (the one given, else any guess);
    when it names none and has exactly two fields it is data (no header row):
    column 1 takes the first role, column 2 the second. Returns ``(table, columns)``.
    """
    from ..inputs import first_row, read_table

    if inp.kind != "parquet":
        fields, _ = first_row(inp, what)
        wanted = {n.lower() for given, guesses, *_ in roles for n in ((given,) if given else guesses)}
        if len(fields) == 2 and not wanted & {f.lower() for f in fields}:
            given = [(opt, g) for g, _, opt, _ in roles if g is not None]
            if given:
                opt, g = given[0]
                options = "/".join(dict.fromkeys(r[2] for r in roles))
                raise GranularityError(
                    f"{opt}: {what} {inp.name!r} has no column {g!r}: its first row ({', '.join(fields)}) names no "
                    f"column, so the file has no header row; leave out {options} to read column 1 as the "
                    f"{roles[0][3]} and column 2 as the {roles[1][3]}")
            t = read_table(inp, what, header=False)
            return t, ["column_1", "column_2"]
    t = read_table(inp, what)
    return t, [t.pick(given, guesses, option, role) for given, guesses, option, role in roles]


def _recurring(values: Sequence[str], p, c, skip_row: int | None = None):
    """The first ``(value, row)`` where one of ``values`` is a node id in ``p``/``c`` (row ``skip_row`` aside)."""
    import pyarrow.compute as pc

    vs = string_array(list(values))
    hit_p, hit_c = bool_numpy(pc.is_in(p, value_set=vs)), bool_numpy(pc.is_in(c, value_set=vs))
    rows = np.flatnonzero(hit_p | hit_c)
    if skip_row is not None:
        rows = rows[rows != skip_row]
    if not rows.size:
        return None
    r = int(rows[0])
    return (p if hit_p[r] else c)[r].as_py(), r


def _check_header_row(t, pcol: str, ccol: str, p, c, named: bool) -> list[str]:
    """Check the first row against the data; the notes the summary prints about it.

    With a header, a column name that is also a node id means the first row was an
    edge: refused. Without one, the first row must share a node with the rest of
    the file (else it may be a header naming unknown columns): refused otherwise.
    """
    label = t.label
    if t.header:
        again = _recurring([pcol, ccol], p, c)
        if again is not None:
            value, r = again
            fix = ("leave out --parent-column/--child-column: a two-column file whose first row names no column "
                   "is read as parent, child" if named else "rename that column or that node")
            raise GranularityError(
                f"{label} line {t.header_line}: the header names column {value!r}, but {value!r} is also a node id "
                f"({t.where(r)}), so the first row is an edge, not a header: {fix}")
        return []
    if len(p) and _recurring([p[0].as_py(), c[0].as_py()], p, c, skip_row=0) is None:
        first = f"{p[0].as_py()!r}, {c[0].as_py()!r}"
        raise GranularityError(
            f"{label} {t.where(0)}: the first row ({first}) names no parent or child column "
            f"({', '.join(PARENT_GUESSES)}; {', '.join(CHILD_GUESSES)}) and neither id occurs again, so it may be "
            "a header: name its columns with --parent-column and --child-column, or, if it is an edge, add a header "
            "row parent,child above it")
    return [f"edge list {t.source.describe()['name']!r} has no header row (its first row names no column): "
            "column 1 is the parent, column 2 the child"]


def _parse_table_edges(inp, parent_column: str | None, child_column: str | None,
                       rank_column: str | None = None) -> EdgeList:
    """CSV/TSV (header row, or two columns without one) or parquet edges, through the one table reader."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t, (pcol, ccol) = _pair_columns(inp, "edge list", ((parent_column, PARENT_GUESSES, "--parent-column", "parent"),
                                                       (child_column, CHILD_GUESSES, "--child-column", "child")))
    if pcol == ccol:
        raise GranularityError(f"{t.label}: the parent and child columns are both {pcol!r}")
    if t.num_rows == 0:
        raise GranularityError(f"{t.label} holds no edges below its header")
    p, c = t.strings(pcol), t.strings(ccol)
    notes = _check_header_row(t, pcol, ccol, p, c, parent_column is not None or child_column is not None) \
        if inp.kind != "parquet" else []
    if not t.header and rank_column is not None:
        raise GranularityError(f"--rank-column: {t.label} has no header row, so no column {rank_column!r}")
    rcol = t.pick(rank_column, RANK_GUESSES, "--rank-column", "rank") if rank_column is not None else \
        next((col for col in t.columns if col.lower() in RANK_GUESSES), None)
    if rcol in (pcol, ccol):
        raise GranularityError(f"{t.label}: the rank column {rcol!r} is also the parent or child column")
    n = t.num_rows
    # interleave parent, child per row so nodes are numbered by first appearance
    inter = pc.take(pa.concat_arrays([p, c]), interleaved(n))
    idx, ids = node_index(inter)
    info = {} if t.header else {"header_row": False}
    codes, names = None, []
    if rcol is not None:
        codes, names = node_ranks(len(ids), idx[1::2], t.strings(rcol, allow_empty=True), t.where, t.label)
        info["rank_column"] = rcol
    return EdgeList(ids, idx[0::2], idx[1::2], t.numbers, t.position, inp, info, notes, codes, names)


def node_ranks(num_nodes: int, children: np.ndarray, ranks, where, label: str) -> tuple[np.ndarray, list[str]]:
    """Each node's rank from the edges listing it as the child (``ranks``: one string per edge,
    ``""`` = none given). A node given two different ranks is an error naming both rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(ranks)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    names = enc.dictionary.to_pylist()
    code = numpy_view(enc.indices).astype(np.int32)
    if "" in names:
        code = np.where(code == names.index(""), -1, code).astype(np.int32)
    given = np.flatnonzero(code >= 0)
    node = np.full(num_nodes, -1, dtype=np.int32)
    kids, first_row = np.unique(children[given], return_index=True)
    node[kids] = code[given[first_row]]  # the first row that gives a node's rank
    given = code >= 0
    clash = np.flatnonzero(given & (code != node[children]))
    if clash.size:
        e = int(clash[0])
        first = int(np.flatnonzero(given & (children == children[e]))[0])
        raise GranularityError(
            f"{label} {where(e)}: rank {names[code[e]]!r} for a node that {where(first)} gives the rank "
            f"{names[code[first]]!r} (a node has one rank)")
    return node, names


def read_edges(spec: str | os.PathLike, parent_column: str | None = None,
               child_column: str | None = None, rank_column: str | None = None) -> EdgeList:
    """Read an edge list (text, CSV/TSV, parquet, Open Images' hierarchy JSON or NCBI's
    ``nodes.dmp``; ``-`` = stdin); see the module doc."""
    from ..inputs import TABLE_KINDS, read_input
    from .ncbi import read_nodes
    from .openimages import read_open_images

    inp = read_input(str(spec), "edge list")
    if inp.kind in TABLE_KINDS:
        return _parse_table_edges(inp, parent_column, child_column, rank_column)
    given = [opt for opt, v in (("--parent-column", parent_column), ("--child-column", child_column),
                                ("--rank-column", rank_column)) if v is not None]
    if given:
        fmt = {"taxdump": "NCBI's nodes.dmp (tax_id, parent, rank)",
               "json": "an Open Images hierarchy (JSON)"}.get(inp.kind, "plain text ('parent child' per line)")
        raise GranularityError(f"{'/'.join(given)} need{'s' if len(given) == 1 else ''} a CSV, TSV or parquet edge "
                               f"list, but {inp.name!r} is {fmt}")
    if inp.kind == "taxdump":
        return read_nodes(inp)
    if inp.kind == "json":
        return read_open_images(inp)
    return _parse_text_edges(inp)


@dataclass
class Names:
    """A names file: ids and names as Arrow string arrays, the input, and how it was read."""

    ids: object
    names: object
    source: object  # InputFile
    info: dict = field(default_factory=dict)  # added to the input's name and sha256 in the metadata
    notes: list = field(default_factory=list)  # printed under the summary

    def describe(self) -> dict:
        return {**self.source.describe(), **self.info}


def names_columns_pair(value) -> tuple[str, str] | None:
    """``"LabelName,DisplayName"`` (or a pair) -> ``("LabelName", "DisplayName")``: the id and name columns."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else [str(p).strip() for p in value]
    if len(parts) != 2 or not all(parts):
        raise GranularityError(f"--names-columns {value!r}: give the id column and the name column, like "
                               "LabelName,DisplayName")
    if parts[0] == parts[1]:
        raise GranularityError(f"--names-columns {value!r} names the column {parts[0]!r} twice")
    return parts[0], parts[1]


def read_names_file(spec: str | os.PathLike, columns=None) -> Names:
    """Read a names file (see the module doc) as :class:`Names`; ``columns`` names its id and name
    columns (``"LabelName,DisplayName"``; CSV/TSV/parquet only)."""
    from ..inputs import TABLE_KINDS, read_input, utf8_text
    from .ncbi import read_names as read_names_dmp

    columns = names_columns_pair(columns)
    inp = read_input(str(spec), "names file")
    if inp.kind == "taxdump":
        if columns is not None:
            raise GranularityError(f"--names-columns: {inp.name!r} is NCBI's names.dmp, whose columns are fixed")
        return read_names_dmp(inp)
    table = inp.kind in ("parquet", "csv") or columns is not None
    if inp.kind == "tsv" and not table:  # a TSV is read as id<TAB>name lines unless its first row is a header
        first = next((ln for ln in utf8_text(inp, "names file").splitlines() if ln.strip()), "")
        table = bool({f.strip().strip('"').lower() for f in first.split("\t")} & set(NAME_ID_GUESSES + NAME_GUESSES))
    if table and inp.kind not in TABLE_KINDS:
        raise GranularityError(f"--names-columns needs a CSV, TSV or parquet names file, but {inp.name!r} is plain "
                               "text ('id<TAB>name' per line)")
    return _table_names(inp, columns) if table else _text_names(inp)


def _table_names(inp, columns: tuple[str, str] | None = None) -> Names:
    given = columns or (None, None)
    t, (icol, ncol) = _pair_columns(inp, "names file", ((given[0], NAME_ID_GUESSES, "--names-columns", "id"),
                                                        (given[1], NAME_GUESSES, "--names-columns", "name")))
    if icol == ncol:
        raise GranularityError(f"{t.label}: the id and name columns are both {icol!r} (name them with --names-columns)")
    ids, names = t.strings(icol), t.strings(ncol, allow_empty=True)
    _check_unique_ids(ids, t.where, t.label)
    if t.header:
        return Names(ids, names, inp, {"columns": [icol, ncol]} if columns else {})
    note = (f"names file {inp.describe()['name']!r} has no header row (its first row names no column): "
            "column 1 is the id, column 2 the name")
    return Names(ids, names, inp, {"header_row": False}, [note])


def _text_names(inp) -> Names:
    import pyarrow.compute as pc

    from ..inputs import text_lines

    what = f"names file {inp.name!r}"
    lines = text_lines(inp, "names file")
    stripped = pc.utf8_trim_whitespace(lines)
    keep_np = ~empty_strings(stripped) & ~bool_numpy(pc.starts_with(stripped, "#"))
    keep = bool_array(keep_np)
    rows = np.flatnonzero(keep_np)
    parts = pc.split_pattern_regex(stripped.filter(keep), r"\s+", max_splits=1)
    nparts = numpy_view(pc.list_value_length(parts))
    bad = np.flatnonzero(nparts != 2)
    if bad.size:
        i = int(bad[0])
        raise GranularityError(
            f"{what} line {int(rows[i]) + 1}: {stripped.filter(keep)[i].as_py()!r} has an id but no name "
            "(expected 'id<TAB>name')"
        )
    if rows.size == 0:
        return Names(string_array([]), string_array([]), inp)
    pairs = parts.flatten()  # id, name, id, name, ...
    ids = pairs.take(int_array(np.arange(0, len(pairs), 2)))
    names = pc.utf8_trim_whitespace(pairs.take(int_array(np.arange(1, len(pairs), 2))))
    _check_unique_ids(ids, lambda i: f"line {int(rows[i]) + 1}", what)
    return Names(ids, names, inp)


def _check_unique_ids(ids, where, what: str) -> None:
    """A names file names each id once: an error naming the repeats and their first lines."""
    import pyarrow.compute as pc

    from ..inputs import find_duplicates

    if len(pc.unique(ids)) != len(ids):
        raise GranularityError(offenders(find_duplicates(ids.to_pylist(), where), "ids named twice", what))
