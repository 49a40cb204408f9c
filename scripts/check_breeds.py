"""Check ``granularity breeds`` against BREEDS' own code on random hierarchies (and on a real folder).

BREEDS' reference implementation is ``robustness.tools.breeds_helpers`` (PyPI package
``robustness``). It needs torch only through an import this script stubs out, so a
small separate environment is enough::

    python -m venv /tmp/breeds-ref && /tmp/breeds-ref/bin/pip install numpy networkx pandas
    /tmp/breeds-ref/bin/pip install --no-deps robustness==1.2.1.post2
    python scripts/check_breeds.py --reference-python /tmp/breeds-ref/bin/python --trials 300
    python scripts/check_breeds.py --reference-python /tmp/breeds-ref/bin/python --folder breeds/modified

Each trial writes a random hierarchy (a tree or a DAG, chains of single children,
classes at any depth) in BREEDS' three files, asks both implementations for every
level, with and without an ancestor, for several class counts, every split and two
seeds, and compares superclasses, chosen classes (as sets per superclass and half)
and whether the task is refused. ``--folder`` runs the four standard tasks and every
split on a real BREEDS folder. Prints the counts and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REFERENCE = r"""
import json, sys, types
sys.modules["robustness.datasets"] = types.SimpleNamespace(DATASETS={})
from robustness.tools import breeds_helpers as bh
queries = json.load(sys.stdin)
out = []
gens = {}
for q in queries:
    try:
        if q["folder"] not in gens:
            gens[q["folder"]] = bh.BreedsDatasetGenerator(q["folder"])
        split = None if q["split"] == "none" else q["split"]
        sup, (src, tgt), _ = gens[q["folder"]].get_superclasses(
            q["level"], Nsubclasses=q["n"], split=split, ancestor=q["ancestor"],
            balanced=True, random_seed=q["seed"])
        out.append({"superclasses": list(sup), "source": [sorted(map(int, s)) for s in src],
                    "target": [sorted(map(int, t)) for t in tgt]})
    except Exception as exc:  # BREEDS refuses with assert (or a numpy/networkx error)
        out.append({"error": type(exc).__name__})
json.dump(out, sys.stdout)
"""

TASKS = {"entity13": (3, None, 20), "entity30": (4, None, 8), "living17": (5, "n00004258", 4),
         "nonliving26": (5, "n00021939", 4)}


def random_hierarchy(rng: random.Random, folder: Path) -> None:
    """A random BREEDS folder: root n00001740, inner nodes, classes, some multi-parent nodes."""
    n_inner = rng.randint(3, 25)
    inner = ["n00001740"] + [f"i{k:03d}" for k in range(n_inner)]
    edges = []
    for k in range(1, len(inner)):  # each inner node under an earlier one: acyclic
        edges.append((inner[rng.randrange(k)], inner[k]))
        if rng.random() < 0.15:
            edges.append((inner[rng.randrange(k)], inner[k]))
    classes = [f"c{k:03d}" for k in range(rng.randint(4, 60))]
    for c in classes:
        edges.append((rng.choice(inner), c))
        if rng.random() < 0.08:
            edges.append((rng.choice(inner), c))
    if rng.random() < 0.3:  # a class below another class
        a, b = rng.sample(classes, 2)
        edges.append((a, b))
    edges = list(dict.fromkeys((p, c) for p, c in edges if p != c))
    rng.shuffle(edges)
    folder.mkdir(parents=True)
    (folder / "class_hierarchy.txt").write_text("".join(f"{p} {c}\n" for p, c in edges))
    (folder / "node_names.txt").write_text("".join(f"{n}\tname of {n}\n" for n in inner))
    numbers = list(range(len(classes)))
    rng.shuffle(numbers)
    info = [[num, c, f"class {c}"] for num, c in zip(numbers, classes)]
    (folder / "dataset_class_info.json").write_text(json.dumps(info))


_READ: dict = {}


def ours(q: dict) -> dict:
    from hierarchy_cli.errors import GranularityError
    from hierarchy_cli.sources.breeds import read_breeds, select_task

    try:
        if q["folder"] not in _READ:
            _READ[q["folder"]] = read_breeds(q["folder"])
        h = _READ[q["folder"]]
        sup, src, tgt, _ = select_task(h, q["level"], q["ancestor"], q["n"], q["split"], q["seed"])
    except GranularityError as exc:
        return {"error": str(exc)}
    num = h.numbers.__getitem__
    return {"superclasses": sup, "source": [sorted(map(num, s)) for s in src],
            "target": [sorted(map(num, t)) for t in tgt] if q["split"] != "none" else []}


def reference(python: str, queries: list[dict]) -> list[dict]:
    proc = subprocess.run([python, "-c", REFERENCE], input=json.dumps(queries), capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


def degenerate(r: dict) -> bool:
    """A refusal, or what BREEDS returns where we refuse: no superclass, or one without classes."""
    return "error" in r or not r["superclasses"] or any(not s for s in r["source"])


def same(a: dict, b: dict) -> bool:
    if degenerate(a) or degenerate(b):
        return degenerate(a) and degenerate(b)
    return a == b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference-python", required=True, help="a Python with robustness installed")
    ap.add_argument("--trials", type=int, default=0, help="random hierarchies to compare")
    ap.add_argument("--folder", help="a real BREEDS folder: compare the four standard tasks")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    queries = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in range(args.trials):
            folder = Path(tmp) / f"h{t}"
            random_hierarchy(rng, folder)
            for level in range(1, 6):
                for ancestor in (None, "i000", "i001"):
                    for n in (None, 1, 2, 3, 4, 6):
                        for split in ("none", "rand", "good", "bad"):
                            for seed in (2, 7):
                                queries.append({"folder": str(folder), "level": level, "ancestor": ancestor,
                                                "n": n, "split": split, "seed": seed})
        if args.folder:
            for level, ancestor, n in TASKS.values():
                for split in ("none", "rand", "good", "bad"):
                    queries.append({"folder": args.folder, "level": level, "ancestor": ancestor, "n": n,
                                    "split": split, "seed": 2})
        theirs = reference(args.reference_python, queries)
        mine = [ours(q) for q in queries]
    differ = [(q, a, b) for q, a, b in zip(queries, mine, theirs) if not same(a, b)]
    tasks = sum("error" not in a for a in mine)
    refused = len(mine) - tasks
    print(f"{len(queries)} queries: {tasks} tasks built, {refused} refused; "
          f"{len(queries) - len(differ)} agree with robustness' breeds_helpers, {len(differ)} differ")
    for q, a, b in differ[:5]:
        print("DIFFER", json.dumps(q), "\n  ours:  ", json.dumps(a)[:300], "\n  theirs:", json.dumps(b)[:300])
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
