"""Relabel a per-sample manifest with a label map.

The package has one module per job:

* :mod:`.relabel`: the pure step, :class:`Relabeler` (built by :func:`make_relabeler`),
  an Arrow ``RecordBatch``/``Table`` in, the same rows plus one int32 column per level
  out; with :mod:`.keys` (which column names the leaf, ``--path-pattern`` checked by
  RE2) and :mod:`.lookup` (leaf index per row from a leaf index, id or image path);
* :mod:`.manifest`: reading a parquet, CSV or TSV manifest (or stdin) as batches;
* :mod:`.write`: writing parquet, CSV or TSV;
* :mod:`.driver`: :func:`apply_manifest`, what ``granularity apply`` runs, streaming
  with memory bounded by a few batches whatever the manifest's size.

The key column holds either the leaf index (an integer, the trainer's class index,
``0..N-1``) or the leaf id (``n01440764``); or the id is derived from an ImageNet-style
path such as ``n01440764/n01440764_10026.JPEG``.
"""

from ..options import KEY_KINDS, UNKNOWN_MODES
from ..options import MANIFEST_FORMATS as FORMATS
from .driver import DEFAULT_BATCH_ROWS, ApplyStats, apply_manifest, output_format
from .keys import ID_COLUMNS, INDEX_COLUMNS, KEY_COLUMN_GUESSES, PATH_COLUMNS
from .relabel import Relabeler, UnknownLeavesError, make_relabeler, relabel_table

__all__ = [
    "DEFAULT_BATCH_ROWS", "FORMATS", "ID_COLUMNS", "INDEX_COLUMNS", "KEY_COLUMN_GUESSES", "KEY_KINDS",
    "PATH_COLUMNS", "UNKNOWN_MODES", "ApplyStats", "Relabeler", "UnknownLeavesError", "apply_manifest",
    "make_relabeler", "output_format", "relabel_table",
]
