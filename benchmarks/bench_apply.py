"""Benchmark ``granularity apply`` against polars, duckdb and a pandas script, side by side.

Builds synthetic ImageNet-style manifests (5,000,000 rows by default, spread over the
21,843 classes of the shipped imagenet21k list) into a temporary folder, never the
repository, and relabels each to one level (WordNet ``level_3``, 968 classes) of a
label map built by this package. The manifests are what a trainer keeps:

* ``index``: ``path`` (``train/n01440764/n01440764_10026.JPEG``) and ``leaf_index``
  (int32, the class index), keyed by ``leaf_index``;
* ``wnid``:  ``path`` and ``wnid`` (string), keyed by ``wnid``.

Every contender is a whole process (``python -c``: interpreter start-up and imports
included), run ``--repeat`` times interleaved; the median wall time, the median CPU
time (user+sys) and the largest peak RSS (``VmHWM``, the process's own) are reported:

* granularity: ``granularity apply MANIFEST --map MAP --level level_3 --column KEY -o OUT``
  (``python -m hierarchy_cli``);
* polars: ``scan_parquet(manifest).join(scan_parquet(map).select(MAP_KEY, level_3),
  left_on=KEY, right_on=MAP_KEY, how="left", maintain_order="left").sink_parquet(out)``
  (the streaming engine; MAP_KEY is the map's ``leaf_index`` or ``leaf_id``);
* duckdb: ``COPY (SELECT m.*, l.level_3 FROM read_parquet(manifest) m LEFT JOIN
  read_parquet(map) l ON m.KEY = l.MAP_KEY ORDER BY m.file_row_number) TO out`` (the
  manifest's row order kept through its ``file_row_number``, which is then dropped);
* pandas: ``read_parquet`` -> a numpy ``take`` of the map's level by the key's leaf
  index (``Series.map`` of the wnid for ``wnid``) -> ``to_parquet``.

All of them write zstd level 1 parquet (pyarrow's default level; polars' own default is
3) without column statistics, and every output is checked to hold the manifest's
columns unchanged (same types, same values, same order) plus the same level column.

Run: ``python benchmarks/bench_apply.py [--rows N] [--repeat 3] [--manifests index,wnid]``.
polars and duckdb are benchmark-only: ``pip install polars duckdb``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEVEL = "level_3"
KEYS = {"index": "leaf_index", "wnid": "wnid"}        # the manifest's key column
MAP_KEYS = {"index": "leaf_index", "wnid": "leaf_id"}  # the map's column it matches

# each child prints its own CPU time and peak RSS as its last line
EPILOGUE = """
import json, os
t = os.times()
print(json.dumps({"cpu": t.user + t.system,
                  "rss_mb": next(int(l.split()[1]) for l in open("/proc/self/status")
                                 if l.startswith("VmHWM")) / 1024}))
"""

OURS = """
import sys
from hierarchy_cli.cli import main
sys.argv = ["granularity", "apply", MANIFEST, "--map", MAP, "--level", LEVEL, "--column", KEY,
            "-o", OUT]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
"""

POLARS = """
import polars as pl
labels = pl.scan_parquet(MAP).select(MAP_KEY, LEVEL)
(pl.scan_parquet(MANIFEST)
   .join(labels, left_on=KEY, right_on=MAP_KEY, how="left", maintain_order="left")
   .sink_parquet(OUT, compression="zstd", compression_level=1, statistics=False))
"""

DUCKDB = """
import duckdb
duckdb.sql(f'''
COPY (SELECT m.* EXCLUDE (file_row_number), l.{LEVEL}
      FROM read_parquet('{MANIFEST}', file_row_number = true) m
      LEFT JOIN read_parquet('{MAP}') l ON m.{KEY} = l.{MAP_KEY}
      ORDER BY m.file_row_number)
TO '{OUT}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)''')
"""

PANDAS = """
import numpy as np, pandas as pd
m = pd.read_parquet(MAP, columns=["leaf_id", LEVEL])
df = pd.read_parquet(MANIFEST)
if KEY == "leaf_index":
    df[LEVEL] = m[LEVEL].to_numpy().take(df[KEY].to_numpy())
else:
    df[LEVEL] = df[KEY].map(pd.Series(m[LEVEL].to_numpy(), index=m["leaf_id"])).astype("int32")
df.to_parquet(OUT, compression="zstd", compression_level=1, index=False, write_statistics=False)
"""

CONTENDERS = {"granularity": OURS, "polars": POLARS, "duckdb": DUCKDB, "pandas": PANDAS}


def run_child(code: str, root: Path = ROOT, **params) -> dict:
    header = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", header + code + EPILOGUE],
                          capture_output=True, text=True, env=env, cwd=root)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"child failed: {proc.stderr.strip()[-2000:]}")
    return {"seconds": seconds, **json.loads(proc.stdout.strip().splitlines()[-1])}


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
    leaf = np.repeat(np.arange(len(wnids), dtype=np.int32), counts)  # ImageFolder order
    ids = wnids.take(pa.array(leaf))
    number = pc.cast(pa.array(rng.integers(1, 60000, rows)), pa.string())
    paths = pc.binary_join_element_wise("train", ids, pc.binary_join_element_wise(ids, number, "_"), "/")
    paths = pc.binary_join_element_wise(paths, "JPEG", ".")
    out = {"map": map_path, "index": folder / "manifest_index.parquet", "wnid": folder / "manifest_wnid.parquet"}
    pq.write_table(pa.table({"path": paths, "leaf_index": pa.array(leaf)}), out["index"], compression="zstd")
    pq.write_table(pa.table({"path": paths, "wnid": ids}), out["wnid"], compression="zstd")
    return out


def check_output(manifest: Path, out: Path, reference) -> tuple[str, str]:
    """``(values, types)``: whether ``out`` holds the manifest's columns with the same values
    in the same order plus ``reference``'s level column, and whether it keeps their Arrow types."""
    import pyarrow.parquet as pq

    src = pq.read_table(manifest)
    got = pq.read_table(out)
    if got.column_names != src.column_names + [LEVEL]:
        return f"NO (columns {got.column_names})", "-"
    mine = got.select(src.column_names)
    types = "yes" if mine.schema.remove_metadata() == src.schema.remove_metadata() else \
        "NO: " + ", ".join(f"{f.name} {_show(src.schema.field(f.name))} -> {_show(f)}"
                           for f in mine.schema if f.remove_metadata() != src.schema.field(f.name).remove_metadata())
    same = all(mine.column(c).combine_chunks().cast(src.schema.field(c).type).equals(src.column(c).combine_chunks())
               for c in src.column_names)
    level = got.column(LEVEL).combine_chunks().cast("int32")
    if not same or (reference is not None and not level.equals(reference)):
        return "NO", types
    return "yes", types


def _show(f) -> str:
    return str(f.type) + ("" if f.nullable else " not null")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per contender (median reported)")
    ap.add_argument("--manifests", default="index,wnid", help="index, wnid or both")
    ap.add_argument("--tools", default=",".join(CONTENDERS), help="which contenders to run")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--before", type=Path, help="another checkout of granularity, run as contender 'before'")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    roots = {name: ROOT for name in tools}
    if args.before is not None:
        CONTENDERS["before"] = OURS
        roots["before"] = args.before.resolve()
        tools.insert(1, "before")

    folder = Path(tempfile.mkdtemp(prefix="granularity-bench-apply-"))
    try:
        t = time.perf_counter()
        files = make_inputs(folder, args.rows)
        print(f"generated {args.rows:,}-row manifests in {time.perf_counter() - t:.1f} s "
              f"(index: {files['index'].stat().st_size / 1e6:.0f} MB, "
              f"wnid: {files['wnid'].stat().st_size / 1e6:.0f} MB) in {folder}", file=sys.stderr)
        table = []
        for kind in [k.strip() for k in args.manifests.split(",") if k.strip()]:
            runs: dict[str, list[dict]] = {name: [] for name in tools}
            for _ in range(args.repeat):  # interleaved, so that load drifts hit all alike
                for name in tools:
                    out = folder / f"out_{kind}_{name}.parquet"
                    runs[name].append(run_child(CONTENDERS[name], roots[name], MANIFEST=str(files[kind]), MAP=str(files["map"]),
                                                OUT=str(out), LEVEL=LEVEL, KEY=KEYS[kind], MAP_KEY=MAP_KEYS[kind]))
                    print(f"{kind} {name}: {runs[name][-1]}", file=sys.stderr)
            reference = None
            for name in tools:
                out = folder / f"out_{kind}_{name}.parquet"
                ok = check_output(files[kind], out, reference)  # (values, types)
                if reference is None:
                    import pyarrow.parquet as pq

                    reference = pq.read_table(out, columns=[LEVEL]).column(0).combine_chunks().cast("int32")
                table.append((kind, name, runs[name], ok, out.stat().st_size))
        report(table, args)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


def report(table, args) -> None:
    load = os.getloadavg()[0]
    print(f"\n{args.rows:,} rows, parquet -> parquet (zstd level 1), one level ({LEVEL}, 968 classes); "
          f"whole processes, median of {args.repeat}; load average {load:.1f} on {os.cpu_count()} cores\n")
    print("| manifest | tool | wall s | × polars | CPU s | × polars | peak RSS MB | output MB | same rows | types kept |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    def median(runs, what):
        return statistics.median(r[what] for r in runs)

    polars = {k: runs for k, n, runs, _, _ in table if n == "polars"}
    for kind, name, runs, (same, types), size in table:
        wall, cpu = median(runs, "seconds"), median(runs, "cpu")
        ratios = [f"{v / median(polars[kind], w):.2f}" if kind in polars else "-"
                  for v, w in ((wall, "seconds"), (cpu, "cpu"))]
        print(f"| {kind} | {name} | {wall:.2f} | {ratios[0]} | {cpu:.2f} | {ratios[1]} "
              f"| {max(r['rss_mb'] for r in runs):.0f} | {size / 1e6:.1f} | {same} | {types} |")


if __name__ == "__main__":
    main()
