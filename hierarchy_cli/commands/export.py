"""``granularity export``: a label map as TSV, CSV, JSON, class_to_idx or ClassLabel names."""

from __future__ import annotations

from typing import Optional

import typer

from ..cliutil import input_stem
from ..errors import GranularityError


def export(
    map_: str = typer.Argument(
        ..., metavar="MAP",
        help="The label map to export (a granularity parquet file, or '-' for stdin). "
        "Example: granularity export in21k.level_3.parquet --format tsv -o -",
    ),
    fmt: str = typer.Option(
        ..., "--format", "-f",
        help="tsv, csv or json (the whole map, or one --level); class-to-idx (torchvision "
        "{class: index} JSON for one level); hf-names (the names list of a Hugging Face "
        "ClassLabel for one level). Example: --format class-to-idx",
    ),
    level: Optional[str] = typer.Option(
        None, "--level", "-l",
        help="Export only this level (needed by class-to-idx and hf-names when the map has several). "
        "Example: --level level_3",
    ),
    key: str = typer.Option(
        "name", "--key",
        help="class-to-idx keys: 'name' (the coarse node's name; repeated names get ' (<id>)' "
        "appended) or 'id' (its id, like n01317541). Example: --key id",
    ),
    lines: bool = typer.Option(
        False, "--lines",
        help="hf-names as one name per line instead of a JSON list. Example: --lines",
    ),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="PATH",
        help="Where to write: a path, or '-' for stdout. Default: <map>.<level>.<ext> in the "
        "current folder (.tsv, .csv, .json, .class_to_idx.json, .names.json/.names.txt). "
        "Example: -o classes.json",
    ),
) -> None:
    """Export a label map to TSV, CSV, JSON, a torchvision class_to_idx or HF ClassLabel names.

    Example: granularity export in21k.level_3.parquet --format hf-names --level level_3 -o names.json
    """
    from ..export import EXTENSIONS, FORMATS, export_text
    from ..labelmap import atomic_output, read_label_map

    if fmt not in FORMATS:
        raise GranularityError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if lines and fmt != "hf-names":
        raise GranularityError("--lines only applies to --format hf-names")
    lm = read_label_map(map_)
    text = export_text(lm, fmt, level, key=key, lines=lines)
    if output is None:
        ext = "names.txt" if lines else EXTENSIONS[fmt]
        stem = input_stem(map_ if map_ != "-" else None, None, "labels")
        output = f"{stem}.{level}.{ext}" if level else f"{stem}.{ext}"
    with atomic_output(output, binary=True) as fh:
        fh.write(text.encode("utf-8"))
    if output != "-":
        from ..cliutil import stderr_console

        stderr_console().print(f"wrote {output} ({fmt}{', ' + level if level else ''})")
