"""Parent-child DAGs and the level rules shared by every manual source.

A :class:`Graph` stores each node's parents in the order the source lists them
(WordNet's pointer order, the edge list's row order) as CSR arrays. WordNet is a
DAG, so a leaf can have several paths to the root; :func:`choose_paths` picks one
per node with a rule, and :func:`cut_levels` reads levels off the chosen paths:

``longest``   the path with the most nodes (the default, as in the paper);
``shortest``  the path with the fewest nodes;
``first``     always the first-listed parent;
``last``      always the last-listed parent (MIIL's ImageNet-21K-P semantic tree
              keeps the last parent ImageNet's is-a file lists, as a ``{child:
              parent}`` dictionary filled line by line does).

Ties (``longest``/``shortest``) are broken by parent order, from the leaf upward:
at each node, among the parents whose best path is equally long, the one listed
first wins. The result is therefore fixed by the data, never by hash or set order.

:func:`class_paths` turns the chosen paths into the tree over the classes alone
(each class's parent is its nearest ancestor on its chosen path that is itself a
class), the tree MIIL's semantic levels count depths in.

Everything is vectorised with numpy over topological layers, so a graph with a
million edges takes well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import GranularityError

from .options import ANCESTOR_RULES, MISSING_CLASSES, RULES, one_of  # noqa: E402


@dataclass
class Graph:
    """Nodes ``0..N-1`` with ids, names and ordered parents (CSR)."""

    ids: Sequence[str]
    names: Sequence[str]
    parent_ptr: np.ndarray  # int64, N+1
    parents: np.ndarray  # int32, E (parents of node i: parents[parent_ptr[i]:parent_ptr[i+1]])

    @property
    def num_nodes(self) -> int:
        return len(self.parent_ptr) - 1

    def num_parents(self) -> np.ndarray:
        return np.diff(self.parent_ptr)

    def edge_children(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_nodes, dtype=np.int32), self.num_parents())


@dataclass
class Paths:
    """One chosen path to a root for every node.

    ``parent[i]`` is node i's parent on its chosen path (-1 at a root),
    ``depth[i]`` the number of edges from the root along it, and
    ``num_paths[i]`` how many distinct paths lead from a root to i (float64,
    exact up to 2**53).
    """

    rule: str
    parent: np.ndarray
    depth: np.ndarray
    num_paths: np.ndarray


def _segments(ptr: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge positions of the CSR segments of ``nodes``, and each segment's length."""
    starts = ptr[nodes]
    lengths = ptr[nodes + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), lengths
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total), lengths


def topological_layers(g: Graph) -> list[np.ndarray]:
    """Nodes grouped by longest distance from a root (Kahn's algorithm by layers).

    Raises :class:`GranularityError` naming nodes on a cycle if there is one.
    """
    n = g.num_nodes
    remaining = g.num_parents().astype(np.int64)
    # children CSR: edges sorted by parent
    children_of_edge = g.edge_children()
    order = np.argsort(g.parents, kind="stable")
    child_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(g.parents, minlength=n), out=child_ptr[1:])
    sorted_children = children_of_edge[order]
    layers = []
    frontier = np.flatnonzero(remaining == 0)
    seen = 0
    while frontier.size:
        layers.append(frontier)
        seen += frontier.size
        pos, _ = _segments(child_ptr, frontier)
        kids = sorted_children[pos]
        if kids.size == 0:
            break
        counts = np.bincount(kids, minlength=n)
        touched = np.flatnonzero(counts)
        remaining[touched] -= counts[touched]
        frontier = touched[remaining[touched] == 0]
    if seen != n:
        stuck = np.flatnonzero(remaining > 0)
        on_cycle = _cycle_members(g, stuck)
        shown = ", ".join(repr(str(g.ids[i])) for i in on_cycle[:6])
        raise GranularityError(
            f"the hierarchy has a cycle ({len(stuck)} nodes cannot reach a root); "
            f"a cycle runs through {shown}"
        )
    return layers


def ancestor_mask(g: Graph, nodes: np.ndarray, layers: list[np.ndarray] | None = None) -> np.ndarray:
    """``mask[i]``: node i is one of ``nodes`` or an ancestor of one (any path)."""
    mark = np.zeros(g.num_nodes, dtype=bool)
    mark[np.asarray(nodes, dtype=np.int64)] = True
    for layer in reversed(layers if layers is not None else topological_layers(g)):
        sel = layer[mark[layer]]
        if sel.size:
            pos, _ = _segments(g.parent_ptr, sel)
            mark[g.parents[pos]] = True
    return mark


def _cycle_members(g: Graph, stuck: np.ndarray) -> list[int]:
    """Follow unresolved parents from a stuck node until a node repeats."""
    stuck_set = set(stuck.tolist())
    node = int(stuck[0])
    path: list[int] = []
    where: dict[int, int] = {}
    while node not in where:
        where[node] = len(path)
        path.append(node)
        ps = g.parents[g.parent_ptr[node]:g.parent_ptr[node + 1]].tolist()
        node = next(p for p in ps if p in stuck_set)
    return path[where[node]:]


def choose_paths(g: Graph, rule: str = "longest", layers: list[np.ndarray] | None = None) -> Paths:
    """Pick one path to a root per node with ``rule`` (see the module doc)."""
    one_of(rule, RULES, "--multi-parent rule")
    n = g.num_nodes
    if layers is None:
        layers = topological_layers(g)
    ptr = g.parent_ptr
    num_parents = g.num_parents()
    longest = np.zeros(n, dtype=np.int64)
    shortest = np.zeros(n, dtype=np.int64)
    num_paths = np.ones(n, dtype=np.float64)
    for depth, nodes in enumerate(layers[1:], 1):
        longest[nodes] = depth
        pos, lengths = _segments(ptr, nodes)
        starts = np.cumsum(lengths) - lengths
        par = g.parents[pos]
        shortest[nodes] = np.minimum.reduceat(shortest[par], starts) + 1
        num_paths[nodes] = np.add.reduceat(num_paths[par], starts)

    parent = np.full(n, -1, dtype=np.int32)
    has = num_parents > 0
    if rule == "first":
        parent[has] = g.parents[ptr[:-1][has]]
    elif rule == "last":
        parent[has] = g.parents[ptr[1:][has] - 1]
    else:
        key = longest if rule == "longest" else shortest
        score = key[g.parents]
        if rule == "longest":
            score = -score
        child = g.edge_children()
        # sort edges by (child, score, position): the first edge per child wins
        order = np.lexsort((np.arange(child.size), score, child))
        first = np.ones(order.size, dtype=bool)
        first[1:] = child[order][1:] != child[order][:-1]
        best = order[first]
        parent[child[best]] = g.parents[best]
    if rule == "longest":
        depth = longest
    elif rule == "shortest":
        depth = shortest
    else:
        depth = np.zeros(n, dtype=np.int64)
        for nodes in layers[1:]:
            depth[nodes] = depth[parent[nodes]] + 1
    return Paths(rule, parent, depth.astype(np.int32), num_paths)


def class_paths(paths: Paths, classes: np.ndarray) -> Paths:
    """The chosen paths with every node that is not in ``classes`` skipped.

    Each node's parent becomes its nearest ancestor on its chosen path that is a
    class (-1 when it has none: a class with no class above it is a root of the
    class tree), and its depth the number of classes above it. ``num_paths`` is
    kept (it counts the paths in the full graph). (:func:`pruned_paths` uses it
    with the nodes a pruned tree keeps.)
    """
    n = paths.parent.size
    is_class = np.zeros(n, dtype=bool)
    is_class[np.asarray(classes, dtype=np.int64)] = True
    near = np.full(n, -1, dtype=np.int32)
    above = np.zeros(n, dtype=np.int32)  # classes strictly above the node on its path
    order = np.argsort(paths.depth, kind="stable")  # a chosen parent is one step shallower
    bounds = np.searchsorted(paths.depth[order], np.arange(1, int(paths.depth.max(initial=0)) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        nodes = order[lo:hi]
        p = paths.parent[nodes]
        near[nodes] = np.where(is_class[p], p, near[p])
        above[nodes] = above[p] + is_class[p]
    return Paths(paths.rule, near, above, paths.num_paths)


def below_root(g: Graph, root: int, layers: list[np.ndarray] | None = None) -> tuple[Graph, np.ndarray]:
    """The graph cut at ``root``: ``(graph, below)``.

    ``below[i]`` says node i is ``root`` or reaches it by some path. In the
    returned graph ``root`` has no parents and a node below it keeps only the
    parents below it too, so every path from such a node ends at ``root`` (the
    other nodes keep their parents: they are not below the root whatever path
    they take).
    """
    n = g.num_nodes
    below = np.zeros(n, dtype=bool)
    below[root] = True
    for layer in layers if layers is not None else topological_layers(g):
        pos, lengths = _segments(g.parent_ptr, layer)
        if pos.size:
            starts = np.cumsum(lengths) - lengths
            hit = np.logical_or.reduceat(below[g.parents[pos]], starts[lengths > 0])
            below[layer[lengths > 0]] |= hit
    child = g.edge_children()
    keep = ~(below[child] & ~below[g.parents]) & (child != root)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(child[keep], minlength=n), out=ptr[1:])
    return Graph(g.ids, g.names, ptr, g.parents[keep]), below


def pruned_paths(paths: Paths, leaves: np.ndarray) -> Paths:
    """The tree of the leaves' chosen paths without its single-child nodes.

    The tree is the union of the chosen paths of ``leaves``; a node of it with one
    child, that is neither a leaf nor a root, is dropped and its child hangs from
    its parent (making-better-mistakes' tieredImageNet-H and ImageNet-H rule). A
    node with two or more children keeps them, so one pass leaves no single-child
    node. Depths count the kept nodes.
    """
    leaves = np.asarray(leaves, dtype=np.int64)
    m = path_matrix(paths, leaves)
    on_tree = np.unique(m[m >= 0])
    parents = paths.parent[on_tree]
    children = np.bincount(parents[parents >= 0], minlength=paths.parent.size)
    keep = on_tree[(children[on_tree] >= 2) | (paths.parent[on_tree] < 0)]
    return class_paths(paths, np.union1d(keep, leaves))




def under_matrix(g: Graph, nodes: np.ndarray, layers: list[np.ndarray] | None = None) -> np.ndarray:
    """``U[i, j]``: node i is ``nodes[j]`` or lies below it on some path (bool, nodes x len(nodes))."""
    nodes = np.asarray(nodes, dtype=np.int64)
    under = np.zeros((g.num_nodes, nodes.size), dtype=bool)
    under[nodes, np.arange(nodes.size)] = True
    for layer in layers if layers is not None else topological_layers(g):
        pos, lengths = _segments(g.parent_ptr, layer)
        if pos.size:
            starts = np.cumsum(lengths) - lengths
            has = lengths > 0
            under[layer[has]] |= np.logical_or.reduceat(under[g.parents[pos]], starts[has], axis=0)
    return under


def ancestor_keys(g: Graph, leaves: np.ndarray, ancestors: np.ndarray, rule: str = "unique",
                  paths: Paths | None = None, positions: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """For each leaf, the one of ``ancestors`` (node indices) it falls under, as a node
    index (-1: none), and how many leaves fall under two unrelated ones.

    A leaf falls under a node when the node lies on any of its paths (or is the
    leaf). Under several, the most specific wins when they lie on one line (``dog``
    and ``animal``: ``dog``). Under two of them neither of which is below the
    other, ``unique`` raises an error naming the first few such leaves and
    ``exclusive`` leaves them under none (tieredImageNet's rule: a class belongs to
    a category only when no other category claims it too). ``path``: only the
    leaf's chosen path counts (``paths``), and the nearest of them on it wins.
    ``positions`` are the leaves' class indices, for the error (default 0..N-1).
    """
    one_of(rule, ANCESTOR_RULES, "--ancestor-rule")
    leaves = np.asarray(leaves, dtype=np.int64)
    ancestors = np.asarray(ancestors, dtype=np.int64)
    if rule == "path":
        which = np.full(g.num_nodes, -1, dtype=np.int64)
        which[ancestors] = ancestors
        m = path_matrix(paths, leaves)
        hits = np.where(m >= 0, which[np.maximum(m, 0)], -1)
        deepest = hits.shape[1] - 1 - np.argmax(hits[:, ::-1] >= 0, axis=1)
        return np.where((hits >= 0).any(axis=1), hits[np.arange(leaves.size), deepest], -1), 0
    under = under_matrix(g, ancestors)
    hit = under[leaves]                           # leaves x ancestors
    nested = under[ancestors]                     # nested[i, j]: ancestors[i] is below ancestors[j]
    count = hit.sum(axis=1)
    keys = np.full(leaves.size, -1, dtype=np.int64)
    one = count == 1
    keys[one] = ancestors[np.argmax(hit[one], axis=1)]
    ambiguous = []
    for i in np.flatnonzero(count > 1).tolist():
        js = np.flatnonzero(hit[i])
        specific = js[nested[np.ix_(js, js)].all(axis=1)]  # the hit below every other hit
        if specific.size == 1:
            keys[i] = ancestors[specific[0]]
        else:
            ambiguous.append((i, _unrelated_pair(nested, js)))
    if ambiguous and rule == "unique":
        where = np.arange(leaves.size) if positions is None else np.asarray(positions)
        raise GranularityError(_ambiguous_message(g, leaves, ancestors, ambiguous, where))
    return keys, len(ambiguous)


def _unrelated_pair(nested: np.ndarray, js: np.ndarray) -> tuple[int, int]:
    for x in js.tolist():
        for y in js.tolist():
            if x < y and not nested[x, y] and not nested[y, x]:
                return x, y
    return int(js[0]), int(js[1])


def _ambiguous_message(g: Graph, leaves, ancestors, ambiguous: list, where) -> str:
    shown = []
    for i, (a, b) in ambiguous[:3]:
        shown.append(f"{str(g.ids[leaves[i]])!r} (class {int(where[i])}: {str(g.ids[ancestors[a]])!r} {g.names[ancestors[a]]} "
                     f"and {str(g.ids[ancestors[b]])!r} {g.names[ancestors[b]]})")
    more = f", ... ({len(ambiguous) - 3} more)" if len(ambiguous) > 3 else ""
    return (f"{len(ambiguous):,} classes fall under two of the given ancestors, neither below the other: "
            f"{', '.join(shown)}{more}; give only one of each pair, leave such classes out with "
            "--ancestor-rule exclusive, or follow one path per class with --ancestor-rule path")


def _by_depth(paths: Paths):
    """The nodes in runs of equal depth, root first (a chosen parent is one step shallower)."""
    order = np.argsort(paths.depth, kind="stable")
    bounds = np.searchsorted(paths.depth[order], np.arange(int(paths.depth.max(initial=0)) + 2))
    return [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def nearest_on_path(paths: Paths, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every node, the nearest node of its chosen path (itself included) where ``mask``
    holds (-1: none), and how many such nodes the path holds."""
    n = paths.parent.size
    mask = np.asarray(mask, dtype=bool)
    near = np.where(mask, np.arange(n), -1).astype(np.int64)
    count = mask.astype(np.int32)
    for nodes in _by_depth(paths)[1:]:
        p = paths.parent[nodes]
        near[nodes] = np.where(mask[nodes], nodes, near[p])
        count[nodes] = count[p] + mask[nodes]
    return near, count


def on_paths(paths: Paths, leaves: np.ndarray) -> np.ndarray:
    """``mask[i]``: node i lies on the chosen path of one of ``leaves`` (the leaves included)."""
    mark = np.zeros(paths.parent.size, dtype=bool)
    mark[np.asarray(leaves, dtype=np.int64)] = True
    for nodes in reversed(_by_depth(paths)[1:]):
        sel = nodes[mark[nodes]]
        mark[paths.parent[sel]] = True
    return mark


def path_matrix(paths: Paths, leaves: np.ndarray) -> np.ndarray:
    """``M[i, d]`` = the node at depth ``d`` on leaf i's chosen path (-1 below it)."""
    leaves = np.asarray(leaves, dtype=np.int64)
    depth = paths.depth[leaves]
    width = int(depth.max()) + 1 if leaves.size else 1
    m = np.full((leaves.size, width), -1, dtype=np.int32)
    rows = np.arange(leaves.size)
    cur = leaves.copy()
    alive = np.ones(leaves.size, dtype=bool)
    while alive.any():
        r = rows[alive]
        c = cur[alive]
        m[r, paths.depth[c]] = c
        nxt = paths.parent[c]
        cur[alive] = nxt
        alive[r] = nxt >= 0
    return m


def level_nodes(m: np.ndarray, leaf_depth: np.ndarray, k: int) -> np.ndarray:
    """Ancestor ``k`` hops above each leaf (the root once it is reached)."""
    col = np.maximum(leaf_depth.astype(np.int64) - k, 0)
    return m[np.arange(m.shape[0]), col]


def depth_nodes(m: np.ndarray, leaf_depth: np.ndarray, d: int) -> np.ndarray:
    """Ancestor at depth ``d`` below the root; leaves shallower than ``d`` keep themselves."""
    col = np.minimum(leaf_depth.astype(np.int64), d)
    return m[np.arange(m.shape[0]), col]


def _given(value) -> bool:
    return value is not None and not (isinstance(value, (list, tuple, range)) and len(value) == 0)


def check_cut_request(levels, depths, rule: str, ancestors: bool = False) -> None:
    """Check what :func:`cut_levels` is asked for before any input is read.

    ``levels``/``depths``: ``"0-9"``, ``"1,3,5"``, an int or a list of ints (exactly
    one of the two, or neither with ``ancestors``); ``rule``: one of :data:`RULES`.
    Messages name the parameter.
    """
    from .grammar import int_ranges

    if _given(levels) and _given(depths):
        raise GranularityError("give levels (hops up) or depths (cuts below the root), not both")
    if ancestors:
        if _given(levels) or _given(depths):
            raise GranularityError("give --ancestors or levels (--level, --levels, --depth), not both: "
                                   "--ancestors makes one level of its own")
        one_of(rule, RULES, "--multi-parent rule")
        return
    if not _given(levels) and not _given(depths):
        raise GranularityError("say which levels to build: --level K, --levels 0-9, --depth D or --ancestors IDS")
    if _given(levels):
        int_ranges(levels, "levels")
    else:
        int_ranges(depths, "depths")
    one_of(rule, RULES, "--multi-parent rule")


def _within(value, what: str, kind: str, deepest: int, notes: list[str]) -> list[int]:
    """The levels (or depths) asked for, with those beyond the deepest class handled.

    Above the deepest class every level repeats the last one (``level_<deepest>``
    has every class at its root, ``depth_<deepest>`` keeps every class apart). A
    range reaching past it is cut there, before it is expanded (``0-300000000``
    costs nothing), and a note says so; a number named alone is written, with a
    note; a request left with no level at all is an error naming the levels that exist.
    """
    from .grammar import expand_ranges, int_ranges, shown_ranges

    runs = int_ranges(value, what)
    shown = shown_ranges(value, runs)
    where = f"the deepest class is {deepest} hops below the root"
    kept, cut = [], []
    for lo, hi in runs:
        if lo < hi and hi > deepest:
            if lo <= deepest:
                kept.append((lo, deepest))
            start = max(lo, deepest + 1)
            cut.append(f"{start}-{hi}" if start < hi else str(hi))
        else:
            kept.append((lo, hi))
    if not kept:
        raise GranularityError(f"{what} {shown!r} is beyond every class: {where}, so {what} run 0-{deepest}")
    out = expand_ranges(kept, what, shown)
    if cut:
        notes.append(f"{what} {', '.join(cut)} not written: beyond every class ({where}), "
                     f"they would repeat {kind}_{deepest}")
    alone = [v for v in out if v > deepest]
    if alone:
        names = ", ".join(f"{kind}_{v}" for v in alone)
        notes.append(f"{names}: beyond every class ({where}), the same groups as {kind}_{deepest}")
    return out


@dataclass
class CutInfo:
    """What the summary reports about a cut: leaves that had more than one path."""

    leaves_with_choice: int
    max_depth: int
    notes: list[str] = field(default_factory=list)  # levels beyond the deepest class
    unplaced: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # leaf positions
    ambiguous: int = 0  # leaves under two unrelated ancestors (--ancestor-rule exclusive)




@dataclass(frozen=True)
class Shape:
    """How the tree is read off the graph before it is cut.

    ``rule`` picks each node's path (:data:`RULES`); ``class_tree`` skips every
    node that is not a leaf (:func:`class_paths`); ``root`` (a node index) ends
    every path there and leaves the classes not below it unplaced
    (:func:`below_root`); ``prune`` drops the tree's single-child nodes
    (:func:`pruned_paths`); ``ancestors`` (node indices) replaces the levels by
    one level, ``ancestors``: which of them each leaf falls under
    (:func:`ancestor_keys`, with ``ancestor_rule``). ``missing`` says what an
    unplaced leaf becomes: a group of its own (``own-group``), outside the levels
    (``drop``: label -1), or, with ``error``, the caller refuses it (``CutInfo.unplaced``).
    """

    rule: str = "longest"
    class_tree: bool = False
    root: int | None = None
    prune: bool = False
    ancestors: np.ndarray | None = None
    ancestor_rule: str = "unique"
    missing: str = "error"

    def check(self) -> None:
        one_of(self.rule, RULES, "--multi-parent rule")
        one_of(self.missing, MISSING_CLASSES, "--missing-classes")
        one_of(self.ancestor_rule, ANCESTOR_RULES, "--ancestor-rule")
        if self.prune and self.class_tree:
            raise GranularityError("give --prune or --class-tree, not both (the class tree keeps no node that "
                                   "is not a class, so nothing is left to prune)")


def shaped_paths(g: Graph, leaves: np.ndarray, shape: Shape) -> tuple[Graph, Paths, np.ndarray]:
    """``(graph, paths, placed)``: the graph cut at ``shape.root`` (if any), the chosen
    paths shaped by ``shape``, and which leaves they place (bool per leaf)."""
    leaves = np.asarray(leaves, dtype=np.int64)
    placed = np.ones(leaves.size, dtype=bool)
    if shape.root is not None:
        g, below = below_root(g, shape.root)
        placed = below[leaves]
    paths = choose_paths(g, shape.rule)
    if shape.class_tree:
        paths = class_paths(paths, leaves)
    if shape.prune:
        paths = pruned_paths(paths, leaves[placed])
    return g, paths, placed


def cut_levels(
    g: Graph,
    leaves: np.ndarray,
    levels: Sequence[int] | str = (),
    depths: Sequence[int] | str = (),
    rule: str = "longest",
    class_tree: bool = False,
    shape: Shape | None = None,
    placed: np.ndarray | None = None,
) -> tuple[list, CutInfo]:
    """Levels ``level_<k>`` (k hops up) and ``depth_<d>`` (cut d below the root), finest first.

    ``leaves`` are node indices in class-index order; ``levels``/``depths`` as in
    :func:`check_cut_request`. With ``class_tree`` the hops and depths count only
    the leaves themselves (:func:`class_paths`): a node that is not a class is
    skipped. ``shape`` (a :class:`Shape`, which then gives ``rule`` and
    ``class_tree`` too) may also set a root, prune single-child nodes or ask for
    the ``ancestors`` level instead of ``levels``/``depths``. Levels or depths
    beyond the deepest class: see :func:`_within` (``CutInfo.notes`` says what
    was cut or repeated). ``placed`` (bool per leaf) marks leaves the source has
    no place for (a class absent from an edge list): they are unplaced from the
    start. Returns the :class:`~hierarchy_cli.hierarchy.Level` list and a
    :class:`CutInfo` (``unplaced``: the positions of the unplaced leaves).
    """
    from .hierarchy import Level

    shape = shape or Shape(rule, class_tree)
    shape.check()
    check_cut_request(levels, depths, shape.rule, shape.ancestors is not None)
    leaves = np.asarray(leaves, dtype=np.int64)
    cut, paths, reached = shaped_paths(g, leaves, shape)
    placed = reached if placed is None else (reached & np.asarray(placed, dtype=bool))
    chosen = leaves[placed]
    leaf_depth = paths.depth[chosen]
    deepest = int(leaf_depth.max()) if chosen.size else 0
    notes: list[str] = []
    out = []
    if shape.ancestors is not None:
        keys, ambiguous = ancestor_keys(cut, chosen, shape.ancestors, shape.ancestor_rule, paths,
                                        np.flatnonzero(placed))
        placed[np.flatnonzero(placed)[keys < 0]] = False
        out.append(Level.from_keys("ancestors", _placed(keys[keys >= 0], placed, leaves, shape.missing),
                                   g.ids, g.names))
    else:
        ks = _within(levels, "levels", "level", deepest, notes) if _given(levels) else []
        ds = _within(depths, "depths", "depth", deepest, notes) if _given(depths) else []
        m = path_matrix(paths, chosen)
        for k in ks:
            keys = _placed(level_nodes(m, leaf_depth, k), placed, leaves, shape.missing)
            out.append(Level.from_keys(f"level_{k}", keys, g.ids, g.names))
        for d in reversed(ds):
            keys = _placed(depth_nodes(m, leaf_depth, d), placed, leaves, shape.missing)
            out.append(Level.from_keys(f"depth_{d}", keys, g.ids, g.names))
    info = CutInfo(int((paths.num_paths[chosen] > 1).sum()), deepest, notes, np.flatnonzero(~placed),
                   ambiguous if shape.ancestors is not None else 0)
    return out, info


def _placed(keys: np.ndarray, placed: np.ndarray, leaves: np.ndarray, missing: str) -> np.ndarray:
    """Keys of every leaf: ``keys`` for the placed ones, in order; an unplaced leaf is its
    own group (``own-group``) or outside (-1)."""
    if placed.all():
        return keys
    out = leaves.copy() if missing == "own-group" else np.full(leaves.size, -1, dtype=np.int64)
    out[placed] = keys
    return out
