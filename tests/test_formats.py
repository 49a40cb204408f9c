"""Real input formats of ``build --edges``: header-less CSV/TSV files, names files with other
column names, Open Images' hierarchy JSON, NCBI's taxdump, and edge lists that carry ranks."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import assert_one_line_error, invoke
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.labelmap import read_label_map
from hierarchy_cli.sources.edges import build_edges

FIX = Path(__file__).parent / "fixtures"


def _labels(h, name):
    lv = h.level(name)
    return [lv.ids[k] for k in lv.labels]


def _run(tmp_path, *args):
    """``build ARGS -o out.parquet``: the result and the map (None when it failed; no file then)."""
    out = tmp_path / "out.parquet"
    if out.exists():
        out.unlink()
    res = invoke("build", *map(str, args), "-o", str(out))
    if res.code != 0:
        assert not out.exists()
        assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".out")] == []
        return res, None
    return res, read_label_map(out)


# ----------------------------------------------------------------------------- header-less CSV/TSV


def _leaf_edges(n: int = 351) -> str:
    """A header-less edge list whose first row is an edge: one parent over n classes."""
    return "".join(f"animal,c{i}\n" for i in range(n))


def test_naming_columns_after_the_first_row_of_a_headerless_file_is_refused_not_shortened(tmp_path):
    """The silent loss this fixes: --parent-column/--child-column set to the first row's values
    made that row the header, and 350 of the 351 classes came out, without a word."""
    e = tmp_path / "e.csv"
    e.write_text(_leaf_edges())
    res, lm = _run(tmp_path, "--edges", e, "--parent-column", "animal", "--child-column", "c0", "--level", "1")
    assert lm is None
    assert_one_line_error(res, "e.csv' line 1", "'animal' is also a node id (line 2)", "not a header",
                          "leave out --parent-column/--child-column")
    with pytest.raises(GranularityError, match="not a header"):
        build_edges(e, levels=[1], parent_column="animal", child_column="c0")


def test_a_headerless_two_column_file_is_read_whole(tmp_path):
    for name, sep in (("e.csv", ","), ("e.tsv", "\t")):
        e = tmp_path / name
        e.write_text(_leaf_edges().replace(",", sep))
        res, lm = _run(tmp_path, "--edges", e, "--level", "1")
        assert res.code == 0, res.stderr
        assert lm.num_leaves == 351 and lm.leaf_ids[0] == "c0"
        assert lm.metadata["edges"] == {"name": name, "sha256": lm.metadata["edges"]["sha256"], "header_row": False}
        assert "no header row" in " ".join(res.stderr.split())
        assert "no header row" in lm.metadata["notes"][0]
    h = build_edges(e, levels=[0])
    assert len(h.leaf_ids) == 351


def test_a_file_with_a_header_has_no_header_row_note(tmp_path):
    e = tmp_path / "e.csv"
    e.write_text("parent,child\n" + _leaf_edges(3))
    res, lm = _run(tmp_path, "--edges", e, "--level", "1")
    assert lm.num_leaves == 3 and "header_row" not in lm.metadata["edges"] and "notes" not in lm.metadata
    assert "header row" not in res.stderr


def test_named_columns_that_the_first_row_names_are_still_a_header(tmp_path):
    e = tmp_path / "e.csv"
    e.write_text("broader,narrower\n" + _leaf_edges(3))
    res, lm = _run(tmp_path, "--edges", e, "--parent-column", "broader", "--child-column", "narrower", "--level", "1")
    assert lm.num_leaves == 3 and lm.metadata["columns"] == {"parent": "broader", "child": "narrower"}


def test_headerless_rules_refuse_what_they_cannot_tell(tmp_path):
    e = tmp_path / "e.csv"
    # a first row that names no known column and shares no node with the rest: header or edge?
    e.write_text("broader,narrower\n" + _leaf_edges(3))
    res, _ = _run(tmp_path, "--edges", e, "--level", "1")
    assert_one_line_error(res, "e.csv' line 1", "('broader', 'narrower') names no parent or child column",
                          "--parent-column and --child-column", "add a header row parent,child")
    # columns named for a file that has no header row
    e.write_text(_leaf_edges(3))
    res, _ = _run(tmp_path, "--edges", e, "--parent-column", "up", "--level", "1")
    assert_one_line_error(res, "--parent-column", "has no column 'up'", "first row (animal, c0) names no column",
                          "no header row")
    # a known header whose column name is also a node: the first row is an edge
    e.write_text("parent,child\nparent,a\nparent,b\n")
    res, _ = _run(tmp_path, "--edges", e, "--level", "1")
    assert_one_line_error(res, "line 1", "column 'parent'", "also a node id (line 2)", "rename")
    # three columns, none named: the first row is taken as the header, and names no parent column
    e.write_text("a,b,1\na,c,1\n")
    res, _ = _run(tmp_path, "--edges", e, "--level", "1")
    assert_one_line_error(res, "no parent column", "columns are: a, b, 1")


def test_headerless_names_file(tmp_path):
    """Open Images' class-descriptions-boxable.csv: '/m/011k07,Tortoise' lines, no header."""
    e = tmp_path / "e.csv"
    e.write_text("parent,child\n/m/06bt6,/m/09dzg\n/m/09dzg,/m/011k07\n/m/09dzg,/m/0120dh\n")
    names = tmp_path / "names.csv"
    names.write_text("/m/011k07,Tortoise\n/m/0120dh,Sea turtle\n/m/09dzg,Turtle\n")
    res, lm = _run(tmp_path, "--edges", e, "--names", names, "--level", "1")
    assert res.code == 0, res.stderr
    assert lm.leaf_names == ["Tortoise", "Sea turtle"] and lm.names("level_1") == ["Turtle"]
    assert lm.metadata["names"]["header_row"] is False
    assert any("names file 'names.csv' has no header row" in n for n in lm.metadata["notes"])
    names.write_text("/m/011k07,Tortoise,reptile\n")  # three columns, none known: the first row is a header
    res, _ = _run(tmp_path, "--edges", e, "--names", names, "--level", "1")
    assert_one_line_error(res, "names.csv' has no id column", "columns are: /m/011k07, Tortoise, reptile")


# ----------------------------------------------------------------------------- names files


PETS = "parent,child\n/m/0jbk,/m/01yrx\n/m/0jbk,/m/0bt9lr\n"  # Animal: Cat, Dog


@pytest.mark.parametrize("header", ["LabelName,DisplayName", "wnid,words", "id,display_name", "node_id,class_name",
                                    "taxon_id,scientific_name"])
def test_names_files_with_other_known_column_names(tmp_path, header):
    e = tmp_path / "e.csv"
    e.write_text(PETS)
    names = tmp_path / "names.csv"
    names.write_text(f"{header}\n/m/01yrx,Cat\n/m/0bt9lr,Dog\n/m/0jbk,Animal\n")
    h = build_edges(e, levels=[1], names=names)
    assert list(h.leaf_names) == ["Cat", "Dog"] and h.level("level_1").names == ("Animal",)


def test_names_columns_option_names_them(tmp_path):
    e = tmp_path / "e.csv"
    e.write_text(PETS)
    names = tmp_path / "names.tsv"
    names.write_text("label\tclass\tsource\n/m/01yrx\tCat\tx\n/m/0bt9lr\tDog\tx\n")
    res, lm = _run(tmp_path, "--edges", e, "--names", names, "--names-columns", "label,class", "--level", "1")
    assert res.code == 0, res.stderr
    assert lm.leaf_names == ["Cat", "Dog"]
    assert lm.metadata["names"]["columns"] == ["label", "class"]
    # without the option the header names 'label' (a name column) and no id column: refused, pointing at it
    res, _ = _run(tmp_path, "--edges", e, "--names", names, "--level", "1")
    assert_one_line_error(res, "names.tsv' has no id column", "--names-columns", "columns are: label, class, source")
    res, _ = _run(tmp_path, "--edges", e, "--names", names, "--names-columns", "label,nope", "--level", "1")
    assert_one_line_error(res, "--names-columns", "has no column 'nope'")
    for bad, frag in (("label", "give the id column and the name column"), ("a,a", "names the column 'a' twice"),
                      ("a,b,c", "give the id column")):
        res, _ = _run(tmp_path, "--edges", e, "--names", names, "--names-columns", bad, "--level", "1")
        assert_one_line_error(res, f"--names-columns '{bad}'", frag)
    res, _ = _run(tmp_path, "--edges", e, "--names-columns", "label,class", "--level", "1")
    assert_one_line_error(res, "--names-columns", "give one with --names")
    words = tmp_path / "words.txt"
    words.write_text("/m/01yrx\tCat\n")
    res, _ = _run(tmp_path, "--edges", e, "--names", words, "--names-columns", "a,b", "--level", "1")
    assert_one_line_error(res, "--names-columns needs a CSV, TSV or parquet names file")
    res, _ = _run(tmp_path, "--taxonomy", FIX / "taxonomy.csv", "--names-columns", "a,b", "--level", "genus")
    assert_one_line_error(res, "--names-columns does not apply to --source taxonomy")
    with pytest.raises(GranularityError, match="give the id column"):
        build_edges(e, levels=[1], names=names, names_columns=["label"])


def test_a_tsv_names_file_without_a_header_is_still_read_as_id_tab_name(tmp_path):
    e = tmp_path / "e.csv"
    e.write_text(PETS)
    names = tmp_path / "names.tsv"
    names.write_text('/m/01yrx\t"Cat" (house cat)\n/m/0bt9lr\tDog\n')  # a quote is text, as in words.txt
    h = build_edges(e, levels=[1], names=names)
    assert list(h.leaf_names) == ['"Cat" (house cat)', "Dog"]
    names.write_text('/m/01yrx\t"Cat\n/m/0bt9lr\tDog\n')  # even an open quote
    assert list(build_edges(e, levels=[1], names=names).leaf_names) == ['"Cat', "Dog"]


# ----------------------------------------------------------------------------- Open Images


OI = FIX / "openimages"
OI_TREE = OI / "bbox_labels_600_hierarchy.json"
OI_CLASSES = OI / "class-descriptions-boxable.csv"
ENTITY, TEDDY, CRAB, HEAD = "/m/0bl9f", "/m/0kmg4", "/m/0n28_", "/m/04hgtk"


def test_open_images_hierarchy_with_its_class_descriptions(tmp_path):
    res, lm = _run(tmp_path, "--edges", OI_TREE, "--names", OI_CLASSES, "--classes", OI_CLASSES, "--levels", "0-2")
    assert res.code == 0, res.stderr
    ids = [ln.split(",")[0] for ln in OI_CLASSES.read_text().splitlines()]
    assert lm.leaf_ids == ids and lm.num_leaves == 30  # the first row is a class: no header row
    assert lm.leaf_names[:3] == ["Toy", "Doll", "Bicycle"]
    lv1 = dict(zip(lm.leaf_ids, (lm.names("level_1")[k] for k in lm.lookup("level_1"))))
    assert lv1[TEDDY] == "Bear" and lv1[CRAB] == "Marine invertebrates"  # longest of two paths
    assert lv1["/m/0h9mv"] == "Auto part"  # the Part object's own Subcategory is is-a: read
    assert lv1[HEAD] == ENTITY and lv1["/m/02p0tk3"] == ENTITY  # Part links left out: under the root
    meta = lm.metadata
    assert meta["edges"]["format"] == "open-images-hierarchy" and meta["edges"]["part_links_left_out"] == 5
    assert meta["duplicate_edges"] == 2 and meta["leaves_with_choice"] == 2
    assert meta["classes"]["header_row"] is False and meta["names"]["header_row"] is False
    err = " ".join(res.stderr.split())
    assert "5 part links ('Part': a part, not a kind) left out" in err
    assert "class list 'class-descriptions-boxable.csv' has no header row" in err
    h = build_edges(OI_TREE, levels=[1], multi_parent="shortest", names=OI_CLASSES)
    assert _labels(h, "level_1")[list(h.leaf_ids).index(TEDDY)] == "/m/0138tl"  # Toy
    assert h.level("level_1").names[h.level("level_1").labels[list(h.leaf_ids).index(CRAB)]] == "Shellfish"


def test_open_images_reads_the_same_with_crlf_and_bom_and_gives_the_same_bytes(tmp_path):
    crlf = tmp_path / "h.json"
    crlf.write_bytes(b"\xef\xbb\xbf" + OI_TREE.read_bytes().replace(b"\n", b"\r\n"))
    a, b, c = (tmp_path / f"{x}.parquet" for x in "abc")
    for src, out in ((OI_TREE, a), (OI_TREE, b), (crlf, c)):
        res = invoke("build", "--edges", str(src), "--names", str(OI_CLASSES), "--depth", "0-3", "-o", str(out))
        assert res.code == 0, res.stderr
    assert a.read_bytes() == b.read_bytes()
    la, lc = read_label_map(a), read_label_map(c)
    assert la.leaf_ids == lc.leaf_ids and [la.lookup(v).tolist() for v in la.levels] == \
        [lc.lookup(v).tolist() for v in lc.levels]


@pytest.mark.parametrize("text, fragments", [
    ('{"LabelName": "/m/0bl9f", "Subcategory": [\n{"LabelName": "/m/0jbk"},\n', ["line 3", "invalid JSON"]),
    ('[{"LabelName": "/m/0bl9f"}]', ["is not an Open Images hierarchy", "top level is a JSON list"]),
    ('{"info": {}, "categories": []}', ["is not an Open Images hierarchy", "no 'LabelName' (keys: categories, info)"]),
    ('{"LabelName": "/m/0bl9f",\n "Subcategory": [{"LabelName": "/m/0jbk"},\n  {"Name": "x"}]}',
     ["line 3 ($.Subcategory[1])", "unknown key 'Name'"]),
    ('{"LabelName": "/m/0bl9f",\n "Subcategory": [{"LabelName": "/m/0jbk"},\n  {"Part": []}]}',
     ["line 3 ($.Subcategory[1])", "no 'LabelName'"]),
    ('{"LabelName": "/m/0bl9f", "Subcategory": {"LabelName": "/m/0jbk"}}',
     ["line 1 ($)", "'Subcategory' is a JSON dict, expected a list"]),
    ('{"LabelName": "/m/0bl9f", "Subcategory": ["/m/0jbk"]}',
     ["at $.Subcategory[0]", "expected an object with 'LabelName', got a JSON str"]),
    ('{"LabelName": "", "Subcategory": []}', ["line 1 ($)", "an empty or non-text ('') 'LabelName'"]),
    ('{"LabelName": "/m/0bl9f"}', ["holds no edges"]),
    ('{"LabelName": "/m/0bl9f", "Subcategory": [\n  {"LabelName": "/m/0jbk", "Subcategory": [\n'
     '    {"LabelName": "/m/0jbk"}]}]}', ["self-loops", "'/m/0jbk' (line 3)"]),
])
def test_bad_open_images_hierarchy(tmp_path, text, fragments):
    p = tmp_path / "h.json"
    p.write_text(text)
    res, _ = _run(tmp_path, "--edges", p, "--level", "1")
    assert_one_line_error(res, "h.json", *fragments)


def test_open_images_refuses_column_options(tmp_path):
    res, _ = _run(tmp_path, "--edges", OI_TREE, "--parent-column", "LabelName", "--level", "1")
    assert_one_line_error(res, "--parent-column needs a CSV, TSV or parquet edge list",
                          "is an Open Images hierarchy (JSON)")


# ----------------------------------------------------------------------------- rank tables


SK_TABLE = FIX / "taxonomy_superkingdom.csv"


def test_a_rank_table_uses_every_standard_rank_column_and_names_the_others(tmp_path):
    res, lm = _run(tmp_path, "--taxonomy", SK_TABLE, "--levels", "all")
    assert res.code == 0, res.stderr
    assert lm.levels == ["genus", "subfamily", "family", "order", "class", "phylum", "kingdom", "superkingdom"]
    sk = lm.lookup("superkingdom")
    assert [lm.names("superkingdom")[k] for k in sk] == ["Eukaryota"] * 4 + ["Bacteria"]
    kingdom = lm.names("kingdom")[lm.lookup("kingdom")[4]]
    assert kingdom == "unclassified Bacteria kingdom"  # E. coli has no kingdom: filled under its superkingdom
    assert lm.metadata["ranks"] == ["superkingdom", "kingdom", "phylum", "class", "order", "family", "subfamily",
                                    "genus"]
    assert lm.metadata["columns_not_used"] == ["common_name"]
    assert lm.metadata["nested"] is True
    err = " ".join(res.stderr.split())
    assert "columns not used: common_name" in err


def test_ranks_given_by_hand_name_the_rank_columns_they_leave_out(tmp_path):
    res, lm = _run(tmp_path, "--taxonomy", SK_TABLE, "--ranks", "kingdom,family,genus", "--levels", "all")
    assert lm.levels == ["genus", "family", "kingdom"]
    assert lm.metadata["columns_not_used"] == ["superkingdom", "phylum", "class", "order", "subfamily", "common_name"]
    assert "columns not used: superkingdom, phylum" in " ".join(res.stderr.split())


def test_inat_shaped_inputs_have_no_unused_columns_and_the_same_levels():
    """iNat has kingdom..genus only: nothing new is used or reported, so its maps do not change."""
    from hierarchy_cli.sources.taxonomy import build_taxonomy

    for src in (FIX / "taxonomy.csv", FIX / "inat_train_mini.json", FIX / "inat_folders.txt"):
        h = build_taxonomy(src, "all")
        assert "columns_not_used" not in h.metadata
        assert h.metadata["ranks"] == ["kingdom", "phylum", "class", "order", "family", "genus"]


# ----------------------------------------------------------------------------- NCBI taxdump


NCBI = FIX / "ncbi"
NODES, NAMES = NCBI / "nodes.dmp", NCBI / "names.dmp"
LEAVES = ["562", "9606", "9615", "9685", "9689", "9694"]  # the childless tax ids, in file order


def _named(lm, level):
    return [lm.names(level)[k] for k in lm.lookup(level)]


def test_ncbi_taxdump_cut_at_family(tmp_path):
    res, lm = _run(tmp_path, "--edges", NODES, "--names", NAMES, "--level", "family")
    assert res.code == 0, res.stderr
    assert lm.leaf_ids == LEAVES
    assert lm.leaf_names == ["Escherichia coli", "Homo sapiens", "Canis lupus familiaris", "Felis catus",
                             "Panthera leo", "Panthera tigris"]
    assert _named(lm, "family") == ["Enterobacteriaceae", "Hominidae", "Canidae", "Felidae", "Felidae", "Felidae"]
    assert [lm.metadata["levels"], lm.num_classes("family")] == [["family"], 4]
    meta = lm.metadata
    assert meta["edges"] == {"name": "nodes.dmp", "sha256": meta["edges"]["sha256"], "format": "ncbi-taxdump",
                             "root": "1"}
    assert meta["names"]["names_not_used"] == {"authority": 1, "common name": 2, "genbank common name": 8,
                                               "synonym": 7}  # synonyms are not duplicate names
    assert meta["ranks_not_ordered"] == {"clade": 14, "no rank": 2}
    assert meta["nested"] is True and meta["missing_ranks"] == {} and meta["roots"] == 1
    err = " ".join(res.stderr.split())
    assert "18 names that are not a scientific name left out (authority 1, common name 2" in err
    assert "ranks outside the standard order, never a level: clade (14 nodes), no rank (2 nodes)" in err
    res = invoke("build", "--edges", str(NODES), "--level", "family", "-o", str(tmp_path / "b.parquet"))
    assert (tmp_path / "b.parquet").read_bytes() != (tmp_path / "out.parquet").read_bytes()  # names change bytes
    res = invoke("build", "--edges", str(NODES), "--names", str(NAMES), "--level", "family",
                 "-o", str(tmp_path / "c.parquet"))
    assert (tmp_path / "c.parquet").read_bytes() == (tmp_path / "out.parquet").read_bytes()


def test_ncbi_every_rank_finest_first_nested_with_missing_ranks_filled(tmp_path):
    res, lm = _run(tmp_path, "--edges", NODES, "--names", NAMES, "--levels", "all")
    assert lm.levels == ["subspecies", "species", "genus", "subfamily", "family", "superfamily", "parvorder",
                         "infraorder", "suborder", "order", "superorder", "class", "superclass", "subphylum",
                         "phylum", "kingdom", "superkingdom"]
    assert lm.metadata["nested"] is True
    # E. coli: Bacteria has no kingdom in this dump
    k = lm.lookup("kingdom")[0]
    assert (lm.names("kingdom")[k], lm.ids("kingdom")[k]) == ("unclassified Bacteria kingdom", "unclassified 2 kingdom")
    assert _named(lm, "species") == ["Escherichia coli", "Homo sapiens", "Canis lupus", "Felis catus",
                                     "Panthera leo", "Panthera tigris"]  # the dog's species is Canis lupus
    assert _named(lm, "subspecies")[0] == "Escherichia coli"  # a species lies above the subspecies cut
    assert lm.metadata["above_rank"] == {"subspecies": 5}
    assert lm.metadata["missing_ranks"]["kingdom"] == 1 and lm.metadata["leaves_with_missing_rank"] == 5
    h = build_edges(NODES, levels="family,order", names=NAMES)
    assert h.level_names == ["family", "order"] and h.is_nested()


def test_ncbi_missing_policies_and_hops(tmp_path):
    h = build_edges(NODES, levels=["kingdom"], missing="parent")
    assert _labels(h, "kingdom") == ["2", "33208", "33208", "33208", "33208", "33208"]  # Bacteria's own group
    with pytest.raises(GranularityError, match=r"1 missing ranks in edge list .*: '562' \(562: no kingdom\)"):
        build_edges(NODES, levels=["kingdom", "family"], missing="error")
    res, _ = _run(tmp_path, "--edges", NODES, "--names", NAMES, "--level", "kingdom", "--missing", "error")
    assert_one_line_error(res, "missing ranks", "'562' (Escherichia coli: no kingdom)", "--missing")
    hops = build_edges(NODES, levels=[1])  # numbers keep meaning hops up
    assert _labels(hops, "level_1") == ["561", "9605", "9612", "9682", "9688", "9688"]
    cl = tmp_path / "taxids.txt"
    cl.write_text("9615\n9612\n9685\n")
    h = build_edges(NODES, classes=str(cl), levels="species,genus")
    assert _labels(h, "species") == ["9612", "9612", "9685"] and _labels(h, "genus") == ["9611", "9611", "9682"]


def _dmp(rows):
    return "".join("\t|\t".join(map(str, r)) + "\t|\n" for r in rows)


@pytest.mark.parametrize("nodes, fragments", [
    (_dmp([(1, 1, "no rank"), (2, 1, "genus"), (3, 3, "species")]),
     ["2 self-loops", "'1' (line 1)", "'3' (line 3)"]),
    (_dmp([(1, 1, "no rank"), (2, 1, "genus"), (3, 2, "species"), (2, 1, "genus")]),
     ["tax ids listed twice", "'2' (line 4, first at line 2)"]),
    (_dmp([(1, 1, "no rank"), (2, 1)]), ["line 2", "has 2 fields, expected tax_id, parent tax_id, rank"]),
    ("1\t|\t1\t|\tno rank\t|\n2\t|\t1\t|\tgenus\n", ["line 2", "does not end in '\\t|'"]),
    (_dmp([(1, 1, "no rank"), ("", 1, "genus")]), ["line 2", "empty tax_id"]),
    (_dmp([(1, 1, "no rank")]), ["holds no edges: only the root"]),
])
def test_bad_nodes_dmp(tmp_path, nodes, fragments):
    p = tmp_path / "nodes.dmp"
    p.write_text(nodes)
    res, _ = _run(tmp_path, "--edges", p, "--level", "1")
    assert_one_line_error(res, "nodes.dmp", *fragments)


def test_bad_names_dmp_and_self_loops_outside_the_taxdump(tmp_path):
    names = tmp_path / "names.dmp"
    names.write_text(_dmp([(1, "root", "", "scientific name"), (2, "Felis", "", "scientific name"),
                           (2, "cats", "", "common name"), (2, "Felix", "", "scientific name")]))
    res, _ = _run(tmp_path, "--edges", NODES, "--names", names, "--level", "1")
    assert_one_line_error(res, "names.dmp", "tax ids with two scientific names", "'2' (line 4, first at line 2)")
    res, _ = _run(tmp_path, "--edges", NODES, "--names", names, "--names-columns", "a,b", "--level", "1")
    assert_one_line_error(res, "--names-columns", "NCBI's names.dmp")
    e = tmp_path / "e.csv"
    e.write_text("parent,child\n1,1\n1,2\n")  # the root's self-loop is exempt in nodes.dmp only
    res, _ = _run(tmp_path, "--edges", e, "--level", "1")
    assert_one_line_error(res, "self-loops", "'1' (line 2)")


# ----------------------------------------------------------------------------- edge lists with a rank column


RANKED = ("parent,child,rank\nMammalia,Carnivora,order\n"
          "Carnivora,Felidae,family\nCarnivora,Canidae,family\nFelidae,Felis,genus\nFelidae,Panthera,genus\n"
          "Canidae,Canis,genus\nFelis,Felis catus,species\nPanthera,Panthera leo,species\n"
          "Canis,Canis lupus,species\nCarnivora,Carnivora incertae,species\n")


def test_a_csv_tsv_or_parquet_edge_list_with_a_rank_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "ranked.csv"
    csv.write_text(RANKED)
    res, lm = _run(tmp_path, "--edges", csv, "--levels", "genus,family")
    assert res.code == 0, res.stderr
    assert lm.leaf_ids == ["Felis catus", "Panthera leo", "Canis lupus", "Carnivora incertae"]
    assert _named(lm, "genus") == ["Felis", "Panthera", "Canis", "unclassified Carnivora genus"]
    assert _named(lm, "family")[3] == "unclassified Carnivora family"
    assert lm.metadata["edges"]["rank_column"] == "rank" and lm.metadata["nested"] is True
    assert "1 of 4 leaves miss a rank (genus 1, family 1)" in " ".join(res.stderr.split())
    rows = [ln.split(",") for ln in RANKED.splitlines()[1:]]
    tsv = tmp_path / "ranked.tsv"
    tsv.write_text("broader\tnarrower\ttaxon_rank\n" + "".join("\t".join(r) + "\n" for r in rows))
    par = tmp_path / "ranked.parquet"
    pq.write_table(pa.table({"parent": [r[0] for r in rows], "child": [r[1] for r in rows],
                             "rank": [r[2] for r in rows]}), par)
    for path, kw in ((tsv, {"parent_column": "broader", "child_column": "narrower", "rank_column": "taxon_rank"}),
                     (par, {})):
        h = build_edges(path, levels="genus,family", **kw)
        assert [h.level(v).labels.tolist() for v in h.level_names] == [lm.lookup(v).tolist() for v in lm.levels]


def test_rank_column_errors(tmp_path):
    e = tmp_path / "e.csv"
    e.write_text(RANKED + "Felidae,Felis,subfamily\n")
    res, _ = _run(tmp_path, "--edges", e, "--level", "genus")
    assert_one_line_error(res, "line 12: rank 'subfamily' for a node that line 5 gives the rank 'genus'")
    e.write_text(RANKED)
    for args, frags in (
            (("--level", "family,1"), ["mix rank names and numbers"]),
            (("--level", "clade"), ["'clade' is not a whole number", "standard rank name"]),
            (("--level", "tribe"), ["unknown rank 'tribe'", "are: species, genus, family, order, or all"]),
            (("--depth", "2", "--missing", "error"), ["--missing applies to levels by rank name"]),
            (("--level", "family", "--class-tree"), ["--class-tree", "levels by rank name do not use it"]),
            (("--level", "family", "--rank-column", "nope"), ["--rank-column", "no column 'nope'"])):
        res, _ = _run(tmp_path, "--edges", e, *args)
        assert_one_line_error(res, *frags)
    txt = tmp_path / "e.txt"
    txt.write_text("a b\n")
    res, _ = _run(tmp_path, "--edges", txt, "--level", "1", "--rank-column", "rank")
    assert_one_line_error(res, "--rank-column needs a CSV, TSV or parquet edge list")
    with pytest.raises(GranularityError, match="rank names go with --level/--levels, not --depth"):
        build_edges(e, levels="family", depths=[1])


def test_ranks_in_an_inconsistent_order_are_reported_not_nested(tmp_path):
    e = tmp_path / "e.csv"  # a genus above a family on one path: genus does not nest in family
    e.write_text("parent,child,rank\nroot,F1,family\nF1,G1,genus\nG1,s1,species\nroot,G2,genus\nG2,F2,family\n"
                 "F2,s2,species\nF2,s3,species\nG2,s4,species\n")
    res, lm = _run(tmp_path, "--edges", e, "--levels", "genus,family")
    assert res.code == 0, res.stderr
    assert lm.metadata["nested"] is False and lm.metadata["not_nested"] == [["genus", "family"]]
    assert "not nested: genus -> family" in " ".join(res.stderr.split())


def test_classes_missing_from_the_edges_keep_their_own_group_at_every_rank(tmp_path):
    e = tmp_path / "e.csv"
    e.write_text(RANKED)
    cl = tmp_path / "c.txt"
    cl.write_text("Felis catus\nLynx rufus\nCanis lupus\n")
    h = build_edges(e, classes=str(cl), levels="genus,family", missing_classes="own-group")
    assert _labels(h, "genus") == ["Felis", "Lynx rufus", "Canis"]
    assert _labels(h, "family") == ["Felidae", "Lynx rufus", "Canidae"]
    assert h.metadata["missing_ranks"] == {}


def test_headerless_and_ranked_csv_give_the_same_bytes_twice(tmp_path):
    e, r = tmp_path / "e.csv", tmp_path / "r.csv"
    e.write_text(_leaf_edges(20))
    r.write_text(RANKED)
    for src, level in ((e, "1"), (r, "genus,family")):
        outs = [tmp_path / f"{src.stem}{i}.parquet" for i in range(2)]
        for out in outs:
            assert invoke("build", "--edges", str(src), "--levels", level, "-o", str(out)).code == 0
        assert outs[0].read_bytes() == outs[1].read_bytes()


def test_a_class_csv_without_a_header_row_keeps_its_first_class_only_when_it_is_a_node(tmp_path):
    e = tmp_path / "e.csv"
    e.write_text(PETS)
    cl = tmp_path / "c.csv"
    cl.write_text("klass\n/m/01yrx\n/m/0bt9lr\n")  # a header naming no known column: still a header
    h = build_edges(e, classes=str(cl), levels=[1])
    assert list(h.leaf_ids) == ["/m/01yrx", "/m/0bt9lr"] and "header_row" not in h.metadata["classes"]
    cl.write_text("/m/0jbk,Animal\n/m/01yrx,Cat\n/m/0bt9lr,Dog\n")  # the first row is a node: a class
    h = build_edges(e, classes=str(cl), levels=[1])
    assert list(h.leaf_ids) == ["/m/0jbk", "/m/01yrx", "/m/0bt9lr"]
    assert h.metadata["classes"]["header_row"] is False
    assert "its first row ('/m/0jbk') is a class id, so it is the first class" in h.metadata["classes"]["notes"][0]
    cl.write_text("/m/01yrx\n/m/01yrx\n")  # read whole, a repeated class is still refused
    with pytest.raises(GranularityError, match="duplicate ids"):
        build_edges(e, classes=str(cl), levels=[1])
