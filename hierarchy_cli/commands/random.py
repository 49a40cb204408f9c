"""``granularity random``: random hierarchies, the control for label granularity."""

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
    name_tags,
    print_level_summary,
    resolve_output,
    safe_name,
    was_given,
)
from ..errors import GranularityError
from ..options import LEAF_NAMES, SIZES


def random(
    ctx: typer.Context,
    k: Optional[str] = typer.Option(
        None, "--k", "-k", metavar="K[,K...]",
        help="Randomly partition the leaves into K non-empty groups; a list writes one level "
        "per K, finest first (nested unless --independent). Example: --k 1000,100",
    ),
    like: Optional[str] = typer.Option(
        None, "--like", metavar="MAP[:LEVEL,...]",
        help="Copy a reference label map's structure with the leaves shuffled: every level "
        "(or only the named ones) keeps its group sizes and the nesting between levels. "
        "Example: --like in1k.wordnet.parquet:level_3",
    ),
    dataset: Optional[str] = dataset_option("when neither --classes nor --like is given"),
    classes: Optional[str] = classes_option(),
    column: Optional[str] = column_option(),
    seed: int = typer.Option(
        0, "--seed",
        help="Seed of numpy's default_rng; the same seed gives a byte-identical file. "
        "Example: --seed 7",
    ),
    sizes: str = typer.Option(
        SIZES[0], "--sizes",
        help="Group sizes for --k: 'balanced' (N//K or N//K+1 leaves each) or 'multinomial' "
        "(K random leaves start the groups, every other leaf joins one uniformly at random). "
        "Example: --sizes multinomial",
    ),
    independent: bool = typer.Option(
        False, "--independent",
        help="With several K, draw every level independently from the leaves instead of "
        "grouping the finer level's groups (the levels are then not nested). "
        "Example: --k 1000,100 --independent",
    ),
    leaf_names: str = typer.Option(
        LEAF_NAMES[0], "--leaf-names",
        help="leaf_name column: 'auto' (WordNet's first lemma when every id is a WordNet noun "
        "wnid, else the id), 'id' or 'wordnet'. Example: --leaf-names id",
    ),
    output: Optional[str] = OutputOption,
) -> None:
    """Draw a random hierarchy: K random groups, or a reference's shape with shuffled leaves.

    Example: granularity random --dataset imagenet1k --k 100 --seed 1
    (writes imagenet1k.random_k100.seed1.parquet)
    """
    from ..grammar import MapSpec
    from ..labelmap import write_label_map
    from ..methods.random import random_hierarchy

    check_map_output(output, "random")
    if like is not None and (was_given(ctx, "sizes") or was_given(ctx, "independent")):
        raise GranularityError("--sizes and --independent apply to --k; --like copies the reference's sizes")
    if like is not None and was_given(ctx, "leaf_names"):
        raise GranularityError("--leaf-names applies to --k; --like keeps the reference's leaf names")
    h = random_hierarchy(classes=classes, dataset=dataset, k=k, like=like, seed=seed, sizes=sizes,
                         nested=not independent, leaf_names=leaf_names, column=column)
    class_meta = h.metadata.get("classes")
    if class_meta is None:  # the leaves are the --like reference's
        stem = input_stem(MapSpec.parse(like, "--like").path, None, "reference")
    else:
        stem = input_stem(classes, class_meta.get("dataset"), "classes")
    span = "+".join(h.level_names) if len(h.level_names) <= 3 else f"{h.level_names[0]}-{h.level_names[-1]}"
    tags = name_tags(("sizes-", sizes, SIZES[0]), ("independent", independent, False),
                     ("leaf-names-", leaf_names, LEAF_NAMES[0]))
    target = resolve_output(output, f"{stem}.{safe_name(span)}.seed{seed}{tags}.parquet")
    write_label_map(h, target)
    print_level_summary(h, f"random hierarchy over {h.num_leaves:,} leaves", h.summary, target)
