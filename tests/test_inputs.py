"""Input reading (issues 11 and 13): whole-line class ids, the one table reader, edge-list roots,
classes missing from an edge list, levels beyond every class, iNat JSON by its structure, and
one helper per small job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import PACKAGE, assert_one_line_error, invoke
from hierarchy_cli.errors import GranularityError
from hierarchy_cli import grammar, inputs, manifests
from hierarchy_cli.inputs import InputFile
from hierarchy_cli.manifests import read_id_list
from hierarchy_cli.labelmap import read_label_map
from hierarchy_cli.sources.edges import ROOT_ID, build_edges
from hierarchy_cli.sources.wordnet import build_wordnet
from hierarchy_cli.sources.taxonomy import build_taxonomy

FIX = Path(__file__).parent / "fixtures"
TENCH, GOLDFISH, TABBY = "n01440764", "n01443537", "n02123045"
PHYSICAL_ENTITY, ABSTRACTION = "n00001930", "n00002137"


def _ids(h, name):
    lv = h.level(name)
    return [lv.ids[k] for k in lv.labels]


# ----------------------------------------------------------------------------- class-list ids


def test_a_text_class_list_keeps_the_whole_line_as_the_id(tmp_path):
    p = tmp_path / "species.txt"
    p.write_text("Felis catus\nFelis silvestris\n  Lynx lynx  \n")
    idl = read_id_list(p)
    assert idl.ids == ["Felis catus", "Felis silvestris", "Lynx lynx"]  # before: 'Felis' twice
    assert idl.lines == [1, 2, 3]
    assert any("spaces around them" in n and "line 3" in n for n in idl.notes)


def test_words_txt_style_takes_the_text_before_the_tab_and_says_so(tmp_path):
    p = tmp_path / "words.txt"
    p.write_text(f"{TENCH}\ttench, Tinca tinca\n{GOLDFISH}\tgoldfish, Carassius auratus\n")
    out = tmp_path / "w.parquet"
    res = invoke("build", "--classes", p, "--level", "1", "-o", out)
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    assert lm.leaf_ids == [TENCH, GOLDFISH]
    err = " ".join(res.stderr.split())
    assert "2 lines hold a tab (first: line 1): each id is the text before the first tab" in err
    assert lm.metadata["classes"]["notes"][0].startswith("2 lines hold a tab")


def test_wordnet_refuses_an_id_with_a_space_naming_the_rule(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(f"{TENCH} tench\n{GOLDFISH}\n")
    res = invoke("build", "--classes", p, "--level", "1", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, f"'{TENCH} tench' (line 1)", "not noun wnids", "keeps each whole line")
    assert not (tmp_path / "o.parquet").exists()


def test_duplicates_after_trimming_name_both_lines_and_blank_lines_are_noted(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("cat\n\ndog\n cat\n")
    with pytest.raises(GranularityError, match=r"1 duplicate ids .*'cat' \(line 4, first at line 1\)"):
        read_id_list(p)
    p.write_text("cat\n\n\ndog\n\n")
    idl = read_id_list(p)
    assert idl.ids == ["cat", "dog"] and idl.lines == [1, 4]
    assert idl.notes == ("2 blank lines between ids skipped (first: line 2): leaf_index counts ids, not lines",)
    p.write_text("cat\ndog\n\n")  # a trailing blank line is no news
    assert read_id_list(p).notes == ()
    p.write_bytes("Felis\u2028catus\x0cx\rdog\r\n".encode())  # only LF, CRLF and CR end a line
    assert read_id_list(p).ids == ["Felis\u2028catus\x0cx", "dog"]


def test_ids_with_spaces_pass_through_every_builder_that_takes_any_id(tmp_path):
    species = ["Felis catus", "Felis silvestris", "Lynx lynx", "Canis lupus"]
    cl = tmp_path / "species.txt"
    cl.write_text("\n".join(species) + "\n")
    # edges: a TSV edge list (text edge lists split on whitespace)
    e = tmp_path / "e.tsv"
    e.write_text("parent\tchild\nFelis\tFelis catus\nFelis\tFelis silvestris\nFelidae\tFelis\n"
                 "Felidae\tLynx lynx\nCarnivora\tFelidae\nCarnivora\tCanis lupus\n")
    h = build_edges(e, classes=str(cl), levels=[1])
    assert list(h.leaf_ids) == species
    assert _ids(h, "level_1") == ["Felis", "Felis", "Felidae", "Carnivora"]
    # taxonomy: ids from an id column, kept whole
    t = tmp_path / "t.tsv"
    t.write_text("id\tgenus\tspecies\nFelis catus (domestic)\tFelis\tFelis catus\n"
                 "Felis silvestris\tFelis\tFelis silvestris\n")
    assert list(build_taxonomy(t, "genus").leaf_ids) == ["Felis catus (domestic)", "Felis silvestris"]
    # random and cluster
    from hierarchy_cli.methods.cluster import cluster_hierarchy
    from hierarchy_cli.methods.random import random_hierarchy

    r = random_hierarchy(classes=str(cl), k=2, seed=0)
    assert list(r.leaf_ids) == species and list(r.leaf_names) == species
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    c = cluster_hierarchy(embeddings=x, classes=str(cl), k=[2]).hierarchy
    assert list(c.leaf_ids) == species and list(c.leaf_names) == species


def test_one_leaf_name_rule_for_cluster_and_random():
    """Mixed wnids and other ids: both name every leaf by its id (cluster used to name the wnids)."""
    from hierarchy_cli.methods.cluster import cluster_hierarchy
    from hierarchy_cli.methods.random import random_hierarchy

    ids = [TENCH, "my class", GOLDFISH]
    x = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    assert list(cluster_hierarchy(embeddings=x, classes=ids, k=[2]).hierarchy.leaf_names) == ids
    assert list(random_hierarchy(classes=ids, k=2, seed=0).leaf_names) == ids
    wn = [TENCH, GOLDFISH]
    x2 = x[:2]
    assert list(cluster_hierarchy(embeddings=x2, classes=wn, k=[1]).hierarchy.leaf_names) == ["tench", "goldfish"]
    assert list(random_hierarchy(classes=wn, k=1, seed=0).leaf_names) == ["tench", "goldfish"]


def test_a_python_list_of_ids_is_taken_as_given():
    h = build_edges(FIX / "edges_is_a.txt", classes=["cat", "dog"], levels=[1])
    assert list(h.leaf_ids) == ["cat", "dog"]
    with pytest.raises(GranularityError, match=r"'cat' \(item 3, first at item 1\)"):
        build_edges(FIX / "edges_is_a.txt", classes=["cat", "dog", "cat"], levels=[1])


# ----------------------------------------------------------------------------- the table reader


def test_table_reader_keeps_text_and_names_lines_through_bom_crlf_and_blank_lines():
    data = "\ufeffid,name\r\n\r\n 00123 ,x\r\n,\r\n007,\"a, b\"\r\n".encode()
    t = inputs.read_table(InputFile("t.csv", data), "class list")
    assert t.columns == ["id", "name"]
    assert t.strings("id").to_pylist() == ["00123", "007"]  # no number guessing
    assert t.table.column("name").to_pylist() == ["x", "a, b"]
    assert [t.where(i) for i in range(t.num_rows)] == ["line 3", "line 5"]
    bad = "a\tb\n\nx\ty\nz\n".encode()
    with pytest.raises(GranularityError, match=r"'t.tsv' line 4: 1 fields, expected 2 like the header"):
        inputs.read_table(InputFile("t.tsv", bad), "edge list")
    assert inputs.read_table(InputFile("t.csv", b"id,name\r\n\r\n"), "class list").num_rows == 0
    with pytest.raises(GranularityError, match="'h.csv' holds no ids"):
        manifests.parse_id_list(InputFile("h.csv", b"wnid\n"), "class list")
    with pytest.raises(GranularityError, match="names column 'id' twice"):
        inputs.read_table(InputFile("t.csv", b"id,id\n1,2\n"), "class list")
    with pytest.raises(GranularityError, match=r"'t.csv' line 2: cannot read the header row"):
        inputs.read_table(InputFile("t.csv", b'\n"id,name\nx,y\n'), "class list")
    with pytest.raises(GranularityError, match=r"not UTF-8 text \(bad byte at line 2\)"):
        inputs.read_table(InputFile("t.csv", b"id\n\xff\n"), "class list")


def test_the_streaming_variant_parses_like_the_table_reader(tmp_path):
    import pyarrow as pa

    p = tmp_path / "m.csv"
    p.write_text('\ufeffpath,wnid\r\n"a, 1.jpg",00123\r\n\r\nb.jpg,n01440764\r\n')
    from hierarchy_cli.apply.manifest import Manifest

    with Manifest(str(p), 1 << 18, None, ["path", "wnid"]) as manifest:  # apply's streamed reader
        streamed = pa.Table.from_batches(list(manifest.batches()))
    assert streamed.equals(inputs.read_table(str(p), "manifest").table)
    assert streamed.column("wnid").to_pylist() == ["00123", "n01440764"]


def test_every_table_input_goes_through_the_one_reader(tmp_path, monkeypatch):
    seen = []
    real = inputs.read_table

    def spy(source, what):
        seen.append(what)
        return real(source, what)

    monkeypatch.setattr(inputs, "read_table", spy)
    cl = tmp_path / "c.csv"
    cl.write_text("id\ncat\ndog\n")
    e = tmp_path / "e.csv"
    e.write_text("parent,child\npet,cat\npet,dog\n")
    names = tmp_path / "n.csv"
    names.write_text("id,name\ncat,Cat\n")
    build_edges(e, classes=str(cl), levels=[1], names=names)
    t = tmp_path / "t.csv"
    t.write_text("genus,species\nFelis,Felis catus\n")
    build_taxonomy(t, "genus")
    assert sorted(seen) == ["class list", "edge list", "names file", "taxonomy table"]


# ----------------------------------------------------------------------------- edge lists


@pytest.fixture(scope="module")
def imagenet_is_a(tmp_path_factory) -> Path:
    """ImageNet's is-a layout from the shipped WordNet, plus 11 unrelated roots (12 in all, as in
    ImageNet's own file): each synset's parents in WordNet's pointer order, so ties break alike."""
    t = pq.read_table(PACKAGE / "data" / "wordnet30_nouns.parquet")
    lines = [f"n{p:08d} n{o:08d}\n" for o, ps in zip(t.column("offset").to_pylist(),
                                                    t.column("parents").to_pylist()) for p in ps]
    lines += [f"n9{r:07d}0 n9{r:07d}1\n" for r in range(11)]
    p = tmp_path_factory.mktemp("isa") / "wordnet.is_a.txt"
    p.write_text("".join(lines))
    return p


def test_unrelated_roots_do_not_shift_the_depths_of_the_classes(imagenet_is_a, tmp_path):
    from hierarchy_cli.manifests import load_dataset

    in1k = load_dataset("imagenet1k").ids
    e = build_edges(imagenet_is_a, classes=in1k, depths=[1, 2])
    w = build_wordnet(dataset="imagenet1k", depths=[1, 2])
    assert sorted(set(_ids(e, "depth_1"))) == [PHYSICAL_ENTITY, ABSTRACTION]  # before: ['__root__']
    for name in ("depth_1", "depth_2"):
        assert _ids(e, name) == _ids(w, name)
    assert e.metadata["artificial_root"] is None
    assert e.metadata["roots"] == 1 and e.metadata["roots_in_file"] == 12
    lv = build_edges(imagenet_is_a, classes=in1k, levels=[1, 3])
    assert _ids(lv, "level_3") == _ids(build_wordnet(dataset="imagenet1k", levels=[3]), "level_3")
    # a class under an unrelated root: two roots above the classes, joined under the artificial one
    two = build_edges(imagenet_is_a, classes=[TENCH, "n900000001"], depths=[0, 1])
    assert _ids(two, "depth_0") == [ROOT_ID, ROOT_ID]
    assert _ids(two, "depth_1") == ["n00001740", "n900000000"]
    cl = tmp_path / "in1k.txt"
    cl.write_text("\n".join(in1k) + "\n")
    res = invoke("build", "--edges", imagenet_is_a, "--classes", cl, "--depth", "1", "-o", tmp_path / "o.parquet")
    assert res.code == 0, res.stderr
    assert "12 roots; only one is above the classes" in " ".join(res.stderr.split())


def test_missing_classes_can_be_kept_as_their_own_group(tmp_path):
    cl = tmp_path / "c.txt"
    cl.write_text("cat\nunicorn\ndog\nphoenix\n")
    with pytest.raises(GranularityError, match=r"2 classes missing .*'unicorn' \(line 2\).*--missing-classes own-group"):
        build_edges(FIX / "edges_is_a.txt", classes=str(cl), levels=[1])
    h = build_edges(FIX / "edges_is_a.txt", classes=str(cl), levels=[0, 1, 2], missing_classes="own-group")
    assert list(h.leaf_ids) == ["cat", "unicorn", "dog", "phoenix"]  # leaf_index = class index
    assert _ids(h, "level_1") == ["feline", "unicorn", "canine", "phoenix"]
    assert _ids(h, "level_2") == ["carnivore", "unicorn", "carnivore", "phoenix"]
    assert h.metadata["missing_classes"] == "own-group" and h.metadata["classes_missing"] == 2
    d = build_edges(FIX / "edges_is_a.txt", classes=str(cl), depths=[0, 1], missing_classes="own-group")
    assert _ids(d, "depth_0") == [ROOT_ID, "unicorn", ROOT_ID, "phoenix"]
    out = tmp_path / "o.parquet"
    res = invoke("build", "--edges", FIX / "edges_is_a.txt", "--classes", cl, "--level", "1",
                 "--missing-classes", "own-group", "-o", out)
    assert res.code == 0, res.stderr
    assert "2 of 4 classes are not in the edge list" in " ".join(res.stderr.split())
    assert read_label_map(out).metadata["classes_missing"] == 2
    res = invoke("build", "--dataset", "imagenet1k", "--level", "1", "--missing-classes", "own-group",
                 "-o", tmp_path / "x.parquet")
    assert_one_line_error(res, "--missing-classes own-group applies to --source wordnet with --root or --ancestors")
    with pytest.raises(GranularityError, match="unknown --missing-classes 'keep'; choose one of error, own-group, drop"):
        build_edges(FIX / "edges_is_a.txt", classes=str(cl), levels=[1], missing_classes="keep")


# ----------------------------------------------------------------------------- levels


def test_levels_beyond_every_class_are_noted_and_ranges_cut_before_expansion(tmp_path):
    out = tmp_path / "o.parquet"
    res = invoke("build", "--dataset", "imagenet1k", "--levels", "0-300000000", "-o", out)  # before: out of memory
    assert res.code == 0, res.stderr
    assert read_label_map(out).levels == [f"level_{k}" for k in range(19)]
    err = " ".join(res.stderr.split())
    assert ("levels 19-300000000 not written: beyond every class (the deepest class is 18 hops below the "
            "root), they would repeat level_18") in err
    assert read_label_map(out).metadata["notes"] == [
        "levels 19-300000000 not written: beyond every class (the deepest class is 18 hops below the root), "
        "they would repeat level_18"]
    res = invoke("build", "--dataset", "imagenet1k", "--levels", "1,99", "-o", out)  # before: no word of it
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    assert lm.levels == ["level_1", "level_99"] and lm.num_classes("level_99") == 1
    assert "level_99: beyond every class (the deepest class is 18 hops below the root), the same groups as " \
           "level_18" in " ".join(res.stderr.split())
    res = invoke("build", "--dataset", "imagenet1k", "--depth", "25-30", "-o", out)
    assert_one_line_error(res, "depths '25-30' is beyond every class: the deepest class is 18 hops below the "
                               "root, so depths run 0-18")
    res = invoke("build", "--dataset", "imagenet1k", "--levels", "1,3,1", "-o", out)
    assert_one_line_error(res, "levels '1,3,1': 1 is given twice")


def test_int_ranges_never_expand():
    assert grammar.int_ranges("0-300000000,5", "levels") == [(0, 300000000), (5, 5)]
    assert grammar.parse_int_list("0-3,7", "levels") == [0, 1, 2, 3, 7]
    assert grammar.parse_int_list([3, 1], "levels") == [1, 3]
    with pytest.raises(GranularityError, match="3 is given twice"):
        grammar.parse_int_list("0-5,3", "levels")


def test_the_api_validates_its_parameters_before_reading_inputs():
    with pytest.raises(GranularityError, match="unknown --multi-parent rule 'sideways'"):
        build_edges("no/such/edges.txt", levels=[1], multi_parent="sideways")
    with pytest.raises(GranularityError, match="levels 'x'"):
        build_edges("no/such/edges.txt", levels="x")
    with pytest.raises(GranularityError, match="not both"):
        build_wordnet(classes="no/such/list.txt", levels=[1], depths=[1])
    with pytest.raises(GranularityError, match="say which ranks"):
        build_taxonomy("no/such/taxa.csv", levels=[])
    h = build_wordnet(classes=[TENCH, GOLDFISH], levels="0-2")  # a spec string, as the CLI passes it
    assert h.level_names == ["level_0", "level_1", "level_2"]
    t = build_taxonomy(FIX / "taxonomy.csv", "genus", ranks="family,genus")
    assert t.metadata["ranks"] == ["family", "genus"]


# ----------------------------------------------------------------------------- iNat JSON


def test_inat_categories_are_found_by_structure_not_by_text(tmp_path):
    doc = json.loads((FIX / "inat_train_mini.json").read_text())
    decoy = [{"id": 0, "kingdom": "Fungi", "phylum": "x", "class": "x", "order": "x", "family": "x",
              "genus": "Decoy", "specific_epithet": "decoy", "name": "Decoy decoy"}]
    doc["info"]["categories"] = decoy  # a "categories" key inside info, before the real one
    ordered = {"info": doc["info"], "images": doc["images"], "categories": doc["categories"],
               "annotations": doc["annotations"]}
    p = tmp_path / "train.json"
    p.write_text(json.dumps(ordered))
    h = build_taxonomy(p, "genus")
    assert "Decoy decoy" not in h.leaf_names
    assert h.num_leaves == len(doc["categories"])
    only_nested = tmp_path / "nested.json"
    only_nested.write_text(json.dumps({"info": {"categories": decoy}, "images": []}))
    res = invoke("build", "--taxonomy", only_nested, "--level", "genus", "-o", tmp_path / "o.parquet")
    assert_one_line_error(res, "nested.json", "no top-level 'categories' list", "images, info")


# ----------------------------------------------------------------------------- one helper each


def test_one_sha256_helper_and_one_k_parser():
    import hashlib

    from hierarchy_cli import apply
    from hierarchy_cli.methods import cluster, embeddings, random

    assert embeddings.file_sha256 is inputs.file_sha256 and apply.driver._sha256_file is inputs.file_sha256
    assert cluster.parse_ks is grammar.parse_k_list and random.parse_k_list is grammar.parse_k_list
    data = FIX / "taxonomy.csv"
    assert inputs.file_sha256(data) == hashlib.sha256(data.read_bytes()).hexdigest()


def test_a_class_csv_whose_first_row_names_no_id_column_is_never_read_one_way_silently(tmp_path):
    """A CSV's first row that names no id column is either a header or the first class: for
    wnids the first cell says which; where nothing can tell, the file is refused."""
    cl = tmp_path / "c.csv"
    cl.write_text("n01440764\nn01443537\n")  # no header row: the first wnid is a class
    h = build_wordnet(classes=str(cl), levels=[1])
    assert list(h.leaf_ids) == ["n01440764", "n01443537"] and h.metadata["classes"]["header_row"] is False
    cl.write_text("synset_name\nn01440764\nn01443537\n")  # a header of another name: still a header
    assert list(build_wordnet(classes=str(cl), levels=[1]).leaf_ids) == ["n01440764", "n01443537"]
    res = invoke("random", "--classes", cl, "--k", "2", "-o", tmp_path / "r.parquet")
    assert_one_line_error(res, "class list 'c.csv' line 1: its first row ('synset_name') names no id column",
                          "--column")
    res = invoke("random", "--classes", cl, "--column", "synset_name", "--k", "2", "-o", tmp_path / "r.parquet")
    assert res.code == 0, res.stderr
