"""``granularity build --source edges``: parent-child lists through the shared graph cut."""

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
from hierarchy_cli.sources.edgefiles import read_edges
from hierarchy_cli.sources.edges import ROOT_ID, build_edges

FIX = Path(__file__).parent / "fixtures"
IS_A = FIX / "edges_is_a.txt"
WORDS = FIX / "edges_words.txt"


def _labels(h, name):
    lv = h.level(name)
    return [lv.ids[k] for k in lv.labels]


def test_default_leaves_are_childless_nodes_in_first_appearance_order():
    h = build_edges(IS_A, levels=[0])
    assert list(h.leaf_ids) == ["cat", "lynx", "fox", "dog", "robin", "tit"]
    assert list(h.leaf_names) == list(h.leaf_ids)  # no names file: names are ids


def test_levels_climb_the_longest_path_and_names_come_from_the_names_file():
    h = build_edges(IS_A, levels=[1, 2, 3], names=WORDS)
    assert _labels(h, "level_1") == ["feline", "feline", "canine", "canine", "songbird", "songbird"]
    assert _labels(h, "level_2") == ["carnivore"] * 4 + ["bird"] * 2
    assert _labels(h, "level_3") == ["mammal"] * 4 + ["animal"] * 2
    assert h.leaf_names[0] == "cat, true cat"
    assert h.level("level_1").names[0] == "feline, felid"
    assert h.nested and h.is_nested()
    assert h.metadata["leaves_with_choice"] == 2  # cat and dog are also pets


def test_several_roots_get_an_artificial_root():
    h = build_edges(IS_A, depths=[0, 1], multi_parent="shortest")
    assert _labels(h, "depth_0") == [ROOT_ID] * 6
    assert h.level("depth_0").names == ("root",)
    # shortest path: cat and dog hang under 'pet' (a root of the file)
    assert _labels(h, "depth_1") == ["pet", "animal", "animal", "pet", "animal", "animal"]
    assert h.metadata["artificial_root"] == ROOT_ID and h.metadata["roots"] == 2
    # with a single root, no artificial root
    single = build_edges(io_path(IS_A.read_text().replace("pet ", "animal ")), levels=[9])
    assert single.metadata["artificial_root"] is None
    assert _labels(single, "level_9") == ["animal"] * 6


def io_path(text: str, suffix: str = ".txt") -> Path:
    import tempfile

    fd = tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False)
    fd.write(text)
    fd.close()
    return Path(fd.name)


def test_multi_parent_rules_follow_file_order():
    first = build_edges(IS_A, levels=[1], multi_parent="first")
    assert _labels(first, "level_1")[0] == "feline"  # 'feline cat' comes before 'pet cat'
    swapped = io_path("pet cat\n" + IS_A.read_text())
    assert _labels(build_edges(swapped, levels=[1], multi_parent="first"), "level_1")[0] == "pet"
    assert _labels(build_edges(swapped, levels=[1], multi_parent="longest"), "level_1")[0] == "feline"


def test_classes_set_the_leaves_and_their_order(tmp_path):
    cl = tmp_path / "classes.txt"
    cl.write_text("robin\ncat\ncarnivore\n")
    h = build_edges(IS_A, classes=str(cl), levels=[0, 1])
    assert list(h.leaf_ids) == ["robin", "cat", "carnivore"]
    assert _labels(h, "level_1") == ["songbird", "feline", "mammal"]
    assert h.metadata["classes"]["name"] == "classes.txt"
    h2 = build_edges(IS_A, classes=["dog", "fox"], levels=[1])
    assert _labels(h2, "level_1") == ["canine", "canine"]


def test_same_levels_as_the_wordnet_source_for_the_same_graph(tmp_path):
    """One implementation serves both: WordNet exported as an is-a list cuts identically."""
    from hierarchy_cli.manifests import load_dataset
    from hierarchy_cli.sources.wordnet import build_wordnet, load_wordnet

    wn = load_wordnet(None)
    g = wn.graph
    child = np.repeat(np.arange(g.num_nodes), np.diff(g.parent_ptr))
    ids = [f"n{o:08d}" for o in wn.offsets.tolist()]
    path = tmp_path / "wordnet.is_a.txt"
    path.write_text("".join(f"{ids[p]} {ids[c]}\n" for p, c in zip(g.parents.tolist(), child.tolist())))
    classes = load_dataset("imagenet1k").ids
    for rule in ("longest", "shortest", "first", "last"):
        a = build_wordnet(classes=classes, levels=[0, 2, 5], multi_parent=rule)
        b = build_edges(path, classes=classes, levels=[0, 2, 5], multi_parent=rule)
        for la, lb in zip(a.levels, b.levels):
            assert la.name == lb.name
            assert np.array_equal(la.labels, lb.labels), (rule, la.name)
            assert la.ids == lb.ids
        assert a.metadata["leaves_with_choice"] == b.metadata["leaves_with_choice"]
    da = build_wordnet(classes=classes, depths=[3, 6])
    db = build_edges(path, classes=classes, depths=[3, 6])
    assert [lv.ids for lv in da.levels] == [lv.ids for lv in db.levels]
    w21 = load_dataset("imagenet21k-p-winter21").ids  # inner nodes are classes too: a real class tree
    ca = build_wordnet(classes=w21, depths=[0, 3], multi_parent="last", class_tree=True)
    cb = build_edges(path, classes=w21, depths=[0, 3], multi_parent="last", class_tree=True)
    assert ca.level("depth_0").num_classes == 301
    for la, lb in zip(ca.levels, cb.levels):
        assert np.array_equal(la.labels, lb.labels) and la.ids == lb.ids


def test_csv_tsv_and_parquet_edge_lists_agree(tmp_path):
    pairs = [ln.split() for ln in IS_A.read_text().splitlines() if ln and not ln.startswith("#")]
    csv = tmp_path / "e.csv"
    csv.write_text("weight,Parent,Child\n" + "".join(f"1,{p},{c}\n" for p, c in pairs))
    tsv = tmp_path / "e.tsv"
    tsv.write_text("hypernym\thyponym\n" + "".join(f"{p}\t{c}\n" for p, c in pairs))
    par = tmp_path / "e.parquet"
    pq.write_table(pa.table({"parent": [p for p, _ in pairs], "child": [c for _, c in pairs]}), par)
    ref = build_edges(IS_A, levels=[0, 1, 2])
    for path, kw in ((csv, {}), (tsv, {"parent_column": "hypernym", "child_column": "hyponym"}), (par, {})):
        h = build_edges(path, levels=[0, 1, 2], **kw)
        assert list(h.leaf_ids) == list(ref.leaf_ids)
        for a, b in zip(ref.levels, h.levels):
            assert np.array_equal(a.labels, b.labels) and a.ids == b.ids


def test_integer_ids_in_parquet(tmp_path):
    par = tmp_path / "e.parquet"
    pq.write_table(pa.table({"parent": [1, 1, 2], "child": [2, 3, 4]}), par)
    h = build_edges(par, levels=[1])
    assert list(h.leaf_ids) == ["3", "4"]
    assert _labels(h, "level_1") == ["1", "2"]


def test_repeated_edges_count_once_and_crlf_bom_comments_are_fine(tmp_path):
    p = tmp_path / "e.txt"
    p.write_bytes(b"\xef\xbb\xbf# a comment\r\na  b\r\n\r\na\tb\r\nb c\r\n   \r\n")
    h = build_edges(p, levels=[0, 1, 2])
    assert list(h.leaf_ids) == ["c"]
    assert h.metadata["duplicate_edges"] == 1
    assert h.metadata["leaves_with_choice"] == 0


def test_names_file_csv_and_unnamed_ids(tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("id,name\ncat,house cat\nfeline,felid\n")
    h = build_edges(IS_A, levels=[1], names=str(names))
    assert h.leaf_names[0] == "house cat" and h.leaf_names[1] == "lynx"
    assert h.metadata["names"]["name"] == "names.csv"


def test_cli_writes_and_summarises(tmp_path):
    out = tmp_path / "e.parquet"
    res = invoke("build", "--edges", str(IS_A), "--names", str(WORDS), "--levels", "0-2", "-o", str(out))
    assert res.code == 0, res.stderr
    lm = read_label_map(out)
    assert lm.levels == ["level_0", "level_1", "level_2"]
    assert lm.metadata["source"] == "edges"
    assert lm.metadata["edges"]["name"] == IS_A.name
    assert str(FIX) not in json.dumps(lm.metadata)
    err = " ".join(res.stderr.split())
    assert "2 roots above the classes: joined under an artificial root '__root__'" in err
    assert "nodes without children" in err


def test_cli_default_name_and_stdin(tmp_path):
    res = run_cli("build", "--source", "edges", "--edges", "-", "--level", "1", cwd=tmp_path,
                  stdin=IS_A.read_bytes())
    assert res.code == 0, res.stderr
    assert (tmp_path / "edges.edges.level_1.parquet").is_file()
    res = run_cli("build", "--edges", str(IS_A), "--level", "2", cwd=tmp_path)
    assert (tmp_path / "edges_is_a.edges.level_2.parquet").is_file(), res.stderr


def test_same_input_same_bytes(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for p in (a, b):
        assert invoke("build", "--edges", str(IS_A), "--names", str(WORDS), "--depth", "0-3", "-o", str(p)).code == 0
    assert a.read_bytes() == b.read_bytes()


# ----------------------------------------------------------------------------- bad input


def _bad(tmp_path, text, *args, name="e.txt", extra=()):
    p = tmp_path / name
    p.write_text(text)
    out = tmp_path / "out.parquet"
    res = invoke("build", "--edges", str(p), *(args or ("--level", "1")), *extra, "-o", str(out))
    assert not out.exists()
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".out")] == []
    return res


def test_bad_wrong_number_of_fields(tmp_path):
    res = _bad(tmp_path, "a b\nb c d\nc\n")
    assert_one_line_error(res, "2 malformed edges", "'b c d' (line 2: 3 fields)", "'c' (line 3: 1 fields)")
    res = _bad(tmp_path, "parent,child\na,b\na,b,c\n", name="e.csv")
    assert_one_line_error(res, "e.csv", "line 3", "3 fields, expected 2")


def test_bad_empty_ids(tmp_path):
    res = _bad(tmp_path, "parent,child\na,b\n,c\n", name="e.csv")
    assert_one_line_error(res, "line 3", "empty id in column 'parent'")
    res = _bad(tmp_path, "parent\tchild\na\tb\nb\t \n", name="e.tsv")
    assert_one_line_error(res, "line 3", "empty id in column 'child'")


def test_bad_self_loop_names_node_and_line(tmp_path):
    res = _bad(tmp_path, "a b\nb c\nc c\n")
    assert_one_line_error(res, "self-loops", "'c' (line 3)")


def test_bad_cycle_names_its_nodes(tmp_path):
    res = _bad(tmp_path, "root a\na b\nb c\nc a\nc leaf\n")
    assert_one_line_error(res, "cycle", "'a'", "'b'", "'c'")


def test_bad_class_missing_from_edges(tmp_path):
    cl = tmp_path / "classes.txt"
    cl.write_text("cat\nwolf\n")
    res = _bad(tmp_path, IS_A.read_text(), "--level", "1", extra=("--classes", str(cl)))
    assert_one_line_error(res, "classes missing from edge list", "'wolf' (line 2)")


def test_bad_headers_and_options(tmp_path):
    res = _bad(tmp_path, "from_node\tto_node\na\tb\n", name="e.tsv")
    assert_one_line_error(res, "('from_node', 'to_node') names no parent or child column", "--parent-column")
    res = _bad(tmp_path, "from_node\tto_node\tweight\na\tb\t1\n", name="e.tsv")
    assert_one_line_error(res, "no parent column", "--parent-column", "columns are: from_node, to_node, weight")
    res = _bad(tmp_path, "parent,child\na,b\n", "--level", "1", name="e.csv", extra=("--parent-column", "up"))
    assert_one_line_error(res, "--parent-column", "no column 'up'")
    res = _bad(tmp_path, "a b\n", "--level", "1", extra=("--child-column", "c"))
    assert_one_line_error(res, "--child-column needs a CSV, TSV or parquet edge list")
    res = _bad(tmp_path, "a b\n", "--level", "genus")
    assert_one_line_error(res, "levels 'genus' are rank names, but edge list", "carries no ranks", "nodes.dmp")
    res = _bad(tmp_path, "a b\n", "--level", "genera")
    assert_one_line_error(res, "levels 'genera': 'genera' is not a whole number", "standard rank name")
    res = _bad(tmp_path, "a b\n", "--level", "-2")
    assert_one_line_error(res, "levels '-2': -2 is negative")
    res = _bad(tmp_path, "a b\n", "--level", "1", extra=("--ranks", "genus"))
    assert_one_line_error(res, "--ranks does not apply to --source edges")
    res = _bad(tmp_path, "# nothing\n\n")
    assert_one_line_error(res, "holds no edges")
    res = invoke("build", "--edges", "-", "--classes", "-", "--level", "1", "-o", str(tmp_path / "out.parquet"))
    assert_one_line_error(res, "only one input can come from stdin", "--edges and --classes")


def test_bad_names_file(tmp_path):
    names = tmp_path / "words.txt"
    names.write_text("cat\tcat\ndog\n")
    res = _bad(tmp_path, IS_A.read_text(), "--level", "1", extra=("--names", str(names)))
    assert_one_line_error(res, "words.txt", "line 2", "'dog' has an id but no name")
    names.write_text("cat\tcat\ndog\tdog\ncat\tfeline\n")
    res = _bad(tmp_path, IS_A.read_text(), "--level", "1", extra=("--names", str(names)))
    assert_one_line_error(res, "ids named twice", "'cat' (line 3, first at line 1)")


def test_bad_artificial_root_clash(tmp_path):
    res = _bad(tmp_path, "__root__ a\nb c\n")
    assert_one_line_error(res, "2 roots", "'__root__'")


def test_python_api_raises_granularity_error():
    with pytest.raises(GranularityError, match="say which levels"):
        build_edges(IS_A)
    el = read_edges(IS_A)
    assert el.ids[:3] == ["animal", "mammal", "bird"]
    assert el.lines.tolist()[:2] == [2, 3]


def test_fast_and_general_text_readers_agree(tmp_path):
    """Clean 'a b' files take Arrow's CSV reader; anything else the general one: same result."""
    from hierarchy_cli.inputs import read_input
    from hierarchy_cli.sources.edgefiles import _fast_text_edges

    pairs = [ln for ln in IS_A.read_text().splitlines() if ln and not ln.startswith("#")]
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(pairs))  # no final newline
    messy = tmp_path / "messy.txt"
    messy.write_text("\n".join(p.replace(" ", " \t ") for p in pairs) + "\n")
    assert _fast_text_edges(read_input(str(clean), "edge list")) is not None
    assert _fast_text_edges(read_input(str(messy), "edge list")) is None
    a, b = read_edges(clean), read_edges(messy)
    assert a.ids == b.ids
    assert a.parents.tolist() == b.parents.tolist() and a.children.tolist() == b.children.tolist()
    assert a.lines.tolist() == b.lines.tolist() == list(range(1, len(pairs) + 1))
    # look-alikes of the clean layout fall back, so comments, blanks and gaps behave the same
    for text in ("#x y\na b\n", "a b\n\nb c\n", " a\na b\n", "a b\nb \n"):
        p = tmp_path / "t.txt"
        p.write_text(text)
        assert _fast_text_edges(read_input(str(p), "edge list")) is None, text
    p.write_text("#x y\na b\n\nb c\n")
    el = read_edges(p)
    assert el.ids == ["a", "b", "c"] and el.lines.tolist() == [2, 4]
