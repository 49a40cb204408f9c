"""docs/trainers.md runs as written, and a piped map never crashes the reader.

The page is executed top to bottom in a folder holding an ImageFolder tree
``train/``: each ``console`` line in bash (output shown under a command must be
its stdout), each ``python`` block in a fresh namespace, whose results are then
checked against the label map independently. ``py-norun``/``console-norun``
blocks (PyTorch, torchvision, timm) are compiled and their project names checked.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import pickle
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import GRANULARITY, ROOT, run_cli

DOC = ROOT / "docs" / "trainers.md"
RUNS = 20
WNIDS = (ROOT / "data_manifests" / "imagenet1k.txt").read_text().split()[:: 25]   # 40 classes


def doc_blocks() -> list[tuple[str, str]]:
    """``(info string, code)`` of each fenced block of the page, in order."""
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"^```([\w-]*)\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)]


def console_commands(code: str) -> list[tuple[str, str | None]]:
    """``(command, stdout shown under it or None)`` per ``$ `` line of a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return [(cmd, "\n".join(shown) + "\n" if shown else None) for cmd, shown in out]


def piped_recipes() -> list[tuple[str, str]]:
    return [(cmd, shown) for info, code in doc_blocks() if info == "console"
            for cmd, shown in console_commands(code) if "-o - | python" in cmd]


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory):
    """An environment where ``granularity`` is the installed console script and ``python``
    the interpreter that runs the suite."""
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(GRANULARITY).parent), env["PATH"]])
    return env


def bash(cmd: str, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, env=env,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def worked(tmp_path_factory, shell_env):
    """Run the whole page in a fresh folder; return (folder, namespaces of the python blocks)."""
    d = tmp_path_factory.mktemp("trainers")
    for w in WNIDS:
        (d / "train" / w).mkdir(parents=True)
        for i in range(3):
            (d / "train" / w / f"{w}_{i}.JPEG").write_bytes(b"")
    spaces = []
    cwd = os.getcwd()
    try:
        for info, code in doc_blocks():
            if info == "console":
                for cmd, shown in console_commands(code):
                    res = bash(cmd, d, shell_env)
                    assert res.returncode == 0, (cmd, res.stderr.decode())
                    if shown is not None:
                        assert res.stdout.decode() == shown, cmd
            elif info == "python":
                os.chdir(d)
                ns: dict = {"__name__": "__doc_block__"}
                try:
                    exec(compile(code, f"{DOC.name} block", "exec"), ns)
                except ModuleNotFoundError as exc:  # a trainer library not installed here
                    if (exc.name or "").startswith("hierarchy_cli"):
                        raise
                    ns = {"__missing__": exc.name}
                spaces.append(ns)
    finally:
        os.chdir(cwd)
    return d, spaces


def block_defining(spaces, name: str) -> dict:
    found = [ns for ns in spaces if name in ns]
    missing = [ns["__missing__"] for ns in spaces if "__missing__" in ns]
    if not found and missing:
        pytest.skip(f"a recipe needs {', '.join(missing)}, not installed")
    assert len(found) == 1, name
    return found[0]


def level3_by_wnid(folder) -> dict[str, int]:
    """The map's leaf id -> level_3 label, read with pandas (not through the project)."""
    df = pq.read_table(folder / "in1k.parquet", columns=["leaf_id", "level_3"]).to_pandas()
    return dict(zip(df["leaf_id"].astype(str), df["level_3"].astype(int)))


def test_readme_first_python_snippet_reads_the_safe_way():
    readme = (ROOT / "README.md").read_text()
    first = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "read_label_map(" in first and "BytesIO" not in first and "read_parquet" not in first
    assert "trainers.md" in readme


def test_page_has_the_recipes():
    infos = [info for info, _ in doc_blocks()]
    assert infos.count("python") >= 4 and infos.count("py-norun") >= 2 and infos.count("console") >= 3
    assert set(infos) <= {"python", "py-norun", "console", "console-norun"}, set(infos)
    assert len(piped_recipes()) >= 2


def test_console_blocks_made_their_files(worked):
    d, _ = worked
    images = sorted(str(p.relative_to(d)) for p in (d / "train").rglob("*.JPEG"))
    assert (d / "train.csv").read_text().splitlines() == ["path"] + images
    out = pq.read_table(d / "train.level_3.parquet")
    truth = level3_by_wnid(d)
    assert out.column("level_3").to_pylist() == [truth[p.split("/")[1]] for p in images]
    assert json.loads((d / "names.json").read_text()) == json.loads((d / "level_3.names.json").read_text())
    assert len(json.loads((d / "level_3.names.json").read_text())) == 188
    rows = list(csv.reader(io.StringIO((d / "train.l3.csv").read_text())))
    assert rows == [["path", "level_3"]] + [[p, str(truth[p.split("/")[1]])] for p in images]
    report = json.loads((d / "compare.json").read_text())
    assert report["a"] == {"level": "random_level_3", "source": "stdin"} and report["classes_a"] == 188


def test_imagefolder_recipe(worked):
    d, spaces = worked
    ns = block_defining(spaces, "to_coarse")
    truth = level3_by_wnid(d)
    assert ns["classes"] == sorted(WNIDS)
    assert ns["class_to_idx"] == {w: i for i, w in enumerate(sorted(WNIDS))}
    # an ImageFolder target t becomes the level_3 label of folder classes[t]
    assert ns["to_coarse"] == [truth[w] for w in sorted(WNIDS)]
    assert ns["coarse_class_to_idx"] == {w: truth[w] for w in WNIDS}
    assert len(set(ns["to_coarse"])) < len(WNIDS)     # many-to-one: the point of a coarse level


def test_timm_recipe_writes_a_many_to_one_pkl(worked):
    d, _ = worked
    with open(d / "level_3.class_map.pkl", "rb") as f:
        class_map = pickle.load(f)
    truth = level3_by_wnid(d)
    assert class_map == truth and len(truth) == 1000 and len(set(class_map.values())) == 188
    # the command line shown gives the same --num-classes
    norun = "".join(code for info, code in doc_blocks() if info == "console-norun")
    assert re.search(r"--class-map level_3\.class_map\.pkl --num-classes 188\b", norun)


def test_hf_datasets_recipe(worked):
    d, spaces = worked
    ns = block_defining(spaces, "coarse")
    ds = ns["ds"]
    names = json.loads((d / "level_3.names.json").read_text())
    assert ds.features["label"].names == names
    leaf_ids = pq.read_table(d / "in1k.parquet", columns=["leaf_id"]).column("leaf_id").to_pylist()
    truth = level3_by_wnid(d)
    assert ds["label"] == [truth[leaf_ids[i % 1000]] for i in range(2000)]
    assert ds["image_id"] == list(range(2000))


def test_manifest_dataset_recipe(worked):
    d, spaces = worked
    ds = block_defining(spaces, "ManifestDataset")["ds"]
    images = sorted(str(p.relative_to(d)) for p in (d / "train").rglob("*.JPEG"))
    truth = level3_by_wnid(d)
    assert len(ds) == len(images) == 3 * len(WNIDS)
    assert [ds[i] for i in range(len(ds))] == [(p, truth[p.split("/")[1]]) for p in images]


def test_norun_blocks_compile_and_use_real_names():
    import importlib

    from hierarchy_cli.labelmap import LabelMap

    blocks = [code for info, code in doc_blocks() if info in ("python", "py-norun")]
    for code in blocks:
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hierarchy_cli"):
                mod = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(mod, alias.name), (node.module, alias.name)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "lm":
                assert hasattr(LabelMap, node.attr), node.attr


@pytest.mark.parametrize("recipe", [cmd for cmd, _ in piped_recipes()])
def test_piped_map_read_in_python_exits_cleanly_every_time(recipe, shell_env, tmp_path):
    """`build -o - | python -c ...`, RUNS times, as documented: exit 0 and the shown output."""
    shown = dict(piped_recipes())[recipe]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: bash(recipe, tmp_path, shell_env), range(RUNS)))
    codes = [r.returncode for r in results]
    assert codes == [0] * RUNS, (codes, {r.stderr.decode()[-300:] for r in results if r.returncode})
    assert all(r.stdout.decode() == shown for r in results)


# --------------------------------------------------------------------------- read_label_map inputs


@pytest.fixture(scope="module")
def map_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("map") / "in1k.parquet"
    assert run_cli("build", "--dataset", "imagenet1k", "--level", "3", "-o", path).code == 0
    return path


def test_read_label_map_takes_a_path_bytes_and_binary_files(map_file, monkeypatch):
    from hierarchy_cli import read_label_map

    want = pq.read_table(map_file)
    data = map_file.read_bytes()
    stdin = io.TextIOWrapper(io.BytesIO(data))
    monkeypatch.setattr(sys, "stdin", stdin)
    with open(map_file, "rb") as fh:
        kinds = {
            "str": read_label_map(str(map_file)),
            "Path": read_label_map(map_file),
            "bytes": read_label_map(data),
            "bytearray": read_label_map(bytearray(data)),
            "memoryview": read_label_map(memoryview(data)),
            "pa.Buffer": read_label_map(pa.py_buffer(data)),
            "BytesIO": read_label_map(io.BytesIO(data)),
            "open(rb)": read_label_map(fh),
            "-": read_label_map("-"),
        }
    for kind, lm in kinds.items():
        assert lm.table.equals(want), kind
        assert lm.num_classes("level_3") == 188, kind
    assert kinds["-"].source == "stdin" and kinds["open(rb)"].source == str(map_file)
    assert kinds["bytes"].source == "<bytes>"


def test_read_label_map_bad_inputs_name_the_parameter(map_file, tmp_path):
    from hierarchy_cli import read_label_map
    from hierarchy_cli.errors import GranularityError

    with open(map_file, encoding="latin-1") as fh, pytest.raises(TypeError, match=r"^path: .*text mode.*'rb'"):
        read_label_map(fh)
    with pytest.raises(TypeError, match=r"^path: expected '-', a file path, bytes or a binary file object, got int"):
        read_label_map(3)
    with pytest.raises(GranularityError, match=r"label map '<bytes>' is not a readable parquet file"):
        read_label_map(b"not parquet")
    with pytest.raises(GranularityError, match=r"label map '<bytes>' is not a readable parquet file"):
        read_label_map(map_file.read_bytes()[:1000])


def test_read_label_map_stdin_in_a_subprocess_reads_the_pipe(map_file):
    """The README's safe one-liner, with the map really on a pipe (not a seekable file)."""
    code = ("from hierarchy_cli import read_label_map; lm = read_label_map('-'); "
            "print(lm.num_leaves, lm.num_classes('level_3'), lm.source)")
    cat = subprocess.Popen(["cat", str(map_file)], stdout=subprocess.PIPE)
    res = subprocess.run([sys.executable, "-c", code], stdin=cat.stdout, capture_output=True, timeout=120)
    cat.wait()
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().split() == ["1000", "188", "stdin"]
