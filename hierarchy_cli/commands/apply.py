"""``granularity apply``: relabel a per-sample manifest with a label map."""

from __future__ import annotations

from typing import List, Optional

import typer

from ..cliutil import input_stem, level_span, resolve_output, safe_name


def apply(
    manifest: str = typer.Argument(
        ..., metavar="MANIFEST",
        help="The per-sample manifest: parquet, CSV or TSV (by content/extension), or '-' for "
        "stdin. Example: granularity apply train.parquet --map in21k.level_3.parquet",
    ),
    map_: str = typer.Option(
        ..., "--map", "-m", metavar="MAP",
        help="The label map (a granularity parquet file) whose levels to add. "
        "Example: --map in21k.wordnet.level_1-3.parquet",
    ),
    level: Optional[List[str]] = typer.Option(
        None, "--level", "-l", metavar="LEVEL",
        help="A level of the map to add as an int32 column; repeat it or separate with commas "
        "(default: every level of the map). Example: --level level_3 --level level_5",
    ),
    column: Optional[str] = typer.Option(
        None, "--column", "-c",
        help="The manifest column holding the leaf index or leaf id (default: the first of "
        "leaf_index, leaf_id, wnid, label, class_index, label_index, target, synset, class_id, "
        "class; else a path column). Example: --column wnid",
    ),
    key: str = typer.Option(
        "auto", "--key",
        help="What --column holds: 'index' (the class index 0..N-1 of the map's leaves), 'id' "
        "(the leaf id, like n01440764) or 'auto' (by name, then integer = index). Example: --key id",
    ),
    path_column: Optional[str] = typer.Option(
        None, "--path-column", "-p",
        help="Derive the leaf id from this column of image paths instead: the parent folder's "
        "name, else the file name before its first '_' (n01440764/n01440764_10026.JPEG). "
        "Example: --path-column path",
    ),
    path_pattern: Optional[str] = typer.Option(
        None, "--path-pattern", metavar="REGEX",
        help="With --path-column: a regular expression (RE2 syntax: no lookaround or "
        "backreferences) with exactly one capture group, around the leaf id. "
        "Example: --path-pattern '^train/([^/]+)/'",
    ),
    unknown: str = typer.Option(
        "error", "--unknown", "-u",
        help="Rows whose leaf is not in the map: 'error' (stop, count them and show the first "
        "few), 'drop' (leave them out) or 'keep' (null labels). Example: --unknown drop",
    ),
    ids: bool = typer.Option(
        False, "--ids",
        help="Also write <level>_id (the coarse node's id) per level. Example: --ids",
    ),
    names: bool = typer.Option(
        False, "--names",
        help="Also write <level>_name (the coarse node's name) per level. Example: --names",
    ),
    leaf_index: bool = typer.Option(
        False, "--leaf-index",
        help="Also write leaf_index (the map's class index of the row's leaf) when the key is an "
        "id or a path. Example: --leaf-index",
    ),
    fmt: Optional[str] = typer.Option(
        None, "--format", "-f",
        help="Output format: parquet, csv or tsv (default: from the -o extension; parquet for "
        "stdout and the default name). Example: --format csv",
    ),
    input_format: Optional[str] = typer.Option(
        None, "--input-format",
        help="Input format: parquet, csv or tsv (default: parquet by content, else by extension, "
        "else TSV if the header has a tab). Example: --input-format tsv",
    ),
    compression: str = typer.Option(
        "zstd", "--compression",
        help="Parquet compression: zstd, snappy, lz4, gzip or none. Example: --compression snappy",
    ),
    batch_rows: int = typer.Option(
        1 << 18, "--batch-rows", metavar="N",
        help="Rows per record batch; memory grows with it (a few batches are held at once). "
        "Example: --batch-rows 262144",
    ),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="PATH",
        help="Where to write the relabelled manifest: a path (.parquet, .csv or .tsv) or '-' for "
        "stdout. Default: <manifest>.<levels>.parquet in the current folder. "
        "Example: -o train.level_3.parquet",
    ),
) -> None:
    """Relabel a per-sample manifest: add a label column per level of a label map.

    Example: granularity apply train.parquet --map in21k.wordnet.level_3.parquet -o train.level_3.parquet
    """
    import time

    from ..apply.driver import apply_manifest, check_stdin, output_format
    from ..labelmap import read_label_map

    check_stdin(manifest, map_)  # before this command reads the map for the default name
    lm = read_label_map(map_)
    levels = [p.strip() for item in (level or []) for p in item.split(",") if p.strip()] or None
    chosen = levels or lm.levels
    stem = input_stem(manifest if manifest != "-" else None, None, "manifest")
    default = f"{stem}.{safe_name(level_span(list(chosen)))}.{fmt or 'parquet'}"
    target = output if output is not None else default
    out_fmt = output_format(target, fmt)
    if out_fmt == "parquet" or output != "-":
        target = resolve_output(output, default)

    progress, done = _progress()
    start = time.perf_counter()
    try:
        stats = apply_manifest(
            manifest, lm, target, levels, column=column, key=key, path_column=path_column,
            path_pattern=path_pattern, unknown=unknown, ids=ids, names=names, leaf_index=leaf_index,
            output_format_=out_fmt, input_format=input_format, batch_rows=batch_rows,
            compression=compression, progress=progress,
        )
    finally:
        done()
    seconds = time.perf_counter() - start
    _summary(stats, lm, seconds, target)


def _progress():
    """A rich progress bar on a terminal stderr; nothing otherwise."""
    import sys

    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..cliutil import stderr_console

    bar = Progress(TextColumn("relabelling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=stderr_console(), transient=True)
    task = bar.add_task("rows", total=None)
    bar.start()

    def update(rows: int, total: int | None) -> None:
        bar.update(task, completed=rows, total=total)

    return update, bar.stop


def _summary(stats, lm, seconds: float, target: str) -> None:
    from rich.table import Table

    from ..cliutil import stderr_console

    con = stderr_console()
    key = {"index": "leaf index", "id": "leaf id", "path": "leaf id from the path"}[stats.kind]
    con.print(f"read {stats.rows_in:,} rows ({stats.input_format}), keyed by {stats.column!r} ({key})")
    con.print(f"relabelled {stats.rows_out:,} rows as {stats.output_format} in {seconds:.1f} s "
              f"({stats.rows_in / max(seconds, 1e-9) / 1e6:.1f} M rows/s)")
    if stats.unknown:
        what = "dropped" if stats.rows_out < stats.rows_in else "kept with null labels"
        con.print(f"{stats.unknown:,} rows with a leaf not in the map: {what}")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("level")
    table.add_column("classes in map", justify="right")
    table.add_column("classes present", justify="right")
    for lv in stats.levels:
        table.add_row(lv, f"{lm.num_classes(lv):,}", f"{stats.label_counts.get(lv, 0):,}")
    con.print(table)
    if target != "-":
        con.print(f"wrote {target}")
