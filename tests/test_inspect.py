"""granularity inspect: level summary, --tree, --lineage, --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import assert_one_line_error, invoke
from hierarchy_cli.hierarchy import Hierarchy, Level
from hierarchy_cli.inspection import lineage, summarize, tree
from hierarchy_cli.labelmap import write_label_map


@pytest.fixture(scope="module")
def wn_map(tmp_path_factory) -> Path:
    from hierarchy_cli.sources.wordnet import build_wordnet

    path = tmp_path_factory.mktemp("ref") / "in1k.wordnet.parquet"
    write_label_map(build_wordnet(dataset="imagenet1k", levels=[0, 1, 3]), path)
    return path


def _small() -> Hierarchy:
    """Six leaves: fine groups {a,b} {c} {d,e,f}; coarse {a,b,c} {d,e,f}."""
    fine = Level.from_keys("fine", np.array([0, 0, 1, 2, 2, 2]), ["F0", "F1", "F2"], ["ab", "c", "def"])
    coarse = Level.from_keys("coarse", np.array([0, 0, 0, 1, 1, 1]), ["C0", "C1"], ["abc", "def"])
    return Hierarchy(list("abcdef"), [x.upper() for x in "abcdef"], [fine, coarse],
                     {"method": "test"}, nested=True).validate()


@pytest.fixture
def small_map(tmp_path) -> Path:
    path = tmp_path / "small.parquet"
    write_label_map(_small(), path)
    return path


def test_summarize_api():
    s = summarize(_small())
    assert s["num_leaves"] == 6 and s["nested"] is True
    fine, coarse = s["levels"]
    assert (fine["name"], fine["classes"], fine["min"], fine["median"], fine["max"]) == ("fine", 3, 1, 2, 3)
    assert fine["singletons"] == 1 and fine["nests_in_next"] is True
    assert (coarse["classes"], coarse["min"], coarse["median"], coarse["max"]) == (2, 3, 3, 3)
    assert coarse["nests_in_next"] is None


def test_summary_table_on_stdout(wn_map):
    res = invoke("inspect", wn_map)
    assert res.code == 0, res.stderr
    out = res.out
    assert "1,000 leaves, 3 levels, nested" in out
    row = next(line for line in out.splitlines() if line.startswith("level_1"))
    assert re.findall(r"[\d,]+", row.split("│", 1)[1])[:4] == ["558", "1", "1", "18"]


def test_summary_json(wn_map):
    res = invoke("inspect", wn_map, "--json")
    assert res.code == 0, res.stderr
    data = json.loads(res.out)
    assert [lv["name"] for lv in data["levels"]] == ["level_0", "level_1", "level_3"]
    assert [lv["classes"] for lv in data["levels"]] == [1000, 558, 188]
    assert data["levels"][2]["max"] == 74 and data["metadata"]["source"] == "wordnet"


def test_lineage_by_id_and_index(wn_map):
    res = invoke("inspect", wn_map, "--lineage", "n01440764", "--lineage", "5")
    assert res.code == 0, res.stderr
    lines = res.out.splitlines()
    assert lines[0].split("\t") == ["0", "n01440764", "soft-finned fish;cyprinid;tench",
                                    "n01428580;n01439121;n01440764"]
    assert lines[1].startswith("5\tn01496331\t") and lines[1].split("\t")[2].endswith(";electric ray")


def test_lineage_json_and_api():
    h = _small()
    r = lineage(h, "b")
    assert r["leaf_index"] == 1 and r["names"] == ["abc", "ab", "B"] and r["ids"] == ["C0", "F0", "b"]
    assert [x["size"] for x in r["levels"]] == [2, 3]
    assert lineage(h, 4)["names"] == ["def", "def", "E"]


def test_lineage_json_cli(small_map):
    res = invoke("inspect", small_map, "--lineage", "c", "--json")
    assert res.code == 0, res.stderr
    data = json.loads(res.out)
    assert data["leaf_id"] == "c" and data["levels"][0] == {"level": "fine", "label": 1, "id": "F1",
                                                           "name": "c", "size": 1}


@pytest.mark.parametrize("value, fragment", [("nope", "--lineage 'nope': no leaf with that id"),
                                            ("6", "leaf indexes run 0..5")])
def test_lineage_unknown_is_an_error(small_map, value, fragment):
    res = invoke("inspect", small_map, "--lineage", value)
    assert_one_line_error(res, fragment)
    assert res.stdout == b""


def test_tree_small():
    node = tree(_small())
    assert [c.name for c in node.children] == ["abc", "def"]  # ties by label
    abc = node.children[0]
    assert [c.name for c in abc.children] == ["ab", "c"]
    assert abc.children[0].collapsed == 2  # leaves below, beyond max_depth 2
    deep = tree(_small(), max_depth=3)
    assert [c.id for c in deep.children[0].children[0].children] == ["a", "b"]
    cut = tree(_small(), max_children=1)
    assert cut.hidden_children == 1 and cut.hidden_leaves == 3


def test_tree_is_truncated_for_big_maps(wn_map):
    res = invoke("inspect", wn_map, "--tree")
    assert res.code == 0, res.stderr
    lines = res.out.splitlines()
    assert lines[0] == "1,000 leaves"
    assert len(lines) <= 1 + 10 * (1 + 10 + 1) + 1  # top, 10 groups x (10 children + "more"), "more"
    assert re.search(r"… 178 more \([\d,]+ leaves\)", res.out)
    res = invoke("inspect", wn_map, "--tree", "--max-children", "2", "--max-depth", "3", "--root", "n01503061")
    assert res.code == 0, res.stderr
    assert res.out.splitlines()[0].startswith("bird  n01503061  level_3")
    assert len(res.out.splitlines()) <= 1 + 2 + 4 + 8 + 7


def test_tree_json_and_level_choice(wn_map):
    res = invoke("inspect", wn_map, "--tree", "--level", "level_1,level_3", "--max-children", "1", "--json")
    assert res.code == 0, res.stderr
    data = json.loads(res.out)
    assert data["size"] == 1000 and data["more"]["children"] == 187
    child = data["children"][0]
    assert child["level"] == "level_3" and child["children"][0]["level"] == "level_1"


def test_tree_needs_nested_levels(tmp_path):
    a = Level.from_keys("a", np.array([0, 0, 1, 1]), str, str)
    b = Level.from_keys("b", np.array([0, 1, 1, 0]), str, str)
    path = tmp_path / "x.parquet"
    write_label_map(Hierarchy(list("wxyz"), list("wxyz"), [a, b], {}), path)
    res = invoke("inspect", path, "--tree")
    assert_one_line_error(res, "--tree needs nested levels", "'a' does not nest in 'b'")
    assert invoke("inspect", path, "--tree", "--level", "b").code == 0


@pytest.mark.parametrize("args, fragments", [
    (["--tree", "--level", "level_9"], ["--level 'level_9'", "levels are: level_0, level_1, level_3"]),
    (["--tree", "--root", "n99999999"], ["--root 'n99999999'"]),
    (["--tree", "--max-children", "0"], ["--max-children 0"]),
    (["--max-depth", "4"], ["--max-depth only applies with --tree"]),
    (["--tree", "--lineage", "0"], ["--tree or --lineage"]),
])
def test_bad_options(wn_map, args, fragments):
    res = invoke("inspect", wn_map, *args)
    assert_one_line_error(res, *fragments)
    assert res.stdout == b""


def test_bad_maps(tmp_path):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"leaf_index": pa.array([0], pa.int32()), "leaf_name": ["a"],
                             "lv": pa.array([0], pa.int32())}), bad)
    assert_one_line_error(invoke("inspect", bad), "bad.parquet", "missing column 'leaf_id'")
    (tmp_path / "text.parquet").write_text("not parquet")
    assert_one_line_error(invoke("inspect", tmp_path / "text.parquet"), "not a readable parquet file")
    assert_one_line_error(invoke("inspect", tmp_path / "none.parquet"), "does not exist")
