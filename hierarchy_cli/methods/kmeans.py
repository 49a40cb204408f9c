"""The k-means engine: greedy k-means++ seeding, then exact Lloyd iterations with bounds.

faiss's default initialisation picks k random points; on structured data
(sentence embeddings, k = 1000) that ends measurably above scikit-learn's
greedy k-means++. So the seeding here is greedy k-means++ as scikit-learn does
it (Arthur & Vassilvitskii 2007, with ``2 + ln k`` local trials per centre, the
one that lowers the potential most is kept), on a seeded
``numpy.random.Generator``, with the candidates' distances computed in large
matrix products (see :func:`_seed`), when the spectrum allows first over the
principal axes that hold most of the variance (see :func:`_best_candidate`).

The Lloyd iterations (see :func:`lloyd`) are exact, but skip the distance
computations that cannot change an assignment, in the way of Elkan (2003) and
Ding et al.'s Yinyang k-means (2015): each point keeps an upper bound on the
distance to its own centroid and a lower bound on the distance to each group
of other centroids; when centroids move, the bounds move by as much, and only
the pairs whose bounds overlap are measured again (see :class:`_Bounds`). Late
iterations, where few points change cluster, cost a small fraction of a full
pass, so the loop can run until no point changes cluster (or ``niter`` is
reached).

Large inputs: seeding and Lloyd run on a seeded uniform subsample of at most
``max_points_per_centroid * k`` points (256 per centroid, faiss's rule); the
final assignment (faiss ``IndexFlatL2``), the labels and the inertia always
cover every point.

``metric="cosine"`` is spherical k-means: rows are L2-normalised and so is
every centroid after each update; the inertia is then the squared L2 distance
between unit vectors, ``2 - 2 cos``.

Same data, same parameters, same seed and the same number of threads give
byte-identical centroids and labels (the tests check it).
"""

from __future__ import annotations

import importlib
import math
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import GranularityError

METRICS = ("l2", "cosine")
DEFAULT_NITER = 10
CHUNK_ROWS = 65536
ASSIGN_ROWS = 1024  # Lloyd: points measured per matrix product (their rows stay in cache)
BLOCK_BYTES = 64 * 2**20  # seeding: cache of candidates' distance rows
BOUND_BYTES = 256 * 2**20  # Lloyd: lower bounds, points x groups of centroids
MEASURE_ROWS = 256  # Lloyd: points measured again per matrix product (sorted by centroid)
TIGHTEN_MIN_K = 128  # Lloyd: below this k, measuring whole rows again is cheaper than pairs
SUM_LABELS = 32  # Lloyd: centroids whose sums come from one dense one-hot product
CAND_CHUNK = 512  # seeding: candidate rows computed per matrix product, at most
SPLIT_FROM = 32  # seeding: centres chosen from whole distance rows before partial ones
SPLIT_VARIANCE = 0.94  # seeding: share of the variance in the first dimensions of partial rows
SPLIT_MAX_DIMS = 0.75  # seeding: partial rows only when that takes at most this share of dims
PCA_ROWS = 4096  # seeding: rows the principal axes are computed from


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


def _augment(x: np.ndarray, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """``[x, |x|^2, 1]`` (of ``x[rows]`` when given, copied a chunk at a time): with
    :func:`_augment_centres`, one matrix product gives squared distances."""
    m = x.shape[0] if rows is None else rows.size
    out = np.empty((m, x.shape[1] + 2), dtype=np.float32)
    for s in range(0, m, CHUNK_ROWS):
        blk = out[s:s + CHUNK_ROWS, :-2]
        blk[...] = x[s:s + CHUNK_ROWS] if rows is None else x[rows[s:s + CHUNK_ROWS]]
        out[s:s + CHUNK_ROWS, -2] = np.einsum("ij,ij->i", blk, blk)
    out[:, -1] = 1.0
    return out


def _augment_centres(c: np.ndarray, cn: np.ndarray) -> np.ndarray:
    """``[-2 c, 1, |c|^2]``, so that ``augment(x) @ augment_centres(c).T = |x - c|^2``."""
    out = np.empty((c.shape[0], c.shape[1] + 2), dtype=np.float32)
    np.multiply(c, -2.0, out=out[:, :-2])
    out[:, -2] = 1.0
    out[:, -1] = cn
    return out


def _own_sq_dist(x: np.ndarray, c: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Exact squared distance of each row of ``x`` to its centroid ``c[labels]``."""
    out = np.empty(x.shape[0], dtype=np.float32)
    step = 4096  # temporaries stay in cache
    for s in range(0, x.shape[0], step):
        diff = x[s:s + step] - c[labels[s:s + step]]
        out[s:s + step] = np.einsum("ij,ij->i", diff, diff)
    return out


# ----------------------------------------------------------------------------- seeding


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
    block_bytes: int = BLOCK_BYTES,
    split_dims: Optional[int] = None,
) -> np.ndarray:
    """Greedy k-means++: the indices (into ``x``) of ``k`` seed points.

    The first centre is drawn with probability proportional to the weight; each
    next one draws ``n_local_trials`` (default ``2 + ln k``) candidates with
    probability proportional to ``weight * D(x)^2`` and keeps the one that lowers
    the potential ``sum weight * D^2`` most (ties: the first drawn). ``x`` is
    ``(n, d)``. ``split_dims``: compute the candidates' distances in two stages, the
    first over that many principal axes (see :func:`_split_rows`; the same seeds,
    fewer products); ``0`` never; by default, when it pays.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    trials = _local_trials(k, n_local_trials)
    split = _split_rows(x, k, trials, split_dims)
    return _seed(_augment(x), k, rng, weights, trials, progress, block_bytes, split=split)


def _seed(xa, k, rng, weights, n_local_trials, progress, block_bytes=BLOCK_BYTES,
          nearest: Optional[np.ndarray] = None, split=None) -> np.ndarray:
    """:func:`kmeans_plusplus` on the augmented rows ``xa`` (see :func:`_augment`); fills
    ``nearest``, when given, with each point's nearest seed (its position in the result).

    Done one centre at a time, every step reads all of ``x`` for a handful of
    candidates, which is memory-bound. Here the proposals of many steps are
    drawn at once from the potential ``D_0`` at the start of a batch and made
    exact by rejection: a step accepts a proposal ``y`` with probability
    ``D(y)^2 / D_0(y)^2`` (``D`` only shrinks), so the accepted ones are draws
    from the current ``D^2``; proposals are used in order, each tested once.
    A proposal that fails the test now fails it later too, so distance rows
    are computed only for proposals that pass it, up to ``CAND_CHUNK`` points at a
    time in one matrix product, and kept (up to ``block_bytes``) for points
    proposed again. The candidate kept is the one that lowers the potential
    most: the one whose row gives the least ``sum w * min(D^2, |x - y|^2)``.
    With ``split`` (from :func:`_split_rows`), from the first batch after
    ``SPLIT_FROM`` centres the rows hold distances over the first principal axes
    only, and :func:`_best_candidate` completes the pairs that can matter.
    """
    n = xa.shape[0]
    if k > n:
        raise GranularityError(f"k = {k} is larger than the number of points ({n})")
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    w64 = None if w is None else w.astype(np.float64)
    trials = _local_trials(k, n_local_trials)
    centers = np.empty(k, dtype=np.int64)
    if w is not None:
        wsum = np.cumsum(w64)
        first = int(np.searchsorted(wsum, rng.random() * wsum[-1], side="right"))
    else:
        first = int(rng.random() * n)
    centers[0] = min(first, n - 1)

    src = xa  # the augmented rows candidate rows are computed from: all dimensions, or the first

    def rows_of(points: np.ndarray, out: np.ndarray) -> np.ndarray:
        h = src.shape[1] - 2
        ya = _augment_centres(src[points, :h], src[points, h])
        return np.matmul(ya, src.T, out=out)

    closest = rows_of(centers[:1], np.empty((1, n), dtype=np.float32))[0]
    np.maximum(closest, 0.0, out=closest)
    closest[centers[0]] = 0.0
    if nearest is not None:
        nearest[:] = 0
    # rows per product: 128 run at 3/4 of the speed of 512, but rows computed ahead of
    # need may go unused; a third of the row cache at most, while it holds 384 rows or more
    cap = block_bytes // (4 * n)
    chunk = max(trials, min(CAND_CHUNK, max(CAND_CHUNK // 4, cap // 3)))
    cap = max(2 * chunk, cap)
    rows = np.empty((cap, n), dtype=np.float32)
    slot = np.full(n, -1, dtype=np.int64)  # row of rows holding a point's distances, or -1
    used = 0
    stream = max(64 * trials, 4 * chunk)
    scratch = np.empty(n, dtype=np.float32)
    c = 1
    reported = 0
    while c < k:
        if split is not None and src is xa and c >= SPLIT_FROM:
            src = split[0]  # from now on, rows of partial distances
            slot[:] = -1
            used = 0
        cum = np.cumsum(closest if w is None else w * closest, dtype=np.float64)
        pot = float(cum[-1])
        if pot <= 0.0:  # every point coincides with a centre: take unused points in order
            unused = np.setdiff1d(np.arange(n), centers[:c])
            centers[c:] = unused[: k - c]
            break
        pool = np.minimum(np.searchsorted(cum, rng.random(stream) * pot, side="right"), n - 1)
        thresh = rng.random(stream).astype(np.float32) * closest[pool]  # u * D_0(y)^2
        pos = 0
        while c < k:
            ok = np.flatnonzero(thresh[pos:] < closest[pool[pos:]]) + pos
            if ok.size < trials:
                break  # proposals used up: a new batch from the current potential
            cand = pool[ok[:trials]]
            if (slot[cand] < 0).any():
                if used + chunk > cap:  # full: forget every kept row
                    slot[slot >= 0] = -1
                    used = 0
                ahead = pool[ok]
                ahead = ahead[slot[ahead] < 0]
                _, first_seen = np.unique(ahead, return_index=True)
                todo = ahead[np.sort(first_seen)][:min(chunk, trials * (k - c))]  # candidates first
                rows_of(todo, rows[used:used + todo.size])
                slot[todo] = np.arange(used, used + todo.size)
                used += todo.size
            if src is xa:
                after = np.empty(trials, dtype=np.float64)  # the potential with each candidate
                for t, p in enumerate(slot[cand]):
                    np.minimum(closest, rows[p], out=scratch)
                    after[t] = scratch.sum() if w is None else scratch @ w
                best = int(np.argmin(after))
                row = rows[slot[cand[best]]]
                near = np.flatnonzero(row < closest)
                dist = row[near]
            else:
                best, near, dist = _best_candidate(cand, rows, slot, closest, w, *split[1:])
            centers[c] = cand[best]
            closer = dist < closest[near]
            near, dist = near[closer], dist[closer]
            if nearest is not None:
                nearest[near] = c
            closest[near] = np.maximum(dist, 0.0)
            closest[centers[c]] = 0.0
            c += 1
            pos = int(ok[trials - 1]) + 1
            if progress is not None and c - reported >= 50:
                progress(c - reported)
                reported = c
    if progress is not None and k > reported:
        progress(k - reported)
    return centers


def _split_rows(x: np.ndarray, k: int, trials: int, first: Optional[int] = None):
    """The rotated rows for two-stage seeding, or ``None`` when it would not pay.

    Rows are rotated onto their principal axes (an orthogonal map: distances do
    not change), split into the first ``h`` dimensions (augmented, for the candidates'
    products) and the rest (for the few points whose partial distance is below their
    ``D^2``). ``h`` is ``first`` when given; else the fewest axes that hold
    ``SPLIT_VARIANCE`` of the variance, used when at most ``SPLIT_MAX_DIMS`` of the
    dimensions and the products saved outweigh four times the rotation's."""
    n, d = x.shape
    if first is not None and not 0 < first < d:
        return None
    if k <= SPLIT_FROM or d < 2 or (first is None and (k - SPLIT_FROM) * trials <= 4 * d):
        return None  # (the products saved could not outweigh the rotation)
    sample = x[:: max(1, n // PCA_ROWS)]  # every m-th row: no draw from the rng
    sample = (sample - sample.mean(axis=0, dtype=np.float64)).astype(np.float32)
    var, axes = np.linalg.eigh((sample.T @ sample).astype(np.float64))
    var, axes = var[::-1], axes[:, ::-1]
    if first is None:
        share = np.cumsum(np.maximum(var, 0.0)) / max(float(np.maximum(var, 0.0).sum()), 1e-300)
        h = int(np.searchsorted(share, SPLIT_VARIANCE)) + 1
        saved = (k - SPLIT_FROM) * trials * (d - h)
        if h > SPLIT_MAX_DIMS * d or saved <= 4 * d * d:
            return None
    else:
        h = first
    rot = np.ascontiguousarray(axes, dtype=np.float32)
    head = np.empty((n, h + 2), dtype=np.float32)
    rest = np.empty((n, d - h), dtype=np.float32)
    for s in range(0, n, ASSIGN_ROWS):  # small pieces: no large temporary
        r = x[s:s + ASSIGN_ROWS] @ rot
        head[s:s + ASSIGN_ROWS, :h] = r[:, :h]
        rest[s:s + ASSIGN_ROWS] = r[:, h:]
    head[:, h] = np.einsum("ij,ij->i", head[:, :h], head[:, :h])
    head[:, h + 1] = 1.0
    return head, rest, np.einsum("ij,ij->i", rest, rest)


def _best_candidate(cand, rows, slot, closest, w, rest, rest_sq):
    """Greedy choice from partial distance rows: the candidate that lowers the potential
    ``sum w * D^2`` most, with the points it brings closer and their new squared distances.

    ``rows`` hold squared distances over the first dimensions only, which never exceed
    the whole ones: a point whose partial distance to a candidate already reaches its
    ``D^2`` cannot come closer to it. Only the other pairs, a few in a thousand once
    the centres cover the data, get the rest of their distance from ``rest`` (the
    remaining dimensions; ``rest_sq`` their squared norms). Ties: the first drawn."""
    part = rows[slot[cand]]
    t, idx = np.divmod(np.flatnonzero(part < closest), closest.size)
    dots = np.matmul(rest[idx], rest[cand].T)[np.arange(idx.size), t]
    full = part[t, idx] + np.maximum(rest_sq[idx] + rest_sq[cand[t]] - 2.0 * dots, 0.0)
    gain = np.maximum(closest[idx] - full, 0.0)
    total = np.bincount(t, gain if w is None else gain * w[idx], minlength=cand.size)
    best = int(np.argmax(total))
    sel = t == best
    return best, idx[sel], full[sel]


# ----------------------------------------------------------------------------- Lloyd


def _groups(centroids: np.ndarray, n_groups: int, seed: int) -> np.ndarray:
    """Group id of each centroid: ``n_groups`` spatial groups (a small k-means of the
    centroids themselves; groups left empty are dropped)."""
    k = centroids.shape[0]
    if n_groups >= k:
        return np.arange(k, dtype=np.int64)
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    g = c[kmeans_plusplus(c, n_groups, np.random.default_rng(seed))]
    cn = _sq_norms(c)
    for _ in range(5):
        d = np.matmul(c, g.T) * -2.0 + _sq_norms(g)[None, :] + cn[:, None]
        lab = np.argmin(d, axis=1)
        counts = np.bincount(lab, minlength=n_groups)
        onehot = np.zeros((n_groups, k), dtype=np.float64)
        onehot[lab, np.arange(k)] = 1.0
        g = np.where(counts[:, None] > 0, (onehot @ c) / np.maximum(counts, 1)[:, None], g)
        g = g.astype(np.float32)
    _, lab = np.unique(lab, return_inverse=True)
    return lab.astype(np.int64).ravel()


class _Bounds:
    """Assignment state of Lloyd with Elkan or Yinyang bounds (Elkan 2003; Ding et al. 2015).

    ``labels``: each point's centroid; ``upper``: an upper bound on the distance
    to it; ``lower[:, g]``: a lower bound on the distance to every other
    centroid of group ``g`` (groups of nearby centroids; one centroid per group
    when the bounds fit in memory, which is Elkan's). Distances here are L2, not
    squared: when the centroids move, the bounds move by their drift (triangle
    inequality). A point is measured again only when a lower bound falls below
    its upper bound (first tightened to the exact distance to its own
    centroid), and only against the groups whose bounds fall below it: a few in
    a thousand centroids, once the first iterations are done. The points are
    taken ``MEASURE_ROWS`` at a time, sorted by centroid, so that those of one
    product need few groups between them; every group measured for a point gets
    a fresh bound. Below ``TIGHTEN_MIN_K`` centroids, most groups are needed anyway
    and such a point is measured against all of them, without tightening.
    """

    def __init__(self, xa: np.ndarray, group: np.ndarray, tol: float):
        self.xa, self.tol = xa, tol
        self.x = xa[:, :-2]
        k = group.size
        self.group = group
        self.order = np.argsort(group, kind="stable")  # centroids sorted by group
        self.rank = np.empty(k, dtype=np.int64)  # position of each centroid in ``order``
        self.rank[self.order] = np.arange(k)
        self.group_at = group[self.order]  # group of each position
        ng = int(group.max()) + 1
        self.starts = np.searchsorted(self.group_at, np.arange(ng))
        self.elkan = ng == k
        n = xa.shape[0]
        self.labels = np.zeros(n, dtype=np.int64)
        self.upper = np.zeros(n, dtype=np.float32)
        self.lower = np.zeros((n, ng), dtype=np.float32)

    def assign(self, rows: np.ndarray, c: np.ndarray) -> None:
        """Measure ``rows`` against every centroid: exact labels, upper and lower bounds."""
        k = c.shape[0]
        cs = c[self.order]
        ca = _augment_centres(cs, _sq_norms(cs))
        step = ASSIGN_ROWS
        buf = np.empty((min(step, rows.size), k), dtype=np.float32)
        full = rows.size == self.xa.shape[0]
        for s in range(0, rows.size, step):
            idx = rows[s:s + step]
            d = np.matmul(self.xa[s:s + step] if full else self.xa[idx], ca.T, out=buf[:idx.size])
            np.maximum(d, 0.0, out=d)
            j = np.argmin(d, axis=1)
            ar = np.arange(idx.size)
            self.labels[idx] = self.order[j]
            self.upper[idx] = np.sqrt(d[ar, j])
            d[ar, j] = np.inf
            if self.elkan:
                if full:
                    np.sqrt(d, out=self.lower[s:s + step])
                else:
                    self.lower[idx] = np.sqrt(d, out=d)
            else:
                self.lower[idx] = np.sqrt(np.minimum.reduceat(d, self.starts, axis=1))

    def update(self, drift: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move the bounds by the centroids' ``drift`` and reassign the points that may
        have changed cluster; returns the points that did and their previous labels."""
        none = np.empty(0, dtype=np.int64)
        self.upper += drift[self.labels]
        self.lower -= np.maximum.reduceat(drift[self.order], self.starts)[None, :]
        low = self.lower.min(axis=1)
        cand = np.flatnonzero(self.upper + self.tol > low)
        if not cand.size:
            return none, none
        if c.shape[0] < TIGHTEN_MIN_K:  # few centroids: measure whole rows
            old = self.labels[cand]
            self.assign(cand, c)
            moved = np.flatnonzero(self.labels[cand] != old)
            return cand[moved], old[moved]
        # tighten: the exact distance to the own centroid, against which others are measured
        own = _own_sq_dist(self.x[cand], c, self.labels[cand])
        up = np.sqrt(own)
        self.upper[cand] = up
        keep = up + self.tol > low[cand]
        cand, own, up = cand[keep], own[keep], up[keep]
        if not cand.size:
            return none, none
        by_label = np.argsort(self.labels[cand], kind="stable")
        cand, own, up = cand[by_label], own[by_label], up[by_label]
        old = self.labels[cand]
        new, best = old.copy(), own.copy()
        cs = c[self.order]
        ca = _augment_centres(cs, _sq_norms(cs))
        for s in range(0, cand.size, MEASURE_ROWS):
            e = min(s + MEASURE_ROWS, cand.size)
            rows, ar = cand[s:e], np.arange(e - s)
            bounds = self.lower[rows]
            groups = np.flatnonzero((bounds < (up[s:e] + self.tol)[:, None]).any(axis=0))
            pos = groups if self.elkan else np.flatnonzero(np.isin(self.group_at, groups))
            d = np.matmul(self.xa[rows], ca[pos].T)
            np.maximum(d, 0.0, out=d)
            j = np.argmin(d, axis=1)
            dj = d[ar, j]
            better = np.flatnonzero(dj < best[s:e])
            new[s + better] = self.order[pos[j[better]]]
            best[s + better] = dj[better]
            # fresh bounds for the groups measured, none on the own centroid
            mine = np.searchsorted(pos, self.rank[new[s:e]])
            hit = np.flatnonzero(mine < pos.size)
            hit = hit[pos[mine[hit]] == self.rank[new[s + hit]]]
            d[hit, mine[hit]] = np.inf
            np.sqrt(d, out=d)
            if self.elkan:
                bounds[:, groups] = d
            else:
                bounds[:, groups] = np.minimum.reduceat(d, np.searchsorted(pos, self.starts[groups]), axis=1)
            moved = np.flatnonzero(new[s:e] != old[s:e])  # the old centroid is another one now:
            g = self.group[old[s + moved]]  # its exact distance bounds it
            bounds[moved, g] = np.minimum(bounds[moved, g], up[s + moved])
            self.lower[rows] = bounds
        moved = np.flatnonzero(new != old)
        self.labels[cand] = new
        self.upper[cand] = np.sqrt(best)
        return cand[moved], old[moved]


def _add_sums(sums: np.ndarray, x: np.ndarray, rows: np.ndarray, labels: np.ndarray,
              vals: Optional[np.ndarray]) -> None:
    """``sums[labels[i]] += vals[i] * x[rows[i]]`` for every ``i``. The rows are sorted by
    label, so each run of ``SUM_LABELS`` labels holds a contiguous run of rows: a dense
    one-hot (labels x rows) matrix times those rows, in float32 products of at most
    ``CHUNK_ROWS`` rows, accumulated in the float64 ``sums``. An order of magnitude faster
    than ``np.add.at`` or ``np.add.reduceat``, as fast as a scipy sparse product, and no
    scipy import (0.2-0.3 s)."""
    k = sums.shape[0]
    order = np.argsort(labels, kind="stable")
    lab, rows = labels[order], rows[order]
    v = np.ones(rows.size, dtype=np.float32) if vals is None else vals[order].astype(np.float32)
    run = lab // SUM_LABELS
    firsts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]]) if rows.size else np.empty(0, np.int64)
    for p, q in zip(firsts, np.r_[firsts[1:], rows.size]):
        a = int(run[p]) * SUM_LABELS
        width = min(SUM_LABELS, k - a)
        for s in range(p, q, CHUNK_ROWS):
            e = min(q, s + CHUNK_ROWS)
            m = np.zeros((width, e - s), dtype=np.float32)
            m[lab[s:e] - a, np.arange(e - s)] = v[s:e]
            sums[a:a + width] += m @ x[rows[s:e]]


def _weighted_sums(x: np.ndarray, w: Optional[np.ndarray], labels: np.ndarray, k: int,
                   rows: Optional[np.ndarray] = None, old: Optional[np.ndarray] = None):
    """Per-centroid sums of ``w * x`` (float64), point counts and weight sums: of all rows,
    or the change when ``rows`` move from the centroids ``old`` to ``labels[rows]``."""
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    if rows is None:
        _add_sums(sums, x, np.arange(x.shape[0]), labels, w)
        counts = np.bincount(labels, minlength=k).astype(np.int64)
        wsum = counts.astype(np.float64) if w is None else np.bincount(labels, w, minlength=k)
        return sums, counts, wsum
    new = labels[rows]
    wr = np.ones(rows.size, dtype=np.float32) if w is None else w[rows]
    _add_sums(sums, x, rows, new, wr)
    _add_sums(sums, x, rows, old, -wr)
    counts = np.bincount(new, minlength=k) - np.bincount(old, minlength=k)
    wsum = np.bincount(new, wr, minlength=k) - np.bincount(old, wr, minlength=k)
    return sums, counts.astype(np.int64), wsum


def lloyd(
    x: np.ndarray,
    centroids: np.ndarray,
    *,
    weights: Optional[np.ndarray] = None,
    niter: int = DEFAULT_NITER,
    spherical: bool = False,
    seed: int = 0,
    bound_bytes: int = BOUND_BYTES,
    progress: Optional[Callable[[int], None]] = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact Lloyd iterations from ``centroids``: returns ``(centroids, labels, iterations)``.

    Each iteration moves every centroid to the (weighted) mean of its points
    (normalised when ``spherical``) and reassigns the points, until no point
    changes cluster or ``niter`` updates are done; the labels returned are the
    assignment to the centroids returned. A centroid left without points moves
    to the point farthest from its own centroid (scikit-learn's rule), the
    next one to the next farthest. The bounds of :class:`_Bounds` skip the
    points that cannot change cluster: their lower bounds take ``4 * n * G``
    bytes, with ``G`` groups of centroids (``G = k`` when that fits in
    ``bound_bytes``).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    return _lloyd(_augment(x), centroids, weights, niter, spherical, seed,
                  bound_bytes, progress)


def _lloyd(xa, centroids, weights, niter, spherical, seed, bound_bytes=BOUND_BYTES, progress=None,
           labels: Optional[np.ndarray] = None):
    """:func:`lloyd` on the augmented rows ``xa`` (see :func:`_augment`). ``labels``, when
    given, is the assignment to ``centroids`` already known (from the seeding), which saves
    the first pass over all distances."""
    x = xa[:, :-2]
    c = np.array(centroids, dtype=np.float32, copy=True, order="C")
    n, k = x.shape[0], c.shape[0]
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    n_groups = int(min(k, max(1, bound_bytes // (4 * n))))
    # float32 distances through |x|^2 + |c|^2 - 2 x.c carry an absolute error of about
    # 1e-6 of the largest squared norm: bounds closer than that are measured again
    tol = float(math.sqrt(1e-6 * max(float(xa[:, -2].max(initial=0.0)), 1e-30)))
    state = _Bounds(xa, _groups(c, n_groups, seed), tol)
    bounded = labels is None  # bounds hold once every point was measured
    if bounded:
        state.assign(np.arange(n), c)
    else:
        state.labels[:] = labels
    sums, counts, wsum = _weighted_sums(x, w, state.labels, k)
    done = 0
    for done in range(1, niter + 1):
        new = (sums / np.where(counts > 0, wsum, 1.0)[:, None]).astype(np.float32)
        empty = np.flatnonzero(counts <= 0)
        if empty.size:  # relocate to the points farthest from their centroid
            far = _own_sq_dist(x, c, state.labels) * (1.0 if w is None else w)
            new[empty] = x[np.argsort(-far, kind="stable")[: empty.size]]
        if spherical:
            norms = np.sqrt(_sq_norms(new))
            norms[norms == 0] = 1.0
            new /= norms[:, None]
        drift = np.sqrt(_sq_norms(new - c))
        c = new
        if progress is not None:
            progress(done)
        if not drift.any():
            break
        if bounded:
            rows, old = state.update(drift, c)
        else:
            before = state.labels.copy()
            state.assign(np.arange(n), c)
            rows = np.flatnonzero(state.labels != before)
            old = before[rows]
            bounded = True
        if not rows.size:
            break  # no point changed cluster: the centroids are fixed
        ds, dc, dw = _weighted_sums(x, w, state.labels, k, rows, old)
        sums += ds
        counts += dc
        wsum += dw
    return c, state.labels, done


# ----------------------------------------------------------------------------- k-means


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
    max_points_per_centroid: int = 256,
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> KMeansResult:
    """k-means of the rows of ``x`` (``(n, d)``, any float dtype) into ``k`` groups.

    ``metric`` is ``l2`` or ``cosine`` (spherical k-means on L2-normalised rows);
    ``weights`` (``(n,)``, positive) weights the points; ``seed`` fixes the
    seeding and the subsample; ``niter`` caps the Lloyd iterations (they stop
    earlier once no point changes cluster). ``progress(stage, done, total)`` is
    called with ``stage`` ``"seeding"`` and ``"lloyd"``.
    Returns a :class:`KMeansResult`; labels number the centroids in seeding order.
    """
    import time

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
    m = min(n, max(k, max_points_per_centroid * k))
    sub = np.sort(rng.choice(n, size=m, replace=False)) if m < n else None
    loading = None
    if sub is not None and "faiss" not in sys.modules:  # needed at the end: import it meanwhile
        loading = threading.Thread(target=importlib.import_module, args=("faiss",), daemon=True)
        loading.start()  # (0.07-0.2 s of imports, overlapped with matrix products that free the GIL)
    ws = None if w is None else (w if sub is None else w[sub])
    tick = (lambda step: progress("seeding", step, k)) if progress else None
    xa = _augment(x, sub)
    nearest = np.empty(xa.shape[0], dtype=np.int64)
    trials = _local_trials(k, n_local_trials)
    split = _split_rows(xa[:, :d], k, trials)
    seeds = _seed(xa, k, rng, ws, trials, tick, nearest=nearest, split=split)
    del split
    t1 = time.perf_counter()

    lticks = (lambda it: progress("lloyd", it, niter)) if progress else None
    centroids, labels, iters = _lloyd(xa, xa[seeds, :d], ws, niter, metric == "cosine",
                                      int(rng.integers(0, 2**31 - 1)), progress=lticks,
                                      labels=nearest)
    del xa
    if sub is None:
        dist = _own_sq_dist(x, centroids, labels)
    else:  # every point to its nearest centroid
        if loading is not None:
            loading.join()
        import faiss

        index = faiss.IndexFlatL2(d)
        index.add(centroids)
        dist, lab = index.search(x, 1)
        dist, labels = np.maximum(dist[:, 0], 0.0), lab[:, 0].astype(np.int64)
    t2 = time.perf_counter()
    inertia = float(np.dot(dist.astype(np.float64), w.astype(np.float64))) if w is not None \
        else float(dist.astype(np.float64).sum())
    return KMeansResult(centroids, labels.astype(np.int64), dist, inertia, iters, t1 - t0, t2 - t1)
