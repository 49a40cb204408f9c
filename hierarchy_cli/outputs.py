"""Every file the package writes is written here: atomically, never half.

:func:`atomic_output` yields a file object whose content replaces the target only
when the block finishes (stdout is buffered to the end); :func:`temporary_folder`
is removed on every way out; :func:`write_table` and :func:`write_batches` write
parquet through them. Signals (:mod:`hierarchy_cli.process`) never leave a
temporary file or folder behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import GranularityError, GranularityFailure


def check_target(target: str | os.PathLike) -> Path:
    """Fail early, with one line, if ``target`` cannot be written; return its folder."""
    path = Path(target)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GranularityError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise GranularityError(f"cannot write {str(path)!r}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise GranularityError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable")
    return folder


@contextmanager
def atomic_output(target: str | os.PathLike, binary: bool = True):
    """Yield a file object whose content replaces ``target`` only on success.

    ``target`` ``-`` means stdout: the data is buffered and written at the end, so
    a failure writes nothing. Otherwise a temporary file is created beside the
    target and renamed over it once the block finishes; on any error, Ctrl-C,
    SIGTERM or SIGHUP the temporary file is deleted (after a SIGKILL it stays, hidden
    as ``.<name>.*.tmp``) and the target keeps its previous content or stays
    absent. A replaced file keeps its permission bits; the command line says on
    stderr that it replaced it. A signal whose exception was swallowed on the way
    (see :mod:`hierarchy_cli.process`) is raised again before the rename.
    """
    from . import process

    process.check()
    if str(target) == "-":
        with _stdout_output(binary) as fh:
            yield fh
        return
    path = Path(target)
    folder = check_target(path)
    if path.exists() and not path.is_file():
        with _device_output(path, binary) as fh:
            yield fh
        return
    with _renamed_output(path, folder, binary) as fh:
        yield fh


@contextmanager
def _stdout_output(binary: bool):
    """A buffer written to stdout in one go once the block finishes (nothing on failure)."""
    import io

    from . import process

    buf = io.BytesIO() if binary else io.StringIO()
    yield buf
    with process.deferred():
        process.check()
        out = sys.stdout.buffer if binary else sys.stdout
        out.write(buf.getvalue())
        out.flush()
        process.commit()


@contextmanager
def _device_output(path: Path, binary: bool):
    """A device or a pipe (/dev/null, a FIFO) has nothing to rename over: a buffer, so
    that a failure still writes nothing, written to it in one go once the block finishes."""
    import io

    from . import process

    buf = io.BytesIO() if binary else io.StringIO()
    yield buf
    process.check()
    try:
        with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            fh.write(buf.getvalue())
    except OSError as exc:
        raise GranularityFailure(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    process.commit()


@contextmanager
def _renamed_output(path: Path, folder: Path, binary: bool):
    """A temporary file in ``folder``, renamed over ``path`` once the block finishes and
    deleted on every other way out."""
    from . import process

    with process.deferred():  # a signal between mkstemp and the try would leak the file
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise GranularityError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    try:
        process.check()
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8",
                       newline=None if binary else "") as fh:
            yield fh
        # No fsync: a rename after a complete write already guarantees that a killed
        # process leaves the old file or the new one; fsync would only add power-loss
        # durability, at 0.1-0.2 s per file on this disk.
        replaced = path.is_file()
        os.chmod(tmp, (path.stat().st_mode & 0o7777) if replaced else 0o666 & ~_umask())
        with process.deferred():  # from here a signal no longer undoes the finished file
            process.check()
            os.replace(tmp, path)
            process.commit()
        if replaced:
            process.note(f"note: replaced the existing {str(path)!r}")
    except BaseException as exc:
        with process.deferred():
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, GranularityError):
            raise GranularityFailure(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise


@contextmanager
def temporary_folder(prefix: str = "granularity-", dir: str | os.PathLike | None = None):
    """A temporary folder (in ``dir``, else TMPDIR) removed on every way out.

    Success, an error, Ctrl-C, SIGTERM or SIGHUP: the folder and everything in it
    are deleted (a second signal during the removal does not cut it short). Every
    temporary folder of the package is made here.
    """
    import shutil

    from . import process

    process.check()
    with process.deferred():
        path = tempfile.mkdtemp(prefix=prefix, dir=dir)
    try:
        yield path
    finally:
        with process.deferred():
            shutil.rmtree(path, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_table(table, target: str | os.PathLike) -> None:
    """Write an Arrow table as parquet to ``target`` (a path or ``-``), atomically."""
    import pyarrow.parquet as pq

    with atomic_output(target) as fh:
        pq.write_table(table, fh, compression="zstd", write_statistics=False)


def write_batches(schema, batches, target: str | os.PathLike) -> None:
    """Write Arrow record batches as parquet to ``target`` (a path or ``-``), atomically, one
    row group per batch: memory stays that of a batch (per-sample maps of millions of rows)."""
    import pyarrow.parquet as pq

    with atomic_output(target) as fh:
        with pq.ParquetWriter(fh, schema, compression="zstd", write_statistics=False) as writer:
            for batch in batches:
                writer.write_batch(batch)
