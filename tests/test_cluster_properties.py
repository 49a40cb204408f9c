"""Property tests for the k-means builder: partitions, numbering, counts, nesting, determinism."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hierarchy_cli.hierarchy import first_appearance_labels, is_refinement
from hierarchy_cli.labelmap import to_arrow
from hierarchy_cli.methods.cluster import cluster_hierarchy


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(8, 60),
    dim=st.integers(2, 6),
    ks=st.lists(st.integers(1, 8), min_size=1, max_size=3, unique=True),
    flat=st.booleans(),
    metric=st.sampled_from(["l2", "cosine"]),
    seed=st.integers(0, 2**16),
)
def test_kmeans_levels(n, dim, ks, flat, metric, seed):
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    classes = [f"c{i}" for i in range(n)]
    h = cluster_hierarchy(x, ks, classes=classes, flat=flat, metric=metric, seed=seed).hierarchy
    assert [lv.name for lv in h.levels] == [f"k{k}" for k in sorted(ks, reverse=True)]
    for lv, k in zip(h.levels, sorted(ks, reverse=True)):
        assert lv.labels.shape == (n,)  # every leaf in exactly one group
        assert lv.num_classes == k  # the count asked for, no empty cluster
        relabelled, _ = first_appearance_labels(lv.labels)
        assert np.array_equal(relabelled, lv.labels)
    if not flat:
        for fine, coarse in zip(h.levels, h.levels[1:]):
            assert is_refinement(fine.labels, coarse.labels)
    again = cluster_hierarchy(x, ks, classes=classes, flat=flat, metric=metric, seed=seed).hierarchy
    assert to_arrow(h).equals(to_arrow(again), check_metadata=True)
