"""Random hierarchies: the paper's control for label granularity.

Three ways to draw one, all from ``numpy.random.default_rng(seed)`` so the same
leaves, options and seed give the same labels (and a byte-identical label map):

* :func:`random_partition` splits ``n`` items into ``k`` non-empty groups, with
  balanced sizes (``sizes="balanced"``: every group has ``n // k`` or
  ``n // k + 1`` members) or multinomial ones (``sizes="multinomial"``: ``k``
  random items start one group each, every other item joins a group drawn
  uniformly at random).
* :func:`random_hierarchy` with ``k=[1000, 100]`` builds one level per K,
  finest (largest K) first. Nested (the default), the finest level is a random
  partition of the leaves and each coarser level is a random partition of the
  next finer level's *groups*; with ``nested=False`` every level is an
  independent random partition of the leaves.
* :func:`random_hierarchy` with ``like=`` a reference label map relabels the
  leaves of the reference by one uniformly random permutation. Leaf ``i`` of the
  result gets the labels, at every level, of reference leaf ``perm[i]``. So
  every level keeps its group-size multiset exactly, and the levels relate to
  one another exactly as the reference's do: nested levels stay nested, each
  coarse group holds finer groups of the same sizes as in the reference, and
  the contingency table between any two levels is the same up to relabelling.
  Only which leaves sit together is random.

Level names are ``random_k<K>`` for ``k`` and ``random_<reference level>`` for
``like`` (``random_level_3``); group ids are ``r<label>``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GranularityError
from ..grammar import parse_k_list
from ..options import LEAF_NAMES, SIZES, one_of


def random_partition(n: int, k: int, rng: np.random.Generator, sizes: str = "balanced") -> np.ndarray:
    """Group index (0..k-1, every group non-empty) for each of ``n`` items.

    ``balanced``: a random permutation of the items cut into ``k`` runs of
    ``n // k`` or ``n // k + 1``; every balanced partition is equally likely.
    ``multinomial``: ``k`` distinct random items seed one group each, and each
    remaining item picks a group uniformly at random.
    """
    one_of(sizes, SIZES, "--sizes")
    if not 1 <= k <= n:
        raise GranularityError(f"cannot split {n:,} items into {k:,} non-empty groups (need 1 <= K <= {n:,})")
    perm = rng.permutation(n)
    keys = np.empty(n, dtype=np.int64)
    if sizes == "balanced":
        base, extra = divmod(n, k)
        counts = np.full(k, base, dtype=np.int64)
        counts[:extra] += 1
        keys[perm] = np.repeat(np.arange(k, dtype=np.int64), counts)
    else:
        keys[perm[:k]] = np.arange(k, dtype=np.int64)
        keys[perm[k:]] = rng.integers(0, k, size=n - k)
    return keys


def permuted_levels(ref_labels: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The reference levels with their leaves relabelled by one random permutation.

    Result level ``j`` at leaf ``i`` is ``ref_labels[j][perm[i]]``: group sizes,
    nesting and every contingency table between levels are kept exactly. Leaves
    outside the levels' label space (label -1, the same leaves at every level) stay
    where they are: the permutation moves the other leaves among themselves.
    """
    n = len(ref_labels[0]) if ref_labels else 0
    inside = np.flatnonzero(np.asarray(ref_labels[0]) >= 0) if n else np.zeros(0, dtype=np.int64)
    perm = np.arange(n)
    perm[inside] = inside[rng.permutation(inside.size)]
    return [np.asarray(lab)[perm] for lab in ref_labels]


def _level(name: str, keys: np.ndarray):
    """A level from group keys (-1: outside), its groups named r0, r1, ... by first appearance."""
    from ..hierarchy import Level

    lv = Level.from_keys(name, keys, lambda key: key, lambda key: key)
    k = lv.num_classes
    return Level(name, lv.labels, tuple(f"r{i}" for i in range(k)), tuple(f"random group {i}" for i in range(k)))


# ----------------------------------------------------------------------------- references


def _hierarchy_digest(h) -> str:
    d = hashlib.sha256()
    for x in h.leaf_ids:
        d.update(str(x).encode() + b"\0")
    for lv in h.levels:
        d.update(lv.name.encode() + b"\0")
        d.update(np.asarray(lv.labels, dtype="<i4").tobytes())
    return d.hexdigest()


def _reference(like: Any, like_levels: Sequence[str] | str | None):
    """(Hierarchy, chosen level names, metadata dict) for a ``like`` argument."""
    from ..hierarchy import Hierarchy
    from ..labelmap import LabelMap

    if isinstance(like_levels, str):
        like_levels = [p.strip() for p in like_levels.split(",") if p.strip()]
    if isinstance(like, (str, os.PathLike)):
        from ..grammar import MapSpec

        spec = MapSpec.parse(str(like), "--like")
        lm, spec_levels = spec.read("--like")
        if spec_levels is not None and like_levels:
            raise GranularityError("give the reference levels once: MAP:LEVEL or like_levels, not both")
        like_levels = spec_levels or like_levels
        ref = lm.to_hierarchy(like_levels or None)
        meta = {"name": "-" if spec.is_stdin else Path(spec.path).name, "sha256": lm.sha256}
        source = lm.source
    elif isinstance(like, LabelMap):
        ref, source = like.to_hierarchy(like_levels or None), like.source
        meta = {"name": Path(like.source).name, "sha256": _hierarchy_digest(ref)}
    elif isinstance(like, Hierarchy):
        ref, source = like, "the reference hierarchy"
        meta = {"name": "<hierarchy>", "sha256": _hierarchy_digest(ref)}
    else:
        raise GranularityError(f"like must be a label map path, a LabelMap or a Hierarchy, not {type(like).__name__}")
    names = list(like_levels) if like_levels else ref.level_names
    for lv in names:
        if lv not in ref.level_names:
            raise GranularityError(
                f"--like: no level {lv!r} in {source}; levels are: {', '.join(ref.level_names)}"
            )
    if len(set(names)) != len(names):
        raise GranularityError(f"--like: a level is named twice in {', '.join(names)}")
    meta = dict(meta, levels=names)
    return ref, names, meta, source


def _check_same_outside(levels, source: str) -> None:
    """The levels leave the same leaves outside (or none): the shuffle keeps those in place."""
    out = [np.flatnonzero(lv.labels < 0) for lv in levels]
    for lv, o in zip(levels[1:], out[1:]):
        if not np.array_equal(o, out[0]):
            raise GranularityError(
                f"--like {source!r}: levels {levels[0].name!r} and {lv.name!r} leave different leaves outside "
                f"their label space ({out[0].size:,} and {o.size:,} leaves): pick levels that agree")


# ----------------------------------------------------------------------------- the API


def random_hierarchy(
    classes: Sequence[str] | str | os.PathLike | None = None,
    dataset: str | None = None,
    k: str | int | Sequence[int] | None = None,
    like: Any = None,
    like_levels: Sequence[str] | str | None = None,
    seed: int = 0,
    sizes: str = "balanced",
    nested: bool = True,
    leaf_names: str = "auto",
    column: str | None = None,
):
    """A random hierarchy over a list of leaves: the control for label granularity.

    Leaves come from ``classes`` (a list of ids, or a path / ``-`` to a text,
    CSV/TSV or parquet class list, ``column`` picking the column), a shipped
    ``dataset``, or the reference ``like``. Give exactly one of:

    * ``k`` -- one K or several (``"1000,100"`` or ``[1000, 100]``): a random
      partition into K non-empty groups per K, finest first. ``sizes`` is
      ``balanced`` or ``multinomial`` (see :func:`random_partition`); ``nested``
      makes each coarser level group the finer level's groups at random.
    * ``like`` -- a label map path (``"ref.parquet"`` or
      ``"ref.parquet:level_3"``), a ``LabelMap`` or a ``Hierarchy``; with
      ``like_levels`` (names) only those levels. The result is the reference
      with its leaves shuffled by one random permutation (see the module doc).
      When ``classes``/``dataset`` is also given, its leaves must be the
      reference's leaves in the same order.

    ``seed`` seeds ``numpy.random.default_rng``. ``leaf_names``: ``auto``
    (WordNet's first lemma when every id is a WordNet noun wnid, else the id),
    ``id`` or ``wordnet``. Returns a validated
    :class:`~hierarchy_cli.hierarchy.Hierarchy` whose ``nested`` flag says
    whether nesting is promised, and whose ``summary`` says how it was drawn.
    """
    _check_args(classes, k, like, like_levels, seed, sizes, leaf_names)
    rng = np.random.default_rng(int(seed))
    meta: dict[str, Any] = {"method": "random", "seed": int(seed)}
    if like is not None:
        return _shuffled_like(like, like_levels, classes, dataset, column, rng, meta)
    return _random_k(k, classes, dataset, column, sizes, bool(nested), leaf_names, rng, meta)


def _check_args(classes, k, like, like_levels, seed, sizes: str, leaf_names: str) -> None:
    """The checks of :func:`random_hierarchy`'s arguments, before any work."""
    if (k is None) == (like is None):
        raise GranularityError("say how to draw the groups: --k K (e.g. --k 1000,100) or --like MAP[:LEVEL]"
                               if k is None else "give --k or --like, not both")
    if like_levels is not None and like is None:
        raise GranularityError("like_levels needs like")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise GranularityError(f"--seed {seed!r}: give a whole number >= 0")
    if seed < 0:
        raise GranularityError(f"--seed {seed} is negative: give a whole number >= 0")
    one_of(sizes, SIZES, "--sizes")
    one_of(leaf_names, LEAF_NAMES, "--leaf-names")
    if classes == "-" and isinstance(like, (str, os.PathLike)):
        from ..grammar import MapSpec

        if MapSpec.parse(str(like), "--like").is_stdin:
            raise GranularityError("--like and --classes cannot both read stdin")


def _shuffled_like(like, like_levels, classes, dataset, column, rng: np.random.Generator, meta: dict):
    """The reference ``like`` with its leaves shuffled (checked against the class list when
    one is given)."""
    from ..hierarchy import Hierarchy, is_refinement

    ref, names, like_meta, ref_source = _reference(like, like_levels)
    meta["like"] = like_meta
    if classes is not None or dataset is not None:
        from ..manifests import resolve_classes
        from ..metrics import first_leaf_difference

        idl, class_meta, where = resolve_classes(classes, dataset, column)
        diff = first_leaf_difference(idl.ids, list(ref.leaf_ids), where, f"--like {ref_source!r}")
        if diff:
            raise GranularityError(f"the --like reference's leaves differ from the input's: {diff}")
        meta["classes"] = class_meta
    ref_levels = [ref.level(n) for n in names]
    _check_same_outside(ref_levels, ref_source)
    keys = permuted_levels([lv.labels for lv in ref_levels], rng)
    levels = [_level(f"random_{lv.name}", key) for lv, key in zip(ref_levels, keys)]
    promised = all(is_refinement(a.labels, b.labels) for a, b in zip(ref_levels, ref_levels[1:]))
    meta["nested"] = promised
    summary = [f"leaves shuffled by one random permutation (seed {meta['seed']}); kept from "
               f"{like_meta['name']}: every level's group sizes and how the levels nest"]
    h = Hierarchy(list(ref.leaf_ids), list(ref.leaf_names), levels, meta, nested=promised, summary=summary)
    return h.validate()


def _random_k(k, classes, dataset, column, sizes: str, nested: bool, leaf_names: str,
              rng: np.random.Generator, meta: dict):
    """One random partition of the leaves per K, finest first (nested: each coarser level
    partitions the finer level's groups)."""
    from ..hierarchy import Hierarchy
    from ..manifests import resolve_classes
    from ..sources.wordnet import leaf_names as wordnet_leaf_names

    ks = parse_k_list(k)
    idl, class_meta, where = resolve_classes(classes, dataset, column)  # default: the shipped imagenet21k
    n = len(idl.ids)
    too_big = [x for x in ks if x > n]
    if too_big:
        raise GranularityError(
            f"--k {too_big[0]:,} is more than the {n:,} leaves of {where}: "
            "a partition into non-empty groups needs K <= the number of leaves"
        )
    names_out, names_mode = wordnet_leaf_names(idl.ids, leaf_names, where, idl.where)
    meta.update({"k": ks, "sizes": sizes, "nested": nested, "classes": class_meta,
                 "leaf_names": names_mode})
    levels = []
    keys = None
    for kk in ks:
        if nested and keys is not None:
            groups = int(keys.max()) + 1
            keys = random_partition(groups, kk, rng, sizes)[keys]
        else:
            keys = random_partition(n, kk, rng, sizes)
        levels.append(_level(f"random_k{kk}", keys))
    summary = [f"{sizes} group sizes, seed {meta['seed']}; "
               + ("levels nested" if nested or len(levels) == 1 else "levels drawn independently")]
    h = Hierarchy(list(idl.ids), names_out, levels, meta, nested=nested, summary=summary)
    return h.validate()
