"""What the graph sources (WordNet, edge lists) share between reading a graph and cutting it.

A user may end every path at a root (``--root``), prune single-child nodes
(``--prune``), ask for the ancestor each class falls under among given nodes
(``--ancestors``), say what a class the cut cannot place becomes
(``--missing-classes``) and number the labels in a given order (``--label-order``).
:func:`check_shape` checks those options before any input is read, :func:`make_shape`
turns them into a :class:`~hierarchy_cli.graphcut.Shape`
(and the metadata that records them), :func:`refuse_unplaced` names the classes
left without a place under ``--missing-classes error``, and :func:`numbered` applies
the label order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import GranularityError, offenders
from ..options import ANCESTOR_RULES, MISSING_CLASSES, RULES, one_of

# ids -> node indices (an error naming the unknown ones), for the option named
NodeOf = Callable[[Sequence[str], str], np.ndarray]


def check_shape(rule: str = "longest", class_tree: bool = False, prune: bool = False, ancestors: bool = False,
                ancestor_rule: str = "unique", missing: str = "error") -> None:
    """Check the options that shape the tree before any input is read (``ancestors``: were
    ancestors given); messages name the command-line option."""
    one_of(rule, RULES, "--multi-parent rule")
    one_of(missing, MISSING_CLASSES, "--missing-classes")
    one_of(ancestor_rule, ANCESTOR_RULES, "--ancestor-rule")
    if prune and class_tree:
        raise GranularityError("give --prune or --class-tree, not both (the class tree keeps no node that "
                               "is not a class, so nothing is left to prune)")
    if ancestor_rule != "unique" and not ancestors:
        raise GranularityError("--ancestor-rule applies with --ancestors")
    if prune and ancestors:
        raise GranularityError("give --prune or --ancestors, not both (pruning shapes what --level and --depth "
                               "count; it would only drop single-child ancestors from the paths)")


def make_shape(node_of: NodeOf, rule: str = "longest", class_tree: bool = False, root: str | None = None,
               prune: bool = False, ancestors=None, ancestor_rule: str = "unique",
               missing: str = "error") -> tuple[Any, dict[str, Any]]:
    """``(Shape, metadata)`` for the options (checked by :func:`check_shape`); ids are
    resolved with ``node_of``."""
    from ..graphcut import Shape
    from ..manifests import id_list

    meta: dict[str, Any] = {}
    root_node = None
    if root is not None:
        root_node = int(node_of([str(root)], "--root")[0])
        meta["root"] = str(root)
    if prune:
        meta["prune"] = True
    ancestor_nodes = None
    if ancestors is not None:
        idl = id_list(ancestors, "ancestor list")
        ancestor_nodes = node_of(idl.ids, f"ancestor list {idl.source.name!r}")
        meta["ancestors"] = {**idl.source.describe(), "count": len(idl.ids)}
        meta["ancestor_rule"] = ancestor_rule
    return Shape(rule, class_tree, root_node, prune, ancestor_nodes, ancestor_rule, missing), meta


def refuse_unplaced(info, ids: Sequence[str], where_of: Callable[[int], str], source: str, shape) -> None:
    """Under ``--missing-classes error``, the classes the cut could not place are an error."""
    if shape.missing != "error" or info.unplaced.size == 0:
        return
    if shape.ancestors is not None:
        why = "classes under none of the given ancestors" + \
            (" (or under two unrelated ones)" if info.ambiguous else "")
    elif shape.root is not None:
        why = "classes not below --root"
    else:
        why = "classes the hierarchy cannot place"
    items = [(ids[i], where_of(int(i))) for i in info.unplaced.tolist()]
    raise GranularityError(offenders(items, why, source) +
                           " (keep each as its own group with --missing-classes own-group, or leave them "
                           "outside the label space with --missing-classes drop)")


def numbered(levels: list, label_order, meta: dict[str, Any]) -> list:
    """The levels renumbered by ``label_order`` (ids, a class-list path, or ``from-ids``)."""
    if label_order is None:
        return levels
    from ..hierarchy import LABEL_ORDER_FROM_IDS, order_labels
    from ..manifests import id_list

    if isinstance(label_order, str) and label_order == LABEL_ORDER_FROM_IDS and not os.path.exists(label_order):
        meta["label_order"] = LABEL_ORDER_FROM_IDS
        return order_labels(levels, LABEL_ORDER_FROM_IDS, LABEL_ORDER_FROM_IDS)
    idl = id_list(label_order, "label order")
    meta["label_order"] = idl.source.describe()
    return order_labels(levels, idl.ids, repr(idl.source.name))


def unplaced_meta(info, shape) -> dict[str, Any]:
    """Metadata on the classes the cut left without a place (none: nothing)."""
    out: dict[str, Any] = {}
    if shape.ancestor_rule == "exclusive":
        out["classes_ambiguous"] = int(info.ambiguous)  # under two unrelated ancestors: no place
    if shape.missing != "error" or info.unplaced.size:
        out.update(missing_classes=shape.missing, classes_unplaced=int(info.unplaced.size))
    return out


def shape_notes(meta: dict[str, Any], num_leaves: int, rule: str, class_tree: bool) -> list[str]:
    """What the summary says about the path rule, ``--root``, ``--prune``, ``--ancestors``,
    the classes they leave out and ``--label-order``."""
    return [*_path_note(meta, num_leaves, rule, class_tree), *_shaping_notes(meta, num_leaves)]


def _path_note(meta: dict[str, Any], num_leaves: int, rule: str, class_tree: bool) -> list[str]:
    """The path rule followed (nothing when no path was: ``--ancestors`` with any-path rules)."""
    if meta.get("ancestors") and meta.get("ancestor_rule") != "path":
        return []
    note = (f"{meta['leaves_with_choice']:,} of {num_leaves:,} leaves have more than one path to the "
            f"root; followed the {rule} one")
    if rule not in ("first", "last"):
        note += " (ties: first-listed parent)"
    if class_tree:
        note += "; levels count classes only (--class-tree)"
    return [note]


def _shaping_notes(meta: dict[str, Any], num_leaves: int) -> list[str]:
    """``--root``, ``--prune``, the classes they (or ``--ancestors``) leave out, ``--label-order``."""
    notes = []
    if meta.get("root"):
        notes.append(f"paths end at --root {meta['root']}")
    if meta.get("prune"):
        notes.append("single-child nodes pruned (--prune): levels count branching nodes")
    unplaced = meta.get("classes_unplaced")
    if unplaced:
        how = {"own-group": "each is a group of its own", "drop": "outside the label space (null labels)"}
        where = "under none of --ancestors" if meta.get("ancestors") else "not below --root"
        if meta.get("classes_ambiguous"):
            where += f" ({meta['classes_ambiguous']:,} of them under two unrelated ones, --ancestor-rule exclusive)"
        notes.append(f"{unplaced:,} of {num_leaves:,} classes {where}: {how[meta['missing_classes']]} "
                     f"(--missing-classes {meta['missing_classes']})")
    if meta.get("label_order"):
        notes.append("labels numbered by --label-order")
    return notes
