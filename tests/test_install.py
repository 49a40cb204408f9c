"""A non-editable install carries the embedded WordNet graph and the class lists."""

from __future__ import annotations

import json
import subprocess
import sys
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
    assert "hierarchy_cli/data/imagenet21k_gloss_minilm_pca128.parquet" in names  # cluster's default
    catalogue = json.loads((ROOT / "data_manifests" / "manifests.json").read_text())["datasets"]
    for entry in catalogue.values():
        assert f"hierarchy_cli/data_manifests/{entry['file']}" in names
    assert "hierarchy_cli/data_manifests/manifests.json" in names


def test_installed_copy_builds_from_anywhere(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)}
    for dataset, count in (("imagenet1k", 1000), ("imagenet21k-p", 11221)):
        proc = subprocess.run([sys.executable, "-m", "hierarchy_cli", "build", "--dataset", dataset,
                               "--level", "2", "-o", "out.parquet"], cwd=work, capture_output=True, text=True,
                              env=env)
        assert proc.returncode == 0, proc.stderr
        loc = subprocess.run([sys.executable, "-c", "import hierarchy_cli, pyarrow.parquet as pq;"
                              "print(hierarchy_cli.__file__); print(pq.read_table('out.parquet').num_rows)"],
                             cwd=work, capture_output=True, text=True, env=env)
        path, rows = loc.stdout.split()
        assert path.startswith(str(target))  # the installed copy, not the source tree
        assert int(rows) == count
