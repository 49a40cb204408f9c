"""Parent-child DAGs and the paths chosen through them, shared by every manual source.

A :class:`Graph` stores each node's parents in the order the source lists them
(WordNet's pointer order, the edge list's row order) as CSR arrays. WordNet is a
DAG, so a leaf can have several paths to the root; :func:`choose_paths` picks one
per node with a rule (:func:`~hierarchy_cli.graphcut.cut_levels` reads levels off
the chosen paths):

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
from dataclasses import dataclass

import numpy as np

from .errors import GranularityError


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
    """Pick one path to a root per node with ``rule`` (one of :data:`~hierarchy_cli.options.RULES`,
    checked by the builders; see the module doc)."""
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
    for nodes in _by_depth(paths)[1:]:
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
    below = under_matrix(g, np.array([root]), layers)[:, 0]
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
    on_tree = np.flatnonzero(on_paths(paths, leaves))
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


