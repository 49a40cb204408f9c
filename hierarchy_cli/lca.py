"""The tree of a nested label map, and how far apart two classes are in it.

A label map whose levels nest (each level's groups are unions of the previous
level's groups, finest first) is a tree: leaf -> its group at each level -> the
root. The root is the coarsest level's group when that level has one group, and
an implicit node above it otherwise. Consecutive levels that give a leaf the same
group -- the same node id and the same leaves (a WordNet class shallower than a
``--depth`` cut keeps itself; ``level_0`` is the leaf) -- are one node, not a chain.
Ids alone do not join groups: a map may reuse them across levels (``r0``, ``r1``...).

Heights follow the ILSVRC definition that Making Better Mistakes (Bertinetto et
al., CVPR 2020, section 4.2) uses for mistake severity: the **height** of a node
is the number of edges on the longest path from it down to a leaf below it
(leaves have height 0); the **height of the LCA** of two classes is that of their
lowest common ancestor (0 for a class and itself). The **distance** of two classes
is the number of edges on the path between them through their LCA. A class with
classes below it (WordNet lists have them) is a leaf of its own under that node.

* :class:`LabelTree` / :func:`label_tree` -- the tree of chosen levels of a map;
* :func:`lca_matrix` -- the N x N matrix of LCA heights or distances, in the
  smallest unsigned dtype that holds them, computed by row blocks in numpy (no
  per-pair Python loop); :func:`lca_blocks` yields the same rows block by block;
* :func:`lca_heights` -- the LCA height of given pairs of classes;
* :func:`mistake_severity` -- a classifier's mistakes, MBM's way;
* :func:`tree_alignment` -- how high in the tree the LCAs of the classes that a
  pretraining level merges are, with the exact expectation for a random grouping
  of the same sizes (``compare --tree`` and ``report``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import GranularityError
from .options import LCA_KINDS, one_of

_BLOCK_CELLS = 1 << 23  # cells per row block (32 MB of int32 scratch, twice)


@dataclass(frozen=True, eq=False)
class LabelTree:
    """The tree of nested levels of a label map (see the module doc).

    ``labels[l]`` holds level ``levels[l]``'s label per leaf (finest first);
    ``group_height[l][k]`` and ``group_depth[l][k]`` are the height and depth of the
    node of label ``k`` of that level; ``leaf_depth[i]`` is leaf ``i``'s depth (edges
    below the root). ``height`` is the root's height, the largest LCA height.
    """

    source: str
    levels: tuple[str, ...]
    leaf_ids: tuple[str, ...]
    labels: np.ndarray
    group_height: tuple[np.ndarray, ...]
    group_depth: tuple[np.ndarray, ...]
    leaf_depth: np.ndarray
    height: int
    implicit_root: bool
    num_nodes: int

    @property
    def num_leaves(self) -> int:
        return len(self.leaf_ids)

    def per_leaf(self, kind: str) -> tuple[np.ndarray, int, np.ndarray]:
        """(values per level and leaf, root value, leaf value) of the LCA's ``height`` or ``depth``."""
        groups = self.group_height if kind == "height" else self.group_depth
        per_level = np.stack([g[lab] for g, lab in zip(groups, self.labels)])
        root = self.height if kind == "height" else 0
        leaf = np.zeros(self.num_leaves, dtype=np.int64) if kind == "height" else self.leaf_depth
        return per_level, root, leaf

    def describe(self) -> dict[str, Any]:
        """What the tree is, for JSON output and metadata."""
        return {"source": self.source, "levels": list(self.levels), "height": self.height,
                "implicit_root": self.implicit_root, "num_nodes": self.num_nodes}


def _nesting_error(where: str, fine: str, coarse: str, lab_f, lab_c, ids_f, ids_c) -> GranularityError:
    """One line naming a group of ``fine`` that lies in two groups of ``coarse``."""
    parent = np.full(int(lab_f.max()) + 1, -1, dtype=np.int64)
    parent[lab_f] = lab_c
    i = int(np.flatnonzero(parent[lab_f] != lab_c)[0])
    j = int(np.flatnonzero((lab_f == lab_f[i]) & (lab_c != lab_c[i]))[0])
    a, b = sorted((i, j))
    return GranularityError(
        f"{where}: levels {fine!r} and {coarse!r} do not nest: {fine} group {ids_f[lab_f[i]]!r} has "
        f"leaves in {coarse} groups {ids_c[lab_c[a]]!r} (leaf {a}) and {ids_c[lab_c[b]]!r} (leaf {b}); "
        f"a tree needs levels whose groups are unions of the previous level's, finest first")


def build_tree(leaf_ids: Sequence[str], levels: Sequence[tuple[str, np.ndarray, Sequence[str]]],
               source: str = "the hierarchy", where: str | None = None) -> LabelTree:
    """The tree of ``levels`` -- ``(name, labels 0..K-1 per leaf, id per label)``, finest
    first -- over leaves ``leaf_ids`` of map ``source``; a pair of levels that do not nest
    is an error (its message starts with ``where``, default ``source``)."""
    where = where or source
    n, m = len(leaf_ids), len(levels)
    if n == 0:
        raise GranularityError(f"{where} has no leaves: no tree to build")
    if m == 0:
        raise GranularityError(f"{where}: no levels given: a tree needs at least one level")
    names = [name for name, _, _ in levels]
    labs = [np.asarray(lab, dtype=np.int64) for _, lab, _ in levels]
    ids = [np.asarray(list(i), dtype=object) for _, _, i in levels]
    sizes = [len(i) for i in ids]
    parents = []  # parents[l][k]: the level-(l+1) label of level l's group k
    for l in range(m - 1):
        parent = np.full(sizes[l], -1, dtype=np.int64)
        parent[labs[l]] = labs[l + 1]
        if not np.array_equal(parent[labs[l]], labs[l + 1]):
            raise _nesting_error(where, names[l], names[l + 1], labs[l], labs[l + 1], ids[l], ids[l + 1])
        parents.append(parent)
    implicit_root = sizes[-1] > 1
    # new[l][k]: level l's group k is a node of its own; it is its parent's node when both
    # have the same id and the same leaves (ids alone could repeat across levels: r0, r1...)
    members = [np.bincount(lab, minlength=k) for lab, k in zip(labs, sizes)]
    new = [(ids[l] != ids[l + 1][parents[l]]) | (members[l] != members[l + 1][parents[l]])
           for l in range(m - 1)] + [np.ones(sizes[-1], dtype=bool)]
    leaf_new = (np.asarray(leaf_ids, dtype=object) != ids[0][labs[0]]) | (members[0][labs[0]] > 1)
    # depth, and the coarsest group of the same node ("top", as a flat index), top-down
    offset = np.concatenate([[0], np.cumsum(sizes)])
    depth: list[np.ndarray] = [None] * m  # type: ignore[list-item]
    top: list[np.ndarray] = [None] * m  # type: ignore[list-item]
    depth[-1] = np.full(sizes[-1], int(implicit_root), dtype=np.int64)
    top[-1] = offset[m - 1] + np.arange(sizes[-1])
    for l in range(m - 2, -1, -1):
        up = parents[l]
        depth[l] = depth[l + 1][up] + new[l]
        top[l] = np.where(new[l], offset[l] + np.arange(sizes[l]), top[l + 1][up])
    leaf_depth = depth[0][labs[0]] + leaf_new
    deepest = np.zeros(offset[-1], dtype=np.int64)  # the deepest leaf below each group
    for l in range(m):
        np.maximum.at(deepest, offset[l] + labs[l], leaf_depth)
    heights = tuple(deepest[top[l]] - depth[l] for l in range(m))  # a node's leaves: its top group's
    nodes = int(leaf_new.sum()) + sum(int(x.sum()) for x in new) + int(implicit_root)
    return LabelTree(source, tuple(names), tuple(leaf_ids), np.stack(labs), heights, tuple(depth),
                     leaf_depth.astype(np.int64), int(leaf_depth.max()), implicit_root, nodes)


def _tree_of_map(lm, levels: Sequence[str] | None, where: str) -> LabelTree:
    chosen = list(lm.levels if levels is None else levels)
    for lv in chosen:
        lm.check_level(lv, where)
        if chosen.count(lv) > 1:
            raise GranularityError(f"{where}: level {lv!r} is given twice")
        _check_all_inside(lv, lm.num_outside(lv), lm.num_leaves, f"{where} {lm.source!r}")
    return build_tree(lm.leaf_ids, [(lv, lm.lookup(lv), lm.ids(lv)) for lv in chosen], lm.source,
                      f"{where} {lm.source!r}")


def label_tree(obj: Any, levels: Sequence[str] | None = None, where: str = "tree") -> LabelTree:
    """The tree of ``levels`` (default: every level, in the map's order) of ``obj``.

    ``obj`` is a :class:`LabelTree` (returned as it is), a ``LabelMap``, a
    ``Hierarchy``, or a ``"MAP[:LEVEL,...]"`` string. The levels must nest.
    """
    from .hierarchy import Hierarchy
    from .grammar import read_map_levels
    from .labelmap import LabelMap

    if isinstance(obj, LabelTree):
        if levels is not None and list(levels) != list(obj.levels):
            raise GranularityError(f"{where}: a LabelTree of levels {', '.join(obj.levels)} was given "
                                   f"with levels={list(levels)!r}")
        return obj
    if isinstance(obj, str):
        lm, given = read_map_levels(obj, where)
        if given is not None and levels is not None and list(levels) != given:
            raise GranularityError(f"{where} {obj!r}: levels given twice ({','.join(given)} and {','.join(levels)})")
        return _tree_of_map(lm, given or levels, where)
    if isinstance(obj, LabelMap):
        return _tree_of_map(obj, levels, where)
    if isinstance(obj, Hierarchy):
        chosen = list(obj.level_names if levels is None else levels)
        picked = [obj.level(lv) for lv in chosen]
        for lv in picked:
            _check_all_inside(lv.name, lv.num_outside, obj.num_leaves, f"{where} (a Hierarchy)")
        return build_tree(list(obj.leaf_ids), [(lv.name, lv.labels, lv.ids) for lv in picked], "the hierarchy",
                          f"{where} (a Hierarchy)")
    raise GranularityError(f"{where} must be a label map path, a LabelMap, a Hierarchy or a LabelTree, "
                           f"not {type(obj).__name__}")


def _check_all_inside(level: str, outside: int, n: int, where: str) -> None:
    if outside:
        raise GranularityError(f"{where}: level {level!r} leaves {outside:,} of {n:,} leaves outside its label "
                               "space (null labels); a tree needs every leaf in it: build the map on the task's "
                               "classes alone (--classes)")


def is_tree(lm) -> bool:
    """True when the map has several levels and they nest in its order (it is a tree)."""
    from .hierarchy import is_refinement

    levels = lm.levels
    return len(levels) > 1 and all(is_refinement(lm.lookup(a, outside=-1), lm.lookup(b, outside=-1))
                                   for a, b in zip(levels, levels[1:]))


# ----------------------------------------------------------------------------- the matrix


def _check_kind(kind: str) -> None:
    one_of(kind, LCA_KINDS, "kind")


def matrix_dtype(tree: LabelTree, kind: str, dtype: Any = None) -> np.dtype:
    """The dtype of :func:`lca_matrix`: ``dtype``, checked to hold every value, or the
    smallest unsigned integer type that does (uint8 for trees up to 255 high)."""
    _check_kind(kind)
    top = tree.height if kind == "height" else 2 * int(tree.leaf_depth.max())
    if dtype is None:
        return next(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(t).max >= top)
    dt = np.dtype(dtype)
    if dt.kind not in "iu":
        raise GranularityError(f"dtype {dt.name}: LCA {kind}s are integers; give an integer dtype (or None)")
    if np.iinfo(dt).max < top:
        raise GranularityError(f"dtype {dt.name}: LCA {kind}s of this tree reach {top}, beyond {dt.name}'s "
                               f"maximum {np.iinfo(dt).max}; leave dtype=None for the smallest that fits")
    return dt


def _sorted_intervals(tree: LabelTree) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """``order`` (the leaves in an order where every group is contiguous), ``pos`` (each
    leaf's place in it) and, per level, each leaf's group as an interval ``[start, end)``."""
    n = tree.num_leaves
    order = np.lexsort(tuple(tree.labels))   # the coarsest level is the primary key
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    spans = []
    for lab in tree.labels:
        first = np.full(int(lab.max()) + 1, n, dtype=np.int64)
        np.minimum.at(first, lab, pos)
        start = first[lab]
        spans.append((start, start + np.bincount(lab)[lab]))
    return order, pos, spans


def lca_blocks(tree: LabelTree, kind: str = "height", dtype: Any = None,
               rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, block)``: consecutive rows of :func:`lca_matrix`, in leaf order.

    Each row is built in an order where every group is a contiguous interval: a
    difference array gets, per level, the change of value on the leaf's interval,
    a cumulative sum turns it into the row, and one gather puts the columns back in
    leaf order. Memory is that of a block (``rows`` rows; default about 8 M cells).
    """
    tree = label_tree(tree)
    dt = matrix_dtype(tree, kind, dtype)
    n = tree.num_leaves
    order, pos, spans = _sorted_intervals(tree)
    # int32 sums: numpy's cumulative sum of int16 rows is 5x slower (no fast loop)
    work = np.int32 if 2 * int(tree.leaf_depth.max()) < 2**31 else np.int64
    per_level, root, leaf = tree.per_leaf("height" if kind == "height" else "depth")
    sorted_depth = tree.leaf_depth[order].astype(work)
    step = rows or max(1, _BLOCK_CELLS // n)
    for r0 in range(0, n, step):
        r = np.arange(r0, min(n, r0 + step))
        diff = np.zeros((r.size, n + 1), dtype=work)
        diff[:, 0] = root
        value = np.full(r.size, root, dtype=np.int64)
        rows_at = np.arange(r.size)
        for l in range(len(tree.levels) - 1, -1, -1):   # coarse to fine: nested intervals
            start, end = spans[l]
            step_value = per_level[l][r] - value
            diff[rows_at, start[r]] += step_value
            diff[rows_at, end[r]] -= step_value
            value = per_level[l][r]
        step_value = leaf[r] - value
        diff[rows_at, pos[r]] += step_value
        diff[rows_at, pos[r] + 1] -= step_value
        lca = np.cumsum(diff[:, :n], axis=1, dtype=diff.dtype, out=diff[:, :n])
        if kind == "distance":   # d(i) + d(j) - 2 d(lca), columns still in sorted order
            lca *= -2
            lca += tree.leaf_depth[r][:, None].astype(lca.dtype)
            lca += sorted_depth[None, :]
        # sorted columns -> leaf order, on the final dtype: np.take on uint8 is 4x faster
        # than on int32, and 10x faster than lca[:, pos]
        yield r0, np.take(lca.astype(dt), pos, axis=1)


def lca_matrix(tree: Any, levels: Sequence[str] | None = None, kind: str = "height",
               dtype: Any = None) -> np.ndarray:
    """The N x N matrix of LCA heights (``kind="height"``) or distances (``"distance"``).

    ``tree`` is a label map (``"MAP[:LEVEL,...]"``, ``LabelMap``, ``Hierarchy``) whose
    ``levels`` (default all) nest, or a :class:`LabelTree`. Row and column ``i`` are
    leaf ``i`` (``leaf_index`` order). ``height[i, j]`` is the height of the lowest
    common ancestor of leaves ``i`` and ``j`` (0 on the diagonal); ``distance[i, j]``
    the number of edges between them. The dtype is the smallest unsigned integer
    type holding every value, or ``dtype`` (an error if a value would not fit).
    N = 21,843 in uint8 takes 477 MB.
    """
    _check_kind(kind)
    t = label_tree(tree, levels)
    dt = matrix_dtype(t, kind, dtype)
    out = np.empty((t.num_leaves, t.num_leaves), dtype=dt)
    for r0, block in lca_blocks(t, kind, dt):
        out[r0:r0 + block.shape[0]] = block
    return out


def lca_heights(tree: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The LCA height of each pair ``(a[k], b[k])`` of leaf indices (int64; 0 where a == b)."""
    t = label_tree(tree)
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    per_level, root, _ = t.per_leaf("height")
    out = np.full(a.shape, root, dtype=np.int64)
    for l in range(len(t.levels) - 1, -1, -1):   # the finest shared level wins
        shared = t.labels[l][a] == t.labels[l][b]
        out[shared] = per_level[l][a[shared]]
    out[a == b] = 0
    return out


def _leaf_indices(values: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise GranularityError(f"{what} must be a 1-D array of integer class indices, "
                               f"not {arr.dtype} of shape {arr.shape}")
    bad = np.flatnonzero((arr < 0) | (arr >= n))
    if bad.size:
        k = int(bad[0])
        raise GranularityError(f"{what}[{k}] is {int(arr[k])}, not a class index of the tree (0..{n - 1})")
    return arr.astype(np.int64)


def mistake_severity(y_true: Any, y_pred: Any, tree: Any, levels: Sequence[str] | None = None) -> dict[str, Any]:
    """Making Better Mistakes' metrics of top-1 predictions ``y_pred`` for labels ``y_true``.

    Both are leaf (class) indices of the tree (a label map's levels, see
    :func:`lca_matrix`). Returns ``samples``, ``mistakes``, ``top1_error``,
    ``mistake_severity`` (the mean LCA height over the mistakes; ``None`` without
    mistakes), ``avg_hierarchical_distance`` (the mean over every sample, a correct
    one counting 0) and ``severity_counts`` (``[[height, mistakes], ...]``, lowest first).
    """
    t = label_tree(tree, levels)
    truth = _leaf_indices(y_true, t.num_leaves, "y_true")
    pred = _leaf_indices(y_pred, t.num_leaves, "y_pred")
    if truth.shape != pred.shape:
        raise GranularityError(f"y_true has {truth.size} samples but y_pred {pred.size}")
    h = lca_heights(t, truth, pred)
    wrong = truth != pred
    heights, counts = np.unique(h[wrong], return_counts=True)
    n, k = int(truth.size), int(wrong.sum())
    return {
        "samples": n,
        "mistakes": k,
        "top1_error": k / n if n else 0.0,
        "mistake_severity": float(h[wrong].mean()) if k else None,
        "avg_hierarchical_distance": float(h.mean()) if n else 0.0,
        "severity_counts": [[int(x), int(c)] for x, c in zip(heights, counts)],
    }


# ----------------------------------------------------------------------------- alignment


def _pair_counts(tree: LabelTree, groups: np.ndarray) -> np.ndarray:
    """Pairs of distinct leaves in one of ``groups`` per height of their LCA (index = height)."""
    c2 = lambda x: x * (x - 1) // 2  # noqa: E731
    hist = np.zeros(tree.height + 1, dtype=np.int64)
    below = None   # pairs per group of the previous (finer) level
    for l in range(len(tree.levels)):
        lab = tree.labels[l]
        k = int(lab.max()) + 1
        cells, counts = np.unique(groups * k + lab, return_counts=True)
        shared = np.bincount(cells % k, weights=c2(counts), minlength=k).astype(np.int64)
        exact = shared.copy()
        if below is not None:
            parent = np.full(below.size, 0, dtype=np.int64)
            parent[tree.labels[l - 1]] = lab
            exact -= np.bincount(parent, weights=below, minlength=k).astype(np.int64)
        np.add.at(hist, tree.group_height[l], exact)
        below = shared
    total = int(c2(np.bincount(groups)).sum())
    hist[tree.height] += total - (int(below.sum()) if below is not None else 0)
    return hist


def _summary(hist: np.ndarray) -> tuple[int, float | None]:
    pairs = int(hist.sum())
    return pairs, (float((np.arange(hist.size) * hist).sum() / pairs) if pairs else None)


def tree_alignment(pre: np.ndarray, tree: Any) -> dict[str, Any]:
    """How far apart, in ``tree``, the classes are that pretraining labels ``pre`` merge.

    Over every pair of distinct leaves that share a ``pre`` group (pair-weighted):
    ``mean_lca_height``, ``pairs`` and ``lca_height_counts`` (``[[height, pairs],
    ...]``, only heights that occur). ``random_mean_lca_height`` is the exact
    expectation of the mean for a random grouping with the same group sizes: any
    same-group pair is then a uniform pair of distinct leaves, so it is the mean
    LCA height over all pairs, whatever the sizes. ``mean_lca_height`` is ``None``
    when every group has one leaf (no pairs). The keys of :meth:`LabelTree.describe`
    (``source``, ``levels``, ``height``, ...) say which tree.
    """
    t = label_tree(tree)
    pre = np.asarray(pre)
    if pre.shape != (t.num_leaves,):
        raise GranularityError(f"cannot align labels of shape {pre.shape} with a tree of {t.num_leaves} leaves")
    if pre.size and pre.min() < 0:  # a leaf outside pretraining's label space is merged with none
        pre = np.where(pre < 0, int(pre.max()) + 1 + np.arange(pre.size), pre)
    _, groups = np.unique(pre, return_inverse=True)
    hist = _pair_counts(t, groups.reshape(-1).astype(np.int64))
    pairs, mean = _summary(hist)
    _, random_mean = _summary(_pair_counts(t, np.zeros(t.num_leaves, dtype=np.int64)))
    return {
        **t.describe(),
        "pairs": pairs,
        "mean_lca_height": mean,
        "random_mean_lca_height": random_mean,
        "lca_height_counts": [[int(h), int(c)] for h, c in enumerate(hist) if c],
    }
