"""The Relabeler on Spark, Ray and Dask (local mode) against `granularity apply`.

Relabels one parquet manifest of ROWS rows (row, wnid, path; 4 row groups) with
ImageNet-21k's level_3 and names, as tests/test_engines.py does, and prints per
engine: partitions, the engine's start-up time, and the wall time of read +
relabel + write parquet, with rows/s and the ratio to `granularity apply` on
the same file. Each engine is skipped when it is not installed.

    python benchmarks/bench_engines.py [--rows 1200000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LEVEL = "level_3"


def make_data(d: Path, rows: int) -> tuple[Path, Path]:
    from hierarchy_cli import build_wordnet, write_label_map

    label_map = d / "in21k.parquet"
    write_label_map(build_wordnet(levels=[1, 3]), str(label_map))
    leaf_ids = pq.read_table(label_map, columns=["leaf_id"]).column("leaf_id").to_numpy(zero_copy_only=False)
    wnid = leaf_ids[np.random.default_rng(0).integers(0, len(leaf_ids), rows)]
    path = pc.binary_join_element_wise(pa.array(wnid), pa.array(wnid), "/")
    path = pc.binary_join_element_wise(path, pa.array(np.char.add(np.arange(rows).astype(str), ".JPEG")), "_")
    manifest = d / "train.parquet"
    pq.write_table(pa.table({"row": np.arange(rows), "wnid": wnid, "path": path}), manifest,
                   row_group_size=rows // 4)
    return label_map, manifest


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_apply(label_map, manifest, out):
    from hierarchy_cli.apply import apply_manifest

    return timed(lambda: apply_manifest(str(manifest), str(label_map), str(out), [LEVEL],
                                        column="wnid", names=True))


def run_spark(label_map, manifest, out, workers):
    from pyspark.sql import SparkSession
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    from hierarchy_cli.apply import make_relabeler

    os.environ["PYTHONPATH"] = str(ROOT)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    t = time.perf_counter()
    spark = (SparkSession.builder.master(f"local[{workers}]").config("spark.ui.enabled", "false")
             .config("spark.sql.files.maxPartitionBytes", str(os.path.getsize(manifest) // 4 + 1))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    start = time.perf_counter() - t
    relabel = make_relabeler(str(label_map), [LEVEL], column="wnid", names=True, dictionary=False)

    def job():
        df = spark.read.parquet(str(manifest))
        job.parts = df.rdd.getNumPartitions()
        schema = StructType(df.schema.fields + [StructField(LEVEL, IntegerType()),
                                                StructField(f"{LEVEL}_name", StringType())])
        df.mapInArrow(relabel.map_batches, schema).write.parquet(str(out))

    wall = timed(job)
    spark.stop()
    return start, job.parts, wall


def run_ray(label_map, manifest, out, workers):
    import ray

    from hierarchy_cli.apply import make_relabeler

    t = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    start = time.perf_counter() - t
    relabel = make_relabeler(str(label_map), [LEVEL], path_column="path", names=True)
    wall = timed(lambda: ray.data.read_parquet(str(manifest)).repartition(4)
                 .map_batches(relabel, batch_format="pyarrow").write_parquet(str(out)))
    ray.shutdown()
    return start, 4, wall


def run_dask(label_map, manifest, out, workers):
    import dask
    import dask.dataframe as dd

    from hierarchy_cli.apply import make_relabeler

    relabel = make_relabeler(str(label_map), [LEVEL], column="wnid", names=True, dictionary=False)

    def job():
        ddf = dd.read_parquet(str(manifest), split_row_groups=True)
        job.parts = ddf.npartitions
        meta = relabel.map_pandas(ddf.head(2)).iloc[:0]
        with dask.config.set(scheduler="threads", num_workers=workers):
            ddf.map_partitions(relabel.map_pandas, meta=meta).to_parquet(str(out))

    wall = timed(job)
    return 0.0, job.parts, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_200_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="bench_engines_"))
    try:
        label_map, manifest = make_data(d, args.rows)
        base = run_apply(label_map, manifest, d / "apply.parquet")
        print(f"rows {args.rows:,}, workers {args.workers}, load average {os.getloadavg()[0]:.1f}")
        print(f"{'engine':<22} {'partitions':>10} {'start s':>8} {'job s':>7} {'rows/s':>10} {'vs apply':>9}")
        print(f"{'granularity apply':<22} {1:>10} {0:>8.1f} {base:>7.2f} {args.rows / base:>10,.0f} {1:>9.2f}")
        for name, fn, mod in (("Spark mapInArrow", run_spark, "pyspark"), ("Ray map_batches", run_ray, "ray"),
                              ("Dask map_partitions", run_dask, "dask")):
            try:
                __import__(mod)
            except ImportError:
                print(f"{name:<22} (not installed)")
                continue
            start, parts, wall = fn(label_map, manifest, d / name.split()[0], args.workers)
            print(f"{name:<22} {parts:>10} {start:>8.1f} {wall:>7.2f} {args.rows / wall:>10,.0f} "
                  f"{base / wall:>9.2f}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
