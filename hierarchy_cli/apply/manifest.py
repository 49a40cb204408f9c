"""Reading a manifest (parquet, CSV or TSV; a path or stdin) as a stream of record batches.

The columns come as the file stores them: parquet's own Arrow types, and for CSV/TSV
what ``pyarrow.csv`` infers (leaf-id columns read as text, so ``00123`` stays
``00123``). Memory stays at a few batches whatever the manifest's size.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence

from ..errors import GranularityError
from ..options import MANIFEST_FORMATS, one_of

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zst")
CSV_BLOCK_BYTES = 4 << 20    # CSV/TSV read block (a batch holds one block's rows)
SAMPLE_ROWS = 1 << 16        # rows judged to find the repeated string columns


def repeated_strings(batch, names=None) -> list[str]:
    """The string columns of ``batch`` (or of ``names``) with at most one distinct value
    per 20 rows in its first SAMPLE_ROWS rows: leaf ids, splits, not paths."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch is None or not batch.num_rows:
        return []
    sample = batch.slice(0, SAMPLE_ROWS)
    return [f.name for f in sample.schema if (names is None or f.name in names)
            and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
            and pc.count_distinct(sample.column(f.name)).as_py() * 20 <= sample.num_rows]


def reason(exc: BaseException) -> str:
    """An exception's message on one line (at most 300 characters)."""
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


class Manifest:
    """An open manifest: ``format``, ``schema`` (the columns' types as stored),
    ``num_rows`` (None for CSV/TSV) and :meth:`batches`. ``text_columns`` are read as text from CSV/TSV when present (the
    leaf-id columns). Close it (or use ``with``) to remove a stdin spool."""

    def __init__(self, spec: str, batch_rows: int, input_format: str | None = None,
                 text_columns: Sequence[str] = ()):
        if input_format is not None:
            one_of(input_format, MANIFEST_FORMATS, "--input-format")
        self.name = "stdin" if spec == "-" else str(spec)
        self.where = f"manifest {self.name!r}"
        self.batch_rows = batch_rows
        self._spool: str | None = None
        self.path = self._spool_stdin() if spec == "-" else _existing_file(str(spec))
        try:
            self.format = input_format or self._sniff(self._head())
            if self.format == "parquet":
                self._open_parquet()
            else:
                self._open_csv(text_columns)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._spool is not None:
            try:
                os.unlink(self._spool)
            except OSError:
                pass
            self._spool = None

    # ------------------------------------------------------------------ opening

    def _spool_stdin(self) -> str:
        """Copy stdin to a temporary file: parquet needs random access."""
        import shutil
        import tempfile

        with tempfile.NamedTemporaryFile(prefix="granularity-stdin-", suffix=".tmp", delete=False) as fh:
            self._spool = fh.name
            shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
        return self._spool

    def _compressed(self) -> bool:
        return self.name.lower().endswith(COMPRESSED_SUFFIXES)

    def _head(self) -> bytes:
        """The first 64 KiB (decompressed for .gz, .bz2, .zst)."""
        import pyarrow as pa

        try:
            with pa.input_stream(self.path, compression="detect" if self._compressed() else None) as fh:
                head = fh.read(65536)
        except Exception as exc:  # OSError, or pyarrow's for a corrupt compressed stream
            raise GranularityError(f"cannot read {self.where}: "
                                   f"{getattr(exc, 'strerror', None) or reason(exc)}") from None
        if not head:
            raise GranularityError(f"{self.where} is empty")
        return head

    def _sniff(self, head: bytes) -> str:
        if head[:4] == b"PAR1":
            return "parquet"
        low = self.name.lower()
        for suffix in COMPRESSED_SUFFIXES:
            low = low.removesuffix(suffix)
        if low.endswith((".parquet", ".pq")):
            return "parquet"  # not PAR1: reported as corrupt when opened
        if low.endswith(".csv"):
            return "csv"
        if low.endswith((".tsv", ".tab")):
            return "tsv"
        return "tsv" if b"\t" in head.split(b"\n", 1)[0] else "csv"

    def _open_parquet(self) -> None:
        import pyarrow.parquet as pq

        try:
            self._pf = pq.ParquetFile(self.path)
        except Exception as exc:
            raise GranularityError(f"{self.where} is not a readable parquet file: {reason(exc)}") from None
        self.schema = self._pf.schema_arrow
        self.num_rows = self._pf.metadata.num_rows
        # repeated strings (leaf ids) read dictionary-encoded, as parquet stores them: 3-5x
        # cheaper to read, and a key looked up once per distinct value (see as_stored)
        sample = next(self._pf.iter_batches(batch_size=SAMPLE_ROWS, columns=self._string_columns()), None)
        self._as_dictionary = repeated_strings(sample)
        if self._as_dictionary:
            self._pf = pq.ParquetFile(self.path, read_dictionary=self._as_dictionary)

    def _string_columns(self) -> list[str]:
        import pyarrow as pa

        return [f.name for f in self.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]

    def _open_csv(self, text_columns: Sequence[str]) -> None:
        import pyarrow as pa

        from ..inputs import open_csv_stream

        self._delimiter = "," if self.format == "csv" else "\t"
        self._column_types = {c: pa.string() for c in text_columns}
        try:  # parsed in parallel, with read-ahead
            self._reader = open_csv_stream(self.path, self._delimiter, self._column_types,
                                           CSV_BLOCK_BYTES, use_threads=True)
        except Exception as exc:
            raise self._csv_error(exc) from None
        self.schema = self._reader.schema
        self.num_rows = None
        self._as_dictionary = []

    def _csv_error(self, exc: Exception) -> GranularityError:
        """The reader's complaint, with the line it is about (found by a second,
        single-threaded pass: the parallel reader does not know line numbers)."""
        from ..inputs import open_csv_stream

        what = f"{self.where} is not readable {self.format.upper()}"
        try:
            with open_csv_stream(self.path, self._delimiter, self._column_types, CSV_BLOCK_BYTES) as reader:
                for _ in reader:
                    pass
        except Exception as again:
            exc = again
        # pyarrow's "Row #N" counts lines from 1, the header included
        text = reason(exc).removeprefix("CSV parse error: ").replace("Row #", "line ")
        return GranularityError(f"{what}: {text}")

    # ------------------------------------------------------------------ reading

    def batches(self) -> Iterator:
        """The manifest's non-empty record batches, of at most ``batch_rows`` rows; the
        repeated string columns of a parquet manifest come dictionary-encoded
        (:meth:`as_stored` turns them back)."""
        if self.format == "parquet":
            # decoded ahead in a thread while the caller relabels and writes (pyarrow
            # releases the GIL); the CSV reader reads ahead by itself (use_threads)
            source = _checked(_in_thread(self._pf.iter_batches(batch_size=self.batch_rows)),
                              self._parquet_error)
        else:
            source = _checked(iter(self._reader), self._csv_error)
        for batch in source:
            for start in range(0, batch.num_rows, self.batch_rows):
                yield batch.slice(start, self.batch_rows)

    def as_stored(self, batch):
        """``batch`` (a batch of :meth:`batches`, relabelled or not) with the columns read
        dictionary-encoded given back the type they are stored as."""
        for name in self._as_dictionary:
            i = batch.schema.get_field_index(name)
            stored = self.schema.field(name)
            column = batch.column(i).dictionary_decode()
            batch = batch.set_column(i, stored, column if column.type == stored.type else column.cast(stored.type))
        return batch

    def _parquet_error(self, exc: Exception) -> GranularityError:
        return GranularityError(f"{self.where} is not a readable parquet file: {reason(exc)}")


def _existing_file(path: str) -> str:
    if not os.path.exists(path):
        raise GranularityError(f"manifest {path!r} does not exist")
    if os.path.isdir(path):
        raise GranularityError(f"manifest {path!r} is a folder, not a file")
    return path


def _checked(it: Iterator, error: Callable[[Exception], GranularityError]) -> Iterator:
    """``it``'s items, a reader's exceptions turned into ``error(exc)``."""
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except GranularityError:
            raise
        except Exception as exc:
            raise error(exc) from None
        yield item


def _in_thread(it: Iterator, depth: int = 2) -> Iterator:
    """Run ``it`` in a daemon thread, ``depth`` items ahead; its errors re-raised here."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def work() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put((item, None))
            q.put((end, None))
        except BaseException as exc:  # handed to the consumer
            q.put((end, exc))

    worker = threading.Thread(target=work, name="granularity-read", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is end:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.01)
