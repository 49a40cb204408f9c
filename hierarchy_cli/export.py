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
* ``lca-height`` / ``lca-distance``: the N x N matrix of :func:`hierarchy_cli.lca.lca_matrix`
  over the tree of nested levels, as ``.npy`` or as parquet (one row per leaf, the
  row as a fixed-size list column), written by row blocks: :func:`write_lca`.

The text formats are functions returning ``str``; every export is deterministic:
the same map gives the same bytes (keys in label order, no timestamps).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import GranularityError
from .options import EXPORT_FORMATS, EXPORT_KEYS, one_of

EXTENSIONS = {"tsv": "tsv", "csv": "csv", "json": "json", "class-to-idx": "class_to_idx.json",
              "hf-names": "names.json", "lca-height": "lca_height.npy", "lca-distance": "lca_distance.npy"}
LCA_FORMATS = {"lca-height": "height", "lca-distance": "distance"}  # format -> lca kind


def _check_level(lm, level: str | None, fmt: str) -> str | None:
    if level is None:
        if fmt in ("class-to-idx", "hf-names"):
            if len(lm.levels) == 1:
                return lm.levels[0]
            raise GranularityError(
                f"--format {fmt} needs --level: {lm.source} has levels {', '.join(lm.levels)}"
            )
        return None
    return lm.check_level(level, f"--level {level!r}")


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
    one_of(key, EXPORT_KEYS, "--key")
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
    """The export of ``lm`` in format ``fmt`` (a text format of ``EXPORT_FORMATS``) as text."""
    one_of(fmt, EXPORT_FORMATS, "--format")
    if fmt in LCA_FORMATS:
        raise GranularityError(f"--format {fmt} is a binary matrix, not text: use write_lca")
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


# ----------------------------------------------------------------------------- LCA matrices


def lca_container(output: str, fmt: str) -> str:
    """``npy`` or ``parquet``, from the name of ``output`` (stdout: ``npy``)."""
    from pathlib import Path

    if output == "-":
        return "npy"
    suffix = Path(output).suffix.lower()
    if suffix in (".npy", ".parquet"):
        return suffix[1:]
    raise GranularityError(f"-o {output!r}: --format {fmt} writes a .npy or a .parquet file, not "
                           f"{suffix or 'a name without an extension'} (e.g. -o lca.npy)")


def _npy_header(dtype, n: int) -> bytes:
    """The header ``numpy.save`` writes for a C-ordered n x n array of ``dtype``."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": (n, n)})
    return buf.getvalue()


def lca_metadata(lm, tree, kind: str, dtype) -> dict[bytes, bytes]:
    """The ``granularity`` metadata of an LCA parquet file: how it was made, no paths."""
    from pathlib import Path

    from .labelmap import granularity_metadata

    name = lm.source if lm.source in ("stdin", "<bytes>", "<file>") else Path(lm.source).name
    fields = {"method": "export", "format": f"lca-{kind}", "kind": kind, "dtype": str(dtype),
              "map": {"name": name, "sha256": lm.sha256}, "tree": {**tree.describe(), "source": name}}
    counts = {lv: lm.num_classes(lv) for lv in tree.levels}
    return granularity_metadata(fields, tree.levels, counts, num_leaves=tree.num_leaves)


def write_lca(lm, fmt: str, output: str, levels: list[str] | None = None, announce=None) -> dict[str, Any]:
    """Write the ``lca-height`` or ``lca-distance`` matrix of ``lm``'s tree to ``output``.

    ``output`` ends in ``.npy`` (the matrix, leaf_index order, as ``numpy.save``
    writes it) or ``.parquet`` (columns ``leaf_index``, ``leaf_id`` and ``lca_height``
    or ``lca_distance``: row i as a fixed-size list of N values, plus the
    ``granularity`` metadata); ``-`` writes ``.npy`` to stdout. Rows are computed and
    written block by block, atomically. ``announce(text)`` is told the size first.
    Returns ``kind``, ``container``, ``num_leaves``, ``dtype``, ``bytes`` (the matrix).
    """
    import numpy as np

    from .outputs import atomic_output, write_batches
    from .lca import label_tree, lca_blocks, matrix_dtype

    if fmt not in LCA_FORMATS:
        raise GranularityError(f"--format {fmt!r}: choose lca-height or lca-distance")
    kind = LCA_FORMATS[fmt]
    container = lca_container(output, fmt)
    tree = label_tree(lm, levels, where="--level")
    dt = matrix_dtype(tree, kind)
    n = tree.num_leaves
    info = {"kind": kind, "container": container, "num_leaves": n, "dtype": dt.name, "bytes": n * n * dt.itemsize}
    if announce is not None:
        announce(f"the LCA {kind} matrix: {n:,} x {n:,} {dt.name} ({_size(info['bytes'])}), "
                 f"tree of {len(tree.levels)} level{'s' * (len(tree.levels) != 1)}, height {tree.height}")
    blocks = lca_blocks(tree, kind, dt)
    if container == "npy":
        with atomic_output(output) as fh:
            fh.write(_npy_header(dt, n))
            for _, block in blocks:
                fh.write(np.ascontiguousarray(block).data)
        return info
    import pyarrow as pa

    from .arrays import int32_array, string_array

    column = f"lca_{kind}"
    value_type = getattr(pa, dt.name)()
    schema = pa.schema([("leaf_index", pa.int32()), ("leaf_id", pa.string()),
                        (column, pa.list_(value_type, n))], metadata=lca_metadata(lm, tree, kind, dt))
    ids = tree.leaf_ids

    def batches():
        for r0, block in blocks:
            rows = block.shape[0]
            flat = pa.Array.from_buffers(value_type, rows * n, [None, pa.py_buffer(np.ascontiguousarray(block))])
            yield pa.RecordBatch.from_arrays(
                [int32_array(np.arange(r0, r0 + rows)), string_array(ids[r0:r0 + rows]),
                 pa.FixedSizeListArray.from_arrays(flat, n)], schema=schema)

    write_batches(schema, batches(), output)
    return info


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.{0 if nbytes >= 100 * scale else 1}f} {unit}"
    return f"{nbytes} bytes"
