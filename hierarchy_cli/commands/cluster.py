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
    from ..grammar import parse_k_list
    from ..methods.cluster import cluster_hierarchy

    check_map_output(output, "cluster")
    _check_inputs(samples, embeddings, split_leaves, instance, k, centroids)
    ks = parse_k_list(k) if k is not None else []
    _check_centroids_target(centroids, ks)
    kind = "instance" if instance else None if split_leaves is None else f"split_{split_leaves}"
    src = samples or embeddings
    tags = name_tags(("flat", flat, False), ("metric-", metric, METRICS[0]), ("seed", seed, 0),
                     ("niter", niter, DEFAULT_NITER),
                     ("within-", within and input_stem(Path(within).name.replace(".parquet:", "-"), None, "map"), None),
                     ("emb-", (classes or dataset) and src and input_stem(src, None, "embeddings"), None))
    target = resolve_output(output, _default_name(classes, dataset, src, kind, ks, tags))
    inputs = dict(classes=classes, dataset=dataset, column=column, leaf_column=leaf_column, leaves=leaves)
    params = dict(metric=metric, seed=seed, niter=niter, threads=threads, gpu=gpu)
    with _progress() as progress:
        result = sample_map = None
        if ks:
            result = cluster_hierarchy(embeddings, ks, **inputs, id_column=id_column,
                                       embedding_column=embedding_column, samples=samples, flat=flat,
                                       within=within, **params, progress=progress)
        if kind is not None:
            sample_map = _sample_map(result, samples, split_leaves, inputs, params, sample_id_column,
                                     embedding_column, progress)
    _write(result, sample_map, target, centroids)
    _print_summary(result, sample_map, centroids, target)


def _check_inputs(samples, embeddings, split_leaves, instance, k, centroids) -> None:
    """Refuse, before any work, the combinations of inputs the command cannot run (the
    API checks the rest: what it is given, it checks once)."""
    per_sample = instance or split_leaves is not None
    if instance and split_leaves is not None:
        raise GranularityError("give --split-leaves N or --instance, not both")
    if per_sample and samples is None:
        raise GranularityError(
            f"{'--instance' if instance else '--split-leaves'} needs per-sample input: --samples FILE"
        )
    if per_sample and embeddings is not None:
        raise GranularityError("give --embeddings or --samples, not both")
    if k is None and not per_sample:
        raise GranularityError("say how many clusters: --k 1000 (or several: --k 1000,100,10)")
    if per_sample and centroids is not None and k is None:
        raise GranularityError("--centroids saves the centroids of --k levels: give --k too")


def _default_name(classes, dataset, src, kind: Optional[str], ks: list[int], tags: str) -> str:
    """The output's default name: the class list (or input) stem, the per-sample level
    ``kind`` and the levels, and the tags of the options that change the content."""
    from ..manifests import DEFAULT_DATASET

    stem = input_stem(classes if classes else src, dataset or (None if (classes or src) else DEFAULT_DATASET),
                      "classes")
    levels = "+".join(f"k{v}" for v in ks)
    if kind is not None:
        name = f"{stem}.{kind}" + (f".{levels}" if ks else "") + f"{tags}.parquet"
    else:
        name = f"{stem}.cluster.{levels}{tags}.parquet"
    return safe_name(name)


def _sample_map(result, samples, split_leaves: Optional[int], inputs: dict, params: dict,
                sample_id_column: Optional[str], embedding_column: Optional[str], progress):
    """The per-sample map (``--split-leaves`` or ``--instance``), carrying the levels of
    ``result`` (the ``--k`` hierarchy, or ``None``) to each sample."""
    from ..methods.sample_maps import instance_map, split_leaves_map

    leaf_levels, extra = [], {}
    if result is not None:
        leaf_levels = result.hierarchy.levels
        extra = {"leaf_levels": {key: v for key, v in result.hierarchy.metadata.items()
                                 if key not in ("classes", "samples")}}
    if split_leaves is None:
        return instance_map(samples, **inputs, sample_id_column=sample_id_column,
                            leaf_levels=leaf_levels, extra_meta=extra)
    return split_leaves_map(samples, split_leaves, **inputs, sample_id_column=sample_id_column,
                            embedding_column=embedding_column, **params, leaf_levels=leaf_levels,
                            extra_meta=extra, progress=progress)


def _write(result, sample_map, target: str, centroids: Optional[str]) -> None:
    """Write the label map (the per-sample one when made) and the centroids when asked."""
    from ..labelmap import write_label_map
    from ..methods.cluster import save_centroids

    if sample_map is not None:
        sample_map.write(target)
    else:
        write_label_map(result.hierarchy, target)
    if centroids is not None and result is not None:
        save_centroids(result, centroids)


def _print_summary(result, sample_map, centroids: Optional[str], target: str) -> None:
    """The warnings, then the levels and the builder's notes, on stderr."""
    con = stderr_console()
    for note in (result.warnings if result else []) + (sample_map.warnings if sample_map else []):
        con.print(f"warning: {note}", markup=False, highlight=False, soft_wrap=True)
    if sample_map is not None:
        _print_sample_summary(sample_map.metadata, target)
        return
    h = result.hierarchy
    meta = h.metadata
    notes = [*h.summary, *([f"centroids saved to {centroids}"] if centroids else [])]
    kind = "nested" if meta["nested"] else "flat"
    where = "GPU" if meta["gpu"] else f"{meta['threads']} threads"
    print_level_summary(h, f"{h.num_leaves:,} classes, k-means ({kind}, {meta['metric']}, seed {meta['seed']}, "
                        f"{where})", notes, target)


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
