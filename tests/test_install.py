"""What users install is what works: the wheel carries every module and data file in
git, and a fresh install, used from an empty folder, runs every command and exports
every public name. The rest of the suite runs against the installed copy too
(``conftest.py`` refuses to start on the source tree); the first test says so."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import GRANULARITY, PACKAGE, ROOT

import hierarchy_cli


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("granularity-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel installed alone into a fresh folder (its dependencies come from this venv)."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return target


def test_the_suite_runs_against_the_installed_copy():
    assert PACKAGE != ROOT / "hierarchy_cli", PACKAGE
    assert Path(hierarchy_cli.__file__).resolve().parent == PACKAGE
    assert "site-packages" in PACKAGE.parts or "dist-packages" in PACKAGE.parts, PACKAGE
    # the Pythons the tests start, from the checkout's folder, find the same copy
    proc = subprocess.run([sys.executable, "-c", "import hierarchy_cli; print(hierarchy_cli.__file__)"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve().parent == PACKAGE
    proc = subprocess.run([GRANULARITY, "--version"], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == f"granularity {hierarchy_cli.__version__}", proc.stderr


def _git_files() -> set[str] | None:
    """Files under hierarchy_cli/ and data_manifests/ in git, by their path in the wheel."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    proc = subprocess.run(["git", "ls-files", "--", "hierarchy_cli", "data_manifests"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    files = set()
    for name in proc.stdout.split("\n"):
        if name:
            files.add("hierarchy_cli/" + name if name.startswith("data_manifests/") else name)
    return files


def test_wheel_holds_exactly_the_files_in_git(wheel):
    """Every module and data file in git ships, and nothing else does (a stale build/ folder,
    a stray local file): a new subpackage or data file cannot be left out unnoticed."""
    tracked = _git_files()
    if tracked is None:
        pytest.skip("not a git checkout")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
    assert {n for n in tracked if n.endswith(".py")} <= shipped, sorted(tracked - shipped)
    assert tracked == shipped, ("in git, not shipped:", sorted(tracked - shipped),
                                "shipped, not in git (a stray file, or a stale build/ folder: remove it):",
                                sorted(shipped - tracked))
    assert "hierarchy_cli/apply/relabel.py" in shipped   # the subpackage that once went missing
    names = set(zipfile.ZipFile(wheel).namelist())
    assert any(n.endswith(".dist-info/licenses/hierarchy_cli/data/NOTICE.md") for n in names)


def test_wheel_ships_the_shipped_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hierarchy_cli/data/wordnet30_nouns.parquet" in names
    assert "hierarchy_cli/data/NOTICE.md" in names
    from hierarchy_cli.methods.embeddings import DEFAULT_EMBEDDINGS

    assert f"hierarchy_cli/data/{DEFAULT_EMBEDDINGS}" in names  # cluster's default
    catalogue = json.loads((ROOT / "data_manifests" / "manifests.json").read_text())["datasets"]
    for entry in catalogue.values():
        assert f"hierarchy_cli/data_manifests/{entry['file']}" in names
    assert "hierarchy_cli/data_manifests/manifests.json" in names


def _commands() -> list[str]:
    from hierarchy_cli.cli import app

    return sorted(c.name for c in app.registered_commands)


# Each command once, in order (later ones read earlier outputs), from an empty folder.
EVERY_COMMAND = [
    ("build", "--dataset imagenet1k --levels 1,3 -o in1k.parquet"),
    ("build", "--dataset imagenet21k-p --level 2 -o in21kp.parquet"),
    ("cluster", "--dataset imagenet1k --k 20 -o in1k.k20.parquet"),
    ("random", "--like in1k.parquet --seed 0 -o in1k.random.parquet"),
    ("apply", "manifest.csv --map in1k.parquet -p path -l level_3 -o labelled.csv"),
    ("inspect", "in1k.parquet --lineage n01440764 --json"),
    ("compare", "in1k.k20.parquet:k20 in1k.parquet:level_3 --json"),
    ("export", "in1k.parquet --format tsv -o in1k.tsv"),
    ("report", "in1k.parquet in1k.random.parquet --target in1k.parquet:level_3 -o report.html"),
    ("datasets", ""),
    ("breeds", "--level 2 --subclasses 4 -H breeds -o breeds.parquet"),
]


def test_the_install_test_covers_every_command():
    assert sorted({name for name, _ in EVERY_COMMAND}) == _commands()


def test_installed_copy_runs_every_command_from_an_empty_folder(installed, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copytree(ROOT / "tests" / "fixtures" / "breeds", work / "breeds")
    in1k = (ROOT / "data_manifests" / "imagenet1k.txt").read_text().split()
    with open(work / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path"])
        w.writerows([[f"train/{wnid}/{wnid}_{i}.JPEG"] for wnid in in1k[:5] for i in range(2)])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed), "PYTHONSAFEPATH": "1",
           "HOME": str(tmp_path)}
    for name, args in EVERY_COMMAND:
        proc = subprocess.run([sys.executable, "-m", "hierarchy_cli", name, *args.split()], cwd=work,
                              capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, (name, args, proc.stderr)
    check = (
        "import hierarchy_cli, pyarrow.parquet as pq, pyarrow.csv as pc\n"
        "print(hierarchy_cli.__file__)\n"
        "print(pq.read_table('in1k.parquet').num_rows, pq.read_table('in21kp.parquet').num_rows,\n"
        "      pq.read_table('in1k.k20.parquet').num_rows, pc.read_csv('labelled.csv').num_rows)\n"
    )
    proc = subprocess.run([sys.executable, "-c", check], cwd=work, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    path, *rows = proc.stdout.split()
    assert Path(path).is_relative_to(installed)   # the fresh copy, not the suite's or the source tree
    assert rows == ["1000", "11221", "1000", "10"]
    assert (work / "report.html").stat().st_size > 0 and (work / "breeds.parquet").is_file()


def test_installed_copy_exports_every_public_name(installed, tmp_path):
    code = (
        "import hierarchy_cli\n"
        "missing = [n for n in hierarchy_cli.__all__ if getattr(hierarchy_cli, n, None) is None]\n"
        "print(hierarchy_cli.__file__, len(hierarchy_cli.__all__), missing)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed), "PYTHONSAFEPATH": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    path, count, missing = proc.stdout.split(maxsplit=2)
    assert Path(path).is_relative_to(installed)
    assert int(count) == len(hierarchy_cli.__all__) and missing.strip() == "[]"
    assert {"apply_manifest", "make_relabeler", "relabel_table", "Relabeler"} <= set(hierarchy_cli.__all__)
