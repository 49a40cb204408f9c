"""Taxonomic ranks: their standard order, level names, and what a missing rank becomes.

One home for what ``--source taxonomy`` (a table with a column per rank) and
``--source edges`` with ranks (NCBI's ``nodes.dmp``, or an edge list with a
``rank`` column) share:

``RANK_ORDER``  the standard ranks, coarsest first. Synonyms of one level sit
                side by side (``domain``/``superkingdom``: NCBI renamed the
                latter in 2025; ``phylum``/``division``, the botanical name).
                A rank level is written finest first by this order.
``UNRANKED``    NCBI's ``no rank`` and ``clade``: nodes without a rank.
level names     a rank's level (and column) name is its name in lower case with
                runs of other characters as ``_`` (``species group`` ->
                ``species_group``).
``--missing``   ``fill`` (a group ``unclassified <nearest known ancestor> <rank>``
                per ancestor), ``parent`` (the leaf stays in its nearest known
                ancestor's group) or ``error``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import GranularityError

RANK_ORDER = (
    "domain", "superkingdom", "realm", "subrealm", "kingdom", "subkingdom", "infrakingdom",
    "superphylum", "phylum", "division", "subphylum", "subdivision", "infraphylum",
    "superclass", "class", "subclass", "infraclass", "cohort", "subcohort",
    "superorder", "order", "suborder", "infraorder", "parvorder",
    "superfamily", "family", "subfamily", "tribe", "subtribe",
    "genus", "subgenus", "section", "subsection", "series", "subseries",
    "species group", "species subgroup", "species", "subspecies", "varietas", "variety", "subvariety", "forma",
)
UNRANKED = ("no rank", "clade")
from ..options import MISSING_RANKS as MISSING_POLICIES, one_of  # noqa: E402
LEAF_RANK = "species"


def rank_key(name: str) -> str:
    """A rank's level name: lower case, other characters as ``_`` (``Species Group`` -> ``species_group``)."""
    return re.sub(r"[^0-9a-zA-Z_]+", "_", str(name).strip().lower()).strip("_")


_POSITION = {rank_key(r): i for i, r in enumerate(RANK_ORDER)}


def rank_position(name: str | None) -> int | None:
    """Where ``name`` sits in :data:`RANK_ORDER` (0 = coarsest), ``None`` if it is not a standard rank."""
    return None if name is None else _POSITION.get(rank_key(name))


def rank_level_name(column: str) -> str:
    """The level name of a rank column (see :func:`rank_key`); refuses the names a label map reserves."""
    name = rank_key(column)
    if not name or name in ("leaf_index", "leaf_id", "leaf_name"):
        raise GranularityError(f"rank column {column!r} cannot be a level name")
    return name


def check_missing(missing: str) -> None:
    one_of(missing, MISSING_POLICIES, "--missing")


def fill_name(known: str | None, rank: str) -> str:
    """The group a leaf without ``rank`` joins under ``--missing fill``."""
    return f"unclassified {known} {rank}" if known else f"unclassified {rank}"


def rank_tokens(requested: Sequence[str] | str) -> list[str]:
    """``"family,order"`` or ``["family", "order"]`` -> ``["family", "order"]`` (as given, trimmed)."""
    if isinstance(requested, str):
        requested = [requested]
    return [str(r).strip() for item in requested for r in str(item).split(",")]


def resolve_rank_levels(tokens: Sequence[str], available: Sequence[str], source: str,
                        all_levels: Sequence[str] | None = None, hints: dict[str, str] | None = None) -> list[str]:
    """The level names asked for (``tokens``, as :func:`rank_tokens` splits them), finest first
    in ``available``'s order; ``all`` = ``all_levels`` (default: every one). Unknown names are
    an error listing what ``source`` offers; ``hints`` adds a word for some names."""
    wanted: set[str] = set()
    for token in tokens:
        key = "all" if token.lower() == "all" else rank_key(token)
        if key == "all":
            wanted.update(available if all_levels is None else all_levels)
        elif key in available:
            wanted.add(key)
        else:
            hint = (hints or {}).get(key, "")
            if not hint and re.fullmatch(r"[\d,\-]+", token or "x"):
                hint = " (levels by rank are rank names, not numbers)"
            raise GranularityError(f"unknown rank {token!r}{hint}; ranks in {source!r} are: "
                                   f"{', '.join(available)}, or all")
    if not wanted:
        raise GranularityError("say which ranks to build: --level genus, --levels family,order or --levels all")
    return [a for a in available if a in wanted]


def missing_rank_note(meta: dict, num_leaves: int, missing: str) -> list[str]:
    """What the summary says about the leaves that miss a rank (``fill`` or ``parent``; none: nothing)."""
    if not meta["leaves_with_missing_rank"]:
        return []
    per = ", ".join(f"{r} {c:,}" for r, c in meta["missing_ranks"].items())
    how = {"fill": "filled as 'unclassified <ancestor> <rank>'",
           "parent": "kept in their nearest known ancestor's group"}[missing]
    return [f"{meta['leaves_with_missing_rank']:,} of {num_leaves:,} leaves miss a rank ({per}): {how}"]


def not_nested_note(pairs: list) -> str:
    """What the summary says about rank levels that do not nest (``pairs``: finer, coarser)."""
    shown = ", ".join(f"{a} -> {b}" for a, b in pairs)
    return (f"not nested: {shown} (a {pairs[0][0]} group spans several {pairs[0][1]} groups); "
            "the other levels nest")
