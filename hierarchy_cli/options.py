"""Every choice list and default the API and the command line share, and the one check.

Light to import (no numpy, no pyarrow): ``--help`` and typer's completion read the
choices here, the API checks its arguments against them with :func:`one_of`, and a
command never copies a default: it passes on what it was given.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import GranularityError

# where a manual hierarchy comes from (build --source)
SOURCES = ("wordnet", "taxonomy", "edges")
# which path to the root a node with several parents follows (build --multi-parent)
RULES = ("longest", "shortest", "first", "last")
DEFAULT_RULE = "longest"
# what a class the hierarchy has no place for becomes (build --missing-classes)
MISSING_CLASSES = ("error", "own-group", "drop")
# a class under two unrelated --ancestors (build --ancestor-rule)
ANCESTOR_RULES = ("unique", "exclusive", "path")
# what a missing rank becomes (build --missing; taxonomies and edge lists cut by rank)
MISSING_RANKS = ("fill", "parent", "error")
# what identifies a rank's group (build --rank-ids)
RANK_ID_MODES = ("path", "name")
# BREEDS' tasks and splits (breeds TASK --split)
BREEDS_TASKS = ("entity13", "entity30", "living17", "nonliving26")
BREEDS_SPLITS = ("none", "rand", "good", "bad")

# k-means (cluster --metric, --niter)
METRICS = ("l2", "cosine")
DEFAULT_NITER = 10
# random groups (random --sizes) and leaf names of id-only leaves (random/cluster --leaf-names)
SIZES = ("balanced", "multinomial")
LEAF_NAMES = ("auto", "id", "wordnet")

# apply: rows whose leaf is unknown, what the key column holds, manifest formats, compression
UNKNOWN_MODES = ("error", "drop", "keep")
KEY_KINDS = ("auto", "index", "id")
MANIFEST_FORMATS = ("parquet", "csv", "tsv")
COMPRESSIONS = ("zstd", "snappy", "lz4", "gzip", "none")

# export formats, the key of class-to-idx, and the LCA matrices' kinds
EXPORT_FORMATS = ("tsv", "csv", "json", "class-to-idx", "hf-names", "lca-height", "lca-distance")
EXPORT_KEYS = ("name", "id")
LCA_KINDS = ("height", "distance")


def one_of(value, choices: Sequence[str], option: str):
    """``value`` when it is one of ``choices``, else the one-line error naming ``option``."""
    if value not in choices:
        raise GranularityError(f"unknown {option} {value!r}; choose one of {', '.join(choices)}")
    return value


def complete(choices: Sequence[str]):
    """typer's shell completion for an option whose values are ``choices``."""
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]
