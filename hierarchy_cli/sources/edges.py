"""Any hierarchy given as parent-child pairs: ImageNet's ``wordnet.is_a.txt``, BREEDS, your own.

Edge files
    plain text   one ``parent child`` pair per line, whitespace-separated
                 (ImageNet's ``wordnet.is_a.txt``, BREEDS' ``class_hierarchy.txt``);
                 blank lines and lines starting with ``#`` are skipped.
    CSV / TSV    a header row; the ``parent`` and ``child`` columns (any case),
                 or the columns named by ``parent_column``/``child_column``;
                 other columns are ignored.
    parquet      the same two columns (strings or integers).

Names (optional): a text file of ``id<TAB>name`` lines (ImageNet's
``words.txt``, BREEDS' ``node_names.txt``; without a tab, the first
whitespace ends the id), or a CSV/parquet with ``id`` and ``name`` columns.
Ids without a name are named by their id.

The graph is the same :class:`~hierarchy_cli.graph.Graph` the WordNet source
uses, and the levels come from the same :func:`~hierarchy_cli.graph.cut_levels`:
``level_<k>``, ``depth_<d>`` and the ``multi_parent`` rule mean exactly what
they mean for WordNet. Nodes are numbered by first appearance in the file and
each node's parents keep the file's row order (which the ``first`` rule and
tie-breaks follow). Repeated edges count once.

Several roots (nodes without a parent) get an artificial root, id
``__root__``, name ``root``, as their common parent, so levels still climb to a
single root: ``depth_0`` is then ``__root__`` and ``depth_1`` the file's roots.
Without ``classes`` the leaves are the nodes with no children, in order of
their first appearance in the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import GranularityError, offenders

ROOT_ID = "__root__"
ROOT_NAME = "root"
PARENT_GUESSES = ("parent", "parent_id", "hypernym", "source", "from")
CHILD_GUESSES = ("child", "child_id", "hyponym", "target", "to")
NAME_ID_GUESSES = ("id", "wnid", "node", "node_id", "leaf_id")
NAME_GUESSES = ("name", "names", "label", "words")


@dataclass
class EdgeList:
    """Edges as node indices (nodes numbered by first appearance) with their lines."""

    ids: list[str]
    parents: np.ndarray  # int32 per edge
    children: np.ndarray  # int32 per edge
    lines: np.ndarray  # int64 per edge: line (text/CSV) or row (parquet)
    position: str  # "line" or "row"
    source: object  # InputFile

    @property
    def name(self) -> str:
        return self.source.name


def _where(el: EdgeList, edge: int) -> str:
    return f"{el.position} {int(el.lines[edge])}"


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data[:3] == b"\xef\xbb\xbf" else data


def _utf8_array(inp, what: str):
    """The whole input as one Arrow string, or a one-line error at the bad byte."""
    import pyarrow as pa

    data = _strip_bom(inp.data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GranularityError(f"{what} {inp.name!r} is not UTF-8 text (bad byte at line {line})") from None
    return pa.array([data], type=pa.large_binary()).cast(pa.large_string())


def _text_lines(inp, what: str):
    """Lines of a text input as an Arrow array (CR stripped), line ``i+1`` at index ``i``."""
    import pyarrow.compute as pc

    whole = _utf8_array(inp, what)
    lines = pc.split_pattern(whole, "\n").flatten()
    if len(lines) and inp.data.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    return pc.utf8_rtrim(lines, "\r")


def _encode(flat_ids, what: str, name: str):
    """Node index per id (first appearance order) and the node ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_string(flat_ids.type) and len(flat_ids) < 2**30:
        flat_ids = flat_ids.cast(pa.string())  # hashing 32-bit offsets is faster
    enc = pc.dictionary_encode(flat_ids)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
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

    data = _strip_bom(inp.data)
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
    inter = pc.take(pa.concat_arrays([p, c]), pa.array(np.stack([np.arange(n), np.arange(n) + n], 1).ravel()))
    idx, ids = _encode(inter, "edge list", inp.name)
    return EdgeList(ids, idx[0::2], idx[1::2], np.arange(1, n + 1, dtype=np.int64), "line", inp)


def _parse_text_edges(inp) -> EdgeList:
    import pyarrow.compute as pc

    fast = _fast_text_edges(inp)
    if fast is not None:
        return fast
    what = "edge list"
    lines = pc.utf8_trim_whitespace(_text_lines(inp, what))
    fields = pc.utf8_split_whitespace(lines)
    nfields = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    blank = pc.equal(lines, "").to_numpy(zero_copy_only=False)
    comment = pc.starts_with(lines, "#").to_numpy(zero_copy_only=False)
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
    import pyarrow as pa

    flat = fields.filter(pa.array(keep)).flatten()
    idx, ids = _encode(flat, what, inp.name)
    return EdgeList(ids, idx[0::2], idx[1::2], rows + 1, "line", inp)


def _pick(columns: list[str], given: str | None, guesses: Sequence[str], role: str, option: str,
          what: str) -> str:
    if given is not None:
        if given not in columns:
            raise GranularityError(f"{option}: {what} has no column {given!r}; columns are: {', '.join(columns)}")
        return given
    lower = {c.lower(): c for c in reversed(columns)}
    for g in guesses:
        if g in lower:
            return lower[g]
    raise GranularityError(
        f"{what} has no {role} column: name it in the header ({guesses[0]}) or with {option}; "
        f"columns are: {', '.join(columns)}"
    )


def _parse_table_edges(inp, parent_column: str | None, child_column: str | None) -> EdgeList:
    import csv

    import pyarrow as pa

    from ..inputs import decode_lines

    what = f"edge list {inp.name!r}"
    reader = csv.reader(decode_lines(inp, "edge list"), delimiter="," if inp.kind == "csv" else "\t")
    header = None
    for header in reader:
        if any(f.strip() for f in header):
            break
    if not header:
        raise GranularityError(f"{what} is empty: expected a header row with parent and child columns")
    header = [h.strip() for h in header]
    pcol = _pick(header, parent_column, PARENT_GUESSES, "parent", "--parent-column", what)
    ccol = _pick(header, child_column, CHILD_GUESSES, "child", "--child-column", what)
    if pcol == ccol:
        raise GranularityError(f"{what}: the parent and child columns are both {pcol!r}")
    jp, jc = header.index(pcol), header.index(ccol)
    width = len(header)
    flat: list[str] = []
    lines: list[int] = []
    for row in reader:
        if len(row) != width:
            if not row or all(not f.strip() for f in row):
                continue
            raise GranularityError(f"{what} line {reader.line_num}: {len(row)} fields, expected {width} like the header")
        p, c = row[jp].strip(), row[jc].strip()
        if not p or not c:
            col = pcol if not p else ccol
            raise GranularityError(f"{what} line {reader.line_num}: empty id in column {col!r}")
        flat.append(p)
        flat.append(c)
        lines.append(reader.line_num)
    if not lines:
        raise GranularityError(f"{what} holds no edges below its header")
    idx, ids = _encode(pa.array(flat, type=pa.string()), "edge list", inp.name)
    return EdgeList(ids, idx[0::2], idx[1::2], np.asarray(lines, dtype=np.int64), "line", inp)


def _parse_parquet_edges(inp, parent_column: str | None, child_column: str | None) -> EdgeList:
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..inputs import read_parquet_bytes

    what = f"edge list {inp.name!r}"
    table = read_parquet_bytes(inp, "edge list")
    cols = list(table.column_names)
    pcol = _pick(cols, parent_column, PARENT_GUESSES, "parent", "--parent-column", what)
    ccol = _pick(cols, child_column, CHILD_GUESSES, "child", "--child-column", what)
    arrays = []
    for c in (pcol, ccol):
        arr = table.column(c).combine_chunks()
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_integer(arr.type)):
            raise GranularityError(f"{what}: column {c!r} has type {arr.type}, expected strings or integers")
        arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        empty = np.flatnonzero(pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False))
        if empty.size:
            raise GranularityError(f"{what} row {int(empty[0])}: empty id in column {c!r}")
        arrays.append(arr)
    if table.num_rows == 0:
        raise GranularityError(f"{what} holds no edges")
    n = table.num_rows
    # interleave parent, child per row so nodes are numbered by first appearance
    inter = pc.take(pa.concat_arrays(arrays), pa.array(np.stack([np.arange(n), np.arange(n) + n], 1).ravel()))
    idx, ids = _encode(inter, "edge list", inp.name)
    return EdgeList(ids, idx[0::2], idx[1::2], np.arange(n, dtype=np.int64), "row", inp)


def read_edges(spec: str | os.PathLike, parent_column: str | None = None,
               child_column: str | None = None) -> EdgeList:
    """Read an edge list (text, CSV/TSV with a header, or parquet; ``-`` = stdin)."""
    from ..inputs import read_input

    inp = read_input(str(spec), "edge list")
    kind = inp.kind
    if kind == "parquet":
        return _parse_parquet_edges(inp, parent_column, child_column)
    if kind in ("csv", "tsv"):
        return _parse_table_edges(inp, parent_column, child_column)
    if parent_column is not None or child_column is not None:
        raise GranularityError(
            f"--parent-column/--child-column need a CSV, TSV or parquet edge list, but {inp.name!r} "
            "is plain text ('parent child' per line)"
        )
    return _parse_text_edges(inp)


def read_names(spec: str | os.PathLike):
    """Read ``id<TAB>name`` lines (or a CSV/parquet with id and name columns).

    Returns ``(ids, names, source)`` as Arrow string arrays and the InputFile.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..inputs import read_input, read_parquet_bytes

    inp = read_input(str(spec), "names file")
    what = f"names file {inp.name!r}"
    if inp.kind in ("parquet", "csv"):
        if inp.kind == "parquet":
            table = read_parquet_bytes(inp, "names file")
            cols = list(table.column_names)
            first = 0
        else:
            import csv

            from ..inputs import decode_lines

            rows = list(csv.reader(decode_lines(inp, "names file")))
            if not rows:
                raise GranularityError(f"{what} is empty")
            cols = [h.strip() for h in rows[0]]
            bad = next((k for k, r in enumerate(rows[1:], 2) if r and len(r) != len(cols)), None)
            if bad is not None:
                raise GranularityError(f"{what} line {bad}: {len(rows[bad - 1])} fields, expected {len(cols)} like the header")
            body = [r for r in rows[1:] if r]
            table = pa.table({c: [r[j] for r in body] for j, c in enumerate(cols)})
            first = 2
        icol = _pick(cols, None, NAME_ID_GUESSES, "id", "a header column 'id'", what)
        ncol = _pick(cols, None, NAME_GUESSES, "name", "a header column 'name'", what)
        ids = pc.utf8_trim_whitespace(table.column(icol).combine_chunks().cast(pa.string()))
        names = pc.utf8_trim_whitespace(table.column(ncol).combine_chunks().cast(pa.string()))
        empty = np.flatnonzero(pc.fill_null(pc.equal(ids, ""), True).to_numpy(zero_copy_only=False))
        if empty.size:
            pos = f"line {int(empty[0]) + first}" if first else f"row {int(empty[0])}"
            raise GranularityError(f"{what} {pos}: empty id")
        rows_pos = [f"{'line' if first else 'row'} {i + first}" for i in range(len(ids))]
        _check_dup_names(ids, rows_pos, what)
        return ids, pc.fill_null(names, ""), inp
    lines = _text_lines(inp, "names file")
    stripped = pc.utf8_trim_whitespace(lines)
    keep = pc.and_(pc.not_equal(stripped, ""), pc.invert(pc.starts_with(stripped, "#")))
    keep_np = keep.to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(keep_np)
    parts = pc.split_pattern_regex(stripped.filter(keep), r"\s+", max_splits=1)
    nparts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(nparts != 2)
    if bad.size:
        i = int(bad[0])
        raise GranularityError(
            f"{what} line {int(rows[i]) + 1}: {stripped.filter(keep)[i].as_py()!r} has an id but no name "
            "(expected 'id<TAB>name')"
        )
    if rows.size == 0:
        return pa.array([], pa.string()), pa.array([], pa.string()), inp
    ids = pc.list_element(parts, 0)
    names = pc.utf8_trim_whitespace(pc.list_element(parts, 1))
    _check_dup_names(ids, rows + 1, what)
    return ids, names, inp


def _check_dup_names(ids, positions, what: str) -> None:
    import pyarrow.compute as pc

    if len(pc.unique(ids)) == len(ids):
        return
    seen: dict[str, int] = {}
    dup = []
    for i, x in enumerate(ids.to_pylist()):
        if x in seen:
            p = positions[i]
            dup.append((x, f"line {p}" if not isinstance(p, str) else p))
        else:
            seen[x] = i
    raise GranularityError(offenders(dup, "ids named twice", what))


@dataclass
class EdgeGraph:
    """An edge list as a :class:`Graph`, with what the summary reports."""

    graph: object
    artificial_root: bool
    roots: list[int]
    duplicates: int
    edges: int


def graph_from_edges(el: EdgeList, names=None) -> EdgeGraph:
    """Check an edge list (self-loops) and turn it into a :class:`Graph`.

    Several roots get the artificial root ``__root__``; ``names`` is a
    ``(ids, names)`` pair of Arrow arrays from :func:`read_names`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..graph import Graph

    p, c = el.parents, el.children
    loops = np.flatnonzero(p == c)
    if loops.size:
        items = [(el.ids[int(p[e])], _where(el, int(e))) for e in loops]
        raise GranularityError(
            offenders(items, "self-loops (a node listed as its own parent)", f"edge list {el.name!r}")
        )
    ids = el.ids
    n = len(ids)
    key = c.astype(np.int64) * n + p
    _, first = np.unique(key, return_index=True)
    duplicates = int(key.size - first.size)
    if duplicates:
        first.sort()
        p, c = p[first], c[first]
    has_parent = np.bincount(c, minlength=n) > 0
    roots = np.flatnonzero(~has_parent)
    artificial = roots.size > 1
    if artificial:
        if ROOT_ID in ids:
            raise GranularityError(
                f"edge list {el.name!r} has {roots.size} roots and already uses the id {ROOT_ID!r} "
                "that would name the artificial root over them"
            )
        p = np.concatenate([p, np.full(roots.size, n, dtype=np.int32)])
        c = np.concatenate([c, roots.astype(np.int32)])
        ids = ids + [ROOT_ID]
        n += 1
    order = np.argsort(c, kind="stable")
    parents = p[order].astype(np.int32)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(c, minlength=n), out=ptr[1:])
    if names is not None:
        name_ids, name_vals = names
        pos = pc.index_in(pa.array(ids, type=pa.string()), value_set=name_ids)
        found = pc.take(name_vals, pos).to_pylist()
        node_names = [i if nm is None else nm for i, nm in zip(ids, found)]
    else:
        node_names = list(ids)
    if artificial:
        node_names[-1] = ROOT_NAME
    graph = Graph(ids, node_names, ptr, parents)
    return EdgeGraph(graph, artificial, roots.tolist(), duplicates, int(el.parents.size))


def build_edges(
    edges: str | os.PathLike,
    classes: Sequence[str] | str | os.PathLike | None = None,
    levels: Sequence[int] = (),
    depths: Sequence[int] = (),
    multi_parent: str = "longest",
    names: str | os.PathLike | None = None,
    column: str | None = None,
    parent_column: str | None = None,
    child_column: str | None = None,
    class_tree: bool = False,
    dataset: str | None = None,
):
    """Relabel classes with their ancestors in a parent-child edge list.

    ``edges`` is a path (``-`` for stdin) to a text (``parent child`` per line),
    CSV/TSV (header with parent/child columns, or ``parent_column``/``child_column``)
    or parquet edge list. ``classes`` (ids, or a class-list path; ``column`` picks
    its column) are the leaves in class-index order, or ``dataset`` names a
    shipped class list; without either, the nodes with no children in order of
    first appearance. ``levels``, ``depths``, ``multi_parent`` and ``class_tree``
    mean what they mean for :func:`~hierarchy_cli.sources.wordnet.build_wordnet`
    (the same :func:`~hierarchy_cli.graph.cut_levels` does the work). ``names`` is
    an optional ``id<TAB>name`` file. Returns a validated, nested Hierarchy.
    """
    from ..graph import cut_levels
    from ..hierarchy import Hierarchy

    if not levels and not depths:
        raise GranularityError("say which levels to build: --level K, --levels 0-9 or --depth D")
    stdin_users = [opt for opt, v in (("--edges", edges), ("--classes", classes), ("--names", names))
                   if isinstance(v, (str, os.PathLike)) and str(v) == "-"]
    if len(stdin_users) > 1:
        raise GranularityError(f"only one input can come from stdin ('-'), not {' and '.join(stdin_users)}")
    el = read_edges(edges, parent_column, child_column)
    name_pair = None
    names_meta = None
    if names is not None:
        nid, nval, ninp = read_names(names)
        name_pair = (nid, nval)
        names_meta = ninp.describe()
    eg = graph_from_edges(el, name_pair)
    g = eg.graph
    if classes is None and dataset is None:
        num_real = len(el.ids)
        has_child = np.bincount(g.parents, minlength=g.num_nodes)[:num_real] > 0
        leaves = np.flatnonzero(~has_child)
        class_meta = {"from": "edge list leaves (nodes without children, first-appearance order)"}
        leaf_ids = [el.ids[i] for i in leaves.tolist()]
    else:
        from ..manifests import resolve_classes

        idl, class_meta, source_name = resolve_classes(classes, dataset, column, default=None)
        import pyarrow as pa
        import pyarrow.compute as pc

        pos = pc.index_in(pa.array(idl.ids, type=pa.string()),
                          value_set=pa.array(el.ids, type=pa.string()))
        missing = np.flatnonzero(pos.is_null().to_numpy(zero_copy_only=False))
        if missing.size:
            raise GranularityError(offenders(
                [(idl.ids[i], idl.where(int(i))) for i in missing],
                f"classes missing from edge list {el.name!r}", source_name,
            ))
        leaves = pos.to_numpy(zero_copy_only=False).astype(np.int64)
        leaf_ids = list(idl.ids)
    lvls, info = cut_levels(g, leaves, levels, depths, multi_parent, class_tree)
    meta = {
        "method": "build",
        "source": "edges",
        "edges": el.source.describe(),
        "classes": class_meta,
        "multi_parent": multi_parent,
        "leaves_with_choice": info.leaves_with_choice,
        "artificial_root": ROOT_ID if eg.artificial_root else None,
        "roots": len(eg.roots),
        "duplicate_edges": eg.duplicates,
    }
    if class_tree:
        meta["class_tree"] = True
    if names_meta is not None:
        meta["names"] = names_meta
    if parent_column or child_column:
        meta["columns"] = {"parent": parent_column, "child": child_column}
    leaf_names = [g.names[i] for i in leaves.tolist()]
    h = Hierarchy(leaf_ids, leaf_names, lvls, meta, nested=True)
    return h.validate()
