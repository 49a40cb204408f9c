"""``granularity breeds``: BREEDS' levels, superclass filtering, class choice and splits.

The fixture (tests/fixtures/breeds) is our own small hierarchy in BREEDS' three files:

    n00001740 -> living -> animal -> dog (d1 d2 d3), cat (c1 c2), bird (b1 b2 b3)
                        -> plant -> tree (oak pine elm)
                        -> bird                       (a second, shorter path)
              -> artifact -> tool (hammer saw drill), vehicle (car, unused)

Class numbers (the ImageNet index) follow dataset_class_info.json: car 0, b1 1, b2 2,
b3 3, c1 4, c2 5, d1 6, d2 7, d3 8, elm 9, oak 10, pine 11, hammer 12, saw 13,
drill 14, lonely 15 (lonely is in no edge; unused is not a class).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, invoke
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.labelmap import read_label_map
from hierarchy_cli.sources.breeds import TASKS, build_breeds, read_breeds, select_task

FIX = Path(__file__).parent / "fixtures" / "breeds"


def _folder(tmp_path, edges: str, classes: list[str], names: str = "") -> Path:
    d = tmp_path / "breeds"
    d.mkdir()
    (d / "class_hierarchy.txt").write_text(edges)
    (d / "node_names.txt").write_text(names or "n00001740\tentity\n")
    (d / "dataset_class_info.json").write_text(json.dumps([[i, c, c.upper()] for i, c in enumerate(classes)]))
    return d


def _as_sets(sources, targets):
    return [set(s) for s in sources], [set(t) for t in targets]


def test_level_is_the_longest_path_from_the_root():
    h = read_breeds(FIX)
    assert h.level["living"] == 1 and h.level["animal"] == 2
    assert h.level["bird"] == 3  # living -> bird is 2, living -> animal -> bird is 3
    assert h.level["b1"] == 4 and h.level["hammer"] == 3
    assert h.nodes_at_level(2) == ["animal", "plant", "tool", "vehicle"]
    assert h.nodes_at_level(3) == ["bird", "car", "cat", "dog", "drill", "hammer", "saw", "tree"]


def test_only_the_classes_and_their_ancestors_are_kept():
    h = read_breeds(FIX)
    assert "unused" not in h.nodes and "unused" not in h.level  # not a class, not above one
    assert "lonely" not in h.nodes  # a class in no edge
    assert h.classes_below("vehicle") == ["car"]
    assert h.classes_below("animal") == ["b1", "b2", "b3", "c1", "c2", "d1", "d2", "d3"]


def test_classes_below_stop_at_a_class(tmp_path):
    d = _folder(tmp_path, "n00001740 s\ns x\nx x1\ns y\n", ["x", "x1", "y"])
    h = read_breeds(d)
    assert h.classes_below("s") == ["x", "y"]  # x1 lies below the class x
    assert h.classes_below("x") == ["x", "x1"]  # a class counts itself


def test_superclasses_are_filtered_by_their_class_count():
    h = read_breeds(FIX)
    sup, *_ , n = select_task(h, 2, None, None, "none", 2)
    assert n == 2  # the smallest count is 1 (vehicle), rounded down to even but at least 2
    assert sup == ["animal", "plant", "tool"]
    sup, *_ = select_task(h, 2, None, 4, "none", 2)
    assert sup == ["animal"]
    sup, *_ = select_task(h, 2, "artifact", 2, "none", 2)
    assert sup == ["tool"]
    sup, *_ = select_task(h, 3, "living", 3, "none", 2)
    assert sup == ["bird", "dog", "tree"]


def test_no_split_draws_from_one_random_state_in_superclass_order():
    h = read_breeds(FIX)
    sup, src, tgt, n = select_task(h, 2, None, 2, "none", 2)
    rng = np.random.RandomState(2)
    expect = [list(rng.choice(h.classes_below(s), 2, replace=False)) for s in sup]
    assert src == expect and tgt == [[], [], []]
    other = select_task(h, 2, None, 2, "none", 3)[1]
    assert other != src  # the seed matters


def test_rand_split_takes_halves_of_one_draw_over_the_sorted_pool():
    h = read_breeds(FIX)
    sup, src, tgt, _ = select_task(h, 2, None, 2, "rand", 2)
    rng = np.random.RandomState(2)
    for s, a, b in zip(sup, src, tgt):
        desc = h.children[s]
        while len(desc) == 1:  # plant -> tree: the split starts below the single child
            desc = h.children[desc[0]]
        pool = sorted(c for d in desc for c in h.classes_below(d))
        chosen = list(rng.choice(pool, 2, replace=False))
        assert (a, b) == (chosen[:1], chosen[1:])
    sup, src, tgt, _ = select_task(h, 2, None, 8, "rand", 2)
    assert set(src[0]) | set(tgt[0]) == set(h.classes_below("animal")) and not set(src[0]) & set(tgt[0])


def test_good_split_shares_each_child_between_the_halves():
    h = read_breeds(FIX)
    # children by size, largest first, ties by id: bird (3), dog (3), cat (2); half = 2
    # bird: 1 to source, the next 2 to target; dog: 1 to source; cat: nothing left
    _, src, tgt, _ = select_task(h, 2, None, 4, "good", 2)
    assert _as_sets(src, tgt) == ([{"b1", "d1"}], [{"b2", "b3"}])
    _, src, tgt, _ = select_task(h, 2, None, 6, "good", 2)
    assert _as_sets(src, tgt) == ([{"b1", "d1", "c1"}], [{"b2", "b3", "d2"}])


def test_bad_split_fills_the_source_with_the_largest_children_then_uses_spares():
    h = read_breeds(FIX)
    _, src, tgt, _ = select_task(h, 2, None, 4, "bad", 2)
    assert _as_sets(src, tgt) == ([{"b1", "b2"}], [{"d1", "d2"}])  # dog before cat: larger
    # half = 4: bird (3) + c1 to source, dog (3) to target, then the spare c2 completes it
    _, src, tgt, _ = select_task(h, 2, None, 8, "bad", 2)
    assert _as_sets(src, tgt) == ([{"b1", "b2", "b3", "c1"}], [{"d1", "d2", "d3", "c2"}])


def test_split_starts_below_a_chain_of_single_children(tmp_path):
    d = _folder(tmp_path, "n00001740 s\ns t\nt a\nt b\na a1\na a2\na a3\nb b1\n", ["a1", "a2", "a3", "b1"])
    h = read_breeds(d)
    _, src, tgt, _ = select_task(h, 1, None, 2, "bad", 2)
    # below t: a (3 classes) fills the source, b (1) the target; splitting t's classes as
    # one group would have given the target the spare a2 instead
    assert (src, tgt) == ([["a1"]], [["b1"]])


def test_good_split_that_cannot_fill_both_halves_is_refused():
    h = read_breeds(FIX)
    with pytest.raises(GranularityError, match=r"superclass 'animal' \(animal\): the 'good' split fills 3 "
                                               r"source and 4 target classes, not 4 each"):
        select_task(h, 2, None, 8, "good", 2)


def test_a_class_reached_twice_is_refused(tmp_path):
    d = _folder(tmp_path, "n00001740 s1\nn00001740 s2\ns1 x\ns1 y\ns2 x\ns2 z\n", ["x", "y", "z"])
    with pytest.raises(GranularityError, match=r"1 classes chosen twice .* 'x' \(source of s2, first at source "
                                               r"of s1\)"):
        build_breeds(d, level=1, subclasses=2, split="none")
    d2 = tmp_path / "two"
    d2.mkdir()
    for f in ("node_names.txt", "dataset_class_info.json"):
        (d2 / f).write_text((d / f).read_text())
    (d2 / "class_hierarchy.txt").write_text("n00001740 s\ns a\ns b\na x\na y\nb x\nb z\n")
    with pytest.raises(GranularityError, match=r"puts 1 classes in both halves \('x'.*two children"):
        build_breeds(d2, level=1, subclasses=2, split="bad")  # a: x | b: x (x is below a and b)


def test_the_label_map_lists_the_task_classes_in_imagenet_order(tmp_path):
    h = build_breeds(FIX, level=2, subclasses=2, split="bad")
    # bad, half 1: animal b1 | d1, plant (below tree) elm | oak, tool (drill, hammer, saw) drill | hammer
    assert list(h.leaf_ids) == ["b1", "d1", "elm", "oak", "hammer", "drill"]  # class numbers 1 6 9 10 12 14
    assert h.columns["imagenet_index"].tolist() == [1, 6, 9, 10, 12, 14]
    assert h.columns["split"] == ["source", "target", "source", "target", "target", "source"]
    sc = h.level("superclass")
    assert sc.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert sc.ids == ("animal", "plant", "tool") and sc.names == ("animal", "plant, flora", "tool")
    assert h.leaf_names[0] == "b1 (class 1)"
    meta = h.metadata
    assert meta["superclasses"] == ["animal", "plant", "tool"]  # BREEDS' label order
    assert (meta["level"], meta["subclasses"], meta["split"], meta["seed"]) == (2, 2, "bad", 2)
    assert meta["num_source"] == meta["num_target"] == 3
    out = tmp_path / "t.parquet"
    from hierarchy_cli.labelmap import write_label_map

    write_label_map(h, out)
    lm = read_label_map(out)
    assert lm.levels == ["superclass"]
    assert lm.metadata["extra_columns"] == ["imagenet_index", "split"]
    assert lm.table.column_names == ["leaf_index", "leaf_id", "leaf_name", "superclass", "superclass_id",
                                     "superclass_name", "imagenet_index", "split"]
    assert str(lm.table.schema.field("imagenet_index").type) == "int32"


def test_superclass_labels_follow_first_appearance_not_breeds_order(tmp_path):
    # superclasses sorted by id: a, b; but b's class has the lower class number
    d = _folder(tmp_path, "n00001740 a\nn00001740 b\na a1\na a2\nb b1\nb b2\n", ["b1", "b2", "a1", "a2"])
    h = build_breeds(d, level=1, subclasses=2, split="none")
    assert list(h.leaf_ids) == ["b1", "b2", "a1", "a2"]
    assert h.level("superclass").ids == ("b", "a")
    assert h.metadata["superclasses"] == ["a", "b"]
    assert h.columns["split"] == ["source"] * 4


def test_standard_tasks_are_breeds_parameters():
    assert TASKS["entity13"].level == 3 and TASKS["entity13"].subclasses == 20 and TASKS["entity13"].ancestor is None
    assert (TASKS["entity30"].level, TASKS["entity30"].subclasses) == (4, 8)
    assert (TASKS["living17"].level, TASKS["living17"].ancestor, TASKS["living17"].subclasses) == (5, "n00004258", 4)
    assert (TASKS["nonliving26"].level, TASKS["nonliving26"].ancestor) == (5, "n00021939")


def test_cli_choices_are_the_api_ones():
    """The command's completion lists (hierarchy_cli.options) name exactly the API's tasks."""
    from hierarchy_cli.options import BREEDS_SPLITS, BREEDS_TASKS
    from hierarchy_cli.sources.breeds import SPLITS

    assert BREEDS_TASKS == tuple(TASKS) and BREEDS_SPLITS == SPLITS


def test_api_validation():
    with pytest.raises(GranularityError, match="unknown BREEDS task 'entity14'; choose one of entity13"):
        build_breeds(FIX, "entity14")
    with pytest.raises(GranularityError, match="task 'living17' fixes level, subclasses"):
        build_breeds(FIX, "living17", level=2, subclasses=4)
    with pytest.raises(GranularityError, match="say which task"):
        build_breeds(FIX)
    with pytest.raises(GranularityError, match="unknown split 'random'; choose one of none, rand, good, bad"):
        build_breeds(FIX, level=2, split="random")
    with pytest.raises(GranularityError, match="subclasses 3 is odd"):
        build_breeds(FIX, level=2, subclasses=3, split="rand")
    assert build_breeds(FIX, level=2, subclasses=3, split="none").num_leaves == 9  # animal, plant, tool
    with pytest.raises(GranularityError, match="level must be at least 0, got -1"):
        build_breeds(FIX, level=-1)
    with pytest.raises(GranularityError, match="seed must be a whole number, got 1.5"):
        build_breeds(FIX, level=2, seed=1.5)
    with pytest.raises(GranularityError, match=r"no node of the BREEDS hierarchy is at level 9 \(levels run 0..4"):
        build_breeds(FIX, level=9)
    with pytest.raises(GranularityError, match="no superclass at level 3 has 20 classes"):
        build_breeds(FIX, "entity13")
    with pytest.raises(GranularityError, match="ancestor 'n00004258' is not in the BREEDS hierarchy"):
        build_breeds(FIX, "living17")


def test_bad_folders(tmp_path):
    with pytest.raises(GranularityError, match="BREEDS hierarchy folder .* does not exist"):
        read_breeds(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GranularityError, match="has no 'class_hierarchy.txt', 'node_names.txt', "
                                               "'dataset_class_info.json'"):
        read_breeds(empty)
    d = _folder(tmp_path, "n00001740 a\na x\n", ["x"])
    (d / "dataset_class_info.json").write_text('[[0, "x", "X"], [0, "y", "Y"]]')
    with pytest.raises(GranularityError, match=r"1 class numbers listed twice in BREEDS class info .*: 0 \(record 1, first at record 0\)"):
        read_breeds(d)
    (d / "dataset_class_info.json").write_text('[[0, "x"]]')
    with pytest.raises(GranularityError, match=r"record 0: .* is not \[class number, wnid, name\]"):
        read_breeds(d)
    (d / "dataset_class_info.json").write_text('{"x": 0}')
    with pytest.raises(GranularityError, match="is not a non-empty list"):
        read_breeds(d)
    (d / "dataset_class_info.json").write_text('[[0, "x", "X"]')
    with pytest.raises(GranularityError, match="line 1 is not valid JSON"):
        read_breeds(d)
    (d / "dataset_class_info.json").write_text('[[0, "x", "X"]]')
    (d / "class_hierarchy.txt").write_text("top a\na x\n")
    with pytest.raises(GranularityError, match="root 'n00001740' is not above any class"):
        read_breeds(d)
    (d / "class_hierarchy.txt").write_text("n00001740 a\na b\nb a\nb x\n")
    with pytest.raises(GranularityError, match="has a cycle through 'a', 'b'"):
        read_breeds(d)
    (d / "class_hierarchy.txt").write_text("n00001740 a\na a\na x\n")
    with pytest.raises(GranularityError, match=r"1 self-loops .*: 'a' \(line 2\)"):
        read_breeds(d)


def test_cli_builds_a_task_and_is_byte_identical(tmp_path):
    res = invoke("breeds", "--level", "2", "--subclasses", "4", "--split", "bad", "-H", FIX, "-o", tmp_path / "a.parquet")
    assert res.code == 0, res.stderr
    err = " ".join(res.stderr.split())
    assert "1 superclasses at level 2: 4 classes each (2 source + 2 target, split bad, seed 2)" in err
    invoke("breeds", "--level", "2", "--subclasses", "4", "--split", "bad", "-H", FIX, "-o", tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    lm = read_label_map(tmp_path / "a.parquet")
    assert lm.table.column("split").to_pylist() == ["source", "source", "target", "target"]


def test_cli_default_name_and_errors(tmp_path):
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = invoke("breeds", "--level", "2", "-H", FIX)
        assert res.code == 0, res.stderr
        assert (tmp_path / "breeds.level_2.rand.parquet").is_file()
        res = invoke("breeds", "entity13", "-H", FIX)
        assert_one_line_error(res, "no superclass at level 3 has 20 classes")
        res = invoke("breeds", "living17", "--level", "3", "-H", FIX)
        assert_one_line_error(res, "task 'living17' fixes --level: give a TASK or --level, not both")
        res = invoke("breeds", "-H", FIX)
        assert_one_line_error(res, "say which task")
        res = invoke("breeds", "--level", "2", "--split", "half", "-H", FIX, "-o", "x.parquet")
        assert_one_line_error(res, "unknown split 'half'")
        assert not (tmp_path / "x.parquet").exists()
        res = invoke("breeds", "--level", "2", "-H", tmp_path / "missing")
        assert_one_line_error(res, "does not exist")
    finally:
        os.chdir(cwd)
