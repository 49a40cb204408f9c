"""``granularity build --source taxonomy``: iNat JSON, rank tables and folder names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import assert_one_line_error, invoke, run_cli
from hierarchy_cli.errors import GranularityError
from hierarchy_cli.labelmap import read_label_map
from hierarchy_cli.sources.taxonomy import build_taxonomy

FIX = Path(__file__).parent / "fixtures"
INAT = FIX / "inat_train_mini.json"
FOLDERS = FIX / "inat_folders.txt"
TABLE = FIX / "taxonomy.csv"
ALL = ["genus", "family", "order", "class", "phylum", "kingdom", "supercategory"]


def _cats():
    return sorted(json.loads(INAT.read_text())["categories"], key=lambda c: c["id"])


# ----------------------------------------------------------------------------- iNat JSON


def test_inat_json_leaves_follow_category_ids_not_file_order():
    h = build_taxonomy(INAT, "all")
    cats = _cats()
    assert [c["id"] for c in json.loads(INAT.read_text())["categories"]][:2] == [3, 0]  # shuffled on disk
    assert list(h.leaf_ids) == [c["image_dir_name"] for c in cats]
    assert list(h.leaf_names) == [c["name"] for c in cats]
    assert h.level_names == ALL
    assert {lv.name: lv.num_classes for lv in h.levels} == {
        "genus": 12, "family": 10, "order": 8, "class": 6, "phylum": 5, "kingdom": 3, "supercategory": 6,
    }


def test_rank_ids_carry_the_path_and_names_the_rank_value():
    h = build_taxonomy(INAT, ["genus", "family"])
    genus = h.level("genus")
    felis = genus.labels[2]  # Felis catus
    assert genus.ids[felis] == "Animalia/Chordata/Mammalia/Carnivora/Felidae/Felis"
    assert genus.names[felis] == "Felis"
    fam = h.level("family")
    assert fam.ids[fam.labels[3]] == "Animalia/Chordata/Mammalia/Carnivora/Felidae"
    assert fam.labels[2] == fam.labels[3]  # cat and bobcat share Felidae
    sup = build_taxonomy(INAT, "supercategory").level("supercategory")
    assert sup.ids[sup.labels[7]] == "Insects" and sup.names[sup.labels[2]] == "Mammals"


def test_levels_are_numbered_by_first_appearance_and_nested():
    h = build_taxonomy(INAT, "genus,family,order,class,phylum,kingdom")
    assert h.nested and h.is_nested()
    for lv in h.levels:
        firsts = [int(np.flatnonzero(lv.labels == k)[0]) for k in range(lv.num_classes)]
        assert firsts == sorted(firsts)
    assert h.metadata["nested"] is True


def test_supercategory_with_kingdom_is_reported_as_not_nested():
    h = build_taxonomy(INAT, "class,kingdom,supercategory")
    assert h.nested is False
    assert h.metadata["not_nested"] == [["kingdom", "supercategory"]]
    # class does nest inside supercategory in iNat's scheme
    assert build_taxonomy(INAT, "class,supercategory").nested is True


def test_species_level_keeps_every_leaf_apart():
    h = build_taxonomy(INAT, "species,genus")
    assert h.level_names == ["species", "genus"]
    sp = h.level("species")
    assert list(sp.labels) == list(range(h.num_leaves))
    assert sp.names[0] == "Lumbricus terrestris"
    assert sp.ids[0] == "Animalia/Annelida/Clitellata/Haplotaxida/Lumbricidae/Lumbricus/Lumbricus terrestris"


def test_categories_are_found_after_a_large_images_list(tmp_path):
    doc = json.loads(INAT.read_text())
    doc["images"] = [{"id": i, "file_name": f"train/x/{i}.jpg"} for i in range(200_000)]
    doc["info"]["note"] = 'the word categories, and "categories" in a string'
    order = ["info", "images", "categories", "annotations"]
    p = tmp_path / "train.json"
    p.write_text(json.dumps({k: doc[k] for k in order}))
    h = build_taxonomy(p, "genus")
    assert h.level("genus").num_classes == 12
    assert list(h.leaf_ids) == [c["image_dir_name"] for c in _cats()]


def test_inat_json_without_image_dir_name_uses_category_id(tmp_path):
    doc = json.loads(INAT.read_text())
    for c in doc["categories"]:
        del c["image_dir_name"]
        del c["name"]
    p = tmp_path / "val.json"
    p.write_text(json.dumps(doc))
    h = build_taxonomy(p, "genus")
    assert list(h.leaf_ids) == [str(i) for i in range(12)]
    assert h.leaf_names[2] == "Felis catus"  # genus + specific_epithet


# ----------------------------------------------------------------------------- folder names


def test_folder_name_list_gives_the_same_ranks_as_the_json():
    a = build_taxonomy(INAT, "genus,family,order,class,phylum,kingdom")
    b = build_taxonomy(FOLDERS, "all")
    assert b.level_names == a.level_names  # no supercategory in folder names
    assert list(a.leaf_ids) == list(b.leaf_ids)
    assert list(a.leaf_names) == list(b.leaf_names)
    for la, lb in zip(a.levels, b.levels):
        assert np.array_equal(la.labels, lb.labels) and la.ids == lb.ids and la.names == lb.names


def test_a_folder_of_image_folders_is_listed_in_index_order(tmp_path):
    names = FOLDERS.read_text().split()
    root = tmp_path / "train"
    for name in reversed(names):
        (root / name).mkdir(parents=True)
    (root / "README.txt").write_text("not a folder, ignored")
    h = build_taxonomy(root, "genus")
    assert list(h.leaf_ids) == names
    res = invoke("build", "--taxonomy", str(root), "--level", "family", "-o", str(tmp_path / "f.parquet"))
    assert res.code == 0, res.stderr
    assert read_label_map(tmp_path / "f.parquet").num_classes("family") == 10


def test_folder_list_keeps_line_order(tmp_path):
    names = FOLDERS.read_text().split()
    p = tmp_path / "subset.txt"
    p.write_text("\n".join(["train/" + names[5], names[0] + "/", names[2]]) + "\n")
    h = build_taxonomy(p, "genus")
    assert list(h.leaf_ids) == [names[5], names[0], names[2]]


# ----------------------------------------------------------------------------- tables


def test_table_homonym_genera_stay_two_labels():
    h = build_taxonomy(TABLE, "genus")
    g = h.level("genus")
    i_alba, i_gannet = h.leaf_names.index("Morus alba"), h.leaf_names.index("Morus bassanus")
    assert g.labels[i_alba] != g.labels[i_gannet]
    assert g.names[g.labels[i_alba]] == g.names[g.labels[i_gannet]] == "Morus"
    assert g.ids[g.labels[i_alba]].endswith("Moraceae/Morus")
    assert g.ids[g.labels[i_gannet]].endswith("Sulidae/Morus")
    assert h.metadata["homonyms"] == {"genus": 1}


def test_missing_ranks_are_filled_and_counted():
    h = build_taxonomy(TABLE, "genus,family")
    fam, gen = h.level("family"), h.level("genus")
    i = h.leaf_names.index("Passeriformes sp.")
    j = h.leaf_names.index("Incertae sedis")
    assert fam.names[fam.labels[i]] == "unclassified Passeriformes family"
    assert gen.names[gen.labels[i]] == "unclassified Passeriformes genus"
    assert fam.labels[i] == fam.labels[j]  # both lack a family under the same order
    assert gen.names[gen.labels[j]] == "Incertae"
    assert h.metadata["leaves_with_missing_rank"] == 2
    assert h.metadata["missing_ranks"] == {"family": 2, "genus": 1}
    assert h.is_nested()


def test_missing_parent_policy_keeps_the_leaf_in_its_ancestor_group():
    h = build_taxonomy(TABLE, "family,order", missing="parent")
    fam = h.level("family")
    i = h.leaf_names.index("Passeriformes sp.")
    assert fam.ids[fam.labels[i]] == "Animalia/Chordata/Aves/Passeriformes"
    assert fam.names[fam.labels[i]] == "Passeriformes"
    assert h.is_nested()


def test_missing_error_policy_names_the_rows():
    with pytest.raises(GranularityError, match=r"'Incertae sedis' \(line 16: no family\)"):
        build_taxonomy(TABLE, "family", missing="error")
    # ranks above the requested levels only: order has no gaps
    assert build_taxonomy(TABLE, "order", missing="error").level("order").num_classes == 9


def test_tsv_parquet_and_csv_tables_agree(tmp_path):
    rows = [line.split(",") for line in TABLE.read_text().splitlines()]
    tsv = tmp_path / "tax.tsv"
    tsv.write_text("\n".join("\t".join(r) for r in rows) + "\n")
    par = tmp_path / "tax.parquet"
    pq.write_table(pa.table({h: [r[j] or None for r in rows[1:]] for j, h in enumerate(rows[0])}), par)
    hs = [build_taxonomy(p, "all") for p in (TABLE, tsv, par)]
    for h in hs[1:]:
        assert list(h.leaf_ids) == list(hs[0].leaf_ids)
        for a, b in zip(hs[0].levels, h.levels):
            assert np.array_equal(a.labels, b.labels) and a.ids == b.ids and a.names == b.names


def test_table_with_specific_epithet_id_column_and_custom_ranks(tmp_path):
    p = tmp_path / "custom.csv"
    p.write_text(
        "taxon_id,Family,Tribe,Genus,specific_epithet\n"
        "7,Felidae,Felini,Felis,catus\n"
        "3,Felidae,Felini,Lynx,rufus\n"
        "9,Felidae,Pantherini,Panthera,leo\n"
    )
    h = build_taxonomy(p, "all", ranks=["Family", "Tribe", "Genus"])
    assert h.level_names == ["genus", "tribe", "family"]
    assert list(h.leaf_ids) == ["7", "3", "9"]
    assert h.leaf_names[2] == "Panthera leo"
    assert list(h.level("tribe").labels) == [0, 0, 1]
    assert h.level("tribe").ids[1] == "Felidae/Pantherini"


# ----------------------------------------------------------------------------- CLI


def test_cli_writes_a_label_map_with_rank_columns(tmp_path):
    out = tmp_path / "inat.parquet"
    res = invoke("build", "--source", "taxonomy", "--taxonomy", str(INAT), "--levels", "family,order", "-o", str(out))
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    assert lm.levels == ["family", "order"]
    assert lm.metadata["source"] == "taxonomy"
    assert lm.metadata["taxonomy"] == {"name": INAT.name, "sha256": lm.metadata["taxonomy"]["sha256"]}
    assert str(FIX) not in json.dumps(lm.metadata)
    assert "family" in res.stderr and "10" in res.stderr  # classes per rank in the summary


def test_cli_default_name_source_inferred_and_summary_counts_missing(tmp_path):
    res = run_cli("build", "--taxonomy", str(TABLE), "--levels", "all", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "taxonomy.taxonomy.genus-supercategory.parquet").is_file()
    assert "2 of 16 leaves miss a rank" in " ".join(res.stderr.split())


def test_same_input_same_bytes(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for p in (a, b):
        assert invoke("build", "--taxonomy", str(TABLE), "--levels", "all", "-o", str(p)).code == 0
    assert a.read_bytes() == b.read_bytes()


def test_stdout_output():
    res = invoke("build", "--taxonomy", str(FOLDERS), "--level", "genus", "-o", "-")
    assert res.code == 0
    import io

    assert pq.read_table(io.BytesIO(res.stdout)).column("genus_name")[0].as_py() == "Lumbricus"


# ----------------------------------------------------------------------------- bad input


def _bad(tmp_path, name, text, *args):
    p = tmp_path / name
    p.write_text(text)
    out = tmp_path / "out.parquet"
    res = invoke("build", "--taxonomy", str(p), *(args or ("--level", "genus")), "-o", str(out))
    assert not out.exists()
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".out")] == []
    return res


def test_bad_table_row_with_wrong_field_count(tmp_path):
    res = _bad(tmp_path, "t.csv", "kingdom,genus,species\nAnimalia,Felis,Felis catus\nAnimalia,Lynx\n")
    assert_one_line_error(res, "t.csv", "line 3", "2 fields, expected 3")


def test_bad_table_row_with_empty_species(tmp_path):
    res = _bad(tmp_path, "t.csv", "kingdom,genus,species\nAnimalia,Felis,Felis catus\n\nAnimalia,Lynx, \n")
    assert_one_line_error(res, "line 4", "empty species")


def test_bad_table_without_rank_or_species_columns(tmp_path):
    res = _bad(tmp_path, "t.csv", "a,b\n1,2\n")
    assert_one_line_error(res, "no rank columns", "columns are: a, b")
    res = _bad(tmp_path, "t2.csv", "kingdom,genus\nAnimalia,Felis\n")
    assert_one_line_error(res, "no species column")


def test_bad_json_that_is_not_an_inat_file(tmp_path):
    res = _bad(tmp_path, "coco.json", json.dumps({"images": [], "annotations": []}))
    assert_one_line_error(res, "coco.json", "not an iNat annotation file", "annotations, images")
    res = _bad(tmp_path, "list.json", "[1, 2, 3]")
    assert_one_line_error(res, "not an iNat annotation file")
    res = _bad(tmp_path, "broken.json", '{"categories": [\n{"id": 0,\n "name": }]}')
    assert_one_line_error(res, "broken.json", "line 3", "invalid JSON")


def test_bad_json_coco_categories_are_not_inat(tmp_path):
    doc = {"images": [], "annotations": [],
           "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    res = _bad(tmp_path, "instances_train2017.json", json.dumps(doc))
    assert_one_line_error(res, "instances_train2017.json", "not an iNat annotation file",
                          "category record 1 (id 1)", "no 'kingdom'")


def test_bad_json_category_without_a_rank_key(tmp_path):
    doc = json.loads(INAT.read_text())
    del doc["categories"][4]["family"]
    res = _bad(tmp_path, "train.json", json.dumps(doc))
    assert_one_line_error(res, "category record 5 (id 11)", "no 'family' key")


def test_bad_json_duplicate_category_id(tmp_path):
    doc = json.loads(INAT.read_text())
    doc["categories"][1]["id"] = 3
    res = _bad(tmp_path, "train.json", json.dumps(doc))
    assert_one_line_error(res, "duplicate category ids", "3 (category record 2")


def test_bad_rank_name_lists_the_valid_ones(tmp_path):
    res = invoke("build", "--taxonomy", str(INAT), "--level", "genera", "-o", str(tmp_path / "x.parquet"))
    assert_one_line_error(res, "unknown rank 'genera'", "species, genus, family, order, class, phylum, kingdom, supercategory")
    res = invoke("build", "--taxonomy", str(FOLDERS), "--levels", "genus,supercategory", "-o", str(tmp_path / "x.parquet"))
    assert_one_line_error(res, "'supercategory' (this input has no supercategory)")
    res = invoke("build", "--taxonomy", str(INAT), "--level", "3", "-o", str(tmp_path / "x.parquet"))
    assert_one_line_error(res, "rank names, not numbers")
    assert not (tmp_path / "x.parquet").exists()


def test_bad_folder_name_with_its_line(tmp_path):
    names = FOLDERS.read_text().split()
    res = _bad(tmp_path, "names.txt", "\n".join([names[0], "00001_Animalia_Felis", names[2]]) + "\n")
    assert_one_line_error(res, "names.txt", "line 2", "'00001_Animalia_Felis' is not an iNat 2021 folder name")


def test_bad_options_for_taxonomy(tmp_path):
    out = str(tmp_path / "x.parquet")
    assert_one_line_error(invoke("build", "--taxonomy", str(INAT), "--depth", "2", "-o", out), "--depth does not apply")
    assert_one_line_error(invoke("build", "--taxonomy", str(INAT), "-o", out), "say which ranks")
    assert_one_line_error(invoke("build", "--taxonomy", str(INAT), "--level", "genus", "--missing", "drop", "-o", out),
                          "unknown --missing 'drop'")
    assert_one_line_error(invoke("build", "--taxonomy", str(INAT), "--ranks", "genus", "--level", "genus", "-o", out),
                          "--ranks applies to a table")
    assert_one_line_error(invoke("build", "--source", "taxonomy", "--level", "genus"), "needs --taxonomy")
    assert_one_line_error(invoke("build", "--taxonomy", str(tmp_path / "nope.json"), "--level", "genus"), "does not exist")


def test_duplicate_species_rows(tmp_path):
    res = _bad(tmp_path, "t.csv", "genus,species\nFelis,Felis catus\nLynx,Lynx rufus\nFelis,Felis catus\n")
    assert_one_line_error(res, "duplicate leaf ids", "'Felis catus' (line 4, first at line 2)")


def test_bad_ranks_option(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("family,genus,species\nFelidae,Felis,Felis catus\n")
    res = invoke("build", "--taxonomy", str(p), "--ranks", "family,species", "--level", "family",
                 "-o", str(tmp_path / "x.parquet"))
    assert_one_line_error(res, "column 'species' cannot be a path rank")
    res = invoke("build", "--taxonomy", str(p), "--ranks", "family,tribe", "--level", "family",
                 "-o", str(tmp_path / "x.parquet"))
    assert_one_line_error(res, "--ranks", "no column 'tribe'", "columns are: family, genus, species")
    assert not (tmp_path / "x.parquet").exists()
