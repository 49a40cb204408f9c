"""granularity's k-means (our k-means++ seeds, faiss's Lloyd) vs scikit-learn and faiss,
side by side in one run.

(a) class embeddings: the shipped default (ImageNet-21k, 21,843 x 128) and the 384-d
    MiniLM file in ../shared/data, k = 1000, 100, 38
(b) synthetic 1,000,000 x 256 (a mixture of 2,000 Gaussian blobs), k = 1000
(c) per-sample runs on a 5,000,000-row parquet file: class means (--samples --k),
    --instance and --split-leaves, as whole CLI processes: time and peak memory
(d) what the tuning constants buy: rows per seeding product (CAND_ROWS) on both inputs
    of (a); one thread for small fits (SMALL_FIT) on --within and --split-leaves

Methods: "ours" is ``hierarchy_cli.methods.kmeans.kmeans(x, k, seed=0)``; "cli" is the
whole ``granularity cluster --k K`` process (start-up, reading, names, writing);
"sklearn" is ``KMeans(k, init="k-means++", n_init=1, random_state=0)`` at its default
max_iter (300) and "sklearn-10" at ``max_iter=10``; "skpp+faiss" is scikit-learn's
``kmeans_plusplus`` then faiss's Lloyd (10 iterations) from those seeds; "faiss-random"
is ``faiss.Kmeans(d, k)`` with its defaults (random start, 25 iterations); "before"
(with ``--before DIR``, a checkout of an older granularity) is that version's kmeans().
Every measurement runs in a fresh subprocess; inertia is recomputed the same way for
every method (each point to its nearest centroid, float64 sum) and divided by
scikit-learn's. Each method runs ``--repeat`` times (3), interleaved; the tables give
the median time and every run's.

    PYTHONPATH=. python benchmarks/bench_cluster.py --only a      # ~15 min on 2 cores
    PYTHONPATH=. python benchmarks/bench_cluster.py --only b      # ~15 min, 7 GB (sklearn)
    PYTHONPATH=. python benchmarks/bench_cluster.py --only c      # ~5 min, writes 1.2 GB to /tmp
    PYTHONPATH=. python benchmarks/bench_cluster.py --only d
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
# ../shared/data beside the checkout (or beside the folder of git worktrees)
SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
              ROOT.parent / "shared") / "data" / "imagenet21k_gloss_minilm_f16.parquet"
DEFAULT = ROOT / "hierarchy_cli" / "data" / "class_gloss_minilm_pca128.parquet"
INPUTS = {"default128": DEFAULT, "minilm384": SHARED}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def load(dataset: str) -> np.ndarray:
    if dataset in INPUTS:
        import pyarrow.parquet as pq

        emb = pq.read_table(INPUTS[dataset]).column("emb").combine_chunks()
        if dataset == "default128":   # the ImageNet-21k rows (first), as `granularity cluster` takes them
            emb = emb[:21843]
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


def _cli(dataset: str, k: int, tmp: str) -> np.ndarray:
    cmd = [sys.executable, "-m", "hierarchy_cli", "cluster", "--k", str(k), "-o", f"{tmp}/map.parquet",
           "--centroids", f"{tmp}/c.npy"]
    if dataset != "default128":
        cmd += ["--embeddings", str(INPUTS[dataset])]
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return np.load(f"{tmp}/c.npy")


def one(method: str, dataset: str, k: int, before: str = "") -> dict:
    x = load(dataset) if method != "cli" else None
    extra = {}
    if method == "before":
        sys.path.insert(0, before)
    elif method in ("ours", "cli"):
        sys.path.insert(0, str(ROOT))
    c0, t0 = os.times(), time.perf_counter()
    if method in ("ours", "before"):
        from hierarchy_cli.methods.kmeans import kmeans

        r = kmeans(x, k, seed=0)
        c = r.centroids
        extra = {"seeding_s": round(r.init_seconds, 2)}
    elif method == "cli":
        with tempfile.TemporaryDirectory() as tmp:
            c = _cli(dataset, k, tmp)
    elif method == "faiss-random":
        import faiss

        km = faiss.Kmeans(x.shape[1], k, seed=1, verbose=False)
        km.train(x)
        c = km.centroids
    elif method in ("sklearn", "sklearn-10"):
        from sklearn.cluster import KMeans

        km = KMeans(k, init="k-means++", n_init=1, random_state=0,
                    max_iter=10 if method == "sklearn-10" else 300).fit(x)
        c = km.cluster_centers_
        extra = {"iters": int(km.n_iter_)}
    elif method == "skpp+faiss":
        import faiss
        from sklearn.cluster import kmeans_plusplus

        seeds, _ = kmeans_plusplus(x, k, random_state=0)
        km = faiss.Kmeans(x.shape[1], k, niter=10, verbose=False, min_points_per_centroid=1,
                          max_points_per_centroid=x.shape[0] // k + 1)
        km.train(x, init_centroids=np.ascontiguousarray(seeds, dtype=np.float32))
        c = km.centroids
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    c1 = os.times()
    cpu = sum(c1[:4]) - sum(c0[:4])  # user + system, of this process and its children
    if x is None:
        x = load(dataset)
    return {"method": method, "seconds": seconds, "cpu": cpu, "inertia": inertia_of(x, c), **extra}


# ----------------------------------------------------------------------------- driver


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ""})
    if out.returncode != 0:
        return {"method": args[1] if len(args) > 1 else "?", "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def median(runs: list[dict]) -> dict:
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    mid = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    return {**mid, "runs": "/".join(f"{r['seconds']:.2f}" for r in runs)}


def table(rows: list[dict], ref: dict, targets: dict[str, float] | None = None) -> str:
    lines = ["| method | time (s) | CPU (s) | sklearn time / this | inertia / sklearn | notes |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | - | - | - | - | failed: {r['error']} |")
            continue
        notes = ", ".join(f"{k} {r[k]}" for k in ("iters", "seeding_s", "runs") if k in r)
        name = f"**{r['method']}**" if r["method"] in ("ours", "cli") else r["method"]
        lines.append(f"| {name} | {r['seconds']:.2f} | {r['cpu']:.2f} | {ref['seconds'] / r['seconds']:.1f}x "
                     f"| {r['inertia'] / ref['inertia']:.4f} | {notes} |")
    return "\n".join(lines)


def part_a(repeat: int, before: str, inputs: list[str], ks: list[int], methods: list[str]) -> None:
    methods = [m for m in methods if m != "before"] + (["before"] if before else [])
    for dataset in inputs:
        if not INPUTS[dataset].exists():
            print(f"(a) {dataset} skipped: {INPUTS[dataset]} not found")
            continue
        for k in ks:
            runs = {m: [] for m in methods}
            for _ in range(repeat):  # round robin, so that a change of load reaches every method
                for m in methods:
                    runs[m].append(child(["one", m, dataset, str(k), before]))
            rows = [median(runs[m]) for m in methods]
            print(f"\n### (a) {dataset}, k = {k}\n")
            print(table(rows, rows[0]), flush=True)


def part_b(methods: list[str], before: str) -> None:
    rows = [child(["one", m, "synth", "1000", before]) for m in methods]
    print("\n### (b) synthetic 1,000,000 x 256 (2,000 blobs), k = 1000, one run each\n")
    ref = next((r for r in rows if r["method"] == "sklearn" and "error" not in r), None)
    if ref is None:
        ref = {"seconds": float("nan"), "inertia": float("nan")}
    print(table(rows, ref), flush=True)
    print("\n" + json.dumps(rows))


# ----------------------------------------------------------------------------- (c) per-sample


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
                "sample_id": pa.array([f"images/train/{i:08d}.jpg" for i in range(s, s + m)]),
                "leaf_index": pa.array(leaf),
                "emb": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim),
            }, schema=schema), row_group_size=65536)


def run_cli(args: list[str], env: dict | None = None, root: str = str(ROOT)) -> dict:
    """A whole ``granularity`` process: wall time and its peak RSS (``/usr/bin/time``-free:
    ru_maxrss of the one child, read in a fresh Python that only starts it)."""
    code = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(json.dumps({'seconds': time.perf_counter() - t, 'code': r.returncode, "
            "'stderr': r.stderr[-300:], "
            "'peak_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "hierarchy_cli", *args],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": root, **(env or {})})
    return json.loads(out.stdout)


def part_c(rows_n: int, classes: int, dim: int, before: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        path = Path(tmp) / "samples.parquet"
        t0 = time.perf_counter()
        make_samples(path, rows_n, classes, dim)
        made = time.perf_counter() - t0
        size = path.stat().st_size / 2**20
        (Path(tmp) / "classes.txt").write_text("\n".join(str(i) for i in range(classes)) + "\n")
        common = ["--samples", str(path), "--classes", f"{tmp}/classes.txt", "--leaf-column", "leaf_index"]
        runs = [("class means, --k 1000", [*common, "--k", "1000"]),
                ("--instance", [*common, "--instance"]),
                ("--split-leaves 4", [*common, "--split-leaves", "4"]),
                ("--split-leaves 4 --k 100", [*common, "--split-leaves", "4", "--k", "100"])]
        print(f"\n### (c) per-sample runs on {rows_n:,} rows ({classes:,} classes, {dim} dims, "
              f"sample ids of 27 characters; parquet {size:,.0f} MB, written in {made:.0f} s)\n")
        print("| command | version | time (s) | peak RSS (MB) | output (MB) |")
        print("|---|---|---:|---:|---:|")
        for name, args in runs:
            for version, root in [("this", str(ROOT))] + ([("before", before)] if before else []):
                out = f"{tmp}/out.parquet"
                r = run_cli(["cluster", *args, "-o", out], root=root)
                if r["code"]:
                    print(f"| {name} | {version} | failed: {r['stderr'].strip().splitlines()[-1]} | | |", flush=True)
                    continue
                print(f"| {name} | {version} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | "
                      f"{os.path.getsize(out) / 2**20:.0f} |", flush=True)
                os.unlink(out)


# ----------------------------------------------------------------------------- (d) constants


def seeding_time(dataset: str, k: int, cand_rows: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from hierarchy_cli.methods.kmeans import _local_trials, kmeans_plusplus

    x = load(dataset)
    t0 = time.perf_counter()
    seeds = kmeans_plusplus(x, k, np.random.default_rng(0), cand_rows=max(cand_rows, _local_trials(k, None)))
    return {"method": f"cand_rows {cand_rows}", "seconds": time.perf_counter() - t0,
            "seeds": int(np.asarray(seeds, dtype=np.int64).sum())}


def part_d(repeat: int) -> None:
    print("\n### (d) seeding time by rows per product (CAND_ROWS), k = 1000\n")
    print("| input | rows per product | seeding time (s), median | runs | same seeds |")
    print("|---|---:|---:|---|---|")
    for dataset in INPUTS:
        if not INPUTS[dataset].exists():
            continue
        res = {c: [] for c in (8, 128, 512)}
        for _ in range(repeat):
            for c in res:
                res[c].append(child(["seed", dataset, "1000", str(c)]))
        ref = res[8][0]["seeds"]
        for c, runs in res.items():
            m = median(runs)
            print(f"| {dataset} | {c if c > 8 else '8 (no batching)'} | {m['seconds']:.2f} | {m['runs']} | "
                  f"{all(r['seeds'] == ref for r in runs)} |", flush=True)
    print("\n### (d) one thread for small fits (SMALL_FIT)\n")
    print("| run | SMALL_FIT = 2**22 (default) | 0 (every fit on all threads) |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        path = Path(tmp) / "samples.parquet"
        make_samples(path, 200_000, 2_000, 64)
        for which, name in (("within", "cluster_hierarchy(k=1000, within=WordNet level 3), default embeddings"),
                            ("split", "split_leaves_map(n=4), 200,000 rows of 2,000 classes")):
            cells = []
            for small in (2**22, 0):
                runs = [child(["small", which, str(small), str(path)]) for _ in range(repeat)]
                m = median(runs)
                cells.append(f"{m['seconds']:.2f} ({m['runs']})" if "error" not in m else m["error"])
            print(f"| {name} | {cells[0]} | {cells[1]} |", flush=True)


def small_fits(which: str, small: int, path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from hierarchy_cli.methods import cluster, kmeans, sample_maps

    kmeans.SMALL_FIT = small
    if which == "within":
        from hierarchy_cli.sources.wordnet import build_wordnet

        groups = build_wordnet(dataset="imagenet21k", levels=[3]).levels[0].labels
        t0 = time.perf_counter()
        cluster.cluster_hierarchy(None, 1000, within=groups)
    else:
        t0 = time.perf_counter()
        sample_maps.split_leaves_map(path, 4, classes=[str(i) for i in range(2000)], leaf_column="leaf_index")
    return {"method": which, "seconds": time.perf_counter() - t0}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        if kind == "one":
            m, ds, k = sys.argv[3:6]
            print(json.dumps(one(m, ds, int(k), sys.argv[6] if len(sys.argv) > 6 else "")))
        elif kind == "seed":
            ds, k, c = sys.argv[3:6]
            print(json.dumps(seeding_time(ds, int(k), int(c))))
        elif kind == "small":
            which, small, path = sys.argv[3:6]
            print(json.dumps(small_fits(which, int(small), path)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["a", "b", "c", "d"])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each method, interleaved")
    ap.add_argument("--before", default="", help="a checkout of an older granularity to time beside")
    ap.add_argument("--b-methods", default="ours,faiss-random,sklearn-10,skpp+faiss,sklearn",
                    help="(b): the methods, in order (sklearn alone takes ~10 minutes)")
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--inputs", default=",".join(INPUTS), help="(a): the inputs")
    ap.add_argument("--ks", default="1000,100,38", help="(a): the k")
    ap.add_argument("--methods", default="sklearn,sklearn-10,skpp+faiss,faiss-random,ours,cli",
                    help="(a): the methods (sklearn first: the reference)")
    args = ap.parse_args()
    import faiss
    import sklearn

    print(f"numpy {np.__version__}, faiss {faiss.__version__}, scikit-learn {sklearn.__version__}, "
          f"{os.cpu_count()} cores")
    if args.only in (None, "a"):
        part_a(args.repeat, args.before, args.inputs.split(","), [int(v) for v in args.ks.split(",")],
               args.methods.split(","))
    if args.only in (None, "b"):
        part_b(args.b_methods.split(","), args.before)
    if args.only in (None, "c"):
        part_c(args.rows, 10_000, 64, args.before)
    if args.only in (None, "d"):
        part_d(args.repeat)


if __name__ == "__main__":
    main()
