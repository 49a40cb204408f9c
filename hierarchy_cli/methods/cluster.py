"""Clustering-based hierarchies: k-means levels over class (or sample) embeddings.

:func:`cluster_hierarchy` (and its short form :func:`build_cluster`) groups the
leaf classes by k-means on their embeddings and returns the same
:class:`~hierarchy_cli.hierarchy.Hierarchy` as every other builder, with levels
named ``k<K>``. :func:`split_leaves_table` and :func:`instance_table` go finer
than the leaves and return per-sample label maps as pyarrow tables.

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

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..arrays import int_array, string_array
from ..errors import GranularityError, GranularityFailure, offenders
from ..grammar import parse_k_list as parse_ks  # noqa: F401 (the --k parser)
from ..sources.wordnet import leaf_names
from ..options import DEFAULT_NITER
from .kmeans import check_params, kmeans, normalize_rows

DEFAULT_EMBEDDINGS = "class_gloss_minilm_pca128.parquet"
from ..manifests import DEFAULT_DATASET  # noqa: E402

Progress = Optional[Callable[[str, int, int], None]]


# ----------------------------------------------------------------------------- small helpers


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


def _group_seed(seed: int, *parts: int) -> int:
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *parts]).generate_state(1)[0] >> 1)


def default_embeddings_path() -> str:
    from importlib import resources

    path = str(resources.files("hierarchy_cli.data").joinpath(DEFAULT_EMBEDDINGS))
    if not os.path.isfile(path):
        raise GranularityError(
            f"the embedded default embeddings {path!r} are missing: reinstall granularity, "
            "or give --embeddings FILE"
        )
    return path


def resolve_classes(classes, dataset, column, default: Optional[str], is_id=None):
    """``(ids or None, metadata, display name)`` from --classes / --dataset (or ``default``)."""
    from ..manifests import resolve_classes as resolve

    found = resolve(classes, dataset, column, default=default, is_id=is_id)
    if found is None:
        return None, None, None
    idl, meta, name = found
    return list(idl.ids), meta, name


# ----------------------------------------------------------------------------- clustering core


@dataclass
class LevelResult:
    k: int
    labels: np.ndarray  # per leaf, raw cluster ids 0..m-1 (no empty cluster)
    centroids: np.ndarray  # (m, d)
    inertia: float  # over the leaves, squared distance to their own level centroid


def _fit(x: np.ndarray, w: Optional[np.ndarray], k: int, metric: str, seed: int, niter: int,
         progress: Progress, threads: Optional[int] = None, gpu: bool = False
         ) -> tuple[np.ndarray, np.ndarray]:
    """Labels and centroids for ``k`` clusters of ``x`` (exact shortcuts for k=1 and k=n)."""
    n = x.shape[0]
    if k == n:
        return np.arange(n, dtype=np.int64), x.astype(np.float32, copy=True)
    if k == 1:
        c = np.average(x.astype(np.float64), axis=0, weights=w)[None, :].astype(np.float32)
        if metric == "cosine":
            c = normalize_rows(c)
        return np.zeros(n, dtype=np.int64), c
    r = kmeans(x, k, metric=metric, seed=seed, niter=niter, weights=w, threads=threads, gpu=gpu,
               progress=progress)
    return r.labels, r.centroids


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
    threads: Optional[int] = None,
    gpu: bool = False,
    progress: Progress = None,
) -> list[LevelResult]:
    """k-means levels of the rows of ``x`` (leaves), finest first.

    Nested unless ``flat``; with ``groups`` (one group label per leaf, 0..G-1)
    each level is clustered separately inside each group (k shared by
    :func:`share_k`). A level may hold fewer than k clusters when k-means leaves
    some empty (more clusters than distinct points): ``LevelResult.centroids``
    has one row per cluster made.
    """
    threads = check_params(metric=metric, seed=seed, niter=niter, threads=threads, gpu=gpu)
    n = x.shape[0]
    ks = list(ks)
    if ks and ks[0] > n:
        raise GranularityError(f"k = {ks[0]} is larger than the number of points ({n:,} classes)")
    x = normalize_rows(x) if metric == "cosine" else np.ascontiguousarray(x, dtype=np.float32)
    g = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    ng = int(g.max()) + 1 if n else 0
    leaf_sizes = np.bincount(g, minlength=ng)
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
        labels = np.empty(npts, dtype=np.int64)
        cents = []
        offset = 0
        for gi in range(ng):
            members = np.flatnonzero(pts_group == gi) if ng > 1 else np.arange(npts)
            wsub = None if pts_w is None else pts_w[members]
            gseed = seed if ng == 1 else _group_seed(seed, k, gi)
            lab, c = _fit(pts[members], wsub, int(shares[gi]), metric, gseed, niter,
                          progress if ng == 1 else None, threads, gpu)
            lab, c = _compact(lab, c)
            labels[members] = lab + offset
            offset += c.shape[0]
            cents.append(c)
            if progress and ng > 1:
                progress("groups", gi + 1, ng)
        centroids = np.concatenate(cents).astype(np.float32)
        leaf_lab = labels[leaf_to_pt]
        diff = x - centroids[leaf_lab]
        inertia = float(np.einsum("ij,ij->i", diff, diff).astype(np.float64).sum())
        out.append(LevelResult(k, leaf_lab, centroids, inertia))
        if not flat:
            cw = np.ones(npts) if pts_w is None else pts_w
            new_w = np.bincount(labels, weights=cw, minlength=offset)
            new_group = np.empty(offset, dtype=np.int64)
            new_group[labels] = pts_group
            pts, pts_w, pts_group, leaf_to_pt = centroids, new_w, new_group, leaf_lab
    return out


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


def _within_groups(within, class_ids: Sequence[str]) -> tuple[np.ndarray, dict]:
    """Group label per leaf from ``(LabelMap, level)``, ``"MAP:LEVEL"`` or an array."""
    if isinstance(within, np.ndarray) or isinstance(within, list):
        arr = np.asarray(within, dtype=np.int64)
        if arr.shape != (len(class_ids),):
            raise GranularityError(f"within: {arr.shape[0]} group labels for {len(class_ids)} classes")
        from ..hierarchy import first_appearance_labels

        lab, _ = first_appearance_labels(arr)
        return lab.astype(np.int64), {"name": "<array>"}
    if isinstance(within, str):
        from ..grammar import read_map_level

        lm, level = read_map_level(within, "--within")
        if level is None:
            raise GranularityError(f"--within {within!r}: say which level, as MAP:LEVEL (levels: {', '.join(lm.levels)})")
        spec = within
    else:
        lm, level = within
        spec = f"{lm.source}:{level}"
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
    from ..hierarchy import first_appearance_labels

    lab, _ = first_appearance_labels(g)
    meta = {"level": level, "name": os.path.basename(str(lm.source)), "sha256": lm.sha256}
    return lab.astype(np.int64), meta


def load_leaf_embeddings(
    embeddings=None, classes=None, dataset=None, column=None, id_column=None, samples=None,
    leaf_column=None, embedding_column=None, batch_rows: int = 65536, progress: Progress = None,
    leaves=None,
):
    """``(class_ids, matrix, meta, where)``: the leaves and one vector per leaf."""
    from .embeddings import class_means, read_class_embeddings, sample_columns

    if embeddings is not None and samples is not None:
        raise GranularityError("give --embeddings or --samples, not both")
    meta: dict[str, Any] = {}
    if samples is not None:
        ids, cmeta, where = resolve_classes(classes, dataset, column, DEFAULT_DATASET)
        sc = sample_columns(samples, leaf_column, None, embedding_column, leaves=leaves)
        tick = (lambda m: progress("averaging", m, sc.num_rows)) if progress else None
        x, counts = class_means(sc, ids, batch_rows, tick)
        meta["samples"] = {**_samples_meta(samples, sc), "num_samples": int(counts.sum())}
        meta["classes"] = cmeta
        return ids, x, meta, where
    if embeddings is None:
        path = default_embeddings_path()
        from ..sources.wordnet import WNID_RE  # the default embeddings' ids are wnids

        ids, cmeta, where = resolve_classes(classes, dataset, column, DEFAULT_DATASET, WNID_RE.fullmatch)
        emb = read_class_embeddings(path, ids, what="embedded default embeddings", allow_extra=True)
        meta["embeddings"] = {**emb.source, "default": True}
    elif isinstance(embeddings, np.ndarray):
        ids, cmeta, where = resolve_classes(classes, dataset, column, None)
        x = np.ascontiguousarray(embeddings, dtype=np.float32)
        if x.ndim != 2:
            raise GranularityError(f"embeddings must be 2-D (classes x dims), not shape {x.shape}")
        if ids is None:
            ids = [str(i) for i in range(x.shape[0])]
            cmeta = {"name": "<rows>", "num_classes": len(ids)}
        elif len(ids) != x.shape[0]:
            raise GranularityError(f"{x.shape[0]} embedding rows for {len(ids)} classes")
        from .embeddings import check_finite

        check_finite(x, "embeddings", lambda i: ids[i])
        import hashlib

        meta["embeddings"] = {"name": "<array>", "sha256": hashlib.sha256(x.tobytes()).hexdigest(),
                              "shape": list(x.shape)}
        meta["classes"] = cmeta
        return ids, x, meta, where or "embeddings"
    else:
        ids, cmeta, where = resolve_classes(classes, dataset, column, None)
        emb = read_class_embeddings(str(embeddings), ids, id_column=id_column, column=embedding_column)
        meta["embeddings"] = dict(emb.source)
        if id_column:
            meta["embeddings"]["id_column"] = id_column
        if embedding_column:
            meta["embeddings"]["column"] = embedding_column
        if ids is None:
            if emb.ids is not None:
                ids = emb.ids
                cmeta = {"from": "embeddings", "num_classes": len(ids)}
                where = f"embeddings {os.path.basename(str(embeddings))!r}"
            else:
                ids = [str(i) for i in range(emb.matrix.shape[0])]
                cmeta = {"from": "rows", "num_classes": len(ids)}
                where = f"embeddings {os.path.basename(str(embeddings))!r}"
    meta["classes"] = cmeta
    return ids, emb.matrix, meta, where


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
    built nested). ``threads`` (default: every available core) and ``gpu``: see
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
    groups = None
    if within is not None:
        groups, wmeta = _within_groups(within, ids)
        meta["within"] = wmeta
    levels = cluster_levels(x, ks, metric=metric, seed=seed, niter=niter, flat=flat, groups=groups,
                            threads=nthreads, gpu=gpu, progress=progress)
    names = leaf_names(ids)[0]
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
    h = Hierarchy(list(ids), names, lvls, meta, nested=not flat)
    h.validate()
    return ClusterResult(h, cents, inertia, warnings)


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


# ----------------------------------------------------------------------------- per-sample maps


@dataclass
class SampleLevel:
    """One level of a per-sample map: each sample's label (numbered by first appearance),
    and each label's id and name; ``labels`` ``None`` is one label per sample, whose id
    and name are the sample id."""

    name: str
    labels: Optional[np.ndarray]  # int32, one per sample
    ids: Sequence[str] = ()
    names: Sequence[str] = ()


def _sample_level(name: str, keys: np.ndarray, id_of: Callable[[int], str],
                  name_of: Callable[[int], str]) -> SampleLevel:
    """A level from one key per sample (labels by first appearance; ids and names by key)."""
    from ..hierarchy import first_appearance_labels

    labels, firsts = first_appearance_labels(keys)
    order = keys[firsts].tolist()
    return SampleLevel(name, labels.astype(np.int32), [id_of(o) for o in order],
                       [name_of(o) for o in order])


class SampleMap:
    """A per-sample label map: a row per sample of the input, in input order (``sample_id``,
    ``leaf_index``, then each level's label, id and name columns).

    It holds integers only, 4 bytes per sample for the leaf and for each level; the
    sample ids are read again from the input, batch by batch, when the map is written
    (:meth:`write`, one row group per batch, so memory stays that of a batch) or made
    into a table (:meth:`to_table`, all in memory). ``warnings``: what the map's
    metadata records but a reader may not expect (fewer clusters than asked for).
    """

    def __init__(self, sc, class_ids: Sequence[str], leaf: np.ndarray, levels: list[SampleLevel],
                 meta: dict, batch_rows: int = 65536, warnings: Sequence[str] = ()):
        import json

        from ..labelmap import METADATA_KEY, granularity_metadata

        names = ["sample_id", "leaf_index"]
        for lv in levels:
            for col in (lv.name, f"{lv.name}_id", f"{lv.name}_name"):
                if col in names:
                    raise GranularityError(f"level name {lv.name!r} clashes with another column")
                names.append(col)
        self._sc, self._class_ids, self._batch_rows = sc, class_ids, batch_rows
        self.leaf = leaf.astype(np.int32, copy=False)
        self.levels = levels
        self.warnings = list(warnings)
        n = int(leaf.size)
        self._schema_metadata = granularity_metadata(
            meta, [lv.name for lv in levels],
            {lv.name: (n if lv.labels is None else len(lv.ids)) for lv in levels},
            num_samples=n, num_leaves=len(class_ids))
        self.metadata = json.loads(self._schema_metadata[METADATA_KEY])

    @property
    def num_rows(self) -> int:
        return int(self.leaf.size)

    @property
    def schema(self):
        import pyarrow as pa

        fields = [pa.field("sample_id", pa.string()), pa.field("leaf_index", pa.int32())]
        for lv in self.levels:
            fields += [pa.field(lv.name, pa.int32()), pa.field(f"{lv.name}_id", pa.string()),
                       pa.field(f"{lv.name}_name", pa.string())]
        return pa.schema(fields, metadata=self._schema_metadata)

    def batches(self):
        """The map's record batches, one per batch of the input."""
        import pyarrow as pa

        from .embeddings import iter_sample_batches

        schema = self.schema
        dicts = [(string_array(list(lv.ids)), string_array(list(lv.names)))
                 if lv.labels is not None else None for lv in self.levels]
        for row, _, _, sids in iter_sample_batches(self._sc, self._class_ids, with_vectors=False,
                                                   with_sample_ids=True, batch_rows=self._batch_rows):
            end = row + len(sids)
            cols = [sids, int_array(self.leaf[row:end])]
            for lv, dic in zip(self.levels, dicts):
                if lv.labels is None:
                    cols += [int_array(np.arange(row, end, dtype=np.int32)), sids, sids]
                    continue
                idx = int_array(lv.labels[row:end])
                cols += [idx, pa.DictionaryArray.from_arrays(idx, dic[0]).dictionary_decode(),
                         pa.DictionaryArray.from_arrays(idx, dic[1]).dictionary_decode()]
            yield pa.RecordBatch.from_arrays(cols, schema=schema)

    def to_table(self):
        """The whole map as one ``pyarrow.Table`` (in memory; :meth:`write` streams)."""
        import pyarrow as pa

        return pa.Table.from_batches(list(self.batches()), schema=self.schema)

    def write(self, target: str | os.PathLike) -> None:
        """Write the map as parquet to ``target`` (a path or ``-``), atomically, a batch at a time."""
        from ..outputs import write_batches

        write_batches(self.schema, self.batches(), target)


def _leaf_sample_levels(leaf: np.ndarray, leaf_levels) -> list[SampleLevel]:
    """Leaf-level labels of a :class:`~hierarchy_cli.hierarchy.Hierarchy` carried to each sample."""
    return [_sample_level(lv.name, lv.labels[leaf], lambda o, lv=lv: lv.ids[o],
                          lambda o, lv=lv: lv.names[o]) for lv in (leaf_levels or [])]


def _read_leaves(sc, ids: Sequence[str], batch_rows: int) -> np.ndarray:
    """Each sample's leaf index (int32), in one pass over the input's leaf column."""
    from .embeddings import iter_sample_batches

    parts = [leaf.astype(np.int32) for _, leaf, _, _ in
             iter_sample_batches(sc, ids, with_vectors=False, batch_rows=batch_rows)]
    if not parts or not sum(p.size for p in parts):
        raise GranularityError(f"{sc.label} holds no rows")
    return np.concatenate(parts)


def _pread(fd: int, size: int, offset: int) -> np.ndarray:
    """``size`` bytes of file ``fd`` from ``offset`` (a read returns at most about 2 GB)."""
    out = np.empty(size, dtype=np.uint8)
    done = 0
    while done < size:
        got = os.preadv(fd, [memoryview(out)[done:]], offset + done)
        if got <= 0:
            raise GranularityFailure(f"the scratch file of --split-leaves ended early ({done} of {size} bytes)")
        done += got
    return out


def split_leaves_map(
    samples: str | os.PathLike,
    n: int,
    *,
    classes=None, dataset=None, column=None, leaf_column=None, sample_id_column=None,
    embedding_column=None, metric: str = "l2", seed: int = 0, niter: int = DEFAULT_NITER,
    threads: Optional[int] = None, gpu: bool = False,
    leaf_levels=None, extra_meta: Optional[dict] = None, batch_rows: int = 65536,
    tmpdir: Optional[str] = None, progress: Progress = None, leaves=None,
) -> SampleMap:
    """Per-sample map splitting each class's samples into ``n`` k-means sub-clusters.

    The samples are streamed twice: once for each sample's class, once to write the
    vectors into a class-ordered temporary file (in ``tmpdir``; an unnamed file,
    gone on any exit, even a kill), from which each class is read back and
    clustered on its own. A class with fewer than ``n`` samples is an error
    naming it. Level ``split_<n>``: ids ``<leaf_id>_s<j>``, names ``<leaf name> #<j>``.
    ``leaf_levels``: levels of a hierarchy over the same classes, added per sample.
    Memory: about 60 bytes per sample, plus one batch and the largest class (measured in
    benchmarks/cluster.md, part (c)).
    """
    import tempfile
    from .embeddings import iter_sample_batches, sample_columns
    from .kmeans import _check_int

    _check_int(n, "n (sub-clusters per class)", 1)
    nthreads = check_params(metric=metric, seed=seed, niter=niter, threads=threads, gpu=gpu)
    ids, cmeta, where = resolve_classes(classes, dataset, column, DEFAULT_DATASET)
    sc = sample_columns(samples, leaf_column, sample_id_column, embedding_column, leaves=leaves)
    nc = len(ids)
    leaf_all = _read_leaves(sc, ids, batch_rows)
    rows = leaf_all.size
    counts = np.bincount(leaf_all, minlength=nc)
    present = np.flatnonzero(counts > 0)
    few = present[counts[present] < n]
    if few.size:
        raise GranularityError(offenders(
            [(ids[i], f"{int(counts[i])} samples") for i in few],
            f"classes with fewer samples than --split-leaves {n}", sc.label))
    from ..hierarchy import first_appearance_labels

    starts = np.r_[0, np.cumsum(counts)]
    fill = starts[:-1].copy()
    slot = np.empty(rows, dtype=np.int64)  # each sample's row in the class-ordered file
    with tempfile.TemporaryFile(dir=tmpdir, prefix="granularity-split-") as fh:
        fd, row_bytes = fh.fileno(), 0
        for row, leaf, vec, _ in iter_sample_batches(sc, ids, batch_rows=batch_rows):
            row_bytes = 4 * vec.shape[1]
            order = np.argsort(leaf, kind="stable")
            sl = leaf[order]
            grp_start = np.flatnonzero(np.r_[True, sl[1:] != sl[:-1]])
            sizes = np.diff(np.r_[grp_start, sl.size])
            slot[row + order] = fill[sl] + np.arange(sl.size) - np.repeat(grp_start, sizes)
            runs = np.ascontiguousarray(vec[order], dtype=np.float32)
            for g, m in zip(grp_start.tolist(), sizes.tolist()):  # each class's run, at its place
                os.pwrite(fd, runs[g:g + m].data, int(fill[sl[g]]) * row_bytes)
            fill[sl[grp_start]] += sizes
            if progress:
                progress("reading", row + len(leaf), rows)
        sub_by_slot = np.empty(rows, dtype=np.int32)
        made = 0
        for j, c in enumerate(present.tolist()):
            a, b = int(starts[c]), int(starts[c + 1])
            vecs = _pread(fd, (b - a) * row_bytes, a * row_bytes).view(np.float32).reshape(b - a, -1)
            lab, _ = _fit(vecs, None, n, metric, _group_seed(seed, n, c), niter, None, nthreads, gpu)
            # sub-clusters numbered by first appearance within the class (slot order = sample order)
            sub, firsts = first_appearance_labels(lab)
            sub_by_slot[a:b] = sub
            made += firsts.size
            if progress:
                progress("splitting", j + 1, present.size)
    keys = leaf_all.astype(np.int64) * n + sub_by_slot[slot]
    del slot, sub_by_slot
    names = leaf_names(ids)[0]
    name = f"split_{n}"
    level = _sample_level(name, keys, lambda o: f"{ids[o // n]}_s{o % n}",
                          lambda o: f"{names[o // n]} #{o % n}")
    del keys
    meta = {"method": "cluster", "per_sample": "split_leaves", "split_leaves": n, "metric": metric,
            "seed": seed, "niter": niter, "threads": nthreads, "gpu": gpu, "classes": cmeta,
            "samples": _samples_meta(samples, sc)}
    warnings = []
    if made < present.size * n:
        meta["clusters_made"] = {name: made}
        warnings.append(f"level {name} has {made:,} sub-clusters, not the {present.size * n:,} "
                        f"asked for ({n} in each of {present.size:,} classes): some classes hold "
                        "fewer distinct samples than that")
    meta.update(extra_meta or {})
    return SampleMap(sc, ids, leaf_all, [level, *_leaf_sample_levels(leaf_all, leaf_levels)], meta,
                     batch_rows, warnings)


def instance_map(
    samples: str | os.PathLike,
    *,
    classes=None, dataset=None, column=None, leaf_column=None, sample_id_column=None,
    leaf_levels=None, extra_meta: Optional[dict] = None, batch_rows: int = 65536, leaves=None,
) -> SampleMap:
    """Per-sample map with one label per sample (level ``instance``: id and name = sample id).
    Memory: 4 bytes per sample per level, plus one batch."""
    from .embeddings import sample_columns

    ids, cmeta, where = resolve_classes(classes, dataset, column, DEFAULT_DATASET)
    sc = sample_columns(samples, leaf_column, sample_id_column, None, leaves=leaves,
                        with_vectors=False)
    leaf_all = _read_leaves(sc, ids, batch_rows)
    meta = {"method": "cluster", "per_sample": "instance", "classes": cmeta,
            "samples": _samples_meta(samples, sc)}
    meta.update(extra_meta or {})
    return SampleMap(sc, ids, leaf_all, [SampleLevel("instance", None),
                                         *_leaf_sample_levels(leaf_all, leaf_levels)], meta, batch_rows)


def split_leaves_table(samples, n, **kwargs):
    """:func:`split_leaves_map` as one ``pyarrow.Table`` (in memory)."""
    return split_leaves_map(samples, n, **kwargs).to_table()


def instance_table(samples, **kwargs):
    """:func:`instance_map` as one ``pyarrow.Table`` (in memory)."""
    return instance_map(samples, **kwargs).to_table()


def _samples_meta(samples, sc) -> dict:
    """Provenance of per-sample input: file name and sha256, and where the leaves came from."""
    from .embeddings import describe_file

    if sc.leaves_path is not None:
        return {**describe_file(samples), "leaves": describe_file(sc.leaves_path)}
    return {**describe_file(samples), "leaf_column": sc.leaf, "sample_id_column": sc.sample_id}
