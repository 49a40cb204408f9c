"""Looking inside a hierarchy: level summaries, one leaf's lineage, a truncated tree.

Everything takes a :class:`~hierarchy_cli.hierarchy.Hierarchy` (``read_label_map(p)
.to_hierarchy()`` gives one) and returns plain Python data, which
``granularity inspect`` prints as a table, TSV, a rich tree or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import GranularityError
from .hierarchy import Hierarchy, is_refinement


def summarize(h: Hierarchy) -> dict[str, Any]:
    """Leaves, nesting and, per level (finest first), classes and group sizes.

    Each level entry has ``name``, ``classes``, ``min``, ``median``, ``max``
    (group sizes in leaves), ``singletons`` (groups of one leaf) and
    ``nests_in_next`` (its groups lie inside the next coarser level's; ``None``
    for the coarsest); ``outside`` counts the leaves outside the level's label
    space (null labels), when there are any.
    """
    levels = []
    for j, lv in enumerate(h.levels):
        sizes = lv.group_sizes()
        nxt = h.levels[j + 1] if j + 1 < len(h.levels) else None
        med = float(np.median(sizes)) if sizes.size else 0.0
        levels.append({
            "name": lv.name,
            "classes": int(lv.num_classes),
            "min": int(sizes.min()) if sizes.size else 0,
            "median": int(med) if med.is_integer() else med,
            "max": int(sizes.max()) if sizes.size else 0,
            "singletons": int((sizes == 1).sum()),
            "nests_in_next": None if nxt is None else bool(is_refinement(lv.labels, nxt.labels)),
            **({"outside": lv.num_outside} if lv.num_outside else {}),
        })
    return {
        "num_leaves": int(h.num_leaves),
        "nested": bool(h.is_nested()),
        "levels": levels,
        "metadata": dict(h.metadata),
    }


def find_leaf(h: Hierarchy, leaf: str | int) -> int:
    """Leaf index of ``leaf``: a leaf id, else a leaf index (``"17"`` or 17)."""
    if not isinstance(leaf, (int, np.integer)):
        text = str(leaf).strip()
        ids = list(h.leaf_ids)
        try:
            return ids.index(text)
        except ValueError:
            pass
        if not text.isdigit():
            raise GranularityError(f"--lineage {text!r}: no leaf with that id (and it is not a leaf index)")
        leaf = int(text)
    if not 0 <= int(leaf) < h.num_leaves:
        raise GranularityError(
            f"--lineage {leaf}: no leaf with that id, and leaf indexes run 0..{h.num_leaves - 1}"
        )
    return int(leaf)


def lineage(h: Hierarchy, leaf: str | int) -> dict[str, Any]:
    """One leaf's label at every level, like TaxonKit's ``lineage``.

    Returns ``leaf_index``, ``leaf_id``, ``leaf_name``, ``levels`` (finest first:
    ``level``, ``label``, ``id``, ``name``, ``size``) and ``names`` / ``ids``:
    the lineage from the coarsest level down to the leaf itself (the leaf is
    left out when the finest level's group already is it). At a level that leaves
    the leaf outside its label space, ``label``, ``id`` and ``name`` are ``None``
    (and ``size`` 0), and the lineage skips that level.
    """
    i = find_leaf(h, leaf)
    rows = []
    for lv in h.levels:
        lab = int(lv.labels[i])
        if lab < 0:
            rows.append({"level": lv.name, "label": None, "id": None, "name": None, "size": 0})
            continue
        rows.append({"level": lv.name, "label": lab, "id": lv.ids[lab], "name": lv.names[lab],
                     "size": int((lv.labels == lab).sum())})
    names = [r["name"] for r in reversed(rows) if r["label"] is not None]
    ids = [r["id"] for r in reversed(rows) if r["label"] is not None]
    leaf_id, leaf_name = str(h.leaf_ids[i]), str(h.leaf_names[i])
    if not ids or ids[-1] != leaf_id:
        names.append(leaf_name)
        ids.append(leaf_id)
    return {"leaf_index": i, "leaf_id": leaf_id, "leaf_name": leaf_name, "levels": rows,
            "names": names, "ids": ids}


@dataclass
class Node:
    """A tree node: a group at some level (or a leaf), with its shown children."""

    level: str | None  # None for a leaf
    id: str
    name: str
    size: int
    children: list[Node] = field(default_factory=list)
    hidden_children: int = 0  # children left out by max_children
    hidden_leaves: int = 0  # leaves below those hidden children
    collapsed: int = 0  # children not expanded because of max_depth
    collapsed_what: str = ""  # what those children are: "leaves" or "<level> groups"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"level": self.level, "id": self.id, "name": self.name, "size": self.size}
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        if self.hidden_children:
            out["more"] = {"children": self.hidden_children, "leaves": self.hidden_leaves}
        if self.collapsed:
            out["collapsed"] = {"children": self.collapsed, "what": self.collapsed_what}
        return out


def tree(
    h: Hierarchy,
    levels: list[str] | None = None,
    max_children: int = 10,
    max_depth: int = 2,
    root: str | None = None,
) -> Node:
    """The nested levels as a tree, largest groups first, truncated for display.

    ``levels`` picks the levels (default all; they must be nested); below the
    finest one come the leaves, unless every group of it is a single leaf. Each
    node shows at most ``max_children`` children ("N more" counts the rest) and
    the tree stops ``max_depth`` layers below the root. ``root`` starts the tree
    at the group with that id (searched from the coarsest level down) or at a leaf.
    """
    if max_children < 1:
        raise GranularityError(f"--max-children {max_children}: give at least 1")
    if max_depth < 1:
        raise GranularityError(f"--max-depth {max_depth}: give at least 1")
    shape = _TreeShape(h, _nested_levels(h, levels), max_children, max_depth)
    return shape.top() if root is None else shape.at(root)


def _nested_levels(h: Hierarchy, levels: list[str] | None) -> list:
    """The chosen levels (default all) in the hierarchy's order, finest first; they must nest."""
    chosen = [h.level(n) for n in levels] if levels else list(h.levels)
    if levels:
        order = {lv.name: j for j, lv in enumerate(h.levels)}
        chosen.sort(key=lambda lv: order[lv.name])
    for fine, coarse in zip(chosen, chosen[1:]):
        if not is_refinement(fine.labels, coarse.labels):
            raise GranularityError(
                f"--tree needs nested levels, but {fine.name!r} does not nest in {coarse.name!r}; "
                "pick nested ones with --level"
            )
    return chosen


class _TreeShape:
    """The nodes of the tree of nested levels ``chosen`` (finest first), truncated.

    A node is ``(j, label)``: group ``label`` of level ``chosen[j]``, or leaf ``label``
    when ``j`` is -1. The leaves are a layer of their own unless every group of the
    finest level is a single leaf.
    """

    def __init__(self, h: Hierarchy, chosen: list, max_children: int, max_depth: int):
        self.h, self.chosen = h, chosen
        self.max_children, self.max_depth = max_children, max_depth
        self.sizes = [lv.group_sizes() for lv in chosen]
        self.leaves_layer = not (chosen and int(self.sizes[0].max(initial=0)) <= 1)

    def size(self, j: int, label: int) -> int:
        return 1 if j == -1 else int(self.sizes[j][label])

    def children_of(self, j: int, label: int) -> list[tuple[int, int]]:
        """(layer index of child, child label) pairs below group ``label`` of level ``j``."""
        members = np.flatnonzero(self.chosen[j].labels == label)
        if j > 0:
            return [(j - 1, int(x)) for x in np.unique(self.chosen[j - 1].labels[members])]
        if self.leaves_layer:
            return [(-1, int(x)) for x in members]
        return []

    def node(self, j: int, label: int, depth: int) -> Node:
        """Node ``(j, label)``, ``depth`` layers below the root, with its shown children."""
        if j == -1:
            return Node(None, str(self.h.leaf_ids[label]), str(self.h.leaf_names[label]), 1)
        lv = self.chosen[j]
        node = Node(lv.name, lv.ids[label], lv.names[label], self.size(j, label))
        kids = self.children_of(j, label)
        if depth >= self.max_depth:
            node.collapsed = len(kids)
            single = j == 0 or (j == 1 and not self.leaves_layer)
            node.collapsed_what = "leaves" if single else f"{self.chosen[j - 1].name} groups"
            return node
        self.expand(node, kids, depth)
        return node

    def expand(self, node: Node, kids: list[tuple[int, int]], depth: int) -> None:
        """Give ``node`` its largest ``max_children`` children (ties by label); count the rest."""
        kids = sorted(kids, key=lambda c: (-self.size(*c), c[1]))
        for j, label in kids[:self.max_children]:
            node.children.append(self.node(j, label, depth + 1))
        rest = kids[self.max_children:]
        node.hidden_children = len(rest)
        node.hidden_leaves = sum(self.size(*c) for c in rest)

    def at(self, root: str) -> Node:
        """The tree below the group (searched from the coarsest level down) or leaf with id ``root``."""
        for j in reversed(range(len(self.chosen))):
            if root in self.chosen[j].ids:
                return self.node(j, self.chosen[j].ids.index(root), 0)
        ids = list(self.h.leaf_ids)
        if root in ids:
            return self.node(-1, ids.index(root), 0)
        raise GranularityError(f"--root {root!r}: no group or leaf with that id in the chosen levels")

    def top(self) -> Node:
        """The whole tree below a root node that counts the leaves (those outside too)."""
        n = self.h.num_leaves
        outside = int((self.chosen[-1].labels < 0).sum()) if self.chosen else 0
        top = Node(None, "", f"{n - outside:,} leaves" + (f" ({outside:,} outside)" if outside else ""),
                   n - outside)
        if not self.chosen:
            return top
        j = len(self.chosen) - 1
        self.expand(top, [(j, x) for x in range(self.chosen[j].num_classes)], 0)
        top.level = "root"
        return top
