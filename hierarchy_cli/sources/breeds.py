"""BREEDS subpopulation-shift tasks (Santurkar et al., 2021), from BREEDS' own hierarchy files.

BREEDS ships its modified ImageNet hierarchy as three files in one folder:
``class_hierarchy.txt`` (``parent child`` per line), ``node_names.txt``
(``id<TAB>name``) and ``dataset_class_info.json`` (a list of
``[class number, wnid, name, ...]``, the class number being the ImageNet-1k
class index). A task groups ImageNet classes into superclasses and splits each
superclass's classes into a source and a target half. The rules below are
BREEDS' own (``robustness.tools.breeds_helpers``), reimplemented:

graph       only the edges into the classes and their ancestors are kept.
level       a node's level is its longest path from the root ``n00001740``.
superclass  the nodes at the task's level (below ``ancestor`` when given), sorted
            by id (BREEDS searches 20 steps below the ancestor, 100 in its PyPI
            release: the same nodes for every level up to 20); a node's
            classes are the classes reachable from it without passing through
            another class (and the node itself when it is a class), sorted by id.
            Superclasses with fewer than ``subclasses`` classes are dropped;
            without ``subclasses`` it is the smallest count, rounded down to an
            even number (at least 2).
selection   one ``numpy.random.RandomState(seed)`` serves every superclass in
            order. ``split="none"``: ``rng.choice`` picks ``subclasses`` of the
            sorted classes. Otherwise the superclass is split below its first
            node with two or more children (descending through single children);
            each child brings its own classes, children sorted by id, then by
            number of classes, largest first (stable):

            ``rand``  ``rng.choice`` picks ``subclasses`` of all the children's
                      classes (sorted) and the first half is the source;
            ``good``  each child's classes are shared between the halves, so
                      both domains see every kind of subclass;
            ``bad``   the largest children fill the source half first, then the
                      target half, so the domains see different kinds (classes
                      left over in a child are spares that complete a short half).

The four standard tasks are :data:`TASKS` (seed 2). The result is a label map
over the task's classes in ImageNet class-index order, with a ``superclass``
level and two columns that are not levels: ``imagenet_index`` (the class
number from ``dataset_class_info.json``) and ``split`` (``source`` or
``target``; with ``split="none"`` every class is ``source``, as BREEDS returns
the chosen classes as the source element and an empty target).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import GranularityError, offenders

FILES = ("class_hierarchy.txt", "node_names.txt", "dataset_class_info.json")
ROOT = "n00001740"
from ..options import BREEDS_SPLITS as SPLITS, one_of  # noqa: E402
DEFAULT_SEED = 2
DEFAULT_SPLIT = "rand"


@dataclass(frozen=True)
class Task:
    """A BREEDS task: superclasses at ``level`` below ``ancestor``, ``subclasses`` classes each."""

    level: int
    ancestor: str | None
    subclasses: int


TASKS = {
    "entity13": Task(3, None, 20),
    "entity30": Task(4, None, 8),
    "living17": Task(5, "n00004258", 4),  # living thing
    "nonliving26": Task(5, "n00021939", 4),  # artifact
}


@dataclass
class BreedsHierarchy:
    """BREEDS' hierarchy reduced to the classes' ancestors, with each node's level."""

    classes: list[str]  # class wnids, in class-number order
    numbers: dict[str, int]  # wnid -> class number (ImageNet index)
    class_names: dict[str, str]
    children: dict[str, list[str]]  # kept graph, children sorted by id
    node_names: dict[str, str]
    level: dict[str, int]  # longest path from the root (nodes below the root only)
    nodes: set[str]  # every node kept: the classes in the graph and their ancestors
    root: str
    inputs: dict

    def name(self, node: str) -> str:
        return self.node_names.get(node, node)

    def classes_below(self, node: str) -> list[str]:
        """The classes reachable from ``node`` without passing through a class, sorted."""
        found = {node} if node in self.numbers else set()
        todo = {node}
        while todo:
            nxt = set()
            for w in todo:
                for c in self.children.get(w, ()):
                    (found if c in self.numbers else nxt).add(c)
            todo = nxt
        return sorted(found)

    def nodes_at_level(self, level: int, ancestor: str | None = None) -> list[str]:
        """The nodes at ``level`` (below ``ancestor`` when given), sorted by id."""
        nodes = [v for v, lv in self.level.items() if lv == level]
        if ancestor is not None:
            if ancestor not in self.nodes:
                raise GranularityError(
                    f"ancestor {ancestor!r} is not in the BREEDS hierarchy above any class "
                    f"(class_hierarchy.txt in {self.inputs['folder']!r})"
                )
            valid, todo = {ancestor}, [ancestor]
            while todo:
                for c in self.children.get(todo.pop(), ()):
                    if c not in valid:
                        valid.add(c)
                        todo.append(c)
            nodes = [v for v in nodes if v in valid]
        return sorted(nodes)


# ----------------------------------------------------------------------------- reading


def read_breeds(folder: str | os.PathLike, root: str = ROOT) -> BreedsHierarchy:
    """Read BREEDS' three hierarchy files from ``folder`` (see the module doc)."""
    from .edgefiles import read_edges, read_names_file

    folder = Path(folder)
    if not folder.is_dir():
        raise GranularityError(f"BREEDS hierarchy folder {str(folder)!r} does not exist")
    absent = [f for f in FILES if not (folder / f).is_file()]
    if absent:
        raise GranularityError(
            f"BREEDS hierarchy folder {str(folder)!r} has no {', '.join(map(repr, absent))}: it needs "
            f"{', '.join(FILES)} (BREEDS-Benchmarks' imagenet_class_hierarchy/modified folder)"
        )
    classes, numbers, class_names, info_inp = _read_class_info(folder / FILES[2])
    el = read_edges(folder / FILES[0])
    names = read_names_file(folder / FILES[1])
    node_names = dict(zip(names.ids.to_pylist(), names.names.to_pylist()))
    ids = el.ids
    parents_of: dict[str, list[str]] = {}
    loops = []
    for k, (p, c) in enumerate(zip(el.parents.tolist(), el.children.tolist())):
        if p == c:
            loops.append((ids[p], f"line {int(el.lines[k])}"))
        parents_of.setdefault(ids[c], []).append(ids[p])
    if loops:
        raise GranularityError(offenders(loops, "self-loops (a node listed as its own parent)",
                                         f"BREEDS file {str(folder / FILES[0])!r}"))
    # keep the classes found in the graph and all their ancestors (BREEDS' backward search)
    kept: set[str] = set()
    in_graph = set(ids)
    todo = [w for w in classes if w in in_graph]
    while todo:
        w = todo.pop()
        if w in kept:
            continue
        kept.add(w)
        todo.extend(parents_of.get(w, ()))
    children: dict[str, set[str]] = {}
    for c in kept:
        for p in parents_of.get(c, ()):
            children.setdefault(p, set()).add(c)
    children_sorted = {p: sorted(cs) for p, cs in children.items()}
    if root not in kept:
        raise GranularityError(
            f"root {root!r} is not above any class of {FILES[2]} in {str(folder / FILES[0])!r}"
        )
    level = _longest_from(root, children_sorted, kept, str(folder / FILES[0]))
    inputs = {
        "folder": str(folder),
        "class_hierarchy": el.source.describe(),
        "node_names": names.source.describe(),
        "dataset_class_info": info_inp.describe(),
    }
    return BreedsHierarchy(classes, numbers, class_names, children_sorted, node_names, level, kept, root, inputs)


def _read_class_info(path: Path):
    """``dataset_class_info.json``: the classes in class-number order, their numbers and names, the input."""
    from ..inputs import find_duplicates, read_input

    inp = read_input(str(path), "BREEDS class info")
    what = f"BREEDS class info {str(path)!r}"
    try:
        records = json.loads(inp.data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise GranularityError(f"{what}{where} is not valid JSON") from None
    if not isinstance(records, list) or not records:
        raise GranularityError(f"{what} is not a non-empty list of [class number, wnid, name] records")
    for k, rec in enumerate(records):
        ok = (isinstance(rec, list) and len(rec) >= 3 and isinstance(rec[0], int) and not isinstance(rec[0], bool)
              and rec[0] >= 0 and isinstance(rec[1], str) and rec[1].strip() and isinstance(rec[2], str))
        if not ok:
            raise GranularityError(f"{what} record {k}: {str(rec)[:80]!r} is not [class number, wnid, name]")
    wnids = [rec[1].strip() for rec in records]
    for values, kind in ((wnids, "wnids"), ([rec[0] for rec in records], "class numbers")):
        dup = find_duplicates(values, lambda k: f"record {k}")
        if dup:
            raise GranularityError(offenders(dup, f"{kind} listed twice", what))
    numbers = {w: rec[0] for w, rec in zip(wnids, records)}
    classes = sorted(numbers, key=numbers.__getitem__)
    return classes, numbers, {w: rec[2] for w, rec in zip(wnids, records)}, inp


def _longest_from(root: str, children: dict[str, list[str]], kept: set[str], where: str) -> dict[str, int]:
    """Longest path length from ``root`` to every node below it (Kahn's order); refuse cycles."""
    below, todo = {root}, [root]
    while todo:
        w = todo.pop()
        for c in children.get(w, ()):
            if c not in below:
                below.add(c)
                todo.append(c)
    indegree = {v: 0 for v in below}
    for w in below:
        for c in children.get(w, ()):
            indegree[c] += 1
    level = {root: 0}
    frontier = [v for v, d in indegree.items() if d == 0]
    done = 0
    while frontier:
        nxt = []
        for w in frontier:
            done += 1
            for c in children.get(w, ()):
                level[c] = max(level.get(c, 0), level[w] + 1)
                indegree[c] -= 1
                if indegree[c] == 0:
                    nxt.append(c)
        frontier = nxt
    if done != len(below):
        stuck = sorted(v for v, d in indegree.items() if d > 0)
        raise GranularityError(f"the BREEDS hierarchy {where!r} has a cycle through "
                               + ", ".join(map(repr, stuck[:6])))
    return level


# ----------------------------------------------------------------------------- the task


def _split_superclass(h: BreedsHierarchy, node: str, n: int, split: str, rng) -> tuple[list[str], list[str]]:
    """Source and target halves of ``n`` classes of one superclass (BREEDS' rules)."""
    desc = h.children.get(node, [])
    while len(desc) == 1:
        desc = h.children.get(desc[0], [])
    groups = [h.classes_below(d) for d in desc]
    half = n // 2
    if split == "rand":
        pool = sorted(c for g in groups for c in g)
        if len(pool) < n:
            raise GranularityError(
                f"superclass {node!r} ({h.name(node)}): its children reach {len(pool)} classes, fewer than "
                f"the {n} to split"
            )
        chosen = [str(c) for c in rng.choice(pool, n, replace=False)]
        return _disjoint(h, node, split, chosen[:half], chosen[half:])
    source: list[str] = []
    target: list[str] = []
    spare: list[str] = []
    for g in sorted(groups, key=len, reverse=True):  # stable: ties keep the children's order
        s, t = len(source), len(target)
        if split == "bad":
            if s <= t and s < half:
                spare.extend(g[half - s:])
                source.extend(g[:half - s])
            elif t < half:
                spare.extend(g[half - t:])
                target.extend(g[:half - t])
        else:
            cut = (1 if s < half else 0) if len(g) == 1 else min(len(g) // 2, half - s)
            if s < half:
                source.extend(g[:cut])
            if t < half:
                target.extend(g[cut:cut + half - t])
    if split == "bad" and max(len(source), len(target)) == half:
        source.extend(spare[:half - len(source)])
        target.extend(spare[:half - len(target)])
    if not len(source) == len(target) == half:
        raise GranularityError(
            f"superclass {node!r} ({h.name(node)}): the '{split}' split fills {len(source)} source and "
            f"{len(target)} target classes, not {half} each"
        )
    return _disjoint(h, node, split, source, target)


def _disjoint(h: BreedsHierarchy, node: str, split: str, source: list[str], target: list[str]):
    both = sorted(set(source) & set(target))
    if both:
        raise GranularityError(
            f"superclass {node!r} ({h.name(node)}): the '{split}' split puts {len(both)} classes in both "
            f"halves ({', '.join(map(repr, both[:3]))}: reached through two children)"
        )
    return source, target


def select_task(h: BreedsHierarchy, level: int, ancestor: str | None, subclasses: int | None,
                split: str, seed: int) -> tuple[list[str], list[list[str]], list[list[str]], int]:
    """Superclasses (sorted), each one's source and target classes, and the count per superclass."""
    import numpy as np

    rng = np.random.RandomState(seed)
    nodes = h.nodes_at_level(level, ancestor)
    if not nodes:
        under = f" below {ancestor!r}" if ancestor is not None else ""
        deepest = max(h.level.values())
        raise GranularityError(f"no node of the BREEDS hierarchy is at level {level}{under} "
                               f"(levels run 0..{deepest} from the root {h.root!r})")
    below = [h.classes_below(v) for v in nodes]
    if subclasses is None:
        subclasses = min(len(b) for b in below)
        if subclasses % 2:
            subclasses = max(2, subclasses - 1)
    if split != "none" and subclasses % 2:
        raise GranularityError(f"subclasses {subclasses} is odd: the '{split}' split puts half of each "
                               "superclass's classes in the source and half in the target")
    keep = [(v, b) for v, b in zip(nodes, below) if len(b) >= subclasses]
    if not keep:
        raise GranularityError(f"no superclass at level {level} has {subclasses} classes "
                               f"(the most is {max(len(b) for b in below)})")
    supers, sources, targets = [], [], []
    for v, b in keep:
        if split == "none":
            source, target = [str(c) for c in rng.choice(b, subclasses, replace=False)], []
        else:
            source, target = _split_superclass(h, v, subclasses, split, rng)
        supers.append(v)
        sources.append(source)
        targets.append(target)
    return supers, sources, targets, subclasses


def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise GranularityError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise GranularityError(f"{name} must be {bound}, got {value}")
    return value


def build_breeds(
    hierarchy_dir: str | os.PathLike,
    task: str | None = None,
    level: int | None = None,
    ancestor: str | None = None,
    subclasses: int | None = None,
    split: str = DEFAULT_SPLIT,
    seed: int = DEFAULT_SEED,
    root: str = ROOT,
):
    """A BREEDS task as a label map over its classes (see the module doc).

    ``hierarchy_dir`` holds BREEDS' ``class_hierarchy.txt``, ``node_names.txt``
    and ``dataset_class_info.json``. Give ``task`` (``entity13``, ``entity30``,
    ``living17``, ``nonliving26``) or your own ``level`` (with optional
    ``ancestor`` subtree and ``subclasses`` per superclass). ``split`` is
    ``none``, ``rand`` (default), ``good`` or ``bad``; ``seed`` seeds the one
    ``numpy.random.RandomState`` (BREEDS uses 2). Returns a validated
    :class:`~hierarchy_cli.hierarchy.Hierarchy` with one level, ``superclass``,
    and the columns ``imagenet_index`` and ``split``;
    ``h.metadata["superclasses"]`` lists the superclasses in BREEDS' label order.
    """
    import numpy as np

    from ..hierarchy import Hierarchy, Level

    level, ancestor, subclasses = _task_spec(task, level, ancestor, subclasses)
    seed = _check_int(seed, "seed", 0, 2**32 - 1)
    one_of(split, SPLITS, "split")
    h = read_breeds(hierarchy_dir, root)
    supers, sources, targets, subclasses = select_task(h, level, ancestor, subclasses, split, seed)
    owner = _owners(supers, sources, targets)
    leaves = sorted(owner, key=h.numbers.__getitem__)
    keys = np.array([owner[c][0] for c in leaves], dtype=np.int64)
    level_obj = Level.from_keys("superclass", keys, supers, [h.name(v) for v in supers])
    meta = {
        "method": "breeds",
        "task": task,
        "level": level,
        "ancestor": ancestor,
        "subclasses": subclasses,
        "split": split,
        "seed": seed,
        "root": root,
        "superclasses": supers,
        "breeds": {k: v for k, v in h.inputs.items() if k != "folder"},
        "num_source": sum(len(s) for s in sources),
        "num_target": sum(len(t) for t in targets),
    }
    columns = {
        "imagenet_index": np.array([h.numbers[c] for c in leaves], dtype=np.int32),
        "split": [owner[c][1] for c in leaves],
    }
    out = Hierarchy(leaves, [h.class_names[c] for c in leaves], [level_obj], meta, nested=True, columns=columns,
                    summary=_summary(meta, level_obj.num_classes, len(leaves)))
    return out.validate()


def _task_spec(task: str | None, level, ancestor, subclasses) -> tuple[int, str | None, int | None]:
    """``(level, ancestor, subclasses)`` of a standard task, or the ones given, checked."""
    if task is not None:
        one_of(task, tuple(TASKS), "BREEDS task")
        given = [n for n, v in (("level", level), ("ancestor", ancestor), ("subclasses", subclasses)) if v is not None]
        if given:
            raise GranularityError(f"task {task!r} fixes {', '.join(given)}: give a task or your own level, not both")
        spec = TASKS[task]
        level, ancestor, subclasses = spec.level, spec.ancestor, spec.subclasses
    elif level is None:
        raise GranularityError(f"say which task: one of {', '.join(TASKS)}, or your own level")
    level = _check_int(level, "level", 0)
    return level, ancestor, None if subclasses is None else _check_int(subclasses, "subclasses", 1)


def _owners(supers: list[str], sources: list[list[str]], targets: list[list[str]]) -> dict[str, tuple[int, str]]:
    """``{class: (superclass position, "source" or "target")}``; a class chosen twice (the
    hierarchy reaches it through two parents) is an error naming both choices."""
    from ..inputs import find_duplicates

    chosen = [(c, k, part) for k, (source, target) in enumerate(zip(sources, targets))
              for part, members in (("source", source), ("target", target)) for c in members]
    twice = find_duplicates([c for c, _, _ in chosen], lambda i: f"{chosen[i][2]} of {supers[chosen[i][1]]}")
    if twice:
        raise GranularityError(offenders(twice, "classes chosen twice (the hierarchy reaches them through "
                                                "two parents)", "this BREEDS task"))
    return {c: (k, part) for c, k, part in chosen}


def _summary(meta: dict, num_superclasses: int, num_leaves: int) -> list[str]:
    """What the summary says: the superclasses, the split and what the columns hold."""
    if meta["split"] == "none":
        what = f"{meta['subclasses']} classes each, no split"
    else:
        half = meta["subclasses"] // 2
        what = (f"{meta['subclasses']} classes each ({half} source + {half} target, split {meta['split']}, "
                f"seed {meta['seed']})")
    under = f" below {meta['ancestor']}" if meta["ancestor"] else ""
    return [f"{num_superclasses} superclasses at level {meta['level']}{under}: {what}",
            f"{num_leaves:,} classes in ImageNet order: leaf_index is the task's class index, "
            "imagenet_index the ImageNet index, split source/target"]
