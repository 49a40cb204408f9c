"""The hierarchies researchers build by hand: a label per given ancestor (--ancestors),
a chosen root and pruned single-child nodes (--root, --prune), classes left outside
(--missing-classes drop) and a reference's own label numbering (--label-order)."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, assert_one_line_error, invoke

from hierarchy_cli import build_edges, build_taxonomy, build_wordnet, read_label_map
from hierarchy_cli.errors import GranularityError

IN1K = (ROOT / "data_manifests" / "imagenet1k.txt").read_text().split()

# A small is-a tree in ImageNet's wordnet.is_a.txt layout, with single-child chains:
#   entity -> object -> living -> animal -> {mammal -> carnivore -> {cat, dog}, bird -> songbird -> robin}
#   entity -> object -> thing -> rock        (rock: a class outside 'living')
#   pet -> cat                                (a second parent of cat, not below 'object')
EDGES = """\
entity object
object living
living animal
animal mammal
mammal carnivore
carnivore cat
carnivore dog
animal bird
bird songbird
songbird robin
object thing
thing rock
pet cat
"""


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "is_a.txt").write_text(EDGES)
    (tmp_path / "classes.txt").write_text("cat\nrobin\ndog\nrock\n")
    return tmp_path / "is_a.txt", tmp_path / "classes.txt"


def ids(h, level):
    lv = h.level(level)
    return [None if k < 0 else lv.ids[k] for k in lv.labels]


# ----------------------------------------------------------------------------- --ancestors


def test_each_class_takes_the_given_ancestor_it_falls_under(tree):
    edges, classes = tree
    h = build_edges(edges, classes=str(classes), ancestors=["carnivore", "bird", "thing"])
    assert h.level_names == ["ancestors"] and ids(h, "ancestors") == ["carnivore", "bird", "carnivore", "thing"]
    assert h.level("ancestors").labels.tolist() == [0, 1, 0, 2]  # first appearance by default
    # nested ancestors: the most specific wins (songbird is below bird, bird below animal)
    h = build_edges(edges, classes=str(classes), ancestors=["animal", "songbird", "object"])
    assert ids(h, "ancestors") == ["animal", "songbird", "animal", "object"]


def test_two_unrelated_ancestors_are_an_error_unless_one_path_is_followed(tree):
    edges, classes = tree
    with pytest.raises(GranularityError, match=r"1 classes fall under two of the given ancestors, neither below "
                                               r"the other: 'cat' \(class 0: 'carnivore' carnivore and 'pet' pet\)"):
        build_edges(edges, classes=str(classes), ancestors=["carnivore", "pet", "bird", "thing"])
    # --ancestor-rule exclusive: such a class has no place (tieredImageNet's rule)
    h = build_edges(edges, classes=str(classes), ancestors=["carnivore", "pet", "bird", "thing"],
                    ancestor_rule="exclusive", missing_classes="drop")
    assert ids(h, "ancestors") == [None, "bird", "carnivore", "thing"] and h.metadata["classes_ambiguous"] == 1
    # --ancestor-rule path: only the chosen path counts (longest: cat -> carnivore -> ... -> entity)
    h = build_edges(edges, classes=str(classes), ancestors=["carnivore", "pet", "bird", "thing"],
                    ancestor_rule="path")
    assert ids(h, "ancestors") == ["carnivore", "bird", "carnivore", "thing"]
    h = build_edges(edges, classes=str(classes), ancestors=["pet", "bird", "thing", "carnivore"],
                    ancestor_rule="path", multi_parent="shortest")
    assert ids(h, "ancestors") == ["pet", "bird", "carnivore", "thing"]  # cat's shortest path: cat -> pet


def test_classes_under_no_ancestor_follow_missing_classes(tree):
    edges, classes = tree
    with pytest.raises(GranularityError, match=r"2 classes under none of the given ancestors in the classes: "
                                               r"'robin' \(class 1\), 'rock' \(class 3\).*--missing-classes drop"):
        build_edges(edges, classes=str(classes), ancestors=["carnivore"])
    own = build_edges(edges, classes=str(classes), ancestors=["carnivore"], missing_classes="own-group")
    assert ids(own, "ancestors") == ["carnivore", "robin", "carnivore", "rock"]
    drop = build_edges(edges, classes=str(classes), ancestors=["carnivore"], missing_classes="drop")
    assert ids(drop, "ancestors") == ["carnivore", None, "carnivore", None]
    assert drop.level("ancestors").labels.tolist() == [0, -1, 0, -1]
    assert drop.metadata["classes_unplaced"] == 2 and drop.metadata["missing_classes"] == "drop"
    assert list(drop.leaf_ids) == ["cat", "robin", "dog", "rock"]  # leaf_index stays the class index


def test_unknown_ancestor_and_ancestors_with_levels_are_refused(tree, tmp_path):
    edges, classes = tree
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "carnivore,unicorn",
                 "-o", tmp_path / "x.parquet")
    assert_one_line_error(res, "ids not in edge list", "'unicorn' (item 2)")
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "carnivore", "--level", "1",
                 "-o", tmp_path / "x.parquet")
    assert_one_line_error(res, "give --ancestors or --level, not both")
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestor-rule", "path", "--level", "1",
                 "-o", tmp_path / "x.parquet")
    assert_one_line_error(res, "--ancestor-rule applies with --ancestors")
    assert not (tmp_path / "x.parquet").exists()


def test_wordnet_ancestors_give_restricted_imagenets_dog_and_cat_groups(tmp_path):
    """robustness' restricted ImageNet: dog = classes 151..268, cat = 281..285 of ImageNet-1k;
    WordNet's dog (n02084071) and domestic cat (n02121808) cover exactly those."""
    (tmp_path / "groups.txt").write_text("n02084071\tdog\nn02121808\tdomestic cat\n")
    out = tmp_path / "r.parquet"
    res = invoke("build", "--dataset", "imagenet1k", "--ancestors", tmp_path / "groups.txt",
                 "--missing-classes", "drop", "--label-order", "n02084071,n02121808", "-o", out)
    assert res.code == 0, res.stderr
    assert "877 of 1,000 classes under none of --ancestors: outside the label space" in " ".join(res.stderr.split())
    lm = read_label_map(out)
    lab = lm.lookup("ancestors", outside=-1)
    assert np.flatnonzero(lab == 0).tolist() == list(range(151, 269))
    assert np.flatnonzero(lab == 1).tolist() == list(range(281, 286))
    assert lm.names("ancestors") == ["dog", "domestic cat"] and lm.num_outside("ancestors") == 877
    assert pq.read_table(out).column("ancestors").null_count == 877
    again = tmp_path / "again.parquet"
    invoke("build", "--dataset", "imagenet1k", "--ancestors", tmp_path / "groups.txt",
           "--missing-classes", "drop", "--label-order", "n02084071,n02121808", "-o", again)
    assert again.read_bytes() == out.read_bytes()


def test_taxonomy_ancestors_by_name_or_path():
    fix = ROOT / "tests" / "fixtures" / "taxonomy.csv"
    h = build_taxonomy(fix, ancestors=["Mammalia", "Aves", "Animalia/Annelida", "Insecta", "Plantae", "Fungi"])
    mam, ave = "Animalia/Chordata/Mammalia", "Animalia/Chordata/Aves"
    assert ids(h, "ancestors") == ["Animalia/Annelida"] * 2 + [mam] * 3 + [ave] * 2 + \
        ["Animalia/Arthropoda/Insecta"] * 2 + ["Plantae"] * 2 + ["Fungi", "Plantae"] + [ave] * 3
    assert h.level("ancestors").names == ("Annelida", "Mammalia", "Aves", "Insecta", "Plantae", "Fungi")
    with pytest.raises(GranularityError, match="under none of the given ancestors"):
        build_taxonomy(fix, ancestors=["Mammalia"])
    h = build_taxonomy(fix, ancestors=["Mammalia", "Felidae"], missing_classes="drop")
    assert ids(h, "ancestors")[2:5] == ["Animalia/Chordata/Mammalia/Carnivora/Felidae"] * 2 + \
        ["Animalia/Chordata/Mammalia"]  # the most specific: Felidae below Mammalia
    assert h.level("ancestors").num_outside == len(h.leaf_ids) - 3
    with pytest.raises(GranularityError, match="'Unicornia' is no taxon of the taxonomy"):
        build_taxonomy(fix, ancestors=["Unicornia"])


def test_taxonomy_homonym_ancestor_must_be_given_by_path(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("kingdom,family,genus,species\nAnimalia,Sulidae,Morus,Morus bassanus\n"
                     "Plantae,Moraceae,Morus,Morus alba\nPlantae,Moraceae,Ficus,Ficus carica\n")
    with pytest.raises(GranularityError, match=r"'Morus' names 2 taxa \('Animalia/Sulidae/Morus', "
                                               r"'Plantae/Moraceae/Morus'\): give its path"):
        build_taxonomy(table, ancestors=["Morus"])
    h = build_taxonomy(table, ancestors=["Plantae/Moraceae/Morus", "Animalia"], missing_classes="drop")
    assert ids(h, "ancestors") == ["Animalia", "Plantae/Moraceae/Morus", None]
    h = build_taxonomy(table, ancestors=["Plantae/Moraceae/Morus", "Animalia"], missing_classes="own-group")
    assert ids(h, "ancestors") == ["Animalia", "Plantae/Moraceae/Morus", "Plantae/Moraceae/Ficus/Ficus carica"]


# ----------------------------------------------------------------------------- --root, --prune


def test_root_ends_every_path_and_leaves_the_rest_unplaced(tree):
    edges, classes = tree
    h = build_edges(edges, classes=str(classes), depths="0-1", root="animal", missing_classes="drop")
    assert ids(h, "depth_0") == ["animal", "animal", "animal", None]
    assert ids(h, "depth_1") == ["mammal", "bird", "mammal", None]
    with pytest.raises(GranularityError, match=r"1 classes not below --root in the classes: 'rock' \(class 3\)"):
        build_edges(edges, classes=str(classes), depths="0-1", root="animal")
    # only paths through the root count: cat's other parent 'pet' is not below 'entity'... it is a root of
    # its own, so with --root entity cat follows entity's path whatever the rule
    h = build_edges(edges, classes=str(classes), levels=[1], root="entity", multi_parent="shortest")
    assert ids(h, "level_1") == ["carnivore", "songbird", "carnivore", "thing"]


def test_prune_drops_single_child_nodes(tree):
    edges, classes = tree
    # the classes' tree below object: object -> {living -> animal -> {mammal -> carnivore -> {cat, dog},
    # bird -> songbird -> robin}, thing -> rock}; single-child nodes: living, mammal, bird, songbird, thing
    h = build_edges(edges, classes=str(classes), depths="0-3", root="object", prune=True)
    assert ids(h, "depth_1") == ["animal", "animal", "animal", "rock"]
    assert ids(h, "depth_2") == ["carnivore", "robin", "carnivore", "rock"]
    assert ids(h, "depth_3") == ["cat", "robin", "dog", "rock"]
    assert h.metadata["prune"] is True and h.metadata["root"] == "object"
    plain = build_edges(edges, classes=str(classes), depths="0-3", root="object")
    assert ids(plain, "depth_1") == ["living", "living", "living", "thing"]
    with pytest.raises(GranularityError, match="give --prune or --class-tree, not both"):
        build_edges(edges, classes=str(classes), depths="0-3", prune=True, class_tree=True)
    with pytest.raises(GranularityError, match="give --prune or --ancestors, not both"):
        build_edges(edges, classes=str(classes), ancestors=["bird"], prune=True, ancestor_rule="path")


def test_wordnet_root_and_prune_reach_imagenet_h_shape():
    """making-better-mistakes' ImageNet-H: root at physical entity, single-child nodes pruned.
    ImageNet-1k's traffic light, street sign and bubble are not below physical entity in
    WordNet 3.0 (their paper re-attaches them by hand)."""
    with pytest.raises(GranularityError, match=r"3 classes not below --root .*'n06794110'.*'n06874185'.*"
                                               r"'n09229709'"):
        build_wordnet(dataset="imagenet1k", depths="0-3", root="n00001930", prune=True)
    h = build_wordnet(dataset="imagenet1k", depths="0-20", root="n00001930", prune=True, missing_classes="drop")
    assert h.level("depth_0").num_classes == 1 and h.level("depth_0").num_outside == 3
    plain = build_wordnet(dataset="imagenet1k", depths="0-20", root="n00001930", missing_classes="drop")
    assert len(h.levels) < len(plain.levels)  # pruning makes the tree shallower
    for fine, coarse in zip(h.levels, h.levels[1:]):  # still nested
        assert np.array_equal(fine.labels < 0, coarse.labels < 0)


# ----------------------------------------------------------------------------- --label-order


def test_label_order_from_a_list_a_file_or_the_ids(tree, tmp_path):
    edges, classes = tree
    h = build_edges(edges, classes=str(classes), ancestors=["carnivore", "bird", "thing"],
                    label_order=["thing", "bird", "carnivore"])
    lv = h.level("ancestors")
    assert lv.labels.tolist() == [2, 1, 2, 0] and lv.ids == ("thing", "bird", "carnivore")
    out = tmp_path / "o.parquet"
    (tmp_path / "order.txt").write_text("thing\nbird\ncarnivore\n")
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "carnivore,bird,thing",
                 "--label-order", tmp_path / "order.txt", "-o", out)
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    assert lm.lookup("ancestors").tolist() == [2, 1, 2, 0] and lm.names("ancestors") == ["thing", "bird", "carnivore"]
    assert lm.metadata["label_order"]["name"] == "order.txt"
    # from-ids: the ids are the labels (CIFAR-100's coarse labels 0..19 as node ids)
    (tmp_path / "num.txt").write_text("r 1\nr 0\n1 a\n1 b\n0 c\n")
    h = build_edges(tmp_path / "num.txt", classes=["a", "b", "c"], levels=[1], label_order="from-ids")
    assert h.level("level_1").labels.tolist() == [1, 1, 0] and h.level("level_1").ids == ("0", "1")
    (tmp_path / "num.txt").write_text("0 2\n0 1\n2 a\n2 b\n1 c\n")
    with pytest.raises(GranularityError, match=r"level 'level_1' has 2 groups whose ids run 1..2 but not 0: "
                                               r"the ids must be 0..1"):
        build_edges(tmp_path / "num.txt", classes=["a", "b", "c"], levels=[1], label_order="from-ids")


def test_label_order_errors(tree, tmp_path):
    edges, classes = tree
    kw = dict(classes=str(classes), ancestors=["carnivore", "bird", "thing"])
    with pytest.raises(GranularityError, match=r"2 of its ids are not in the label order .*first 'bird'"):
        build_edges(edges, label_order=["carnivore"], **kw)
    with pytest.raises(GranularityError, match=r"lists 1 ids no level has, first 'unicorn': every label needs a class"):
        build_edges(edges, label_order=["thing", "bird", "carnivore", "unicorn"], **kw)
    with pytest.raises(GranularityError, match=r"level 'ancestors' has id 'carnivore', which is not an integer"):
        build_edges(edges, label_order="from-ids", **kw)
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "carnivore,bird,thing",
                 "--label-order", "thing,bird,thing", "-o", tmp_path / "x.parquet")
    assert_one_line_error(res, "duplicate ids", "'thing'")
    assert not (tmp_path / "x.parquet").exists()


def test_given_numbering_survives_every_reader(tree, tmp_path):
    edges, classes = tree
    out = tmp_path / "o.parquet"
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "carnivore,bird,thing",
                 "--label-order", "thing,bird,carnivore", "--missing-classes", "drop", "-o", out)
    assert res.code == 0, res.stderr
    c2i = json.loads(invoke("export", out, "-f", "class-to-idx", "-o", "-").out)
    assert c2i == {"thing": 0, "bird": 1, "carnivore": 2}
    lin = json.loads(invoke("inspect", out, "--lineage", "cat", "--json").out)
    assert lin["levels"][0]["label"] == 2
    lm = read_label_map(io.BytesIO(out.read_bytes()))
    back = tmp_path / "back.parquet"
    from hierarchy_cli import write_label_map

    write_label_map(lm.to_hierarchy(), back)  # given numbering round-trips
    assert read_label_map(back).lookup("ancestors").tolist() == [2, 1, 2, 0]


# ----------------------------------------------------------------------------- references (facts)

# tieredImageNet (Ren et al. 2018; the split files of renmengye/few-shot-ssl-public): its 34
# categories and how many of the 608 classes each holds
TIERED = {
    "n00020090": 22, "n01473806": 16, "n01524359": 11, "n01674216": 11, "n01726692": 17, "n01844917": 24,
    "n02087551": 19, "n02092468": 26, "n02098550": 17, "n02103406": 30, "n02120997": 13, "n02159955": 27,
    "n02370806": 17, "n02469914": 20, "n02913152": 14, "n03125870": 20, "n03257877": 12, "n03278248": 11,
    "n03297735": 10, "n03405265": 22, "n03414162": 12, "n03419014": 25, "n03574816": 28, "n03699975": 12,
    "n03738472": 12, "n03791235": 22, "n03800933": 26, "n03839993": 10, "n04014297": 24, "n04081844": 11,
    "n04451818": 12, "n04531098": 23, "n09287968": 10, "n15046900": 22,
}


def test_tiered_imagenet_categories_from_wordnet_alone(tmp_path):
    """Every one of the 608 classes falls under exactly one of the 34 categories; 14 other
    ImageNet-1k classes fall under two (bagel: food and baked goods...), and tieredImageNet
    leaves those out: --ancestor-rule exclusive."""
    (tmp_path / "cats.txt").write_text("\n".join(TIERED) + "\n")
    res = invoke("build", "--dataset", "imagenet1k", "--ancestors", tmp_path / "cats.txt", "-o", tmp_path / "x.parquet")
    assert_one_line_error(res, "14 classes fall under two of the given ancestors, neither below the other",
                          "'n02916936' (class 465: 'n03419014' garment and 'n04014297' protective covering)",
                          "--ancestor-rule exclusive")
    out = tmp_path / "tiered.parquet"
    res = invoke("build", "--dataset", "imagenet1k", "--ancestors", tmp_path / "cats.txt", "--ancestor-rule",
                 "exclusive", "--missing-classes", "drop", "-o", out)
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    lab = lm.lookup("ancestors", outside=-1)
    counts = dict(zip(lm.ids("ancestors"), np.bincount(lab[lab >= 0]).tolist()))
    assert counts == TIERED and lm.num_outside("ancestors") == 392
    assert lm.metadata["classes_ambiguous"] == 14 and lm.metadata["ancestor_rule"] == "exclusive"


def test_restricted_imagenet_groups_and_numbering(tmp_path):
    """robustness' restricted ImageNet: 9 groups as class ranges, labelled 0..8 in list order.
    Five of them are one WordNet synset each (dog, cat, frog, turtle, crab); the synsets of
    the other four (bird, primate, fish, insect) hold more classes than the ranges."""
    ranges = [(151, 268), (281, 285), (30, 32), (33, 37), (80, 100), (365, 382), (389, 397), (118, 121),
              (300, 319)]
    synsets = ["n02084071", "n02121808", "n01639765", "n01662784", "n01503061", "n02469914", "n02512053",
               "n01976957", "n02159955"]
    out = tmp_path / "r.parquet"
    res = invoke("build", "--dataset", "imagenet1k", "--ancestors", ",".join(synsets), "--missing-classes", "drop",
                 "--label-order", ",".join(synsets), "-o", out)
    assert res.code == 0, res.stderr
    lab = read_label_map(out).lookup("ancestors", outside=-1)
    exact = [k for k, (lo, hi) in enumerate(ranges) if np.flatnonzero(lab == k).tolist() == list(range(lo, hi + 1))]
    assert exact == [0, 1, 2, 3, 7]
    for k, (lo, hi) in enumerate(ranges):  # the others hold their range and more
        assert set(range(lo, hi + 1)) <= set(np.flatnonzero(lab == k).tolist())


def test_making_better_mistakes_imagenet_h_paths():
    """Their ImageNet-H (data/imagenet_isa.txt): root physical entity, single-child nodes pruned;
    these paths are theirs exactly (966 of the 1,000 agree; the rest are their hand-picked ties
    and three re-attached classes)."""
    h = build_wordnet(dataset="imagenet1k", depths="0-30", root="n00001930", prune=True, missing_classes="own-group")
    leaf = list(h.leaf_ids)

    def path(wnid):
        i, out = leaf.index(wnid), []
        for lv in reversed(h.levels):
            x = lv.ids[lv.labels[i]]
            if not out or out[-1] != x:
                out.append(x)
        return "/".join(out)

    assert path("n01440764") == ("n00001930/n00002684/n00003553/n00004475/n00015388/n01471682/n02512053/"
                                 "n02528163/n01428580/n01439121/n01440764")  # tench, depth 10
    assert path("n07742313") == "n00001930/n00002684/n00003553/n00019128/n13134947/n07705931/n07742313"
    assert path("n02123045").count("/") == 12  # tabby: depth 12


# CIFAR-100's fine classes in label order, its 20 superclasses in label order, and each fine
# class's superclass label (the dataset's meta file and superclass table)
CIFAR_FINE = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur
dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard
lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear
pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark
shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone
television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
CIFAR_COARSE = """aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices
household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes
large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals trees
vehicles_1 vehicles_2""".split()
CIFAR_COARSE_OF = [4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3,
                   15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0,
                   17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19,
                   2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13]


def test_cifar100_coarse_labels_keep_their_numbering(tmp_path):
    # an edge list grouped by superclass, superclasses in reverse order: first appearance differs
    lines = [f"{CIFAR_COARSE[c]} {f}" for c in reversed(range(20))
             for f, cc in zip(CIFAR_FINE, CIFAR_COARSE_OF) if cc == c]
    (tmp_path / "cifar.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "fine.txt").write_text("\n".join(CIFAR_FINE) + "\n")
    (tmp_path / "coarse.txt").write_text("\n".join(CIFAR_COARSE) + "\n")
    out = tmp_path / "c.parquet"
    base = ["build", "--edges", tmp_path / "cifar.txt", "--classes", tmp_path / "fine.txt", "--level", "1"]
    res = invoke(*base, "--label-order", tmp_path / "coarse.txt", "-o", out)
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    assert lm.lookup("level_1").tolist() == CIFAR_COARSE_OF and lm.names("level_1") == CIFAR_COARSE
    first = tmp_path / "first.parquet"
    assert invoke(*base, "-o", first).code == 0
    same = sum(a == b for a, b in zip(read_label_map(first).lookup("level_1").tolist(), CIFAR_COARSE_OF))
    assert same < 100  # first appearance alone does not give CIFAR's numbers


def test_a_single_id_is_an_id_and_a_path_is_a_file(tree, tmp_path):
    edges, classes = tree
    out = tmp_path / "o.parquet"
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "carnivore",
                 "--missing-classes", "drop", "-o", out)
    assert res.code == 0, res.stderr
    assert read_label_map(out).ids("ancestors") == ["carnivore"]
    res = invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "groups.txt", "-o", out)
    assert_one_line_error(res, "ancestor list 'groups.txt' does not exist")


def test_a_tree_needs_every_leaf_and_outside_leaves_merge_nothing(tree, tmp_path):
    edges, classes = tree
    dropped = tmp_path / "dropped.parquet"
    res = invoke("build", "--edges", edges, "--classes", classes, "--depth", "0-3", "--root", "animal",
                 "--missing-classes", "drop", "-o", dropped)
    assert res.code == 0, res.stderr
    res = invoke("export", dropped, "-f", "lca-height", "-o", tmp_path / "h.npy")
    assert_one_line_error(res, "leaves 1 of 4 leaves outside its label space", "a tree needs every leaf")
    assert not (tmp_path / "h.npy").exists()
    whole = tmp_path / "whole.parquet"
    assert invoke("build", "--edges", edges, "--classes", classes, "--depth", "0-5", "-o", whole).code == 0
    # A = the dropped map's depth_1 (mammal, bird; rock outside): the one pair is cat-dog,
    # whose LCA in the whole tree is carnivore (height 1); rock makes no pair
    res = invoke("compare", f"{dropped}:depth_1", f"{whole}:depth_5", "--tree", whole, "--json")
    assert res.code == 0, res.stderr
    out = json.loads(res.out)
    assert out["leaves_outside"] == 1 and out["tree"]["pairs"] == 1 and out["tree"]["mean_lca_height"] == 1.0


def test_inspect_and_report_count_the_leaves_outside(tree, tmp_path):
    edges, classes = tree
    out = tmp_path / "o.parquet"
    assert invoke("build", "--edges", edges, "--classes", classes, "--ancestors", "carnivore",
                  "--missing-classes", "drop", "-o", out).code == 0
    summary = json.loads(invoke("inspect", out, "--json").out)
    (lv,) = summary["levels"]
    assert lv["outside"] == 2 and lv["classes"] == 1 and lv["max"] == 2
    res = invoke("inspect", out)
    assert "ancestors: 2 leaves outside its label space (null labels)" in res.out
    from hierarchy_cli import report_data

    (entry,) = report_data([str(out)])["maps"]
    assert entry["levels"][0]["outside"] == 2 and entry["levels"][0]["leaves"] == 2
