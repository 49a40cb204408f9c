"""What every command shares: output handling, the stderr summary, progress.

Kept light: rich and numpy are imported only when a command reaches for them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from .errors import GranularityError

if TYPE_CHECKING:
    from .hierarchy import Hierarchy

OUTPUT_HELP = (
    "Where to write the label map: a path, or '-' for stdout. "
    "Default: a descriptive name in the current folder, printed on stderr. "
    "Example: -o in21k.level_3.parquet"
)

OutputOption = typer.Option(None, "--output", "-o", help=OUTPUT_HELP, metavar="PATH")


def stderr_console():
    """A rich console on stderr (colour and progress only on a terminal)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def resolve_output(output: Optional[str], default_name: str) -> str:
    """The target path: ``output``, or ``default_name`` in the current folder."""
    if output is None or output == "":
        return default_name
    if output != "-":
        from .outputs import check_target

        check_target(output)
    elif sys.stdout.isatty():
        raise GranularityError("refusing to write binary parquet to a terminal: pipe '-o -' or give -o PATH")
    return output


# What a label map must not be named: another format's extension (the map is parquet).
NOT_PARQUET = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".npy", ".npz", ".feather",
               ".arrow", ".ipc", ".xlsx", ".pkl", ".pt", ".gz", ".zst", ".bz2", ".xz")


def check_map_output(output: Optional[str], command: str) -> None:
    """Refuse, before any work, a ``-o`` target that cannot take a parquet label map.

    A name with another format's extension (``out.csv``) would hold parquet under a
    misleading name: refused, pointing at ``granularity export``.
    """
    if output in (None, "", "-"):
        return
    suffix = Path(output).suffix.lower()
    if suffix in NOT_PARQUET:
        fmt = suffix[1:] if suffix in (".csv", ".tsv", ".json") else "csv"
        raise GranularityError(
            f"-o {output!r}: {command} writes a parquet label map, not {suffix[1:]}; give a .parquet "
            f"name, then convert it with 'granularity export MAP --format {fmt} -o {Path(output).name}'"
        )
    from .outputs import check_target

    check_target(output)


def name_tags(*options: tuple[str, object, object]) -> str:
    """The part of a default output name that the content-changing options add.

    ``options`` are ``(tag, value, default)``; each value that is not its default
    adds ``.<tag><value>`` (``.seed3``, ``.multi-parent-shortest``), in order, so two
    runs whose files differ never get the same default name.
    """
    parts = []
    for tag, value, default in options:
        if value is None or value == default or value is False:
            continue
        parts.append(safe_name(tag if value is True else f"{tag}{value}"))
    return "".join(f".{p}" for p in parts)


def safe_name(text: str) -> str:
    """A file-name-friendly version of ``text``."""
    keep = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in text)
    return keep.strip("._") or "labels"


def input_stem(spec: Optional[str], dataset: Optional[str], fallback: str) -> str:
    """The first part of a default output name: the dataset or the input file's stem."""
    if dataset:
        return safe_name(dataset)
    if spec and spec != "-":
        name = Path(spec).name
        for suffix in (".parquet", ".csv", ".tsv", ".txt", ".npy", ".json", ".dmp"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
        return safe_name(name)
    return fallback


def level_span(names: list[str]) -> str:
    """``level_3`` for one level, ``level_0-9`` for a run of one kind, else joined."""
    if len(names) == 1:
        return names[0]
    prefix = names[0].rsplit("_", 1)[0]
    try:
        nums = [int(n.rsplit("_", 1)[1]) for n in names if n.rsplit("_", 1)[0] == prefix]
    except (IndexError, ValueError):
        nums = []
    if len(nums) == len(names):
        return f"{prefix}_{nums[0]}-{nums[-1]}"
    return safe_name("+".join(names))[:80]


def print_level_summary(h: "Hierarchy", title: str, notes: list[str] = (), target: str | None = None) -> None:
    """Per level: classes, largest and smallest group (with a name), then notes, on stderr.

    The class list's own notes (ids cut at a tab, spaces stripped) come first.
    """
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("level")
    table.add_column("classes", justify="right")
    table.add_column("largest group", justify="right")
    table.add_column("smallest group", justify="right")
    for lv in h.levels:
        sizes = lv.group_sizes()
        big = int(sizes.argmax())
        small = int(sizes.argmin())
        table.add_row(
            lv.name,
            f"{lv.num_classes:,}",
            f"{int(sizes[big]):,} ({lv.names[big]})",
            f"{int(sizes[small]):,} ({lv.names[small]})",
        )
    con = stderr_console()
    con.print(table)
    classes = h.metadata.get("classes")
    class_notes = classes.get("notes", []) if isinstance(classes, dict) else []
    for note in [*class_notes, *notes]:
        con.print(note)
    if target is not None and target != "-":
        con.print(f"wrote {target}")


# ----------------------------------------------------------------------------- shared options
# The class-list options of build, random and cluster: one definition, so their
# names, completion and wording stay alike; ``note`` adds what differs per command.


def _complete_datasets(incomplete: str) -> list[str]:
    from .manifests import dataset_names

    return [d for d in dataset_names() if d.startswith(incomplete)]


def dataset_option(default_note: str = "when --classes is not given"):
    return typer.Option(
        None, "--dataset", "-d", autocompletion=_complete_datasets,
        help=f"A shipped class list (default imagenet21k {default_note}); see "
        "'granularity datasets'. Example: --dataset imagenet1k",
    )


def classes_option(note: str = ""):
    return typer.Option(
        None, "--classes", "-c", metavar="FILE",
        help="Your class list in class-index order: one id per line, or a column of a "
        f"CSV/TSV/parquet file; '-' reads stdin.{' ' + note if note else ''} "
        "Example: --classes my_classes.txt",
    )


def column_option():
    return typer.Option(
        None, "--column",
        help="Which column of a CSV/TSV/parquet class list holds the ids (default: wnid, "
        "leaf_id, id, class, synset, label if present, else the first). Example: --column wnid",
    )


def was_given(ctx, name: str) -> bool:
    """Did the user give option ``name`` (the parameter's name), rather than leave its
    default? Commands ask this instead of comparing a value with a copied default."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)

