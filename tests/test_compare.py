"""granularity compare: NMI, ARI and alignment of a pretraining level with a target."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_one_line_error, invoke
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.hierarchy import Hierarchy, Level
from hierarchy_cli.labelmap import write_label_map
from hierarchy_cli.metrics import alignment, compare, compare_labels


@pytest.fixture(scope="module")
def wn_map(tmp_path_factory) -> Path:
    from hierarchy_cli.sources.wordnet import build_wordnet

    path = tmp_path_factory.mktemp("ref") / "in1k.wordnet.parquet"
    write_label_map(build_wordnet(dataset="imagenet1k", levels=[0, 1, 3]), path)
    return path


def _h_cond_bruteforce(a, b) -> float:
    """H(B|A) in bits straight from the definition, with Python counters."""
    n = len(a)
    pa_ = Counter(a)
    pab = Counter(zip(a, b))
    return -sum(c / n * math.log2(c / pa_[x]) for (x, _), c in pab.items())


def test_hand_computed_example():
    # pretraining A: {0,1} {2,3} {4,5}; target B: {0,1,2} {3,4,5}
    a = np.array([0, 0, 1, 1, 2, 2])
    b = np.array([0, 0, 0, 1, 1, 1])
    r = compare_labels(a, b)
    assert r["pure_classes"] == pytest.approx(2 / 3)  # {0,1} and {4,5} are pure
    assert r["pure_leaves"] == pytest.approx(4 / 6)
    # only class {2,3} is split 1:1 -> it carries 1 bit, weight 2/6
    assert r["h_target_given_pre"] == pytest.approx(1 / 3)
    assert r["h_target"] == pytest.approx(1.0)
    assert r["a_refines_b"] is False and r["b_refines_a"] is False
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    assert r["nmi"] == pytest.approx(normalized_mutual_info_score(b, a))
    assert r["ari"] == pytest.approx(adjusted_rand_score(b, a))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), min_size=1, max_size=60))
def test_alignment_matches_definitions(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    r = alignment(a, b)
    assert r["h_target_given_pre"] == pytest.approx(_h_cond_bruteforce(a.tolist(), b.tolist()), abs=1e-9)
    targets = {}
    for x, y in pairs:
        targets.setdefault(x, set()).add(y)
    pure = {x for x, ys in targets.items() if len(ys) == 1}
    assert r["pure_classes"] == pytest.approx(len(pure) / len(targets))
    assert r["pure_leaves"] == pytest.approx(sum(x in pure for x in a.tolist()) / len(a))
    assert r["pre_refines_target"] == (len(pure) == len(targets))
    assert (r["h_target_given_pre"] < 1e-12) == r["pre_refines_target"]


def test_nested_wordnet_levels(wn_map):
    fine = compare(f"{wn_map}:level_1", f"{wn_map}:level_3")
    assert fine["a_refines_b"] is True and fine["b_refines_a"] is False
    assert fine["pure_classes"] == 1.0 and fine["pure_leaves"] == 1.0 and fine["h_target_given_pre"] == 0.0
    assert fine["classes_a"] == 558 and fine["classes_b"] == 188
    coarse = compare(f"{wn_map}:level_3", f"{wn_map}:level_1")
    assert coarse["b_refines_a"] is True and coarse["pure_classes"] < 1 and coarse["h_target_given_pre"] > 0
    assert coarse["nmi"] == pytest.approx(fine["nmi"])  # symmetric
    same = compare(f"{wn_map}:level_3", f"{wn_map}:level_3")
    assert same["nmi"] == pytest.approx(1.0) and same["ari"] == pytest.approx(1.0)


def test_random_control_aligns_worse(wn_map, tmp_path):
    from hierarchy_cli.methods.random import random_hierarchy

    rnd = tmp_path / "rnd.parquet"
    write_label_map(random_hierarchy(like=f"{wn_map}:level_1", seed=0), rnd)
    r = compare(f"{rnd}", f"{wn_map}:level_3")  # one level: no :LEVEL needed
    assert r["a"]["level"] == "random_level_1"
    assert r["pure_classes"] < 1 and r["h_target_given_pre"] > 0.5 and r["ari"] < 0.1


def test_api_with_hierarchies():
    lv = Level.from_keys("x", np.array([0, 1, 1]), str, str)
    h = Hierarchy(["a", "b", "c"], ["a", "b", "c"], [lv], {})
    r = compare(h, h)
    assert r["a"]["level"] == "x" and r["nmi"] == pytest.approx(1.0)


def test_api_reads_stdin_once(wn_map, monkeypatch):
    """compare() itself refuses two '-' specs, before reading stdin (it would be empty the second time)."""
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(wn_map.read_bytes())))
    with pytest.raises(GranularityError, match=r"stdin \('-'\) can be read only once"):
        compare("-:level_1", "-:level_3")
    assert sys.stdin.buffer.read() == wn_map.read_bytes()  # nothing was read


def test_cli_table_and_json(wn_map):
    res = invoke("compare", f"{wn_map}:level_1", f"{wn_map}:level_3")
    assert res.code == 0, res.stderr
    for word in ("NMI", "ARI", "pure classes", "pure leaves", "H(B|A)", "A nests in B", "558 of 558"):
        assert word in res.out, word
    res = invoke("compare", f"{wn_map}:level_1", f"{wn_map}:level_3", "--json")
    data = json.loads(res.out)
    assert data["a"]["level"] == "level_1" and data["b"]["level"] == "level_3"
    assert set(data) >= {"nmi", "ari", "pure_classes", "pure_leaves", "h_target_given_pre", "h_target",
                         "a_refines_b", "b_refines_a", "num_leaves", "classes_a", "classes_b"}


def _map(path: Path, ids: list[str]) -> Path:
    lv = Level.from_keys("g", np.arange(len(ids)) % 2, str, str)
    write_label_map(Hierarchy(ids, ids, [lv], {}), path)
    return path


def test_different_leaves_name_the_first_difference(tmp_path):
    a = _map(tmp_path / "a.parquet", ["x", "y", "z"])
    b = _map(tmp_path / "b.parquet", ["x", "q", "z"])
    c = _map(tmp_path / "c.parquet", ["x", "y"])
    res = invoke("compare", a, b)
    assert_one_line_error(res, "different leaves", "leaf 1 is 'y' in", "a.parquet", "but 'q' in", "b.parquet")
    res = invoke("compare", a, c)
    assert_one_line_error(res, "3 leaves", "2", "'z'")
    assert res.stdout == b""


@pytest.mark.parametrize("spec_a, spec_b, fragments", [
    ("{map}", "{map}:level_3", ["A '", "3 levels", "MAP:LEVEL", "in1k.wordnet.parquet:level_0"]),
    ("{map}:level_1", "{map}:level_9", ["B", "no level 'level_9'", "level_0, level_1, level_3"]),
    ("{dir}/missing.parquet", "{map}:level_1", ["missing.parquet", "does not exist"]),
    ("{dir}/bad.parquet", "{map}:level_1", ["bad.parquet", "missing column 'level_name'"]),
])
def test_bad_input(wn_map, tmp_path, spec_a, spec_b, fragments):
    pq.write_table(pa.table({"leaf_index": pa.array([0], pa.int32()), "leaf_id": ["a"], "leaf_name": ["a"],
                             "level": pa.array([0], pa.int32()), "level_id": ["g"]}),
                   tmp_path / "bad.parquet")
    table = pq.read_table(tmp_path / "bad.parquet")
    meta = {b"granularity": json.dumps({"schema": 1, "levels": ["level"]}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "bad.parquet")
    res = invoke("compare", spec_a.format(map=wn_map, dir=tmp_path), spec_b.format(map=wn_map, dir=tmp_path))
    assert_one_line_error(res, *fragments)
    assert res.stdout == b""


# ----------------------------------------------------------------------------- --tree


@pytest.fixture(scope="module")
def depth_map(tmp_path_factory) -> Path:
    from hierarchy_cli.sources.wordnet import build_wordnet

    path = tmp_path_factory.mktemp("tree") / "in1k.depth.parquet"
    write_label_map(build_wordnet(dataset="imagenet1k", depths=range(0, 17)), path)
    return path


KEYS = {"a", "b", "nmi", "ari", "pure_classes", "pure_leaves", "h_target_given_pre", "h_target",
        "a_refines_b", "b_refines_a", "num_leaves", "classes_a", "classes_b"}


def test_tree_measure_against_the_matrix(wn_map, depth_map):
    from hierarchy_cli.lca import lca_matrix

    plain = json.loads(invoke("compare", f"{wn_map}:level_1", f"{wn_map}:level_3", "--json").out)
    assert set(plain) == KEYS  # nothing new unless asked
    res = invoke("compare", f"{wn_map}:level_1", f"{wn_map}:level_3", "--tree", depth_map, "--json")
    assert res.code == 0, res.stderr
    data = json.loads(res.out)
    assert {k: v for k, v in data.items() if k != "tree"} == plain  # the other keys as they were
    t = data["tree"]
    h = lca_matrix(str(depth_map)).astype(np.int64)
    from hierarchy_cli.labelmap import read_label_map

    pre = read_label_map(wn_map).lookup("level_1")
    same = np.triu(pre[:, None] == pre[None, :], 1)
    assert t["pairs"] == int(same.sum()) and t["mean_lca_height"] == pytest.approx(h[same].mean())
    assert t["random_mean_lca_height"] == pytest.approx(h[np.triu(np.ones_like(same), 1)].mean())
    assert t["source"] == str(depth_map) and t["levels"][0] == "depth_16" and t["height"] == int(h.max())
    # the WordNet level merges close relatives; its random control does not
    assert t["mean_lca_height"] < 2 < t["random_mean_lca_height"]
    table = invoke("compare", f"{wn_map}:level_1", f"{wn_map}:level_3", "--tree", depth_map)
    assert "LCA height" in table.out and f"{t['pairs']:,} pairs" in table.out
    assert f"{t['random_mean_lca_height']:.4f}" in table.out


def test_tree_bad_input(wn_map, depth_map, tmp_path):
    other = _map(tmp_path / "o.parquet", ["x", "y", "z"])
    cases = [
        ([f"{wn_map}:level_1", f"{wn_map}:level_3", "--tree", other], ["other leaves than A", "leaf 0"]),
        ([f"{wn_map}:level_1", f"{wn_map}:level_3", "--tree", f"{wn_map}:level_3,level_1"],
         ["--tree", "levels 'level_3' and 'level_1' do not nest"]),
        ([f"{wn_map}:level_1", f"{wn_map}:level_3", "--tree", f"{depth_map}:depth_9,depth_99"],
         ["--tree", "no level 'depth_99'"]),
        (["-", f"{wn_map}:level_3", "--tree", "-"], ["stdin", "only once"]),
    ]
    for args, fragments in cases:
        res = invoke("compare", *args)
        assert_one_line_error(res, *fragments)
        assert res.stdout == b""
