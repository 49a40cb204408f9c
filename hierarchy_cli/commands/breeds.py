"""``granularity breeds``: BREEDS' subpopulation-shift tasks from BREEDS' hierarchy files."""

from __future__ import annotations

from typing import Optional

import typer

from ..cliutil import OutputOption, print_level_summary, resolve_output, safe_name
from ..errors import GranularityError
from ..options import BREEDS_SPLITS, BREEDS_TASKS, complete


def breeds(
    task: Optional[str] = typer.Argument(
        None, autocompletion=complete(BREEDS_TASKS),
        help="A standard BREEDS task: entity13 (level 3, 20 classes per superclass), entity30 "
        "(level 4, 8), living17 (level 5 below n00004258, 4) or nonliving26 (level 5 below "
        "n00021939, 4). Leave it out and give --level for a task of your own. Example: living17",
    ),
    hierarchy_dir: str = typer.Option(
        ..., "--hierarchy-dir", "-H", metavar="DIR",
        help="The folder with BREEDS' class_hierarchy.txt, node_names.txt and "
        "dataset_class_info.json (BREEDS-Benchmarks' imagenet_class_hierarchy/modified). "
        "Example: --hierarchy-dir breeds/modified",
    ),
    split: str = typer.Option(
        "rand", "--split", autocompletion=complete(BREEDS_SPLITS),
        help="How each superclass's classes are split into source and target halves: rand "
        "(random, BREEDS' benchmarks), good (similar classes on both sides), bad (similar "
        "classes on one side) or none (no split: every chosen class is source). "
        "Example: --split good",
    ),
    seed: int = typer.Option(
        2, "--seed",
        help="Seed of the numpy.random.RandomState shared by every superclass, as BREEDS "
        "draws (the standard tasks use 2). Example: --seed 2",
    ),
    level: Optional[int] = typer.Option(
        None, "--level", "-l",
        help="Your own task: superclasses are the nodes at this level (longest path from the "
        "root). Example: --level 4",
    ),
    ancestor: Optional[str] = typer.Option(
        None, "--ancestor", metavar="WNID",
        help="Your own task: only superclasses below this node. Example: --ancestor n00004258",
    ),
    subclasses: Optional[int] = typer.Option(
        None, "--subclasses", "-n", metavar="N",
        help="Your own task: classes per superclass (superclasses with fewer are left out; even "
        "when split). Default: the smallest superclass's count, rounded down to even. "
        "Example: --subclasses 6",
    ),
    root: str = typer.Option(
        "n00001740", "--root", metavar="WNID",
        help="The node levels are counted from (BREEDS: entity, n00001740). Example: --root n00001740",
    ),
    output: Optional[str] = OutputOption,
) -> None:
    """Build a BREEDS task: superclasses over ImageNet classes, with the source/target split.

    One row per class of the task, in ImageNet class-index order: leaf_index is the
    task's own class index, imagenet_index the class's ImageNet index, split says
    source or target, superclass is the label.

    Example: granularity breeds living17 --hierarchy-dir breeds/modified
    (writes breeds.living17.rand.parquet)

    Example: granularity breeds --level 4 --ancestor n00004258 --subclasses 6 --split good -H breeds/modified
    """
    from ..sources.breeds import build_breeds

    given = [o for o, v in (("--level", level), ("--ancestor", ancestor), ("--subclasses", subclasses)) if v is not None]
    if task is not None and given:
        raise GranularityError(f"task {task!r} fixes {', '.join(given)}: give a TASK or --level, not both")
    if task is None and level is None:
        raise GranularityError("say which task: entity13, entity30, living17, nonliving26, or --level L")
    h = build_breeds(hierarchy_dir, task, level=level, ancestor=ancestor, subclasses=subclasses,
                     split=split, seed=seed, root=root)
    name = task if task is not None else f"level_{level}" + (f".{ancestor}" if ancestor else "")
    target = resolve_output(output, f"breeds.{safe_name(name)}.{split}.parquet")
    from ..labelmap import write_label_map

    write_label_map(h, target)
    print_level_summary(h, f"BREEDS {task or 'task'}: {h.num_leaves:,} classes", h.summary, target)
