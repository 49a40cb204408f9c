"""Any hierarchy given as parent-child pairs: ImageNet's ``wordnet.is_a.txt``, BREEDS, your own.

The files (text, CSV/TSV, parquet, Open Images' JSON, NCBI's ``.dmp``; names
files) are read by :mod:`~hierarchy_cli.sources.edgefiles`. Ids without a name
are named by their id.

The graph is the same :class:`~hierarchy_cli.graph.Graph` the WordNet source
uses, and the levels come from the same :func:`~hierarchy_cli.graphcut.cut_levels`:
``level_<k>``, ``depth_<d>`` and the ``multi_parent`` rule mean exactly what
they mean for WordNet. Nodes are numbered by first appearance in the file and
each node's parents keep the file's row order (which the ``first`` rule and
tie-breaks follow). Repeated edges count once.

Several roots (nodes without a parent) get an artificial root, id
``__root__``, name ``root``, as their common parent, so levels still climb to a
single root: ``depth_0`` is then ``__root__`` and ``depth_1`` the file's roots.
Without ``classes`` the leaves are the nodes with no children, in order of
their first appearance in the file. An edge list with ranks can also be cut by
rank name (:mod:`~hierarchy_cli.sources.rankcut`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..arrays import bool_numpy, numpy_view, string_array
from ..errors import GranularityError, offenders
from .edgefiles import EdgeList, Names, names_columns_pair, read_edges, read_names_file

ROOT_ID = "__root__"
ROOT_NAME = "root"


@dataclass
class EdgeGraph:
    """An edge list as a :class:`~hierarchy_cli.graph.Graph`, with what the summary reports."""

    graph: object
    leaves: np.ndarray  # node indices, in class-index order
    artificial_root: bool
    roots: list[int]  # the roots above the leaves (joined under the artificial root when several)
    duplicates: int
    edges: int
    all_roots: int = 0  # every root of the file


def _csr(n: int, p: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parents CSR of ``n`` nodes from edge arrays, each node's parents in edge order."""
    order = np.argsort(c, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(c, minlength=n), out=ptr[1:])
    return ptr, p[order].astype(np.int32)


def _unique_edges(el: EdgeList, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The edges without self-loops (an error naming them) and repeats: ``(parents, children, repeats)``."""
    p, c = el.parents, el.children
    loops = np.flatnonzero(p == c)
    if loops.size:
        items = [(el.ids[int(p[e])], el.where(int(e))) for e in loops]
        raise GranularityError(
            offenders(items, "self-loops (a node listed as its own parent)", f"edge list {el.name!r}")
        )
    key = c.astype(np.int64) * n + p
    _, first = np.unique(key, return_index=True)
    duplicates = int(key.size - first.size)
    if duplicates:
        first.sort()
        p, c = p[first], c[first]
    return p, c, duplicates


def _node_names(ids: list[str], names: Names | None) -> list[str]:
    """Each node's name from the names file; a node without one is named by its id."""
    if names is None:
        return list(ids)
    import pyarrow.compute as pc

    found = pc.take(names.names, pc.index_in(string_array(ids), value_set=names.ids)).to_pylist()
    return [i if nm is None else nm for i, nm in zip(ids, found)]


def graph_from_edges(el: EdgeList, names: Names | None = None, leaves=None, extra_ids: Sequence[str] = ()) -> EdgeGraph:
    """Check an edge list (self-loops, cycles) and turn it into a :class:`~hierarchy_cli.graph.Graph`.

    ``extra_ids`` are nodes outside the edge list (classes kept as their own
    group), appended without parents or children. Only the roots above
    ``leaves`` (node indices; default: every node without children) count:
    when there are several, the artificial root ``__root__`` becomes their
    common parent, so a file's unrelated roots never shift the classes' depths.
    ``names`` is a names file (:func:`~hierarchy_cli.sources.edgefiles.read_names_file`).
    """
    from ..graph import Graph, ancestor_mask

    ids = list(el.ids) + list(extra_ids)
    num_real, n = len(el.ids), len(ids)
    p, c, duplicates = _unique_edges(el, n)
    ptr, parents = _csr(n, p, c)
    roots = np.flatnonzero(np.diff(ptr)[:num_real] == 0)
    if leaves is None:
        leaves = np.flatnonzero(np.bincount(p, minlength=num_real)[:num_real] == 0)
    leaves = np.asarray(leaves, dtype=np.int64)
    above = ancestor_mask(Graph(ids, ids, ptr, parents), leaves[leaves < num_real])  # also finds cycles
    counted = roots[above[roots]]
    artificial = counted.size > 1
    if artificial:
        if ROOT_ID in ids:
            raise GranularityError(
                f"edge list {el.name!r} has {counted.size} roots above the classes and already uses the id "
                f"{ROOT_ID!r} that would name the artificial root over them"
            )
        p = np.concatenate([p, np.full(counted.size, n, dtype=np.int32)])
        c = np.concatenate([c, counted.astype(np.int32)])
        ids = ids + [ROOT_ID]
        ptr, parents = _csr(n + 1, p, c)
    node_names = _node_names(ids, names)
    if artificial:
        node_names[-1] = ROOT_NAME
    return EdgeGraph(Graph(ids, node_names, ptr, parents), leaves, artificial, counted.tolist(), duplicates,
                     int(el.parents.size), int(roots.size))


def build_edges(
    edges: str | os.PathLike,
    classes: Sequence[str] | str | os.PathLike | None = None,
    levels: Sequence[int] | Sequence[str] | str = (),
    depths: Sequence[int] | str = (),
    multi_parent: str = "longest",
    names: str | os.PathLike | None = None,
    column: str | None = None,
    parent_column: str | None = None,
    child_column: str | None = None,
    class_tree: bool = False,
    dataset: str | None = None,
    missing_classes: str = "error",
    names_columns: str | Sequence[str] | None = None,
    rank_column: str | None = None,
    missing: str = "fill",
    root: str | None = None,
    prune: bool = False,
    ancestors: Sequence[str] | str | os.PathLike | None = None,
    ancestor_rule: str = "unique",
    label_order: Sequence[str] | str | os.PathLike | None = None,
):
    """Relabel classes with their ancestors in a parent-child edge list.

    ``edges`` is a path (``-`` for stdin) to a text (``parent child`` per line),
    CSV/TSV (header with parent/child columns, or ``parent_column``/``child_column``;
    or two columns without a header row), parquet, Open Images' hierarchy JSON or
    NCBI's ``nodes.dmp`` edge list. ``classes`` (ids, or a class-list path; ``column`` picks
    its column) are the leaves in class-index order, or ``dataset`` names a
    shipped class list; without either, the nodes with no children in order of
    first appearance. ``levels``, ``depths``, ``multi_parent`` and ``class_tree``
    mean what they mean for :func:`~hierarchy_cli.sources.wordnet.build_wordnet`
    (the same :func:`~hierarchy_cli.graphcut.cut_levels` does the work). ``names`` is
    an optional names file (``id<TAB>name``, CSV/TSV/parquet, or NCBI's ``names.dmp``).
    ``missing_classes`` says what a class (of ``classes`` or ``dataset``) absent
    from the edge list (or, with ``root``/``ancestors``, not placed by them) becomes:
    ``error`` (the default), ``own-group`` (a group of its own at every level, so
    ``leaf_index`` stays the class index; ``h.metadata["classes_missing"]`` counts
    them) or ``drop`` (outside the label space: null labels). ``root``, ``prune``,
    ``ancestors``, ``ancestor_rule`` and ``label_order`` mean what they mean for
    :func:`~hierarchy_cli.sources.wordnet.build_wordnet`, with the edge list's node
    ids. ``names_columns`` names the id and
    name columns of a CSV/TSV/parquet names file (``"LabelName,DisplayName"``; default:
    the guesses of the module doc, or columns 1 and 2 of a file without a header row).

    An edge list that carries ranks (``nodes.dmp``, or a ``rank`` column: the child's
    rank; ``rank_column`` names another) can be cut by rank name: ``levels="family"``,
    ``["family", "order"]`` or ``"all"`` (see :mod:`~hierarchy_cli.sources.rankcut`);
    ``missing`` (``fill``, ``parent``, ``error``) says what a class without that rank
    becomes, as for :func:`~hierarchy_cli.sources.taxonomy.build_taxonomy`. Numbers keep
    meaning hops up. Returns a validated Hierarchy: nested for hops and depths; for
    ranks ``h.metadata["nested"]`` says whether the levels nest.
    """
    from ..hierarchy import Hierarchy
    from .cuts import numbered

    shaping = dict(root=root, prune=prune, ancestors=ancestors, ancestor_rule=ancestor_rule,
                   missing_classes=missing_classes)
    request = _check_request(levels, depths, multi_parent, class_tree, missing, shaping)
    names_columns = _check_inputs(edges, classes, dataset, names, names_columns, shaping)
    el = read_edges(edges, parent_column, child_column, rank_column)
    if request.kind == "rank" and el.rank_codes is None:
        raise GranularityError(
            f"levels {','.join(request.ranks)!r} are rank names, but edge list {el.name!r} carries no ranks (NCBI's "
            "nodes.dmp, or a CSV/TSV/parquet edge list with a 'rank' column, give them); numbers count hops up "
            "(--level 3)")
    nm = read_names_file(names, names_columns) if names is not None else None
    leaves, missing_ids, class_meta = _leaves(el, classes, dataset, column, missing_classes)
    eg = graph_from_edges(el, nm, leaves, missing_ids)
    meta = _meta(el, eg, class_meta, multi_parent)
    if request.kind == "rank":
        lvls, nested, cut_notes = _cut_by_rank(eg, el, len(missing_ids), request.ranks, multi_parent, missing, meta)
    else:
        lvls, nested, cut_notes = _cut_hops(eg, el, missing_ids, request, multi_parent, class_tree, shaping, meta)
    _add_meta(meta, el, nm, class_tree, cut_notes, classes is not None or dataset is not None, missing_classes,
              len(missing_ids), parent_column, child_column)
    lvls = numbered(lvls, label_order, meta)
    summary = _summary(meta, eg.leaves.size, classes is None and dataset is None, multi_parent, class_tree)
    g, leaves = eg.graph, eg.leaves.tolist()
    return Hierarchy([g.ids[i] for i in leaves], [g.names[i] for i in leaves], lvls, meta, nested=nested,
                     summary=summary).validate()


def _check_request(levels, depths, multi_parent: str, class_tree: bool, missing: str, shaping: dict):
    """The :class:`~hierarchy_cli.graphcut.LevelRequest` of the levels asked for (rank names,
    hops or depths), checked with the options that shape them before any input is read."""
    from ..graphcut import LevelRequest
    from .cuts import check_shape
    from .rankcut import rank_request
    from .ranks import check_missing

    check_missing(missing)
    ancestors = shaping["ancestors"] is not None
    request = None if ancestors else rank_request(levels)
    if request is None:
        request = LevelRequest.parse(levels, depths, ancestors)
        if missing != "fill":
            raise GranularityError("--missing applies to levels by rank name (--level family, with an edge list "
                                   "that carries ranks), not to hops or depths")
    elif depths not in (None, (), []) and depths != "":
        raise GranularityError("rank names go with --level/--levels, not --depth")
    elif class_tree:
        raise GranularityError("--class-tree counts hops through the classes; levels by rank name do not use it")
    elif shaping["root"] is not None or shaping["prune"]:
        raise GranularityError("--root, --prune and --ancestors shape hops and depths, not levels by rank name")
    check_shape(multi_parent, class_tree, shaping["prune"], ancestors, shaping["ancestor_rule"],
                shaping["missing_classes"])
    return request


def _check_inputs(edges, classes, dataset, names, names_columns, shaping: dict) -> tuple[str, str] | None:
    """Check the inputs before reading them; the names file's id and name columns, if given."""
    names_columns = names_columns_pair(names_columns)
    if names_columns is not None and names is None:
        raise GranularityError("--names-columns names the columns of a names file: give one with --names")
    if shaping["missing_classes"] != "error" and classes is None and dataset is None and shaping["root"] is None \
            and shaping["ancestors"] is None:
        raise GranularityError("missing_classes applies to a class list (--classes or --dataset), --root or "
                               "--ancestors: without them, the leaves are the edge list's own nodes")
    stdin_users = [opt for opt, v in (("--edges", edges), ("--classes", classes), ("--names", names))
                   if isinstance(v, (str, os.PathLike)) and str(v) == "-"]
    if len(stdin_users) > 1:
        raise GranularityError(f"only one input can come from stdin ('-'), not {' and '.join(stdin_users)}")
    return names_columns


def _leaves(el: EdgeList, classes, dataset, column, missing_classes: str):
    """The leaves as node indices (``None``: the childless nodes), the ids of classes absent
    from the edge list (numbered after its nodes), and the class list's metadata."""
    import pyarrow.compute as pc

    if classes is None and dataset is None:
        return None, [], {"from": "edge list leaves (nodes without children, first-appearance order)"}
    from ..manifests import resolve_classes

    nodes = set(el.ids)
    idl, class_meta, source_name = resolve_classes(classes, dataset, column, default=None, is_id=nodes.__contains__)
    pos = pc.index_in(string_array(idl.ids), value_set=string_array(el.ids))
    missing = np.flatnonzero(bool_numpy(pos.is_null()))
    if missing.size and missing_classes == "error":
        raise GranularityError(offenders(
            [(idl.ids[i], idl.where(int(i))) for i in missing],
            f"classes missing from edge list {el.name!r}", source_name,
        ) + " (keep each as its own group with --missing-classes own-group, or leave them outside the "
            "label space with --missing-classes drop)")
    leaves = numpy_view(pos).astype(np.int64)  # the missing ones (nulls) are set below
    leaves[missing] = len(el.ids) + np.arange(missing.size)
    return leaves, [idl.ids[i] for i in missing.tolist()], class_meta


def _meta(el: EdgeList, eg: EdgeGraph, class_meta: dict, multi_parent: str) -> dict:
    """The metadata every edge-list map records, before the cut adds its own."""
    return {
        "method": "build",
        "source": "edges",
        "edges": el.describe(),
        "classes": class_meta,
        "multi_parent": multi_parent,
        "leaves_with_choice": 0,
        "artificial_root": ROOT_ID if eg.artificial_root else None,
        "roots": len(eg.roots),
        "roots_in_file": eg.all_roots,
        "duplicate_edges": eg.duplicates,
    }


def _add_meta(meta: dict, el: EdgeList, nm: Names | None, class_tree: bool, cut_notes: list, class_list: bool,
              missing_classes: str, num_missing: int, parent_column, child_column) -> None:
    """The metadata recorded after the cut: the class tree, notes, classes missing, names, columns."""
    input_notes = list(el.notes) + ([] if nm is None else nm.notes)
    if class_tree:
        meta["class_tree"] = True
    if cut_notes or input_notes:
        meta["notes"] = input_notes + cut_notes
    if class_list:
        meta["missing_classes"] = missing_classes
        meta["classes_missing"] = num_missing
    if nm is not None:
        meta["names"] = nm.describe()
    if parent_column or child_column:
        meta["columns"] = {"parent": parent_column, "child": child_column}


def _cut_hops(eg: EdgeGraph, el: EdgeList, missing_ids, request, multi_parent, class_tree, shaping: dict,
              meta) -> tuple[list, bool, list]:
    """Levels by hops or depths (or ``--ancestors``), shaped by ``--root``/``--prune``."""
    from ..graphcut import cut_levels
    from .cuts import make_shape, refuse_unplaced, unplaced_meta

    g, leaves = eg.graph, eg.leaves
    index = {x: i for i, x in enumerate(g.ids)}

    def node_of(ids, what):
        unknown = [(x, f"item {i + 1}") for i, x in enumerate(ids) if x not in index or index[x] >= len(el.ids)]
        if unknown:
            raise GranularityError(offenders(unknown, f"ids not in edge list {el.name!r}", what))
        return np.asarray([index[x] for x in ids], dtype=np.int64)

    shape, shape_meta = make_shape(node_of, multi_parent, class_tree, shaping["root"], shaping["prune"],
                                   shaping["ancestors"], shaping["ancestor_rule"], shaping["missing_classes"])
    placed = leaves < len(el.ids) if missing_ids else None  # classes absent from the edge list have no place
    lvls, info = cut_levels(g, leaves, request, shape, placed)
    refuse_unplaced(info, [g.ids[i] for i in leaves.tolist()], lambda i: f"class {i}", "the classes", shape)
    meta["leaves_with_choice"] = info.leaves_with_choice
    meta.update(shape_meta)
    placement = unplaced_meta(info, shape)
    if placement and (shaping["root"] is not None or shaping["ancestors"] is not None):
        meta.update(placement, classes_unplaced=int(info.unplaced.size) - len(missing_ids))
    return lvls, True, info.notes


def _cut_by_rank(eg: EdgeGraph, el: EdgeList, num_own: int, requested, multi_parent, missing, meta):
    """Levels by rank name (:func:`~hierarchy_cli.sources.rankcut.cut_ranks`); whether they nest is reported."""
    from .rankcut import cut_ranks

    own = eg.leaves >= len(el.ids)  # classes absent from the edge list (and never the artificial root)
    lvls, info = cut_ranks(eg.graph, eg.leaves, el.rank_codes, el.rank_names, requested, multi_parent, missing,
                           own if num_own else None, f"edge list {el.name!r}")
    nested = not info.not_nested
    meta.update({"leaves_with_choice": info.leaves_with_choice, "missing": missing,
                 "missing_ranks": info.missing_ranks, "leaves_with_missing_rank": info.leaves_with_missing_rank,
                 "nested": nested})
    for key in ("above_rank", "repeated_ranks", "ranks_not_ordered"):
        if getattr(info, key):
            meta[key] = getattr(info, key)
    if not nested:
        meta["not_nested"] = info.not_nested
    return lvls, nested, []


def _summary(meta: dict, n: int, own_leaves: bool, multi_parent: str, class_tree: bool) -> list[str]:
    """What the summary says: the leaves, classes missing, roots, repeated edges, the path rule
    and shape, a cut by rank, and how the files were read (``own_leaves``: the childless nodes)."""
    from .cuts import shape_notes

    notes = [f"leaves: the {n:,} nodes without children, in order of first appearance"] if own_leaves else []
    if meta.get("classes_missing"):
        how = {"own-group": "each is a group of its own at every level",
               "drop": "outside the label space (null labels)"}[meta["missing_classes"]]
        notes.append(f"{meta['classes_missing']:,} of {n:,} classes are not in the edge list: {how} "
                     f"(--missing-classes {meta['missing_classes']})")
    if meta["artificial_root"]:
        notes.append(f"{meta['roots']:,} roots above the classes: joined under an artificial root {ROOT_ID!r} "
                     "(depth 0)")
    elif meta["roots_in_file"] > 1:
        notes.append(f"the edge list has {meta['roots_in_file']:,} roots; only one is above the classes, "
                     "so it is depth 0 (no artificial root)")
    if meta["duplicate_edges"]:
        notes.append(f"{meta['duplicate_edges']:,} repeated edges counted once")
    notes += shape_notes(meta, n, multi_parent, class_tree)
    if "missing" in meta:
        notes += _rank_notes(meta, n)
    return notes + meta.get("notes", [])


def _rank_notes(meta: dict, n: int) -> list[str]:
    """What the summary says about a cut by rank name."""
    from .ranks import missing_rank_note, not_nested_note

    notes = missing_rank_note(meta, n, meta["missing"])
    for r, k in meta.get("above_rank", {}).items():
        notes.append(f"{k:,} classes are of a rank coarser than {r}: each is its own {r} group")
    for r, k in meta.get("repeated_ranks", {}).items():
        notes.append(f"{k:,} classes have two or more {r} nodes on their path: the nearest is their {r}")
    if meta.get("ranks_not_ordered"):
        per = ", ".join(f"{r} ({c:,} nodes)" for r, c in meta["ranks_not_ordered"].items())
        notes.append(f"ranks outside the standard order, never a level: {per}")
    if not meta["nested"]:
        notes.append(not_nested_note(meta["not_nested"]))
    return notes
