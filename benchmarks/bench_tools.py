"""Benchmark random, inspect and compare against the pandas/numpy/sklearn code a user would write.

Every measurement is a cold process, as a user runs it: ``python -m hierarchy_cli
...`` for us, ``python -c <baseline>`` for the baseline. Reported: wall time
and CPU time (user + system; steadier than wall time on a shared machine), each
the median of --repeat runs, and the peak RSS of that process (from ``wait4``).

Input: the ImageNet-21k class list shipped with the package (21,843 leaves) and
its WordNet label map with levels 0-9, made once with ``granularity build``.
Nothing from /work/shared/data is needed.

Tasks (the baseline computes the same numbers, checked where cheap):

* random --k 1000,100 (nested, balanced) -> parquet; baseline: numpy permutation,
  balanced split, groups of groups, pandas.factorize, DataFrame.to_parquet.
* random --like MAP (10 levels) -> parquet; baseline: one numpy permutation of
  the rows, factorize every level column, to_parquet.
* inspect (per-level classes and min/median/max group size); baseline:
  pandas read_parquet + value_counts per level.
* inspect --lineage ID; baseline: pandas row lookup of every level's name.
* compare level_2 level_6 (NMI, ARI, purity, H(B|A)); baseline: pandas +
  sklearn.metrics + groupby-nunique + crosstab entropy.

The baselines do less (no validation, no metadata, no error messages, no
atomic writes), so they are a lower bound for code written by hand.

Usage: python benchmarks/bench_tools.py [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ROOT / "data_manifests" / "imagenet21k.txt"


def run(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one cold process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, float, float]:
    runs = [run(cmd, cwd) for _ in range(repeat)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            max(r[2] for r in runs))


BASE_RANDOM_K = """
import numpy as np, pandas as pd
ids = [l.split()[0] for l in open({classes!r}) if l.strip() and not l.startswith('#')]
n = len(ids); rng = np.random.default_rng(0)
def part(m, k):
    keys = np.empty(m, dtype=np.int64)
    keys[rng.permutation(m)] = np.repeat(np.arange(k), np.bincount(np.arange(m) % k, minlength=k))
    return keys
fine = part(n, 1000); coarse = part(1000, 100)[fine]
df = pd.DataFrame({{'leaf_index': np.arange(n, dtype=np.int32), 'leaf_id': ids}})
for name, keys in (('random_k1000', fine), ('random_k100', coarse)):
    lab = pd.factorize(keys)[0].astype(np.int32)
    df[name] = lab; df[name + '_id'] = ['r%d' % x for x in lab]
df.to_parquet('base_k.parquet', index=False)
"""

BASE_RANDOM_LIKE = """
import numpy as np, pandas as pd
df = pd.read_parquet('in21k.parquet')
levels = [c for c in df.columns if c.startswith('level_') and not c.endswith(('_id', '_name'))]
perm = np.random.default_rng(0).permutation(len(df))
out = df[['leaf_index', 'leaf_id', 'leaf_name']].copy()
for c in levels:
    lab = pd.factorize(df[c].to_numpy()[perm])[0].astype(np.int32)
    out['random_' + c] = lab; out['random_' + c + '_id'] = ['r%d' % x for x in lab]
out.to_parquet('base_like.parquet', index=False)
"""

BASE_INSPECT = """
import pandas as pd
df = pd.read_parquet('in21k.parquet')
levels = [c for c in df.columns if c.startswith('level_') and not c.endswith(('_id', '_name'))]
for c in levels:
    s = df[c].value_counts()
    print(c, len(s), s.min(), s.median(), s.max())
"""

BASE_LINEAGE = """
import pandas as pd
df = pd.read_parquet('in21k.parquet')
levels = [c for c in df.columns if c.startswith('level_') and not c.endswith(('_id', '_name'))]
row = df[df.leaf_id == 'n02099601'].iloc[0]
print(';'.join(row[c + '_name'] for c in reversed(levels)))
"""

BASE_COMPARE = """
import numpy as np, pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
df = pd.read_parquet('in21k.parquet', columns=['level_2', 'level_6'])
a, b = df.level_2.to_numpy(), df.level_6.to_numpy()
nmi = normalized_mutual_info_score(b, a); ari = adjusted_rand_score(b, a)
per = df.groupby('level_2').level_6.nunique(); size = df.groupby('level_2').size()
pure = (per == 1).mean(); pure_leaves = size[per == 1].sum() / len(df)
joint = pd.crosstab(df.level_2, df.level_6).to_numpy().astype(float)
pa = joint.sum(1, keepdims=True); nz = joint > 0
h = float((joint[nz] / len(df) * np.log2(np.broadcast_to(pa, joint.shape)[nz] / joint[nz])).sum())
print(nmi, ari, pure, pure_leaves, h)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_tools."))
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    g = [py, "-m", "hierarchy_cli"]
    run([*g, "build", "--levels", "0-9", "-o", "in21k.parquet"], work)

    tasks = [
        ("random --k 1000,100 (21,843 leaves)",
         [*g, "random", "--classes", str(CLASSES), "--k", "1000,100", "-o", "k.parquet"],
         BASE_RANDOM_K.format(classes=str(CLASSES))),
        ("random --like MAP (10 levels)",
         [*g, "random", "--like", "in21k.parquet", "-o", "like.parquet"], BASE_RANDOM_LIKE),
        ("inspect MAP (10 levels)", [*g, "inspect", "in21k.parquet"], BASE_INSPECT),
        ("inspect --lineage ID", [*g, "inspect", "in21k.parquet", "--lineage", "n02099601"], BASE_LINEAGE),
        ("compare level_2 level_6",
         [*g, "compare", "in21k.parquet:level_2", "in21k.parquet:level_6"], BASE_COMPARE),
    ]
    rows = []
    for name, ours, base in tasks:
        t_ours, c_ours, m_ours = measure(ours, work, args.repeat)
        t_base, c_base, m_base = measure([py, "-c", textwrap.dedent(base)], work, args.repeat)
        rows.append((name, t_ours, t_base, c_ours, c_base, m_ours, m_base))
        print(f"done: {name}", file=sys.stderr)

    # the baselines compute the same numbers: check compare's
    import json

    got = json.loads(subprocess.run([*g, "compare", "in21k.parquet:level_2", "in21k.parquet:level_6", "--json"],
                                    cwd=work, capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                    check=True).stdout)
    base = subprocess.run([py, "-c", textwrap.dedent(BASE_COMPARE)], cwd=work, capture_output=True,
                          check=True).stdout.split()
    for key, value in zip(("nmi", "ari", "pure_classes", "pure_leaves", "h_target_given_pre"), base):
        assert abs(got[key] - float(value)) < 1e-9, (key, got[key], value)

    print(f"{sys.version.split()[0]}, {os.cpu_count()} cores; median of {args.repeat} cold runs\n")
    print("| task | granularity wall (s) | baseline wall (s) | wall ratio | granularity CPU (s) "
          "| baseline CPU (s) | CPU ratio | granularity RSS (MB) | baseline RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t_ours, t_base, c_ours, c_base, m_ours, m_base in rows:
        print(f"| {name} | {t_ours:.2f} | {t_base:.2f} | {t_ours / t_base:.2f} | {c_ours:.2f} | {c_base:.2f} "
              f"| {c_ours / c_base:.2f} | {m_ours:.0f} | {m_base:.0f} |")


if __name__ == "__main__":
    main()
