"""NCBI Taxonomy's dump files (``taxdump.tar.gz``): ``nodes.dmp`` as an edge list with ranks,
``names.dmp`` as its names.

Both are "bcp-like" dumps: fields separated by ``\\t|\\t``, every line ending in
``\\t|``. ``nodes.dmp`` holds one line per tax id: ``tax_id``, ``parent tax_id``,
``rank`` (``species``, ``genus``, ``family``, ... or ``no rank``/``clade``), then
fields this reader does not use (embl code, division, genetic codes, flags,
comments). Each line is the edge ``parent -> tax_id`` with the child's rank. The
root (tax id 1) is listed as its own parent: that one self-loop is the root, not
an error (any other self-loop, or a second one, is). A tax id listed twice is an
error: NCBI's taxonomy is a tree.

``names.dmp``: ``tax_id``, ``name_txt``, ``unique name``, ``name class``. Only a
``scientific name`` names a node; synonyms, common names, authorities and the
other classes are not duplicates: they are left out and counted per class. A tax
id with two scientific names is an error naming both lines.
"""

from __future__ import annotations

import numpy as np

from ..arrays import bool_array, bool_numpy, empty_strings, int_array, numpy_view, string_array
from ..errors import GranularityError, offenders
from ..inputs import TAXDUMP_SEPARATOR

FIELD_SEP, LINE_END = TAXDUMP_SEPARATOR.decode(), "\t|"
FORMAT = "ncbi-taxdump"
SCIENTIFIC = "scientific name"


def _records(inp, what: str, fields: tuple[str, ...]):
    """The first ``len(fields)`` fields of every non-blank line, trimmed, and each line's number."""
    import pyarrow.compute as pc

    from ..inputs import text_lines

    lines = text_lines(inp, what)
    keep = ~empty_strings(pc.utf8_trim_whitespace(lines))
    rows = np.flatnonzero(keep)
    lines = lines.filter(bool_array(keep))
    label = f"{what} {inp.name!r}"
    if not len(lines):
        raise GranularityError(f"{label} is empty (expected NCBI taxdump lines 'a\\t|\\tb\\t|\\t...\\t|')")
    ended = bool_numpy(pc.ends_with(lines, LINE_END))
    split = pc.split_pattern(pc.utf8_slice_codeunits(lines, 0, -len(LINE_END)), FIELD_SEP)
    count = numpy_view(pc.list_value_length(split))
    bad = np.flatnonzero(~ended | (count < len(fields)))
    if bad.size:
        i = int(bad[0])
        text = lines[i].as_py()
        why = ("does not end in '\\t|'" if not ended[i] else
               f"has {int(count[i])} fields, expected {', '.join(fields)} ... separated by '\\t|\\t'")
        raise GranularityError(f"{label} line {int(rows[i]) + 1}: {text[:60]!r} {why} (NCBI taxdump format)")
    offsets = numpy_view(split.offsets)[:-1]
    values = split.values
    columns = [pc.utf8_trim_whitespace(values.take(int_array(offsets + j))) for j in range(len(fields))]
    return columns, rows + 1


def read_nodes(inp):
    """``nodes.dmp`` as an :class:`~hierarchy_cli.sources.edgefiles.EdgeList` with each node's rank."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..inputs import find_duplicates
    from .edgefiles import EdgeList, interleaved, node_index, node_ranks

    what = "NCBI nodes file"
    (child, parent, rank), lines = _records(inp, what, ("tax_id", "parent tax_id", "rank"))
    label = f"{what} {inp.name!r}"
    for arr, field in ((child, "tax_id"), (parent, "parent tax_id")):
        empty = np.flatnonzero(empty_strings(arr))
        if empty.size:
            raise GranularityError(f"{label} line {int(lines[empty[0]])}: empty {field}")
    n = len(child)
    idx, ids = node_index(pc.take(pa.concat_arrays([parent, child]), interleaved(n)))
    p, c = idx[0::2], idx[1::2]
    if np.unique(c).size != n:
        dup = find_duplicates([ids[k] for k in c.tolist()], lambda i: f"line {int(lines[i])}")
        raise GranularityError(offenders(dup, "tax ids listed twice (a taxonomy is a tree)", label))
    loops = np.flatnonzero(p == c)
    if loops.size > 1:
        items = [(ids[int(c[e])], f"line {int(lines[e])}") for e in loops]
        raise GranularityError(offenders(items, "self-loops (a tax id listed as its own parent; the root's is the "
                                         "only one a taxdump has)", label))
    codes, names = node_ranks(len(ids), c, rank, lambda i: f"line {int(lines[i])}", label)
    info = {"format": FORMAT}
    if loops.size:  # the root, listed as its own parent: not an edge
        info["root"] = ids[int(c[loops[0]])]
        keep = p != c
        p, c, lines = p[keep], c[keep], lines[keep]
    if not p.size:
        raise GranularityError(f"{label} holds no edges: only the root")
    return EdgeList(ids, p, c, lines.astype(np.int64), "line", inp, info, [], codes, names)


def read_names(inp):
    """``names.dmp`` as :class:`~hierarchy_cli.sources.edgefiles.Names`: scientific names only."""
    import pyarrow.compute as pc

    from ..inputs import find_duplicates
    from .edgefiles import Names

    what = "NCBI names file"
    (tax_id, name, _, kind), lines = _records(inp, what, ("tax_id", "name_txt", "unique name", "name class"))
    label = f"{what} {inp.name!r}"
    sci = bool_numpy(pc.is_in(kind, value_set=string_array([SCIENTIFIC])))
    ids, names, where = tax_id.filter(bool_array(sci)), name.filter(bool_array(sci)), lines[sci]
    if len(pc.unique(ids)) != len(ids):
        dup = find_duplicates(ids.to_pylist(), lambda i: f"line {int(where[i])}")
        raise GranularityError(offenders(dup, "tax ids with two scientific names", label))
    others = pc.value_counts(kind.filter(bool_array(~sci)))
    counts = dict(zip(others.field("values").to_pylist(), numpy_view(others.field("counts")).tolist()))
    not_used = {k: counts[k] for k in sorted(counts)}
    info = {"format": FORMAT, "names_not_used": not_used}
    notes = []
    if not_used:
        per = ", ".join(f"{k} {v:,}" for k, v in not_used.items())
        notes.append(f"names file {inp.describe()['name']!r}: {sum(not_used.values()):,} names that are not a "
                     f"scientific name left out ({per})")
    return Names(ids, names, inp, info, notes)
