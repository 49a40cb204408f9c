"""Levels by rank name for an edge list that carries ranks (``--edges nodes.dmp --level family``).

Each class's label at rank R is the nearest node of its path (the one
``--multi-parent`` chooses; NCBI is a tree), itself included, whose rank is R.
A class with no such node:

* keeps itself when its own rank is coarser than R (a genus among species classes,
  cut at species): it lies above the cut, as a shallow leaf does for ``--depth``;
* else follows ``--missing``, as for ``--source taxonomy``: ``fill`` joins the group
  ``unclassified <K> <R>``, K being the nearest node of its path (itself included)
  whose rank is a standard rank coarser than R; ``parent`` joins K's own group;
  ``error`` stops naming the classes. Without such a K: ``unclassified <R>``.

Classes kept as groups of their own (``--missing-classes own-group``) keep
themselves at every rank. The levels are written finest first by the standard
rank order; whether each one nests in the next is checked and reported, not
promised (a file that puts a genus above a family breaks it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import GranularityError, offenders
from .ranks import RANK_ORDER, check_missing, fill_name, rank_key, rank_position, rank_tokens, resolve_rank_levels

_NUMBER = re.compile(r"-?\d+(?:-\d+)?")


def rank_request(levels):
    """The :class:`~hierarchy_cli.graphcut.LevelRequest` of rank names in ``levels``
    (``"family,order"``, ``["family"]``, ``"all"``), or ``None`` when they are numbers (hops
    up: the usual cut). A mix of both is an error."""
    from ..graphcut import LevelRequest

    if levels is None or isinstance(levels, (int, np.integer)) or isinstance(levels, range):
        return None
    if not isinstance(levels, str):
        levels = list(levels)
        if not levels or not all(isinstance(v, str) for v in levels):
            return None
    tokens = [t for t in rank_tokens(levels) if t]
    names = [t for t in tokens if not _NUMBER.fullmatch(t)]
    if not names:
        return None
    shown = levels if isinstance(levels, str) else ",".join(levels)
    if len(names) != len(tokens):
        raise GranularityError(f"levels {shown!r} mix rank names and numbers: give rank names (--levels family,order) "
                               "or hops up (--levels 0-3), not both")
    unknown = [t for t in names if t.lower() != "all" and rank_position(t) is None]
    if unknown:
        raise GranularityError(f"levels {shown!r}: {unknown[0]!r} is not a whole number, a range like 0-9, or a "
                               "standard rank name like family (docs/sources.md lists them)")
    return LevelRequest("rank", ranks=tuple(tokens), shown=shown)


@dataclass
class RankCutInfo:
    """What the summary and the metadata report about a cut by rank."""

    missing_ranks: dict = field(default_factory=dict)  # rank -> classes without it (filled, kept, or refused)
    leaves_with_missing_rank: int = 0
    above_rank: dict = field(default_factory=dict)  # rank -> classes coarser than it, kept as themselves
    repeated_ranks: dict = field(default_factory=dict)  # rank -> classes whose path holds two nodes of it
    ranks_not_ordered: dict = field(default_factory=dict)  # rank names on the paths outside the standard order
    not_nested: list = field(default_factory=list)
    leaves_with_choice: int = 0


def _positions(codes: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Each node's place in the standard rank order (-1: no rank, or one outside the order)."""
    table = np.array([-1 if (p := rank_position(r)) is None else p for r in names] + [-1], dtype=np.int64)
    return table[np.where(codes >= 0, codes, len(names))]


def _not_ordered(codes: np.ndarray, names: Sequence[str], pos: np.ndarray, on_path: np.ndarray) -> dict[str, int]:
    """How many nodes on the paths have each rank that is outside the standard order."""
    sel = codes[on_path & (pos < 0) & (codes >= 0)]
    counts = np.bincount(sel, minlength=len(names))
    return {names[k]: int(counts[k]) for k in sorted(np.flatnonzero(counts).tolist(), key=lambda k: names[k])}


def cut_ranks(g, leaves: np.ndarray, rank_codes: np.ndarray, rank_names: Sequence[str], requested: Sequence[str],
              rule: str = "longest", missing: str = "fill", own: np.ndarray | None = None,
              source: str = "edge list"):
    """Levels named by rank (finest first) for ``leaves`` of the :class:`~hierarchy_cli.graph.Graph`
    ``g``, whose node ``i`` has rank ``rank_names[rank_codes[i]]`` (-1 or beyond the array: none;
    see the module doc). ``requested`` are the rank names asked for (``all`` among them: every
    one; :func:`rank_request`'s). ``own`` marks the leaves that keep themselves at every rank.
    Returns the levels and a :class:`RankCutInfo`."""
    from ..graph import choose_paths, nearest_on_path, on_paths
    from ..hierarchy import Level, is_refinement

    check_missing(missing)
    leaves = np.asarray(leaves, dtype=np.int64)
    own = np.zeros(leaves.size, dtype=bool) if own is None else np.asarray(own, dtype=bool)
    paths = choose_paths(g, rule)
    codes = np.full(g.num_nodes, -1, dtype=np.int64)
    codes[:len(rank_codes)] = rank_codes[:g.num_nodes]
    pos = _positions(codes, rank_names)
    on_path = on_paths(paths, leaves)
    present = sorted(set(pos[on_path & (pos >= 0)].tolist()), reverse=True)  # finest first
    available = [rank_key(RANK_ORDER[p]) for p in present]
    info = RankCutInfo(leaves_with_choice=int((paths.num_paths[leaves] > 1).sum()))
    info.ranks_not_ordered = _not_ordered(codes, rank_names, pos, on_path)
    hints = {rank_key(r): " (not a standard rank, so it has no place in the order of levels)"
             for r in info.ranks_not_ordered}
    if not available:
        raise GranularityError(f"{source} has no standard rank on its classes' paths (ranks found: "
                               f"{', '.join(info.ranks_not_ordered) or 'none'}), so it cannot be cut by rank name")
    wanted = resolve_rank_levels(requested, available, source, hints=hints)
    n = g.num_nodes
    affected = np.zeros(leaves.size, dtype=bool)
    levels, refused = [], []
    for name in wanted:
        p = present[available.index(name)]
        rank = RANK_ORDER[p]
        coarser = (pos >= 0) & (pos < p)
        near, count = nearest_on_path(paths, pos == p)
        known, _ = nearest_on_path(paths, coarser)
        keys = near[leaves].copy()
        none = keys < 0
        keep = none & (coarser[leaves] | own)
        keys[keep] = leaves[keep]
        miss = none & ~keep
        k = known[leaves]
        if missing == "error":
            refused += [(g.ids[i], f"{g.names[i]}: no {rank}") for i in leaves[miss].tolist()]
        elif missing == "parent":
            keys[miss] = np.where(k[miss] >= 0, k[miss], 2 * n)
        else:
            keys[miss] = np.where(k[miss] >= 0, n + k[miss], 2 * n)
        if miss.any():
            info.missing_ranks[name] = int(miss.sum())
        if (keep & ~own).any():
            info.above_rank[name] = int((keep & ~own).sum())
        if (count[leaves] > 1).any():
            info.repeated_ranks[name] = int((count[leaves] > 1).sum())
        affected |= miss
        levels.append(Level.from_keys(name, keys, _namer(g.ids, rank, n), _namer(g.names, rank, n)))
    if refused:
        raise GranularityError(offenders(refused, "missing ranks", source) + " (see --missing)")
    info.leaves_with_missing_rank = int(affected.sum())
    info.not_nested = [[a.name, b.name] for a, b in zip(levels, levels[1:]) if not is_refinement(a.labels, b.labels)]
    return levels, info


def _namer(values: Sequence[str], rank: str, n: int):
    """Key -> text: a node (``< n``), a fill group under node ``key - n``, or the one group without an ancestor."""
    def text(key: int) -> str:
        if key < n:
            return values[key]
        return fill_name(values[key - n] if key < 2 * n else None, rank)
    return text
