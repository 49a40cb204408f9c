"""``granularity cluster``: k-means hierarchies over class or sample embeddings."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from ..cliutil import (
    OutputOption,
    classes_option,
    column_option,
    dataset_option,
    check_map_output,
    input_stem,
    name_tags,
    print_level_summary,
    resolve_output,
    safe_name,
    stderr_console,
)
from ..errors import GranularityError
from ..options import DEFAULT_NITER, METRICS


@contextmanager
def _progress():
    """A rich progress display on stderr (hidden when stderr is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    con = stderr_console()
    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=con, transient=True, disable=not con.is_terminal)
    tasks: dict[str, int] = {}
    labels = {"averaging": "averaging samples per class", "seeding": "k-means++ seeding",
              "lloyd": "Lloyd iterations", "groups": "clustering within groups",
              "reading": "reading samples", "splitting": "splitting classes"}

    def update(stage: str, done: int, total: int) -> None:
        tid = tasks.get(stage)
        if tid is None:
            tid = tasks[stage] = prog.add_task(labels.get(stage, stage), total=total)
        task = next(t for t in prog.tasks if t.id == tid)
        if stage in ("seeding", "averaging"):  # these report increments
            if task.finished or task.total != total:
                prog.reset(tid, total=total)
            prog.advance(tid, done)
        else:
            prog.update(tid, completed=done, total=total)

    with prog:
        yield update


def _check_centroids_target(path: Optional[str], ks: list[int]) -> None:
    if path is None:
        return
    if not path.lower().endswith((".npy", ".npz", ".parquet")):
        raise GranularityError(f"--centroids {path!r}: name a .npy, .npz or .parquet file")
    if path.lower().endswith(".npy") and len(ks) > 1:
        raise GranularityError(
            f"--centroids {path!r}: a .npy file holds one level but --k gives {len(ks)}; use .npz or .parquet"
        )
    resolve_output(path, path)


def cluster(
    k: Optional[str] = typer.Option(
        None, "--k", "-k",
        help="Number of clusters; several (comma-separated) make one level each, finest first, "
        "named k<K>. Example: --k 1000  or  --k 1000,100,10",
    ),
    embeddings: Optional[str] = typer.Option(
        None, "--embeddings", "-e", metavar="FILE",
        help="Class embeddings: .npy (one row per class, class-list order, memory-mapped) or "
        "parquet with an id column and a list column or one float column per dimension. "
        "Default: the embedded ImageNet-21k gloss embeddings. Example: --embeddings classes.npy",
    ),
    samples: Optional[str] = typer.Option(
        None, "--samples", metavar="FILE",
        help="Per-sample embeddings, streamed in batches: parquet (a leaf column with leaf ids or "
        "indices, an optional sample id column, the vectors) or a 2-D .npy array with --leaves. "
        "With --k the class means are clustered. Example: --samples feats.parquet",
    ),
    leaves: Optional[str] = typer.Option(
        None, "--leaves", metavar="FILE",
        help="With --samples X.npy: each row's leaf, as a 1-D .npy array (integer leaf indices "
        "or string leaf ids) or text with one leaf id per line. Sample ids are the row numbers. "
        "Example: --samples feats.npy --leaves leaves.npy",
    ),
    split_leaves: Optional[int] = typer.Option(
        None, "--split-leaves", metavar="N",
        help="With --samples: split each class's samples into N k-means sub-clusters and write a "
        "per-sample map (level split_<N>). Example: --samples feats.parquet --split-leaves 4",
    ),
    instance: bool = typer.Option(
        False, "--instance",
        help="With --samples: one label per sample (level 'instance'), as a per-sample map. "
        "Example: --samples feats.parquet --instance",
    ),
    dataset: Optional[str] = dataset_option("for the embedded embeddings and --samples"),
    classes: Optional[str] = classes_option(
        "Parquet embeddings are matched to it by id; without it their own id order is used."),
    column: Optional[str] = column_option(),
    id_column: Optional[str] = typer.Option(
        None, "--id-column",
        help="Id column of parquet embeddings (default: wnid, leaf_id, id, class, ...). "
        "Example: --id-column wnid",
    ),
    embedding_column: Optional[str] = typer.Option(
        None, "--embedding-column",
        help="The list-of-floats column holding the vectors (default: the first one; else every "
        "float column is a dimension). Example: --embedding-column emb",
    ),
    leaf_column: Optional[str] = typer.Option(
        None, "--leaf-column",
        help="Leaf column of --samples: leaf ids or leaf indices (default: leaf, leaf_id, "
        "leaf_index, label, class, ...). Example: --leaf-column label",
    ),
    sample_id_column: Optional[str] = typer.Option(
        None, "--sample-id-column",
        help="Sample id column of --samples (default: sample_id, image, path, ...; else the row "
        "number). Example: --sample-id-column path",
    ),
    flat: bool = typer.Option(
        False, "--flat",
        help="Independent k-means per k instead of a nested tree. Example: --k 1000,100 --flat",
    ),
    metric: str = typer.Option(
        METRICS[0], "--metric",
        help=f"{' or '.join(METRICS)}: cosine is spherical k-means on L2-normalised rows. "
        "Example: --metric cosine",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the seeding and subsampling. Example: --seed 1"),
    niter: int = typer.Option(
        DEFAULT_NITER, "--niter",
        help="Lloyd iterations (run by faiss, from the k-means++ seeds). Example: --niter 25",
    ),
    threads: Optional[int] = typer.Option(
        None, "--threads", metavar="N",
        help="Threads for the seeding and faiss (default: every available core; recorded in the "
        "metadata). The same seed and thread count give byte-identical output. Example: --threads 8",
    ),
    gpu: bool = typer.Option(
        False, "--gpu",
        help="Run the Lloyd iterations on the GPUs, with faiss's own GPU option; needs a faiss "
        "build with GPU support (faiss-gpu). Example: --k 10000 --gpu",
    ),
    within: Optional[str] = typer.Option(
        None, "--within", metavar="MAP:LEVEL",
        help="Cluster separately inside each group of a level of a label map (clusters never cross "
        "it); k is shared in proportion to group size, at least 1 each. "
        "Example: --within in21k.wordnet.level_3.parquet:level_3",
    ),
    centroids: Optional[str] = typer.Option(
        None, "--centroids", metavar="PATH",
        help="Also save the centroids (rows by label): .npy for one level, .npz (one array per "
        "level) or .parquet (level, label, id, name, centroid). Example: --centroids k1000.npy",
    ),
    output: Optional[str] = OutputOption,
) -> None:
    """Group classes (or samples) by k-means on embeddings; levels are named k<K>.

    Example: granularity cluster --k 1000
    (the embedded ImageNet-21k class embeddings, written to imagenet21k.cluster.k1000.parquet)
    """
    from ..methods.cluster import cluster_hierarchy, parse_ks, save_centroids

    check_map_output(output, "cluster")
    per_sample = instance or split_leaves is not None
    if instance and split_leaves is not None:
        raise GranularityError("give --split-leaves N or --instance, not both")
    if per_sample and samples is None:
        raise GranularityError(
            f"{'--instance' if instance else '--split-leaves'} needs per-sample input: --samples FILE"
        )
    if samples is not None and embeddings is not None:
        raise GranularityError("give --embeddings or --samples, not both")
    if leaves is not None and samples is None:
        raise GranularityError("--leaves gives the leaf of each row of --samples FILE.npy: give --samples too")
    if k is None and not per_sample:
        raise GranularityError("say how many clusters: --k 1000 (or several: --k 1000,100,10)")
    if per_sample and centroids is not None and k is None:
        raise GranularityError("--centroids saves the centroids of --k levels: give --k too")
    ks = parse_ks(k) if k is not None else []
    _check_centroids_target(centroids, ks)
    src = samples or embeddings
    stem = input_stem(classes if classes else src, dataset or (None if (classes or src) else "imagenet21k"),
                      "classes")
    tags = name_tags(("flat", flat, False), ("metric-", metric, "l2"), ("seed", seed, 0), ("niter", niter, 10),
                     ("within-", within and input_stem(Path(within).name.replace(".parquet:", "-"), None, "map"), None),
                     ("emb-", (classes or dataset) and src and input_stem(src, None, "embeddings"), None))
    if per_sample:
        kind = "instance" if instance else f"split_{split_leaves}"
        default = f"{stem}.{kind}" + (f".{'+'.join(f'k{v}' for v in ks)}" if ks else "") + f"{tags}.parquet"
    else:
        default = f"{stem}.cluster.{'+'.join(f'k{v}' for v in ks)}{tags}.parquet"
    target = resolve_output(output, safe_name(default) if output is None else default)

    with _progress() as progress:
        result = None
        if ks:
            result = cluster_hierarchy(
                embeddings, ks, classes=classes, dataset=dataset, column=column, id_column=id_column,
                embedding_column=embedding_column, samples=samples, leaf_column=leaf_column,
                leaves=leaves, flat=flat, metric=metric, seed=seed, niter=niter, within=within,
                threads=threads, gpu=gpu, progress=progress,
            )
        if per_sample:
            from ..methods.cluster import instance_map, split_leaves_map

            leaf_levels = result.hierarchy.levels if result else []
            extra = {}
            if result is not None:
                extra = {"leaf_levels": {kk: v for kk, v in result.hierarchy.metadata.items()
                                         if kk not in ("classes", "samples")}}
            if instance:
                table = instance_map(samples, classes=classes, dataset=dataset, column=column,
                                       leaf_column=leaf_column, sample_id_column=sample_id_column,
                                       leaf_levels=leaf_levels, extra_meta=extra, leaves=leaves)
            else:
                table = split_leaves_map(
                    samples, split_leaves, classes=classes, dataset=dataset, column=column,
                    leaf_column=leaf_column, sample_id_column=sample_id_column,
                    embedding_column=embedding_column, metric=metric, seed=seed, niter=niter,
                    threads=threads, gpu=gpu, leaf_levels=leaf_levels, extra_meta=extra, progress=progress, leaves=leaves)
    from ..labelmap import write_label_map

    if per_sample:
        table.write(target)
    else:
        write_label_map(result.hierarchy, target)
    if centroids is not None and result is not None:
        save_centroids(result, centroids)
    con = stderr_console()
    for note in (result.warnings if result else []) + (table.warnings if per_sample else []):
        con.print(f"warning: {note}", markup=False, highlight=False, soft_wrap=True)

    if per_sample:
        _print_sample_summary(table.metadata, target)
        return
    h = result.hierarchy
    notes = [f"inertia ({metric}): " + ", ".join(f"{n} {v:,.6g}" for n, v in result.inertia.items())]
    if within:
        notes.append(f"clustered within the groups of {within}")
    if centroids:
        notes.append(f"centroids saved to {centroids}")
    kind = "flat" if flat else "nested"
    where = "GPU" if gpu else f"{h.metadata['threads']} threads"
    print_level_summary(h, f"{h.num_leaves:,} classes, k-means ({kind}, {metric}, seed {seed}, {where})",
                        notes, target)


def _print_sample_summary(meta: dict, target: str) -> None:
    from rich.table import Table

    out = Table(title=f"{meta['num_samples']:,} samples of {meta['num_leaves']:,} classes",
                title_justify="left", show_edge=False, pad_edge=False)
    out.add_column("level")
    out.add_column("labels", justify="right")
    for name in meta["levels"]:
        out.add_row(name, f"{meta['num_classes'][name]:,}")
    con = stderr_console()
    con.print(out)
    if target != "-":
        con.print(f"wrote {target}")
