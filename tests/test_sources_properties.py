"""Property tests of the taxonomy and edge-list sources against brute force."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hierarchy_cli.sources.edges import ROOT_ID, build_edges
from hierarchy_cli.sources.taxonfiles import PATH_RANKS
from hierarchy_cli.sources.taxonomy import build_taxonomy

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def taxon_rows(draw):
    """Rows of ranks from tiny alphabets (so homonyms and gaps are common)."""
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(n):
        ranks = [draw(st.sampled_from(["A", "B", ""] if r != "kingdom" else ["A", "B"])) for r in PATH_RANKS]
        rows.append(ranks + [f"sp{i}"])
    return rows


@SETTINGS
@given(rows=taxon_rows())
def test_taxonomy_levels_group_leaves_by_their_full_path(tmp_path, rows):
    p = tmp_path / "t.csv"
    p.write_text(",".join(list(PATH_RANKS) + ["species"]) + "\n" + "".join(",".join(r) + "\n" for r in rows))
    h = build_taxonomy(p, "all")
    assert h.is_nested()
    for j, rank in enumerate(PATH_RANKS):
        lv = h.level(rank)
        # the brute-force path key: the filled values from the top down to this rank
        keys = []
        for r in rows:
            known, path = "", []
            for k in range(j + 1):
                v = r[k] or f"unclassified {known} {PATH_RANKS[k]}"
                if r[k]:
                    known = r[k]
                path.append(v)
            keys.append(tuple(path))
        for a, b in itertools.combinations(range(len(rows)), 2):
            assert (lv.labels[a] == lv.labels[b]) == (keys[a] == keys[b])
        for i, key in enumerate(keys):
            assert lv.ids[lv.labels[i]] == "/".join(key)
            assert lv.names[lv.labels[i]] == key[-1]
        firsts = [int(np.flatnonzero(lv.labels == k)[0]) for k in range(lv.num_classes)]
        assert firsts == sorted(firsts)
    gaps = sum(any(not v for v in r[:len(PATH_RANKS)]) for r in rows)
    assert h.metadata["leaves_with_missing_rank"] == gaps


@st.composite
def edge_lists(draw):
    """A random DAG (parents have lower numbers) as shuffled 'parent child' lines."""
    n = draw(st.integers(2, 12))
    roots = draw(st.integers(1, 3))
    edges = []
    for i in range(min(roots, n - 1), n):
        k = draw(st.integers(1, min(3, i)))
        for p in draw(st.lists(st.integers(0, i - 1), min_size=k, max_size=k, unique=True)):
            edges.append((p, i))
    order = draw(st.permutations(range(len(edges))))
    return [edges[i] for i in order]


def _parents_in_file_order(edges):
    out = {}
    for p, c in edges:
        out.setdefault(c, []).append(p)
    return out


@SETTINGS
@given(edges=edge_lists(), k=st.integers(0, 6))
def test_edges_first_rule_climbs_the_first_listed_parent(tmp_path, edges, k):
    p = tmp_path / "e.txt"
    p.write_text("".join(f"v{a} v{b}\n" for a, b in edges))
    h = build_edges(p, levels=[k], multi_parent="first")
    parents = _parents_in_file_order(edges)
    seen = list(dict.fromkeys(x for e in edges for x in e))  # first appearance
    has_child = {a for a, _ in edges}
    leaves = [x for x in seen if x not in has_child]
    assert list(h.leaf_ids) == [f"v{x}" for x in leaves]
    roots = [x for x in seen if x not in parents]
    for i, leaf in enumerate(leaves):
        cur = leaf
        for _ in range(k):
            if cur in parents:
                cur = parents[cur][0]
            elif len(roots) > 1 and cur != "root":
                cur = "root"
        want = ROOT_ID if cur == "root" else f"v{cur}"
        lv = h.level(f"level_{k}")
        assert lv.ids[lv.labels[i]] == want


@SETTINGS
@given(edges=edge_lists())
def test_edges_longest_depth_matches_brute_force(tmp_path, edges):
    p = tmp_path / "e.txt"
    p.write_text("".join(f"v{a} v{b}\n" for a, b in edges))
    parents = _parents_in_file_order(edges)
    seen = list(dict.fromkeys(x for e in edges for x in e))
    extra = 1 if sum(x not in parents for x in seen) > 1 else 0

    def longest(x):
        return 0 if x not in parents else 1 + max(longest(q) for q in parents[x])

    h = build_edges(p, classes=[f"v{x}" for x in seen], depths=[0], multi_parent="longest")
    assert h.metadata["artificial_root"] == (ROOT_ID if extra else None)
    deepest = max(longest(x) for x in seen) + extra
    # cutting at the deepest depth keeps every node itself; one less merges only the deepest
    h2 = build_edges(p, classes=[f"v{x}" for x in seen], depths=[deepest], multi_parent="longest")
    lv = h2.level(f"depth_{deepest}")
    assert [lv.ids[k] for k in lv.labels] == [f"v{x}" for x in seen]
    if deepest >= 1:
        h3 = build_edges(p, classes=[f"v{x}" for x in seen], depths=[deepest - 1], multi_parent="longest")
        lv3 = h3.level(f"depth_{deepest - 1}")
        moved = [x for i, x in enumerate(seen) if lv3.ids[lv3.labels[i]] != f"v{x}"]
        assert moved == [x for x in seen if longest(x) + extra == deepest]
