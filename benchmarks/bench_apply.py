"""Benchmark ``granularity apply`` against a pandas merge, side by side.

Builds an ImageNet-21k-sized synthetic manifest (14,197,122 rows by default, the
size of the full ImageNet-21k/fall11 release, spread over the 21,843 classes of
the shipped imagenet21k list) into a temporary folder, never the repository,
and relabels it with a WordNet label map built by this package, two ways:

* ``ids``:   columns ``sample_id`` (int64) and ``leaf_id`` (wnid), keyed by leaf_id;
* ``paths``: column ``path`` (``n01440764/n01440764_10026.JPEG``), leaf id derived
  from the path.

Each contender runs in its own process (so peak RSS is its own) and reports wall
seconds with and without its imports (pyarrow and numpy; pandas too for the
pandas contender), CPU seconds (user+sys: the machine may be shared) and peak RSS:

* granularity: ``hierarchy_cli.apply.apply_manifest`` (streaming, parquet -> parquet);
* pandas: ``pd.read_parquet`` -> ``merge`` with the map's columns on the leaf id
  (``str.split`` for the path) -> ``to_parquet``, what a user would otherwise write.

Both write the same level column (int32) to zstd parquet; the outputs are checked to
hold the same labels. Run: ``python benchmarks/bench_apply.py [--rows N] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
LEVEL = "level_3"

CHILD_PRELUDE = """
import json, resource, sys, time, os
t0 = time.perf_counter(); c0 = os.times()
"""
CHILD_EPILOGUE = """
c1 = os.times()
print(json.dumps({"seconds": time.perf_counter() - t0, "work": time.perf_counter() - t1,
                  "cpu": (c1.user - c0.user) + (c1.system - c0.system),
                  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
                  "rss_mb": next(int(l.split()[1]) for l in open("/proc/self/status")
                                 if l.startswith("VmHWM")) / 1024}))
"""

OURS = """
import pyarrow.parquet  # (granularity never imports pandas)
from hierarchy_cli.apply import apply_manifest
t1 = time.perf_counter()
kw = {"path_column": "path"} if KIND == "paths" else {"column": "leaf_id"}
apply_manifest(MANIFEST, MAP, OUT, [LEVEL], **kw)
"""

PANDAS = """
import pandas as pd, pyarrow.parquet
t1 = time.perf_counter()
m = pd.read_parquet(MAP, columns=["leaf_id", LEVEL])
df = pd.read_parquet(MANIFEST)
if KIND == "paths":
    df["leaf_id"] = df["path"].str.split("/").str[0]
    out = df.merge(m, on="leaf_id", how="left", validate="many_to_one").drop(columns="leaf_id")
else:
    out = df.merge(m, on="leaf_id", how="left", validate="many_to_one")
if out[LEVEL].isna().any():
    raise SystemExit("unknown leaves")
out[LEVEL] = out[LEVEL].astype("int32")
out.to_parquet(OUT, compression="zstd", index=False)
"""


def run_child(code: str, **params) -> dict:
    header = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    proc = subprocess.run([sys.executable, "-c", header + CHILD_PRELUDE + code + CHILD_EPILOGUE],
                          capture_output=True, text=True, env=ENV)
    if proc.returncode:
        raise SystemExit(f"child failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_inputs(folder: Path, rows: int) -> dict[str, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from hierarchy_cli.labelmap import write_label_map
    from hierarchy_cli.sources.wordnet import build_wordnet

    map_path = folder / "in21k.level_3.parquet"
    h = build_wordnet(dataset="imagenet21k", levels=[3])
    write_label_map(h, map_path)
    wnids = pa.array(h.leaf_ids, type=pa.string())
    rng = np.random.default_rng(0)
    counts = rng.multinomial(rows, np.full(len(wnids), 1 / len(wnids)))
    leaf = np.repeat(np.arange(len(wnids), dtype=np.int32), counts)  # listed class by class
    ids = wnids.take(pa.array(leaf))
    number = pc.cast(pa.array(rng.integers(1, 60000, rows)), pa.string())
    paths = pc.binary_join_element_wise(ids, "/", ids, "_", number, ".JPEG", "")
    out = {"map": map_path, "ids": folder / "manifest_ids.parquet", "paths": folder / "manifest_paths.parquet"}
    pq.write_table(pa.table({"sample_id": pa.array(np.arange(rows, dtype=np.int64)), "leaf_id": ids}),
                   out["ids"], compression="zstd")
    pq.write_table(pa.table({"path": paths}), out["paths"], compression="zstd")
    return out


def same_labels(a: Path, b: Path) -> bool:
    import pyarrow.parquet as pq

    return pq.read_table(a, columns=[LEVEL]).column(0).combine_chunks().equals(
        pq.read_table(b, columns=[LEVEL]).column(0).combine_chunks())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=14_197_122)
    ap.add_argument("--repeat", type=int, default=2, help="runs per contender; the fastest is reported")
    ap.add_argument("--manifests", default="ids,paths", help="which manifests to run: ids, paths or both")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))

    folder = Path(tempfile.mkdtemp(prefix="granularity-bench-apply-"))
    try:
        t = time.perf_counter()
        files = make_inputs(folder, args.rows)
        print(f"generated {args.rows:,}-row manifests in {time.perf_counter() - t:.1f} s "
              f"(ids: {files['ids'].stat().st_size / 1e6:.0f} MB, paths: {files['paths'].stat().st_size / 1e6:.0f} MB) "
              f"in {folder}", file=sys.stderr)
        rows = []
        for kind in [k.strip() for k in args.manifests.split(",") if k.strip()]:
            res = {}
            for name, code in (("granularity", OURS), ("pandas", PANDAS)):
                out = folder / f"out_{kind}_{name}.parquet"
                runs = [run_child(code, KIND=kind, MANIFEST=str(files[kind]), MAP=str(files["map"]),
                                  OUT=str(out), LEVEL=LEVEL) for _ in range(args.repeat)]
                res[name] = min(runs, key=lambda r: r["seconds"])
                res[name]["rss_mb"] = max(r["rss_mb"] for r in runs)
                print(f"{kind} {name}: {res[name]}", file=sys.stderr)
            ok = same_labels(folder / f"out_{kind}_granularity.parquet", folder / f"out_{kind}_pandas.parquet")
            rows.append((kind, res, ok))
        load = os.getloadavg()[0]
        print(f"\n{args.rows:,} rows, parquet -> parquet (zstd), one level ({LEVEL}, 968 classes); "
              f"best of {args.repeat}; load average {load:.1f} on {os.cpu_count()} cores\n")
        print("| manifest | tool | wall s | rows/s | wall s excl. imports | rows/s excl. imports "
              "| CPU s | peak RSS MB | same labels |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for kind, res, ok in rows:
            for name in ("granularity", "pandas"):
                r = res[name]
                print(f"| {kind} | {name} | {r['seconds']:.2f} | {args.rows / r['seconds'] / 1e6:.1f} M "
                      f"| {r['work']:.2f} | {args.rows / r['work'] / 1e6:.1f} M "
                      f"| {r['cpu']:.2f} | {r['rss_mb']:.0f} | {'yes' if ok else 'NO'} |")
        print("\n| manifest | speed-up (wall) | speed-up excl. imports | CPU ratio | memory ratio |")
        print("|---|---:|---:|---:|---:|")
        for kind, res, _ in rows:
            g, p = res["granularity"], res["pandas"]
            print(f"| {kind} | {p['seconds'] / g['seconds']:.1f}x | {p['work'] / g['work']:.1f}x "
                  f"| {p['cpu'] / g['cpu']:.1f}x | {p['rss_mb'] / g['rss_mb']:.1f}x less |")
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
