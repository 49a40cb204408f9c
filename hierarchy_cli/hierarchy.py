"""The core model: a hierarchy is an ordered list of partitions of the leaves.

The leaves are the dataset's classes in the trainer's class-index order
(``leaf_index`` 0..N-1); that order is never changed. A :class:`Level` maps every
leaf to a label 0..K-1, numbered by first appearance along ``leaf_index`` (or in
an order the user gives, :func:`renumber`), and gives each label an id and a name.
A leaf outside a level's label space (a class outside a task) has label
:data:`OUTSIDE` (-1), written as null. A :class:`Hierarchy` holds the leaves and its
levels, finest first. Every builder returns one; every writer, metric and command
consumes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import GranularityError

OUTSIDE = -1  # the label of a leaf outside a level's label space (null in the file)
NUMBERINGS = ("first", "given")  # labels by first appearance, or in an order the user gave


def first_appearance_labels(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct values of ``keys`` by first appearance.

    Returns ``(labels, firsts)``: ``labels[i]`` is the label of ``keys[i]`` (int32,
    0..K-1, label 0 being ``keys[0]``'s group) and ``firsts[k]`` is the index of the
    first element with label ``k``. Works for any array ``np.unique`` accepts.
    """
    keys = np.asarray(keys)
    if keys.size == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    _, first_idx, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first_idx, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()].astype(np.int32), first_idx[order]


def _lookup(source: Any, keys: np.ndarray) -> tuple[str, ...]:
    """``source`` applied to every key: a callable, a sequence, or anything with ``take``."""
    if hasattr(source, "take") and not isinstance(source, np.ndarray):
        return tuple(str(v) for v in source.take(keys))
    if callable(source):
        return tuple(str(source(k)) for k in keys.tolist())
    if isinstance(source, (list, tuple)) and keys.dtype.kind in "iu":
        return tuple(map(str, np.asarray(source, dtype=object)[keys].tolist()))
    return tuple(str(source[k]) for k in keys.tolist())


@dataclass(frozen=True)
class Level:
    """One partition of the leaves.

    ``labels[leaf_index]`` is the coarse label (int32, 0..K-1, numbered by first
    appearance); ``ids[k]`` and ``names[k]`` describe label ``k``.
    """

    name: str
    labels: np.ndarray
    ids: tuple[str, ...]
    names: tuple[str, ...]

    numbering: str = "first"  # "first" (first appearance) or "given" (see renumber)

    @classmethod
    def from_keys(
        cls,
        name: str,
        keys: np.ndarray,
        id_of: Any,
        name_of: Any,
    ) -> Level:
        """Build a level from one group key per leaf.

        ``id_of(key)`` and ``name_of(key)`` give the id and name of the group with
        that key (callables, or sequences/arrays indexed by the key). A negative
        integer key puts the leaf outside the level (label :data:`OUTSIDE`).
        """
        keys = np.asarray(keys)
        if keys.dtype.kind in "iu" and keys.size and keys.min() < 0:
            inside = keys >= 0
            labels = np.full(keys.size, OUTSIDE, dtype=np.int32)
            labels[inside], firsts = first_appearance_labels(keys[inside])
            group_keys = keys[inside][firsts]
        else:
            labels, firsts = first_appearance_labels(keys)
            group_keys = keys[firsts]
        return cls(name, labels, _lookup(id_of, group_keys), _lookup(name_of, group_keys))

    @property
    def num_classes(self) -> int:
        return len(self.ids)

    @property
    def num_outside(self) -> int:
        """How many leaves are outside this level's label space."""
        return int((self.labels < 0).sum())

    def group_sizes(self) -> np.ndarray:
        """Number of leaves in each group, indexed by label (outside leaves not counted)."""
        lab = self.labels
        return np.bincount(lab[lab >= 0] if self.num_outside else lab, minlength=self.num_classes)

    def validate(self, num_leaves: int) -> None:
        """Check the invariants of a level; raise ``ValueError`` if one fails."""
        lab = self.labels
        if lab.dtype != np.int32 or lab.ndim != 1 or lab.size != num_leaves:
            raise ValueError(f"level {self.name!r}: labels must be int32 of length {num_leaves}")
        if len(self.ids) != len(self.names):
            raise ValueError(f"level {self.name!r}: {len(self.ids)} ids but {len(self.names)} names")
        if self.numbering not in NUMBERINGS:
            raise ValueError(f"level {self.name!r}: unknown numbering {self.numbering!r}")
        if lab.size and lab.min() < OUTSIDE:
            raise ValueError(f"level {self.name!r}: label {int(lab.min())} (labels are 0..K-1, or -1 outside)")
        inside = lab[lab >= 0]
        if inside.size == 0:
            if self.num_classes:
                raise ValueError(f"level {self.name!r}: no leaf has a label but there are {self.num_classes} ids")
            return
        if self.numbering == "first":
            relabelled, _ = first_appearance_labels(inside)
            if not np.array_equal(relabelled, inside):
                raise ValueError(f"level {self.name!r}: labels are not numbered by first appearance")
        if int(inside.max()) + 1 != self.num_classes:
            raise ValueError(
                f"level {self.name!r}: {int(inside.max()) + 1} labels used but {self.num_classes} ids"
            )
        if not np.bincount(inside, minlength=self.num_classes).all():
            raise ValueError(f"level {self.name!r}: a label 0..{self.num_classes - 1} has no leaf")


def renumber(level: Level, order: Sequence[int]) -> Level:
    """``level`` with its labels renumbered: old label ``order[k]`` becomes label ``k``.

    ``order`` is a permutation of ``0..K-1``; ids and names move with their labels,
    outside leaves stay outside, and the level is marked ``numbering="given"``.
    """
    order = np.asarray(order, dtype=np.int64)
    k = level.num_classes
    if k == 0 and order.size == 0:
        return Level(level.name, level.labels, (), (), "given")
    if order.shape != (k,) or not np.array_equal(np.sort(order), np.arange(k)):
        raise ValueError(f"level {level.name!r}: the new order must be a permutation of its {k} labels")
    new_of_old = np.empty(k, dtype=np.int32)
    new_of_old[order] = np.arange(k, dtype=np.int32)
    lab = level.labels
    labels = np.where(lab >= 0, new_of_old[np.maximum(lab, 0)], OUTSIDE).astype(np.int32)
    ids = tuple(level.ids[i] for i in order.tolist())
    names = tuple(level.names[i] for i in order.tolist())
    return Level(level.name, labels, ids, names, "given")


LABEL_ORDER_FROM_IDS = "from-ids"  # --label-order keyword: the level's ids are its labels


def order_labels(levels: Sequence[Level], order: Sequence[str] | str, source: str) -> list[Level]:
    """The levels renumbered by ``order``: label ``k`` is the ``k``-th id of ``order``
    (ids of a level missing from it are an error, and so is an id no level uses), or,
    with ``order="from-ids"``, each level's ids are the integers ``0..K-1`` that
    become its labels. ``source`` names the order in errors."""
    if isinstance(order, str):
        if order != LABEL_ORDER_FROM_IDS:
            raise GranularityError(f"--label-order {order!r}: give ids in label order, or {LABEL_ORDER_FROM_IDS!r}")
        return [_labels_from_ids(lv) for lv in levels]
    position = {x: k for k, x in enumerate(order)}
    out, used = [], set()
    for lv in levels:
        absent = [x for x in lv.ids if x not in position]
        if absent:
            raise GranularityError(f"level {lv.name!r}: {len(absent):,} of its ids are not in the label order "
                                   f"{source}, first {absent[0]!r}: the order must list every id of the level (one order "
                                   "serves every level written: list the ids of each)")
        ranks = [position[x] for x in lv.ids]
        used.update(ranks)
        out.append(renumber(lv, np.argsort(ranks, kind="stable")))
    unused = [x for k, x in enumerate(order) if k not in used]
    if unused:
        raise GranularityError(f"the label order {source} lists {len(unused):,} ids no level has, first "
                               f"{unused[0]!r}: every label needs a class")
    return out


def _labels_from_ids(lv: Level) -> Level:
    k = lv.num_classes
    try:
        numbers = [int(x) for x in lv.ids]
    except ValueError:
        bad = next(x for x in lv.ids if not x.strip().lstrip("+-").isdigit())
        raise GranularityError(f"--label-order {LABEL_ORDER_FROM_IDS}: level {lv.name!r} has id {bad!r}, "
                               "which is not an integer") from None
    if sorted(numbers) != list(range(k)):
        missing = sorted(set(range(k)) - set(numbers))
        what = f"not {missing[0]}" if missing else "one twice"
        raise GranularityError(f"--label-order {LABEL_ORDER_FROM_IDS}: level {lv.name!r} has {k} groups whose ids "
                               f"run {min(numbers)}..{max(numbers)} but {what}: the ids must be 0..{k - 1}")
    return renumber(lv, np.argsort(numbers, kind="stable"))


def is_refinement(fine: np.ndarray, coarse: np.ndarray) -> bool:
    """True when every group of ``fine`` lies inside one group of ``coarse`` (and both
    leave the same leaves outside: a coarse group is then a union of fine groups)."""
    fine = np.asarray(fine)
    coarse = np.asarray(coarse)
    out = fine < 0
    if not np.array_equal(out, coarse < 0):
        return False
    if out.any():
        fine, coarse = fine[~out], coarse[~out]
    if fine.size == 0:
        return True
    k = int(fine.max()) + 1
    parent = np.full(k, -1, dtype=np.int64)
    parent[fine] = coarse  # last write wins; compare against every leaf below
    return bool(np.array_equal(parent[fine], coarse))


@dataclass
class Hierarchy:
    """Leaves (ids and names, in class-index order) and levels, finest first.

    ``metadata`` holds what produced it (method/source, parameters, inputs); the
    label-map writer stores it in the file. ``columns`` holds extra per-leaf
    columns that are not levels (a BREEDS task's ``split`` and ``imagenet_index``),
    written after the levels and listed in the metadata as ``extra_columns``.
    ``summary`` holds the builder's notes for a person (what was filled, cut or
    joined); the commands print them under their table, and they are not written.
    """

    leaf_ids: Sequence[str]
    leaf_names: Sequence[str]
    levels: list[Level]
    metadata: dict[str, Any] = field(default_factory=dict)
    nested: bool = False  # promised by the builder; checked by validate()
    columns: dict[str, Sequence] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)

    @property
    def num_leaves(self) -> int:
        return len(self.leaf_ids)

    @property
    def level_names(self) -> list[str]:
        return [lv.name for lv in self.levels]

    def level(self, name: str) -> Level:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise GranularityError(
            f"no level {name!r}; levels are: {', '.join(self.level_names) or '(none)'}"
        )

    def is_nested(self) -> bool:
        """True when each level's groups are unions of the previous level's groups."""
        return all(
            is_refinement(a.labels, b.labels) for a, b in zip(self.levels, self.levels[1:])
        )

    def validate(self) -> Hierarchy:
        """Check every invariant (and nesting, when promised); return self."""
        n = self.num_leaves
        if len(self.leaf_names) != n:
            raise ValueError(f"{n} leaf ids but {len(self.leaf_names)} leaf names")
        seen = set()
        for lv in self.levels:
            if lv.name in seen:
                raise ValueError(f"level {lv.name!r} appears twice")
            seen.add(lv.name)
            lv.validate(n)
        for name, values in self.columns.items():
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} leaves")
        if self.nested and not self.is_nested():
            raise ValueError("the levels were promised to be nested but are not")
        return self
