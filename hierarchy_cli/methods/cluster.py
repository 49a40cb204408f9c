"""Clustering-based hierarchies: k-means levels over the leaf classes' embeddings.

:func:`cluster_hierarchy` (and its short form :func:`build_cluster`) groups the
leaf classes by k-means on their embeddings (:func:`~.embeddings.load_leaf_embeddings`
finds them) and returns the same :class:`~hierarchy_cli.hierarchy.Hierarchy` as
every other builder, with levels named ``k<K>``. Per-sample maps, finer than the
leaves, are :mod:`.sample_maps`'s.

Nested levels (``ks=[1000, 100, 10]``): the finest level clusters the leaves;
each coarser one clusters the finer level's centroids, weighted by how many
leaves each holds, so every coarse group is a union of finer groups. ``flat=True``
runs an independent k-means per k instead.

``within=(labels, ...)`` clusters separately inside each group of a reference
level. k is shared among the groups in proportion to their number of leaves,
each group getting at least 1 and at most as many clusters as it has points,
with largest-remainder rounding so that the shares add up to k exactly
(:func:`share_k`).

Each cluster is named after the member leaf nearest its centroid; its id is
``k<K>_c<label>``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..arrays import int_array, string_array
from ..errors import GranularityError, offenders
from ..grammar import parse_k_list as parse_ks
from ..options import DEFAULT_NITER
from ..sources.wordnet import leaf_names
from .embeddings import load_leaf_embeddings
from .kmeans import check_params, derived_seed, fit_clusters, normalize_rows

Progress = Optional[Callable[[str, int, int], None]]


def share_k(sizes: np.ndarray, k: int, caps: Optional[np.ndarray] = None) -> np.ndarray:
    """Split ``k`` clusters among groups of ``sizes`` points.

    Each group's share is proportional to its size, at least 1 and at most its
    cap (default: its size), rounded by largest remainder so the shares sum to
    ``k``; ties go to the earlier group. Needs ``len(sizes) <= k <= sum(caps)``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    caps = sizes.copy() if caps is None else np.asarray(caps, dtype=np.int64)
    g = sizes.size
    if k < g:
        raise GranularityError(f"k = {k} is smaller than the number of groups ({g}): each group needs a cluster")
    if k > int(caps.sum()):
        raise GranularityError(f"k = {k} is larger than the number of points ({int(caps.sum()):,})")
    quota = k * sizes / sizes.sum()
    share = np.clip(np.floor(quota).astype(np.int64), 1, caps)
    idx = np.arange(g)
    while share.sum() != k:
        rem = quota - share
        diff = k - int(share.sum())
        if diff > 0:
            ok = share < caps
            order = np.lexsort((idx, -rem))  # largest remainder first, then earlier group
            order = order[ok[order]]
            share[order[:diff]] += 1
        else:
            ok = share > 1
            order = np.lexsort((idx[::-1], rem))  # most over-served first
            order = order[ok[order]]
            share[order[:-diff]] -= 1
    return share


# ----------------------------------------------------------------------------- clustering core


@dataclass
class LevelResult:
    k: int
    labels: np.ndarray  # per leaf, raw cluster ids 0..m-1 (no empty cluster)
    centroids: np.ndarray  # (m, d)
    inertia: float  # over the leaves, squared distance to their own level centroid


def _compact(labels: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used, inv = np.unique(labels, return_inverse=True)
    return inv.astype(np.int64).ravel(), centroids[used]


def cluster_levels(
    x: np.ndarray,
    ks: Sequence[int],
    *,
    metric: str = "l2",
    seed: int = 0,
    niter: int = DEFAULT_NITER,
    flat: bool = False,
    groups: Optional[np.ndarray] = None,
    threads: int = 1,
    gpu: bool = False,
    progress: Progress = None,
) -> list[LevelResult]:
    """k-means levels of the rows of ``x`` (leaves), finest first.

    Nested unless ``flat``; with ``groups`` (one group label per leaf, 0..G-1)
    each level is clustered separately inside each group (k shared by
    :func:`share_k`). A level may hold fewer than k clusters when k-means leaves
    some empty (more clusters than distinct points): ``LevelResult.centroids``
    has one row per cluster made. The k-means parameters are taken as checked
    (:func:`~.kmeans.check_params`, which :func:`cluster_hierarchy` calls).
    """
    n = x.shape[0]
    ks = list(ks)
    if ks and ks[0] > n:
        raise GranularityError(f"k = {ks[0]} is larger than the number of points ({n:,} classes)")
    x = normalize_rows(x) if metric == "cosine" else np.ascontiguousarray(x, dtype=np.float32)
    g = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    ng = int(g.max()) + 1 if n else 0
    leaf_sizes = np.bincount(g, minlength=ng)
    fit = functools.partial(fit_clusters, metric=metric, niter=niter, nthreads=threads, gpu=gpu)
    out: list[LevelResult] = []
    # the current points: leaves, or the previous level's clusters (nested)
    pts, pts_w, pts_group, leaf_to_pt = x, None, g, np.arange(n, dtype=np.int64)
    for li, k in enumerate(ks):
        if flat:
            pts, pts_w, pts_group, leaf_to_pt = x, None, g, np.arange(n, dtype=np.int64)
        npts = pts.shape[0]
        if k > npts:
            prev = f"k{ks[li - 1]} clusters" if li and not flat else "points"
            raise GranularityError(f"k = {k} is larger than the number of {prev} ({npts:,})")
        caps = np.bincount(pts_group, minlength=ng)
        shares = share_k(leaf_sizes, k, caps) if ng > 1 else np.array([k])
        labels, centroids = _fit_groups(fit, pts, pts_w, pts_group, ng, shares, seed, k, progress)
        leaf_lab = labels[leaf_to_pt]
        diff = x - centroids[leaf_lab]
        inertia = float(np.einsum("ij,ij->i", diff, diff).astype(np.float64).sum())
        out.append(LevelResult(k, leaf_lab, centroids, inertia))
        if not flat:
            cw = np.ones(npts) if pts_w is None else pts_w
            new_w = np.bincount(labels, weights=cw, minlength=centroids.shape[0])
            new_group = np.empty(centroids.shape[0], dtype=np.int64)
            new_group[labels] = pts_group
            pts, pts_w, pts_group, leaf_to_pt = centroids, new_w, new_group, leaf_lab
    return out


def _fit_groups(fit, pts: np.ndarray, pts_w: Optional[np.ndarray], pts_group: np.ndarray, ng: int,
                shares: np.ndarray, seed: int, k: int, progress: Progress) -> tuple[np.ndarray, np.ndarray]:
    """One level: ``shares[g]`` clusters of the points of each group ``g`` (each group with
    its own seed, drawn from ``seed`` and ``k``), numbered group after group; the labels
    per point and the centroids (float32) by label."""
    npts = pts.shape[0]
    labels = np.empty(npts, dtype=np.int64)
    cents = []
    offset = 0
    for gi in range(ng):
        members = np.flatnonzero(pts_group == gi) if ng > 1 else np.arange(npts)
        wsub = None if pts_w is None else pts_w[members]
        gseed = seed if ng == 1 else derived_seed(seed, k, gi)
        lab, c = fit(pts[members], int(shares[gi]), weights=wsub, seed=gseed,
                     progress=progress if ng == 1 else None)
        lab, c = _compact(lab, c)
        labels[members] = lab + offset
        offset += c.shape[0]
        cents.append(c)
        if progress and ng > 1:
            progress("groups", gi + 1, ng)
    return labels, np.concatenate(cents).astype(np.float32)


def nearest_members(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """For each cluster, the index of its member row nearest the centroid (ties: lowest index)."""
    diff = x - centroids[labels]
    dist = np.einsum("ij,ij->i", diff, diff)
    order = np.lexsort((np.arange(len(labels)), dist, labels))
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    best = np.empty(centroids.shape[0], dtype=np.int64)
    best[labels[order][first]] = order[first]
    return best


def make_level(name: str, k: int, leaf_lab: np.ndarray, centroids: np.ndarray, x: np.ndarray,
               leaf_names: Sequence[str], id_prefix: Optional[str] = None):
    """A :class:`Level` (labels by first appearance, ids ``k<K>_c<j>``) and its centroids by label."""
    from ..hierarchy import Level, first_appearance_labels

    labels, firsts = first_appearance_labels(leaf_lab)
    raw_of_label = leaf_lab[firsts]
    near = nearest_members(x, leaf_lab, centroids)
    prefix = id_prefix or name
    ids = tuple(f"{prefix}_c{j}" for j in range(len(firsts)))
    names = tuple(str(leaf_names[int(near[r])]) for r in raw_of_label.tolist())
    return Level(name, labels, ids, names), centroids[raw_of_label]


# ----------------------------------------------------------------------------- the API


@dataclass
class ClusterResult:
    """The hierarchy, the centroids of each level (rows by label) and the inertias."""

    hierarchy: Any
    centroids: dict[str, np.ndarray] = field(default_factory=dict)
    inertia: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. a level with fewer than k clusters


def _within_groups(within, class_ids: Sequence[str]) -> tuple[np.ndarray, dict, str]:
    """Group label per leaf from ``(LabelMap, level)``, ``"MAP:LEVEL"`` or an array; its
    metadata; and what the summary calls it."""
    from ..hierarchy import first_appearance_labels

    if isinstance(within, np.ndarray) or isinstance(within, list):
        arr = np.asarray(within, dtype=np.int64)
        if arr.shape != (len(class_ids),):
            raise GranularityError(f"within: {arr.shape[0]} group labels for {len(class_ids)} classes")
        lab, _ = first_appearance_labels(arr)
        return lab.astype(np.int64), {"name": "<array>"}, "the given group labels"
    lm, level, spec = _within_level(within)
    map_ids = lm.leaf_ids
    pos = {x: i for i, x in enumerate(map_ids)}
    missing = [(x, f"class {i}") for i, x in enumerate(class_ids) if x not in pos]
    if missing:
        raise GranularityError(offenders(missing, "classes not in the --within map", repr(spec)))
    lookup = lm.lookup(level, outside=-1)
    g = lookup[np.fromiter((pos[x] for x in class_ids), dtype=np.int64, count=len(class_ids))]
    if (g < 0).any():
        i = int(np.flatnonzero(g < 0)[0])
        raise GranularityError(
            f"--within {spec!r}: {int((g < 0).sum()):,} classes are outside level {level!r} (null labels), "
            f"first {class_ids[i]!r} (class {i}): every class needs a group to cluster within")
    lab, _ = first_appearance_labels(g)
    meta = {"level": level, "name": os.path.basename(str(lm.source)), "sha256": lm.sha256}
    return lab.astype(np.int64), meta, spec


def _within_level(within) -> tuple[Any, str, str]:
    """``(LabelMap, level, spec)`` of ``"MAP:LEVEL"`` (read) or ``(LabelMap, level)``."""
    if not isinstance(within, str):
        lm, level = within
        return lm, level, f"{lm.source}:{level}"
    from ..grammar import read_map_level

    lm, level = read_map_level(within, "--within")
    if level is None:
        raise GranularityError(f"--within {within!r}: say which level, as MAP:LEVEL (levels: {', '.join(lm.levels)})")
    return lm, level, within


def cluster_hierarchy(
    embeddings: str | os.PathLike | np.ndarray | None = None,
    k: str | int | Sequence[int] = 1000,
    *,
    classes: Sequence[str] | str | os.PathLike | None = None,
    dataset: Optional[str] = None,
    column: Optional[str] = None,
    id_column: Optional[str] = None,
    embedding_column: Optional[str] = None,
    samples: str | os.PathLike | None = None,
    leaf_column: Optional[str] = None,
    leaves: str | os.PathLike | None = None,
    flat: bool = False,
    metric: str = "l2",
    seed: int = 0,
    niter: int = DEFAULT_NITER,
    within=None,
    threads: Optional[int] = None,
    gpu: bool = False,
    progress: Progress = None,
) -> ClusterResult:
    """Group the leaf classes by k-means on their embeddings.

    ``embeddings``: a ``.npy`` / parquet path, an array (one row per class), or
    ``None`` for the embedded ImageNet-21k default; or ``samples``: a per-sample
    parquet file, or ``.npy`` array with ``leaves`` (each row's leaf), whose class
    means are clustered. ``classes``/``dataset`` give
    the class list (``classes`` a list or a file; ``column`` its column);
    parquet rows are matched to it by ``id_column``. ``k``: one or several k
    (``"1000,100,10"``), nested unless ``flat``. ``within``: ``"MAP:LEVEL"``,
    ``(LabelMap, level)`` or one group label per class. Returns a
    :class:`ClusterResult` whose ``hierarchy`` is validated (and nested when
    built nested), its ``summary`` the inertias (and the groups clustered within).
    ``threads`` (default: every available core) and ``gpu``: see
    :func:`~hierarchy_cli.methods.kmeans.kmeans`. A level that ends with fewer than
    its k clusters is recorded in the metadata (``clusters_made``) and in
    ``ClusterResult.warnings``.
    """
    from ..hierarchy import Hierarchy

    ks = parse_ks(k, "k")
    nthreads = check_params(metric=metric, seed=seed, niter=niter, threads=threads, gpu=gpu)
    ids, x, meta, where = load_leaf_embeddings(
        embeddings, classes, dataset, column, id_column, samples, leaf_column, embedding_column,
        progress=progress, leaves=leaves)
    if ks[0] > len(ids):
        raise GranularityError(f"k = {ks[0]} is larger than the number of points ({len(ids):,} classes in {where})")
    groups = spec = None
    if within is not None:
        groups, wmeta, spec = _within_groups(within, ids)
        meta["within"] = wmeta
    levels = cluster_levels(x, ks, metric=metric, seed=seed, niter=niter, flat=flat, groups=groups,
                            threads=nthreads, gpu=gpu, progress=progress)
    names = leaf_names(ids)[0]
    lvls, cents, inertia, made, warnings = _named_levels(levels, x, metric, names)
    if made:
        meta["clusters_made"] = made
    meta.update({
        "method": "cluster",
        "engine": "greedy k-means++ seeding, faiss Lloyd iterations",
        "threads": nthreads,
        "gpu": gpu,
        "k": ks,
        "nested": not flat,
        "metric": metric,
        "seed": seed,
        "niter": niter,
        "inertia": {n: float(f"{v:.7g}") for n, v in inertia.items()},
        "dims": int(x.shape[1]),
    })
    summary = [f"inertia ({metric}): " + ", ".join(f"{n} {v:,.6g}" for n, v in inertia.items())]
    if spec is not None:
        summary.append(f"clustered within the groups of {spec}")
    h = Hierarchy(list(ids), names, lvls, meta, nested=not flat, summary=summary)
    h.validate()
    return ClusterResult(h, cents, inertia, warnings)


def _named_levels(levels: list[LevelResult], x: np.ndarray, metric: str, names: Sequence[str]):
    """``(levels, centroids, inertia, made, warnings)``: the :class:`Level` of each result
    (named ``k<K>``, clusters named after their member nearest the centroid), the centroids
    (rows by label) and inertia by level name, and the levels that hold fewer than their k
    clusters (name: clusters made), with a warning for each."""
    xs = normalize_rows(x) if metric == "cosine" else x
    lvls, cents, inertia, made, warnings = [], {}, {}, {}, []
    for lr in levels:
        name = f"k{lr.k}"
        lv, c = make_level(name, lr.k, lr.labels, lr.centroids, xs, names)
        lvls.append(lv)
        cents[name] = c
        inertia[name] = lr.inertia
        if lv.num_classes < lr.k:
            made[name] = lv.num_classes
            warnings.append(_short_level_note(name, lr.k, lv.num_classes, xs))
    return lvls, cents, inertia, made, warnings


def _short_level_note(name: str, k: int, made: int, x: np.ndarray) -> str:
    """Why level ``name`` holds ``made`` clusters instead of ``k``, in one line."""
    distinct = np.unique(x, axis=0).shape[0]
    why = (f"the embeddings hold only {distinct:,} distinct rows" if distinct < k
           else "k-means left some clusters empty")
    return f"level {name} has {made:,} clusters, not the {k:,} asked for: {why}"


def build_cluster(*args, **kwargs):
    """:func:`cluster_hierarchy`, returning just the :class:`Hierarchy`."""
    return cluster_hierarchy(*args, **kwargs).hierarchy


def save_centroids(result: ClusterResult, target: str) -> None:
    """Write the centroids: ``.npy`` (one level), ``.npz`` (one array per level) or parquet."""
    import io

    from ..outputs import atomic_output

    lower = str(target).lower()
    levels = list(result.centroids)
    if lower.endswith(".npy"):
        if len(levels) != 1:
            raise GranularityError(
                f"--centroids {target!r}: a .npy file holds one level but there are {len(levels)} "
                "({}); use .npz or .parquet".format(", ".join(levels))
            )
        buf = io.BytesIO()
        np.save(buf, result.centroids[levels[0]])
        with atomic_output(target) as fh:
            fh.write(buf.getvalue())
    elif lower.endswith(".npz"):
        buf = io.BytesIO()
        np.savez(buf, **result.centroids)
        with atomic_output(target) as fh:
            fh.write(buf.getvalue())
    elif lower.endswith(".parquet"):
        import pyarrow as pa

        from ..outputs import write_table

        h = result.hierarchy
        lv_col, lab, ids, names, vecs = [], [], [], [], []
        for lv in h.levels:
            c = result.centroids[lv.name]
            lv_col += [lv.name] * c.shape[0]
            lab += list(range(c.shape[0]))
            ids += list(lv.ids)
            names += list(lv.names)
            vecs.append(c)
        mat = np.concatenate(vecs).astype(np.float32)
        flat = pa.Array.from_buffers(pa.float32(), mat.size, [None, pa.py_buffer(np.ascontiguousarray(mat.ravel()))])
        table = pa.Table.from_pydict({
            "level": string_array(lv_col),
            "label": int_array(np.asarray(lab, dtype=np.int32)),
            "id": string_array(ids),
            "name": string_array(names),
            "centroid": pa.FixedSizeListArray.from_arrays(flat, mat.shape[1]),
        })
        write_table(table, target)
    else:
        raise GranularityError(f"--centroids {target!r}: name a .npy, .npz or .parquet file")
