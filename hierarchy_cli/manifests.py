"""Class lists of standard datasets, shipped in ``data_manifests/``.

Each list is a text file with one wnid per line in the dataset's class-index
order; ``data_manifests/manifests.json`` gives its count, sha256 and provenance.
``scripts/make_manifests.py`` regenerates them. Installed, they live in the
package ``hierarchy_cli.data_manifests``; in a source checkout they are read
from the repository's ``data_manifests/`` folder.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from .errors import GranularityError
from .inputs import IdList, InputFile, parse_id_list

DEFAULT_DATASET = "imagenet21k"


def manifest_dir() -> Path:
    """The folder holding the shipped class lists."""
    try:
        from importlib import resources

        folder = Path(str(resources.files("hierarchy_cli.data_manifests")))
        if (folder / "manifests.json").is_file():
            return folder
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "data_manifests"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict]:
    """``{name: {file, num_classes, sha256, description, provenance}}``."""
    path = manifest_dir() / "manifests.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["datasets"]
    except FileNotFoundError:
        raise GranularityError(f"the shipped class lists are missing ({str(path)!r}): reinstall granularity") from None


def dataset_names() -> list[str]:
    return list(catalogue())


def load_dataset(name: str) -> IdList:
    """The class list of a shipped dataset, checked against its recorded sha256."""
    cat = catalogue()
    if name not in cat:
        raise GranularityError(f"unknown --dataset {name!r}; shipped: {', '.join(cat)}")
    entry = cat[name]
    data = (manifest_dir() / entry["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise GranularityError(
            f"shipped class list {entry['file']!r} does not match its recorded sha256: reinstall granularity",
            exit_code=1,
        )
    return parse_id_list(InputFile(entry["file"], data), f"dataset {name}")


def resolve_classes(classes=None, dataset: str | None = None, column: str | None = None,
                    default: str | None = DEFAULT_DATASET, is_id=None):
    """The leaves from ``--classes`` or ``--dataset``, as every command reads them.

    ``classes`` is a path (``-`` for stdin; ``column`` picks a CSV/TSV/parquet
    column; see :mod:`hierarchy_cli.inputs` for the id rules) or a list of ids,
    each taken exactly as given (empty or repeated ids are errors); without it, ``dataset`` (or ``default``) names a
    shipped list. Returns ``(IdList, metadata, display name)``, or ``None`` when
    neither is given and there is no default.

    A CSV/TSV class list whose header names no id column (and no ``column`` is
    given) may have no header row at all: ``is_id(first cell)`` decides (the caller
    knows what its ids look like: wnids, the nodes of an edge list). True: that row
    is the first class; False: it is the header; without ``is_id`` the file is
    refused, since either reading could be wrong unnoticed.
    """
    import os

    from .inputs import id_list

    if classes is not None and dataset is not None:
        raise GranularityError("give --classes or --dataset, not both")
    if classes is None:
        dataset = dataset or default
        if dataset is None:
            return None
        idl = load_dataset(dataset)
        return idl, {"dataset": dataset, "sha256": idl.source.sha256}, f"dataset {dataset}"
    idl = id_list(classes, "class list", column)
    if not isinstance(classes, (str, os.PathLike)):
        return idl, {"name": "<list>", "sha256": idl.source.sha256}, "class list"
    meta = idl.source.describe()
    if column:
        meta["column"] = column
    if idl.first_row is not None:
        idl, headerless = _header_or_class(idl, is_id)
        if headerless:
            meta["header_row"] = False
    if idl.notes:
        meta["notes"] = list(idl.notes)
    return idl, meta, f"class list {idl.source.name!r}"


def _header_or_class(idl: IdList, is_id) -> tuple[IdList, bool]:
    """A class list's first row that names no id column: its header, or its first class."""
    from .inputs import ID_COLUMN_GUESSES, check_ids

    name, first = idl.source.describe()["name"], idl.first_row
    if is_id is None:
        raise GranularityError(
            f"class list {name!r} line {idl.first_row_line}: its first row ({first!r}) names no id column "
            f"({', '.join(ID_COLUMN_GUESSES)}): name the column with --column, or, if the file has no header "
            "row, list the ids one per line in a text file")
    if not is_id(first):
        return idl, False
    note = f"class list {name!r} has no header row: its first row ({first!r}) is a class id, so it is the first class"
    return check_ids(idl.with_first_row(note), "class list", False), True
