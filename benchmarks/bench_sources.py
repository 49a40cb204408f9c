"""Benchmark the taxonomy and edge-list sources against pandas-by-hand baselines.

Every measurement is a cold process (``python -m hierarchy_cli build ...`` or
``python baseline.py``), as a user runs it: wall time (median of --repeat runs)
and peak RSS of that process. Inputs are synthetic and seeded:

* taxonomy: an iNat-2021-sized table, 10,000 species over 3 kingdoms, 13 phyla,
  51 classes, 273 orders, 1,103 families and 4,884 genera (iNat 2021's counts),
  11 supercategories, about 1% of genera missing and some homonym genera; the
  same species as an iNat annotation JSON with 500,000 image records
  (train_mini.json's size) and as a list of iNat folder names. All ranks built.
* edges: a random DAG of about 1,000,000 edges, 15 layers deep in ``parent child`` text lines
  (wordnet.is_a.txt layout), about 5% of nodes with a second parent;
  default leaves (the childless nodes), levels 1 and 3.

The pandas baselines compute the same labels (checked against our output) the
way a user would by hand: factorize '/'-joined rank paths; for the edge list,
either climb a first-parent map of string ids with ``Series.map`` (the obvious
way) or factorize the ids once and climb an int array with numpy (the fast way). They do less (no validation, no
error lines, first-parent only), so they are a lower bound for hand-written code.

Usage: python benchmarks/bench_sources.py [--repeat 5] [--workdir DIR]
Prints a markdown table; ``benchmarks/sources.md`` holds a recorded run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RANKS = ["kingdom", "phylum", "class", "order", "family", "genus"]
COUNTS = [3, 13, 51, 273, 1103, 4884]
N_SPECIES = 10_000
SUPERS = ["Plants", "Insects", "Birds", "Fungi", "Reptiles", "Mammals", "Ray-finned Fishes",
          "Amphibians", "Mollusks", "Arachnids", "Animalia"]


def word(rng, k=8):
    letters = "abcdefghilmnoprstuv"
    return "".join(rng.choice(list(letters), size=k))


def make_taxonomy(rng):
    """Rows (kingdom..genus, species, supercategory) for 10,000 species."""
    parents = []
    names = []
    for level, count in enumerate(COUNTS):
        above = COUNTS[level - 1] if level else 0
        # every parent gets at least one child, the rest at random
        par = np.concatenate([np.arange(above), rng.integers(0, above, count - above)]) if level else np.zeros(count, int)
        rng.shuffle(par) if level else None
        parents.append(par)
        names.append([word(rng).capitalize() + ("idae" if RANKS[level] == "family" else "") for _ in range(count)])
    # homonym genera: 20 genera reuse another genus's name under a different family
    for i in range(20):
        names[-1][i + 100] = names[-1][i]
    sup_of_class = rng.integers(0, len(SUPERS), COUNTS[2])
    genus_of = np.concatenate([np.arange(COUNTS[-1]), rng.integers(0, COUNTS[-1], N_SPECIES - COUNTS[-1])])
    rng.shuffle(genus_of)
    rows = []
    for s in range(N_SPECIES):
        chain = [int(genus_of[s])]
        for level in range(len(RANKS) - 1, 0, -1):
            chain.append(int(parents[level][chain[-1]]))
        chain.reverse()  # kingdom index ... genus index
        vals = [names[lv][chain[lv]] for lv in range(len(RANKS))]
        genus = vals[-1]
        species = f"{genus} {word(rng, 9)}"
        if s % 100 == 7:
            vals[-1] = ""  # ~1% of genera missing
        rows.append(vals + [species, SUPERS[sup_of_class[chain[2]]]])
    return rows


def write_inputs(work: Path, rng) -> dict:
    rows = make_taxonomy(rng)
    header = RANKS + ["species", "supercategory"]
    tab = work / "inat_synthetic.csv"
    tab.write_text(",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows))
    cats = []
    folders = []
    for i, r in enumerate(rows):
        k, p, c, o, f, g, sp, sup = r
        epithet = sp.split(" ", 1)[1]
        cats.append({"id": i, "name": sp, "common_name": "", "supercategory": sup, "kingdom": k, "phylum": p,
                     "class": c, "order": o, "family": f, "genus": g or sp.split()[0], "specific_epithet": epithet,
                     "image_dir_name": f"{i:05d}_{k}_{p}_{c}_{o}_{f}_{g or sp.split()[0]}_{epithet}"})
        folders.append(cats[-1]["image_dir_name"])
    js = work / "train_mini_synthetic.json"
    with js.open("w") as fh:
        fh.write('{"info": {"year": 2021}, "images": [')
        fh.write(",".join(f'{{"id": {i}, "file_name": "train_mini/{folders[i % N_SPECIES]}/{i}.jpg", '
                          f'"width": 500, "height": 375}}' for i in range(500_000)))
        fh.write('], "categories": ')
        json.dump(cats, fh)
        fh.write(', "annotations": [')
        fh.write(",".join(f'{{"id": {i}, "image_id": {i}, "category_id": {i % N_SPECIES}}}' for i in range(500_000)))
        fh.write("]}")
    fol = work / "inat_folders.txt"
    fol.write_text("\n".join(folders) + "\n")
    # a million-edge DAG of WordNet-like depth: 15 layers growing ~2.5x each, each node
    # with one parent in the layer above and ~5% with a second parent two layers up
    q, depth_layers = 2.5, 15
    sizes = np.array([q ** d for d in range(depth_layers)])
    sizes = np.maximum(np.round(sizes * 950_000 / sizes.sum()).astype(np.int64), 1)
    sizes[0] = 1
    starts = np.concatenate([[0], np.cumsum(sizes)])
    n_nodes = int(starts[-1])
    ps, cs = [], []
    for d in range(1, depth_layers):
        kids = np.arange(starts[d], starts[d + 1])
        ps.append(rng.integers(starts[d - 1], starts[d], kids.size))
        cs.append(kids)
        if d >= 2:
            extra = kids[rng.random(kids.size) < 0.05]
            ps.append(rng.integers(starts[d - 2], starts[d - 1], extra.size))
            cs.append(extra)
    p, c = np.concatenate(ps), np.concatenate(cs)
    label = rng.permutation(n_nodes)  # node ids in no particular order
    order = rng.permutation(p.size)
    p, c = label[p[order]], label[c[order]]
    edges = work / "million.is_a.txt"
    with edges.open("w") as fh:
        for a, b in zip(p.tolist(), c.tolist()):
            fh.write(f"n{a:08d} n{b:08d}\n")
    return {"table": tab, "json": js, "folders": fol, "edges": edges, "num_edges": int(p.size)}


TAXONOMY_BASELINE = textwrap.dedent('''
    import sys
    import pandas as pd
    src, out = sys.argv[1], sys.argv[2]
    ranks = ["kingdom", "phylum", "class", "order", "family", "genus"]
    df = pd.read_csv(src, keep_default_na=False, dtype=str)
    res = pd.DataFrame({"leaf_index": range(len(df)), "leaf_id": df["species"], "leaf_name": df["species"]})
    path = None
    for r in ranks:
        col = df[r].where(df[r] != "", "unclassified " + r)
        path = col if path is None else path + "/" + col
        codes, uniques = pd.factorize(path, sort=False)
        res[r] = codes.astype("int32")
        res[r + "_id"] = path
        res[r + "_name"] = col
    codes, _ = pd.factorize(df["supercategory"], sort=False)
    res["supercategory"] = codes.astype("int32")
    res["supercategory_id"] = res["supercategory_name"] = df["supercategory"]
    cols = ["leaf_index", "leaf_id", "leaf_name"] + [c for r in ranks[::-1] + ["supercategory"] for c in (r, r + "_id", r + "_name")]
    res[cols].to_parquet(out, index=False)
''')

EDGES_BASELINE = textwrap.dedent('''
    import sys
    import numpy as np
    import pandas as pd
    src, out = sys.argv[1], sys.argv[2]
    e = pd.read_csv(src, sep=" ", header=None, names=["parent", "child"], dtype=str)
    first = e.drop_duplicates("child", keep="first").set_index("child")["parent"]
    nodes = pd.unique(e[["parent", "child"]].to_numpy().ravel())
    leaves = pd.Series(nodes[~pd.Series(nodes).isin(e["parent"]).to_numpy()])
    res = pd.DataFrame({"leaf_index": np.arange(len(leaves), dtype="int32"), "leaf_id": leaves, "leaf_name": leaves})
    cur = leaves
    for k in range(1, 4):
        up = cur.map(first)
        cur = up.fillna(cur)  # stay at the root once reached
        if k in (1, 3):
            res[f"level_{k}"] = pd.factorize(cur, sort=False)[0].astype("int32")
            res[f"level_{k}_id"] = cur.to_numpy()
    res.to_parquet(out, index=False)
''')


EDGES_BASELINE_FAST = textwrap.dedent('''
    import sys
    import numpy as np
    import pandas as pd
    src, out = sys.argv[1], sys.argv[2]
    e = pd.read_csv(src, sep=" ", header=None, names=["parent", "child"], dtype=str, engine="pyarrow")
    codes, uniq = pd.factorize(e.to_numpy().ravel())  # node ids by first appearance
    p, c = codes[0::2], codes[1::2]
    n = len(uniq)
    first = np.full(n, -1)
    _, at = np.unique(c, return_index=True)
    first[c[at]] = p[at]  # first-listed parent
    has_child = np.zeros(n, dtype=bool)
    has_child[p] = True
    leaves = np.flatnonzero(~has_child)
    res = pd.DataFrame({"leaf_index": np.arange(len(leaves), dtype="int32"), "leaf_id": uniq[leaves],
                        "leaf_name": uniq[leaves]})
    cur = leaves
    for k in range(1, 4):
        up = first[cur]
        cur = np.where(up >= 0, up, cur)
        if k in (1, 3):
            res[f"level_{k}"] = pd.factorize(cur, sort=False)[0].astype("int32")
            res[f"level_{k}_id"] = uniq[cur]
    res.to_parquet(out, index=False)
''')


def timed(cmd: list[str], repeat: int, env: dict) -> tuple[float, float, float]:
    """Median wall seconds, median CPU seconds (user+sys) and max peak RSS (MB) of a cold process."""
    times, cpu, rss = [], [], []
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *cmd],
                                  capture_output=True, env=env)
            if proc.returncode != 0:
                sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.decode()[-2000:]}")
            wall, user, system, kb = tf.read().split()[-4:]
        times.append(float(wall))
        cpu.append(float(user) + float(system))
        rss.append(int(kb) / 1024)
    return statistics.median(times), statistics.median(cpu), max(rss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="granularity-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    inp = write_inputs(work, rng)
    (work / "tax_baseline.py").write_text(TAXONOMY_BASELINE)
    (work / "edges_baseline.py").write_text(EDGES_BASELINE)
    (work / "edges_baseline_fast.py").write_text(EDGES_BASELINE_FAST)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    py = sys.executable
    gran = [py, "-m", "hierarchy_cli", "build"]
    rows = []

    def run(task, ours, base, ours_cmd, base_cmd=None, base_repeat=None):
        t, c, m = timed(ours_cmd, args.repeat, env)
        row = [task, ours, f"{t:.2f}", f"{c:.2f}", f"{m:.0f}"]
        if base_cmd:
            bt, bc, bm = timed(base_cmd, base_repeat or args.repeat, env)
            row += [base, f"{bt:.2f}", f"{bc:.2f}", f"{bm:.0f}", f"{bt / t:.1f}x"]
        else:
            row += [""] * 5
        rows.append(row)
        print(f"  {task}: {t:.2f} s wall, {c:.2f} s cpu", file=sys.stderr)

    out = str(work / "out.parquet")
    run("taxonomy, CSV table, 10k species, all 7 ranks", "build --taxonomy", "pandas by hand",
        [*gran, "--taxonomy", str(inp["table"]), "--levels", "all", "-o", out],
        [py, str(work / "tax_baseline.py"), str(inp["table"]), str(work / "base.parquet")])
    check_taxonomy(out, str(work / "base.parquet"))
    js_mb = inp["json"].stat().st_size / 1e6
    run(f"taxonomy, iNat JSON ({js_mb:.0f} MB, 500k images), all ranks", "build --taxonomy", "", 
        [*gran, "--taxonomy", str(inp["json"]), "--levels", "all", "-o", out])
    run("taxonomy, 10k iNat folder names, all ranks", "build --taxonomy", "",
        [*gran, "--taxonomy", str(inp["folders"]), "--levels", "all", "-o", out])
    ours_first = [*gran, "--edges", str(inp["edges"]), "--levels", "1,3", "--multi-parent", "first", "-o", out]
    run(f"edges, {inp['num_edges']:,} edges, level_1 + level_3, first parent", "build --edges",
        "pandas + numpy by hand (factorize, int arrays)", ours_first,
        [py, str(work / "edges_baseline_fast.py"), str(inp["edges"]), str(work / "base.parquet")])
    check_edges(out, str(work / "base.parquet"))
    run(f"edges, {inp['num_edges']:,} edges, level_1 + level_3, first parent", "build --edges",
        "pandas by hand (Series.map on ids; 1 run)", ours_first,
        [py, str(work / "edges_baseline.py"), str(inp["edges"]), str(work / "base.parquet")], base_repeat=1)
    check_edges(out, str(work / "base.parquet"))
    run(f"edges, {inp['num_edges']:,} edges, level_1 + level_3, longest path", "build --edges", "",
        [*gran, "--edges", str(inp["edges"]), "--levels", "1,3", "-o", out])
    run(f"edges, {inp['num_edges']:,} edges, depth 0-6, longest path", "build --edges", "",
        [*gran, "--edges", str(inp["edges"]), "--depth", "0-6", "-o", out])
    help_t, help_c, help_m = timed([py, "-m", "hierarchy_cli", "--help"], args.repeat, env)
    load = os.getloadavg()[0]

    print(f"\nCold processes, median of {args.repeat}; wall and CPU (user+sys) seconds, peak RSS of the "
          f"process; {os.cpu_count()} cores, load average {load:.1f} at the end. "
          f"`granularity --help`: {help_t:.2f} s wall, {help_c:.2f} s CPU, {help_m:.0f} MB.\n")
    print("| task | ours | wall s | CPU s | peak MB | baseline | wall s | CPU s | peak MB | baseline / ours (wall) |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def check_taxonomy(ours: str, base: str) -> None:
    import pyarrow.parquet as pq

    a, b = pq.read_table(ours), pq.read_table(base)
    for r in RANKS + ["supercategory"]:
        assert a.column(r).to_pylist() == b.column(r).to_pylist(), r
    print("  taxonomy labels match the pandas baseline", file=sys.stderr)


def check_edges(ours: str, base: str) -> None:
    import pyarrow.parquet as pq

    a, b = pq.read_table(ours), pq.read_table(base)
    assert a.column("leaf_id").to_pylist() == b.column("leaf_id").to_pylist()
    for c in ("level_1", "level_3", "level_1_id", "level_3_id"):
        assert a.column(c).to_pylist() == b.column(c).to_pylist(), c
    print("  edge labels match the pandas baseline", file=sys.stderr)


if __name__ == "__main__":
    main()
