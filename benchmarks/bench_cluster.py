"""granularity's k-means engine vs scikit-learn, side by side in one run.

(a) the real ImageNet-21k class embeddings (../shared/data, 21,843 x 384), k = 1000, 100, 38
(b) synthetic 1,000,000 x 256 (a mixture of 2,000 Gaussian blobs), k = 1000
(c) class means of 5,000,000 synthetic per-sample rows streamed from parquet

Every measurement runs in a fresh subprocess, so the peak resident memory
(ru_maxrss) is that run's own; "extra" is the peak minus the memory held once
the data is loaded. Inertia is recomputed the same way for every method (each
point to its nearest centroid, float64 sum) and divided by scikit-learn
KMeans(init="k-means++", algorithm="lloyd", n_init=1)'s. In (a), each method runs
``--repeat`` times (3), interleaved, and the tables give the run of median time:
a fit of a third of a second moves by 10-20% between runs on a shared machine.

    PYTHONPATH=. python benchmarks/bench_cluster.py            # everything, ~15 min on 2 cores
    PYTHONPATH=. python benchmarks/bench_cluster.py --only a   # one part (--repeat 1: a third of the time)
    PYTHONPATH=. python benchmarks/bench_cluster.py --only b --sklearn-rows 1000000
        # (b) with sklearn on all rows: about 13 more minutes and 7 GB
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "imagenet21k_gloss_minilm_f16.parquet"
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load(dataset: str) -> np.ndarray:
    if dataset == "real":
        import pyarrow.parquet as pq

        t = pq.read_table(SHARED)
        emb = t.column("emb").combine_chunks()
        return np.asarray(emb.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(emb), -1)
    if dataset == "synth":
        rng = np.random.default_rng(0)
        centers = rng.normal(size=(2000, 256)).astype(np.float32) * 2.0
        x = np.empty((1_000_000, 256), dtype=np.float32)
        for s in range(0, x.shape[0], 100_000):
            lab = rng.integers(0, 2000, size=100_000)
            x[s:s + 100_000] = centers[lab] + rng.standard_normal((100_000, 256), dtype=np.float32) \
                * rng.uniform(0.5, 1.5, size=2000).astype(np.float32)[lab, None]
        return x
    raise ValueError(dataset)


def inertia_of(x: np.ndarray, centroids: np.ndarray) -> float:
    import faiss

    index = faiss.IndexFlatL2(x.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    total = 0.0
    for s in range(0, x.shape[0], 200_000):
        d, _ = index.search(x[s:s + 200_000], 1)
        total += float(np.maximum(d, 0).astype(np.float64).sum())
    return total


def one(method: str, dataset: str, k: int, max_iter: int, fit_rows: int = 0) -> dict:
    x = load(dataset)
    base = current_rss_mb()
    fit = x
    sub = bool(fit_rows and fit_rows < x.shape[0])
    if sub:  # fit on a seeded uniform subsample, score on all rows
        fit = x[np.sort(np.random.default_rng(0).choice(x.shape[0], fit_rows, replace=False))]
    c0 = os.times()
    t0 = time.perf_counter()
    extra = {}
    if method == "ours":
        from hierarchy_cli.methods.kmeans import kmeans

        r = kmeans(x, k, seed=0)
        c = r.centroids
        extra = {"iters": r.niter, "seeding_s": round(r.init_seconds, 1)}
    elif method == "faiss-random":
        import faiss

        km = faiss.Kmeans(x.shape[1], k, niter=25, seed=1, verbose=False)
        km.train(x)
        c = km.centroids
    elif method in ("sklearn", "sklearn-f64"):
        from sklearn.cluster import KMeans

        if method == "sklearn-f64":  # float64 input: sklearn's faster path, twice the memory
            fit = fit.astype(np.float64)
        km = KMeans(k, init="k-means++", n_init=1, algorithm="lloyd", random_state=0,
                    max_iter=max_iter).fit(fit)
        c = km.cluster_centers_
        extra = {"iters": int(km.n_iter_)}
    elif method == "minibatch":
        from sklearn.cluster import MiniBatchKMeans

        km = MiniBatchKMeans(k, random_state=0, n_init=1).fit(fit)
        c = km.cluster_centers_
        extra = {"iters": int(km.n_iter_)}
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    c1 = os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    peak = rss_mb()
    if sub:
        extra["note"] = f"fit on {fit.shape[0]:,} rows"
    return {"method": method, "seconds": seconds, "cpu": cpu, "inertia": inertia_of(x, c),
            "peak_mb": peak, "extra_mb": max(0.0, peak - base), **extra}


# ----------------------------------------------------------------------------- (c) streaming


def make_samples(path: Path, rows: int, classes: int, dim: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(classes, dim)).astype(np.float32)
    schema = pa.schema([("sample_id", pa.string()), ("leaf_index", pa.int32()),
                        ("emb", pa.list_(pa.float32(), dim))])
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        step = 250_000
        for s in range(0, rows, step):
            m = min(step, rows - s)
            leaf = rng.integers(0, classes, size=m).astype(np.int32)
            x = centers[leaf] + rng.standard_normal((m, dim), dtype=np.float32)
            w.write_table(pa.table({
                "sample_id": pa.array([f"s{i}" for i in range(s, s + m)]),
                "leaf_index": pa.array(leaf),
                "emb": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim),
            }, schema=schema), row_group_size=65536)


def one_stream(method: str, path: str, classes: int) -> dict:
    import pyarrow.parquet  # noqa: F401  (imports before the baseline)

    import hierarchy_cli.methods.embeddings  # noqa: F401

    base = current_rss_mb()
    t0 = time.perf_counter()
    ids = [str(i) for i in range(classes)]
    if method == "ours-streamed":
        from hierarchy_cli.methods.embeddings import class_means, sample_columns

        sc = sample_columns(path, "leaf_index", "sample_id", "emb")
        means, counts = class_means(sc, ids)
    elif method == "pyarrow-whole-file":
        # what one would write without streaming: read the file, then average with numpy
        import pyarrow.parquet as pq

        t = pq.read_table(path, columns=["leaf_index", "emb"])
        leaf = t.column("leaf_index").to_numpy()
        emb = t.column("emb").combine_chunks()
        x = emb.values.to_numpy().reshape(len(emb), -1)
        counts = np.bincount(leaf, minlength=classes)
        means = np.zeros((classes, x.shape[1]))
        np.add.at(means, leaf, x)
        means /= counts[:, None]
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    peak = rss_mb()
    checksum = float(np.abs(means).sum())
    return {"method": method, "seconds": seconds, "peak_mb": peak, "extra_mb": max(0.0, peak - base),
            "checksum": checksum}


# ----------------------------------------------------------------------------- driver


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        return {"method": args[1] if len(args) > 1 else "?", "error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict], ref: dict) -> str:
    lines = ["| method | time (s) | CPU (s) | speed-up vs sklearn (time / CPU) | inertia / sklearn | peak RSS (MB) | extra over data (MB) | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | - | - | - | - | - | - | failed: {r['error']} |")
            continue
        notes = ", ".join(v if k == "note" else f"{k} {v}" for k, v in r.items()
                          if k in ("iters", "seeding_s", "note"))
        lines.append(
            f"| {r['method']} | {r['seconds']:.1f} | {r.get('cpu', float('nan')):.1f} | "
            f"{ref['seconds'] / r['seconds']:.1f}x / {ref.get('cpu', float('nan')) / r.get('cpu', float('nan')):.1f}x | "
            f"{r['inertia'] / ref['inertia']:.4f} | {r['peak_mb']:.0f} | {r['extra_mb']:.0f} | {notes} |"
        )
    return "\n".join(lines)


def median_run(runs: list[dict]) -> dict:
    """The run of median time (time, CPU and memory from that one run); the first failure if
    any run failed."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    mid = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    if len(runs) > 1:
        mid = {**mid, "note": (mid.get("note", "") + ", " if mid.get("note") else "")
               + f"median of {len(runs)} runs: " + "/".join(f"{r['seconds']:.2f}" for r in runs) + " s"}
    return mid


def part_a(repeat: int) -> None:
    if not SHARED.exists():
        print(f"(a) skipped: {SHARED} not found")
        return
    methods = ("sklearn", "sklearn-f64", "ours", "faiss-random", "minibatch")
    for k in (1000, 100, 38):
        runs = {m: [] for m in methods}
        for _ in range(repeat):  # round robin, so that a change of load reaches every method
            for m in methods:
                runs[m].append(child(["one", m, "real", str(k), "300"]))
        rows = [median_run(runs[m]) for m in methods]
        print(f"\n### (a) ImageNet-21k class embeddings, 21,843 x 384, k = {k}\n")
        print(table(rows, rows[0]), flush=True)


def part_b(sk_iter: int, sk_rows: int) -> None:
    rows = [child(["one", "sklearn-f64", "synth", "1000", str(sk_iter), str(sk_rows)]),
            child(["one", "ours", "synth", "1000", "0"]),
            child(["one", "minibatch", "synth", "1000", "0"])]
    if "error" not in rows[0]:
        rows[0]["note"] = f"max_iter {sk_iter}, " + rows[0].get("note", "all rows")
    print("\n### (b) synthetic 1,000,000 x 256 (2,000 blobs), k = 1000\n")
    print(table(rows, rows[0]), flush=True)


def part_c(rows_n: int, classes: int, dim: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        path = Path(tmp) / "samples.parquet"
        t0 = time.perf_counter()
        make_samples(path, rows_n, classes, dim)
        made = time.perf_counter() - t0
        res = [child(["stream", m, str(path), str(classes)]) for m in ("ours-streamed", "pyarrow-whole-file")]
        size = path.stat().st_size / 2**20
    print(f"\n### (c) class means of {rows_n:,} per-sample rows ({classes:,} classes, {dim} dims, "
          f"parquet {size:,.0f} MB, written in {made:.0f} s)\n")
    print("| method | time (s) | peak RSS (MB) | extra over start (MB) | sum of abs(means) |")
    print("|---|---:|---:|---:|---:|")
    for r in res:
        if "error" in r:
            print(f"| {r['method']} | failed: {r['error']} | | | |")
        else:
            print(f"| {r['method']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {r['extra_mb']:.0f} | {r['checksum']:.6g} |")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        if kind == "one":
            m, ds, k, it = sys.argv[3:7]
            fit_rows = int(sys.argv[7]) if len(sys.argv) > 7 else 0
            print(json.dumps(one(m, ds, int(k), int(it), fit_rows)))
        else:
            m, path, classes = sys.argv[3:6]
            print(json.dumps(one_stream(m, path, int(classes))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["a", "b", "c"])
    ap.add_argument("--sklearn-max-iter", type=int, default=20, help="cap of sklearn KMeans in (b)")
    ap.add_argument("--sklearn-rows", type=int, default=100_000,
                    help="sklearn KMeans in (b) is fit on this many rows (its k-means++ seeding reads "
                    "all rows k * (2 + ln k) times); inertia is scored on all 1,000,000")
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="(a): runs of each method, interleaved; the tables give the median")
    args = ap.parse_args()
    import faiss
    import sklearn

    print(f"numpy {np.__version__}, faiss {faiss.__version__}, scikit-learn {sklearn.__version__}, "
          f"{os.cpu_count()} cores")
    if args.only in (None, "a"):
        part_a(args.repeat)
    if args.only in (None, "b"):
        part_b(args.sklearn_max_iter, args.sklearn_rows)
    if args.only in (None, "c"):
        part_c(args.rows, 10_000, 64)


if __name__ == "__main__":
    main()
