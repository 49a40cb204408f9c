"""``granularity build``: manual hierarchies (WordNet levels and depths)."""

from __future__ import annotations

from typing import Optional

import typer

from ..cliutil import OutputOption, input_stem, level_span, print_level_summary, resolve_output
from ..errors import GranularityError

SOURCES = ("wordnet",)
RULES = ("longest", "shortest", "first")


def _complete(choices):
    return lambda incomplete: [c for c in choices() if c.startswith(incomplete)]


def _dataset_names() -> list[str]:
    from ..manifests import dataset_names

    return dataset_names()


def build(
    source: str = typer.Option(
        "wordnet", "--source", "-s", autocompletion=_complete(lambda: SOURCES),
        help="Where the hierarchy comes from: 'wordnet' (WordNet 3.0 nouns, embedded). "
        "Example: --source wordnet",
    ),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", "-d", autocompletion=_complete(_dataset_names),
        help="A shipped class list (default imagenet21k when --classes is not given); "
        "see 'granularity datasets'. Example: --dataset imagenet1k",
    ),
    classes: Optional[str] = typer.Option(
        None, "--classes", "-c", metavar="FILE",
        help="Your class list in class-index order: one wnid per line, or a column of a "
        "CSV/TSV/parquet file; '-' reads stdin. Example: --classes my_classes.txt",
    ),
    column: Optional[str] = typer.Option(
        None, "--column",
        help="Which column of a CSV/TSV/parquet class list holds the ids "
        "(default: wnid, leaf_id, id, class... or the first). Example: --column wnid",
    ),
    level: Optional[int] = typer.Option(
        None, "--level", "-l",
        help="Relabel each leaf with its ancestor K hops up its path to the root "
        "(0 = the leaf itself; the root once reached). Example: --level 3",
    ),
    levels: Optional[str] = typer.Option(
        None, "--levels",
        help="Several levels in one file, finest first: a range and/or a list. "
        "Example: --levels 0-9  or  --levels 1,3,5",
    ),
    depth: Optional[str] = typer.Option(
        None, "--depth",
        help="Cut the tree D steps below the root instead (leaves shallower than D keep "
        "themselves); a list or range writes several. Example: --depth 4",
    ),
    multi_parent: str = typer.Option(
        "longest", "--multi-parent", autocompletion=_complete(lambda: RULES),
        help="Which path to the root to follow when a class has several: longest, "
        "shortest or first (first-listed parent). Ties go to the parent WordNet lists "
        "first, from the leaf upward. Example: --multi-parent shortest",
    ),
    wordnet: Optional[str] = typer.Option(
        None, "--wordnet", metavar="DIR", envvar="GRANULARITY_WORDNET",
        help="Read WordNet from this dict folder (data.noun, index.noun...) with nltk "
        "instead of the embedded copy; also $GRANULARITY_WORDNET. "
        "Example: --wordnet /usr/share/wordnet",
    ),
    output: Optional[str] = OutputOption,
) -> None:
    """Build a manual hierarchy: relabel classes with their WordNet ancestors.

    Example: granularity build --source wordnet --level 3
    (ImageNet-21k, three levels up, written to imagenet21k.wordnet.level_3.parquet)
    """
    from ..graph import parse_int_list

    if source not in SOURCES:
        raise GranularityError(f"unknown --source {source!r}; choose one of {', '.join(SOURCES)}")
    given = [name for name, v in (("--level", level), ("--levels", levels), ("--depth", depth)) if v is not None]
    if len(given) > 1:
        raise GranularityError(f"give one of --level, --levels, --depth, not {' and '.join(given)}")
    if not given:
        raise GranularityError("say which levels to build: --level K, --levels 0-9 or --depth D")
    if level is not None and level < 0:
        raise GranularityError(f"--level {level} is negative: levels count hops up from the leaves (0, 1, 2...)")
    ks = [level] if level is not None else (parse_int_list(levels, "--levels") if levels is not None else [])
    ds = parse_int_list(depth, "--depth") if depth is not None else []

    from ..sources.wordnet import build_wordnet

    h = build_wordnet(classes=classes, dataset=dataset, levels=ks, depths=ds,
                      multi_parent=multi_parent, wordnet=wordnet, column=column)
    stem = input_stem(classes, dataset or (None if classes else "imagenet21k"), "classes")
    target = resolve_output(output, f"{stem}.{source}.{level_span(h.level_names)}.parquet")
    from ..labelmap import write_label_map

    write_label_map(h, target)
    n = h.num_leaves
    notes = [
        f"{h.metadata['leaves_with_choice']:,} of {n:,} leaves have more than one path to the root; "
        f"followed the {multi_parent} one" + ("" if multi_parent == "first" else " (ties: first-listed parent)")
    ]
    print_level_summary(h, f"{n:,} classes from {stem}, WordNet 3.0", notes, target)
