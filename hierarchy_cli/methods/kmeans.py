"""The k-means engine: our own k-means++ seeding, then faiss Lloyd iterations.

faiss's default initialisation picks k random points; on structured data
(sentence embeddings, k = 1000) that ends measurably above scikit-learn's
greedy k-means++. So the seeding here is greedy k-means++ as scikit-learn does
it (Arthur & Vassilvitskii 2007, with ``2 + ln k`` local trials per centre, the
one that lowers the potential most is kept), written with numpy on a seeded
``numpy.random.Generator`` and vectorised: each step is one ``(n, d) @ (d, L)``
product over row chunks. faiss then runs the Lloyd iterations from those
centroids (``faiss.Clustering`` with the centroids preset), with sample weights
when given, and a last pass assigns every point.

Large inputs: the seeding runs on a seeded uniform subsample of at most
``init_sample_per_centroid * k`` points and Lloyd on at most
``max_points_per_centroid * k`` (faiss's own subsampling rule); the final
assignment, the labels and the inertia always cover every point.

``metric="cosine"`` is spherical k-means: rows are L2-normalised and faiss
normalises the centroids after every iteration; the inertia is then the squared
L2 distance between unit vectors, ``2 - 2 cos``.

Same data, same parameters, same seed and the same number of threads give
byte-identical centroids and labels (the tests check it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import GranularityError

METRICS = ("l2", "cosine")
DEFAULT_NITER = 10
CHUNK_ROWS = 65536
SEED_BLOCK = 4096  # rows per block in a seeding step (block x trials floats stay in cache)


@dataclass
class KMeansResult:
    """Centroids ``(k, d)`` float32, labels ``(n,)`` int64, inertia and counts."""

    centroids: np.ndarray
    labels: np.ndarray
    distances: np.ndarray  # squared L2 distance of each point to its centroid
    inertia: float  # sum of (weighted) squared distances, float64
    niter: int
    init_seconds: float
    lloyd_seconds: float

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])


def _sq_norms(x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape[0], dtype=np.float32)
    for s in range(0, x.shape[0], CHUNK_ROWS):
        blk = x[s:s + CHUNK_ROWS]
        out[s:s + CHUNK_ROWS] = np.einsum("ij,ij->i", blk, blk)
    return out


def _sq_dist_to(x: np.ndarray, xn: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared L2 distances ``(n, m)`` from the rows of ``x`` to the rows of ``c``."""
    cn = np.einsum("ij,ij->i", c, c)
    out = np.empty((x.shape[0], c.shape[0]), dtype=np.float32)
    for s in range(0, x.shape[0], CHUNK_ROWS):
        blk = out[s:s + CHUNK_ROWS]
        np.matmul(x[s:s + CHUNK_ROWS], c.T, out=blk)
        blk *= -2.0
        blk += xn[s:s + CHUNK_ROWS, None]
        blk += cn[None, :]
    np.maximum(out, 0.0, out=out)
    return out


def kmeans_plusplus(
    x: np.ndarray,
    k: int,
    rng: np.random.Generator,
    weights: Optional[np.ndarray] = None,
    n_local_trials: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> np.ndarray:
    """Greedy k-means++: the indices (into ``x``) of ``k`` seed points.

    The first centre is drawn with probability proportional to the weight; each
    next one draws ``n_local_trials`` (default ``2 + ln k``) candidates with
    probability proportional to ``weight * D(x)^2`` and keeps the one that lowers
    the potential ``sum weight * D^2`` most (ties: the first drawn). ``x`` is
    float32 ``(n, d)``.

    Each step streams ``x`` once in blocks of ``SEED_BLOCK`` rows: the block's
    dot products with the candidates, then, while the block is in cache, the
    gain ``max(0, D^2 - |x - y|^2)`` of every candidate ``y``. The potential
    after adding ``y`` is the current one minus its total gain, so picking the
    largest gain is the greedy rule.
    """
    n = x.shape[0]
    if k > n:
        raise GranularityError(f"k = {k} is larger than the number of points ({n})")
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    trials = n_local_trials or (2 + int(math.log(k)))
    xn = _sq_norms(x)
    centers = np.empty(k, dtype=np.int64)
    wsum = np.cumsum(w) if w is not None else None
    u = rng.random()
    first = int(np.searchsorted(wsum, u * wsum[-1], side="right")) if w is not None else int(u * n)
    centers[0] = min(first, n - 1)
    closest = _sq_dist_to(x, xn, x[centers[0]:centers[0] + 1])[:, 0]
    closest[centers[0]] = 0.0
    gain = np.empty((n, trials), dtype=np.float32)
    for c in range(1, k):
        cum = np.cumsum(closest if w is None else w * closest, dtype=np.float64)
        pot = float(cum[-1])
        if pot <= 0.0:  # every point coincides with a centre: take unused points in order
            unused = np.setdiff1d(np.arange(n), centers[:c])
            centers[c:] = unused[: k - c]
            break
        cand = np.minimum(np.searchsorted(cum, rng.random(trials) * pot, side="right"), n - 1)
        cx = x[cand]
        cn = np.einsum("ij,ij->i", cx, cx)
        total = np.zeros(trials, dtype=np.float64)
        for s in range(0, n, SEED_BLOCK):
            g = gain[s:s + SEED_BLOCK]
            np.matmul(x[s:s + SEED_BLOCK], cx.T, out=g)
            g *= 2.0
            g -= cn
            g += (closest[s:s + SEED_BLOCK] - xn[s:s + SEED_BLOCK])[:, None]
            np.maximum(g, 0.0, out=g)
            total += g.sum(axis=0, dtype=np.float64) if w is None else w[s:s + SEED_BLOCK] @ g
        best = int(np.argmax(total))
        centers[c] = cand[best]
        closest -= gain[:, best]
        np.maximum(closest, 0.0, out=closest)
        closest[cand[best]] = 0.0
        if progress is not None and c % 50 == 0:
            progress(50)
    if progress is not None:
        progress(k % 50 or 50)
    return centers


def project(x: np.ndarray, dims: int) -> np.ndarray:
    """``x`` projected on its top ``dims`` principal axes (``x`` itself when ``d <= dims``).

    Seeding only needs distances to rank and sample points; on the principal
    subspace they keep most of the spread at a fraction of the memory traffic of
    the full vectors (each seeding step reads all points once).
    """
    n, d = x.shape
    if dims <= 0 or d <= dims:
        return x
    mean = x.mean(axis=0, dtype=np.float64)
    cov = np.zeros((d, d), dtype=np.float64)
    for s in range(0, n, CHUNK_ROWS):
        blk = x[s:s + CHUNK_ROWS].astype(np.float64) - mean
        cov += blk.T @ blk
    vals, vecs = np.linalg.eigh(cov)
    axes = vecs[:, ::-1][:, :dims]
    axes *= np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(dims)])  # deterministic signs
    axes = axes.astype(np.float32)
    out = np.empty((n, dims), dtype=np.float32)
    for s in range(0, n, CHUNK_ROWS):
        np.matmul(x[s:s + CHUNK_ROWS], axes, out=out[s:s + CHUNK_ROWS])
    return out


def _single_thread_blas():
    """Limit BLAS to one thread while seeding (threadpoolctl ships with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _as_float32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy of ``x`` (zero rows stay zero)."""
    x = np.array(x, dtype=np.float32, copy=True, order="C")
    norms = np.sqrt(_sq_norms(x))
    norms[norms == 0] = 1.0
    x /= norms[:, None]
    return x


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    metric: str = "l2",
    seed: int = 0,
    niter: int = DEFAULT_NITER,
    weights: Optional[np.ndarray] = None,
    n_local_trials: Optional[int] = None,
    init_sample_per_centroid: int = 64,
    init_dims: int = 0,
    max_points_per_centroid: int = 256,
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> KMeansResult:
    """k-means of the rows of ``x`` (``(n, d)``, any float dtype) into ``k`` groups.

    ``metric`` is ``l2`` or ``cosine`` (spherical k-means on L2-normalised rows);
    ``init_dims > 0`` seeds on the top principal axes only (cheaper on wide
    data, slightly worse seeds; off by default);
    ``weights`` (``(n,)``, positive) weights the points; ``seed`` fixes the
    seeding and faiss's subsampling; ``niter`` is the number of Lloyd iterations
    (faiss stops earlier when the objective stops changing). ``progress(stage,
    done, total)`` is called with ``stage`` ``"seeding"`` and ``"lloyd"``.
    Returns a :class:`KMeansResult`; labels number the centroids in seeding order.
    """
    import time

    import faiss

    if metric not in METRICS:
        raise GranularityError(f"unknown --metric {metric!r}; choose one of {', '.join(METRICS)}")
    x = _as_float32(x)
    if x.ndim != 2:
        raise GranularityError(f"embeddings must be a 2-D array, not shape {x.shape}")
    n, d = x.shape
    if k < 1:
        raise GranularityError(f"k must be at least 1, not {k}")
    if k > n:
        raise GranularityError(f"k = {k} is larger than the number of points ({n:,})")
    if niter < 1:
        raise GranularityError(f"--niter must be at least 1, not {niter}")
    if metric == "cosine":
        x = normalize_rows(x)
    w = None
    if weights is not None:
        w = np.ascontiguousarray(weights, dtype=np.float32)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise GranularityError("weights must be positive finite numbers, one per point")
    rng = np.random.default_rng(seed)

    t0 = time.perf_counter()
    # seeding, on a seeded subsample for large inputs
    m = min(n, max(k, init_sample_per_centroid * k))
    sub = np.sort(rng.choice(n, size=m, replace=False)) if m < n else None
    xs = x if sub is None else x[sub]
    ws = None if w is None else (w if sub is None else w[sub])
    tick = (lambda step: progress("seeding", step, k)) if progress else None
    with _single_thread_blas():  # skinny products: threads cost more than they bring
        seeds = kmeans_plusplus(project(xs, init_dims), k, rng, ws, n_local_trials, tick)
    init = np.ascontiguousarray(xs[seeds], dtype=np.float32)
    t1 = time.perf_counter()

    # Lloyd iterations with faiss, from those centroids
    cp = faiss.ClusteringParameters()
    cp.niter = niter
    cp.seed = int(rng.integers(0, 2**31 - 1))
    cp.spherical = metric == "cosine"
    cp.max_points_per_centroid = max_points_per_centroid
    cp.min_points_per_centroid = 1  # no warning for few points per centroid
    cp.nredo = 1
    cp.verbose = False
    clus = faiss.Clustering(d, k, cp)
    faiss.copy_array_to_vector(init.ravel(), clus.centroids)
    index = faiss.IndexFlatL2(d)
    if w is not None and n > max_points_per_centroid * k:
        # faiss subsamples without weights; do it here so weights follow the rows
        keep = np.sort(rng.choice(n, size=max_points_per_centroid * k, replace=False))
        clus.train(x[keep], index, w[keep])
    elif w is not None:
        clus.train(x, index, w)
    else:
        clus.train(x, index)
    stats = clus.iteration_stats
    iters = stats.size()
    centroids = faiss.vector_to_array(clus.centroids).reshape(k, d).astype(np.float32)
    if progress:
        progress("lloyd", iters, niter)
    # final assignment of every point
    index.reset()
    index.add(centroids)
    dist, lab = index.search(x, 1)
    t2 = time.perf_counter()
    dist = np.maximum(dist[:, 0], 0.0)
    inertia = float(np.dot(dist.astype(np.float64), w.astype(np.float64))) if w is not None \
        else float(dist.astype(np.float64).sum())
    return KMeansResult(centroids, lab[:, 0].astype(np.int64), dist, inertia, iters, t1 - t0, t2 - t1)
