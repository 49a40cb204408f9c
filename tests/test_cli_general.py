"""Properties every command shares: help, docs, start-up imports, completion, atomic writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, assert_one_line_error, invoke, run_cli

from hierarchy_cli.cli import app


def _commands():
    import typer.main

    group = typer.main.get_command(app)
    return {name: cmd for name, cmd in group.commands.items()}


COMMANDS = _commands()
HEAVY = ("numpy", "pandas", "pyarrow", "sklearn", "faiss", "nltk", "scipy", "torch", "matplotlib")


def test_core_commands_exist():
    assert {"build", "datasets"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_has_examples(name):
    cmd = COMMANDS[name]
    assert "Example" in (cmd.help or ""), f"'granularity {name}' help has no example"
    for param in cmd.params:
        if param.name in ("help",) or getattr(param, "hidden", False):
            continue
        text = getattr(param, "help", None)
        if text is None:  # positional arguments: typer keeps their help elsewhere
            continue
        assert "Example" in text or "example" in text, f"{name} {param.opts}: help has no example"
    res = invoke(name, "--help")
    assert res.code == 0 and "Usage" in res.out


def test_cli_import_stays_light():
    code = (
        "import sys; import hierarchy_cli.cli; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"heavy modules imported at start-up: {proc.stdout.strip()}"


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\nfrom hierarchy_cli.cli import main\n"
        f"for c in {sorted(COMMANDS)!r}:\n    main([c, '--help'])\n"
        f"print('LOADED', ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOADED", proc.stdout.splitlines()[-1]


def _pandas_free_inputs(tmp):
    """Small inputs for every command that should run without pandas."""
    import json

    import numpy as np
    import pyarrow as pa

    ids = (ROOT / "data_manifests" / "imagenet1k.txt").read_text().split()
    (tmp / "t.csv").write_text("genus,species\nFelis,Felis catus\nFelis,Felis silvestris\nCanis,Canis lupus\n")
    ranks = dict(supercategory="Mammals", kingdom="Animalia", phylum="Chordata", order="Carnivora")
    (tmp / "inat.json").write_text(json.dumps({"categories": [
        {"id": 0, "name": "Felis catus", "class": "Mammalia", "family": "Felidae", "genus": "Felis",
         "specific_epithet": "catus", **ranks},
        {"id": 1, "name": "Canis lupus", "class": "Mammalia", "family": "Canidae", "genus": "Canis",
         "specific_epithet": "lupus", **ranks}]}))
    (tmp / "e.csv").write_text("parent,child\nanimal,cat\nanimal,dog\n")
    pq.write_table(pa.table({"parent": ["animal", "animal"], "child": ["cat", "dog"]}), tmp / "edges.parquet")
    (tmp / "e.txt").write_text("animal cat\n# a comment\nanimal dog\n")
    (tmp / "c.csv").write_text("id\ncat\ndog\nfish\n")
    (tmp / "n.csv").write_text("id,name\ncat,Cat\n")
    (tmp / "n.txt").write_text("cat\tCat\n")
    import shutil

    for name in ("openimages", "ncbi"):  # the real formats' fixtures: Open Images' JSON and CSV, NCBI's taxdump
        shutil.copytree(ROOT / "tests" / "fixtures" / name, tmp / name)
    (tmp / "r.csv").write_text("parent,child,rank\nFelidae,Felis,genus\nFelis,Felis catus,species\n")
    pq.write_table(pa.table({"path": [f"train/{w}/{w}_{i}.JPEG" for i, w in enumerate(ids * 2)],
                             "wnid": ids * 2}), tmp / "m.parquet")
    (tmp / "m.csv").write_text("path,leaf_index\n" + "".join(f"train/{w}/{w}_1.JPEG,{i}\n" for i, w in enumerate(ids)))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(ids), 8)).astype(np.float32)
    pq.write_table(pa.table({"wnid": ids, "emb": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 8)}),
                   tmp / "emb.parquet")
    half = pa.array(rng.normal(size=3000 * 8).astype(np.float16))
    pq.write_table(pa.table({"sample_id": [f"s{i}" for i in range(3000)], "wnid": [ids[i % 1000] for i in range(3000)],
                             "emb": pa.FixedSizeListArray.from_arrays(half, 8)}), tmp / "s.parquet")


PANDAS_FREE = [
    "build --dataset imagenet1k --levels 0-9 -o {t}/w.parquet",
    "build --taxonomy {t}/t.csv --levels all -o {t}/t.parquet",
    "build --taxonomy {t}/inat.json --levels all -o {t}/i.parquet",
    "build --edges {t}/e.csv --classes {t}/c.csv --missing-classes own-group --names {t}/n.csv --level 1 -o {t}/e.parquet",
    "build --edges {t}/e.txt --names {t}/n.txt --level 1 -o {t}/e2.parquet",
    "build --edges {t}/edges.parquet --level 1 -o {t}/e3.parquet",
    "build --edges {t}/openimages/bbox_labels_600_hierarchy.json --names {t}/openimages/class-descriptions-boxable.csv"
    " --classes {t}/openimages/class-descriptions-boxable.csv --level 1 -o {t}/oi.parquet",
    "build --edges {t}/ncbi/nodes.dmp --names {t}/ncbi/names.dmp --levels all -o {t}/ncbi.parquet",
    "build --edges {t}/r.csv --level genus -o {t}/r.parquet",
    "cluster --k 1000 -o {t}/k.parquet --centroids {t}/k.c.parquet",
    "cluster --k 10 -e {t}/emb.parquet --dataset imagenet1k -o {t}/k2.parquet",
    "cluster --samples {t}/s.parquet --dataset imagenet1k --k 10 -o {t}/k3.parquet",
    "cluster --samples {t}/s.parquet --dataset imagenet1k --split-leaves 2 -o {t}/k4.parquet",
    "cluster --samples {t}/s.parquet --dataset imagenet1k --instance -o {t}/k5.parquet",
    "random --like {t}/w.parquet -o {t}/r.parquet",
    "inspect {t}/w.parquet",
    "export {t}/w.parquet -f csv -o {t}/w.csv",
    "export {t}/w.parquet -f lca-height -o {t}/w.lca.npy",
    "export {t}/w.parquet -f lca-distance -l level_0,level_3,level_9 -o {t}/w.lca.parquet",
    "apply {t}/m.parquet --map {t}/w.parquet -o {t}/a.parquet",
    "apply {t}/m.csv --map {t}/w.parquet --level level_3 -o {t}/a.csv",
    "compare {t}/k2.parquet:k10 {t}/w.parquet:level_3 --json",
    "report {t}/w.parquet {t}/k2.parquet -o {t}/r.html",
    "report {t}/w.parquet {t}/k2.parquet --target {t}/w.parquet:level_5 -o {t}/r2.html",
]

# The console entry point, run as `python -m hierarchy_cli` runs it; at the exit it says
# whether pandas was imported.
ENTRY = ("import atexit, runpy, sys\n"
         "atexit.register(lambda: print('PANDAS' if 'pandas' in sys.modules else 'CLEAN'))\n"
         "sys.argv = ['granularity', *sys.argv[1:]]\n"
         "runpy.run_module('hierarchy_cli', run_name='__main__')\n")


def test_commands_run_without_importing_pandas(tmp_path):
    """pyarrow imports pandas (0.2-0.4 s) on its first ``pa.array``, ``to_numpy``,
    ``pq.read_table`` or Python scalar, scikit-learn (``compare``, ``report --target``) and
    nltk on import; no command needs it, so the console entry point blocks it. Every
    command runs there, and succeeds, without it. Each runs in its own process, in order
    (later ones read earlier outputs)."""
    _pandas_free_inputs(tmp_path)
    dirty = []
    for line in PANDAS_FREE:
        args = line.format(t=tmp_path).split()
        proc = subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True)
        assert proc.returncode == 0, f"{line}: {proc.stderr.strip()[-500:]}"
        if proc.stdout.strip().splitlines()[-1] != "CLEAN":
            dirty.append(line.split(" -o ")[0].replace(str(tmp_path) + "/", ""))
    assert not dirty, f"these commands imported pandas: {dirty}"


# A command with a library call slipped in (as tests/test_signals.py does): pa.array on a
# Python list makes pyarrow look for pandas, to_pandas needs it.
SLIPPED_IN = """
import os, sys
import hierarchy_cli.inspection as inspection
real_summarize = inspection.summarize

def summarize(*args, **kwargs):
    import pyarrow as pa
    table = pa.table({"x": pa.array([1, 2])})
    if os.environ.get("TO_PANDAS"):
        table.to_pandas()
    return real_summarize(*args, **kwargs)

inspection.summarize = summarize
"""


def test_the_entry_point_blocks_pandas_and_a_call_that_needs_it_fails_loudly(tmp_path):
    """The same command, with a call that makes pyarrow import pandas: in-process
    (``cli.main``, as a script or notebook would call it) pandas comes in; through the
    console entry point it does not, and the output is the same. A call that really needs
    pandas fails there with one line, exit 1: never a silently different result."""
    lmap = tmp_path / "m.parquet"
    assert run_cli("build", "--dataset", "imagenet1k", "--level", "3", "-o", lmap).code == 0
    in_process = SLIPPED_IN + ("from hierarchy_cli.cli import main\ncode = main(sys.argv[1:])\n"
                               "print('PANDAS' if 'pandas' in sys.modules else 'CLEAN', code)\n")
    plain = subprocess.run([sys.executable, "-c", in_process, "inspect", str(lmap), "--json"],
                           capture_output=True, text=True)
    assert plain.returncode == 0 and plain.stdout.splitlines()[-1] == "PANDAS 0", plain.stderr
    guarded = subprocess.run([sys.executable, "-c", SLIPPED_IN + ENTRY, "inspect", str(lmap), "--json"],
                             capture_output=True, text=True)
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout.splitlines()[-1] == "CLEAN"
    assert guarded.stdout.splitlines()[:-1] == plain.stdout.splitlines()[:-1]  # the same JSON
    needs = subprocess.run([sys.executable, "-c", SLIPPED_IN + ENTRY, "inspect", str(lmap)],
                           capture_output=True, text=True, env=dict(os.environ, TO_PANDAS="1"))
    assert needs.returncode == 1 and needs.stdout.strip() == "CLEAN", needs.stderr
    assert needs.stderr.startswith("error: unexpected ModuleNotFoundError: No module named 'pandas': "
                                   "granularity's command line runs without pandas"), needs.stderr
    assert len(needs.stderr.strip().splitlines()) == 1


def test_version():
    from hierarchy_cli import __version__

    res = invoke("--version")
    assert res.code == 0 and res.out.strip() == f"granularity {__version__}"


def test_shell_completion():
    env = dict(os.environ, _GRANULARITY_COMPLETE="complete_bash")

    def complete(words: str, cword: int) -> list[str]:
        proc = subprocess.run([sys.executable, "-m", "hierarchy_cli"], capture_output=True, text=True,
                              env=dict(env, COMP_WORDS=words, COMP_CWORD=str(cword)))
        return proc.stdout.split()

    assert complete("granularity bu", 1) == ["build"]
    assert "--multi-parent" in complete("granularity build --mul", 2)
    assert complete("granularity build --multi-parent sh", 3) == ["shortest"]
    assert "imagenet1k" in complete("granularity build --dataset imagenet1", 3)


def test_unknown_command_and_option_are_one_line():
    for args in (["frobnicate"], ["build", "--nope"], ["build", "--level"]):
        res = invoke(*args)
        assert res.code == 2
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error: ")


def test_sigkill_never_leaves_a_partial_file(tmp_path):
    """Kill builds at many moments: the target is absent or a complete earlier file."""
    out = tmp_path / "m.parquet"
    first = run_cli("build", "--levels", "0-12", "--multi-parent", "first", "-o", out)
    assert first.code == 0, first.stderr
    previous = out.read_bytes()
    env = dict(os.environ)
    outcomes = set()
    for delay in (0.05, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 3.0):
        proc = subprocess.Popen([sys.executable, "-m", "hierarchy_cli", "build", "--levels", "0-12",
                                 "-o", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = out.read_bytes()
        if data == previous:
            outcomes.add("previous")
        else:  # the new run finished before the kill: it must be a complete label map
            table = pq.read_table(out)
            assert table.num_rows == 21843 and "level_12" in table.column_names
            outcomes.add("new")
            out.write_bytes(previous)
    assert "previous" in outcomes
    leftovers = [p for p in tmp_path.iterdir() if p.name != "m.parquet"]
    assert all(p.name.startswith(".m.parquet.") for p in leftovers)  # only hidden temp files


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = 'pip install ".[test]" && python -P -m pytest -q'
    assert command in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert any(line.strip() == command for line in ci.splitlines())
    quick_start = ("python3 -m venv .venv && . .venv/bin/activate && pip install . && "
                   "granularity build --source wordnet --level 3")
    assert any(line.strip() == quick_start for line in readme.splitlines())  # one line, venv first


def test_bare_granularity_prints_the_formatted_help():
    res = run_cli()
    assert res.code == 0, res.stderr
    assert res.out.startswith("Usage: granularity [OPTIONS] COMMAND [ARGS]...")
    assert "\nCommands:\n" in res.out and "  build " in res.out  # formatted, one command a line
    assert res.stderr == ""


def test_did_you_mean_is_said_once():
    res = invoke("buidl")
    assert_one_line_error(res, "No such command 'buidl'")
    assert res.stderr.count("Did you mean") <= 1  # typer >= 0.17 and click both suggest; once


def test_public_api_is_importable_from_the_package():
    import hierarchy_cli

    expected = {"build_wordnet", "build_taxonomy", "build_edges", "build_cluster", "random_hierarchy",
                "make_relabeler", "apply_manifest", "compare", "summarize", "lineage", "tree",
                "export_text", "class_to_idx", "hf_names", "read_label_map", "write_label_map"}
    assert expected <= set(hierarchy_cli.__all__)
    for name in hierarchy_cli.__all__:
        assert getattr(hierarchy_cli, name) is not None, name


def test_docs_import_only_from_the_package():
    """README and docs show the public API: `from hierarchy_cli import ...`, no submodules."""
    import re

    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
            inner = re.findall(r"^\s*(?:from|import) (hierarchy_cli\.\S+)", block, flags=re.M)
            assert not inner, f"{doc.name} imports {inner[0]}; import from hierarchy_cli"
