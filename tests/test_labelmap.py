"""The label-map file: round trip, schema checks, corrupt files, atomic writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hierarchy_cli.errors import GranularityError
from hierarchy_cli.hierarchy import Hierarchy, Level
from hierarchy_cli.grammar import read_map_level
from hierarchy_cli.labelmap import read_label_map, to_arrow, write_label_map
from hierarchy_cli.outputs import atomic_output


def _toy() -> Hierarchy:
    lv = Level.from_keys("level_1", np.array([5, 5, 9, 5]), lambda k: f"id{k}", lambda k: f"name{k}")
    lv0 = Level.from_keys("level_0", np.arange(4), lambda k: f"leaf{k}", lambda k: f"L{k}")
    return Hierarchy([f"leaf{i}" for i in range(4)], [f"L{i}" for i in range(4)], [lv0, lv],
                     {"method": "test", "seed": 3}, nested=True)


def test_round_trip(tmp_path):
    h = _toy()
    p = tmp_path / "m.parquet"
    write_label_map(h, p)
    lm = read_label_map(p)
    assert lm.levels == ["level_0", "level_1"]
    assert lm.lookup("level_1").tolist() == [0, 0, 1, 0]
    assert lm.names("level_1") == ["name5", "name9"]
    assert lm.ids("level_1") == ["id5", "id9"]
    assert lm.num_classes("level_1") == 2
    assert lm.metadata["seed"] == 3 and lm.metadata["num_classes"] == {"level_0": 4, "level_1": 2}
    back = lm.to_hierarchy()
    assert back.leaf_ids == h.leaf_ids and back.levels[1].ids == ("id5", "id9")
    # plain pandas can read it, as DESIGN.md promises
    import pandas as pd

    assert pd.read_parquet(p)["level_1"].to_numpy().tolist() == [0, 0, 1, 0]


def test_per_label_values_as_arrow_arrays(tmp_path):
    """ids/names and their Arrow arrays (what apply takes label ids and names from) agree,
    come from each label's first leaf, skip leaves outside the level and are plain strings,
    whatever string type the file stored."""
    table = pa.table({
        "leaf_index": pa.array([0, 1, 2, 3], pa.int32()),
        "leaf_id": pa.array(["a", "b", "c", "d"], pa.large_string()),
        "leaf_name": ["A", "B", "C", "D"],
        "grp": pa.array([None, 1, 0, 1], pa.int32()),
        "grp_id": pa.array([None, "g1", "g0", "g1"]).dictionary_encode(),
        "grp_name": pa.array([None, "one", "zero", "one"], pa.large_string()),
    })
    lm = read_label_map(_write(tmp_path, table))
    assert lm.ids("grp") == ["g0", "g1"] and lm.names("grp") == ["zero", "one"]
    for arr, want in ((lm.id_array("grp"), ["g0", "g1"]), (lm.name_array("grp"), ["zero", "one"]),
                      (lm.leaf_id_array(), ["a", "b", "c", "d"])):
        assert arr.type == pa.string() and arr.to_pylist() == want
    assert lm.check_level("grp") == "grp"
    with pytest.raises(GranularityError, match=r"^--level 'x': no level 'x' in .*m\.parquet; levels are: grp$"):
        lm.check_level("x", "--level 'x'")


def test_validation_rejects_bad_levels():
    h = _toy()
    bad = Level("level_2", np.array([1, 0, 1, 0], dtype=np.int32), ("a", "b"), ("a", "b"))
    with pytest.raises(ValueError, match="first appearance"):
        Hierarchy(h.leaf_ids, h.leaf_names, [bad]).validate()
    coarse_first = Hierarchy(h.leaf_ids, h.leaf_names, [h.levels[1], h.levels[0]], nested=True)
    with pytest.raises(ValueError, match="nested"):
        coarse_first.validate()


def _write(tmp_path, table, name="m.parquet"):
    p = tmp_path / name
    pq.write_table(table, p)
    return p


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda t: t.drop(["leaf_id"]), "missing column 'leaf_id'"),
        (lambda t: t.drop(["level_1_name"]), "missing column 'level_1_name'"),
        (lambda t: t.set_column(t.column_names.index("level_1"), "level_1",
                                pa.array(["0", "0", "1", "0"])), "column 'level_1' has type string"),
        (lambda t: t.set_column(0, "leaf_index", pa.array([1, 0, 2, 3], type=pa.int32())), "leaf_index"),
        (lambda t: t.replace_schema_metadata({b"granularity": b'{"schema": 99}'}), "schema version 99"),
        (lambda t: t.replace_schema_metadata({b"granularity": b"{not json"}), "not JSON"),
    ],
)
def test_not_our_schema(tmp_path, mutate, fragment):
    p = _write(tmp_path, mutate(to_arrow(_toy())))
    with pytest.raises(GranularityError, match=None) as err:
        read_label_map(p)
    assert fragment in str(err.value) and "m.parquet" in str(err.value)


def test_corrupt_and_truncated_files(tmp_path):
    good = tmp_path / "good.parquet"
    write_label_map(_toy(), good)
    data = good.read_bytes()
    (tmp_path / "trunc.parquet").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.parquet").write_text("leaf_index,leaf_id\n0,a\n")
    (tmp_path / "empty.parquet").write_bytes(b"")
    for name in ("trunc.parquet", "text.parquet", "empty.parquet"):
        with pytest.raises(GranularityError) as err:
            read_label_map(tmp_path / name)
        assert f"'{tmp_path / name}' is not a readable parquet file" in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(GranularityError, match="does not exist"):
        read_label_map(tmp_path / "absent.parquet")
    with pytest.raises(GranularityError, match="is a folder"):
        read_label_map(tmp_path)


def test_map_level_spec(tmp_path):
    p = tmp_path / "m.parquet"
    write_label_map(_toy(), p)
    lm, level = read_map_level(f"{p}:level_1", "--within")
    assert level == "level_1" and lm.num_leaves == 4
    assert read_map_level(str(p), "--like")[1] is None
    with pytest.raises(GranularityError, match="--within .*no level 'level_7'.*levels are: level_0, level_1"):
        read_map_level(f"{p}:level_7", "--within")
    with pytest.raises(GranularityError, match="no level 'nope'"):
        read_label_map(p).lookup("nope")


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1
    with atomic_output(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"


def test_unwritable_targets(tmp_path):
    import os

    from conftest import assert_one_line_error, invoke

    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        # root can write anywhere on a normal disk: /proc refuses even root
        target = ro / "m.parquet" if os.access(ro, os.W_OK) is False else "/proc/granularity-test.parquet"
        res = invoke("build", "--dataset", "imagenet1k", "--level", "1", "-o", target)
        assert_one_line_error(res, "cannot write", str(target))
    finally:
        os.chmod(ro, 0o700)
    assert not (ro / "m.parquet").exists()


def test_devices_are_written_in_place():
    from conftest import assert_one_line_error, invoke

    assert invoke("build", "--dataset", "imagenet1k", "--level", "1", "-o", "/dev/null").code == 0
    res = invoke("build", "--dataset", "imagenet1k", "--level", "1", "-o", "/dev/full")
    assert_one_line_error(res, "cannot write '/dev/full'", code=1)
    import stat

    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # still the device, not a file


def test_metadata_is_canonical(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_label_map(_toy(), a)
    write_label_map(_toy(), b)
    assert a.read_bytes() == b.read_bytes()
    meta = json.loads(pq.read_schema(a).metadata[b"granularity"])
    assert list(meta) == sorted(meta)
