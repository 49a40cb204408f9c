"""``granularity export``: TSV/CSV/JSON, class_to_idx, HF ClassLabel names, bad input."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import assert_one_line_error, invoke
from hierarchy_cli.hierarchy import Hierarchy, Level
from hierarchy_cli.labelmap import write_label_map

LEAVES = ["n01", "n02", "n03", "n04", "n05"]
NAMES = ["tabby", "lion", "dog, domestic", "wolf", "oak"]
L1 = np.array([0, 0, 1, 1, 2], dtype=np.int32)
L2 = np.array([0, 0, 0, 0, 1], dtype=np.int32)


@pytest.fixture
def label_map(tmp_path):
    # two labels of level_1 share the name "mammal" (as WordNet nodes can): keys must stay unique
    h = Hierarchy(
        LEAVES, NAMES,
        [Level("level_1", L1, ("n10", "n11", "n12"), ("mammal", "mammal", "tree")),
         Level("level_2", L2, ("n20", "n21"), ("animal", "plant"))],
        {"method": "test"},
    )
    path = tmp_path / "map.parquet"
    write_label_map(h, path)
    return path


def test_tsv_and_csv_whole_map(tmp_path, label_map):
    res = invoke("export", label_map, "--format", "tsv", "-o", "-")
    assert res.code == 0, res.stderr
    rows = [line.split("\t") for line in res.out.splitlines()]
    assert rows[0] == ["leaf_index", "leaf_id", "leaf_name", "level_1", "level_1_id", "level_1_name",
                       "level_2", "level_2_id", "level_2_name"]
    assert rows[3] == ["2", "n03", "dog, domestic", "1", "n11", "mammal", "0", "n20", "animal"]
    assert len(rows) == 6
    res = invoke("export", label_map, "--format", "csv", "-o", "-")
    parsed = list(csv.reader(io.StringIO(res.out)))
    assert parsed[3][2] == "dog, domestic" and len(parsed[0]) == 9


def test_one_level_to_a_file(tmp_path, label_map):
    out = tmp_path / "l2.tsv"
    res = invoke("export", label_map, "--format", "tsv", "--level", "level_2", "-o", out)
    assert res.code == 0, res.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "leaf_index\tleaf_id\tleaf_name\tlevel_2\tlevel_2_id\tlevel_2_name"
    assert lines[5] == "4\tn05\toak\t1\tn21\tplant"


def test_json(label_map):
    res = invoke("export", label_map, "--format", "json", "-o", "-")
    doc = json.loads(res.out)
    assert doc["leaves"] == {"ids": LEAVES, "names": NAMES}
    assert doc["levels"]["level_1"] == {"num_classes": 3, "labels": L1.tolist(),
                                        "ids": ["n10", "n11", "n12"], "names": ["mammal", "mammal", "tree"]}
    assert doc["granularity"]["method"] == "test"
    one = json.loads(invoke("export", label_map, "-f", "json", "-l", "level_2", "-o", "-").out)
    assert list(one["levels"]) == ["level_2"]


def test_class_to_idx_unique_keys(label_map):
    res = invoke("export", label_map, "--format", "class-to-idx", "--level", "level_1", "-o", "-")
    assert res.code == 0, res.stderr
    assert json.loads(res.out) == {"mammal (n10)": 0, "mammal (n11)": 1, "tree": 2}
    res = invoke("export", label_map, "-f", "class-to-idx", "-l", "level_1", "--key", "id", "-o", "-")
    assert json.loads(res.out) == {"n10": 0, "n11": 1, "n12": 2}
    # keys in label order, so the file reads in index order
    assert list(json.loads(res.out).values()) == [0, 1, 2]


def test_hf_names(label_map):
    res = invoke("export", label_map, "--format", "hf-names", "--level", "level_1", "-o", "-")
    assert json.loads(res.out) == ["mammal (n10)", "mammal (n11)", "tree"]
    res = invoke("export", label_map, "-f", "hf-names", "-l", "level_2", "--lines", "-o", "-")
    assert res.out == "animal\nplant\n"


def test_hf_names_work_with_datasets_classlabel_if_installed(label_map):
    datasets = pytest.importorskip("datasets")
    names = json.loads(invoke("export", label_map, "-f", "hf-names", "-l", "level_1", "-o", "-").out)
    cl = datasets.ClassLabel(names=names)
    assert cl.num_classes == 3 and cl.str2int("tree") == 2


def test_deterministic_and_default_name(tmp_path, label_map, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for fmt, name in [("tsv", "map.tsv"), ("json", "map.json")]:
        assert invoke("export", label_map, "-f", fmt).code == 0
        first = (tmp_path / name).read_bytes()
        assert invoke("export", label_map, "-f", fmt).code == 0
        assert (tmp_path / name).read_bytes() == first
    assert invoke("export", label_map, "-f", "class-to-idx", "-l", "level_2").code == 0
    assert (tmp_path / "map.level_2.class_to_idx.json").is_file()
    assert invoke("export", label_map, "-f", "hf-names", "-l", "level_2", "--lines").code == 0
    assert (tmp_path / "map.level_2.names.txt").read_text() == "animal\nplant\n"


def test_single_level_map_needs_no_level(tmp_path):
    h = Hierarchy(["a", "b"], ["A", "B"], [Level("k2", np.array([0, 1], np.int32), ("c0", "c1"), ("c0", "c1"))])
    path = tmp_path / "k.parquet"
    write_label_map(h, path)
    res = invoke("export", path, "-f", "hf-names", "-o", "-")
    assert json.loads(res.out) == ["c0", "c1"]


def test_bad_level_format_and_maps(tmp_path, label_map):
    out = tmp_path / "o.json"
    res = invoke("export", label_map, "-f", "tsv", "-l", "level_7", "-o", out)
    assert_one_line_error(res, "'level_7'", "level_1, level_2")
    res = invoke("export", label_map, "-f", "class-to-idx", "-o", out)
    assert_one_line_error(res, "needs --level", "level_1, level_2")
    res = invoke("export", label_map, "-f", "yaml", "-o", out)
    assert_one_line_error(res, "--format 'yaml'")
    res = invoke("export", label_map, "-f", "tsv", "--lines", "-o", out)
    assert_one_line_error(res, "--lines")
    res = invoke("export", label_map, "-f", "class-to-idx", "-l", "level_1", "--key", "label", "-o", out)
    assert_one_line_error(res, "--key 'label'")
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"leaf_index": pa.array([0], pa.int32()), "leaf_id": ["x"], "leaf_name": ["x"],
                             "level_1": pa.array([0], pa.int32()), "level_1_id": ["a"]}), bad)
    res = invoke("export", bad, "-f", "tsv", "-o", out)
    assert_one_line_error(res, "bad.parquet", "missing column 'level_1_name'")
    nomap = tmp_path / "nomap.parquet"
    pq.write_table(pa.table({"wnid": ["x"]}), nomap)
    res = invoke("export", nomap, "-f", "json", "-o", out)
    assert_one_line_error(res, "nomap.parquet", "missing column 'leaf_index'")
    text = tmp_path / "words.txt"
    text.write_text("n01\n")
    res = invoke("export", text, "-f", "json", "-o", out)
    assert_one_line_error(res, "words.txt", "not a readable parquet file")
    res = invoke("export", tmp_path / "absent.parquet", "-f", "json", "-o", out)
    assert_one_line_error(res, "does not exist")
    assert not out.exists()


# ----------------------------------------------------------------------------- LCA matrices


@pytest.fixture
def tree_map(tmp_path):
    """Five leaves in a tree of height 3 (root -> A, B; A -> A1, l3; A1 -> l1, l2; B -> C -> l4, l5)."""
    keys = {"depth_2": ["A1", "A1", "l3", "C", "C"], "depth_1": ["A", "A", "A", "B", "B"]}
    ids = ["l1", "l2", "l3", "l4", "l5"]
    levels = [Level.from_keys(name, np.array(k), str, str) for name, k in keys.items()]
    path = tmp_path / "tree.parquet"
    write_label_map(Hierarchy(ids, ids, levels, {"method": "test"}), path)
    return path


HEIGHT = [[0, 1, 2, 3, 3], [1, 0, 2, 3, 3], [2, 2, 0, 3, 3], [3, 3, 3, 0, 1], [3, 3, 3, 1, 0]]


def test_lca_npy_is_numpy_save_of_the_matrix(tmp_path, tree_map):
    from hierarchy_cli.lca import lca_matrix

    out = tmp_path / "h.npy"
    res = invoke("export", tree_map, "-f", "lca-height", "-o", out)
    assert res.code == 0, res.stderr
    assert "5 x 5 uint8 (25 bytes)" in res.stderr and f"wrote {out}" in res.stderr
    m = np.load(out)
    assert m.dtype == np.uint8 and m.tolist() == HEIGHT
    buf = io.BytesIO()
    np.save(buf, lca_matrix(str(tree_map)))
    assert out.read_bytes() == buf.getvalue()
    res = invoke("export", tree_map, "-f", "lca-distance", "-o", "-")
    assert res.code == 0, res.stderr
    d = np.load(io.BytesIO(res.stdout))
    assert d[0].tolist() == [0, 2, 3, 6, 6] and (d == d.T).all()


def test_lca_parquet_one_row_per_leaf_with_metadata(tmp_path, tree_map):
    out = tmp_path / "d.parquet"
    res = invoke("export", tree_map, "-f", "lca-distance", "-o", out)
    assert res.code == 0, res.stderr
    table = pq.read_table(out)
    assert table.column_names == ["leaf_index", "leaf_id", "lca_distance"]
    assert str(table.schema.field("lca_distance").type) == "fixed_size_list<element: uint8>[5]"
    assert table.column("leaf_id").to_pylist() == ["l1", "l2", "l3", "l4", "l5"]
    assert table.column("lca_distance").to_pylist()[3] == [6, 6, 5, 0, 2]
    meta = json.loads(table.schema.metadata[b"granularity"])
    assert meta["kind"] == "distance" and meta["dtype"] == "uint8" and meta["num_leaves"] == 5
    assert meta["levels"] == ["depth_2", "depth_1"] and meta["tree"]["height"] == 3
    assert meta["map"] == {"name": "tree.parquet", "sha256": __import__("hashlib").sha256(
        tree_map.read_bytes()).hexdigest()}
    pd = pytest.importorskip("pandas")
    rows = pd.read_parquet(out)["lca_distance"]
    assert np.stack(rows.to_list()).shape == (5, 5)


def test_lca_exports_are_byte_identical_and_named_by_default(tmp_path, tree_map, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args, name in [((), "tree.lca_height.npy"), (("-l", "depth_2"), "tree.depth_2.lca_height.npy")]:
        assert invoke("export", tree_map, "-f", "lca-height", *args).code == 0
        first = (tmp_path / name).read_bytes()
        assert invoke("export", tree_map, "-f", "lca-height", *args).code == 0
        assert (tmp_path / name).read_bytes() == first
    # depth_2 alone: its groups under an implicit root
    assert np.load(tmp_path / "tree.depth_2.lca_height.npy")[0].tolist() == [0, 1, 2, 2, 2]
    assert invoke("export", tree_map, "-f", "lca-height", "-o", "a.parquet").code == 0
    first = (tmp_path / "a.parquet").read_bytes()
    assert invoke("export", tree_map, "-f", "lca-height", "-o", "a.parquet").code == 0
    assert (tmp_path / "a.parquet").read_bytes() == first


def test_lca_bad_inputs_write_nothing(tmp_path, tree_map, label_map):
    out = tmp_path / "out"
    out.mkdir()
    cases = [
        (["-f", "lca-height", "-o", out / "m.csv"], ["-o", "m.csv", ".npy or a .parquet", "not .csv"]),
        (["-f", "lca-height", "-o", out / "m"], ["a name without an extension"]),
        (["-f", "lca-distance", "-l", "depth_7", "-o", out / "m.npy"], ["--level", "'depth_7'", "depth_2, depth_1"]),
        (["-f", "lca-height", "-l", "depth_1,depth_2", "-o", out / "m.npy"],
         ["levels 'depth_1' and 'depth_2' do not nest", "finest first"]),
        (["-f", "lca-height", "-l", "depth_2,depth_2", "-o", out / "m.npy"], ["'depth_2' is given twice"]),
        (["-f", "lca-height", "-o", tmp_path / "no" / "m.npy"], ["folder", "does not exist"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(invoke("export", tree_map, *args), *fragments)
    # level_1 and level_2 of the other fixture do nest; a map whose levels do not is refused
    bad = tmp_path / "bad.parquet"
    ids = ["a", "b", "c"]
    write_label_map(Hierarchy(ids, ids, [Level.from_keys("x", np.array([0, 0, 1]), str, str),
                                         Level.from_keys("y", np.array([0, 1, 1]), str, str)], {}), bad)
    assert_one_line_error(invoke("export", bad, "-f", "lca-height", "-o", out / "m.npy"),
                          "--level", "bad.parquet", "levels 'x' and 'y' do not nest")
    assert list(out.iterdir()) == []
    assert invoke("export", label_map, "-f", "lca-height", "-o", out / "ok.npy").code == 0
