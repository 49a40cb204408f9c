"""``granularity build``: manual hierarchies (WordNet, taxonomy ranks, parent-child edge lists)."""

from __future__ import annotations

from typing import Optional

import typer

from ..cliutil import (
    OutputOption,
    check_map_output,
    classes_option,
    column_option,
    dataset_option,
    input_stem,
    level_span,
    name_tags,
    print_level_summary,
    resolve_output,
    was_given,
)
from ..errors import GranularityError
from ..manifests import cli_id_list
from ..options import (
    ANCESTOR_RULES,
    MISSING_CLASSES,
    MISSING_RANKS,
    RANK_ID_MODES,
    RULES,
    SOURCES,
    complete,
    one_of,
)


def build(
    ctx: typer.Context,
    source: Optional[str] = typer.Option(
        None, "--source", "-s", autocompletion=complete(SOURCES),
        help="Where the hierarchy comes from: 'wordnet' (WordNet 3.0 nouns, embedded), "
        "'taxonomy' (species ranks: iNat JSON, a rank table or iNat folder names; needs "
        "--taxonomy) or 'edges' (a parent-child list; needs --edges). Default: taxonomy "
        "with --taxonomy, edges with --edges, else wordnet. Example: --source taxonomy",
    ),
    taxonomy: Optional[str] = typer.Option(
        None, "--taxonomy", "-t", metavar="FILE|DIR",
        help="Taxonomy source: an iNat 2021 annotation file (train.json, val.json...), a "
        "CSV/TSV/parquet table with one column per rank, a folder of iNat image folders, or "
        "a text list of their names. Example: --taxonomy train_mini.json",
    ),
    edges: Optional[str] = typer.Option(
        None, "--edges", "-e", metavar="FILE",
        help="Edges source: parent-child pairs, 'parent child' per line (ImageNet's "
        "wordnet.is_a.txt, BREEDS' class_hierarchy.txt), CSV/TSV with parent and child "
        "columns, or parquet; '-' reads stdin. Example: --edges wordnet.is_a.txt",
    ),
    names: Optional[str] = typer.Option(
        None, "--names", metavar="FILE",
        help="Edges source: node names, 'id<TAB>name' per line (ImageNet's words.txt, "
        "BREEDS' node_names.txt) or a CSV/TSV/parquet with id and name columns (id, "
        "LabelName, ...; name, DisplayName, ...), or two columns without a header row "
        "(Open Images' class-descriptions-boxable.csv); ids without a name keep their id. "
        "Example: --names words.txt",
    ),
    names_columns: Optional[str] = typer.Option(
        None, "--names-columns", metavar="ID,NAME",
        help="Edges source: the id and name columns of a CSV/TSV/parquet names file, when "
        "its header uses other names. Example: --names-columns label,class",
    ),
    parent_column: Optional[str] = typer.Option(
        None, "--parent-column", metavar="NAME",
        help="Edges source: the parent column of a CSV/TSV/parquet edge list "
        "(default: parent). Example: --parent-column hypernym",
    ),
    child_column: Optional[str] = typer.Option(
        None, "--child-column", metavar="NAME",
        help="Edges source: the child column of a CSV/TSV/parquet edge list "
        "(default: child). Example: --child-column hyponym",
    ),
    rank_column: Optional[str] = typer.Option(
        None, "--rank-column", metavar="NAME",
        help="Edges source: the column of a CSV/TSV/parquet edge list that holds each child's "
        "rank (default: rank, if present), so that --level can name a rank. "
        "Example: --rank-column taxon_rank",
    ),
    ranks: Optional[str] = typer.Option(
        None, "--ranks", metavar="LIST",
        help="Taxonomy table: the rank columns, coarsest first (default: every column named "
        "after a standard rank above the species, superkingdom/domain, kingdom, phylum, ..., "
        "family, subfamily, tribe, genus; other columns are named in a note). "
        "Example: --ranks kingdom,family,tribe,genus",
    ),
    missing: str = typer.Option(
        "fill", "--missing", autocompletion=complete(MISSING_RANKS),
        help="Taxonomy, and edge lists cut by rank name: what a missing rank becomes: fill "
        "(a group 'unclassified <nearest known ancestor> <rank>'), parent (the leaf stays in "
        "its nearest known ancestor's group at that rank) or error. Example: --missing error",
    ),
    rank_ids: str = typer.Option(
        "path", "--rank-ids", autocompletion=complete(RANK_ID_MODES),
        help="Taxonomy: what identifies a rank's group: path (the ranks above it too, so "
        "the genus Morus of the mulberries and the Morus of the gannets stay two genera) or "
        "name (the rank's value alone, as iNat's own labels and published counts do; the "
        "summary says which names joined and whether the levels still nest). "
        "Example: --rank-ids name",
    ),
    missing_classes: str = typer.Option(
        "error", "--missing-classes", autocompletion=complete(MISSING_CLASSES),
        help="What a class the hierarchy has no place for becomes (absent from the edge list, not "
        "below --root, under none of --ancestors): error (default), own-group (a group of its own "
        "at every level) or drop (outside the label space: null labels, which apply --unknown "
        "treats as unknown); leaf_index stays the class index and the summary counts them. "
        "Example: --missing-classes drop",
    ),
    ancestors: Optional[str] = typer.Option(
        None, "--ancestors", metavar="FILE|IDS",
        help="Label each class by which of these nodes it falls under (a file of ids, one per "
        "line, or a comma-separated list): one level named 'ancestors', instead of --level/--depth. "
        "A class under two of them takes the most specific when one is below the other, else is "
        "an error (see --ancestor-rule); under none: --missing-classes. "
        "Example: --ancestors tiered_categories.txt",
    ),
    ancestor_rule: str = typer.Option(
        "unique", "--ancestor-rule", autocompletion=complete(ANCESTOR_RULES),
        help="With --ancestors, a class under two of them neither below the other: unique (an "
        "error naming them), exclusive (no place for it: --missing-classes; tieredImageNet's rule) "
        "or path (only the path --multi-parent chooses counts; the nearest ancestor on it wins). "
        "Example: --ancestor-rule exclusive",
    ),
    root: Optional[str] = typer.Option(
        None, "--root", metavar="ID",
        help="WordNet and edges: end every path at this node (only paths through it count; depth 0 "
        "is this node); classes not below it follow --missing-classes. "
        "Example: --root n00001930  (physical entity)",
    ),
    prune: bool = typer.Option(
        False, "--prune",
        help="WordNet and edges: drop the nodes with a single child from the classes' tree (the tree "
        "of their chosen paths), so --level and --depth count branching nodes only "
        "(making-better-mistakes' ImageNet-H, with --root n00001930). Example: --prune",
    ),
    label_order: Optional[str] = typer.Option(
        None, "--label-order", metavar="FILE|IDS|from-ids",
        help="Number each level's labels in this order of ids (a file, one per line, or a "
        "comma-separated list; every id of the level listed, and each listed id used) instead of "
        "by first appearance; 'from-ids': the ids are the integers 0..K-1 themselves. "
        "Example: --label-order cifar100_coarse_names.txt",
    ),
    dataset: Optional[str] = dataset_option("when --classes is not given; with --edges no default"),
    classes: Optional[str] = classes_option(
        "Ids are wnids (node ids with --source edges). With --edges and no --classes, the "
        "leaves are the nodes without children, in order of first appearance."),
    column: Optional[str] = column_option(),
    level: Optional[str] = typer.Option(
        None, "--level", "-l",
        help="Relabel each leaf with its ancestor K hops up its path to the root "
        "(0 = the leaf itself; the root once reached); with --source taxonomy, or an edge "
        "list that carries ranks (nodes.dmp, a rank column), a rank name. "
        "Example: --level 3  or  --level genus",
    ),
    levels: Optional[str] = typer.Option(
        None, "--levels",
        help="Several levels in one file, finest first: a range and/or a list; with --source "
        "taxonomy or an edge list with ranks, rank names or 'all'. "
        "Example: --levels 0-9  or  --levels family,order",
    ),
    depth: Optional[str] = typer.Option(
        None, "--depth",
        help="Cut the tree D steps below the root instead (leaves shallower than D keep "
        "themselves); a list or range writes several. Example: --depth 4",
    ),
    multi_parent: str = typer.Option(
        "longest", "--multi-parent", autocompletion=complete(RULES),
        help="Which path to the root to follow when a class has several: longest, "
        "shortest, first (first-listed parent) or last (last-listed parent: MIIL's "
        "ImageNet-21K-P tree, with ImageNet's is-a file). Ties go to the parent WordNet "
        "(or the edge list) lists first, from the leaf upward. Example: --multi-parent last",
    ),
    class_tree: bool = typer.Option(
        False, "--class-tree",
        help="WordNet and edges: count --level hops and --depth steps through your classes "
        "alone: every node that is not a class is skipped, so a class's parent is its "
        "nearest ancestor that is a class (MIIL's semantic tree; classes with no class "
        "above them are depth 0). Example: --class-tree --depth 0-10",
    ),
    wordnet: Optional[str] = typer.Option(
        None, "--wordnet", metavar="DIR", envvar="GRANULARITY_WORDNET",
        help="Read WordNet from this dict folder (data.noun, index.noun...) with nltk "
        "instead of the embedded copy; also $GRANULARITY_WORDNET. "
        "Example: --wordnet /usr/share/wordnet",
    ),
    output: Optional[str] = OutputOption,
) -> None:
    """Build a manual hierarchy: WordNet ancestors, taxonomy ranks or a parent-child list.

    Example: granularity build --source wordnet --level 3
    (ImageNet-21k, three levels up, written to imagenet21k.wordnet.level_3.parquet)

    Example: granularity build --taxonomy train_mini.json --levels all

    Example: granularity build --edges wordnet.is_a.txt --names words.txt --classes in1k.txt --level 3

    Example: granularity build --edges wordnet.is_a.txt --dataset imagenet21k-p-winter21 --multi-parent last --class-tree --depth 0-10
    (MIIL's ImageNet-21K-P semantic levels)
    """
    source = _resolve_source(source, taxonomy, edges)
    check_map_output(output, "build")  # before the work, not after it
    given = [name for name, v in (("--level", level), ("--levels", levels), ("--depth", depth)) if v is not None]
    if len(given) > 1:
        raise GranularityError(f"give one of --level, --levels, --depth, not {' and '.join(given)}")
    _check_unused(ctx, source)
    if given and ancestors is not None:
        raise GranularityError(f"give --ancestors or {given[0]}, not both: --ancestors makes one level of its own")
    shaping = dict(root=root, prune=prune, ancestors=cli_id_list(ancestors), ancestor_rule=ancestor_rule,
                   missing_classes=missing_classes, label_order=cli_id_list(label_order))
    wanted = level if level is not None else levels
    if source == "taxonomy":
        h, name, title = _taxonomy(taxonomy, wanted, missing, ranks, rank_ids, shaping)
    elif source == "edges":
        h, name, title = _edges(edges, classes, dataset, column, names, names_columns, parent_column, child_column,
                                rank_column, wanted, depth, multi_parent, class_tree, missing, shaping)
    else:
        h, name, title = _wordnet(classes, dataset, column, wanted, depth, multi_parent, class_tree, wordnet, shaping)
    target = resolve_output(output, name)
    from ..labelmap import write_label_map

    write_label_map(h, target)
    print_level_summary(h, title, h.summary, target)


def _wordnet(classes, dataset, column, levels, depths, multi_parent, class_tree, wordnet, shaping):
    """``(hierarchy, default output name, summary title)`` of ``--source wordnet``."""
    from ..sources.wordnet import build_wordnet

    h = build_wordnet(classes=classes, dataset=dataset, levels=levels, depths=depths, multi_parent=multi_parent,
                      wordnet=wordnet, column=column, class_tree=class_tree, **shaping)
    stem = input_stem(classes, dataset or (None if classes else "imagenet21k"), "classes")
    tags = name_tags(("multi-parent-", multi_parent, "longest"), ("class-tree", class_tree, False),
                     ("wn-", wordnet and input_stem(wordnet.rstrip("/\\"), None, "dict"), None),
                     *_shaping_tags(shaping))
    return (h, f"{stem}.wordnet.{level_span(h.level_names)}{tags}.parquet",
            f"{h.num_leaves:,} classes from {stem}, WordNet 3.0")


def _taxonomy(taxonomy, levels, missing, ranks, rank_ids, shaping):
    """``(hierarchy, default output name, summary title)`` of ``--source taxonomy``."""
    from ..sources.taxonomy import build_taxonomy

    h = build_taxonomy(taxonomy, levels, missing=missing, ranks=ranks, rank_ids=rank_ids,
                       ancestors=shaping["ancestors"], missing_classes=shaping["missing_classes"],
                       label_order=shaping["label_order"])
    stem = input_stem(taxonomy.rstrip("/\\") if taxonomy != "-" else taxonomy, None, "taxonomy")
    tags = name_tags(("missing-", missing, "fill"), ("ranks-", ranks and "+".join(r.strip() for r in ranks.split(",")), None),
                     ("rank-ids-", rank_ids, "path"), *_shaping_tags(shaping))
    return (h, f"{stem}.taxonomy.{_rank_span(h.level_names)}{tags}.parquet",
            f"{h.num_leaves:,} species from {stem} ({h.metadata['input_format']})")


def _edges(edges, classes, dataset, column, names, names_columns, parent_column, child_column, rank_column,
           levels, depths, multi_parent, class_tree, missing, shaping):
    """``(hierarchy, default output name, summary title)`` of ``--source edges``."""
    from ..sources.edges import build_edges

    h = build_edges(edges, classes=classes, levels=levels, depths=depths, multi_parent=multi_parent, names=names,
                    column=column, parent_column=parent_column, child_column=child_column,
                    class_tree=class_tree, dataset=dataset, names_columns=names_columns,
                    rank_column=rank_column, missing=missing, **shaping)
    stem = input_stem(classes if classes is not None else edges, dataset, "edges")
    tags = name_tags(("multi-parent-", multi_parent, "longest"), ("class-tree", class_tree, False),
                     ("names-", names and input_stem(names, None, "names"), None),
                     ("names-columns-", names_columns and names_columns.replace(",", "+"), None),
                     ("parent-", parent_column, None), ("child-", child_column, None),
                     ("rank-column-", rank_column, None), ("missing-", missing, "fill"), *_shaping_tags(shaping))
    by_rank = "missing" in h.metadata
    span = _rank_span(h.level_names) if by_rank else level_span(h.level_names)
    return h, f"{stem}.edges.{span}{tags}.parquet", f"{h.num_leaves:,} classes from {stem}, edge list"


def _rank_span(names: list[str]) -> str:
    """The default name's part for levels by rank: ``genus``, or ``genus-kingdom``."""
    return names[0] if len(names) == 1 else f"{names[0]}-{names[-1]}"


def _shaping_tags(shaping: dict) -> list[tuple]:
    """Default-name tags of the options that shape the tree (each changes the content)."""
    anc = shaping["ancestors"]
    order = shaping["label_order"]
    return [("root-", shaping["root"], None), ("prune", shaping["prune"], False),
            ("ancestors-", anc and (input_stem(anc, None, "ids") if isinstance(anc, str) else f"{len(anc)}ids"), None),
            ("ancestor-rule-", shaping["ancestor_rule"], "unique"),
            ("missing-classes-", shaping["missing_classes"], "error"),
            ("label-order-", order and (input_stem(order, None, "ids") if isinstance(order, str) else
                                        f"{len(order)}ids"), None)]


def _resolve_source(source: Optional[str], taxonomy: Optional[str], edges: Optional[str]) -> str:
    if taxonomy is not None and edges is not None:
        raise GranularityError("give --taxonomy or --edges, not both")
    if source is None:
        return "taxonomy" if taxonomy is not None else "edges" if edges is not None else "wordnet"
    one_of(source, SOURCES, "--source")
    if source == "taxonomy" and taxonomy is None:
        raise GranularityError("--source taxonomy needs --taxonomy FILE (iNat JSON, a rank table or folder names)")
    if source == "edges" and edges is None:
        raise GranularityError("--source edges needs --edges FILE (parent-child pairs)")
    for opt, value, owner in (("--taxonomy", taxonomy, "taxonomy"), ("--edges", edges, "edges")):
        if value is not None and source != owner:
            raise GranularityError(f"{opt} belongs to --source {owner}, not --source {source}")
    return source


# the options that belong to some sources: parameter -> (option, its sources, why it does not apply elsewhere)
_OWNERS = {
    "dataset": ("--dataset", ("wordnet", "edges"), None),
    "class_tree": ("--class-tree", ("wordnet", "edges"), None),
    "classes": ("--classes", ("wordnet", "edges"), None),
    "names": ("--names", ("edges",), None),
    "names_columns": ("--names-columns", ("edges",), None),
    "rank_column": ("--rank-column", ("edges",), None),
    "parent_column": ("--parent-column", ("edges",), None),
    "child_column": ("--child-column", ("edges",), None),
    "ranks": ("--ranks", ("taxonomy",), None),
    "depth": ("--depth", ("wordnet", "edges"), None),
    "column": ("--column", ("wordnet", "edges"), None),
    "rank_ids": ("--rank-ids", ("taxonomy",), None),
    "root": ("--root", ("wordnet", "edges"), None),
    "prune": ("--prune", ("wordnet", "edges"), None),
    "missing": ("--missing", ("taxonomy", "edges"), "it is for taxonomy, and edge lists cut by rank name"),
    "multi_parent": ("--multi-parent", ("wordnet", "edges"), "a taxonomy is a tree"),
}


def _check_unused(ctx: typer.Context, source: str) -> None:
    """Refuse options given that the chosen source would silently ignore."""
    for key, (opt, sources, why) in _OWNERS.items():
        if source not in sources and was_given(ctx, key):
            raise GranularityError(f"{opt} does not apply to --source {source} "
                                   f"({why or 'it is for ' + ' and '.join(sources)})")
