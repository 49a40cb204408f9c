"""granularity build --source wordnet: levels, depths, path rules, inputs, outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, assert_one_line_error, invoke, run_cli

from hierarchy_cli import build_wordnet, read_label_map
from hierarchy_cli.graph import Graph, choose_paths
from hierarchy_cli.graphcut import LevelRequest, cut_levels
from hierarchy_cli.hierarchy import first_appearance_labels

WORDNET_DIR = Path("/usr/share/wordnet")
needs_wordnet_dir = pytest.mark.skipif(
    not (WORDNET_DIR / "data.noun").is_file(), reason="Debian's wordnet-base is not installed"
)

# A few ImageNet-1k classes whose ancestry is easy to check by hand.
TENCH, GOLDFISH, TABBY = "n01440764", "n01443537", "n02123045"


@pytest.fixture(scope="module")
def in21k():
    return build_wordnet(levels=list(range(13)))


# ----------------------------------------------------------------------------- the model


def test_first_appearance_numbering():
    labels, firsts = first_appearance_labels(np.array([7, 3, 7, 9, 3]))
    assert labels.tolist() == [0, 1, 0, 2, 1]
    assert firsts.tolist() == [0, 1, 3]
    assert labels.dtype == np.int32


def test_imagenet21k_levels_match_known_counts(in21k):
    counts = [lv.num_classes for lv in in21k.levels]
    # level 0 is the leaves; the rest were checked against nltk's hypernym_paths
    # (longest path; nltk itself varies by a few classes across hash seeds).
    assert counts[:10] == [21843, 5897, 2172, 968, 474, 257, 142, 83, 52, 33]
    assert in21k.metadata["leaves_with_choice"] == 5745


def test_levels_are_nested_and_numbered(in21k):
    assert in21k.is_nested()
    lv0 = in21k.levels[0]
    assert np.array_equal(lv0.labels, np.arange(21843))
    assert list(lv0.ids) == list(in21k.leaf_ids)
    for lv in in21k.levels:
        relabelled, _ = first_appearance_labels(lv.labels)
        assert np.array_equal(relabelled, lv.labels)
        assert lv.labels[0] == 0


def test_known_ancestors():
    h = build_wordnet(classes=[TENCH, GOLDFISH, TABBY], levels=[1, 2, 30])
    l1, l2, top = h.levels
    assert l1.ids[l1.labels[0]] == "n01439121"  # tench -> cyprinid
    assert l1.names[l1.labels[0]] == "cyprinid"
    assert l2.labels[0] == l2.labels[1]  # tench and goldfish share cypriniform fish
    assert top.num_classes == 1 and top.ids[0] == "n00001740"  # the root, once reached
    assert h.leaf_names == ["tench", "goldfish", "tabby"]


def test_depth_cut_keeps_shallow_leaves():
    entity, physical_entity = "n00001740", "n00001930"
    h = build_wordnet(classes=[TENCH, physical_entity, entity], depths=[0, 1, 3])
    d3, d1, d0 = h.levels  # finest first
    assert [d.name for d in h.levels] == ["depth_3", "depth_1", "depth_0"]
    assert d0.num_classes == 1 and d0.ids[0] == entity
    assert d1.ids[d1.labels[1]] == physical_entity and d1.ids[d1.labels[2]] == entity
    assert d3.ids[d3.labels[2]] == entity  # shallower than 3: keeps itself


def test_class_order_is_kept():
    ids = [TABBY, TENCH, GOLDFISH]
    h = build_wordnet(classes=ids, levels=[0, 1])
    assert h.leaf_ids == ids
    assert h.levels[1].labels.tolist() == [0, 1, 1]  # tench and goldfish: both cyprinids


# ----------------------------------------------------------------------------- path rules


def _toy_graph():
    # root(0) -> a(1) -> b(2) -> leaf(5); root -> c(3) -> d(4) -> leaf; root -> leaf
    # leaf's parents in this order: d, b, root  (two longest paths tie, d listed first)
    ids = ["root", "a", "b", "c", "d", "leaf"]
    parents = {1: [0], 2: [1], 3: [0], 4: [3], 5: [4, 2, 0]}
    ptr = [0]
    flat = []
    for i in range(6):
        flat += parents.get(i, [])
        ptr.append(len(flat))
    return Graph(ids, ids, np.array(ptr, dtype=np.int64), np.array(flat, dtype=np.int32))


def test_rules_and_tie_break():
    g = _toy_graph()
    longest = choose_paths(g, "longest")
    assert longest.parent[5] == 4  # d and b tie at depth 2: d is listed first
    assert longest.depth[5] == 3
    assert longest.num_paths[5] == 3
    shortest = choose_paths(g, "shortest")
    assert shortest.parent[5] == 0 and shortest.depth[5] == 1
    first = choose_paths(g, "first")
    assert first.parent[5] == 4


def test_tie_break_follows_parent_order_not_ids():
    g = _toy_graph()
    # swap the order of leaf's first two parents: now b wins the tie
    g.parents = g.parents.copy()
    s, e = g.parent_ptr[5], g.parent_ptr[6]
    g.parents[s:e] = [2, 4, 0]
    assert choose_paths(g, "longest").parent[5] == 2
    levels, info = cut_levels(g, np.array([5]), LevelRequest.parse(levels=[1, 2]))
    assert levels[0].ids == ("b",) and levels[1].ids == ("a",)
    assert info.leaves_with_choice == 1


def test_rules_differ_on_imagenet():
    counts = {r: build_wordnet(levels=[1], multi_parent=r).levels[0].num_classes
              for r in ("longest", "shortest", "first")}
    assert counts == {"longest": 5897, "shortest": 5905, "first": 5890}


def test_cycle_is_reported():
    ids = ["x", "y", "z"]
    g = Graph(ids, ids, np.array([0, 1, 2, 3]), np.array([2, 0, 1], dtype=np.int32))
    with pytest.raises(Exception) as err:
        choose_paths(g)
    assert "cycle" in str(err.value) and "'x'" in str(err.value)


@needs_wordnet_dir
def test_longest_path_agrees_with_nltk():
    from hierarchy_cli.sources.wordnet import dict_folder_reader, load_wordnet

    wn = dict_folder_reader(WORDNET_DIR)
    ids = (ROOT / "data_manifests" / "imagenet21k.txt").read_text().split()[::97]
    g = load_wordnet()
    nodes, _, _ = g.nodes_of(ids)
    paths = choose_paths(g.graph, "longest")
    for w, node in zip(ids, nodes.tolist()):
        nltk_paths = wn.synset_from_pos_and_offset("n", int(w[1:])).hypernym_paths()
        assert paths.depth[node] == max(len(p) for p in nltk_paths) - 1, w
        assert paths.num_paths[node] == len(nltk_paths), w


# ----------------------------------------------------------------------------- determinism


def test_byte_identical_whatever_the_hash_seed(tmp_path):
    digests = set()
    for seed in ("0", "1", "12345"):
        out = tmp_path / f"o{seed}.parquet"
        res = run_cli("build", "--levels", "0-9", "-o", out, env={"PYTHONHASHSEED": seed})
        assert res.code == 0, res.stderr
        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(digests) == 1


@needs_wordnet_dir
def test_wordnet_folder_gives_identical_output(tmp_path):
    a, b = tmp_path / "embedded.parquet", tmp_path / "folder.parquet"
    assert invoke("build", "--levels", "0-3", "--dataset", "imagenet1k", "-o", a).code == 0
    res = invoke("build", "--levels", "0-3", "--dataset", "imagenet1k", "--wordnet", WORDNET_DIR, "-o", b)
    assert res.code == 0, res.stderr
    assert a.read_bytes() == b.read_bytes()


# ----------------------------------------------------------------------------- the file


def test_label_map_schema_and_metadata(tmp_path):
    out = tmp_path / "m.parquet"
    res = invoke("build", "--dataset", "imagenet1k", "--levels", "0,3", "-o", out)
    assert res.code == 0, res.stderr
    t = pq.read_table(out)
    assert t.column_names == ["leaf_index", "leaf_id", "leaf_name", "level_0", "level_0_id",
                              "level_0_name", "level_3", "level_3_id", "level_3_name"]
    assert t.schema.field("level_3").type == pa.int32()
    assert t.schema.field("leaf_index").type == pa.int32()
    meta = json.loads(t.schema.metadata[b"granularity"])
    assert meta["schema"] == 1 and meta["source"] == "wordnet"
    assert meta["levels"] == ["level_0", "level_3"]
    assert meta["num_classes"] == {"level_0": 1000, "level_3": 188}
    assert meta["multi_parent"] == "longest"
    assert meta["classes"]["dataset"] == "imagenet1k"
    assert len(meta["classes"]["sha256"]) == 64 and len(meta["wordnet"]["sha256"]) == 64
    assert str(tmp_path) not in t.schema.metadata[b"granularity"].decode()
    lm = read_label_map(out)
    assert lm.num_classes("level_3") == 188
    lookup = lm.lookup("level_3")
    assert lookup.dtype == np.int32 and lookup.shape == (1000,)
    assert np.array_equal(lookup, t.column("level_3").to_numpy())
    assert lm.names("level_3")[lookup[0]] == t.column("level_3_name")[0].as_py()
    assert lm.to_hierarchy().validate().num_leaves == 1000


def test_stdout_matches_file(tmp_path):
    out = tmp_path / "m.parquet"
    assert invoke("build", "--dataset", "imagenet1k", "--level", "2", "-o", out).code == 0
    res = invoke("build", "--dataset", "imagenet1k", "--level", "2", "-o", "-")
    assert res.code == 0 and res.stdout == out.read_bytes()
    assert "level_2" in res.stderr  # the summary went to stderr


def test_default_output_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("build", "--level", "3")
    assert res.code == 0, res.stderr
    assert (tmp_path / "imagenet21k.wordnet.level_3.parquet").is_file()
    assert "imagenet21k.wordnet.level_3.parquet" in res.stderr
    assert "968" in res.stderr and "5,745" in res.stderr
    res = invoke("build", "--dataset", "imagenet1k", "--levels", "0-9")
    assert (tmp_path / "imagenet1k.wordnet.level_0-9.parquet").is_file()


def test_class_list_formats(tmp_path):
    ids = [GOLDFISH, TENCH, TABBY]
    txt = tmp_path / "c.txt"
    txt.write_bytes(("\ufeff# my classes\r\n" + "\r\n".join(f"{w}\tsome name" for w in ids) + "\r\n").encode())
    csv = tmp_path / "c.csv"
    csv.write_text("name,wnid\nfish," + GOLDFISH + "\ntench," + TENCH + "\ncat," + TABBY + "\n")
    pqf = tmp_path / "c.parquet"
    pq.write_table(pa.table({"synset": ids}), pqf)
    outs = []
    for args in (["--classes", txt], ["--classes", csv], ["--classes", csv, "--column", "wnid"],
                 ["--classes", pqf]):
        out = tmp_path / f"o{len(outs)}.parquet"
        res = invoke("build", *args, "--level", "1", "-o", out)
        assert res.code == 0, res.stderr
        outs.append(read_label_map(out))
    for lm in outs:
        assert lm.leaf_ids == ids
    res = invoke("build", "--classes", "-", "--level", "1", "-o", "-", stdin="\n".join(ids).encode())
    assert res.code == 0, res.stderr
    assert pq.read_table(pa.BufferReader(res.stdout)).column("leaf_id").to_pylist() == ids


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "content, fragments",
    [
        (f"{TENCH}\nn99999999\n{GOLDFISH}\nn00000001\n", ["2 wnids not in WordNet 3.0", "'n99999999' (line 2)", "(line 4)"]),
        (f"{TENCH}\ntench\n", ["not noun wnids", "'tench' (line 2)"]),
        (f"{TENCH}\nv01234567\n", ["non-noun wnids", "'v01234567' (line 2)"]),
        (f"{TENCH}\n{GOLDFISH}\n{TENCH}\n", ["1 duplicate ids", f"'{TENCH}' (line 3, first at line 1)"]),
        ("# nothing here\n\n", ["holds no ids"]),
        (b"\xff\xfe\x00n0", ["not UTF-8"]),
    ],
)
def test_bad_class_lists(tmp_path, content, fragments):
    src = tmp_path / "classes.txt"
    src.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out.parquet"
    res = invoke("build", "--classes", src, "--level", "1", "-o", out)
    assert_one_line_error(res, "classes.txt", *fragments)
    assert not out.exists()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--level", "-1"], ["levels '-1': -1 is negative"]),
        (["--levels", "3-1"], ["runs backwards"]),
        (["--levels", "a"], ["'a' is not a whole number"]),
        (["--depth", "-2"], ["-2 is negative"]),
        ([], ["--level K, --levels 0-9, --depth D or --ancestors IDS"]),
        (["--level", "1", "--depth", "2"], ["not --level and --depth"]),
        (["--level", "1", "--dataset", "imagenet99k"], ["unknown --dataset 'imagenet99k'", "imagenet1k"]),
        (["--level", "1", "--source", "freebase"], ["unknown --source 'freebase'"]),
        (["--level", "1", "--multi-parent", "random"], ["unknown --multi-parent rule 'random'"]),
        (["--level", "1", "--classes", "does/not/exist.txt"], ["'does/not/exist.txt' does not exist"]),
        (["--level", "1", "--classes", "{tmp}"], ["is a folder"]),
        (["--level", "1", "--wordnet", "/no/such/wordnet"], ["'/no/such/wordnet'", "does not exist"]),
        (["--level", "1", "--dataset", "imagenet1k", "--wordnet", "{tmp}"], ["has no 'data.noun'"]),
        (["--level", "1", "--classes", "{list}", "--dataset", "imagenet1k"], ["not both"]),
        (["--level", "1", "--classes", "{csv}", "--column", "nope"], ["no column 'nope'", "columns are: wnid"]),
    ],
)
def test_bad_options(tmp_path, args, fragments):
    (tmp_path / "l.txt").write_text(TENCH + "\n")
    (tmp_path / "l.csv").write_text("wnid\n" + TENCH + "\n")
    args = [str(a).format(tmp=tmp_path, list=tmp_path / "l.txt", csv=tmp_path / "l.csv") for a in args]
    out = tmp_path / "out.parquet"
    res = invoke("build", *args, "-o", out)
    assert_one_line_error(res, *fragments)
    assert not out.exists()


def test_missing_output_folder(tmp_path):
    res = invoke("build", "--level", "1", "--dataset", "imagenet1k", "-o", tmp_path / "nope" / "x.parquet")
    assert_one_line_error(res, "folder", "does not exist")
    # checked before any work: a bad class list is not even read
    (tmp_path / "bad.txt").write_text("n99999999\n")
    res = invoke("build", "--level", "1", "--classes", tmp_path / "bad.txt", "-o", tmp_path / "nope" / "x.parquet")
    assert_one_line_error(res, "folder", "does not exist")


def test_failed_run_keeps_previous_file(tmp_path):
    out = tmp_path / "m.parquet"
    out.write_bytes(b"previous")
    (tmp_path / "bad.txt").write_text("n99999999\n")
    res = invoke("build", "--classes", tmp_path / "bad.txt", "--level", "1", "-o", out)
    assert res.code == 2
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".m.parquet*"))


def test_debug_shows_traceback(tmp_path):
    res = run_cli("--debug", "build", "--level", "1", "--dataset", "nope")
    assert res.code != 0 and "Traceback" in res.stderr


def test_datasets_listing_matches_files():
    res = invoke("datasets", "--json")
    assert res.code == 0
    cat = json.loads(res.out)
    expected = {"imagenet21k": 21843, "imagenet1k": 1000, "imagenet22k": 21841, "imagenet12k": 11821,
                "imagenet21k-p": 11221, "imagenet21k-p-winter21": 10450}
    for name, count in expected.items():
        data = (ROOT / "data_manifests" / cat[name]["file"]).read_bytes()
        assert cat[name]["num_classes"] == count
        assert hashlib.sha256(data).hexdigest() == cat[name]["sha256"]
        assert len(data.split()) == count
    # every shipped list is made of WordNet 3.0 nouns, so every one builds
    for name in cat:
        assert build_wordnet(dataset=name, levels=[1]).num_leaves == cat[name]["num_classes"]
    assert "imagenet21k (default)" in invoke("datasets").out


@pytest.mark.parametrize("values", [["a", "bé", "", "xyz"], [], ["a\x00b", "c"], [""], ["only"], ["日本", "ü"]])
def test_string_array_roundtrip(values):
    from hierarchy_cli.arrays import string_array

    assert string_array(values).to_pylist() == values
