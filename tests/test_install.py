"""A non-editable install carries the embedded WordNet graph and the class lists."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile

import pytest
from conftest import ROOT


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


def test_wheel_ships_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hierarchy_cli/data/wordnet30_nouns.parquet" in names
    assert "hierarchy_cli/data/NOTICE.md" in names
    catalogue = json.loads((ROOT / "data_manifests" / "manifests.json").read_text())["datasets"]
    for entry in catalogue.values():
        assert f"hierarchy_cli/data_manifests/{entry['file']}" in names
    assert "hierarchy_cli/data_manifests/manifests.json" in names


def test_installed_copy_builds_from_anywhere(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    for dataset, count in (("imagenet1k", 1000), ("imagenet21k-p", 11221)):
        proc = subprocess.run([str(env_dir / "bin" / "granularity"), "build", "--dataset", dataset,
                               "--level", "2", "-o", "out.parquet"], cwd=work, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        loc = subprocess.run([str(py), "-c", "import hierarchy_cli, pyarrow.parquet as pq;"
                              "print(hierarchy_cli.__file__); print(pq.read_table('out.parquet').num_rows)"],
                             cwd=work, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        path, rows = loc.stdout.split()
        assert str(ROOT) not in path  # the installed copy, not the source tree
        assert int(rows) == count
