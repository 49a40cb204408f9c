"""The docs: the option reference is generated from --help, every Python snippet runs,
and nothing points at files users do not have."""

from __future__ import annotations

import importlib.util
import re
import shutil
import traceback

import pytest
from conftest import ROOT, invoke

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# modules of other stacks that a snippet may show; its block is skipped when one is absent
OPTIONAL_STACKS = ("pyspark", "ray", "dask", "datasets", "torch", "torchvision")


def _reference_module():
    spec = importlib.util.spec_from_file_location("make_cli_reference", ROOT / "scripts" / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_option_reference_is_generated_from_help():
    """docs/reference.md is exactly what scripts/make_cli_reference.py makes from --help."""
    ref = _reference_module()
    current = ref.TARGET.read_text(encoding="utf-8") if ref.TARGET.exists() else ""
    made_with = f"<!-- made with {ref.formatter_versions()} -->"
    if current and made_with not in current:  # other typer/click versions wrap the help otherwise
        pytest.skip(f"docs/reference.md was made with other typer/click versions than {made_with}")
    assert current == ref.render(), "docs/reference.md is stale: run python scripts/make_cli_reference.py"


def test_reference_covers_every_command():
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    res = invoke("--help")
    commands = re.findall(r"^  (\w+)  ", res.out.split("Commands:")[1], flags=re.M)
    assert commands and all(f"## `granularity {c}`" in text for c in commands)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_never_point_at_shared(doc):
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text and "shared/DESIGN" not in text, \
        f"{doc.name} links to the project's shared folder, which users do not have"


def _python_blocks(doc) -> list[tuple[int, str]]:
    """(first line number, code) of every ```python block."""
    blocks, lines = [], doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                i += 1
            blocks.append((start + 1, "\n".join(lines[start:i])))
        i += 1
    return blocks


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Files the docs' commands write before their snippets read them, by the same names:
    the README's Quick start map, and a BREEDS task map (BREEDS' files are a download,
    so it is made from the test fixture's small BREEDS hierarchy)."""
    from hierarchy_cli import build_breeds, write_label_map

    folder = tmp_path_factory.mktemp("prepared")
    res = invoke("build", "--source", "wordnet", "--level", "3", "-o",
                 str(folder / "imagenet21k.wordnet.level_3.parquet"))
    assert res.code == 0, res.stderr
    write_label_map(build_breeds(ROOT / "tests" / "fixtures" / "breeds", level=3),
                    folder / "breeds.living17.rand.parquet")
    return folder


# pages whose snippets another test runs, with the files it prepares for them
RUN_ELSEWHERE = {"trainers.md": "tests/test_trainers.py"}
DOCS_WITH_CODE = [d for d in DOCS if _python_blocks(d) and d.name not in RUN_ELSEWHERE]


@pytest.mark.parametrize("doc", DOCS_WITH_CODE, ids=lambda p: p.name)
def test_every_python_snippet_runs(doc, prepared, tmp_path, monkeypatch):
    """Each file's ```python blocks run in order, in one namespace, in a fresh folder
    that holds the prepared files; a block that needs other files makes them."""
    for f in prepared.iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for n, (line, code) in enumerate(_python_blocks(doc), 1):
        missing = [m for m in OPTIONAL_STACKS
                   if re.search(rf"^\s*(import|from) {m}\b", code, flags=re.M) and importlib.util.find_spec(m) is None]
        if missing:
            continue  # shows another stack's API; runs where that stack is installed
        try:
            exec(compile(code, f"{doc.name}:{line}", "exec"), namespace)
        except Exception:
            pytest.fail(f"{doc.relative_to(ROOT)}, python block {n} (line {line}) fails:\n"
                        f"{traceback.format_exc(limit=-3)}", pytrace=False)
