#!/usr/bin/env python3
"""granularity build vs. nltk by hand, side by side, as cold processes.

Baseline (what a user would otherwise write): load WordNet 3.0 with nltk, call
hypernym_paths() for each of the 21,843 ImageNet-21k wnids, take the longest
path, read off levels 0-9 and write parquet with pandas. Ours:
``granularity build --levels 0-9`` on the same list. Also times
``granularity --help`` and every subcommand's --help, and the start-up of two small
builds: ``build --level 3`` and ``build --edges`` of a 3-level parquet edge list
(1,111 edges), whose cost is mostly imports. Prints markdown tables.

    python benchmarks/bench_build.py [--repeat 5] [--wordnet /usr/share/wordnet] [--startup] [--against REV]

``--startup`` skips the nltk comparison and times the start-up rows only; ``--against
REV`` times them for git revision REV too (its tree from ``git archive``), the two taking
turns command by command, so that load on a shared machine falls on both alike.
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
    ap.add_argument("--startup", action="store_true", help="only the start-up table")
    ap.add_argument("--against", metavar="REV", help="also time the start-up rows at git revision REV")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    tmp = Path(tempfile.mkdtemp())
    script = tmp / "baseline.py"
    script.write_text(BASELINE)
    classes = ROOT / "data_manifests" / "imagenet21k.txt"
    py = sys.executable
    print(f"repeats: {args.repeat} (median wall time); python {sys.version.split()[0]}\n")
    if not args.startup:
        compare_with_nltk(py, script, classes, args, env, tmp)
    trees = {"": ROOT}
    if args.against:
        trees = {f"{args.against} ": tree_at(args.against, tmp / "against"), "now ": ROOT}
    heads = " | ".join(f"{label}{what}" for what in ("wall time", "CPU time") for label in trees)
    print(f"\n| command | {heads} |\n|---|{'---|' * 2 * len(trees)}")
    for name, times in startup_times(py, args.repeat, trees, tmp).items():
        cells = [f"{times[label][k]:.3f} s" for k in (0, 1) for label in trees]
        print(f"| {name} | {' | '.join(cells)} |")
    return 0


def tree_at(rev: str, folder: Path) -> Path:
    """The package's tree at git revision ``rev``, extracted into ``folder``."""
    folder.mkdir()
    archive = subprocess.run(["git", "archive", rev, "hierarchy_cli", "data_manifests"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def compare_with_nltk(py: str, script: Path, classes: Path, args, env: dict, tmp: Path) -> None:
    """The nltk baseline against ``build --levels 0-9``: a table and the level counts."""
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
    print("| task | nltk + pandas by hand | granularity | speed-up |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\nclasses per level 0-9, baseline: {counts_base.strip()}")
    print(f"classes per level 0-9, ours:     {counts_ours}")


def edge_list(path: Path) -> Path:
    """A parquet edge list: root -> 10 -> 100 -> 1,000 nodes (1,110 edges, strings)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parents, children = [], []
    for a in range(10):
        parents.append("root"), children.append(f"a{a}")
        for b in range(10):
            parents.append(f"a{a}"), children.append(f"a{a}b{b}")
            for c in range(10):
                parents.append(f"a{a}b{b}"), children.append(f"a{a}b{b}c{c}")
    pq.write_table(pa.table({"parent": parents, "child": children}), path)
    return path


def cpu_timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run; CPU time is what load disturbs least."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(cmd, env)[0]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup_times(py: str, repeat: int, trees: dict[str, Path], tmp: Path) -> dict[str, dict]:
    """Median wall and CPU time of the interpreter, every --help, two small builds and a
    compare, as cold processes, per tree (``{label: package root}``); the commands and the
    trees take turns, so a burst of load spreads over all of them."""
    edges = edge_list(tmp / "edges.parquet")
    levels = tmp / "in1k.parquet"
    timed([py, "-m", "hierarchy_cli", "build", "--dataset", "imagenet1k", "--levels", "0-9", "-o", str(levels)],
          dict(os.environ, PYTHONPATH=str(ROOT)))
    commands = {"python -c pass (interpreter floor)": ["-c", "pass"]}
    for sub in ["", "build", "cluster", "random", "apply", "inspect", "compare", "export"]:
        commands[f"granularity {sub} --help".replace("  ", " ")] = ["-m", "hierarchy_cli"] + ([sub] if sub else []) + ["--help"]
    commands["granularity build --level 3"] = ["-m", "hierarchy_cli", "build", "--level", "3", "-o", str(tmp / "l3.parquet")]
    commands["granularity build --edges edges.parquet --level 1"] = [
        "-m", "hierarchy_cli", "build", "--edges", str(edges), "--level", "1", "-o", str(tmp / "e.parquet")]
    commands["granularity compare in1k:level_1 in1k:level_3 --json"] = [
        "-m", "hierarchy_cli", "compare", f"{levels}:level_1", f"{levels}:level_3", "--json"]
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {(n, t): [] for n in commands for t in trees}
    for _ in range(repeat):
        for name, args in commands.items():
            for label, root in trees.items():
                runs[name, label].append(cpu_timed([py, *args], dict(os.environ, PYTHONPATH=str(root))))
    return {name: {label: (statistics.median(w for w, _ in runs[name, label]),
                           statistics.median(c for _, c in runs[name, label])) for label in trees}
            for name in commands}

if __name__ == "__main__":
    raise SystemExit(main())
