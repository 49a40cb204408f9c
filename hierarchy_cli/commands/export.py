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
        "ClassLabel for one level); lca-height or lca-distance (the N x N matrix of the height of "
        "two classes' lowest common ancestor, or of the edges between them, in the tree of the "
        "map's nested levels; -o .npy or .parquet). Example: --format class-to-idx",
    ),
    level: Optional[str] = typer.Option(
        None, "--level", "-l",
        help="Export only this level (needed by class-to-idx and hf-names when the map has several). "
        "For lca-height and lca-distance: the tree's levels, comma-separated, finest first (default: "
        "every level of the map). Example: --level level_3",
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
        "current folder (.tsv, .csv, .json, .class_to_idx.json, .names.json/.names.txt, "
        ".lca_height.npy, .lca_distance.npy). lca-height and lca-distance write .npy or .parquet, "
        "by the name's extension ('-': .npy). Example: -o classes.json",
    ),
) -> None:
    """Export a label map to TSV, CSV, JSON, a torchvision class_to_idx, HF ClassLabel names,
    or its tree's class-by-class LCA height or distance matrix (.npy, parquet).

    Example: granularity export in21k.level_3.parquet --format hf-names --level level_3 -o names.json
    """
    from ..export import EXTENSIONS, LCA_FORMATS, export_text
    from ..labelmap import read_label_map
    from ..options import EXPORT_FORMATS, one_of
    from ..outputs import atomic_output

    one_of(fmt, EXPORT_FORMATS, "--format")
    if lines and fmt != "hf-names":
        raise GranularityError("--lines only applies to --format hf-names")
    if fmt in LCA_FORMATS:
        _export_lca(map_, fmt, level, output)
        return
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


def _export_lca(map_: str, fmt: str, level: Optional[str], output: Optional[str]) -> None:
    """``--format lca-height|lca-distance``: the matrix, by row blocks, to .npy or parquet."""
    import sys

    from ..cliutil import safe_name, stderr_console
    from ..export import EXTENSIONS, lca_container, write_lca
    from ..labelmap import read_label_map
    from ..outputs import check_target

    levels = level.split(",") if level else None
    if output is None:
        stem = input_stem(map_ if map_ != "-" else None, None, "labels")
        output = f"{stem}.{safe_name('+'.join(levels))[:80]}.{EXTENSIONS[fmt]}" if levels else \
            f"{stem}.{EXTENSIONS[fmt]}"
    lca_container(output, fmt)
    if output == "-" and sys.stdout.isatty():
        raise GranularityError("refusing to write a binary .npy matrix to a terminal: pipe '-o -' or give -o PATH")
    if output != "-":
        check_target(output)
    console = stderr_console()
    info = write_lca(read_label_map(map_), fmt, output, levels,
                     announce=lambda text: console.print(f"writing {text} to {output}", soft_wrap=True))
    if output != "-":
        console.print(f"wrote {output} ({fmt}, {info['container']})")
