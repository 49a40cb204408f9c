"""``granularity datasets``: the shipped class lists."""

from __future__ import annotations

import typer


def datasets(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table. Example: granularity datasets --json"),
) -> None:
    """List the shipped class lists (names for --dataset) with counts, sha256 and provenance.

    Example: granularity datasets
    """
    import json

    from ..manifests import DEFAULT_DATASET, catalogue

    cat = catalogue()
    if as_json:
        print(json.dumps(cat, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("dataset", "classes", "sha256", "description"):
        table.add_column(col, justify="right" if col == "classes" else "left")
    for name, entry in cat.items():
        label = f"{name} (default)" if name == DEFAULT_DATASET else name
        table.add_row(label, f"{entry['num_classes']:,}", entry["sha256"][:12], entry["description"])
    Console().print(table)
