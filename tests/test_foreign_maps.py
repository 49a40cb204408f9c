"""Label maps written by other tools (pandas, polars, duckdb, pyarrow, by hand).

Every map is read once, by ``read_label_map``, and either refused with one line
naming the column and the first bad value, or read so that ``apply``,
``export``, ``inspect``, ``compare`` and ``random --like`` give every leaf the
same label (the label stored in the file, which is the trainer's class index).
Each test runs all five commands on the same foreign map.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import assert_one_line_error, invoke
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.hierarchy import Hierarchy, Level
from hierarchy_cli.labelmap import read_label_map, write_label_map

LEAVES = ["a", "b", "c", "d", "e"]
NAMES = ["A", "B", "C", "D", "E"]


def foreign(labels, ids=None, names=None, *, label_type=pa.int64(), str_type=pa.string(),
            leaves=LEAVES, leaf_names=NAMES, leaf_index=None, extra=None, meta=None, level="grp"):
    """A map as another tool writes it: int64 labels, no granularity metadata."""
    labels = list(labels)
    ids = ids if ids is not None else [None if x is None else f"g{x}" for x in labels]
    names = names if names is not None else [None if x is None else f"group {x}" for x in labels]
    cols = {
        "leaf_index": pa.array(leaf_index if leaf_index is not None else range(len(leaves)), pa.int64()),
        "leaf_id": pa.array(leaves, str_type),
        "leaf_name": pa.array(leaf_names, str_type),
        level: pa.array(labels, label_type),
        f"{level}_id": pa.array(ids, str_type),
        f"{level}_name": pa.array(names, str_type),
    }
    cols.update(extra or {})
    table = pa.table(cols)
    if meta is not None:
        table = table.replace_schema_metadata({b"granularity": json.dumps(meta).encode()})
    return table


def save(tmp_path, table, name="foreign.parquet"):
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def reference(tmp_path, labels):
    """A granularity-written map with the same leaves, grouped as ``labels``."""
    lv = Level.from_keys("grp", np.asarray(labels), lambda k: f"g{k}", lambda k: f"group {k}")
    path = tmp_path / "ref.parquet"
    write_label_map(Hierarchy(LEAVES, NAMES, [lv]), path)
    return path


def run_all(tmp_path, path, level="grp"):
    """Each command's result on map ``path``: per-leaf labels (or the CLI result on failure)."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("leaf_id\n" + "".join(f"{x}\n" for x in LEAVES))
    out = {}
    res = invoke("apply", manifest, "--map", path, "--key", "id", "--ids", "--names", "-f", "csv", "-o", "-")
    out["apply"] = res if res.code else [
        (int(r[level]), r[f"{level}_id"], r[f"{level}_name"]) for r in csv.DictReader(io.StringIO(res.out))]
    res = invoke("export", path, "-f", "class-to-idx", "--level", level, "--key", "id", "-o", "-")
    if res.code:
        out["export"] = res
    else:
        c2i = json.loads(res.out)
        names = json.loads(invoke("export", path, "-f", "hf-names", "--level", level, "-o", "-").out)
        ids = {v: k for k, v in c2i.items()}
        out["export"] = [(ids[lab], names[lab]) for lab in (c2i[i] for i in ids.values())]
        out["export_ids"] = ids
    args = [a for x in LEAVES for a in ("--lineage", x)]
    res = invoke("inspect", path, *args, "--json")
    out["inspect"] = res if res.code else [
        (r["levels"][0]["label"], r["levels"][0]["id"], r["levels"][0]["name"]) for r in json.loads(res.out)]
    res = invoke("compare", f"{path}:{level}", f"{path}:{level}", "--json")
    out["compare"] = res if res.code else json.loads(res.out)
    res = invoke("random", "--like", f"{path}:{level}", "--seed", "1", "-o", tmp_path / "like.parquet")
    out["random"] = res if res.code else read_label_map(tmp_path / "like.parquet")
    return out


def assert_all_agree(tmp_path, path, labels, ids, names):
    """Every command reads leaf i as (labels[i], ids[i], names[i])."""
    got = run_all(tmp_path, path)
    expected = list(zip(labels, ids, names))
    for cmd in ("apply", "export", "inspect", "compare", "random"):
        assert not hasattr(got[cmd], "code"), (cmd, got[cmd].stderr)
    assert got["apply"] == expected
    assert got["inspect"] == expected
    # class-to-idx / hf-names: label k has the id and name every leaf with label k has
    k = max(labels) + 1
    assert sorted(got["export_ids"]) == list(range(k))
    for lab, i, n in expected:
        assert got["export_ids"][lab] == i
    assert got["compare"]["classes_a"] == k and got["compare"]["nmi"] == 1.0
    ref = reference(tmp_path, labels)
    res = invoke("compare", f"{path}:grp", f"{ref}:grp", "--json")
    assert res.code == 0, res.stderr
    both = json.loads(res.out)
    assert both["a_refines_b"] and both["b_refines_a"]
    like = got["random"].lookup("random_grp")
    assert sorted(np.bincount(like).tolist()) == sorted(np.bincount(labels).tolist())


def assert_all_refuse(tmp_path, path, *fragments):
    """Every command refuses the map with the same one-line error."""
    got = run_all(tmp_path, path)
    lines = set()
    for cmd in ("apply", "export", "inspect", "compare", "random"):
        res = got[cmd]
        assert hasattr(res, "code"), (cmd, "accepted the map")
        assert_one_line_error(res, "foreign.parquet", *fragments)
        lines.add(res.stderr.strip())
    assert len(lines) == 1, lines


# ----------------------------------------------------------------------------- refused


@pytest.mark.parametrize("labels, fragment", [
    ([0, 5, 5, 2, 0], "uses labels up to 5 but not label 1"),
    ([1, 1, 2, 3, 2], "uses labels up to 3 but not label 0"),
    ([0, 1, 2, 3, 7], "uses labels up to 7 but not label 4"),
])
def test_labels_with_gaps_are_refused(tmp_path, labels, fragment):
    assert_all_refuse(tmp_path, save(tmp_path, foreign(labels)), "column 'grp'", fragment)


def test_label_beyond_int32_is_refused_not_wrapped(tmp_path):
    # 2**32 + 1 read as int32 is 1: leaf e would silently join leaf b's group
    path = save(tmp_path, foreign([0, 1, 2, 3, 2**32 + 1]))
    assert_all_refuse(tmp_path, path, "column 'grp' has label 4294967297 at leaf 4, beyond int32")


def test_uint64_label_is_refused(tmp_path):
    path = save(tmp_path, foreign([0, 1, 2, 3, 2**63 + 1], label_type=pa.uint64()))
    assert_all_refuse(tmp_path, path, f"label {2**63 + 1} at leaf 4, beyond int32")


def test_negative_label_is_refused(tmp_path):
    path = save(tmp_path, foreign([0, 1, -1, 1, 0]))
    assert_all_refuse(tmp_path, path, "column 'grp' has label -1 at leaf 2; labels must be >= 0")


@pytest.mark.parametrize("column", ["grp_id", "grp_name"])
def test_id_or_name_varying_inside_a_label_is_refused(tmp_path, column):
    labels = [0, 0, 1, 1, 1]
    values = ["x0", "x0", "x1", "x1", "other"]
    kwargs = {"ids": values} if column == "grp_id" else {"names": values}
    path = save(tmp_path, foreign(labels, **kwargs))
    assert_all_refuse(tmp_path, path, f"column {column!r} has two values for label 1: 'x1' (leaf 2) and "
                                      "'other' (leaf 4)")


@pytest.mark.parametrize("column, fragment", [
    # a null label marks a leaf outside the level, whose id and name must be null too
    ("grp", "column 'grp_id' has a value at leaf 3, whose 'grp' label is null"),
    ("grp_id", "column 'grp_id' has a missing value at leaf 3"),
    ("grp_name", "column 'grp_name' has a missing value at leaf 3"),
    ("leaf_id", "column 'leaf_id' has a missing value at leaf 3"),
    ("leaf_name", "column 'leaf_name' has a missing value at leaf 3"),
])
def test_nulls_are_refused(tmp_path, column, fragment):
    table = foreign([0, 0, 1, 1, 2])
    values = table.column(column).to_pylist()
    values[3] = None
    table = table.set_column(table.column_names.index(column), column, pa.array(values, table.column(column).type))
    assert_all_refuse(tmp_path, save(tmp_path, table), fragment)


def test_duplicate_leaf_ids_are_refused(tmp_path):
    path = save(tmp_path, foreign([0, 0, 1, 1, 2], leaves=["a", "b", "c", "b", "e"]))
    assert_all_refuse(tmp_path, path, "leaf_id 'b' appears twice (leaves 1 and 3)")


@pytest.mark.parametrize("leaf_index, fragment", [
    ([0, 1, 3, 2, 4], "leaf_index is not 0..N-1 in order: row 2 holds 3"),
    ([1, 2, 3, 4, 5], "leaf_index is not 0..N-1 in order: row 0 holds 1"),
])
def test_leaf_index_out_of_order_is_refused_naming_the_row(tmp_path, leaf_index, fragment):
    assert_all_refuse(tmp_path, save(tmp_path, foreign([0, 0, 1, 1, 2], leaf_index=leaf_index)), fragment)


def test_level_column_without_its_id_and_name_is_refused(tmp_path):
    # a second level with labels only: today it is silently left out of every command
    path = save(tmp_path, foreign([0, 0, 1, 1, 2], extra={"coarse": pa.array([0, 0, 0, 1, 1])}))
    assert_all_refuse(tmp_path, path, "missing column 'coarse_id' (for level 'coarse')")


def test_metadata_listing_an_absent_level_is_refused(tmp_path):
    path = save(tmp_path, foreign([0, 0, 1, 1, 2], meta={"schema": 1, "levels": ["grp", "genus"]}))
    assert_all_refuse(tmp_path, path, "missing column 'genus' (the metadata lists level 'genus')")


def test_level_the_metadata_does_not_list_is_refused(tmp_path):
    extra = {"other": pa.array([0, 1, 0, 1, 0]), "other_id": pa.array(list("xyxyx")),
             "other_name": pa.array(list("XYXYX"))}
    path = save(tmp_path, foreign([0, 0, 1, 1, 2], extra=extra, meta={"schema": 1, "levels": ["grp"]}))
    assert_all_refuse(tmp_path, path, "column 'other' is not one of the levels its metadata lists (grp)")


def test_metadata_class_count_must_match(tmp_path):
    path = save(tmp_path, foreign([0, 0, 1, 1, 2], meta={"schema": 1, "levels": ["grp"], "num_classes": {"grp": 4}}))
    assert_all_refuse(tmp_path, path, "its metadata says level 'grp' has 4 classes but it has 3")


def test_float_labels_are_refused(tmp_path):
    # pandas turns an integer column with a NaN into float64
    path = save(tmp_path, foreign([0.0, 0.0, 1.0, 1.0, 2.0], label_type=pa.float64()))
    assert_all_refuse(tmp_path, path, "column 'grp' has type double, expected integers")


# ----------------------------------------------------------------------------- read, identically


def test_dense_labels_in_any_order_keep_their_values(tmp_path):
    # 0..K-1 but not by first appearance (a map sorted by name, like ImageFolder's):
    # the stored label is the class index, so no command may renumber it
    labels = [2, 0, 2, 1, 0]
    path = save(tmp_path, foreign(labels))
    assert_all_agree(tmp_path, path, labels, [f"g{x}" for x in labels], [f"group {x}" for x in labels])


@pytest.mark.parametrize("str_type", [pa.large_string(), pa.string_view(), pa.dictionary(pa.int32(), pa.string())],
                         ids=["large_string", "string_view", "dictionary"])
def test_other_string_types(tmp_path, str_type):
    labels = [1, 1, 0, 2, 0]
    path = save(tmp_path, foreign(labels, str_type=str_type, label_type=pa.int16()))
    assert_all_agree(tmp_path, path, labels, [f"g{x}" for x in labels], [f"group {x}" for x in labels])


def test_map_written_by_pandas_with_its_index(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"leaf_id": ["a", "x", "b", "c", "y", "d", "e"], "leaf_name": list("AXBCYDE"),
                       "grp": [1, 3, 0, 1, 3, 2, 0]})
    df = df[df["leaf_id"].isin(LEAVES)].copy()  # a filtered frame: to_parquet stores __index_level_0__
    df.insert(0, "leaf_index", range(len(df)))
    df["grp_id"] = "g" + df["grp"].astype(str)
    df["grp_name"] = "group " + df["grp"].astype(str)
    df.to_parquet(tmp_path / "foreign.parquet")
    assert "__index_level_0__" in pq.read_schema(tmp_path / "foreign.parquet").names
    labels = [1, 0, 1, 2, 0]
    assert_all_agree(tmp_path, tmp_path / "foreign.parquet", labels, [f"g{x}" for x in labels],
                     [f"group {x}" for x in labels])


def test_map_written_by_pandas_with_category_codes(tmp_path):
    import pandas as pd

    # the usual pandas way to number groups: category codes, in sorted order (int8)
    group = pd.Series(["g2", "g0", "g2", "g1", "g0"]).astype("category")
    df = pd.DataFrame({"leaf_index": range(5), "leaf_id": LEAVES, "leaf_name": NAMES,
                       "grp": group.cat.codes, "grp_id": group.astype(str)})
    df["grp_name"] = "group " + df["grp"].astype(str)
    df.to_parquet(tmp_path / "foreign.parquet", index=False)
    labels = [2, 0, 2, 1, 0]
    assert_all_agree(tmp_path, tmp_path / "foreign.parquet", labels, [f"g{x}" for x in labels],
                     [f"group {x}" for x in labels])


def test_map_written_by_hand_with_pyarrow_in_several_row_groups(tmp_path):
    # labels from np.unique(return_inverse=True): sorted by group id, not by first appearance
    groups = np.array(["g1", "g0", "g1", "g2", "g0"])
    labels = np.unique(groups, return_inverse=True)[1].tolist()
    assert labels == [1, 0, 1, 2, 0]
    path = tmp_path / "foreign.parquet"
    pq.write_table(foreign(labels, label_type=pa.uint8()), path, row_group_size=2)
    assert pq.ParquetFile(path).num_row_groups == 3
    assert_all_agree(tmp_path, path, labels, [f"g{x}" for x in labels], [f"group {x}" for x in labels])


# ----------------------------------------------------------------------------- provenance


def test_the_maps_sha256_is_kept_when_read_from_stdin(tmp_path):
    path = save(tmp_path, foreign([0, 0, 1, 1, 2]))
    data = path.read_bytes()
    assert read_label_map(path).sha256 == hashlib.sha256(data).hexdigest()
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("leaf_id\n" + "".join(f"{x}\n" for x in LEAVES))
    res = invoke("apply", manifest, "--map", "-", "--key", "id", "-o", tmp_path / "out.parquet", stdin=data)
    assert res.code == 0, res.stderr
    meta = json.loads(pq.read_schema(tmp_path / "out.parquet").metadata[b"granularity"])
    assert meta["map"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_cluster_within_records_the_sha256_of_a_map_read_from_stdin(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "emb.npy", rng.normal(size=(5, 4)).astype(np.float32))
    (tmp_path / "classes.txt").write_text("".join(f"{x}\n" for x in LEAVES))
    data = save(tmp_path, foreign([0, 0, 1, 1, 2])).read_bytes()
    res = invoke("cluster", "--k", "4", "-e", tmp_path / "emb.npy", "--classes", tmp_path / "classes.txt",
                 "--within", "-:grp", "-o", tmp_path / "w.parquet", stdin=data)
    assert res.code == 0, res.stderr
    meta = json.loads(pq.read_schema(tmp_path / "w.parquet").metadata[b"granularity"])
    assert meta["within"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_extra_columns_listed_in_the_metadata_are_kept(tmp_path):
    # a BREEDS map carries per-leaf columns that are not levels, listed as extra_columns
    lv = Level.from_keys("grp", np.array([0, 0, 1, 1, 2]), lambda k: f"g{k}", lambda k: f"group {k}")
    h = Hierarchy(LEAVES, NAMES, [lv], columns={"split": ["source", "target"] * 2 + ["source"],
                                                 "imagenet_index": [7, 3, 9, 1, 0]})
    path = tmp_path / "foreign.parquet"
    write_label_map(h, path)
    lm = read_label_map(path)
    assert lm.levels == ["grp"] and lm.table.column("imagenet_index").to_pylist() == [7, 3, 9, 1, 0]
    assert lm.to_hierarchy().columns["split"] == ["source", "target"] * 2 + ["source"]
    assert_all_agree(tmp_path, path, [0, 0, 1, 1, 2], [f"g{x}" for x in [0, 0, 1, 1, 2]],
                     [f"group {x}" for x in [0, 0, 1, 1, 2]])
    # listed but absent: refused like a missing level
    table = pq.read_table(path).drop_columns(["split"])
    assert_all_refuse(tmp_path, save(tmp_path, table),
                      "is missing column 'split' (the metadata lists it in extra_columns)")


# ----------------------------------------------------------------------------- outside leaves


def test_null_labels_mark_leaves_outside_the_level_for_every_command(tmp_path):
    """A leaf whose label, id and name are null is outside the level (a class outside the
    task): every command agrees on it and none gives it a label."""
    path = save(tmp_path, foreign([0, 0, None, 1, 1]))
    lm = read_label_map(path)
    assert lm.num_outside("grp") == 1 and lm.num_classes("grp") == 2 and lm.names("grp") == ["group 0", "group 1"]
    with pytest.raises(GranularityError, match=r"leaves 1 of 5 leaves outside its label space .*outside=-1"):
        lm.lookup("grp")  # a missing label never passes for a class index unnoticed
    assert lm.lookup("grp", outside=-1).tolist() == [0, 0, -1, 1, 1]
    got = run_all(tmp_path, path)
    assert_one_line_error(got["apply"], "1 row of", "outside level 'grp'", "'c' (row 2)")
    manifest = tmp_path / "manifest.csv"
    res = invoke("apply", manifest, "--map", path, "--key", "id", "--unknown", "keep", "-f", "csv", "-o", "-")
    assert res.code == 0, res.stderr
    assert [r["grp"] for r in csv.DictReader(io.StringIO(res.out))] == ["0", "0", "", "1", "1"]
    res = invoke("apply", manifest, "--map", path, "--key", "id", "--unknown", "drop", "-f", "csv", "-o", "-")
    assert [r["leaf_id"] for r in csv.DictReader(io.StringIO(res.out))] == ["a", "b", "d", "e"]
    assert got["export_ids"] == {0: "g0", 1: "g1"}
    assert got["inspect"][2] == (None, None, None) and got["inspect"][3] == (1, "g1", "group 1")
    assert got["compare"]["leaves_outside"] == 1 and got["compare"]["num_leaves"] == 4
    assert got["random"].lookup("random_grp", outside=-1)[2] == -1  # the shuffle keeps it outside
    res = invoke("export", path, "-f", "tsv", "-o", "-")
    assert res.out.splitlines()[3].split("\t")[3:] == ["", "", ""]


def test_a_hierarchy_with_outside_leaves_round_trips(tmp_path):
    lv = Level.from_keys("grp", np.array([5, -1, 5, 7, -1]), lambda k: f"g{k}", lambda k: f"group {k}")
    assert lv.labels.tolist() == [0, -1, 0, 1, -1] and lv.num_outside == 2
    write_label_map(Hierarchy(LEAVES, NAMES, [lv]), tmp_path / "m.parquet")
    table = pq.read_table(tmp_path / "m.parquet")
    assert table.column("grp").to_pylist() == [0, None, 0, 1, None]
    assert table.column("grp_id").to_pylist() == ["g5", None, "g5", "g7", None]
    lm = read_label_map(tmp_path / "m.parquet")
    assert lm.metadata["num_outside"] == {"grp": 2}
    back = lm.to_hierarchy()
    write_label_map(back, tmp_path / "again.parquet")
    assert (tmp_path / "again.parquet").read_bytes() == (tmp_path / "m.parquet").read_bytes()
