"""Comparing two partitions of the same leaves: agreement and alignment.

The paper's condition is that pretraining labels must *align* with the target's:
finer pretraining classes help only when each of them falls inside one target
class. :func:`compare_labels` measures that for a pretraining level ``a`` and a
target level ``b`` (two int label arrays over the same leaves):

* ``nmi`` and ``ari`` -- scikit-learn's ``normalized_mutual_info_score``
  (arithmetic normalisation) and ``adjusted_rand_score``; symmetric.
* ``pure_classes`` -- the share of pretraining classes whose leaves all fall in
  one target class; ``pure_leaves`` -- the share of leaves that sit in such a
  class (the same share weighted by class size).
* ``h_target_given_pre`` -- the conditional entropy H(target | pretraining) in
  bits, each leaf counting once: 0 exactly when ``a`` refines ``b``; at most
  ``h_target`` (the target's own entropy), reached when the levels are
  independent.
* ``a_refines_b`` / ``b_refines_a`` -- whether one level nests in the other.

Leaves are weighted equally (one leaf = one class of the dataset).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import GranularityError


def first_leaf_difference(a: Sequence[str], b: Sequence[str], a_name: str, b_name: str) -> str | None:
    """A one-line description of the first place two leaf lists differ, or ``None``."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"leaf {i} is {x!r} in {a_name} but {y!r} in {b_name}"
    if len(a) != len(b):
        longer, name = (a, a_name) if len(a) > len(b) else (b, b_name)
        i = min(len(a), len(b))
        return (f"{a_name} has {len(a):,} leaves and {b_name} {len(b):,}; "
                f"the first extra one is {longer[i]!r} (leaf {i} of {name})")
    return None


def _entropy_bits(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def alignment(pre: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """How well the pretraining partition ``pre`` aligns with ``target``.

    Returns ``pure_classes``, ``pure_leaves``, ``h_target_given_pre`` (bits),
    ``h_target`` (bits) and ``pre_refines_target``.
    """
    from .hierarchy import first_appearance_labels

    pre = np.asarray(pre)
    target = np.asarray(target)
    n = pre.size
    if n == 0:
        return {"pure_classes": 1.0, "pure_leaves": 1.0, "h_target_given_pre": 0.0,
                "h_target": 0.0, "pre_refines_target": True}
    a, _ = first_appearance_labels(pre)
    b, _ = first_appearance_labels(target)
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    # joint counts of the (a, b) pairs that occur
    pair = a.astype(np.int64) * kb + b.astype(np.int64)
    cells, joint = np.unique(pair, return_counts=True)
    cell_a = cells // kb
    size_a = np.bincount(a, minlength=ka)
    targets_per_a = np.bincount(cell_a, minlength=ka)
    pure = targets_per_a == 1
    # H(B|A) = sum p(a,b) log2(p(a) / p(a,b))
    h_cond = float((joint / n * np.log2(size_a[cell_a] / joint)).sum()) + 0.0
    return {
        "pure_classes": float(pure.mean()),
        "pure_leaves": float(size_a[pure].sum() / n),
        "h_target_given_pre": max(h_cond, 0.0),
        "h_target": _entropy_bits(np.bincount(b, minlength=kb)),
        "pre_refines_target": bool(pure.all()),
    }


def compare_labels(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """NMI, ARI and alignment of pretraining labels ``a`` with target labels ``b``.

    Both arrays hold one label per leaf, the same leaves in the same order.
    See the module doc for the meaning of each key.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from .hierarchy import is_refinement

    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise GranularityError(f"cannot compare label arrays of shapes {a.shape} and {b.shape}")
    al = alignment(a, b)
    return {
        "num_leaves": int(a.size),
        "classes_a": int(np.unique(a).size),
        "classes_b": int(np.unique(b).size),
        "nmi": float(normalized_mutual_info_score(b, a)) if a.size else 1.0,
        "ari": float(adjusted_rand_score(b, a)) if a.size else 1.0,
        "pure_classes": al["pure_classes"],
        "pure_leaves": al["pure_leaves"],
        "h_target_given_pre": al["h_target_given_pre"],
        "h_target": al["h_target"],
        "a_refines_b": bool(is_refinement(a, b)),
        "b_refines_a": bool(is_refinement(b, a)),
    }


def level_labels(obj: Any, level: str | None, name: str):
    """(leaf ids, labels, level name, source) from a path spec, LabelMap or Hierarchy."""
    from .hierarchy import Hierarchy
    from .grammar import read_map_level
    from .labelmap import LabelMap

    if isinstance(obj, str):
        lm, spec_level = read_map_level(obj, name)
        if spec_level is not None and level is not None and spec_level != level:
            raise GranularityError(f"{name} {obj!r}: level given twice ({spec_level!r} and {level!r})")
        obj, level = lm, spec_level or level
    if isinstance(obj, LabelMap):
        levels, source = obj.levels, obj.source
    elif isinstance(obj, Hierarchy):
        levels, source = obj.level_names, "the hierarchy"
    else:
        raise GranularityError(f"{name} must be a label map path, a LabelMap or a Hierarchy, not {type(obj).__name__}")
    if level is None:
        if len(levels) != 1:
            raise GranularityError(
                f"{name} {source!r} has {len(levels)} levels ({', '.join(levels)}); "
                f"pick one as MAP:LEVEL, e.g. {source}:{levels[0]}"
            )
        level = levels[0]
    if level not in levels:
        raise GranularityError(f"{name}: no level {level!r} in {source}; levels are: {', '.join(levels)}")
    if isinstance(obj, LabelMap):
        return obj.leaf_ids, obj.lookup(level, outside=-1), level, source
    return list(obj.leaf_ids), obj.level(level).labels, level, source


def _stdin_once(a: Any, b: Any, tree: Any) -> None:
    """At most one of the specs reads stdin ('-'): a second read would find it empty."""
    from .grammar import MapSpec

    specs = ((a, "A", False), (b, "B", False), (tree, "--tree", True))
    stdin = [s for s, option, several in specs if isinstance(s, str) and MapSpec.parse(s, option, several).is_stdin]
    if len(stdin) > 1:
        raise GranularityError("stdin ('-') can be read only once: give '-' for A, B or --tree, not several")


def compare(a: Any, b: Any, a_level: str | None = None, b_level: str | None = None,
            tree: Any = None) -> dict[str, Any]:
    """Compare pretraining level ``a`` with target level ``b`` (and target tree ``tree``).

    ``a`` and ``b`` are label-map paths (``"in21k.parquet:level_1"``; ``:LEVEL``
    may be left out when the map has one level), ``LabelMap`` objects or
    ``Hierarchy`` objects (then ``a_level`` / ``b_level`` name the level). The
    two must have the same leaves in the same order. Returns the metrics of
    :func:`compare_labels` plus ``a`` and ``b`` (source and level). With ``tree``
    (``"MAP[:LEVEL,...]"``, a map, or a :class:`~hierarchy_cli.lca.LabelTree`
    over the same leaves), ``tree`` holds :func:`hierarchy_cli.lca.tree_alignment`
    of ``a``: how high in that tree the LCAs of the leaves ``a`` merges are. At most one
    of ``a``, ``b`` and ``tree`` may be read from stdin (``-``).
    """
    _stdin_once(a, b, tree)
    ids_a, lab_a, lv_a, src_a = level_labels(a, a_level, "A")
    ids_b, lab_b, lv_b, src_b = level_labels(b, b_level, "B")
    diff = first_leaf_difference(ids_a, ids_b, src_a, src_b)
    if diff:
        raise GranularityError(f"the two maps have different leaves: {diff}")
    out = {"a": {"source": src_a, "level": lv_a}, "b": {"source": src_b, "level": lv_b}}
    inside = (lab_a >= 0) & (lab_b >= 0)  # leaves outside either level's label space do not count
    if inside.all():
        out.update(compare_labels(lab_a, lab_b))
    else:
        out.update(compare_labels(lab_a[inside], lab_b[inside]))
        out["leaves_outside"] = int((~inside).sum())
    if tree is not None:
        from .lca import label_tree, tree_alignment

        t = label_tree(tree, where="--tree")
        diff = first_leaf_difference(ids_a, t.leaf_ids, src_a, t.source)
        if diff:
            raise GranularityError(f"the tree has other leaves than A: {diff}")
        out["tree"] = tree_alignment(lab_a, t)
    return out
