"""Benchmark ``granularity export --format lca-height`` against what a user would otherwise write.

Every measurement is a cold process, as a user runs it: ``python -m hierarchy_cli export
MAP -f lca-height -o out.npy`` for us, ``python -c <baseline>`` for a baseline; each writes
the same N x N uint8 matrix to an .npy file, and the script checks that the files hold
equal matrices. Reported: wall and CPU time (user + system), the median of --repeat runs,
and the peak RSS of the process.

Inputs, made once with ``granularity build --depth``: the WordNet depth cuts of
ImageNet-1k (1,000 leaves, depths 0-18) and ImageNet-21k (21,843 leaves, depths 0-19),
and for the networkx baseline the same tree as a ``parent child`` edge list (the form
Making Better Mistakes' ``*_isa.txt`` files have).

Baselines:

* networkx: the edge list in a DiGraph, node heights by a post-order walk, the LCA of
  every pair of leaves by ``nx.tree_all_pairs_lowest_common_ancestor`` (Tarjan's offline
  algorithm), the matrix filled pair by pair. ImageNet-1k only: ImageNet-21k has 238
  million pairs.
* numpy broadcast: the obvious vectorised numpy on the map's levels, given each group's
  height (from ``hierarchy_cli.lca.label_tree``, not timed apart): for every level, coarse
  to fine, ``lab[rows, None] == lab[None, :]`` over blocks of rows and the group's height
  written where it holds. Its cost is levels x N^2 comparisons; ours is about 2 N^2 (one
  cumulative sum and one gather per cell) whatever the number of levels.

Usage: python benchmarks/bench_lca.py [--repeat 3] [--workdir DIR] [--skip-21k]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


from bench_tools import measure, run  # noqa: E402  (one cold-process timer for the benchmarks)


EDGES = """
import sys
from hierarchy_cli import read_label_map
lm = read_label_map(sys.argv[1])
edges = set()
for i, leaf in enumerate(lm.leaf_ids):
    chain = [leaf] + [lm.table.column(lv + "_id")[i].as_py() for lv in lm.levels]
    chain = [x for k, x in enumerate(chain) if k == 0 or x != chain[k - 1]]
    edges.update(zip(chain[1:], chain[:-1]))
with open(sys.argv[2], "w") as f:
    f.writelines(f"{p} {c}\\n" for p, c in sorted(edges))
"""

NETWORKX = """
import sys
import networkx as nx, numpy as np, pyarrow.parquet as pq
leaves = pq.read_table(sys.argv[1], columns=["leaf_id"]).column("leaf_id").to_pylist()
g = nx.DiGraph()
g.add_edges_from(line.split() for line in open(sys.argv[2]))
root = next(v for v, d in g.in_degree() if d == 0)
height = {}
for v in nx.dfs_postorder_nodes(g, root):
    height[v] = 1 + max((height[c] for c in g.successors(v)), default=-1)
index = {x: i for i, x in enumerate(leaves)}
pairs = [(a, b) for i, a in enumerate(leaves) for b in leaves[i + 1:]]
m = np.zeros((len(leaves), len(leaves)), dtype=np.uint8)
for (a, b), lca in nx.tree_all_pairs_lowest_common_ancestor(g, root, pairs):
    m[index[a], index[b]] = m[index[b], index[a]] = height[lca]
np.save(sys.argv[3], m)
"""

BROADCAST = """
import sys
import numpy as np
from hierarchy_cli.lca import label_tree
t = label_tree(sys.argv[1])
n = t.num_leaves
per_level = [g[lab] for g, lab in zip(t.group_height, t.labels)]
m = np.empty((n, n), dtype=np.uint8)
step = max(1, (1 << 23) // n)
for r0 in range(0, n, step):
    r = slice(r0, min(n, r0 + step))
    block = np.full((r.stop - r.start, n), t.height, dtype=np.uint8)
    for lab, h in zip(t.labels[::-1], per_level[::-1]):
        eq = lab[r, None] == lab[None, :]
        np.copyto(block, np.broadcast_to(h[r, None], block.shape).astype(np.uint8), where=eq)
    block[np.arange(block.shape[0]), np.arange(r.start, r.stop)] = 0
    m[r] = block
np.save(sys.argv[2], m)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--skip-21k", action="store_true", help="only ImageNet-1k")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-lca-"))
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    maps = {"imagenet1k": ("0-18", 1000), "imagenet21k": ("0-19", 21843)}
    if args.skip_21k:
        maps.pop("imagenet21k")
    rows = []
    for dataset, (depths, n) in maps.items():
        mp = work / f"{dataset}.depth.parquet"
        if not mp.exists():
            run([py, "-m", "hierarchy_cli", "build", "--dataset", dataset, "--depth", depths, "-o", str(mp)], work)
        ours = measure([py, "-m", "hierarchy_cli", "export", str(mp), "-f", "lca-height", "-o", "ours.npy"],
                       work, args.repeat)
        base = {"numpy broadcast": measure([py, "-c", textwrap.dedent(BROADCAST), str(mp), "broadcast.npy"],
                                           work, args.repeat)}
        if dataset == "imagenet1k":
            run([py, "-c", EDGES, str(mp), str(work / "edges.txt")], work)
            base["networkx"] = measure([py, "-c", NETWORKX, str(mp), "edges.txt", "networkx.npy"], work, args.repeat)
        import numpy as np

        mine = np.load(work / "ours.npy", mmap_mode="r")
        for name, (wall, cpu, rss) in base.items():
            other = np.load(work / f"{'broadcast' if name == 'numpy broadcast' else name}.npy", mmap_mode="r")
            assert np.array_equal(mine, other), f"{name} gives another matrix for {dataset}"
            rows.append((f"{dataset} ({n:,} leaves)", name, ours, (wall, cpu, rss)))
    print("| map | baseline | granularity wall (s) | baseline wall (s) | wall ratio | granularity CPU (s) "
          "| baseline CPU (s) | CPU ratio | granularity RSS (MB) | baseline RSS (MB) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, name, (w, c, r), (bw, bc, br) in rows:
        print(f"| {label} | {name} | {w:.2f} | {bw:.2f} | {w / bw:.2f} | {c:.2f} | {bc:.2f} | {c / bc:.2f} "
              f"| {r:.0f} | {br:.0f} |")


if __name__ == "__main__":
    main()
