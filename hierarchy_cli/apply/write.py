"""Writing relabelled batches as parquet, CSV or TSV into an open binary file."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from ..errors import GranularityError
from .manifest import reason, repeated_strings


class BatchWriter:
    """Streams record batches of ``schema`` to ``fh`` as ``fmt`` (parquet, csv or tsv).

    Parquet: ``compression`` at its codec's default level (zstd: 1), no column
    statistics; dictionary encoding only for dictionary columns and for string columns
    with few distinct values in the first batch (trying it on unique values, such as
    paths, costs a hash of each before falling back); int64 columns delta-encoded.
    CSV quotes strings where needed; TSV is unquoted, and a value holding a tab, a
    newline or a quote is an error. ``metadata(schema)``, if given, is called when the
    first batch comes (or at :meth:`close`) for the parquet schema's metadata.
    """

    def __init__(self, fh, fmt: str, schema, compression: str = "zstd", metadata=None):
        self.fh, self.fmt, self.schema, self.compression = fh, fmt, schema, compression
        self._metadata = metadata
        self._w = None

    def write(self, batch) -> None:
        if self._w is None:
            self._w = self._open(batch)
        try:
            self._w.write_batch(batch)
        except Exception as exc:
            if self.fmt != "tsv":
                raise
            raise GranularityError(f"cannot write TSV: {reason(exc)}; write CSV or parquet instead") from None

    def close(self) -> None:
        """Finish the file (an empty one, with the schema, if nothing was written)."""
        if self._w is None:
            self._w = self._open(None)
        self._w.close()

    def abort(self) -> None:
        """Close quietly after a failure (the caller discards the file)."""
        try:
            if self._w is not None:
                self._w.close()
        except Exception:
            pass

    def _open(self, first):
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        if self.fmt == "parquet":
            dictionary = _dictionary_columns(self.schema, first)
            if self._metadata is not None:
                self.schema = self.schema.with_metadata(self._metadata(self.schema))
            return pq.ParquetWriter(self.fh, self.schema, compression=self.compression, write_statistics=False,
                                    use_dictionary=dictionary, column_encoding=_delta_columns(self.schema, dictionary))
        csv = self.fmt == "csv"
        opts = pcsv.WriteOptions(delimiter="," if csv else "\t", include_header=True,
                                 quoting_style="needed" if csv else "none",
                                 quoting_header="needed" if csv else "none")
        return pcsv.CSVWriter(self.fh, self.schema, write_options=opts)


def _dictionary_columns(schema, first) -> list[str]:
    """Dictionary arrays (the added ``_id``/``_name`` columns) and the repeated string
    columns of the first batch."""
    import pyarrow as pa

    return [f.name for f in schema if pa.types.is_dictionary(f.type)] + repeated_strings(first)


def _delta_columns(schema, dictionary: list[str]) -> dict[str, str] | None:
    """64-bit integer columns (sample ids, hashes...): DELTA_BINARY_PACKED is three times
    faster to write than plain + zstd, and smaller for ordered ids."""
    import pyarrow as pa

    delta = {f.name: "DELTA_BINARY_PACKED" for f in schema
             if f.type in (pa.int64(), pa.uint64()) and f.name not in dictionary}
    return delta or None


@contextmanager
def stdout_spool():
    """A binary temp file copied to stdout on success: atomic output with bounded memory.

    As for a file's final rename, a signal that arrived (even one a library swallowed)
    stops it before anything reaches stdout."""
    import shutil
    import tempfile

    from .. import process

    with tempfile.TemporaryFile(prefix="granularity-out-") as fh:
        yield fh
        fh.flush()
        fh.seek(0)
        process.check()
        shutil.copyfileobj(fh, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
        process.commit()
