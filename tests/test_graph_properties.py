"""Property tests: path rules against brute force, and the invariants of every cut."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hierarchy_cli.graph import Graph, choose_paths
from hierarchy_cli.graphcut import LevelRequest, Shape, cut_levels
from hierarchy_cli.hierarchy import Hierarchy, first_appearance_labels


@st.composite
def dags(draw):
    n = draw(st.integers(2, 14))
    roots = draw(st.integers(1, 2))
    parents = []
    for i in range(n):
        if i < roots:
            parents.append([])
        else:
            k = draw(st.integers(1, min(3, i)))
            parents.append(draw(st.lists(st.integers(0, i - 1), min_size=k, max_size=k, unique=True)))
    ptr = np.zeros(n + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(p) for p in parents])
    flat = np.array([x for p in parents for x in p], dtype=np.int32)
    ids = [f"v{i}" for i in range(n)]
    leaves = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return Graph(ids, ids, ptr, flat), parents, leaves


def _all_paths(parents, node):
    """Every path from node up to a root, as (nodes, parent positions) tuples."""
    if not parents[node]:
        return [((node,), ())]
    out = []
    for pos, p in enumerate(parents[node]):
        for nodes, positions in _all_paths(parents, p):
            out.append(((node,) + nodes, (pos,) + positions))
    return out


def _brute_choice(parents, node, rule):
    paths = _all_paths(parents, node)
    if rule == "first":
        return min(paths, key=lambda p: p[1])[0]
    sign = -1 if rule == "longest" else 1
    # best length first; among equals, the first-listed parent from the leaf upward,
    # where each node's own choice is fixed (so compare node by node)
    best_len = min(sign * len(p[0]) for p in paths)
    cands = [p for p in paths if sign * len(p[0]) == best_len]
    chosen = [node]
    cur = node
    while parents[cur]:
        options = []
        for pos, p in enumerate(parents[cur]):
            sub = _all_paths(parents, p)
            options.append((min(sign * len(s[0]) for s in sub), pos, p))
        _, _, nxt = min(options)
        chosen.append(nxt)
        cur = nxt
    assert len(chosen) in {len(c[0]) for c in cands}
    return tuple(chosen)


@settings(max_examples=150, deadline=None)
@given(dags(), st.sampled_from(["longest", "shortest", "first"]))
def test_chosen_paths_match_brute_force(dag, rule):
    g, parents, _ = dag
    paths = choose_paths(g, rule)
    for node in range(g.num_nodes):
        expected = _brute_choice(parents, node, rule)
        got = [node]
        while paths.parent[got[-1]] >= 0:
            got.append(int(paths.parent[got[-1]]))
        assert tuple(got) == expected
        assert paths.depth[node] == len(expected) - 1
        assert paths.num_paths[node] == len(_all_paths(parents, node))


@settings(max_examples=150, deadline=None)
@given(dags(), st.sampled_from(["longest", "shortest", "first"]),
       st.lists(st.integers(0, 15), min_size=1, max_size=4, unique=True), st.booleans())
def test_cut_invariants(dag, rule, ks, use_depth):
    g, _, leaves = dag
    request = LevelRequest.parse(depths=ks) if use_depth else LevelRequest.parse(levels=ks)
    levels, _ = cut_levels(g, np.array(leaves), request, Shape(rule))
    h = Hierarchy([g.ids[i] for i in leaves], [g.names[i] for i in leaves], levels, nested=True)
    h.validate()  # contiguous first-appearance labels, one label per leaf, nesting
    assert len(levels) == len(set(ks))
    for lv in levels:
        assert lv.labels.shape == (len(leaves),)
        relabelled, _ = first_appearance_labels(lv.labels)
        assert np.array_equal(relabelled, lv.labels)
        assert lv.num_classes == len(set(lv.labels.tolist()))
    again, _ = cut_levels(g, np.array(leaves), request, Shape(rule))
    assert all(np.array_equal(a.labels, b.labels) and a.ids == b.ids for a, b in zip(levels, again))
