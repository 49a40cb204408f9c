"""``granularity report``: one self-contained HTML page picturing label spaces."""

from __future__ import annotations

from typing import List, Optional

import typer


def report(
    maps: List[str] = typer.Argument(
        ..., metavar="MAP[:LEVEL]...",
        help="Label maps to show: every level of MAP, or only :LEVEL; repeat MAP:LEVEL for "
        "several levels of one map. Example: in1k.wordnet.parquet in1k.kmeans.parquet:k100",
    ),
    target: Optional[str] = typer.Option(
        None, "--target", "-t", metavar="MAP:LEVEL",
        help="The target level: plot every level's alignment with it (NMI, purity, "
        "H(target | pretraining)) against its number of classes. Every map must have the "
        "target's leaves. Example: --target in1k.wordnet.parquet:level_5",
    ),
    tree: Optional[str] = typer.Option(
        None, "--tree", metavar="MAP[:LEVEL,...]",
        help="The target tree: plot, per level, the mean height in it of the lowest common ancestor "
        "of two leaves of one class (against a random grouping's). Default: the --target map's levels "
        "when they nest (one under the other, finest first); give the comma-separated LEVELs to pick "
        "some. Example: --tree in1k.wordnet.depth.parquet",
    ),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="PATH",
        help="Where to write the HTML page: a path, or '-' for stdout. Default: "
        "<first map>.report.html in the current folder. Example: -o report.html",
    ),
) -> None:
    """Write one self-contained HTML page: classes and group sizes per level and, with
    --target, every level's alignment with the target (and, in a target tree, how far apart
    the leaves of one class are), with the tables behind each picture.

    Example: granularity report in1k.wordnet.parquet in1k.kmeans.parquet in1k.random.parquet
    --target in1k.wordnet.parquet:level_5 -o report.html
    """
    from ..cliutil import input_stem, stderr_console
    from ..grammar import MapSpec
    from ..report import write_report

    if output is None or output == "":
        first = MapSpec.parse(maps[0], "MAP").path
        output = f"{input_stem(first, None, 'granularity')}.report.html"
    data = write_report(maps, output, target=target, tree=tree)
    if output != "-":
        n_maps, n_levels = len(data["maps"]), sum(len(m["levels"]) for m in data["maps"])
        against = f", alignment with {target}" if target else ""
        if data.get("tree"):
            against += f", LCA heights in the tree of {data['tree']['source']}"
        stderr_console().print(f"wrote {output} ({n_maps} map{'s' * (n_maps != 1)}, "
                               f"{n_levels} level{'s' * (n_levels != 1)}{against})")
