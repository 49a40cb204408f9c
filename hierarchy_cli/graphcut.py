"""Levels cut off a graph's chosen paths: the request, the tree's shape, the cut.

Every graph source (WordNet, edge lists, a taxonomy's ``--ancestors``) cuts
through this one module:

* :class:`LevelRequest` is what the user asked for, parsed once by the builders'
  public functions: levels (hops up the chosen path), depths (cuts below the
  root), rank names (an edge list with ranks, cut by
  :mod:`~hierarchy_cli.sources.rankcut`) or the one ``ancestors`` level;
* :class:`Shape` says how the tree is read off the graph before it is cut
  (the path rule, the class tree, a root, pruning, the ancestors);
* :func:`cut_levels` cuts: ``level_<k>`` is each leaf's ancestor k hops up its
  chosen path, ``depth_<d>`` its ancestor d steps below the root, and
  ``ancestors`` the one of the given nodes it falls under (:func:`ancestor_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import GranularityError
from .graph import Graph, Paths, below_root, choose_paths, class_paths, path_matrix, pruned_paths, under_matrix


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


@dataclass(frozen=True)
class LevelRequest:
    """The levels a builder is asked for, parsed once from the user's value.

    ``kind`` is ``level`` (hops up), ``depth`` (cuts below the root), ``rank``
    (rank names, :func:`~hierarchy_cli.sources.rankcut.rank_request`) or
    ``ancestors`` (one level: which of the given nodes each class falls under).
    ``runs`` are the ``(lo, hi)`` runs of levels or depths, not yet expanded
    (:meth:`within` bounds them by the deepest class first); ``ranks`` the rank
    names as given; ``shown`` the request as the user wrote it, for messages.
    """

    kind: str
    runs: tuple[tuple[int, int], ...] = ()
    ranks: tuple[str, ...] = ()
    shown: str = ""

    @classmethod
    def parse(cls, levels=None, depths=None, ancestors: bool = False) -> LevelRequest:
        """The request of ``levels`` or ``depths`` (``"0-9"``, ``"1,3,5"``, an int or a
        list of ints: exactly one of the two, or neither with ``ancestors``), checked
        before any input is read. Messages name the parameter."""
        from .grammar import int_ranges, shown_ranges

        if _given(levels) and _given(depths):
            raise GranularityError("give levels (hops up) or depths (cuts below the root), not both")
        if ancestors:
            if _given(levels) or _given(depths):
                raise GranularityError("give --ancestors or levels (--level, --levels, --depth), not both: "
                                       "--ancestors makes one level of its own")
            return cls("ancestors")
        if not _given(levels) and not _given(depths):
            raise GranularityError("say which levels to build: --level K, --levels 0-9, --depth D or --ancestors IDS")
        kind, value = ("level", levels) if _given(levels) else ("depth", depths)
        runs = int_ranges(value, f"{kind}s")
        return cls(kind, tuple(runs), shown=shown_ranges(value, runs))

    def within(self, deepest: int, notes: list[str]) -> list[int]:
        """The levels (or depths) asked for, with those beyond the deepest class handled.

        Above the deepest class every level repeats the last one (``level_<deepest>``
        has every class at its root, ``depth_<deepest>`` keeps every class apart). A
        range reaching past it is cut there, before it is expanded (``0-300000000``
        costs nothing), and a note says so; a number named alone is written, with a
        note; a request left with no level at all is an error naming the levels that exist.
        """
        from .grammar import expand_ranges

        what, where = f"{self.kind}s", f"the deepest class is {deepest} hops below the root"
        kept, cut = [], []
        for lo, hi in self.runs:
            if lo < hi and hi > deepest:
                if lo <= deepest:
                    kept.append((lo, deepest))
                start = max(lo, deepest + 1)
                cut.append(f"{start}-{hi}" if start < hi else str(hi))
            else:
                kept.append((lo, hi))
        if not kept:
            raise GranularityError(f"{what} {self.shown!r} is beyond every class: {where}, so {what} run 0-{deepest}")
        out = expand_ranges(kept, what, self.shown)
        if cut:
            notes.append(f"{what} {', '.join(cut)} not written: beyond every class ({where}), "
                         f"they would repeat {self.kind}_{deepest}")
        alone = [v for v in out if v > deepest]
        if alone:
            names = ", ".join(f"{self.kind}_{v}" for v in alone)
            notes.append(f"{names}: beyond every class ({where}), the same groups as {self.kind}_{deepest}")
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

    ``rule`` picks each node's path (:data:`~hierarchy_cli.options.RULES`);
    ``class_tree`` skips every node that is not a leaf (:func:`~hierarchy_cli.graph.class_paths`);
    ``root`` (a node index) ends every path there and leaves the classes not below
    it unplaced (:func:`~hierarchy_cli.graph.below_root`); ``prune`` drops the
    tree's single-child nodes (:func:`~hierarchy_cli.graph.pruned_paths`);
    ``ancestors`` (node indices) replaces the levels by one level, ``ancestors``:
    which of them each leaf falls under (:func:`ancestor_keys`, with
    ``ancestor_rule``). ``missing`` says what an unplaced leaf becomes: a group of
    its own (``own-group``), outside the levels (``drop``: label -1), or, with
    ``error``, the caller refuses it (``CutInfo.unplaced``). The builders check the
    options (:func:`~hierarchy_cli.sources.cuts.check_shape`) before they read any input.
    """

    rule: str = "longest"
    class_tree: bool = False
    root: int | None = None
    prune: bool = False
    ancestors: np.ndarray | None = None
    ancestor_rule: str = "unique"
    missing: str = "error"


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


def cut_levels(g: Graph, leaves: np.ndarray, request: LevelRequest, shape: Shape = Shape(),
               placed: np.ndarray | None = None) -> tuple[list, CutInfo]:
    """Levels ``level_<k>`` (k hops up) and ``depth_<d>`` (cut d below the root), finest
    first, or the one ``ancestors`` level.

    ``leaves`` are node indices in class-index order; ``request`` a
    :class:`LevelRequest` (levels, depths, or ``ancestors`` with ``shape.ancestors``).
    With ``shape.class_tree`` the hops and depths count only the leaves themselves
    (:func:`~hierarchy_cli.graph.class_paths`): a node that is not a class is
    skipped. Levels or depths beyond the deepest class: see :meth:`LevelRequest.within`
    (``CutInfo.notes`` says what was cut or repeated). ``placed`` (bool per leaf)
    marks leaves the source has no place for (a class absent from an edge list):
    they are unplaced from the start. Returns the
    :class:`~hierarchy_cli.hierarchy.Level` list and a :class:`CutInfo`
    (``unplaced``: the positions of the unplaced leaves).
    """
    leaves = np.asarray(leaves, dtype=np.int64)
    cut, paths, reached = shaped_paths(g, leaves, shape)
    placed = reached if placed is None else (reached & np.asarray(placed, dtype=bool))
    chosen = leaves[placed]
    leaf_depth = paths.depth[chosen]
    deepest = int(leaf_depth.max()) if chosen.size else 0
    info = CutInfo(int((paths.num_paths[chosen] > 1).sum()), deepest)
    if shape.ancestors is not None:
        out = [_ancestors_level(g, cut, paths, leaves, placed, shape, info)]
    else:
        out = _cut_runs(g, paths, leaves, placed, request.kind, request.within(deepest, info.notes), shape.missing)
    info.unplaced = np.flatnonzero(~placed)
    return out, info


def _ancestors_level(g: Graph, cut: Graph, paths: Paths, leaves: np.ndarray, placed: np.ndarray, shape: Shape,
                     info: CutInfo):
    """The ``ancestors`` level; a leaf under none of them (or under two, ``exclusive``) is unplaced
    (``placed`` is updated, ``info.ambiguous`` counts the second kind)."""
    from .hierarchy import Level

    keys, info.ambiguous = ancestor_keys(cut, leaves[placed], shape.ancestors, shape.ancestor_rule, paths,
                                         np.flatnonzero(placed))
    placed[np.flatnonzero(placed)[keys < 0]] = False
    return Level.from_keys("ancestors", _placed(keys[keys >= 0], placed, leaves, shape.missing), g.ids, g.names)


def _cut_runs(g: Graph, paths: Paths, leaves: np.ndarray, placed: np.ndarray, kind: str, numbers: list[int],
              missing: str) -> list:
    """``level_<k>`` for every k of ``numbers`` (``kind`` ``level``), or ``depth_<d>``, deepest first."""
    from .hierarchy import Level

    chosen = leaves[placed]
    leaf_depth = paths.depth[chosen]
    m = path_matrix(paths, chosen)
    pick, order = (level_nodes, numbers) if kind == "level" else (depth_nodes, numbers[::-1])
    return [Level.from_keys(f"{kind}_{k}", _placed(pick(m, leaf_depth, k), placed, leaves, missing), g.ids, g.names)
            for k in order]


def _placed(keys: np.ndarray, placed: np.ndarray, leaves: np.ndarray, missing: str) -> np.ndarray:
    """Keys of every leaf: ``keys`` for the placed ones, in order; an unplaced leaf is its
    own group (``own-group``) or outside (-1)."""
    if placed.all():
        return keys
    out = leaves.copy() if missing == "own-group" else np.full(leaves.size, -1, dtype=np.int64)
    out[placed] = keys
    return out
