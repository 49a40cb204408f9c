"""granularity random: K random groups, a reference's shape with shuffled leaves."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_one_line_error, invoke
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.hierarchy import Hierarchy, Level, first_appearance_labels, is_refinement
from hierarchy_cli.labelmap import read_label_map, to_arrow, write_label_map
from hierarchy_cli.grammar import parse_k_list
from hierarchy_cli.methods.random import random_hierarchy, random_partition


@pytest.fixture(scope="module")
def wn_map(tmp_path_factory) -> Path:
    from hierarchy_cli.sources.wordnet import build_wordnet

    path = tmp_path_factory.mktemp("ref") / "in1k.wordnet.parquet"
    write_label_map(build_wordnet(dataset="imagenet1k", levels=[0, 1, 3]), path)
    return path


def _bytes(h: Hierarchy) -> bytes:
    buf = io.BytesIO()
    pq.write_table(to_arrow(h), buf, compression="zstd", write_statistics=False)
    return buf.getvalue()


def _check_level(labels: np.ndarray, n: int, k: int) -> None:
    assert labels.dtype == np.int32 and labels.shape == (n,)
    # every leaf in exactly one group, K non-empty groups, labels by first appearance
    assert np.array_equal(np.unique(labels), np.arange(k))
    relabelled, _ = first_appearance_labels(labels)
    assert np.array_equal(relabelled, labels)


def _joint(a: np.ndarray, b: np.ndarray) -> list[int]:
    """Sorted cell counts of the contingency table (invariant under relabelling)."""
    _, counts = np.unique(a.astype(np.int64) * (int(b.max()) + 1) + b, return_counts=True)
    return sorted(counts.tolist())


# ----------------------------------------------------------------------------- --k


def test_k_levels_are_nested_balanced_and_named(tmp_path):
    ids = [f"leaf{i}" for i in range(103)]
    h = random_hierarchy(classes=ids, k="10,50,3", seed=5)
    assert h.level_names == ["random_k50", "random_k10", "random_k3"]
    assert [lv.num_classes for lv in h.levels] == [50, 10, 3]
    assert h.nested and h.is_nested()
    assert list(h.leaf_names) == ids  # not wnids: names are the ids
    sizes = h.levels[0].group_sizes()
    assert sizes.min() == 2 and sizes.max() == 3 and sizes.sum() == 103
    # each coarser level groups the finer groups in balanced numbers
    for fine, coarse in zip(h.levels, h.levels[1:]):
        parent = np.zeros(fine.num_classes, dtype=np.int64)
        parent[fine.labels] = coarse.labels
        per = np.bincount(parent, minlength=coarse.num_classes)
        assert per.max() - per.min() <= 1
    assert h.levels[0].ids[:2] == ("r0", "r1")
    assert h.metadata["k"] == [50, 10, 3] and h.metadata["seed"] == 5
    assert h.metadata["nested"] is True and h.metadata["sizes"] == "balanced"


def test_independent_levels_are_drawn_from_leaves():
    ids = [f"x{i}" for i in range(400)]
    h = random_hierarchy(classes=ids, k=[40, 20], nested=False, seed=1)
    assert not h.nested
    assert not is_refinement(h.levels[0].labels, h.levels[1].labels)
    assert h.metadata["nested"] is False


def test_multinomial_sizes_vary_but_never_empty():
    rng = np.random.default_rng(0)
    keys = random_partition(500, 50, rng, "multinomial")
    counts = np.bincount(keys, minlength=50)
    assert counts.min() >= 1 and counts.sum() == 500 and counts.max() - counts.min() > 1
    keys = random_partition(60, 60, rng, "multinomial")
    assert sorted(keys.tolist()) == list(range(60))


def test_wnid_leaves_get_wordnet_names():
    h = random_hierarchy(dataset="imagenet1k", k=10, seed=0)
    assert h.leaf_names[0] == "tench" and h.metadata["leaf_names"] == "wordnet"
    h = random_hierarchy(dataset="imagenet1k", k=10, seed=0, leaf_names="id")
    assert h.leaf_names[0] == "n01440764"
    with pytest.raises(GranularityError, match="not noun wnids"):
        random_hierarchy(classes=["a", "b"], k=1, leaf_names="wordnet")


def test_the_builder_says_how_it_drew_the_groups():
    """The notes the command prints are the builder's (Hierarchy.summary)."""
    ids = [f"x{i}" for i in range(50)]
    h = random_hierarchy(classes=ids, k="10,2", seed=4, sizes="multinomial", nested=False)
    assert h.summary == ["multinomial group sizes, seed 4; levels drawn independently"]
    assert random_hierarchy(classes=ids, k=5).summary == ["balanced group sizes, seed 0; levels nested"]
    like = random_hierarchy(like=h, seed=2)
    assert like.summary == ["leaves shuffled by one random permutation (seed 2); kept from <hierarchy>: "
                            "every level's group sizes and how the levels nest"]


def test_api_checks_its_arguments_before_any_work():
    with pytest.raises(GranularityError, match="say how to draw the groups"):
        random_hierarchy(classes=["a"])
    with pytest.raises(GranularityError, match="--seed -1 is negative"):
        random_hierarchy(classes="missing.txt", k=1, seed=-1)
    with pytest.raises(GranularityError, match="unknown --leaf-names 'x'"):
        random_hierarchy(classes="missing.txt", k=1, leaf_names="x")
    with pytest.raises(GranularityError, match="--like and --classes cannot both read stdin"):
        random_hierarchy(classes="-", like="-:level_3")


def test_seed_changes_the_draw():
    ids = [f"x{i}" for i in range(200)]
    a = random_hierarchy(classes=ids, k=20, seed=1)
    b = random_hierarchy(classes=ids, k=20, seed=2)
    assert not np.array_equal(a.levels[0].labels, b.levels[0].labels)


def test_parse_k_list():
    assert parse_k_list("100,1000") == [1000, 100]
    assert parse_k_list(7) == [7]
    for bad, msg in (("10,x", "'x' is not a whole number"), ("0", "at least 1"), ("5,5", "given twice"),
                     ("", "is not a whole number")):
        with pytest.raises(GranularityError, match=msg):
            parse_k_list(bad)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 80),
    data=st.data(),
    sizes=st.sampled_from(["balanced", "multinomial"]),
    nested=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_random_k_properties(n, data, sizes, nested, seed):
    ks = data.draw(st.lists(st.integers(1, n), min_size=1, max_size=4, unique=True))
    ids = [f"leaf{i}" for i in range(n)]
    h = random_hierarchy(classes=ids, k=ks, seed=seed, sizes=sizes, nested=nested)
    assert [lv.num_classes for lv in h.levels] == sorted(ks, reverse=True)
    for lv in h.levels:
        _check_level(lv.labels, n, lv.num_classes)
        if sizes == "balanced" and (not nested or lv is h.levels[0]):
            s = lv.group_sizes()
            assert s.max() - s.min() <= 1
    if nested:
        assert h.is_nested()
    again = random_hierarchy(classes=ids, k=ks, seed=seed, sizes=sizes, nested=nested)
    assert _bytes(h) == _bytes(again)


# ----------------------------------------------------------------------------- --like


def _random_reference(n: int, ks: list[int], seed: int, nested: bool) -> Hierarchy:
    rng = np.random.default_rng(seed)
    levels, keys = [], None
    for j, k in enumerate(sorted(ks, reverse=True)):
        if nested and keys is not None:
            keys = random_partition(int(keys.max()) + 1, k, rng, "multinomial")[keys]
        else:
            keys = random_partition(n, k, rng, "multinomial")
        levels.append(Level.from_keys(f"lv{j}", keys, lambda x: f"g{x}", lambda x: f"group {x}"))
    return Hierarchy([f"id{i}" for i in range(n)], [f"name{i}" for i in range(n)], levels,
                     {"method": "test"}, nested=nested).validate()


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 60),
    data=st.data(),
    nested=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_like_keeps_sizes_nesting_and_contingency(n, data, nested, seed):
    ks = data.draw(st.lists(st.integers(1, n), min_size=1, max_size=3, unique=True))
    ref = _random_reference(n, ks, seed, nested)
    h = random_hierarchy(like=ref, seed=seed + 1)
    assert h.level_names == [f"random_{name}" for name in ref.level_names]
    assert list(h.leaf_ids) == list(ref.leaf_ids) and list(h.leaf_names) == list(ref.leaf_names)
    for lv, rl in zip(h.levels, ref.levels):
        _check_level(lv.labels, n, rl.num_classes)
        assert sorted(lv.group_sizes().tolist()) == sorted(rl.group_sizes().tolist())
    assert h.nested == ref.is_nested() and h.is_nested() == ref.is_nested()
    for i in range(len(h.levels)):
        for j in range(i + 1, len(h.levels)):
            assert _joint(h.levels[i].labels, h.levels[j].labels) == _joint(ref.levels[i].labels, ref.levels[j].labels)
    assert _bytes(h) == _bytes(random_hierarchy(like=ref, seed=seed + 1))


def test_like_actually_shuffles(wn_map):
    h = random_hierarchy(like=str(wn_map) + ":level_3", seed=0)
    ref = read_label_map(wn_map)
    assert h.level_names == ["random_level_3"]
    assert not np.array_equal(h.levels[0].labels, ref.lookup("level_3"))
    assert h.metadata["like"]["name"] == "in1k.wordnet.parquet"
    assert h.metadata["like"]["sha256"] == __import__("hashlib").sha256(wn_map.read_bytes()).hexdigest()
    assert h.metadata["like"]["levels"] == ["level_3"]


# ----------------------------------------------------------------------------- the command


def test_cli_k_writes_default_name_and_is_byte_identical(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("random", "--dataset", "imagenet1k", "--k", "100,10", "--seed", "3")
    assert res.code == 0, res.stderr
    name = "imagenet1k.random_k100+random_k10.seed3.parquet"
    assert f"wrote {name}" in res.stderr and res.stdout == b""
    first = (tmp_path / name).read_bytes()
    res = invoke("random", "--dataset", "imagenet1k", "--k", "10,100", "--seed", "3", "-o", "again.parquet")
    assert res.code == 0, res.stderr
    assert (tmp_path / "again.parquet").read_bytes() == first
    lm = read_label_map(tmp_path / name)
    assert lm.levels == ["random_k100", "random_k10"] and lm.num_classes("random_k10") == 10
    assert lm.metadata["method"] == "random" and lm.metadata["seed"] == 3


def test_cli_like_to_stdout(wn_map):
    res = invoke("random", "--like", f"{wn_map}", "--seed", "4", "-o", "-")
    assert res.code == 0, res.stderr
    table = pq.read_table(io.BytesIO(res.stdout))
    assert table.column_names[:3] == ["leaf_index", "leaf_id", "leaf_name"]
    assert "random_level_0" in table.column_names and "random_level_3" in table.column_names
    lm = read_label_map(io.BytesIO(res.stdout))
    assert lm.metadata["nested"] is True


def test_cli_like_with_matching_dataset_and_classes(wn_map, tmp_path):
    out = tmp_path / "r.parquet"
    res = invoke("random", "--like", f"{wn_map}:level_1,level_3", "--dataset", "imagenet1k", "-o", out)
    assert res.code == 0, res.stderr
    assert read_label_map(out).levels == ["random_level_1", "random_level_3"]


def test_cli_classes_file(tmp_path):
    (tmp_path / "c.txt").write_text("a\nb\nc\nd\ne\n")
    out = tmp_path / "r.parquet"
    res = invoke("random", "--classes", tmp_path / "c.txt", "--k", "2", "--sizes", "multinomial", "-o", out)
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    assert lm.leaf_ids == ["a", "b", "c", "d", "e"] and lm.num_classes("random_k2") == 2


def _no_output(tmp_path: Path) -> None:
    assert [p.name for p in tmp_path.iterdir() if p.suffix in (".parquet", ".tmp")] == []


def test_like_leaves_differ_is_an_error(wn_map, tmp_path):
    (tmp_path / "c.txt").write_text("n01440764\nn01443537\nn01496331\n")
    out = tmp_path / "r.parquet"
    res = invoke("random", "--like", wn_map, "--classes", tmp_path / "c.txt", "-o", out)
    assert_one_line_error(res, "leaves differ", "leaf 2 is 'n01496331'", "c.txt")
    assert not out.exists()
    res = invoke("random", "--like", wn_map, "--dataset", "imagenet21k", "-o", out)
    assert_one_line_error(res, "leaves differ", "leaf 0")
    assert not out.exists()


def test_bad_reference_schema(tmp_path):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"leaf_index": pa.array([0, 1], pa.int32()), "leaf_id": ["a", "b"],
                             "lv": pa.array([0, 0], pa.int32())}), bad)
    out = tmp_path / "r.parquet"
    res = invoke("random", "--like", bad, "-o", out)
    assert_one_line_error(res, "bad.parquet", "missing column 'leaf_name'")
    assert not out.exists()


@pytest.mark.parametrize("args, fragments", [
    (["--like", "{map}:level_9"], ["--like", "no level 'level_9'", "level_0, level_1, level_3"]),
    (["--like", "{dir}/nope.parquet"], ["nope.parquet", "does not exist"]),
    (["--k", "5", "--like", "{map}"], ["--k or --like, not both"]),
    ([], ["--k K", "--like"]),
    (["--dataset", "imagenet1k", "--k", "1001"], ["--k 1,001", "1,000 leaves"]),
    (["--dataset", "imagenet1k", "--k", "10,0"], ["at least 1"]),
    (["--dataset", "imagenet1k", "--k", "10,ten"], ["'ten' is not a whole number"]),
    (["--dataset", "imagenet1k", "--k", "10", "--sizes", "equal"], ["--sizes 'equal'"]),
    (["--dataset", "imagenet1k", "--k", "10", "--leaf-names", "x"], ["--leaf-names 'x'"]),
    (["--dataset", "imagenet1k", "--k", "10", "--seed", "-1"], ["--seed -1"]),
    (["--like", "{map}", "--independent"], ["--independent apply to --k"]),
    (["--like", "{map}", "--sizes", "balanced"], ["--sizes and --independent apply to --k"]),
    (["--like", "{map}", "--leaf-names", "auto"], ["--leaf-names applies to --k"]),
    (["--like", "{map}", "--leaf-names", "id"], ["--leaf-names applies to --k"]),
    (["--dataset", "nope", "--k", "3"], ["unknown --dataset 'nope'"]),
    (["--classes", "{dir}/c.csv", "--column", "wnid", "--k", "2"], ["c.csv", "no column 'wnid'", "id, name"]),
    (["--classes", "{dir}/c.csv", "--k", "2", "--leaf-names", "wordnet"], ["not noun wnids", "'a' (line 2)"]),
    (["--classes", "{dir}/c.csv", "--dataset", "imagenet1k", "--k", "2"], ["--classes or --dataset"]),
])
def test_bad_input_is_one_line_and_writes_nothing(wn_map, tmp_path, args, fragments):
    out = tmp_path / "r.parquet"
    (tmp_path / "c.csv").write_text("id,name\na,A\nb,B\nc,C\n")
    args = [a.format(map=wn_map, dir=tmp_path) for a in args]
    res = invoke("random", *args, "-o", out)
    assert_one_line_error(res, *fragments)
    _no_output(tmp_path)


def test_real_entry_point_pipes_into_inspect(tmp_path):
    from conftest import run_cli

    res = run_cli("random", "--dataset", "imagenet1k", "--k", "7", "--seed", "9", "-o", "-")
    assert res.code == 0, res.stderr
    again = run_cli("random", "--dataset", "imagenet1k", "--k", "7", "--seed", "9", "-o", "-")
    assert again.stdout == res.stdout
    shown = run_cli("inspect", "-", "--json", stdin=res.stdout)
    assert shown.code == 0, shown.stderr
    import json

    data = json.loads(shown.stdout)
    assert data["levels"][0]["name"] == "random_k7" and data["levels"][0]["classes"] == 7
    assert data["levels"][0]["min"] == 142 and data["levels"][0]["max"] == 143
