"""Output files: the extension says what is inside, default names say how it was made,
a replaced file is announced and keeps its mode."""

from __future__ import annotations

import itertools
import os
import stat

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, invoke

MAP_COMMANDS = {
    "build": ["build", "--dataset", "imagenet1k", "--level", "2"],
    "random": ["random", "--dataset", "imagenet1k", "--k", "10"],
    "cluster": ["cluster", "--k", "1000"],
}


@pytest.mark.parametrize("name", sorted(MAP_COMMANDS))
@pytest.mark.parametrize("target", ["out.csv", "out.tsv", "out.json", "OUT.CSV", "out.npy"])
def test_label_map_under_another_formats_name_is_refused(name, target, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke(*MAP_COMMANDS[name], "-o", target)
    assert_one_line_error(res, repr(target), "parquet", "granularity export")
    assert list(tmp_path.iterdir()) == []


def _written(tmp_path, *args) -> tuple[str, bytes]:
    """Run one command with its default name in an empty folder: (name, content)."""
    for p in tmp_path.iterdir():
        if p.suffix == ".parquet":
            p.unlink()
    res = invoke(*args)
    assert res.code == 0, res.stderr
    (out,) = [p for p in tmp_path.iterdir() if p.suffix == ".parquet"]
    return out.name, out.read_bytes()


def _assert_names_tell_contents_apart(results: dict) -> None:
    for (a, (name_a, data_a)), (b, (name_b, data_b)) in itertools.combinations(results.items(), 2):
        if data_a != data_b:
            assert name_a != name_b, f"{a} and {b} write different maps under one name {name_a!r}"


def test_default_names_of_build_and_random_carry_every_content_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base_b = ["build", "--dataset", "imagenet1k", "--level", "4"]
    base_r = ["random", "--dataset", "imagenet1k", "--k", "100,10"]
    variants = {
        "build": base_b,
        "build shortest": base_b + ["--multi-parent", "shortest"],
        "build first": base_b + ["--multi-parent", "first"],
        "random": base_r,
        "random seed": base_r + ["--seed", "3"],
        "random sizes": base_r + ["--sizes", "multinomial"],
        "random independent": base_r + ["--independent"],
        "random leaf names": base_r + ["--leaf-names", "id"],
    }
    results = {k: _written(tmp_path, *v) for k, v in variants.items()}
    assert results["build"][0] == "imagenet1k.wordnet.level_4.parquet"  # defaults add nothing
    _assert_names_tell_contents_apart(results)


def test_default_names_of_cluster_carry_every_content_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ids = (ROOT / "data_manifests" / "imagenet1k.txt").read_text().split()[:60]
    (tmp_path / "c.txt").write_text("\n".join(ids) + "\n")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "e.npy", rng.standard_normal((60, 8)).astype(np.float32))
    np.save(tmp_path / "f.npy", rng.standard_normal((60, 8)).astype(np.float32))
    base = ["cluster", "--k", "12,3", "--classes", "c.txt", "--embeddings", "e.npy"]
    variants = {
        "default": base,
        "other embeddings": ["cluster", "--k", "12,3", "--classes", "c.txt", "--embeddings", "f.npy"],
        "cosine": base + ["--metric", "cosine"],
        "seed": base + ["--seed", "1"],
        "flat": base + ["--flat"],
        "niter": base + ["--niter", "1"],
    }
    results = {k: _written(tmp_path, *v) for k, v in variants.items()}
    _assert_names_tell_contents_apart(results)


def test_replacing_a_file_says_so_and_keeps_its_mode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["build", "--dataset", "imagenet1k", "--level", "2", "-o", "m.parquet"]
    first = invoke(*args)
    assert first.code == 0 and "replaced" not in first.stderr
    assert stat.S_IMODE(os.stat("m.parquet").st_mode) == 0o666 & ~_umask()
    os.chmod("m.parquet", 0o640)
    again = invoke(*args)
    assert again.code == 0
    assert "note: replaced the existing 'm.parquet'" in again.stderr
    assert stat.S_IMODE(os.stat("m.parquet").st_mode) == 0o640


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
