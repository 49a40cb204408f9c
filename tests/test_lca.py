"""hierarchy_cli.lca: the tree of a nested label map, LCA heights and distances, mistake severity.

Every vectorised result is checked against two naive pure-Python references: one that
walks the tree the map was cut from, one that builds the map's tree leaf by leaf from
its levels; plus hand-computed fixtures and the properties of tree metrics.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierarchy_cli.errors import GranularityError
from hierarchy_cli.hierarchy import Hierarchy, Level
from hierarchy_cli.lca import (label_tree, lca_blocks, lca_heights, lca_matrix, mistake_severity,
                                tree_alignment)

# ----------------------------------------------------------------------------- helpers


def depth_cut_map(parent: list[int | None], depths=None) -> Hierarchy:
    """The map `granularity build --depth` makes of a tree given as a parent list (node 0 is
    the root): leaves are the nodes without children, level depth_d holds each leaf's ancestor
    at depth d (the leaf itself when it is shallower), finest first."""
    children = Counter(p for p in parent if p is not None)
    leaves = [v for v in range(len(parent)) if children[v] == 0]
    path = {v: _path(parent, v)[::-1] for v in leaves}  # root first
    deepest = max(len(p) for p in path.values()) - 1
    chosen = sorted(range(deepest + 1) if depths is None else depths, reverse=True)
    levels = []
    for d in chosen:
        keys = np.array([path[v][min(d, len(path[v]) - 1)] for v in leaves])
        levels.append(Level.from_keys(f"depth_{d}", keys, lambda k: f"n{k}", lambda k: f"node {k}"))
    ids = [f"n{v}" for v in leaves]
    return Hierarchy(ids, ids, levels, {})


def _path(parent, v) -> list[int]:
    out = [v]
    while parent[out[-1]] is not None:
        out.append(parent[out[-1]])
    return out


def naive_from_tree(parent: list[int | None]) -> tuple[np.ndarray, np.ndarray]:
    """(heights, distances) of the leaves' LCAs, pair by pair, in the tree itself."""
    children: dict[int, list[int]] = {}
    for v, p in enumerate(parent):
        if p is not None:
            children.setdefault(p, []).append(v)
    leaves = [v for v in range(len(parent)) if v not in children]

    def height(v: int) -> int:
        return 0 if v not in children else 1 + max(height(c) for c in children[v])

    n = len(leaves)
    h = np.zeros((n, n), dtype=np.int64)
    d = np.zeros((n, n), dtype=np.int64)
    for (i, a), (j, b) in itertools.product(enumerate(leaves), repeat=2):
        if a == b:
            continue
        pa, pb = _path(parent, a), _path(parent, b)
        lca = next(x for x in pa if x in pb)
        h[i, j] = height(lca)
        d[i, j] = pa.index(lca) + pb.index(lca)
    return h, d


def naive_from_map(leaf_ids, levels) -> tuple[np.ndarray, np.ndarray]:
    """(heights, distances) in the tree of nested ``levels`` ((labels, ids) per level,
    finest first), built leaf by leaf: a group is its parent's node when both have the same
    id and the same leaves; a root is added when the coarsest level has several groups."""
    n = len(leaf_ids)
    members = [{k: frozenset(np.flatnonzero(lab == k).tolist()) for k in set(lab.tolist())}
               for lab, _ in levels]
    chains = []
    for i in range(n):
        chain, cur = [("leaf", i)], (leaf_ids[i], frozenset([i]))
        for l, (lab, ids) in enumerate(levels):
            k = int(lab[i])
            here = (ids[k], members[l][k])
            if here == cur:
                chain[-1] = ("group", l, k)  # the same node, seen at a coarser level
            else:
                chain.append(("group", l, k))
            cur = here
        if len(set(levels[-1][0].tolist())) > 1:
            chain.append(("root",))
        chains.append(chain)
    height = Counter()
    for chain in chains:
        for idx, node in enumerate(chain):
            height[node] = max(height[node], idx)
    h = np.zeros((n, n), dtype=np.int64)
    d = np.zeros((n, n), dtype=np.int64)
    for i, j in itertools.product(range(n), repeat=2):
        if i != j:
            lca = next(x for x in chains[i] if x in chains[j])
            h[i, j] = height[lca]
            d[i, j] = chains[i].index(lca) + chains[j].index(lca)
    return h, d


def _levels(h: Hierarchy):
    return [(lv.labels, lv.ids) for lv in h.levels]


@st.composite
def random_trees(draw, max_nodes: int = 24):
    n = draw(st.integers(2, max_nodes))
    return [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]


# ----------------------------------------------------------------------------- hand-checked


#          root
#         /    \
#        A      B
#      /   \     \
#     A1   l3     C
#    /  \        / \
#   l1  l2     l4   l5
HAND = {"A": "root", "B": "root", "A1": "A", "l3": "A", "C": "B", "l1": "A1", "l2": "A1", "l4": "C", "l5": "C"}
LEAVES = ["l1", "l2", "l3", "l4", "l5"]
# heights: l* 0, A1 1, C 1, A 2, B 2, root 3
HAND_HEIGHT = [[0, 1, 2, 3, 3],
               [1, 0, 2, 3, 3],
               [2, 2, 0, 3, 3],
               [3, 3, 3, 0, 1],
               [3, 3, 3, 1, 0]]
HAND_DISTANCE = [[0, 2, 3, 6, 6],
                 [2, 0, 3, 6, 6],
                 [3, 3, 0, 5, 5],
                 [6, 6, 5, 0, 2],
                 [6, 6, 5, 2, 0]]


def _hand_map(depths=(3, 2, 1, 0), with_leaf_level=False) -> Hierarchy:
    def up(x, d):
        path = [x]
        while path[-1] in HAND:
            path.append(HAND[path[-1]])
        path = path[::-1]
        return path[min(d, len(path) - 1)]

    levels = [Level.from_keys("level_0", np.array(LEAVES), str, str)] if with_leaf_level else []
    levels += [Level.from_keys(f"depth_{d}", np.array([up(x, d) for x in LEAVES]), str, str) for d in depths]
    return Hierarchy(LEAVES, LEAVES, levels, {})


@pytest.mark.parametrize("depths, leaf_level", [((3, 2, 1, 0), False), ((3, 2, 1), False),
                                                ((2, 1, 0), True), ((3, 2, 1), True)])
def test_hand_computed_tree(depths, leaf_level):
    """The same tree whether the root is a level or implicit, with or without level_0, and
    whether the finest cut is the leaves themselves (depth_3) or not (l3 keeps itself)."""
    h = _hand_map(depths, leaf_level)
    assert lca_matrix(h).tolist() == HAND_HEIGHT
    assert lca_matrix(h, kind="distance").tolist() == HAND_DISTANCE
    t = label_tree(h)
    assert t.height == 3 and t.num_nodes == 10 and t.leaf_depth.tolist() == [3, 3, 2, 3, 3]
    assert t.implicit_root == (0 not in depths)


def test_the_smallest_dtype_and_a_checked_one():
    h = _hand_map()
    assert lca_matrix(h).dtype == np.uint8 and lca_matrix(h, kind="distance").dtype == np.uint8
    assert lca_matrix(h, dtype=np.int64).dtype == np.int64
    with pytest.raises(GranularityError, match="float32: LCA heights are integers"):
        lca_matrix(h, dtype=np.float32)
    # a chain 300 nodes deep: heights up to 300 need uint16, and do not fit int8
    parent = [None] + list(range(300)) + [0]
    deep = depth_cut_map(parent)
    assert lca_matrix(deep).dtype == np.uint16 and int(lca_matrix(deep)[0, 1]) == 300
    with pytest.raises(GranularityError, match=r"reach 300, beyond int8's maximum 127"):
        lca_matrix(deep, dtype=np.int8)


def test_a_class_with_classes_below_it_is_a_leaf_under_that_node():
    """WordNet lists hold classes under classes: A1 is a class and the node above l1, l2."""
    ids = ["l1", "l2", "A1"]
    levels = [Level.from_keys("depth_2", np.array(["A1", "A1", "A1"]), str, str),
              Level.from_keys("depth_1", np.array(["A", "A", "A"]), str, str)]
    h = Hierarchy(ids, ids, levels, {})
    assert lca_matrix(h).tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert lca_matrix(h, kind="distance").tolist() == [[0, 2, 2], [2, 0, 2], [2, 2, 0]]


def test_ids_repeated_across_levels_do_not_join_groups():
    """A random map names groups r0, r1 at every level: r0 of the fine level is not r0 of
    the coarse one (other leaves), so the fine level is a level of the tree."""
    ids = ["a", "b", "c", "d"]
    fine = Level("fine", np.array([0, 0, 1, 1], np.int32), ("r0", "r1"), ("r0", "r1"))
    coarse = Level("coarse", np.array([0, 0, 0, 0], np.int32), ("r0",), ("r0",))
    m = lca_matrix(Hierarchy(ids, ids, [fine, coarse], {}))
    assert m.tolist() == [[0, 1, 2, 2], [1, 0, 2, 2], [2, 2, 0, 1], [2, 2, 1, 0]]


def test_mbm_tiered_fragment_from_an_edge_list(tmp_path, cli):
    """A fragment of Making Better Mistakes' tieredImageNet-H (facts from its
    data/tiered_imagenet_isa.txt): their issue #9 asks about carbonara (n07831146) and
    chocolate sauce (n07836838), both children of sauce (n07829412): the ILSVRC height of
    their LCA is 1 (their distance file gives 7: docs/compare.md, 'Checked')."""
    edges = ["n00001930 n00020827", "n00020827 n00021265", "n00021265 n07566340", "n07566340 n07810907",
             "n07810907 n07829412", "n07829412 n07831146", "n07829412 n07836838", "n07810907 n07583066",
             "n07566340 n07860988", "n00001930 n00002684"]
    (tmp_path / "isa.txt").write_text("\n".join(edges) + "\n")
    res = cli("build", "--edges", tmp_path / "isa.txt", "--depth", "0-6", "-o", tmp_path / "m.parquet")
    assert res.code == 0, res.stderr
    from hierarchy_cli import read_label_map

    lm = read_label_map(tmp_path / "m.parquet")
    i, j = lm.leaf_ids.index("n07831146"), lm.leaf_ids.index("n07836838")
    k = lm.leaf_ids.index("n00002684")
    h, d = lca_matrix(lm), lca_matrix(lm, kind="distance")
    assert (h[i, j], d[i, j]) == (1, 2)
    assert (h[i, k], d[i, k]) == (6, 7)       # through the root, physical entity, of height 6
    parent = {c: p for p, c in (e.split() for e in edges)}
    assert label_tree(lm).num_nodes == len(set(parent) | set(parent.values()))


# ----------------------------------------------------------------------------- random trees


@settings(max_examples=150, deadline=None)
@given(random_trees())
def test_depth_cuts_give_back_the_tree(parent):
    """The map of every depth cut of a tree (what `build --depth 0-D` writes) is that tree."""
    h, d = naive_from_tree(parent)
    hier = depth_cut_map(parent)
    assert np.array_equal(lca_matrix(hier), h)
    assert np.array_equal(lca_matrix(hier, kind="distance"), d)


@settings(max_examples=150, deadline=None)
@given(random_trees(), st.data())
def test_any_nested_levels_match_the_leaf_by_leaf_reference(parent, data):
    """Some depth cuts only, the leaves as a level or not, blocks of any size."""
    full = depth_cut_map(parent)
    names = [lv.name for lv in full.levels]
    keep = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    chosen = [lv for lv in full.levels if lv.name in keep]
    if data.draw(st.booleans()):
        chosen = [Level.from_keys("level_0", np.array(full.leaf_ids), str, str)] + chosen
    hier = Hierarchy(full.leaf_ids, full.leaf_ids, chosen, {})
    h, d = naive_from_map(list(full.leaf_ids), _levels(hier))
    rows = data.draw(st.integers(1, 7))
    assert np.array_equal(np.vstack([b for _, b in lca_blocks(label_tree(hier), "height", rows=rows)]), h)
    assert np.array_equal(lca_matrix(hier, kind="distance"), d)


@settings(max_examples=60, deadline=None)
@given(random_trees(max_nodes=30))
def test_metric_properties(parent):
    hier = depth_cut_map(parent)
    h = lca_matrix(hier).astype(np.int64)
    d = lca_matrix(hier, kind="distance").astype(np.int64)
    assert np.array_equal(h, h.T) and np.array_equal(d, d.T)
    assert not np.diag(h).any() and not np.diag(d).any()
    off = ~np.eye(len(h), dtype=bool)
    assert (h[off] >= 1).all() and (d[off] >= 2).all()
    # triangle inequality of the path distance; the LCA height bounds the path from above
    assert (d[:, None, :] <= d[:, :, None] + d[None, :, :]).all()
    assert (d <= 2 * h).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=4), st.data())
def test_height_is_an_ultrametric_when_leaves_are_equally_deep(fanouts, data):
    """Every leaf at the same depth: d(i, k) <= max(d(i, j), d(j, k)), and the distance is
    twice the height."""
    parent: list[int | None] = [None]
    layer = [0]
    for f in fanouts:
        nxt = []
        for v in layer:
            for _ in range(data.draw(st.integers(1, f))):
                parent.append(v)
                nxt.append(len(parent) - 1)
        layer = nxt
    hier = depth_cut_map(parent)
    h = lca_matrix(hier).astype(np.int64)
    assert (h[:, None, :] <= np.maximum(h[:, :, None], h[None, :, :])).all()
    assert np.array_equal(lca_matrix(hier, kind="distance"), 2 * h)


# ----------------------------------------------------------------------------- pairs, severity, alignment


def test_pairs_and_mistake_severity_by_hand():
    h = _hand_map()
    truth = np.array([0, 0, 1, 3, 4, 2])
    pred = np.array([0, 1, 2, 0, 3, 2])   # right, l1->l2 (1), l2->l3 (2), l4->l1 (3), l5->l4 (1), right
    assert lca_heights(h, truth, pred).tolist() == [0, 1, 2, 3, 1, 0]
    r = mistake_severity(truth, pred, h)
    assert r == {"samples": 6, "mistakes": 4, "top1_error": 4 / 6, "mistake_severity": (1 + 2 + 3 + 1) / 4,
                 "avg_hierarchical_distance": 7 / 6, "severity_counts": [[1, 2], [2, 1], [3, 1]]}
    assert mistake_severity([1, 2], [1, 2], h)["mistake_severity"] is None
    with pytest.raises(GranularityError, match=r"y_pred\[1\] is 5, not a class index of the tree \(0..4\)"):
        mistake_severity([0, 1], [0, 5], h)
    with pytest.raises(GranularityError, match="3 samples but y_pred 2"):
        mistake_severity([0, 1, 2], [0, 1], h)


@settings(max_examples=80, deadline=None)
@given(random_trees(max_nodes=30), st.data())
def test_tree_alignment_is_the_mean_over_same_group_pairs(parent, data):
    hier = depth_cut_map(parent)
    n = hier.num_leaves
    pre = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    h = lca_matrix(hier).astype(np.int64)
    same = (pre[:, None] == pre[None, :]) & ~np.eye(n, dtype=bool)
    r = tree_alignment(pre, hier)
    assert r["pairs"] == same.sum() // 2
    if r["pairs"]:
        assert r["mean_lca_height"] == pytest.approx(h[same].mean())
    else:
        assert r["mean_lca_height"] is None
    counts = Counter(h[np.triu(same, 1)].tolist())
    assert r["lca_height_counts"] == sorted([k, v] for k, v in counts.items())
    if n > 1:
        assert r["random_mean_lca_height"] == pytest.approx(h[~np.eye(n, dtype=bool)].mean())


def test_random_expectation_is_exact_over_every_permutation():
    """The mean over all 720 relabellings of 6 leaves (groups of sizes 3, 2, 1) equals the
    reported expectation for a random grouping of the same sizes."""
    parent = [None, 0, 0, 1, 1, 2, 3, 3, 5, 5, 2]   # leaves 4, 6, 7, 8, 9, 10 at depths 2 to 3
    hier = depth_cut_map(parent)
    assert hier.num_leaves == 6
    base = np.array([0, 0, 0, 1, 1, 2])
    means = [tree_alignment(base[list(p)], hier)["mean_lca_height"] for p in itertools.permutations(range(6))]
    assert np.mean(means) == pytest.approx(tree_alignment(base, hier)["random_mean_lca_height"])


# ----------------------------------------------------------------------------- bad input


def test_levels_that_do_not_nest_are_named():
    ids = ["a", "b", "c", "d"]
    x = Level("x", np.array([0, 0, 1, 1], np.int32), ("x0", "x1"), ("x0", "x1"))
    y = Level("y", np.array([0, 1, 1, 1], np.int32), ("y0", "y1"), ("y0", "y1"))
    with pytest.raises(GranularityError) as err:
        lca_matrix(Hierarchy(ids, ids, [x, y], {}))
    assert str(err.value).startswith("tree (a Hierarchy): levels 'x' and 'y' do not nest: x group 'x0' "
                                     "has leaves in y groups 'y0' (leaf 0) and 'y1' (leaf 1)")


def test_unknown_or_repeated_levels_and_kinds(tmp_path):
    from hierarchy_cli.labelmap import write_label_map

    write_label_map(_hand_map(), tmp_path / "m.parquet")
    with pytest.raises(GranularityError, match=r"no level 'depth_9' in .*m.parquet; levels are: depth_3"):
        lca_matrix(f"{tmp_path / 'm.parquet'}:depth_3,depth_9")
    with pytest.raises(GranularityError, match="level 'depth_3' is given twice"):
        lca_matrix(str(tmp_path / "m.parquet"), levels=["depth_3", "depth_3"])
    with pytest.raises(GranularityError, match="unknown kind 'depth'; choose one of height, distance"):
        lca_matrix(_hand_map(), kind="depth")
    with pytest.raises(GranularityError, match="must be a label map path"):
        lca_matrix(3)
    # a map read from disk gives what the Hierarchy gives
    assert lca_matrix(f"{tmp_path / 'm.parquet'}:depth_3,depth_2,depth_1").tolist() == HAND_HEIGHT


def test_the_module_does_not_shadow_a_public_name():
    """hierarchy_cli.tree is inspect's function; importing this module must not replace it."""
    import hierarchy_cli
    import hierarchy_cli.lca  # noqa: F401

    from hierarchy_cli import tree

    assert callable(tree) and tree.__module__ == "hierarchy_cli.inspection"
    assert all(not isinstance(getattr(hierarchy_cli, name), type(hierarchy_cli)) for name in hierarchy_cli.__all__
               if name != "__version__")
