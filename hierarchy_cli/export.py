"""Export a label map to the formats training stacks read.

* ``tsv`` / ``csv``: the label map's table (all columns, or the leaf columns and
  one level's three columns), one row per leaf in ``leaf_index`` order.
* ``json``: ``{"granularity": <metadata>, "leaves": [...], "levels": {level:
  {"num_classes", "labels", "ids", "names"}}}``, each list in index order.

A leaf outside a level's label space (a null label) has an empty cell (TSV/CSV) or
``null`` (JSON) there, and no entry in ``class-to-idx`` or ``hf-names``.
* ``class-to-idx``: torchvision's ``ImageFolder.class_to_idx`` for one level:
  ``{key: label}`` with one entry per *label* (not per leaf), keyed by the coarse
  node's name, or by its id with ``key="id"``. Names that occur for several labels
  get `` (<id>)`` appended so that every key is unique.
* ``hf-names``: the ``names`` list of a Hugging Face ``datasets.ClassLabel`` for
  one level: the names of labels ``0..K-1`` in order, as a JSON list (or one per
  line with ``lines=True``); duplicate names are made unique as above, because
  ClassLabel's ``str2int`` needs unique names.

Every function returns ``str`` and is deterministic: the same map gives the same
text byte for byte (keys in label order, no timestamps).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import GranularityError

FORMATS = ("tsv", "csv", "json", "class-to-idx", "hf-names")
EXTENSIONS = {"tsv": "tsv", "csv": "csv", "json": "json", "class-to-idx": "class_to_idx.json",
              "hf-names": "names.json"}


def _check_level(lm, level: str | None, fmt: str) -> str | None:
    if level is None:
        if fmt in ("class-to-idx", "hf-names"):
            if len(lm.levels) == 1:
                return lm.levels[0]
            raise GranularityError(
                f"--format {fmt} needs --level: {lm.source} has levels {', '.join(lm.levels)}"
            )
        return None
    if level not in lm.levels:
        raise GranularityError(f"--level {level!r}: no such level in {lm.source}; levels are: {', '.join(lm.levels)}")
    return level


def unique_names(names: list[str], ids: list[str]) -> list[str]:
    """``names`` with `` (<id>)`` appended to every name that occurs more than once
    (and, should that still collide, `` #<label>``)."""
    from collections import Counter

    counts = Counter(names)
    out = [f"{n} ({i})" if counts[n] > 1 else n for n, i in zip(names, ids)]
    if len(set(out)) != len(out):
        counts = Counter(out)
        out = [f"{n} #{k}" if counts[n] > 1 else n for k, n in enumerate(out)]
    return out


def table_text(lm, level: str | None = None, sep: str = "\t") -> str:
    """The label map (or its leaf columns plus one level) as TSV/CSV text with a header."""
    import csv
    import io

    cols = ["leaf_index", "leaf_id", "leaf_name"]
    for lv in ([level] if level is not None else lm.levels):
        cols += [lv, f"{lv}_id", f"{lv}_name"]
    data = [lm.table.column(c).to_pylist() for c in cols]
    buf = io.StringIO()
    if sep == "\t":
        for values in [cols, *zip(*data)]:
            for v in values:
                if isinstance(v, str) and ("\t" in v or "\n" in v or "\r" in v):
                    raise GranularityError(f"value {v!r} holds a tab or newline and cannot be written as TSV; use --format csv")
            buf.write("\t".join("" if v is None else str(v) for v in values) + "\n")  # None: outside
    else:
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows(zip(*data))
    return buf.getvalue()


def json_text(lm, level: str | None = None) -> str:
    """The label map as JSON: metadata, leaves, and per level its labels/ids/names."""
    levels = [level] if level is not None else list(lm.levels)
    doc: dict[str, Any] = {
        "granularity": lm.metadata,
        "leaves": {"ids": lm.leaf_ids, "names": lm.leaf_names},
        "levels": {
            lv: {
                "num_classes": lm.num_classes(lv),
                "labels": [None if v < 0 else v for v in lm.lookup(lv, outside=-1).tolist()],
                "ids": lm.ids(lv),
                "names": lm.names(lv),
            }
            for lv in levels
        },
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def class_to_idx(lm, level: str, key: str = "name") -> dict[str, int]:
    """torchvision-style ``{class: index}`` for one level: one entry per label,
    keyed by the label's name (made unique) or id (``key="id"``)."""
    if key not in ("name", "id"):
        raise GranularityError(f"--key {key!r}: choose name or id")
    ids = lm.ids(level)
    keys = unique_names(lm.names(level), ids) if key == "name" else ids
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise GranularityError(f"level {level!r} of {lm.source} has id {dup!r} for two labels")
    return {k: i for i, k in enumerate(keys)}


def hf_names(lm, level: str) -> list[str]:
    """The names of labels 0..K-1 for ``datasets.ClassLabel(names=...)``, unique."""
    return unique_names(lm.names(level), lm.ids(level))


def export_text(lm, fmt: str, level: str | None = None, key: str = "name", lines: bool = False) -> str:
    """The export of ``lm`` in format ``fmt`` (see :data:`FORMATS`) as text."""
    if fmt not in FORMATS:
        raise GranularityError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    level = _check_level(lm, level, fmt)
    if fmt in ("tsv", "csv"):
        return table_text(lm, level, "\t" if fmt == "tsv" else ",")
    if fmt == "json":
        return json_text(lm, level)
    if fmt == "class-to-idx":
        return json.dumps(class_to_idx(lm, level, key), ensure_ascii=False, indent=1) + "\n"
    names = hf_names(lm, level)
    if lines:
        bad = next((n for n in names if "\n" in n or "\r" in n), None)
        if bad is not None:
            raise GranularityError(f"name {bad!r} holds a newline; write the JSON list instead (drop --lines)")
        return "".join(n + "\n" for n in names)
    return json.dumps(names, ensure_ascii=False, indent=1) + "\n"
