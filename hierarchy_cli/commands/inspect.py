"""``granularity inspect``: what is in a label map (its report is the data: stdout)."""

from __future__ import annotations

from typing import List, Optional

import typer


def inspect(
    ctx: typer.Context,
    label_map: str = typer.Argument(
        ..., metavar="MAP",
        help="A label map written by granularity; '-' reads stdin. Example: in1k.wordnet.level_0-3.parquet",
    ),
    show_tree: bool = typer.Option(
        False, "--tree",
        help="Show the nested levels as a tree, largest groups first, truncated by "
        "--max-children and --max-depth. Example: --tree --max-children 5",
    ),
    lineage: Optional[List[str]] = typer.Option(
        None, "--lineage", metavar="ID",
        help="Print one leaf's labels at every level, coarsest first, as TaxonKit's lineage "
        "(a leaf id, or a leaf index); repeat for several. Example: --lineage n01440764",
    ),
    level: Optional[List[str]] = typer.Option(
        None, "--level", "-l",
        help="With --tree: only these levels (repeat or comma-separate; they must nest). "
        "Example: --level level_1,level_3",
    ),
    max_children: int = typer.Option(
        10, "--max-children",
        help="With --tree: children shown per node; the rest are counted as '... N more'. "
        "Example: --max-children 5",
    ),
    max_depth: int = typer.Option(
        2, "--max-depth",
        help="With --tree: layers shown below the top; deeper groups are counted, not drawn. "
        "Example: --max-depth 2",
    ),
    root: Optional[str] = typer.Option(
        None, "--root", metavar="ID",
        help="With --tree: start at the group (or leaf) with this id. Example: --root n01503061",
    ),
    as_json: bool = typer.Option(
        False, "--json",
        help="Print machine-readable JSON on stdout (the summary, the lineages or the tree). "
        "Example: granularity inspect map.parquet --json",
    ),
) -> None:
    """Show a label map: classes and group sizes per level, a tree, or leaf lineages.

    Example: granularity inspect in1k.wordnet.level_0-3.parquet --lineage n01440764
    """
    from ..cliutil import was_given
    from ..errors import GranularityError
    from ..labelmap import read_label_map

    if show_tree and lineage:
        raise GranularityError("give --tree or --lineage, not both")
    tree_only = next((f"--{name.replace('_', '-')}" for name in ("level", "root", "max_children", "max_depth")
                      if was_given(ctx, name)), None)
    if tree_only and not show_tree:
        raise GranularityError(f"{tree_only} only applies with --tree")
    lm = read_label_map(label_map)
    if lineage:
        _lineages(lm, lineage, as_json)
    elif show_tree:
        names = list(dict.fromkeys(p.strip() for item in (level or []) for p in item.split(",") if p.strip()))
        _tree(lm, [lm.check_level(name, f"--level {name!r}") for name in names], max_children, max_depth,
              root, as_json)
    else:
        _summary(lm, as_json)


def _json(data) -> None:
    """``data`` as one line of JSON on stdout."""
    import json
    import sys

    sys.stdout.write(json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n")


def _lineages(lm, leaves: list[str], as_json: bool) -> None:
    """Each leaf's lineage: a TSV line each (index, id, names, ids), or JSON."""
    import sys

    from ..inspection import lineage

    h = lm.to_hierarchy()
    found = [lineage(h, x) for x in leaves]
    if as_json:
        _json(found if len(found) > 1 else found[0])
        return
    for r in found:
        sys.stdout.write(f"{r['leaf_index']}\t{r['leaf_id']}\t{';'.join(r['names'])}\t{';'.join(r['ids'])}\n")


def _tree(lm, levels: list[str], max_children: int, max_depth: int, root, as_json: bool) -> None:
    """The truncated tree of ``levels`` (all when empty), drawn by rich or as JSON."""
    from ..inspection import tree

    node = tree(lm.to_hierarchy(), levels or None, max_children, max_depth, root)
    if as_json:
        _json(node.to_json())
        return
    _print_tree(node)


def _summary(lm, as_json: bool) -> None:
    """Classes and group sizes per level, as a table or JSON."""
    from ..inspection import summarize

    summary = summarize(lm.to_hierarchy())
    summary["source"] = lm.source
    if as_json:
        _json(summary)
        return
    _print_summary(summary)


def _console():
    import sys

    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=False,
                   width=None if sys.stdout.isatty() else 120)


def _print_summary(s: dict) -> None:
    from rich.table import Table

    meta = s["metadata"]
    how = meta.get("method", "?")
    if meta.get("source"):
        how += f" ({meta['source']})"
    from rich.text import Text

    title = Text(f"{s['source']}: {s['num_leaves']:,} leaves, {len(s['levels'])} levels, "
                 f"{'nested' if s['nested'] else 'not nested'}; made by {how}")
    table = Table(show_edge=False, pad_edge=False)
    for col in ("level", "classes", "min", "median", "max", "singletons", "nests in next"):
        table.add_column(col, justify="left" if col == "level" else "right")
    for lv in s["levels"]:
        nest = "" if lv["nests_in_next"] is None else ("yes" if lv["nests_in_next"] else "no")
        med = lv["median"]
        table.add_row(lv["name"], f"{lv['classes']:,}", f"{lv['min']:,}",
                      f"{med:,}" if isinstance(med, int) else f"{med:,.1f}", f"{lv['max']:,}",
                      f"{lv['singletons']:,}", nest)
    con = _console()
    con.print(title)
    con.print(table)
    for lv in s["levels"]:
        if lv.get("outside"):
            con.print(f"{lv['name']}: {lv['outside']:,} leaves outside its label space (null labels)")


def _label(node) -> "object":
    from rich.text import Text

    text = Text()
    if node.level in (None, "root"):
        text.append(node.name, style="bold" if node.level == "root" else "")
        if node.level is None:
            text.append(f"  {node.id}", style="dim")
        return text
    text.append(node.name, style="bold")
    text.append(f"  {node.id}", style="dim")
    text.append(f"  {node.level}, {node.size:,} {'leaf' if node.size == 1 else 'leaves'}")
    if node.collapsed and node.collapsed_what != "leaves":
        text.append(f"  ({node.collapsed:,} {node.collapsed_what} below)", style="dim")
    return text


def _print_tree(node) -> None:
    from rich.text import Text
    from rich.tree import Tree

    def add(branch, n) -> None:
        for c in n.children:
            add(branch.add(_label(c)), c)
        if n.hidden_children:
            branch.add(Text(f"… {n.hidden_children:,} more ({n.hidden_leaves:,} leaves)", style="dim"))

    top = Tree(_label(node))
    add(top, node)
    _console().print(top)
