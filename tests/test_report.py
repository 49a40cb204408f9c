"""granularity report: one self-contained HTML page, numbers equal to compare --json."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error, invoke, run_cli
from hierarchy_cli.labelmap import read_label_map

# ImageNet-1k less n04399382: a map with other leaves than the ImageNet-1k maps
IN999 = [w for w in (ROOT / "data_manifests" / "imagenet1k.txt").read_text().split() if w != "n04399382"]
SVG_NAMESPACES = ('xmlns="http://www.w3.org/2000/svg"', 'xmlns:xlink="http://www.w3.org/1999/xlink"')


@pytest.fixture(scope="module")
def maps(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("report")
    classes = folder / "in999.txt"
    classes.write_text("\n".join(IN999) + "\n")
    paths = {name: folder / f"{name}.parquet" for name in ("wordnet", "kmeans", "random", "in999")}
    # the same ImageNet-1k leaves for WordNet levels, k-means clusters and the random control
    for args in (("build", "--dataset", "imagenet1k", "--levels", "0-9", "-o", paths["wordnet"]),
                 ("cluster", "--dataset", "imagenet1k", "--k", "100,20", "-o", paths["kmeans"]),
                 ("random", "--like", paths["wordnet"], "-o", paths["random"]),
                 ("build", "--classes", classes, "--levels", "0,3", "-o", paths["in999"])):
        res = invoke(*args)
        assert res.code == 0, res.stderr
    return paths


@pytest.fixture(scope="module")
def page(maps) -> tuple[Path, str]:
    out = maps["wordnet"].parent / "report.html"
    res = run_cli("report", maps["wordnet"], maps["kmeans"], maps["random"],
                  "--target", f"{maps['wordnet']}:level_5", "-o", out)
    assert res.code == 0, res.stderr
    assert f"wrote {out}" in res.stderr
    return out, out.read_text(encoding="utf-8")


def _data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="granularity-data">(.*?)</script>', text, re.S)
    assert m, "no data block in the page"
    return json.loads(m.group(1))


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (header row included)."""

    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr":
            self.tables[-1].append(self._row)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _tables(text: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(text)
    return parser.tables


def test_alignment_numbers_equal_compare_json(maps, page):
    _, text = page
    data = _data(text)
    target = f"{maps['wordnet']}:level_5"
    expected = [(str(maps[m]), lv) for m in ("wordnet", "kmeans", "random")
                for lv in read_label_map(maps[m]).levels]
    assert [(r["a"]["source"], r["a"]["level"]) for r in data["alignment"]] == expected
    assert len(expected) == 10 + 2 + 10
    for row in data["alignment"]:
        res = invoke("compare", f"{row['a']['source']}:{row['a']['level']}", target, "--json")
        assert res.code == 0, res.stderr
        assert json.loads(res.out) == row  # every key, every float bit for bit
    # the table under the picture shows the same numbers, to 4 decimals
    (table,) = [t for t in _tables(text) if t[0][:4] == ["map", "level", "classes", "NMI"]]
    assert len(table) - 1 == len(data["alignment"])
    for cells, row in zip(table[1:], data["alignment"]):
        assert cells[:3] == [row["a"]["source"], row["a"]["level"], f"{row['classes_a']:,}"]
        assert cells[3:8] == [f"{row[k]:.4f}" for k in ("nmi", "ari", "pure_classes", "pure_leaves",
                                                         "h_target_given_pre")]
        assert cells[8] == ("yes" if row["a_refines_b"] else "no")
    # the paper's picture: WordNet's level_5 is the target itself, its finer levels nest in it
    wn = {r["a"]["level"]: r for r in data["alignment"] if r["a"]["source"] == str(maps["wordnet"])}
    assert wn["level_5"]["nmi"] == 1.0
    assert all(wn[f"level_{k}"]["h_target_given_pre"] == 0.0 for k in range(6))
    assert wn["level_6"]["h_target_given_pre"] > 0
    assert data["target"] == {"source": str(maps["wordnet"]), "level": "level_5",
                              "classes": read_label_map(maps["wordnet"]).num_classes("level_5"),
                              "num_leaves": 1000}


def test_group_sizes_match_the_maps(maps, page):
    _, text = page
    data = _data(text)
    assert [m["source"] for m in data["maps"]] == [str(maps[m]) for m in ("wordnet", "kmeans", "random")]
    size_tables = [t for t in _tables(text) if t[0][:2] == ["level", "classes"]]
    assert len(size_tables) == 3
    for entry, table in zip(data["maps"], size_tables):
        lm = read_label_map(entry["source"])
        assert [lv["level"] for lv in entry["levels"]] == lm.levels
        for lv, cells in zip(entry["levels"], table[1:]):
            sizes = np.bincount(lm.lookup(lv["level"]))
            values, counts = np.unique(sizes, return_counts=True)
            assert lv["size_counts"] == [[int(v), int(c)] for v, c in zip(values[::-1], counts[::-1])]
            assert lv["classes"] == sizes.size == lm.num_classes(lv["level"])
            assert lv["leaves"] == 1000 and lv["largest"] == sizes.max() and lv["smallest"] == sizes.min()
            assert lv["largest_name"] == lm.names(lv["level"])[int(sizes.argmax())]
            assert lv["median"] == float(np.median(sizes)) and lv["singletons"] == int((sizes == 1).sum())
            assert cells[:2] == [lv["level"], f"{lv['classes']:,}"]
            assert cells[2] == f"{lv['largest']:,} ({lv['largest_name']})"
    # the random control keeps WordNet's group sizes, level by level
    wn, _, rnd = data["maps"]
    assert [lv["size_counts"] for lv in wn["levels"]] == [lv["size_counts"] for lv in rnd["levels"]]


def test_page_is_self_contained(page):
    _, text = page
    stripped = text
    for ns in SVG_NAMESPACES:
        stripped = stripped.replace(ns, "")
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/", stripped, re.I), \
        re.search(r".{40}https?:.{40}", stripped)
    assert not re.search(r"<(link|img|iframe|object|embed)\b|@import|\bsrc=", text, re.I)
    assert not re.findall(r"url\((?!#)", text)  # only references inside the page
    assert not re.search(r"<script(?![^>]*application/json)", text)  # no code runs
    assert text.count("<svg ") == 1 + 1 + 3  # alignment, the target tree (its levels nest), one per map
    assert text.count('<svg role="img" aria-label="') == 5
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), "ids repeat across the figures"
    for ref in set(re.findall(r'(?:href="#|url\(#)([^")]+)', text)):
        assert ref in ids, f"dangling reference #{ref}"


def test_same_inputs_give_a_byte_identical_page(maps, page):
    out, text = page
    again = out.parent / "again.html"
    res = run_cli("report", maps["wordnet"], maps["kmeans"], maps["random"],
                  "--target", f"{maps['wordnet']}:level_5", "-o", again)
    assert res.code == 0, res.stderr
    assert again.read_bytes() == out.read_bytes()
    assert "Date" not in text and "<dc:date" not in text


def test_without_target_and_level_selection(maps):
    res = invoke("report", f"{maps['wordnet']}:level_3", f"{maps['wordnet']}:level_1",
                 maps["kmeans"], "-o", "-")
    assert res.code == 0, res.stderr
    data = _data(res.out)
    assert data["target"] is None and data["alignment"] == []
    assert [lv["level"] for lv in data["maps"][0]["levels"]] == ["level_3", "level_1"]  # as given
    assert [lv["level"] for lv in data["maps"][1]["levels"]] == ["k100", "k20"]
    assert 'id="alignment' not in res.out and res.out.count("<svg ") == 2


def test_odd_names_are_shown_as_written(tmp_path):
    """'$' is not mathtext, markup is escaped, an id="..." in a label is not rewritten."""
    from hierarchy_cli.hierarchy import Hierarchy, Level
    from hierarchy_cli.labelmap import write_label_map

    level = 'cut $x$ id="a"'
    h = Hierarchy(["a", "b", "c"], ["a", "b", "c"],
                  [Level(level, np.array([0, 0, 1], dtype=np.int32), ("g0", "g1"), ("<b>&", "plain"))], {})
    path = tmp_path / "odd$name.parquet"
    write_label_map(h, path)
    res = invoke("report", path, "--target", path, "-o", "-")
    assert res.code == 0, res.stderr
    assert f"{level} (2 classes)</text>" in res.out  # the legend of the sizes picture
    assert "odd$name.parquet</text>" in res.out  # the legend of the alignment picture
    assert "&lt;b&gt;&amp;" in res.out and "<b>&" not in res.out
    assert _data(res.out)["maps"][0]["levels"][0]["largest_name"] == "<b>&"


def test_default_output_name(maps, tmp_path):
    res = run_cli("report", f"{maps['kmeans']}:k20", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "kmeans.report.html").is_file() and "wrote kmeans.report.html" in res.stderr


def _bad_cases(maps, tmp_path):
    w, t5 = maps["wordnet"], f"{maps['wordnet']}:level_5"
    return {
        "missing map": ([tmp_path / "nope.parquet", "--target", t5], ["nope.parquet", "does not exist"]),
        "missing map with level": ([f"{tmp_path / 'nope.parquet'}:level_1"], ["nope.parquet", "does not exist"]),
        "unknown level": ([f"{w}:level_42", "--target", t5], ["level_42", "levels are: level_0"]),
        "unknown target level": ([w, "--target", f"{w}:k7"], ["--target", "'k7'"]),
        "target without level": ([w, "--target", w], ["--target", "has 10 levels", "pick one"]),
        "target with other leaves": ([w, "--target", f"{maps['in999']}:level_3"],
                                     ["different leaves", "n04399382"]),
        "level twice": ([f"{w}:level_1", w], ["level 'level_1'", "given twice"]),
        "stdin twice": (["-", "--target", "-:level_3"], ["stdin", "only once"]),
        "not a label map": ([maps["wordnet"].parent / "in999.txt"], ["in999.txt", "not a readable parquet"]),
    }


@pytest.mark.parametrize("case", ["missing map", "missing map with level", "unknown level",
                                  "unknown target level", "target without level",
                                  "target with other leaves", "level twice", "stdin twice",
                                  "not a label map"])
def test_bad_inputs_are_one_line_and_write_nothing(maps, tmp_path, case):
    args, fragments = _bad_cases(maps, tmp_path)[case]
    out = tmp_path / "out" / "r.html"
    out.parent.mkdir()
    res = invoke("report", *args, "-o", out)
    assert_one_line_error(res, *fragments)
    assert list(out.parent.iterdir()) == []  # no page, no temp file
    res = invoke("report", *args, "-o", "-")
    assert_one_line_error(res, *fragments)
    assert res.stdout == b""


def test_a_level_with_a_label_gap_is_refused(tmp_path):
    """Labels 0 and 2 but no 1: counting an empty class would be a wrong number."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    i32 = pa.int32()
    pq.write_table(pa.table({"leaf_index": pa.array([0, 1, 2], i32), "leaf_id": ["a", "b", "c"],
                             "leaf_name": ["a", "b", "c"], "lv": pa.array([0, 2, 2], i32),
                             "lv_id": ["x", "y", "y"], "lv_name": ["x", "y", "y"]}), tmp_path / "gap.parquet")
    res = invoke("report", tmp_path / "gap.parquet", "-o", tmp_path / "g.html")
    assert_one_line_error(res, "gap.parquet")  # refused here or by the reader
    assert not (tmp_path / "g.html").exists()


def test_missing_output_folder_fails_before_any_work(maps, tmp_path):
    res = invoke("report", maps["wordnet"], "-o", tmp_path / "no" / "r.html")
    assert_one_line_error(res, "folder", "does not exist")


def test_python_api_validates_its_arguments(maps):
    from hierarchy_cli.errors import GranularityError
    from hierarchy_cli.report import report_data, report_html

    with pytest.raises(GranularityError, match="maps must be a list"):
        report_data(str(maps["wordnet"]))
    with pytest.raises(GranularityError, match="maps is empty"):
        report_data([])
    with pytest.raises(GranularityError, match="each map must be"):
        report_data([3])
    lm = read_label_map(maps["kmeans"])
    page = report_html([lm], target=f"{maps['wordnet']}:level_3")  # LabelMap objects work too
    assert _data(page)["alignment"][0]["a"] == {"source": str(maps["kmeans"]), "level": "k100"}


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_page_renders_in_headless_chromium(page, tmp_path):
    import matplotlib.image

    out, _ = page
    png = tmp_path / "shot.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1200,1600",
         out.as_uri()], capture_output=True, text=True, timeout=180)
    assert png.is_file(), proc.stderr[-2000:]
    img = matplotlib.image.imread(png)[..., :3]
    assert img.shape[:2] == (1600, 1200)
    ink = (img < 0.9).any(axis=2)
    assert ink.mean() > 0.03, f"only {ink.mean():.1%} of the screenshot is not white"
    # the curves were drawn: pixels of the first two maps' colours (#1f77b4 blue, #ff7f0e orange)
    for rgb in ((0x1f, 0x77, 0xb4), (0xff, 0x7f, 0x0e)):
        near = (np.abs(img - np.array(rgb) / 255).max(axis=2) < 0.08).sum()
        assert near > 300, f"colour {rgb} appears on {near} pixels only"


# ----------------------------------------------------------------------------- the target tree


def test_tree_numbers_equal_compare_tree_json(maps, page):
    """The target's map (WordNet levels 0-9) nests, so the page measures LCA heights in it."""
    _, text = page
    data = _data(text)
    wordnet = read_label_map(maps["wordnet"])
    assert data["tree"]["source"] == str(maps["wordnet"]) and data["tree"]["levels"] == wordnet.levels
    target, tree = f"{maps['wordnet']}:level_5", str(maps["wordnet"])
    assert [(r["a"]["source"], r["a"]["level"]) for r in data["tree_alignment"]] == \
        [(r["a"]["source"], r["a"]["level"]) for r in data["alignment"]]
    for row in data["tree_alignment"]:
        res = invoke("compare", f"{row['a']['source']}:{row['a']['level']}", target, "--tree", tree, "--json")
        assert res.code == 0, res.stderr
        full = json.loads(res.out)
        assert row == {"a": full["a"], "classes_a": full["classes_a"], **full["tree"]}
    (table,) = [t for t in _tables(text) if t[0][:4] == ["map", "level", "classes", "pairs in one class"]]
    for cells, row in zip(table[1:], data["tree_alignment"]):
        mean = "-" if row["mean_lca_height"] is None else f"{row['mean_lca_height']:.4f}"
        assert cells[3:] == [f"{row['pairs']:,}", mean, f"{row['random_mean_lca_height']:.4f}"]
    # WordNet's own levels merge closer relatives than the random control's, level for level
    by = {(r["a"]["source"], r["a"]["level"]): r["mean_lca_height"] for r in data["tree_alignment"]}
    for k in range(1, 10):
        assert by[(str(maps["wordnet"]), f"level_{k}")] < by[(str(maps["random"]), f"random_level_{k}")]


def test_tree_only_when_the_target_nests_or_when_asked(maps, tmp_path):
    from hierarchy_cli.hierarchy import Hierarchy
    from hierarchy_cli.labelmap import write_label_map

    wordnet, rnd = read_label_map(maps["wordnet"]), read_label_map(maps["random"])
    mixed = Hierarchy(wordnet.leaf_ids, wordnet.leaf_names,
                      [wordnet.to_hierarchy(["level_3"]).levels[0], rnd.to_hierarchy(["random_level_1"]).levels[0]], {})
    write_label_map(mixed, tmp_path / "mixed.parquet")
    res = invoke("report", maps["kmeans"], "--target", f"{tmp_path / 'mixed.parquet'}:level_3", "-o", "-")
    assert res.code == 0, res.stderr
    assert "tree" not in _data(res.out) and 'id="tree"' not in res.out
    res = invoke("report", maps["kmeans"], "--target", f"{tmp_path / 'mixed.parquet'}:level_3",
                 "--tree", f"{maps['wordnet']}:level_1,level_5", "-o", "-")
    assert res.code == 0, res.stderr
    data = _data(res.out)
    assert data["tree"]["levels"] == ["level_1", "level_5"] and 'id="tree"' in res.out
    assert len(data["tree_alignment"]) == 2
    # without a target, asked for
    res = invoke("report", maps["kmeans"], "--tree", maps["wordnet"], "-o", "-")
    assert res.code == 0 and _data(res.out)["target"] is None and len(_data(res.out)["tree_alignment"]) == 2
    for args, fragments in [
        (["--tree", f"{tmp_path / 'mixed.parquet'}"], ["--tree", "levels 'level_3' and 'random_level_1' do not nest"]),
        (["--tree", f"{maps['in999']}"], ["other leaves than MAP", "n04399382"]),
        (["--tree", f"{maps['wordnet']}:level_77"], ["--tree", "no level 'level_77'"]),
    ]:
        res = invoke("report", maps["kmeans"], *args, "-o", tmp_path / "r.html")
        assert_one_line_error(res, *fragments)
        assert not (tmp_path / "r.html").exists()
