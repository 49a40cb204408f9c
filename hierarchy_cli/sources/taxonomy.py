"""Taxonomies: species relabelled with their genus, family, order... (iNaturalist style).

The inputs (an iNat 2021 annotation file, a rank table, iNat folder names) are read
by :mod:`~hierarchy_cli.sources.taxonfiles` into the same thing, a list of species
(the leaves, in the dataset's own class order) with their ranks.

Levels are named by rank (``species``, ``genus`` ... ``kingdom``, and
``supercategory`` when the input has it). A rank level's id is the path from
the top rank down (``Animalia/Chordata/Mammalia/Carnivora/Felidae/Felis``) and
its name the rank's own value (``Felis``), so the same name under two parents
stays two labels, and the path ranks are nested by construction. With
``rank_ids="name"`` a group is identified by the rank's value alone, as
iNaturalist's own labels are: the two genera *Morus* (a plant and a bird) become
one genus, and whether the levels still nest is checked and reported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import GranularityError, offenders
from ..inputs import find_duplicates
from ..options import MISSING_CLASSES, RANK_ID_MODES, one_of
from .ranks import LEAF_RANK, check_missing, fill_name, missing_rank_note, not_nested_note, rank_tokens, \
    resolve_rank_levels
from .taxonfiles import SUPERCATEGORY, TaxonTable, read_taxonomy

SEP = "/"


def available_levels(t: TaxonTable) -> list[str]:
    """Level names this taxonomy offers, finest first."""
    out = [LEAF_RANK] + list(reversed(t.ranks))
    if t.supercategory is not None:
        out.append(SUPERCATEGORY)
    return out


def resolve_levels(t: TaxonTable, tokens: Sequence[str]) -> list[str]:
    """Rank names finest first (``tokens``: the names asked for); ``all`` = every rank above the species."""
    avail = available_levels(t)
    hints = {SUPERCATEGORY: " (this input has no supercategory)"}
    return resolve_rank_levels(tokens, avail, t.name, all_levels=avail[1:], hints=hints)


def build_taxonomy(
    taxonomy: str | os.PathLike | TaxonTable,
    levels: Sequence[str] | str = "all",
    missing: str = "fill",
    ranks: Sequence[str] | str | None = None,
    rank_ids: str = "path",
    ancestors: Sequence[str] | str | os.PathLike | None = None,
    missing_classes: str = "error",
    label_order: Sequence[str] | str | os.PathLike | None = None,
):
    """Relabel species with their ranks (genus, family, ..., supercategory).

    ``taxonomy`` is an iNat 2021 annotation file, a CSV/TSV/parquet table with one
    column per rank, a folder of iNat image folders, or a text list of their
    names (see the module doc); or a :class:`TaxonTable` already read.
    ``levels`` are rank names (``"genus"``, ``["family", "order"]``, ``"all"``);
    ``ranks`` names a table's rank columns, coarsest first (a list or ``"kingdom,family,genus"``).
    ``missing`` says what a missing rank becomes: ``fill`` (a group
    ``unclassified <nearest known ancestor> <rank>``), ``parent`` (the leaf stays
    in its nearest known ancestor's group at that rank) or ``error``.
    ``rank_ids`` says what identifies a group: ``path`` (default; the path from
    the top rank, so same-named genera in two families stay apart) or ``name``
    (the rank's value alone, as iNaturalist's labels and published counts do).
    ``ancestors`` (taxa: path ids like ``Animalia/Chordata/Aves``, or names like
    ``Aves`` when only one taxon has that name) replaces the levels by one level,
    ``ancestors``: the most specific of them each species falls under;
    ``missing_classes`` says what a species under none becomes (``error``,
    ``own-group`` or ``drop``: outside the label space). ``label_order`` numbers
    the labels in a given order of ids (see
    :func:`~hierarchy_cli.sources.wordnet.build_wordnet`).
    Returns a validated :class:`~hierarchy_cli.hierarchy.Hierarchy`, nested over
    the path ranks (``h.metadata["nested"]`` says whether ``supercategory`` nests
    too); ``h.metadata["missing_ranks"]`` counts the leaves filled per rank.
    """
    from ..hierarchy import Hierarchy
    from .cuts import numbered

    tokens, ranks = _check_request(taxonomy, levels, missing, ranks, rank_ids, ancestors, missing_classes)
    t = taxonomy if isinstance(taxonomy, TaxonTable) else read_taxonomy(taxonomy, ranks)
    wanted = resolve_levels(t, tokens)
    if ancestors is not None:
        wanted = [LEAF_RANK, *wanted]
    by_name = rank_ids == "name"
    level_keys, missing_count, affected, used = _level_keys(t, wanted, missing, by_name)
    dup = find_duplicates(t.leaf_ids, t.where.__getitem__)
    if dup:
        raise GranularityError(offenders(dup, "duplicate leaf ids", f"taxonomy {t.name!r}"))
    meta_extra: dict = {}
    if ancestors is not None:
        out_levels = [_ancestor_level(t, used, level_keys, ancestors, missing_classes, meta_extra)]
        homonyms, breaks = {}, []
    else:
        out_levels, homonyms = _rank_levels(wanted, level_keys, by_name, len(t))
        breaks = _not_nested(out_levels, by_name)
    meta = {**_meta(t, missing, rank_ids, missing_count, affected, homonyms, breaks), **meta_extra}
    out_levels = numbered(out_levels, label_order, meta)
    return Hierarchy(list(t.leaf_ids), list(t.leaf_names), out_levels, meta, nested=not breaks,
                     summary=_summary(meta, len(t), missing, rank_ids)).validate()


def _meta(t: TaxonTable, missing: str, rank_ids: str, missing_count: dict, affected, homonyms: dict,
          breaks: list) -> dict:
    """The metadata of a taxonomy's map (the ``ancestors`` cut adds its own)."""
    meta = {
        "method": "build",
        "source": "taxonomy",
        "taxonomy": t.inputs,
        "input_format": t.kind,
        "ranks": list(t.ranks),
        "missing": missing,
        "rank_ids": rank_ids,
        "missing_ranks": {r: c for r, c in missing_count.items() if c},
        "leaves_with_missing_rank": int(affected.sum()),
        "homonyms": homonyms,
        "nested": not breaks,
    }
    if breaks:
        meta["not_nested"] = breaks
    if t.notes:
        meta["notes"] = list(t.notes)
    if t.unused:
        meta["columns_not_used"] = list(t.unused)
    return meta


def _check_request(taxonomy, levels, missing: str, ranks, rank_ids: str, ancestors, missing_classes: str):
    """``(rank names asked for, rank columns)``, checked before any input is read."""
    check_missing(missing)
    one_of(rank_ids, RANK_ID_MODES, "--rank-ids")
    one_of(missing_classes, MISSING_CLASSES, "--missing-classes")
    if ancestors is not None:
        levels = "all"
    if levels is None or (not isinstance(levels, str) and len(levels) == 0):
        raise GranularityError("say which ranks to build: --level genus, --levels family,order or --levels all")
    if isinstance(ranks, str):
        text = ranks
        ranks = [r.strip() for r in text.split(",") if r.strip()]
        if not ranks:
            raise GranularityError(f"--ranks {text!r} names no columns")
    if isinstance(taxonomy, TaxonTable) and ranks:
        raise GranularityError("ranks applies when reading a table, not to a TaxonTable already read")
    return rank_tokens(levels), ranks


def _level_keys(t: TaxonTable, wanted: list[str], missing: str, by_name: bool):
    """``({level: (ids, names)}, missing count per rank, leaves missing a rank, the path ranks used)``.

    The path ranks used run from the top down to the finest one wanted (all of them
    when the species is); the species' ids carry the path too; two species with one
    id are an error.
    """
    import numpy as np

    path_wanted = [r for r in wanted if r in t.ranks or r == LEAF_RANK]
    finest = len(t.ranks) if LEAF_RANK in wanted else max((t.ranks.index(r) + 1 for r in path_wanted), default=0)
    used = t.ranks[:finest]
    level_keys, missing_count, affected = _rank_groups(t, used, missing)
    if LEAF_RANK in wanted:
        path_ids = level_keys[used[-1]][0] if used else [""] * len(t)
        level_keys[LEAF_RANK] = ([f"{p}{SEP}{s}" if p else s for p, s in zip(path_ids, t.leaf_names)],
                                 list(t.leaf_names))
        dup = find_duplicates(t.leaf_names if by_name else level_keys[LEAF_RANK][0], t.where.__getitem__,
                              t.leaf_names.__getitem__)
        if dup:
            raise GranularityError(offenders(dup, "duplicate species", f"taxonomy {t.name!r}"))
    if SUPERCATEGORY in wanted:
        sup = [v if v is not None else fill_name(None, SUPERCATEGORY) for v in t.supercategory]
        missing_count[SUPERCATEGORY] = sum(v is None for v in t.supercategory)
        affected |= np.array([v is None for v in t.supercategory], dtype=bool)
        level_keys[SUPERCATEGORY] = (sup, sup)
    return level_keys, missing_count, affected, used


def _not_nested(levels: list, by_name: bool) -> list[list[str]]:
    """The pairs of levels that do not nest. Path ranks nest by construction (promised, so
    :meth:`~hierarchy_cli.hierarchy.Hierarchy.validate` checks it); ``supercategory`` is not
    on the path, and groups identified by name alone can span several parents: whether
    those nest is a fact of the data."""
    from ..hierarchy import is_refinement

    return [[a.name, b.name] for a, b in zip(levels, levels[1:])
            if (by_name or SUPERCATEGORY in (a.name, b.name)) and not is_refinement(a.labels, b.labels)]


def _summary(meta: dict, num_leaves: int, missing: str, rank_ids: str) -> list[str]:
    """What the summary says: missing ranks, shared names, nesting, columns not used, the input's notes."""
    notes = missing_rank_note(meta, num_leaves, missing) or ["no leaf misses a rank"]
    for r, k in meta["homonyms"].items():
        if rank_ids == "name":
            notes.append(f"{k:,} {r} name(s) name groups with different paths: joined into one group each "
                         "(--rank-ids name)")
        else:
            notes.append(f"{k:,} {r} name(s) are shared by different {r} groups: kept apart by their path ids")
    if not meta["nested"]:
        notes.append(not_nested_note(meta["not_nested"]))
    if meta.get("columns_not_used"):
        notes.append(f"columns not used: {', '.join(meta['columns_not_used'])} (neither a rank used nor a known "
                     "column; name rank columns with --ranks)")
    return notes + meta.get("notes", [])


def _rank_groups(t: TaxonTable, used: list[str], missing: str):
    """``({rank: (path ids, names)}, missing count per rank, leaves missing a rank)``.

    One pass per rank, from the top: each leaf's running path id and name; a
    missing rank is filled (``fill``), takes the nearest known ancestor's group
    (``parent``) or, with ``error``, the missing ranks are refused.
    """
    import numpy as np

    n = len(t)
    missing_count = {r: 0 for r in used}
    affected = np.zeros(n, dtype=bool)
    if missing == "error":
        bad = []
        for j, r in enumerate(used):
            for i, v in enumerate(t.values[j]):
                if v is None:
                    bad.append((t.leaf_names[i], f"{t.where[i]}: no {r}"))
        if bad:
            raise GranularityError(offenders(bad, "missing ranks", f"taxonomy {t.name!r}") + " (see --missing)")
    path_ids = [""] * n
    known_name = [""] * n  # nearest classified ancestor's name
    level_keys: dict[str, tuple] = {}
    for j, r in enumerate(used):
        col = t.values[j]
        ids_r, names_r = [], []
        for i in range(n):
            v = col[i]
            parent = path_ids[i]
            if v is None:
                missing_count[r] += 1
                affected[i] = True
                if missing == "parent" and parent:
                    ids_r.append(parent)
                    names_r.append(known_name[i])
                    continue
                v = fill_name(known_name[i], r)
            else:
                known_name[i] = v
            pid = f"{parent}{SEP}{v}" if parent else v
            path_ids[i] = pid
            ids_r.append(pid)
            names_r.append(v)
        level_keys[r] = (ids_r, names_r)
    return level_keys, missing_count, affected


def _rank_levels(wanted: list[str], level_keys: dict, by_name: bool, n: int):
    """One :class:`Level` per wanted rank, and the names shared by groups with different paths."""
    import numpy as np

    from ..hierarchy import Level

    out_levels = []
    homonyms = {}
    for r in wanted:
        ids_r, names_r = level_keys[r]
        joined = len(set(ids_r)) - len(set(names_r))  # names shared by groups with different paths
        if joined:
            homonyms[r] = joined
        if by_name:
            ids_r = names_r
        intern: dict[str, int] = {}
        keys = np.fromiter((intern.setdefault(x, len(intern)) for x in ids_r), dtype=np.int64, count=n)
        group_names = [""] * len(intern)
        for k, nm in zip(keys.tolist(), names_r):
            group_names[k] = nm
        out_levels.append(Level.from_keys(r, keys, list(intern), group_names))
    return out_levels, homonyms


def _taxon_graph(ranks: list[str], level_keys: dict):
    """The taxonomy as a :class:`~hierarchy_cli.graph.Graph`: a node per path id (the species
    at the bottom), its parent the group one rank up; and ``{path id: node}``."""
    import numpy as np

    from ..graph import Graph

    index: dict[str, int] = {}
    names: list[str] = []
    parent_of: dict[int, int] = {}
    for j, r in enumerate(ranks):
        ids_r, names_r = level_keys[r]
        above = level_keys[ranks[j - 1]][0] if j else None
        for i, (pid, nm) in enumerate(zip(ids_r, names_r)):
            node = index.setdefault(pid, len(index))
            if node == len(names):
                names.append(nm)
            if above is not None and above[i] != pid:
                parent_of.setdefault(node, index[above[i]])
    ids = list(index)
    child = np.fromiter(parent_of, dtype=np.int64, count=len(parent_of))
    order = np.argsort(child, kind="stable")
    ptr = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(child, minlength=len(ids)), out=ptr[1:])
    parents = np.fromiter(parent_of.values(), dtype=np.int64, count=len(parent_of))[order].astype(np.int32)
    return Graph(ids, names, ptr, parents), index


def _ancestor_level(t: TaxonTable, used: list[str], level_keys: dict, ancestors, missing_classes: str,
                    meta: dict):
    """The ``ancestors`` level: the taxonomy as a graph (:func:`_taxon_graph`), cut by the same
    :func:`~hierarchy_cli.graphcut.cut_levels` as WordNet and edge lists. A taxon is given by
    its path id, or by its name when only one taxon has it."""
    import numpy as np

    from ..graphcut import LevelRequest, cut_levels
    from .cuts import make_shape, refuse_unplaced, unplaced_meta

    g, index = _taxon_graph([*used, LEAF_RANK], level_keys)
    by_name: dict[str, list[int]] = {}
    for node, nm in enumerate(g.names):
        by_name.setdefault(nm, []).append(node)

    def node_of(wanted, what):
        out = []
        for x in wanted:
            found = [index[x]] if x in index else by_name.get(x, [])
            if len(found) != 1:
                why = "is no taxon of the taxonomy" if not found else \
                    f"names {len(found)} taxa ({', '.join(repr(g.ids[k]) for k in found[:2])}): give its path"
                raise GranularityError(f"{what}: {x!r} {why}")
            out.append(found[0])
        return np.asarray(out, dtype=np.int64)

    leaves = np.asarray([index[p] for p in level_keys[LEAF_RANK][0]], dtype=np.int64)
    shape, shape_meta = make_shape(node_of, ancestors=ancestors, missing=missing_classes)
    (level,), info = cut_levels(g, leaves, LevelRequest("ancestors"), shape)
    refuse_unplaced(info, t.leaf_names, t.where.__getitem__, f"taxonomy {t.name!r}", shape)
    meta.update(shape_meta, **unplaced_meta(info, shape))
    return level
