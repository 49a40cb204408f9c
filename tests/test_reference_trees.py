"""Reference hierarchies: the last-parent rule and the class tree (MIIL), ranks by name (iNat)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_one_line_error, invoke
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.graph import choose_paths
from hierarchy_cli.labelmap import read_label_map
from hierarchy_cli.sources.edges import build_edges
from hierarchy_cli.sources.taxonomy import build_taxonomy

# 'x' has three parents, listed b, c, a; 'y' two, listed a, b.
MULTI = """root a
root b
a c
c x
b x
a x
a y
b y
"""


def _ids(h, level):
    lv = h.level(level)
    return [lv.ids[k] for k in lv.labels]


@pytest.fixture
def multi(tmp_path):
    p = tmp_path / "multi.txt"
    p.write_text(MULTI)
    return p


def test_last_follows_the_last_listed_parent(multi):
    h = build_edges(multi, classes=["x", "y"], levels=[1], multi_parent="last")
    assert _ids(h, "level_1") == ["a", "b"]
    h = build_edges(multi, classes=["x", "y"], levels=[1], multi_parent="first")
    assert _ids(h, "level_1") == ["c", "a"]


def test_last_on_a_file_equals_first_on_the_reversed_file(multi, tmp_path):
    rev = tmp_path / "reversed.txt"
    rev.write_text("".join(reversed(MULTI.splitlines(keepends=True))))
    for opts in ({"levels": range(4)}, {"depths": range(4)}):
        a = build_edges(multi, classes=["x", "y", "c"], multi_parent="last", **opts)
        b = build_edges(rev, classes=["x", "y", "c"], multi_parent="first", **opts)
        for name in a.level_names:
            assert _ids(a, name) == _ids(b, name)


def test_last_on_embedded_wordnet_takes_the_last_pointer():
    from hierarchy_cli.manifests import load_dataset
    from hierarchy_cli.sources.wordnet import build_wordnet, load_wordnet

    g = load_wordnet().graph
    wnids = load_dataset("imagenet1k").ids
    h = build_wordnet(dataset="imagenet1k", levels=[1], multi_parent="last")
    first = build_wordnet(dataset="imagenet1k", levels=[1], multi_parent="first")
    nodes = load_wordnet().nodes_of(wnids)[0]
    expect = [g.ids[g.parents[g.parent_ptr[v + 1] - 1]] for v in nodes.tolist()]
    assert _ids(h, "level_1") == expect
    assert _ids(h, "level_1") != _ids(first, "level_1")  # ImageNet-1k has multi-parent classes
    assert h.metadata["multi_parent"] == "last"


# classes are x, c, a and z; b and root are not classes
CLASS_TREE = """root a
root b
a c
c x
b z
"""


def test_class_tree_skips_nodes_that_are_not_classes(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text(CLASS_TREE)
    classes = ["x", "z", "c", "a"]
    h = build_edges(p, classes=classes, levels=[1, 2], class_tree=True)
    d = build_edges(p, classes=classes, depths=[0, 1, 2], class_tree=True)
    # parents in the class tree: x -> c -> a; z and a have no class above them
    assert _ids(h, "level_1") == ["c", "z", "a", "a"]
    assert _ids(h, "level_2") == ["a", "z", "a", "a"]
    assert _ids(d, "depth_0") == ["a", "z", "a", "a"]
    assert _ids(d, "depth_1") == ["c", "z", "c", "a"]  # shallower classes keep themselves
    assert _ids(d, "depth_2") == ["x", "z", "c", "a"]
    assert h.metadata["class_tree"] is True
    full = build_edges(p, classes=classes, depths=[1])
    assert _ids(full, "depth_1") == ["a", "b", "a", "a"]  # without it: depths count every node


def test_class_tree_depths_are_the_classes_on_the_full_path(multi):
    """depth_d in the class tree = the d-th class from the top of the chosen full path."""
    classes = ["x", "y", "c", "a"]
    h = build_edges(multi, classes=classes, depths=range(4), multi_parent="last", class_tree=True)
    full = build_edges(multi, classes=classes, levels=range(5), multi_parent="last")
    for i, leaf in enumerate(classes):
        path = [_ids(full, f"level_{k}")[i] for k in range(5)]
        path = list(dict.fromkeys(reversed(path)))  # top down, root repeated once reached
        on_path = [n for n in path if n in classes]
        for d in range(4):
            assert _ids(h, f"depth_{d}")[i] == on_path[min(d, len(on_path) - 1)]


def test_class_tree_on_wordnet_has_miil_depth_count():
    """ImageNet-21K-P winter21 under the last-parent class tree is 12 class levels deep (0..11)."""
    from hierarchy_cli.sources.wordnet import build_wordnet

    h = build_wordnet(dataset="imagenet21k-p-winter21", depths=[11, 12], multi_parent="last", class_tree=True)
    d11, d12 = h.level("depth_11"), h.level("depth_12")
    assert d11.num_classes == d12.num_classes == 10_450  # nothing is deeper than 11
    h = build_wordnet(dataset="imagenet21k-p-winter21", depths=[10], multi_parent="last", class_tree=True)
    assert h.level("depth_10").num_classes < 10_450


def test_cli_last_and_class_tree_with_a_dataset_on_an_edge_list(multi, tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("x\ny\n")
    out = tmp_path / "o.parquet"
    res = invoke("build", "--edges", multi, "--classes", classes, "--multi-parent", "last",
                 "--class-tree", "--level", "1", "-o", out)
    assert res.code == 0, res.stderr
    assert "followed the last one; levels count classes only" in " ".join(res.stderr.split())
    lm = read_label_map(out)
    assert lm.metadata["class_tree"] is True and lm.metadata["multi_parent"] == "last"
    # no class above x or y: level 1 is the class itself
    assert lm.table.column("level_1_id").to_pylist() == ["x", "y"]


def test_cli_edges_accept_a_shipped_dataset(tmp_path):
    is_a = tmp_path / "is_a.txt"
    is_a.write_text("n00001740 n01440764\nn00001740 n01443537\n")
    res = invoke("build", "--edges", is_a, "--dataset", "imagenet1k", "--level", "1", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "998 classes missing from edge list", "is_a.txt' in dataset imagenet1k")


def test_cli_refuses_options_of_other_sources(tmp_path):
    res = invoke("build", "--level", "1", "--rank-ids", "name")
    assert_one_line_error(res, "--rank-ids does not apply to --source wordnet")
    tax = tmp_path / "t.csv"
    tax.write_text("kingdom,genus,species\nA,G,G s\n")
    res = invoke("build", "--taxonomy", tax, "--level", "genus", "--class-tree")
    assert_one_line_error(res, "--class-tree does not apply to --source taxonomy")
    res = invoke("build", "--level", "1", "--multi-parent", "middle")
    assert_one_line_error(res, "unknown --multi-parent rule 'middle'", "last")


# ----------------------------------------------------------------------------- ranks by name

HOMONYM = [
    # kingdom, phylum, class, order, family, genus, epithet, supercategory
    ("Plantae", "Tracheophyta", "Magnoliopsida", "Rosales", "Moraceae", "Morus", "alba", "Plants"),
    ("Plantae", "Tracheophyta", "Magnoliopsida", "Rosales", "Moraceae", "Morus", "rubra", "Plants"),
    ("Plantae", "Tracheophyta", "Magnoliopsida", "Rosales", "Moraceae", "Ficus", "carica", "Plants"),
    ("Animalia", "Chordata", "Aves", "Suliformes", "Sulidae", "Morus", "bassanus", "Birds"),
    ("Animalia", "Chordata", "Aves", "Suliformes", "Sulidae", "Sula", "sula", "Birds"),
    ("Animalia", "Chordata", "Aves", "Passeriformes", "Paridae", "Parus", "major", "Birds"),
]
RANKS = ("kingdom", "phylum", "class", "order", "family", "genus")


def _inat_json(path, rows):
    cats = [dict(zip(RANKS + ("specific_epithet", "supercategory"), r), id=i,
                 name=f"{r[5]} {r[6]}", image_dir_name=f"{i:05d}_{'_'.join(r[:7])}")
            for i, r in enumerate(rows)]
    path.write_text(json.dumps({"info": {}, "images": [], "categories": cats}))
    return path


def test_rank_ids_name_joins_homonym_genera_and_reports_it(tmp_path):
    f = _inat_json(tmp_path / "train_mini.json", HOMONYM)
    by_path = build_taxonomy(f, "all")
    by_name = build_taxonomy(f, "all", rank_ids="name")
    counts = {h.metadata["rank_ids"]: {lv.name: lv.num_classes for lv in h.levels} for h in (by_path, by_name)}
    assert counts["path"]["genus"] == 5 and counts["name"]["genus"] == 4
    for r in ("family", "order", "class", "phylum", "kingdom", "supercategory"):
        assert counts["path"][r] == counts["name"][r]
    assert by_path.metadata["homonyms"] == by_name.metadata["homonyms"] == {"genus": 1}
    g = by_name.level("genus")
    assert [g.ids[k] for k in g.labels] == ["Morus", "Morus", "Ficus", "Morus", "Sula", "Parus"]
    assert by_path.level("genus").ids[0] == "Plantae/Tracheophyta/Magnoliopsida/Rosales/Moraceae/Morus"
    # Morus by name lies in two families: the genus level no longer nests in family
    assert by_name.metadata["nested"] is False
    assert ["genus", "family"] in by_name.metadata["not_nested"]
    assert by_path.metadata["nested"] is True


def test_rank_ids_name_on_a_tree_without_homonyms_equals_path(tmp_path):
    f = _inat_json(tmp_path / "t.json", [r for r in HOMONYM if r[1] != "Chordata"])
    a = build_taxonomy(f, "species,all")
    b = build_taxonomy(f, "species,all", rank_ids="name")
    for la, lb in zip(a.levels, b.levels):
        assert np.array_equal(la.labels, lb.labels)
    assert b.level("family").ids == ("Moraceae",)
    assert b.metadata["nested"] is True and a.metadata["nested"] is True


def test_rank_ids_name_refuses_two_species_of_one_name(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text("id,family,genus,species\n0,A,G,G s\n1,B,G,G s\n")
    assert build_taxonomy(t, "species").level("species").num_classes == 2  # kept apart by path
    with pytest.raises(GranularityError, match="duplicate species in taxonomy .*t.csv': 'G s' \\(line 3, first at line 2\\)"):
        build_taxonomy(t, "species", rank_ids="name")
    with pytest.raises(GranularityError, match="unknown --rank-ids 'names'; choose one of path, name"):
        build_taxonomy(t, "genus", rank_ids="names")


def test_cli_rank_ids_name_summary(tmp_path):
    f = _inat_json(tmp_path / "train_mini.json", HOMONYM)
    out = tmp_path / "o.parquet"
    res = invoke("build", "--taxonomy", f, "--levels", "all", "--rank-ids", "name", "-o", out)
    assert res.code == 0, res.stderr
    err = " ".join(res.stderr.split())
    assert "1 genus name(s) name groups with different paths: joined into one group each" in err
    assert "not nested: genus -> family" in err
    lm = read_label_map(out)
    assert lm.num_classes("genus") == 4 and lm.metadata["rank_ids"] == "name"
    res = invoke("build", "--taxonomy", f, "--levels", "all", "-o", out)
    assert "kept apart by their path ids" in " ".join(res.stderr.split())
    assert read_label_map(out).num_classes("genus") == 5


def test_choose_paths_last_rule_depths():
    from hierarchy_cli.graph import Graph

    # 0 root; 1 child of 0; 2 child of 1 and 0 (listed 1 then 0)
    g = Graph(["r", "a", "b"], ["r", "a", "b"], np.array([0, 0, 1, 3]), np.array([0, 1, 0], dtype=np.int32))
    p = choose_paths(g, "last")
    assert p.parent.tolist() == [-1, 0, 0] and p.depth.tolist() == [0, 1, 1]
    p = choose_paths(g, "first")
    assert p.parent.tolist() == [-1, 0, 1] and p.depth.tolist() == [0, 1, 2]
