"""The k-means engine: greedy k-means++ seeding here, Lloyd iterations in faiss.

faiss's default start picks k random points; on structured data (sentence
embeddings, k = 1000) that ends measurably above scikit-learn's greedy
k-means++ (see benchmarks/cluster.md). So the seeding is greedy k-means++ as
scikit-learn does it (Arthur & Vassilvitskii 2007; ``2 + ln k`` candidates per
centre, the one that lowers the potential most is kept), on a seeded
``numpy.random.Generator``, with the proposals of many steps drawn at once and
their distance rows computed in large matrix products (see :func:`_seed`).
Everything else is faiss's: ``faiss.Kmeans(...).train(x, weights=,
init_centroids=seeds)`` runs the Lloyd iterations (on the CPU, or on GPUs with
``gpu=True``; ``spherical=True`` for ``metric="cosine"``), and a faiss index
assigns every point to its nearest final centroid.

Large inputs: seeding and Lloyd run on a seeded uniform subsample of
``max(max_points_per_centroid * k, min_points)`` points (256 per centroid, faiss's
own rule, but never fewer than ``MIN_POINTS``: at k = 38 a subsample of 256 per
centroid ends 0.5% higher, see benchmarks/cluster.md (d)); the final assignment, the
labels and the inertia always cover every point.

``metric="cosine"`` is spherical k-means: rows are L2-normalised, and so is
every centroid after each update; the inertia is then the squared L2 distance
between unit vectors, ``2 - 2 cos``.

Same data, same parameters, same seed and the same number of threads give
byte-identical centroids and labels on the CPU (the tests check it).
"""

from __future__ import annotations

import math
import numbers
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import GranularityError
from ..options import DEFAULT_NITER, METRICS, one_of

__all__ = ["DEFAULT_NITER", "METRICS", "KMeansResult", "kmeans", "fit_clusters", "kmeans_plusplus",
           "lloyd", "normalize_rows", "check_params", "check_int", "derived_seed", "available_threads"]

CHUNK_ROWS = 4096  # rows per piece of a pass over the data: temporaries of 4096 x d floats
CAND_ROWS = 512  # seeding: candidates' distance rows computed per matrix product, at most
CAND_BYTES = 64 * 2**20  # seeding: memory for those rows (fewer rows on large inputs)
# points x centroids x dims below which one thread runs a fit: starting OpenMP threads
# costs more than they save (the many small fits of --split-leaves and --within)
SMALL_FIT = 2**22
# the subsample for seeding and Lloyd holds at least this many points (all, if fewer)
MIN_POINTS = 2**16


@dataclass
class KMeansResult:
    """Centroids ``(k, d)`` float32, labels ``(n,)`` int64, inertia and timings."""

    centroids: np.ndarray
    labels: np.ndarray
    distances: np.ndarray  # squared L2 distance of each point to its centroid
    inertia: float  # sum of (weighted) squared distances, float64
    niter: int
    init_seconds: float
    lloyd_seconds: float
    threads: int

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])


# ----------------------------------------------------------------------------- parameters


def available_threads() -> int:
    """The cores this process may run on (its CPU affinity), the default thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_CONTROLLER = []


def _threads():
    """threadpoolctl's controller of the BLAS and OpenMP libraries of numpy and faiss
    (found once: looking them up takes a millisecond, limiting them 30 microseconds)."""
    if not _CONTROLLER:
        import faiss  # noqa: F401  (its OpenMP and BLAS must be loaded to be found)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def check_int(value, name: str, low: int) -> int:
    """``value`` as an int, refused (naming ``name``) unless it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise GranularityError(f"{name} must be an integer, not {value!r}")
    if value < low:
        raise GranularityError(f"{name} must be at least {low}, not {value}")
    return int(value)


def check_params(*, metric: str = "l2", seed: int = 0, niter: int = DEFAULT_NITER,
                 threads: Optional[int] = None, gpu: bool = False) -> int:
    """Check the k-means parameters shared by every public function; return the thread
    count (``threads``, or every available core when ``None``). Errors name the parameter.

    The one home of these checks: each public function (:func:`kmeans`, and the
    cluster builders) calls it once, and what it calls takes the values as checked."""
    one_of(metric, METRICS, "--metric")
    check_int(seed, "seed", 0)
    if seed >= 2**63:
        raise GranularityError(f"seed must be below 2**63, not {seed}")
    check_int(niter, "niter", 1)
    if threads is not None:
        check_int(threads, "threads", 1)
    if not isinstance(gpu, bool):
        raise GranularityError(f"gpu must be True or False, not {gpu!r}")
    if gpu:
        _check_gpu()
    return available_threads() if threads is None else int(threads)


def _check_gpu() -> None:
    import faiss

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        why = "this faiss build has no GPU support" if not hasattr(faiss, "StandardGpuResources") \
            else "faiss finds no GPU"
        raise GranularityError(
            f"gpu: {why} (faiss {faiss.__version__}); install a faiss build with GPUs "
            "(e.g. conda's faiss-gpu) on a machine with one, or leave out --gpu")


# ----------------------------------------------------------------------------- seeding


def _augment(x: np.ndarray, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """``[x, |x|^2, 1]`` (of ``x[rows]`` when given, copied a chunk at a time): times
    ``[-2 c, 1, |c|^2]`` (see :func:`_rows_of`), one matrix product gives ``|x - c|^2``."""
    m = x.shape[0] if rows is None else rows.size
    out = np.empty((m, x.shape[1] + 2), dtype=np.float32)
    for s in range(0, m, CHUNK_ROWS):
        blk = out[s:s + CHUNK_ROWS, :-2]
        blk[...] = x[s:s + CHUNK_ROWS] if rows is None else x[rows[s:s + CHUNK_ROWS]]
        out[s:s + CHUNK_ROWS, -2] = np.einsum("ij,ij->i", blk, blk)
    out[:, -1] = 1.0
    return out


def _rows_of(xa: np.ndarray, points: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Squared distances from the augmented rows ``xa[points]`` to every row: ``out``."""
    c = xa[points]
    ca = np.empty_like(c)
    np.multiply(c[:, :-2], -2.0, out=ca[:, :-2])
    ca[:, -2] = 1.0
    ca[:, -1] = c[:, -2]
    return np.matmul(ca, xa.T, out=out)


def _local_trials(k: int, n_local_trials: Optional[int]) -> int:
    """Candidates per centre: the given number, else scikit-learn's ``2 + ln k``."""
    return n_local_trials or (2 + int(math.log(k)))


def kmeans_plusplus(
    x: np.ndarray,
    k: int,
    rng: np.random.Generator,
    weights: Optional[np.ndarray] = None,
    n_local_trials: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
    cand_rows: int = CAND_ROWS,
) -> np.ndarray:
    """Greedy k-means++: the indices (into ``x``, ``(n, d)``) of ``k`` seed points.

    The first centre is drawn with probability proportional to the weight; each
    next one draws ``n_local_trials`` (default ``2 + ln k``) candidates with
    probability proportional to ``weight * D(x)^2`` and keeps the one that lowers
    the potential ``sum weight * D^2`` most (ties: the first drawn).
    ``cand_rows``: distance rows computed per matrix product, at most.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    return _seed(_augment(x), k, rng, weights, _local_trials(k, n_local_trials), progress, cand_rows)


def _seed(xa, k, rng, weights, trials, progress, cand_rows=CAND_ROWS) -> np.ndarray:
    """:func:`kmeans_plusplus` on the augmented rows ``xa`` (see :func:`_augment`).

    Done one centre at a time, every step reads all of ``x`` for a handful of
    candidates, which is memory-bound. Here the proposals of many steps are
    drawn at once from the potential ``D_0`` at the start of a batch and made
    exact by rejection: a step accepts a proposal ``y`` with probability
    ``D(y)^2 / D_0(y)^2`` (``D`` only shrinks), so the accepted ones are draws
    from the current ``D^2``; proposals are used in order, each tested once.
    A proposal that fails the test now fails it later too, so distance rows are
    computed only for proposals that pass it, up to ``cand_rows`` of them ahead in
    one matrix product (fewer when they would take more than ``CAND_BYTES``, or than
    the remaining steps can use: a fit with k = 4 draws a few dozen, not thousands).
    """
    n = xa.shape[0]
    if k > n:
        raise GranularityError(f"k = {k} is larger than the number of points ({n:,})")
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    centers = np.empty(k, dtype=np.int64)
    centers[0] = _first_centre(n, w, rng)
    closest = _rows_of(xa, centers[:1], np.empty((1, n), dtype=np.float32))[0]
    np.maximum(closest, 0.0, out=closest)
    closest[centers[0]] = 0.0
    chunk = max(trials, min(cand_rows, CAND_BYTES // (4 * n), trials * (k - 1)))
    rows = np.empty((chunk, n), dtype=np.float32)
    slot = np.full(n, -1, dtype=np.int64)  # row of ``rows`` holding a point's distances, or -1
    stream = max(64 * trials, 4 * chunk)
    scratch = np.empty(n, dtype=np.float32)
    c, reported = 1, 0
    while c < k:
        drawn = _proposals(closest, w, rng, stream)
        if drawn is None:  # every point coincides with a centre: take unused points in order
            unused = np.setdiff1d(np.arange(n), centers[:c])
            centers[c:] = unused[: k - c]
            break
        pool, thresh = drawn
        pos = 0
        while c < k:
            ok = np.flatnonzero(thresh[pos:] < closest[pool[pos:]]) + pos
            if ok.size < trials:
                break  # proposals used up: a new batch from the current potential
            cand = pool[ok[:trials]]
            if (slot[cand] < 0).any():  # compute the rows of the next proposals, these first
                _rows_ahead(xa, pool[ok], min(chunk, trials * (k - c)), rows, slot)
            best = cand[_best_candidate(closest, rows, slot[cand], w, scratch)]
            centers[c] = best
            np.minimum(closest, np.maximum(rows[slot[best]], 0.0), out=closest)
            closest[best] = 0.0
            c += 1
            pos = int(ok[trials - 1]) + 1
            if progress is not None and c - reported >= 50:
                progress(c - reported)
                reported = c
    if progress is not None and k > reported:
        progress(k - reported)
    return centers


def _first_centre(n: int, w: Optional[np.ndarray], rng: np.random.Generator) -> int:
    """The first centre: a point drawn with probability proportional to its weight."""
    if w is not None:
        wsum = np.cumsum(w, dtype=np.float64)
        first = int(np.searchsorted(wsum, rng.random() * wsum[-1], side="right"))
    else:
        first = int(rng.random() * n)
    return min(first, n - 1)


def _proposals(closest: np.ndarray, w: Optional[np.ndarray], rng: np.random.Generator, stream: int):
    """A batch of ``stream`` proposals drawn from the potential ``weight * closest`` and
    their rejection thresholds ``u * D_0(y)^2``; ``None`` when the potential is 0."""
    n = closest.size
    cum = np.cumsum(closest if w is None else w * closest, dtype=np.float64)
    pot = float(cum[-1])
    if pot <= 0.0:
        return None
    pool = np.minimum(np.searchsorted(cum, rng.random(stream) * pot, side="right"), n - 1)
    thresh = rng.random(stream).astype(np.float32) * closest[pool]  # u * D_0(y)^2
    return pool, thresh


def _rows_ahead(xa: np.ndarray, ahead: np.ndarray, count: int, rows: np.ndarray, slot: np.ndarray) -> None:
    """The distance rows of the first ``count`` distinct points of ``ahead`` (the accepted
    proposals, in order) into ``rows``; ``slot`` maps each of them to its row."""
    slot[slot >= 0] = -1
    _, first_seen = np.unique(ahead, return_index=True)
    todo = ahead[np.sort(first_seen)][:count]
    _rows_of(xa, todo, rows[:todo.size])
    slot[todo] = np.arange(todo.size)


def _best_candidate(closest: np.ndarray, rows: np.ndarray, slots: np.ndarray,
                    w: Optional[np.ndarray], scratch: np.ndarray) -> int:
    """Which candidate (by position in ``slots``, their rows) lowers the potential most
    (ties: the first)."""
    after = np.empty(slots.size, dtype=np.float64)  # the potential with each candidate
    for t, p in enumerate(slots):
        np.minimum(closest, rows[p], out=scratch)
        after[t] = scratch.sum(dtype=np.float64) if w is None else scratch @ w
    return int(np.argmin(after))


# ----------------------------------------------------------------------------- Lloyd


def lloyd(
    x: np.ndarray,
    centroids: np.ndarray,
    *,
    weights: Optional[np.ndarray] = None,
    niter: int = DEFAULT_NITER,
    spherical: bool = False,
    seed: int = 0,
    gpu: bool = False,
):
    """``niter`` Lloyd iterations from ``centroids``, by faiss: ``(centroids, faiss.Kmeans)``.

    faiss moves each centroid to the (weighted) mean of its points (normalised
    when ``spherical``); a centroid left without points takes half of a large
    cluster (faiss's split, drawn from ``seed``). Every row of ``x`` is used
    (faiss's own subsampling is turned off: :func:`kmeans` subsamples).
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    k = centroids.shape[0]
    km = faiss.Kmeans(d, k, niter=niter, spherical=spherical, seed=int(seed) & 0x7FFFFFFF,
                      max_points_per_centroid=n // k + 1, min_points_per_centroid=1,
                      verbose=False, gpu=bool(gpu))
    km.train(x, weights=None if weights is None else np.ascontiguousarray(weights, dtype=np.float32),
             init_centroids=np.ascontiguousarray(centroids, dtype=np.float32))
    return km.centroids, km


# ----------------------------------------------------------------------------- k-means


def _sq_norms(x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape[0], dtype=np.float32)
    for s in range(0, x.shape[0], CHUNK_ROWS):
        blk = x[s:s + CHUNK_ROWS]
        out[s:s + CHUNK_ROWS] = np.einsum("ij,ij->i", blk, blk)
    return out


def _own_sq_dist(x: np.ndarray, c: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Exact squared distance of each row of ``x`` to its centroid ``c[labels]``."""
    out = np.empty(x.shape[0], dtype=np.float32)
    for s in range(0, x.shape[0], CHUNK_ROWS):
        diff = x[s:s + CHUNK_ROWS] - c[labels[s:s + CHUNK_ROWS]]
        out[s:s + CHUNK_ROWS] = np.einsum("ij,ij->i", diff, diff)
    return out


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
    threads: Optional[int] = None,
    gpu: bool = False,
    n_local_trials: Optional[int] = None,
    max_points_per_centroid: int = 256,
    min_points: int = MIN_POINTS,
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> KMeansResult:
    """k-means of the rows of ``x`` (``(n, d)``, any float dtype) into ``k`` groups.

    ``metric`` is ``l2`` or ``cosine`` (spherical k-means on L2-normalised rows);
    ``weights`` (``(n,)``, positive) weights the points; ``seed`` fixes the
    seeding and the subsample; ``niter`` Lloyd iterations run in faiss;
    ``threads`` (default: every available core) bounds the BLAS and OpenMP
    threads; ``gpu`` runs the Lloyd iterations on faiss's GPUs. Above
    ``max(max_points_per_centroid * k, min_points)`` points, seeding and Lloyd run on a
    seeded subsample of that many.
    ``progress(stage, done, total)`` is called with ``stage`` ``"seeding"``
    (increments) and ``"lloyd"``.
    Returns a :class:`KMeansResult`; labels number the centroids in seeding order,
    each point's label is its nearest centroid.
    """
    nthreads = check_params(metric=metric, seed=seed, niter=niter, threads=threads, gpu=gpu)
    check_int(k, "k", 1)
    check_int(max_points_per_centroid, "max_points_per_centroid", 1)
    check_int(min_points, "min_points", 0)
    if n_local_trials is not None:
        check_int(n_local_trials, "n_local_trials", 1)
    x, w = _checked_points(x, k, weights)
    return _kmeans(x, k, w, metric, seed, niter, nthreads, gpu, progress, n_local_trials,
                   max_points_per_centroid, min_points)


def _checked_points(x, k: int, weights) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """``x`` as C-contiguous float32 and the weights as float32, refused unless ``x`` is
    2-D, finite and holds at least ``k`` rows and the weights are positive, one per row."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise GranularityError(f"x must be a 2-D array (points x dims), not shape {x.shape}")
    n = x.shape[0]
    if k > n:
        raise GranularityError(f"k = {k} is larger than the number of points ({n:,})")
    if not np.isfinite(x).all():
        raise GranularityError(f"x holds NaN or infinite values (row {int(np.flatnonzero(~np.isfinite(x).all(1))[0])})")
    if weights is None:
        return x, None
    w = np.ascontiguousarray(weights, dtype=np.float32)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise GranularityError("weights must be positive finite numbers, one per point")
    return x, w


def _kmeans(x: np.ndarray, k: int, w: Optional[np.ndarray], metric: str, seed: int, niter: int,
            nthreads: int, gpu: bool, progress=None, n_local_trials: Optional[int] = None,
            max_points_per_centroid: int = 256, min_points: int = MIN_POINTS) -> KMeansResult:
    """:func:`kmeans` of checked input: ``x`` C-contiguous float32 with at least ``k``
    rows, ``w`` float32 or ``None``, the parameters as :func:`check_params` passed them."""
    if metric == "cosine":
        x = normalize_rows(x)
    n, d = x.shape
    m = min(n, max(k, max_points_per_centroid * k, min_points))
    with _threads().limit(limits=1 if m * k * d < SMALL_FIT else nthreads):
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        sub = np.sort(rng.choice(n, size=m, replace=False)) if m < n else None
        ws = None if w is None or sub is None else w[sub]
        tick = (lambda step: progress("seeding", step, k)) if progress else None
        xa = _augment(x, sub)
        seeds = _seed(xa, k, rng, w if sub is None else ws, _local_trials(k, n_local_trials), tick)
        init = xa[seeds, :d].copy()
        del xa
        t1 = time.perf_counter()
        if progress:
            progress("lloyd", 0, niter)
        train = x if sub is None else x[sub]
        centroids, km = lloyd(train, init, weights=w if sub is None else ws, niter=niter,
                              spherical=metric == "cosine", seed=int(rng.integers(0, 2**31 - 1)),
                              gpu=gpu)
        del train
        _, labels = km.assign(x)  # every point to its nearest centroid (faiss's index)
        labels = labels.astype(np.int64)
        dist = np.maximum(_own_sq_dist(x, centroids, labels), 0.0)
        if progress:
            progress("lloyd", niter, niter)
        t2 = time.perf_counter()
    d64 = dist.astype(np.float64)
    inertia = float(d64 @ w.astype(np.float64)) if w is not None else float(d64.sum())
    return KMeansResult(np.ascontiguousarray(centroids, dtype=np.float32), labels, dist, inertia,
                        niter, t1 - t0, t2 - t1, nthreads)


def fit_clusters(x: np.ndarray, k: int, *, weights: Optional[np.ndarray] = None, metric: str, seed: int,
                 niter: int, nthreads: int, gpu: bool, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Labels (int64) and centroids (float32) of ``k`` clusters of the finite rows ``x``
    (``k <= len(x)``), for the builders that fit many groups: exact shortcuts for
    ``k = len(x)`` (each row its own cluster) and ``k = 1`` (the weighted mean), else
    :func:`kmeans`. The parameters are those :func:`check_params` passed (the builders
    check them once, not once per fit)."""
    n = x.shape[0]
    if k == n:
        return np.arange(n, dtype=np.int64), x.astype(np.float32, copy=True)
    if k == 1:
        c = np.average(x.astype(np.float64), axis=0, weights=weights)[None, :].astype(np.float32)
        if metric == "cosine":
            c = normalize_rows(c)
        return np.zeros(n, dtype=np.int64), c
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
    r = _kmeans(np.ascontiguousarray(x, dtype=np.float32), k, w, metric, seed, niter, nthreads, gpu,
                progress)
    return r.labels, r.centroids


def derived_seed(seed: int, *parts: int) -> int:
    """The seed of one of many fits (a group of ``--within``, a class of ``--split-leaves``):
    drawn from ``seed`` and the fit's ``parts``, so each fit gets its own stream."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *parts]).generate_state(1)[0] >> 1)
