"""The Relabeler run for real on Spark (local mode), Ray (local mode) and Dask.

Each engine relabels the same 1.2M-row manifest, read as several partitions, and
its result must equal what ``granularity apply`` writes for that file. Each test
skips when its engine (or, for Spark, Java) is not installed; ``.ci/run``
installs them when it can. docs/apply.md shows the same calls.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import run_cli

pytestmark = [
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
]

ROWS = 1_200_000
ROW_GROUPS = 4          # the manifest file's row groups: the engines' partitions
LEVEL = "level_3"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(label map, manifest, `granularity apply`'s output) for ROWS rows."""
    from hierarchy_cli import build_wordnet, write_label_map

    d = tmp_path_factory.mktemp("engines")
    label_map = d / "in21k.parquet"
    write_label_map(build_wordnet(levels=[1, 3]), str(label_map))
    leaf_ids = pq.read_table(label_map, columns=["leaf_id"]).column("leaf_id").to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(0)
    wnid = leaf_ids[rng.integers(0, len(leaf_ids), ROWS)]
    n = np.arange(ROWS)
    manifest = d / "train.parquet"
    path = pc.binary_join_element_wise(pa.array(wnid), pa.array(wnid), "/")
    path = pc.binary_join_element_wise(path, pa.array(n.astype(str)), "_")
    path = pc.binary_join_element_wise(path, pa.array(np.full(ROWS, "JPEG")), ".")
    pq.write_table(pa.table({"row": n, "wnid": wnid, "path": path}), manifest,
                   row_group_size=ROWS // ROW_GROUPS)
    expected = d / "train.cli.parquet"
    res = run_cli("apply", manifest, "--map", label_map, "-c", "wnid", "-l", LEVEL, "--names", "-o", expected)
    assert res.code == 0, res.stderr
    expected = pq.read_table(expected)
    # the reference itself is checked against the map, by a pandas merge on the id
    lm = pq.read_table(label_map, columns=["leaf_id", LEVEL, f"{LEVEL}_name"]).to_pandas()
    merged = pd.DataFrame({"leaf_id": wnid}).merge(lm, on="leaf_id", how="left")
    assert (expected.column(LEVEL).to_numpy() == merged[LEVEL].to_numpy()).all()
    assert expected.column(f"{LEVEL}_name").to_pylist() == merged[f"{LEVEL}_name"].astype(str).tolist()
    return label_map, manifest, expected


def assert_same_as_cli(out: pa.Table, expected: pa.Table) -> None:
    """``out`` (any row order, strings maybe dictionary-encoded) equals ``expected``."""
    assert out.num_rows == expected.num_rows == ROWS
    out = out.sort_by("row")
    assert out.column("row").to_pylist() == list(range(ROWS))  # no row lost or repeated
    for col in ("row", "wnid", "path", LEVEL, f"{LEVEL}_name"):
        got, want = _plain(out.column(col)), _plain(expected.column(col))
        assert got.type == want.type, (col, got.type, want.type)
        assert got.combine_chunks().equals(want.combine_chunks()), col


def _plain(col):
    """Strings as pa.string(), whether dictionary-encoded or large (pandas 3 gives large)."""
    typ = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
    return col.cast(pa.string()) if pa.types.is_large_string(typ) or typ != col.type else col


# --------------------------------------------------------------------------- Spark


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Spark needs Java (apt-get install default-jre-headless)")
    from pyspark.sql import SparkSession

    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable   # the workers import the installed hierarchy_cli
    session = (SparkSession.builder.master("local[2]").appName("granularity-test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved


def test_spark_map_in_arrow_equals_apply(spark, data, tmp_path):
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    from hierarchy_cli.apply import make_relabeler

    label_map, manifest, expected = data
    # split the file by row group: one Spark partition per ~quarter of the file
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(os.path.getsize(manifest) // ROW_GROUPS + 1))
    df = spark.read.parquet(str(manifest))
    assert df.rdd.getNumPartitions() >= 2
    relabel = make_relabeler(str(label_map), [LEVEL], column="wnid", names=True, dictionary=False)
    schema = StructType(df.schema.fields + [StructField(LEVEL, IntegerType()),
                                            StructField(f"{LEVEL}_name", StringType())])
    out = df.mapInArrow(relabel.map_batches, schema)
    out.write.parquet(str(tmp_path / "out"))
    files = list((tmp_path / "out").glob("*.parquet"))
    assert len(files) >= 2                        # written by several tasks
    assert_same_as_cli(pq.read_table(tmp_path / "out"), expected)


def test_spark_unknown_leaf_fails_the_job_with_the_message(spark, data):
    from pyspark.sql.types import IntegerType, StructField, StructType

    from hierarchy_cli.apply import make_relabeler

    label_map, _, _ = data
    df = spark.createDataFrame([("n01440764",), ("n99999999",)], "wnid string")
    relabel = make_relabeler(str(label_map), [LEVEL], column="wnid")
    schema = StructType(df.schema.fields + [StructField(LEVEL, IntegerType())])
    with pytest.raises(Exception, match="n99999999.*not in the label map|not in the label map.*n99999999"):
        df.mapInArrow(relabel.map_batches, schema).collect()


# --------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


def test_ray_map_batches_equals_apply(ray_local, data, tmp_path):
    from hierarchy_cli.apply import make_relabeler

    ray = ray_local
    label_map, manifest, expected = data
    relabel = make_relabeler(str(label_map), [LEVEL], path_column="path", names=True)
    # one file is one read task; split it into blocks so several tasks relabel it
    ds = ray.data.read_parquet(str(manifest)).repartition(ROW_GROUPS)
    ds = ds.map_batches(relabel, batch_format="pyarrow")
    ds.write_parquet(str(tmp_path / "out"))
    files = list((tmp_path / "out").glob("*.parquet"))
    assert len(files) >= 2
    assert_same_as_cli(pq.read_table(tmp_path / "out"), expected)


def test_ray_unknown_leaf_fails_the_job_with_the_message(ray_local, data):
    from hierarchy_cli.apply import make_relabeler

    ray = ray_local
    label_map, _, _ = data
    ds = ray.data.from_arrow(pa.table({"wnid": ["n01440764", "n99999999"]}))
    relabel = make_relabeler(str(label_map), [LEVEL], column="wnid")
    with pytest.raises(Exception, match="not in the label map"):
        ds.map_batches(relabel, batch_format="pyarrow").take_all()


# --------------------------------------------------------------------------- Dask


def test_dask_map_partitions_equals_apply(data, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    from hierarchy_cli.apply import make_relabeler

    label_map, manifest, expected = data
    # plain strings: categories would differ from partition to partition (and from meta)
    relabel = make_relabeler(str(label_map), [LEVEL], column="wnid", names=True, dictionary=False)
    ddf = dd.read_parquet(str(manifest), split_row_groups=True)   # one partition per row group
    assert ddf.npartitions == ROW_GROUPS
    meta = relabel.map_pandas(ddf.head(2)).iloc[:0]
    out = ddf.map_partitions(relabel.map_pandas, meta=meta)
    out.to_parquet(str(tmp_path / "out"))
    assert len(list((tmp_path / "out").glob("*.parquet"))) == ROW_GROUPS
    assert_same_as_cli(pq.read_table(tmp_path / "out"), expected)


def test_dask_unknown_leaf_fails_the_job_with_the_message(data):
    dd = pytest.importorskip("dask.dataframe")
    from hierarchy_cli.apply import make_relabeler

    label_map, _, _ = data
    ddf = dd.from_pandas(pd.DataFrame({"wnid": ["n01440764", "n99999999"] * 2}), npartitions=2)
    relabel = make_relabeler(str(label_map), [LEVEL], column="wnid")
    meta = relabel.map_pandas(ddf.head(1)).iloc[:0]
    with pytest.raises(Exception, match="not in the label map"):
        ddf.map_partitions(relabel.map_pandas, meta=meta).compute()


def test_map_pandas_with_repeated_names_gives_categories(data):
    """Level names repeat (two groups named 'covering'); pandas categories may not."""
    from hierarchy_cli.apply import make_relabeler

    label_map, manifest, expected = data
    names = pq.read_table(label_map, columns=[f"{LEVEL}_id", f"{LEVEL}_name"]).to_pandas().drop_duplicates()
    assert names[f"{LEVEL}_name"].duplicated().any()        # the case this test is about
    df = pq.read_table(manifest).slice(0, 50_000).to_pandas()
    out = make_relabeler(str(label_map), [LEVEL], column="wnid", names=True, ids=True).map_pandas(df)
    assert isinstance(out[f"{LEVEL}_name"].dtype, pd.CategoricalDtype)
    assert out[f"{LEVEL}_name"].astype(str).tolist() == expected.column(f"{LEVEL}_name").to_pylist()[:50_000]
    assert out[LEVEL].tolist() == expected.column(LEVEL).to_pylist()[:50_000]
