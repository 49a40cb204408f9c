"""``granularity apply`` and the Relabeler core: happy paths, formats, bad input."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_one_line_error, invoke, run_cli
from hierarchy_cli.apply import UnknownLeavesError, make_relabeler, relabel_table
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.hierarchy import Hierarchy, Level
from hierarchy_cli.labelmap import write_label_map

LEAVES = ["n00000001", "n00000002", "n00000003", "n00000004", "n00000005", "n00000006"]
NAMES = ["cat", "lion", "dog", "wolf", "oak", "pine"]
# level_1: felid, canid, tree; level_2: animal, plant
L1 = np.array([0, 0, 1, 1, 2, 2], dtype=np.int32)
L2 = np.array([0, 0, 0, 0, 1, 1], dtype=np.int32)


@pytest.fixture
def label_map(tmp_path):
    h = Hierarchy(
        LEAVES, NAMES,
        [Level("level_1", L1, ("n10", "n11", "n12"), ("felid", "canid", "tree")),
         Level("level_2", L2, ("n20", "n21"), ("animal", "plant"))],
        {"method": "test"},
    )
    path = tmp_path / "map.parquet"
    write_label_map(h, path)
    return path


def manifest_table(n=50, seed=0):
    rng = np.random.default_rng(seed)
    leaf = rng.integers(0, len(LEAVES), n).astype(np.int32)
    ids = [LEAVES[i] for i in leaf]
    return pa.table({
        "sample_id": pa.array([f"s{i}" for i in range(n)]),
        "leaf_id": pa.array(ids),
        "path": pa.array([f"train/{w}/{w}_{i}.JPEG" for i, w in enumerate(ids)]),
        "weight": pa.array(rng.random(n)),
    }), leaf


def write_manifest(tmp_path, table, name="m.parquet"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(table, path)
    else:
        pcsv.write_csv(table, path, pcsv.WriteOptions(delimiter="\t" if name.endswith(".tsv") else ","))
    return path


def read_out(path):
    return pq.read_table(path) if str(path).endswith(".parquet") else pcsv.read_csv(
        path, parse_options=pcsv.ParseOptions(delimiter="\t" if str(path).endswith(".tsv") else ","))


# ----------------------------------------------------------------------------- happy paths


def test_parquet_by_leaf_id(tmp_path, label_map):
    table, leaf = manifest_table()
    m = write_manifest(tmp_path, table)
    out = tmp_path / "out.parquet"
    res = invoke("apply", m, "--map", label_map, "-o", out)
    assert res.code == 0, res.stderr
    t = pq.read_table(out)
    assert t.column_names == ["sample_id", "leaf_id", "path", "weight", "level_1", "level_2"]
    assert t.schema.field("level_1").type == pa.int32()
    assert t.column("level_1").to_numpy().tolist() == L1[leaf].tolist()
    assert t.column("level_2").to_numpy().tolist() == L2[leaf].tolist()
    assert t.column("sample_id").to_pylist() == table.column("sample_id").to_pylist()
    assert t.column("weight").to_pylist() == table.column("weight").to_pylist()
    meta = json.loads(t.schema.metadata[b"granularity"])
    assert meta["method"] == "apply" and meta["levels"] == ["level_1", "level_2"]
    assert meta["key"] == {"column": "leaf_id", "kind": "id"}
    assert meta["manifest"]["name"] == "m.parquet" and len(meta["manifest"]["sha256"]) == 64
    assert meta["map"]["name"] == "map.parquet" and len(meta["map"]["sha256"]) == 64
    assert "wrote" in res.stderr


def test_level_choice_ids_names_and_leaf_index(tmp_path, label_map):
    table, leaf = manifest_table()
    m = write_manifest(tmp_path, table)
    out = tmp_path / "out.parquet"
    res = invoke("apply", m, "--map", label_map, "--level", "level_2", "--ids", "--names", "--leaf-index",
                 "-o", out)
    assert res.code == 0, res.stderr
    t = pq.read_table(out)
    assert t.column_names[-4:] == ["leaf_index", "level_2", "level_2_id", "level_2_name"]
    assert t.column("leaf_index").to_pylist() == leaf.tolist()
    assert t.column("level_2_id").to_pylist() == [["n20", "n21"][k] for k in L2[leaf]]
    assert t.column("level_2_name").to_pylist() == [["animal", "plant"][k] for k in L2[leaf]]
    # comma-separated levels, in the order given
    res = invoke("apply", m, "--map", label_map, "-l", "level_2,level_1", "-o", out)
    assert res.code == 0, res.stderr
    assert pq.read_table(out).column_names[-2:] == ["level_2", "level_1"]


def test_integer_label_column_is_a_leaf_index(tmp_path, label_map):
    leaf = np.array([5, 0, 3, 3, 1], dtype=np.int64)
    m = write_manifest(tmp_path, pa.table({"file": ["a", "b", "c", "d", "e"], "label": leaf}))
    out = tmp_path / "o.parquet"
    res = invoke("apply", m, "--map", label_map, "-o", out)
    assert res.code == 0, res.stderr
    assert pq.read_table(out).column("level_1").to_pylist() == L1[leaf].tolist()
    assert "'label' (leaf index)" in " ".join(res.stderr.split())


@pytest.mark.parametrize("paths", [
    ["n00000003/n00000003_1.JPEG", "x/n00000005/n00000005_7.JPEG", "n00000001/a.jpg"],   # folder
    ["n00000003_1.JPEG", "flat/n00000005_7.JPEG", "images/n00000001_99.png"],            # file prefix
])
def test_path_column(tmp_path, label_map, paths):
    m = write_manifest(tmp_path, pa.table({"path": paths}))
    out = tmp_path / "o.parquet"
    res = invoke("apply", m, "--map", label_map, "--path-column", "path", "--leaf-index", "-o", out)
    assert res.code == 0, res.stderr
    t = pq.read_table(out)
    assert t.column("leaf_index").to_pylist() == [2, 4, 0]
    assert t.column("level_1").to_pylist() == [1, 2, 0]


def test_path_column_auto_detected_and_pattern(tmp_path, label_map):
    m = write_manifest(tmp_path, pa.table({"path": ["a/b/n00000002.jpg", "a/b/n00000006.jpg"]}))
    out = tmp_path / "o.parquet"
    res = invoke("apply", m, "--map", label_map, "-p", "path", "--path-pattern", r"/(n\d{8})\.jpg$", "-o", out)
    assert res.code == 0, res.stderr
    assert pq.read_table(out).column("level_2").to_pylist() == [0, 1]
    res = invoke("apply", m, "--map", label_map, "-p", "path", "--path-pattern", r"(?P<id>n\d+)", "-o", out)
    assert res.code == 0, res.stderr
    # no id column at all: the path column is found by its name, default rule fails here
    m2 = write_manifest(tmp_path, pa.table({"path": ["n00000004/n00000004_1.JPEG"]}), "m2.parquet")
    res = invoke("apply", m2, "--map", label_map, "-o", out)
    assert res.code == 0, res.stderr
    assert pq.read_table(out).column("level_1").to_pylist() == [1]


@pytest.mark.parametrize("inp,outname", [("m.csv", "o.csv"), ("m.tsv", "o.tsv"), ("m.csv", "o.parquet"),
                                         ("m.parquet", "o.tsv")])
def test_csv_tsv_formats(tmp_path, label_map, inp, outname):
    table, leaf = manifest_table()
    m = write_manifest(tmp_path, table, inp)
    out = tmp_path / outname
    res = invoke("apply", m, "--map", label_map, "--names", "-o", out)
    assert res.code == 0, res.stderr
    t = read_out(out)
    assert t.column("level_1").to_pylist() == L1[leaf].tolist()
    assert t.column("level_1_name").to_pylist() == [["felid", "canid", "tree"][k] for k in L1[leaf]]
    assert t.column("sample_id").to_pylist() == table.column("sample_id").to_pylist()


def test_compressed_csv_and_tsv(tmp_path, label_map):
    import gzip

    (tmp_path / "m.tsv.gz").write_bytes(gzip.compress(b"wnid\tn\nn00000005\t1\nn00000002\t2\n"))
    res = invoke("apply", tmp_path / "m.tsv.gz", "--map", label_map, "-l", "level_1", "-f", "tsv", "-o", "-")
    assert res.code == 0, res.stderr
    assert res.out.splitlines() == ["wnid\tn\tlevel_1", "n00000005\t1\t2", "n00000002\t2\t0"]
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    res = invoke("apply", tmp_path / "bad.csv.gz", "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "bad.csv.gz")
    assert not (tmp_path / "o.parquet").exists()


def test_tsv_output_refuses_a_value_with_a_tab(tmp_path, label_map):
    m = write_manifest(tmp_path, pa.table({"leaf_id": ["n00000001"], "note": ["a\tb"]}))
    out = tmp_path / "o.tsv"
    res = invoke("apply", m, "--map", label_map, "-o", out)
    assert_one_line_error(res, "cannot write TSV", "write CSV or parquet")
    assert not out.exists()


def test_numeric_looking_ids_stay_ids_in_csv(tmp_path):
    h = Hierarchy(["0042", "17"], ["a", "b"], [Level("genus", np.array([0, 0], np.int32), ("g",), ("G",))])
    mp = tmp_path / "taxa.parquet"
    write_label_map(h, mp)
    m = tmp_path / "m.csv"
    m.write_text("img,leaf_id\nx.jpg,0042\ny.jpg,17\n")
    res = invoke("apply", m, "--map", mp, "--leaf-index", "-o", tmp_path / "o.csv")
    assert res.code == 0, res.stderr
    assert (tmp_path / "o.csv").read_text().splitlines()[1:] == ['"x.jpg","0042",0,0', '"y.jpg","17",1,0']


def test_stdin_to_stdout(tmp_path, label_map):
    csv_in = "wnid,n\nn00000004,1\nn00000001,2\n".encode()
    res = invoke("apply", "-", "--map", label_map, "--format", "csv", "-o", "-", stdin=csv_in)
    assert res.code == 0, res.stderr
    assert res.out.splitlines() == ['"wnid","n","level_1","level_2"', '"n00000004",1,1,0', '"n00000001",2,0,0']
    # parquet through a pipe, in a real process
    table, leaf = manifest_table(20)
    m = write_manifest(tmp_path, table)
    proc = run_cli("apply", "-", "--map", label_map, "-o", "-", stdin=m.read_bytes())
    assert proc.code == 0, proc.stderr
    out = tmp_path / "piped.parquet"
    out.write_bytes(proc.stdout)
    assert pq.read_table(out).column("level_1").to_pylist() == L1[leaf].tolist()


def test_default_output_name(tmp_path, label_map, monkeypatch):
    table, _ = manifest_table(5)
    m = write_manifest(tmp_path, table, "train.parquet")
    monkeypatch.chdir(tmp_path)
    res = invoke("apply", m, "--map", label_map, "-l", "level_1")
    assert res.code == 0, res.stderr
    assert (tmp_path / "train.level_1.parquet").is_file()


def test_byte_identical_and_batch_size_independent(tmp_path, label_map):
    table, _ = manifest_table(300)
    m = write_manifest(tmp_path, table)
    outs = []
    for i, rows in enumerate(["1000", "1000", "7"]):
        out = tmp_path / f"o{i}.parquet"
        assert invoke("apply", m, "--map", label_map, "--ids", "--batch-rows", rows, "-o", out).code == 0
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert pq.read_table(outs[0]).equals(pq.read_table(outs[2]))


# ----------------------------------------------------------------------------- unknown leaves


def unknown_manifest(tmp_path, n=40, bad_rows=(3, 17, 33), name="m.parquet"):
    ids = [LEAVES[i % 6] for i in range(n)]
    for r in bad_rows:
        ids[r] = f"n9999{r:04d}"
    return write_manifest(tmp_path, pa.table({"leaf_id": ids, "i": list(range(n))}), name)


def test_unknown_error_counts_and_names_rows(tmp_path, label_map):
    m = unknown_manifest(tmp_path)
    out = tmp_path / "o.parquet"
    res = invoke("apply", m, "--map", label_map, "-o", out)
    assert_one_line_error(res, "3 rows", "'n99990003' (row 3)", "'n99990017' (row 17)", "(row 33)",
                          "--unknown drop")
    assert not out.exists()


def test_unknown_in_a_late_batch_leaves_no_file(tmp_path, label_map):
    m = unknown_manifest(tmp_path, n=400, bad_rows=(390, 399))
    out = tmp_path / "o.parquet"
    out_csv = tmp_path / "o.csv"
    res = invoke("apply", m, "--map", label_map, "--batch-rows", "16", "-o", out)
    assert_one_line_error(res, "2 rows", "(row 390)", "(row 399)")
    assert not out.exists()
    res = invoke("apply", m, "--map", label_map, "--batch-rows", "16", "-o", out_csv)
    assert_one_line_error(res, "2 rows")
    assert not out_csv.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.parquet", "map.parquet"]  # no temp file left
    # stdout gets nothing either
    res = invoke("apply", m, "--map", label_map, "--batch-rows", "16", "--format", "csv", "-o", "-")
    assert res.code == 2 and res.stdout == b""


def test_real_process_error_is_one_line(tmp_path, label_map):
    m = unknown_manifest(tmp_path, n=100, bad_rows=(99,))
    out = tmp_path / "o.parquet"
    res = run_cli("apply", m, "--map", label_map, "--batch-rows", "10", "-o", out)
    assert_one_line_error(res, "1 row of manifest", "has a leaf", "'n99990099' (row 99)")
    assert not out.exists()


def test_unknown_count_spans_batches(tmp_path, label_map):
    bad = tuple(range(0, 400, 10))
    m = unknown_manifest(tmp_path, n=400, bad_rows=bad)
    res = invoke("apply", m, "--map", label_map, "--batch-rows", "16", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "40 rows", "(row 0)", "(row 40)", "(35 more)")


def test_unknown_drop_and_keep(tmp_path, label_map):
    m = unknown_manifest(tmp_path)
    out = tmp_path / "o.parquet"
    res = invoke("apply", m, "--map", label_map, "--unknown", "drop", "--batch-rows", "8", "-o", out)
    assert res.code == 0, res.stderr
    t = pq.read_table(out)
    assert t.num_rows == 37 and 3 not in t.column("i").to_pylist()
    assert "3 rows with a leaf not in the map: dropped" in " ".join(res.stderr.split())
    res = invoke("apply", m, "--map", label_map, "--unknown", "keep", "--ids", "-o", out)
    assert res.code == 0, res.stderr
    t = pq.read_table(out)
    assert t.num_rows == 40
    lab = t.column("level_1").to_pylist()
    assert [i for i, v in enumerate(lab) if v is None] == [3, 17, 33]
    assert t.column("level_1_id").null_count == 3
    assert lab[0] == 0


def test_leaf_index_out_of_range_and_null_are_unknown(tmp_path, label_map):
    m = write_manifest(tmp_path, pa.table({"leaf_index": pa.array([0, 6, None, -1, 5], pa.int64())}))
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "3 rows", "6 (row 1)", "'<null>' (row 2)", "-1 (row 3)")
    m = write_manifest(tmp_path, pa.table({"path": ["n00000001/a.jpg", None, "", "zzz/n00000002_1.jpg",
                                                    "nothing_here.jpg"]}), "p.parquet")
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "3 rows", "'<null>' (row 1)", "'' (row 2)", "'nothing_here.jpg' (row 4)")


# ----------------------------------------------------------------------------- bad input


def test_missing_column_lists_the_available_ones(tmp_path, label_map):
    table, _ = manifest_table(5)
    m = write_manifest(tmp_path, table)
    res = invoke("apply", m, "--map", label_map, "--column", "wnid", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "no column 'wnid'", "sample_id, leaf_id, path, weight")
    res = invoke("apply", m, "--map", label_map, "--path-column", "file", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "no column 'file'", "--path-column")
    m2 = write_manifest(tmp_path, pa.table({"x": [1], "y": ["a"]}), "m2.parquet")
    res = invoke("apply", m2, "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "no leaf column", "--column", "columns are: x, y")
    assert not (tmp_path / "o.parquet").exists()


def test_bad_key_types_and_clashes(tmp_path, label_map):
    m = write_manifest(tmp_path, pa.table({"leaf_index": [0.5, 1.0], "level_1": [1, 2]}))
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "column 'leaf_index' has type double")
    m = write_manifest(tmp_path, pa.table({"leaf_id": ["n00000001"], "level_1": [1]}), "m2.parquet")
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "already has column 'level_1'")


def test_map_not_our_schema(tmp_path):
    table, _ = manifest_table(5)
    m = write_manifest(tmp_path, table)
    bad = tmp_path / "notamap.parquet"
    pq.write_table(pa.table({"leaf_index": pa.array([0, 1], pa.int32()), "leaf_name": ["a", "b"]}), bad)
    res = invoke("apply", m, "--map", bad, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "notamap.parquet", "missing column 'leaf_id'")
    txt = tmp_path / "map.txt"
    txt.write_text("not parquet\n")
    res = invoke("apply", m, "--map", txt, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "map.txt", "not a readable parquet file")
    assert not (tmp_path / "o.parquet").exists()


def test_level_that_does_not_exist(tmp_path, label_map):
    table, _ = manifest_table(5)
    m = write_manifest(tmp_path, table)
    res = invoke("apply", m, "--map", label_map, "--level", "level_9", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "'level_9'", "level_1, level_2")
    assert not (tmp_path / "o.parquet").exists()


def test_corrupt_empty_and_rowless_manifests(tmp_path, label_map):
    table, _ = manifest_table(50)
    good = write_manifest(tmp_path, table)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    out = tmp_path / "o.parquet"
    res = invoke("apply", corrupt, "--map", label_map, "-o", out)
    assert_one_line_error(res, "corrupt.parquet", "not a readable parquet file")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    res = invoke("apply", empty, "--map", label_map, "-o", out)
    assert_one_line_error(res, "empty.csv", "is empty")
    header = tmp_path / "header.csv"
    header.write_text("leaf_id,x\n")
    res = invoke("apply", header, "--map", label_map, "-o", out)
    assert_one_line_error(res, "header.csv", "has no rows")
    rowless = write_manifest(tmp_path, table.slice(0, 0), "rowless.parquet")
    res = invoke("apply", rowless, "--map", label_map, "-o", out)
    assert_one_line_error(res, "rowless.parquet", "has no rows")
    res = invoke("apply", tmp_path / "nope.parquet", "--map", label_map, "-o", out)
    assert_one_line_error(res, "nope.parquet", "does not exist")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("leaf_id,x\nn00000001,1\nn00000002\n")
    res = invoke("apply", ragged, "--map", label_map, "-o", out)
    assert_one_line_error(res, "ragged.csv", "not readable CSV")
    assert not out.exists()


def test_bad_options(tmp_path, label_map):
    table, _ = manifest_table(5)
    m = write_manifest(tmp_path, table)
    cases = [
        (["--unknown", "skip"], "--unknown 'skip'"),
        (["--key", "name"], "--key 'name'"),
        (["--format", "xlsx"], "--format 'xlsx'"),
        (["--path-pattern", "(a)(b)", "-p", "path"], "one capture group"),
        (["--path-pattern", "([a-"], "needs --path-column"),
        (["--column", "leaf_id", "-p", "path"], "not both"),
    ]
    for extra, frag in cases:
        res = invoke("apply", m, "--map", label_map, *extra, "-o", tmp_path / "o.parquet")
        assert_one_line_error(res, frag)
    res = invoke("apply", "-", "--map", "-", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "cannot both be read from stdin")
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "o.xlsx")
    assert_one_line_error(res, "cannot tell the output format")
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "missing" / "o.parquet")
    assert_one_line_error(res, "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.parquet", "map.parquet"]


# ----------------------------------------------------------------------------- the pure core


def test_relabeler_is_pure_and_picklable(label_map):
    table, leaf = manifest_table(100)
    rel = make_relabeler(label_map, ["level_1"], ids=True)
    rel2 = pickle.loads(pickle.dumps(rel))
    batch = table.to_batches()[0]
    a, b = rel(batch), rel2(batch)
    assert isinstance(a, pa.RecordBatch) and a.equals(b)
    assert rel(batch).equals(a)  # no state between calls
    assert a.schema.equals(rel.output_schema(table.schema))
    # per-slice results concatenate to the whole
    parts = [rel(batch.slice(i, 13)) for i in range(0, 100, 13)]
    assert pa.Table.from_batches(parts).equals(pa.Table.from_batches([a]))
    # a Table in, a Table out; the notebook entry point agrees
    assert relabel_table(table, label_map, ["level_1"], ids=True).equals(pa.Table.from_batches([a]))
    out = list(rel.map_batches(iter(parts and [batch.slice(0, 50), batch.slice(50)])))
    assert pa.Table.from_batches(out).equals(pa.Table.from_batches([a]))


def test_relabeler_pandas_and_dictionary_input(label_map):
    table, leaf = manifest_table(30)
    rel = make_relabeler(label_map, ["level_2"])
    df = table.to_pandas()
    df.index = df.index + 100
    out = rel.map_pandas(df)
    assert out["level_2"].tolist() == L2[leaf].tolist() and list(out.index) == list(df.index)
    dict_batch = pa.record_batch({"leaf_id": pa.array([LEAVES[i] for i in leaf]).dictionary_encode()})
    assert rel(dict_batch).column("level_2").to_pylist() == L2[leaf].tolist()
    large = pa.record_batch({"leaf_id": pa.array([LEAVES[i] for i in leaf], pa.large_string())})
    assert rel(large).column("level_2").to_pylist() == L2[leaf].tolist()
    plain = make_relabeler(label_map, ["level_2"], names=True, dictionary=False)(large)
    assert plain.schema.field("level_2_name").type == pa.string()
    assert plain.column("level_2_name").to_pylist() == [["animal", "plant"][k] for k in L2[leaf]]


def test_relabeler_raises_with_offset(label_map):
    rel = make_relabeler(label_map)
    batch = pa.record_batch({"leaf_id": ["n00000001", "nope"]})
    with pytest.raises(UnknownLeavesError) as err:
        rel(batch, row_offset=1000)
    assert err.value.count == 1 and err.value.examples == [("nope", "row 1001")]
    with pytest.raises(GranularityError, match="no level 'x'"):
        make_relabeler(label_map, ["x"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-2, 8), min_size=1, max_size=60), st.sampled_from(["drop", "keep"]),
       st.integers(1, 20))
def test_property_matches_lookup(values, mode, chunk):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        h = Hierarchy(LEAVES, NAMES, [Level("level_1", L1, ("a", "b", "c"), ("A", "B", "C"))])
        write_label_map(h, Path(d) / "m.parquet")
        rel = make_relabeler(Path(d) / "m.parquet", unknown=mode, leaf_index=True, key="index",
                             column="x")
    batch = pa.record_batch({"x": pa.array(values, pa.int16())})
    out = pa.Table.from_batches([rel(batch.slice(i, chunk)) for i in range(0, len(values), chunk)])
    known = [0 <= v < 6 for v in values]
    if mode == "drop":
        assert out.column("x").to_pylist() == [v for v, k in zip(values, known) if k]
        assert out.column("level_1").to_pylist() == [int(L1[v]) for v, k in zip(values, known) if k]
    else:
        assert out.column("level_1").to_pylist() == [int(L1[v]) if k else None for v, k in zip(values, known)]
        assert out.column("leaf_index").to_pylist() == [v if k else None for v, k in zip(values, known)]


# ----------------------------------------------------------------------------- input columns kept as they are


def _original_schema(path, names):
    return pa.schema([f for f in pq.read_schema(path) if f.name in names])


def test_parquet_columns_keep_their_exact_types(tmp_path, label_map):
    # as polars writes them (large_string / string_view), as pyarrow does (a repeated
    # string column stays string, not dictionary<string>) and other types
    _, leaf = manifest_table(200)
    ids = [LEAVES[i] for i in leaf]
    table = pa.table({
        "path": pa.array([f"train/{w}/{w}_{i}.JPEG" for i, w in enumerate(ids)], pa.large_string()),
        "wnid": pa.array(ids, pa.string_view()),
        "leaf_id": pa.array(ids, pa.string()),
        "split": pa.array(["train"] * 200).dictionary_encode(),
        "group": pa.array(["a", "b"] * 100, pa.large_string()),
        "sample": pa.array(range(200), pa.int64()),
    })
    m = write_manifest(tmp_path, table)
    for key in (["--column", "wnid"], ["--path-column", "path"]):
        out = tmp_path / "o.parquet"
        assert invoke("apply", m, "--map", label_map, *key, "-o", out).code == 0
        got = pq.read_table(out)
        assert got.schema.names == table.schema.names + ["level_1", "level_2"]
        assert _original_schema(out, table.schema.names) == _original_schema(m, table.schema.names)
        assert got.select(table.schema.names).equals(pq.read_table(m))
        assert got.column("level_1").to_pylist() == L1[leaf].tolist()


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string(), pa.string_view()])
def test_path_column_of_any_string_type(label_map, typ):
    _, leaf = manifest_table(30)
    paths = pa.array([f"train/{LEAVES[i]}/{LEAVES[i]}_{k}.JPEG" for k, i in enumerate(leaf)], typ)
    for pattern in (None, r"/(n\d+)_"):
        out = make_relabeler(label_map, ["level_1"], path_column="path", path_pattern=pattern)(
            pa.record_batch({"path": paths}))
        assert out.schema.field("path").type == typ and out.column("path").equals(paths)
        assert out.column("level_1").to_pylist() == L1[leaf].tolist()


def test_pandas_written_manifest_keeps_its_types(tmp_path, label_map):
    import pandas as pd

    _, leaf = manifest_table(200)
    df = pd.DataFrame({"wnid": [LEAVES[i] for i in leaf], "x": np.arange(200, dtype=np.int16)})
    m = tmp_path / "pandas.parquet"
    df.to_parquet(m, index=False)
    out = tmp_path / "o.parquet"
    assert invoke("apply", m, "--map", label_map, "--level", "level_2", "-o", out).code == 0
    assert _original_schema(out, ["wnid", "x"]) == _original_schema(m, ["wnid", "x"])
    assert pq.read_schema(out).field("wnid").type != pa.dictionary(pa.int32(), pa.string())
    back = pd.read_parquet(out)
    assert back["wnid"].tolist() == df["wnid"].tolist() and back["level_2"].tolist() == L2[leaf].tolist()


def test_csv_columns_are_what_the_csv_reader_gives(tmp_path, label_map):
    table, leaf = manifest_table(25)
    m = write_manifest(tmp_path, table, "m.csv")
    out = tmp_path / "o.parquet"
    assert invoke("apply", m, "--map", label_map, "-o", out).code == 0
    expected = pcsv.read_csv(m, convert_options=pcsv.ConvertOptions(column_types={"leaf_id": pa.string()}))
    assert pq.read_table(out).select(table.column_names).equals(expected)


def test_csv_error_names_the_line(tmp_path, label_map):
    m = tmp_path / "m.csv"
    m.write_bytes(b"\xef\xbb\xbfleaf_id,x\r\nn00000001,1\r\n\"n00000002\",2\r\nn00000003\r\nn00000004,4\r\n")
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "m.csv", "not readable CSV", "line 4", "Expected 2 columns, got 1")
    good = tmp_path / "g.csv"  # BOM, CRLF and quotes are fine
    good.write_bytes(b"\xef\xbb\xbfleaf_id,x\r\nn00000001,1\r\n\"n00000002\",2\r\n")
    assert invoke("apply", good, "--map", label_map, "-o", tmp_path / "o.parquet").code == 0
    assert pq.read_table(tmp_path / "o.parquet").column("leaf_id").to_pylist() == ["n00000001", "n00000002"]


def test_csv_conversion_error_in_a_later_block_names_the_line(tmp_path, label_map, monkeypatch):
    from hierarchy_cli.apply import manifest

    monkeypatch.setattr(manifest, "CSV_BLOCK_BYTES", 256)  # types are guessed on the first block
    m = tmp_path / "m.csv"
    m.write_text("leaf_id,x\n" + "".join(f"{LEAVES[i % 6]},{i}\n" for i in range(100)) + "n00000001,abc\n")
    res = invoke("apply", m, "--map", label_map, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "not readable CSV", "line 102", "invalid value 'abc'")
    assert not (tmp_path / "o.parquet").exists()


# ----------------------------------------------------------------------------- --path-pattern, checked by RE2


@pytest.mark.parametrize("pattern, fragment", [
    (r"(?<=train/)(n\d+)", "is not a regular expression RE2 accepts"),   # lookbehind: Python has it
    (r"(n\d+)/\1_", "is not a regular expression RE2 accepts"),          # backreference
    (r"(n\d+", "is not a regular expression RE2 accepts"),
    (r"n\d+", "exactly one capture group"),
    (r"(n\d+)/(\w+)", "exactly one capture group"),
    (r"(?P<id>n\d+)/(\w+)", "exactly one capture group"),
    (r"(?P<id>n\d+)/(?P<file>\w+)", "exactly one capture group"),
])
def test_path_pattern_rejected_by_re2_or_group_count(tmp_path, label_map, pattern, fragment):
    table, _ = manifest_table(5)
    m = write_manifest(tmp_path, table)
    res = invoke("apply", m, "--map", label_map, "-p", "path", "--path-pattern", pattern, "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, f"--path-pattern {pattern!r}", fragment)
    assert not (tmp_path / "o.parquet").exists()
    with pytest.raises(GranularityError, match="--path-pattern"):  # the API checks it, once
        make_relabeler(label_map, path_column="path", path_pattern=pattern)


@pytest.mark.parametrize("pattern", [
    r"/(n\d+)_",                 # an unnamed group, named for pyarrow
    r"/(?P<wnid>n\d+)_",         # any name
    r"/(?<id>n\d+)_",            # RE2's (?<name>...), which Python's re rejected
    r"^\pL+/(n\d+)/",            # a Unicode class, which Python's re rejected
    r"[(]?/(?:x)?(n\d+)_",       # '(' in a class and a non-capturing group are not groups
])
def test_path_pattern_re2_accepts_works(tmp_path, label_map, pattern):
    table, leaf = manifest_table(20)
    m = write_manifest(tmp_path, table)
    out = tmp_path / "o.parquet"
    res = invoke("apply", m, "--map", label_map, "-p", "path", "--path-pattern", pattern, "-o", out)
    assert res.code == 0, res.output
    assert pq.read_table(out).column("level_1").to_pylist() == L1[leaf].tolist()


def test_options_checked_by_the_api(label_map):
    for kwargs, fragment in [({"unknown": "skip"}, "--unknown 'skip'"), ({"key": "name"}, "--key 'name'"),
                             ({"column": "a", "path_column": "b"}, "not both"),
                             ({"path_pattern": "(a)"}, "needs --path-column")]:
        with pytest.raises(GranularityError, match=fragment.replace("(", r"\(")):
            make_relabeler(label_map, **kwargs)
    with pytest.raises(GranularityError, match="'level_1' is given twice"):
        make_relabeler(label_map, ["level_1", "level_1"])


def test_api_reads_stdin_once(tmp_path, label_map, monkeypatch):
    """apply_manifest itself refuses the manifest and the map both from stdin, reading nothing."""
    import io
    import sys

    from hierarchy_cli.apply import apply_manifest

    data = open(label_map, "rb").read()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(GranularityError, match=r"cannot both be read from stdin"):
        apply_manifest("-", "-", str(tmp_path / "o.parquet"))
    assert sys.stdin.buffer.read() == data and not (tmp_path / "o.parquet").exists()
