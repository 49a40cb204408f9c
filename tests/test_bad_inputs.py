"""The bad-input suite across every command (issue 6).

Each case runs one command on one bad input and asserts: the exit code, a single
line ``error: ...`` that names the offending value, no traceback, and nothing
left at the output path (nor a temporary file beside it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, invoke

from hierarchy_cli import build_wordnet, write_label_map

TENCH, GOLDFISH = "n01440764", "n01443537"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    f: dict[str, Path] = {}
    good = d / "good.parquet"
    write_label_map(build_wordnet(dataset="imagenet1k", levels=[0, 1, 3]), good)
    f["good"] = good
    data = good.read_bytes()
    f["truncated"] = d / "truncated.parquet"
    f["truncated"].write_bytes(data[: len(data) // 3])
    f["corrupt"] = d / "corrupt.parquet"
    f["corrupt"].write_bytes(b"PAR1" + bytes(range(256)) * 8 + b"PAR1")
    f["empty"] = d / "empty.txt"
    f["empty"].write_bytes(b"")
    t = pq.read_table(good)
    f["wrong_dtype"] = d / "wrong_dtype.parquet"
    pq.write_table(t.set_column(t.column_names.index("level_1"), "level_1",
                                pa.array([str(x) for x in t.column("level_1").to_pylist()])), f["wrong_dtype"])
    f["no_name_col"] = d / "no_name_col.parquet"
    pq.write_table(t.drop(["leaf_name"]), f["no_name_col"])
    f["bom_crlf_unknown"] = d / "bom_crlf.txt"
    f["bom_crlf_unknown"].write_bytes(f"\ufeff{TENCH}\r\nn12345678\r\n".encode())
    f["manifest_no_col"] = d / "manifest_no_col.csv"
    f["manifest_no_col"].write_text("image,size\na.jpg,3\n")
    f["manifest_unknown"] = d / "manifest_unknown.csv"
    f["manifest_unknown"].write_text(f"path,wnid\na.jpg,{TENCH}\nb.jpg,n99999999\nc.jpg,{GOLDFISH}\n")
    f["manifest_header_only"] = d / "manifest_header_only.csv"
    f["manifest_header_only"].write_text("path,wnid\n")
    f["other_leaves"] = d / "other_leaves.parquet"
    write_label_map(build_wordnet(classes=[TENCH, GOLDFISH], levels=[1]), f["other_leaves"])
    f["edges_cycle"] = d / "cycle.txt"
    f["edges_cycle"].write_text("a b\nb c\nc a\nc leaf\n")
    f["edges_ragged"] = d / "ragged.tsv"
    f["edges_ragged"].write_text("parent\tchild\nroot\ta\nroot\tb\textra\n")
    f["inat_not"] = d / "coco.json"
    f["inat_not"].write_text('{"images": [], "annotations": []}')
    f["taxa"] = d / "taxa.csv"
    f["taxa"].write_text("kingdom,family,genus,species\nAnimalia,Felidae,Felis,Felis catus\n")
    emb = np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32)
    emb[[3, 17]] = np.nan
    f["nan_emb"] = d / "nan_emb.npy"
    np.save(f["nan_emb"], emb)
    f["good_emb"] = d / "good_emb.npy"
    np.save(f["good_emb"], np.random.default_rng(1).normal(size=(1000, 8)).astype(np.float32))
    f["short_emb"] = d / "short_emb.npy"
    np.save(f["short_emb"], np.ones((999, 8), dtype=np.float32))
    f["text_npy"] = d / "text.npy"
    f["text_npy"].write_text("not an array")
    return f


# (name, args with {placeholders}, exit code, fragments that must appear)
CASES = [
    # build
    ("build: BOM+CRLF list, unknown id", ["build", "--classes", "{bom_crlf_unknown}", "--level", "1"], 2,
     ["'n12345678' (line 2)", "bom_crlf.txt"]),
    ("build: empty class list", ["build", "--classes", "{empty}", "--level", "1"], 2, ["empty.txt", "no ids"]),
    ("build: truncated parquet list", ["build", "--classes", "{truncated}", "--level", "1"], 2,
     ["truncated.parquet", "not a readable parquet"]),
    ("build: level out of range", ["build", "--level", "-4", "--dataset", "imagenet1k"], 2, ["-4"]),
    ("build: missing -o folder", ["build", "--level", "1", "--dataset", "imagenet1k"], 2,
     ["does not exist"]),
    ("build: edges with a cycle", ["build", "--edges", "{edges_cycle}", "--level", "1"], 2, ["cycle"]),
    ("build: ragged edge row", ["build", "--edges", "{edges_ragged}", "--level", "1"], 2, ["line 3"]),
    ("build: JSON that is not iNat", ["build", "--taxonomy", "{inat_not}", "--level", "genus"], 2, ["coco.json"]),
    ("build: unknown rank", ["build", "--taxonomy", "{taxa}", "--level", "tribe"], 2, ["tribe"]),
    # random
    ("random: k above the leaves", ["random", "--dataset", "imagenet1k", "--k", "1001"], 2, ["--k 1,001"]),
    ("random: k zero", ["random", "--dataset", "imagenet1k", "--k", "0"], 2, ["0"]),
    ("random: like a corrupt map", ["random", "--like", "{corrupt}"], 2, ["corrupt.parquet"]),
    ("random: like with other leaves", ["random", "--like", "{other_leaves}", "--dataset", "imagenet1k"], 2,
     ["leaves"]),
    ("random: like a missing level", ["random", "--like", "{good}:level_9"], 2, ["level_9"]),
    # inspect / compare / export
    ("inspect: wrong dtype", ["inspect", "{wrong_dtype}"], 2, ["level_1", "string"]),
    ("inspect: not our schema", ["inspect", "{no_name_col}"], 2, ["leaf_name"]),
    ("inspect: empty file", ["inspect", "{empty}"], 2, ["empty.txt"]),
    ("inspect: unknown lineage id", ["inspect", "{good}", "--lineage", "n99999999"], 2, ["n99999999"]),
    ("compare: unknown level", ["compare", "{good}:level_1", "{good}:level_7"], 2, ["level_7"]),
    ("compare: different leaves", ["compare", "{good}:level_1", "{other_leaves}:level_1"], 2, ["leaves"]),
    ("export: unknown level", ["export", "{good}", "--format", "class-to-idx", "--level", "level_5"], 2,
     ["level_5"]),
    ("export: truncated map", ["export", "{truncated}", "--format", "tsv"], 2, ["truncated.parquet"]),
    # apply
    ("apply: manifest missing the column", ["apply", "{manifest_no_col}", "--map", "{good}", "--column", "wnid"],
     2, ["wnid", "image"]),
    ("apply: unknown leaves", ["apply", "{manifest_unknown}", "--map", "{good}", "--column", "wnid"], 2,
     ["n99999999"]),
    ("apply: corrupt parquet manifest", ["apply", "{corrupt}", "--map", "{good}"], 2, ["corrupt.parquet"]),
    ("apply: map not ours", ["apply", "{manifest_unknown}", "--map", "{no_name_col}", "--column", "wnid"], 2,
     ["leaf_name"]),
    # cluster
    ("cluster: NaN embeddings", ["cluster", "--embeddings", "{nan_emb}", "--dataset", "imagenet1k", "--k", "10"],
     2, ["3", "17", "nan_emb.npy"]),
    ("cluster: rows do not match the classes",
     ["cluster", "--embeddings", "{short_emb}", "--dataset", "imagenet1k", "--k", "10"], 2, ["999", "1,000"]),
    ("cluster: k above the points", ["cluster", "--embeddings", "{good_emb}", "--dataset", "imagenet1k",
                                      "--k", "5000"], 2, ["5000"]),
    ("cluster: unreadable .npy", ["cluster", "--embeddings", "{text_npy}", "--dataset", "imagenet1k",
                                   "--k", "10"], 2, ["text.npy"]),
]


@pytest.mark.parametrize("name, args, code, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(files, tmp_path, name, args, code, fragments):
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    out_dir = tmp_path / "no-such-folder" if "missing -o" in name else tmp_path
    out = out_dir / "out.parquet"
    writes = args[0] not in ("inspect", "compare")  # those two print to stdout
    res = invoke(*args, *(["-o", out] if writes else []))
    assert_one_line_error(res, *fragments, code=code)
    if not writes:
        assert res.stdout == b""
    assert not out.exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".out.parquet")]


def test_suite_is_broad():
    commands = {c[1][0] for c in CASES}
    assert len(CASES) >= 25
    assert commands >= {"build", "random", "inspect", "compare", "export", "apply", "cluster"}
