#!/usr/bin/env python3
"""granularity build vs. nltk by hand, side by side, as cold processes.

Baseline (what a user would otherwise write): load WordNet 3.0 with nltk, call
hypernym_paths() for each of the 21,843 ImageNet-21k wnids, take the longest
path, read off levels 0-9 and write parquet with pandas. Ours:
``granularity build --levels 0-9`` on the same list. Also times
``granularity --help`` and every subcommand's --help. Prints a markdown table.

    python benchmarks/bench_build.py [--repeat 5] [--wordnet /usr/share/wordnet]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BASELINE = r'''
import sys
import pandas as pd
from hierarchy_cli.sources.wordnet import dict_folder_reader  # nltk's reader; the folder lacks lexnames
wn = dict_folder_reader(sys.argv[1])
wnids = [l.strip() for l in open(sys.argv[2]) if l.strip()]
rows = {f"level_{k}": [] for k in range(10)}
for w in wnids:
    s = wn.synset_from_pos_and_offset("n", int(w[1:]))
    path = max(s.hypernym_paths(), key=len)          # root ... leaf
    for k in range(10):
        a = path[max(len(path) - 1 - k, 0)]
        rows[f"level_{k}"].append(a.name())
df = pd.DataFrame({"leaf_index": range(len(wnids)), "leaf_id": wnids})
for k in range(10):
    codes, uniques = pd.factorize(pd.Series(rows[f"level_{k}"]))
    df[f"level_{k}"] = codes.astype("int32")
    df[f"level_{k}_id"] = rows[f"level_{k}"]
df.to_parquet(sys.argv[3])
print(" ".join(str(df[f"level_{k}"].nunique()) for k in range(10)))
'''


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return dt, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    tmp = Path(tempfile.mkdtemp())
    script = tmp / "baseline.py"
    script.write_text(BASELINE)
    classes = ROOT / "data_manifests" / "imagenet21k.txt"
    py = sys.executable
    rows = []

    base_times, ours_times = [], []
    for _ in range(args.repeat):
        dt, counts_base = timed([py, str(script), args.wordnet, str(classes), str(tmp / "base.parquet")], env)
        base_times.append(dt)
        dt, _ = timed([py, "-m", "hierarchy_cli", "build", "--levels", "0-9", "-o", str(tmp / "ours.parquet")], env)
        ours_times.append(dt)
    import pyarrow.parquet as pq

    t = pq.read_table(tmp / "ours.parquet")
    counts_ours = " ".join(str(len(set(t.column(f"level_{k}").to_pylist()))) for k in range(10))
    b, o = statistics.median(base_times), statistics.median(ours_times)
    rows.append(("ImageNet-21k levels 0-9, cold process", f"{b:.2f} s", f"{o:.3f} s", f"{b / o:.1f}x"))

    help_times = {}
    for sub in ["", "build", "cluster", "random", "apply", "inspect", "compare", "export"]:
        cmd = [py, "-m", "hierarchy_cli"] + ([sub] if sub else []) + ["--help"]
        probe = subprocess.run(cmd, capture_output=True, env=env)
        if probe.returncode != 0:
            continue  # command not present in this version
        ts = [timed(cmd, env)[0] for _ in range(args.repeat)]
        help_times[f"granularity {sub} --help".replace("  ", " ")] = statistics.median(ts)
    py_ts = [timed([py, "-c", "pass"], env)[0] for _ in range(args.repeat)]

    print(f"repeats: {args.repeat} (median wall time); python {sys.version.split()[0]}\n")
    print("| task | nltk + pandas by hand | granularity | speed-up |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\nclasses per level 0-9, baseline: {counts_base.strip()}")
    print(f"classes per level 0-9, ours:     {counts_ours}")
    print("\n| command | wall time |\n|---|---|")
    print(f"| python -c pass (interpreter floor) | {statistics.median(py_ts):.3f} s |")
    for k, v in help_times.items():
        print(f"| {k} | {v:.3f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
