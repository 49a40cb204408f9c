"""``granularity compare``: agreement and alignment of two levels over the same leaves."""

from __future__ import annotations

from typing import Optional

import typer


def compare(
    a: str = typer.Argument(
        ..., metavar="A[:LEVEL]",
        help="The pretraining level: a label map, with :LEVEL unless it has one level. "
        "Example: in21k.wordnet.parquet:level_1",
    ),
    b: str = typer.Argument(
        ..., metavar="B[:LEVEL]",
        help="The target level, over the same leaves in the same order (may be the same file). "
        "Example: in21k.wordnet.parquet:level_5",
    ),
    tree: Optional[str] = typer.Option(
        None, "--tree", metavar="MAP[:LEVEL,...]",
        help="Also measure, in the tree of this map's nested levels (default every level; or "
        "the comma-separated LEVELs, finest first), how high the lowest common ancestor of two "
        "leaves that one A class merges is, on average over such pairs, against a random "
        "grouping of the same sizes. Example: --tree in1k.wordnet.depth.parquet",
    ),
    as_json: bool = typer.Option(
        False, "--json",
        help="Print the metrics as one JSON object on stdout instead of a table. "
        "Example: granularity compare a.parquet:level_1 a.parquet:level_3 --json",
    ),
) -> None:
    """Compare two levels: NMI, ARI and how well pretraining level A aligns with target level B.

    Example: granularity compare in1k.parquet:level_1 in1k.parquet:level_3
    """
    import json
    import sys

    from ..metrics import compare as compare_api

    res = compare_api(a, b, tree=tree)
    if as_json:
        sys.stdout.write(json.dumps(res, sort_keys=True) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    ka, kb = res["classes_a"], res["classes_b"]
    pure_n = round(res["pure_classes"] * ka)
    if res["a_refines_b"] and res["b_refines_a"]:
        nest = "identical partitions"
    elif res["a_refines_b"]:
        nest = "A nests in B (every A class inside one B class)"
    elif res["b_refines_a"]:
        nest = "B nests in A (every B class inside one A class)"
    else:
        nest = "neither nests in the other"
    table = Table(title=f"A = {res['a']['source']}:{res['a']['level']} (pretraining, {ka:,} classes)\n"
                        f"B = {res['b']['source']}:{res['b']['level']} (target, {kb:,} classes)\n"
                        f"{res['num_leaves']:,} leaves",
                  title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning")
    table.add_row("NMI", f"{res['nmi']:.4f}", "normalized mutual information (sklearn, arithmetic)")
    table.add_row("ARI", f"{res['ari']:.4f}", "adjusted Rand index (sklearn)")
    table.add_row("pure classes", f"{res['pure_classes']:.4f}",
                  f"{pure_n:,} of {ka:,} A classes lie inside one B class")
    table.add_row("pure leaves", f"{res['pure_leaves']:.4f}", "share of leaves in such A classes")
    table.add_row("H(B|A)", f"{res['h_target_given_pre']:.4f}",
                  f"bits left about B once A is known (H(B) = {res['h_target']:.4f} bits)")
    table.add_row("nesting", "yes" if res["a_refines_b"] or res["b_refines_a"] else "no", nest)
    if "tree" in res:
        t = res["tree"]
        mean = "-" if t["mean_lca_height"] is None else f"{t['mean_lca_height']:.4f}"
        table.add_row("LCA height", mean,
                      f"mean LCA height, in the tree ({len(t['levels'])} levels, height {t['height']}), "
                      f"of two leaves in one A class ({t['pairs']:,} pairs)")
        table.add_row("  random", f"{t['random_mean_lca_height']:.4f}",
                      "the same for a random grouping with A's class sizes (exact expectation)")
    Console(file=sys.stdout, highlight=False, soft_wrap=False, width=120).print(table)
