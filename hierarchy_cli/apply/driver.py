"""``apply_manifest``: stream a manifest through a :class:`Relabeler` into a new file."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arrays import bool_numpy, numpy_view
from ..errors import GranularityError
from ..inputs import file_sha256 as _sha256_file
from ..options import COMPRESSIONS, MANIFEST_FORMATS, one_of
from . import keys as keymod
from .manifest import Manifest
from .relabel import Relabeler, UnknownLeavesError, make_relabeler
from .write import BatchWriter, stdout_spool

DEFAULT_BATCH_ROWS = 1 << 18


@dataclass
class ApplyStats:
    """What :func:`apply_manifest` did: rows read and written, unknown rows, format."""

    rows_in: int = 0
    rows_out: int = 0
    unknown: int = 0
    column: str = ""
    kind: str = ""
    input_format: str = ""
    output_format: str = ""
    levels: list[str] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)  # distinct labels seen per level


def output_format(target: str, fmt: str | None) -> str:
    """``parquet``, ``csv`` or ``tsv``: ``fmt`` if given, else from the extension."""
    if fmt is not None:
        one_of(fmt, MANIFEST_FORMATS, "--format")
        return fmt
    name = str(target).lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".tsv", ".tab", ".tsv.gz")):
        return "tsv"
    if name == "-" or name.endswith((".parquet", ".pq")):
        return "parquet"
    raise GranularityError(
        f"cannot tell the output format of {target!r} from its extension; "
        "end it in .parquet, .csv or .tsv, or give --format"
    )


def check_stdin(manifest, label_map) -> None:
    """The manifest and the label map cannot both come from stdin ('-'): one read takes it all."""
    if str(manifest) == "-" and isinstance(label_map, str) and label_map == "-":
        raise GranularityError("the manifest and --map cannot both be read from stdin ('-')")


def apply_manifest(
    manifest: str,
    label_map,
    output: str,
    levels: Sequence[str] | None = None,
    *,
    column: str | None = None,
    key: str = "auto",
    path_column: str | None = None,
    path_pattern: str | None = None,
    unknown: str = "error",
    ids: bool = False,
    names: bool = False,
    leaf_index: bool = False,
    output_format_: str | None = None,
    input_format: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    compression: str = "zstd",
    progress=None,
) -> ApplyStats:
    """Relabel ``manifest`` (path or ``-``) with ``label_map`` and write ``output``.

    Streams in batches of ``batch_rows`` rows: memory stays at a few batches. The
    manifest's columns are written as they were read (same Arrow types), then the
    label columns. The output (path or ``-``) appears only when the whole manifest
    has been relabelled; on any error there is none. With ``unknown="error"`` the
    whole input is still scanned so that the error gives the total count of unknown
    rows. ``progress(rows_done, rows_total_or_None)`` is called after each batch.
    Parquet output carries the ``granularity`` metadata (map and manifest name and
    sha256, levels, key, unknown policy).
    """
    from ..labelmap import LabelMap, read_label_map
    from ..outputs import atomic_output

    check_stdin(manifest, label_map)
    if batch_rows < 1:
        raise GranularityError(f"--batch-rows {batch_rows} must be at least 1")
    one_of(compression, COMPRESSIONS, "--compression")
    fmt = output_format(output, output_format_)
    lm = label_map if isinstance(label_map, LabelMap) else read_label_map(label_map)
    rel = make_relabeler(lm, levels, column=column, key=key, path_column=path_column,
                         path_pattern=path_pattern, unknown=unknown, ids=ids, names=names,
                         leaf_index=leaf_index)
    with Manifest(manifest, batch_rows, input_format, keymod.id_columns(column, key, path_column)) as src:
        col, kind = rel.resolve_key(src.schema, src.where)
        stats = ApplyStats(column=col, kind=kind, input_format=src.format, output_format=fmt,
                           levels=list(rel.levels))
        schema = rel.output_schema(src.schema, src.where)
        metadata = _Metadata(lm, rel, src, manifest, col, kind).get if fmt == "parquet" else None
        counter = _LabelCounter(rel)
        sink = stdout_spool() if output == "-" else atomic_output(output, binary=True)
        with sink as fh:
            writer = BatchWriter(fh, fmt, schema, compression, metadata)
            try:
                for out, done in _relabelled(rel, src, stats, counter):
                    writer.write(out)
                    if progress is not None:
                        progress(done, src.num_rows)
                writer.close()
            except BaseException:
                writer.abort()
                raise
    stats.label_counts = counter.counts()
    return stats


def _relabelled(rel: Relabeler, src: Manifest, stats: ApplyStats, counter) -> Iterator:
    """Relabel each batch of ``src``: yields ``(batch, rows read so far)``. With unknown
    leaves under ``unknown="error"``, reads on to count them all, then raises."""
    failure: UnknownLeavesError | None = None
    offset = 0
    for batch in src.batches():
        if failure is not None:  # keep counting for the message, relabel nothing more
            count, more = rel.unknown_rows(batch, offset, src.where, 5 - len(failure.examples))
            failure.count += count
            failure.examples.extend(more)
            offset += batch.num_rows
            continue
        try:
            out = src.as_stored(rel(batch, offset, src.where))
        except UnknownLeavesError as exc:  # counts every unknown row of this batch
            failure = exc
            offset += batch.num_rows
            continue
        stats.rows_in += batch.num_rows
        stats.rows_out += out.num_rows
        stats.unknown += (batch.num_rows - out.num_rows if rel.unknown == "drop" else _rows_with_a_null(out, rel))
        counter.add(out)
        offset += batch.num_rows
        yield out, offset
    if failure is not None:
        raise UnknownLeavesError(failure.count, failure.examples, failure.column, src.where, failure.outside)
    if offset == 0:
        raise GranularityError(f"{src.where} has no rows")


def _rows_with_a_null(batch, rel: Relabeler) -> int:
    """Rows written with a null label (``--unknown keep``: an unknown or outside leaf)."""
    if rel.outside_level is None:
        return batch.column(rel.levels[0]).null_count
    null = np.zeros(batch.num_rows, dtype=bool)
    for lv in rel.levels:
        null |= ~bool_numpy(batch.column(lv).is_valid())
    return int(null.sum())


class _LabelCounter:
    """Which labels of each level appear in the output."""

    def __init__(self, rel: Relabeler):
        self.levels = list(rel.levels)
        self.seen = np.zeros((len(rel.levels), int(rel.lookups.max(initial=0)) + 1), dtype=bool)

    def add(self, batch) -> None:
        for j, lv in enumerate(self.levels):
            lab = batch.column(lv)
            self.seen[j, numpy_view(lab if lab.null_count == 0 else lab.drop_null())] = True

    def counts(self) -> dict[str, int]:
        return {lv: int(self.seen[j].sum()) for j, lv in enumerate(self.levels)}


class _Metadata:
    """The output's ``granularity`` metadata; the manifest's sha256 is hashed in a
    thread from the start (parquet writes its metadata with the first batch)."""

    def __init__(self, lm, rel: Relabeler, src: Manifest, manifest: str, col: str, kind: str):
        self.lm, self.rel, self.manifest, self.col, self.kind = lm, rel, manifest, col, kind
        self._sha: dict[str, str] = {}
        self._hasher = threading.Thread(target=lambda: self._sha.setdefault("m", _sha256_file(src.path)),
                                        daemon=True)
        self._hasher.start()

    def get(self, schema) -> dict[bytes, bytes]:
        from ..labelmap import granularity_metadata

        lm, rel = self.lm, self.rel
        self._hasher.join()
        fields = {
            "method": "apply",
            "map": {"name": _display_name(lm.source), "sha256": lm.sha256},
            "manifest": {"name": _display_name(self.manifest), "sha256": self._sha.get("m")},
            "key": {"column": self.col, "kind": self.kind,
                    **({"path_pattern": rel.path_pattern} if rel.path_pattern else {})},
            "unknown": rel.unknown,
        }
        return {**(schema.metadata or {}),
                **granularity_metadata(fields, rel.levels, {lv: lm.num_classes(lv) for lv in rel.levels})}


def _display_name(spec: str) -> str:
    return "-" if spec in ("-", "stdin") else Path(spec).name
