"""Taxonomies: species relabelled with their genus, family, order... (iNaturalist style).

Three inputs give the same thing, a list of species (the leaves, in the
dataset's own class order) with their ranks:

``iNat JSON``  an iNaturalist 2021 annotation file (``train.json``,
               ``train_mini.json``, ``val.json``); its ``categories`` carry
               ``kingdom`` ... ``genus``, ``specific_epithet``, ``name`` and
               ``supercategory``. Leaves in category ``id`` order; leaf id is
               ``image_dir_name`` when present, else the category id.
``table``      CSV/TSV (with a header) or parquet, one row per species and one
               column per rank (every column named after a standard rank above
               the species: ``superkingdom``/``domain``, ``kingdom``, ``phylum``,
               ... ``family``, ``subfamily``, ``tribe``, ``genus``, ..., see
               :mod:`~hierarchy_cli.sources.ranks`; or the columns named by
               ``ranks``), the species in ``species``/``name`` or
               ``specific_epithet``; optional ``supercategory`` and ``id``
               columns. Leaves in row order. Any other column is named in a
               note ("columns not used"), never ignored silently.
``folders``    iNaturalist 2021 image folder names such as
               ``00000_Animalia_Annelida_Clitellata_Haplotaxida_Lumbricidae_Lumbricus_terrestris``:
               a folder to list (sorted by the leading index) or a text file
               with one name per line (line order).

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
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GranularityError, offenders
from .ranks import LEAF_RANK, RANK_ORDER, check_missing, fill_name, missing_rank_note, not_nested_note, rank_key, \
    rank_level_name, rank_position, rank_tokens, resolve_rank_levels

PATH_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus")  # iNat's ranks, coarse -> fine
SUPERCATEGORY = "supercategory"
from ..options import MISSING_CLASSES, RANK_ID_MODES, one_of  # noqa: E402
ID_COLUMNS = ("id", "leaf_id", "image_dir_name", "taxon_id")
NAME_COLUMNS = ("species", "name", "scientific_name")
SPECIES_POSITION = rank_position(LEAF_RANK)
TABLE_RANKS = RANK_ORDER[:SPECIES_POSITION]  # a table's rank columns lie above its species
# columns a table may hold besides its ranks: never reported as unused
ROLE_COLUMNS = (*ID_COLUMNS, *NAME_COLUMNS, "specific_epithet", SUPERCATEGORY)
FOLDER_RE = re.compile(r"(\d+)_(.+)")
SEP = "/"


@dataclass
class TaxonTable:
    """Species (leaves) in class order with their rank values (``None`` = missing)."""

    leaf_ids: list[str]
    leaf_names: list[str]
    ranks: list[str]  # path ranks, coarse -> fine
    values: list[list[str | None]]  # values[r][i]: rank r of leaf i
    supercategory: list[str | None] | None
    where: list[str]  # position of each leaf in the input ("line 4", "record 2")
    kind: str  # "inat-json", "table", "folders"
    inputs: dict = field(default_factory=dict)  # metadata description of the input
    name: str = ""  # display name of the input, for messages
    notes: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # a table's columns that are neither a rank nor a known role

    def __len__(self) -> int:
        return len(self.leaf_ids)


def _clean(value) -> str | None:
    """A rank value as text, ``None`` when missing (null, empty, NaN)."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


# ----------------------------------------------------------------------------- readers


def read_taxonomy(spec: str | os.PathLike, ranks: Sequence[str] | None = None) -> TaxonTable:
    """Read species and ranks from an iNat JSON, a table, or folder names (see module doc).

    ``ranks`` names the rank columns of a table, coarse to fine (default: the columns
    named after a standard rank above the species, :data:`~hierarchy_cli.sources.ranks.RANK_ORDER`:
    superkingdom, kingdom, phylum, ..., family, subfamily, tribe, genus ...). Columns that
    are neither a rank used nor a known role (id, species, supercategory ...) are listed
    in ``TaxonTable.unused``.
    """
    from ..inputs import read_input

    spec = str(spec)
    if spec != "-" and Path(spec).is_dir():
        if ranks:
            raise GranularityError("--ranks applies to a table (CSV/TSV/parquet), not to a folder of image folders")
        return _from_folder(Path(spec))
    inp = read_input(spec, "taxonomy")
    head = inp.data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    kind = inp.kind
    if Path(inp.name).suffix.lower() == ".json" or head[:1] in (b"{", b"["):
        if ranks:
            raise GranularityError("--ranks applies to a table (CSV/TSV/parquet), not to an iNat annotation file")
        return _from_inat_json(inp)
    if kind in ("csv", "tsv", "parquet"):
        return _from_table(inp, ranks)
    if ranks:
        raise GranularityError(
            f"--ranks applies to a table, but taxonomy {inp.name!r} is plain text "
            "(folder names); give the table a .csv or .tsv extension"
        )
    return _from_folder_list(inp)


def _describe(inp) -> dict:
    return inp.describe()


def _from_inat_json(inp) -> TaxonTable:
    cats, base_line = _inat_categories(inp)
    what = f"iNat annotation file {inp.name!r}"
    required = PATH_RANKS
    rows = []
    for n, cat in enumerate(cats):
        where = f"category record {n + 1}"
        if not isinstance(cat, dict):
            raise GranularityError(f"{what} {where}: expected an object, got {type(cat).__name__}")
        if "id" not in cat:
            raise GranularityError(f"{what} {where}: no 'id'")
        cid = cat["id"]
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise GranularityError(f"{what} {where}: 'id' is {cid!r}, expected a whole number")
        where = f"category record {n + 1} (id {cid})"
        absent = [k for k in required if k not in cat]
        if absent:
            raise GranularityError(
                f"{inp.name!r} is not an iNat annotation file: {where} has no {absent[0]!r} key "
                f"(an iNat 2021 category carries {', '.join(PATH_RANKS)}, specific_epithet, name "
                "and supercategory)"
            )
        name = _clean(cat.get("name"))
        if name is None:
            genus, epithet = _clean(cat.get("genus")), _clean(cat.get("specific_epithet"))
            if genus is None or epithet is None:
                raise GranularityError(f"{what} {where}: empty species (no 'name', nor genus and specific_epithet)")
            name = f"{genus} {epithet}"
        leaf_id = _clean(cat.get("image_dir_name")) or str(cid)
        rows.append((cid, leaf_id, name, [_clean(cat.get(r)) for r in PATH_RANKS],
                     _clean(cat.get(SUPERCATEGORY)), where))
    if not rows:
        raise GranularityError(f"{what} has an empty 'categories' list")
    seen: dict[int, str] = {}
    dup = []
    for cid, *_, where in rows:
        if cid in seen:
            dup.append((cid, f"{where}, first at {seen[cid]}"))
        seen.setdefault(cid, where)
    if dup:
        raise GranularityError(offenders(dup, "duplicate category ids", what))
    rows.sort(key=lambda r: r[0])  # the trainer's class index is the category id
    notes = []
    ids = [r[0] for r in rows]
    if ids != list(range(len(ids))):
        notes.append(f"category ids are not 0..{len(ids) - 1}: leaves follow id order ({ids[0]}..{ids[-1]})")
    has_super = any(r[4] is not None for r in rows)
    return TaxonTable(
        leaf_ids=[r[1] for r in rows],
        leaf_names=[r[2] for r in rows],
        ranks=list(PATH_RANKS),
        values=[[r[3][j] for r in rows] for j in range(len(PATH_RANKS))],
        supercategory=[r[4] for r in rows] if has_super else None,
        where=[r[5] for r in rows],
        kind="inat-json",
        inputs=_describe(inp),
        name=inp.name,
        notes=notes,
    )


_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')


def _depth_before(data: bytes, pos: int) -> int | None:
    """How many JSON objects/arrays are open at byte ``pos`` (``None`` if ``pos`` is inside a string).

    All in C-speed bytes operations: drop escaped backslashes and quotes, keep only
    quotes and brackets, drop adjacent quote pairs (an empty string, or two strings
    with no bracket between them: removing either changes no bracket's side), then
    the strings that remain, which hold brackets, and count what is left.
    """
    head = data[:pos]
    if b"\\" in head:
        head = head.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = head.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    outside = re.sub(rb'"[^"]*"', b"", skeleton)
    if b'"' in outside:
        return None
    return outside.count(b"{") + outside.count(b"[") - outside.count(b"}") - outside.count(b"]")


def _inat_categories(inp) -> tuple[list, int]:
    """The top-level ``categories`` list of an iNat annotation file, without parsing the images.

    ``train.json`` is large; only its ``categories`` value is decoded. A
    ``"categories"`` key counts only at the top level of the object (depth 1: not
    inside ``info`` or any other value, not inside a string); a file without one,
    or that is not a JSON object, is not an iNat annotation file.
    """
    import json

    data = inp.data
    what = f"iNat annotation file {inp.name!r}"
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start != b"{":
        raise GranularityError(
            f"{inp.name!r} is not an iNat annotation file: it does not hold a JSON object "
            "with a 'categories' list (like train.json)"
        )
    decoder = json.JSONDecoder()
    for m in re.finditer(rb'"categories"\s*:\s*', data):
        if _depth_before(data, m.start()) != 1:
            continue
        arr_start = m.end()
        if data[arr_start:arr_start + 1] != b"[":
            raise GranularityError(f"{what}: the top-level 'categories' is not a list")
        size = 1 << 22
        while True:
            chunk = data[arr_start: arr_start + size].decode("utf-8", errors="replace")
            try:
                value, _ = decoder.raw_decode(chunk)
                break
            except json.JSONDecodeError as exc:
                if arr_start + size < len(data):
                    size *= 4
                    continue
                line = data[:arr_start].count(b"\n") + exc.lineno
                raise GranularityError(f"{what} line {line}: invalid JSON in 'categories' ({exc.msg})") from None
        return value, data[:arr_start].count(b"\n") + 1
    # no top-level "categories": say whether it is JSON at all
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise GranularityError(f"{inp.name!r}{where} is not valid JSON, so not an iNat annotation file") from None
    keys = ", ".join(sorted(map(str, obj))[:6]) if isinstance(obj, dict) else type(obj).__name__
    raise GranularityError(
        f"{inp.name!r} is not an iNat annotation file: no top-level 'categories' list "
        f"(top-level keys: {keys or 'none'})"
    )


def _from_table(inp, ranks: Sequence[str] | None) -> TaxonTable:
    from ..inputs import read_table

    t = read_table(inp, "taxonomy table")
    what = t.label
    header = t.columns
    if not header:
        raise GranularityError(f"{what} is empty: expected a header row and one row per species")
    columns = {h: t.table.column(h).to_pylist() for h in header}
    nrows = t.num_rows
    positions = [t.where(i) for i in range(nrows)]
    lower = {}
    for h in header:
        lower.setdefault(h.lower(), h)

    def col(name: str) -> str | None:
        return lower.get(name.lower())

    if ranks:
        rank_cols = []
        for r in ranks:
            c = col(r)
            if c is None:
                raise GranularityError(f"--ranks: {what} has no column {r!r}; columns are: {', '.join(header)}")
            rank_cols.append(c)
        if len(set(rank_cols)) != len(rank_cols):
            raise GranularityError(f"--ranks {','.join(ranks)!r} names a column twice")
    else:
        rank_cols = _standard_rank_columns(header)
        if not rank_cols:
            raise GranularityError(
                f"{what} has no rank columns: expected some of {', '.join(TABLE_RANKS)} "
                f"(or name them with --ranks); columns are: {', '.join(header)}"
            )
    epithet_col = col("specific_epithet")
    name_col = next((col(c) for c in NAME_COLUMNS if col(c) is not None), None)
    genus_col = col("genus")
    if name_col is None and (epithet_col is None or genus_col is None):
        raise GranularityError(
            f"{what} has no species column: expected 'species' or 'name' (or 'genus' and "
            f"'specific_epithet'); columns are: {', '.join(header)}"
        )
    id_col = next((col(c) for c in ID_COLUMNS if col(c) is not None), None)
    super_col = col(SUPERCATEGORY)
    rank_names = [rank_level_name(c) for c in rank_cols]
    clash = [c for c, r in zip(rank_cols, rank_names) if r in (LEAF_RANK, SUPERCATEGORY)]
    if clash:
        raise GranularityError(
            f"--ranks: column {clash[0]!r} cannot be a path rank: '{LEAF_RANK}' is the leaf and "
            f"'{SUPERCATEGORY}' a level of its own"
        )
    if len(set(rank_names)) != len(rank_names):
        raise GranularityError(f"{what}: rank columns {', '.join(rank_cols)} give the same level name twice")
    leaf_names, leaf_ids = [], []
    for i in range(nrows):
        if name_col is not None:
            name = _clean(columns[name_col][i])
            missing_what = f"empty species in column {name_col!r}"
        else:
            g, e = _clean(columns[genus_col][i]), _clean(columns[epithet_col][i])
            name = f"{g} {e}" if g and e else None
            missing_what = "empty genus or specific_epithet (the species)"
        if name is None:
            raise GranularityError(f"{what} {positions[i]}: {missing_what}")
        leaf_names.append(name)
        if id_col is not None:
            lid = _clean(columns[id_col][i])
            if lid is None:
                raise GranularityError(f"{what} {positions[i]}: empty id in column {id_col!r}")
            leaf_ids.append(lid)
        else:
            leaf_ids.append(name)
    if nrows == 0:
        raise GranularityError(f"{what} has a header but no species rows")
    values = [[_clean(v) for v in columns[c]] for c in rank_cols]
    sup = [_clean(v) for v in columns[super_col]] if super_col is not None else None
    used = {*rank_cols, name_col, super_col, id_col, *((genus_col, epithet_col) if name_col is None else ())}
    unused = [h for h in header if h not in used and rank_key(h) not in ROLE_COLUMNS]
    return TaxonTable(leaf_ids, leaf_names, rank_names, values, sup, positions, "table",
                      _describe(inp), inp.name, unused=unused)


def _standard_rank_columns(header: Sequence[str]) -> list[str]:
    """The columns named after a standard rank above the species, coarsest first (see ranks.RANK_ORDER)."""
    found: dict[int, str] = {}
    for h in header:
        pos = rank_position(h)
        if pos is not None and pos < SPECIES_POSITION:
            found.setdefault(pos, h)
    return [found[p] for p in sorted(found)]


def _parse_folder_names(names: list[str], where: list[str], what: str) -> tuple:
    values: list[list[str | None]] = [[] for _ in PATH_RANKS]
    leaf_names = []
    index = []
    for name, pos in zip(names, where):
        m = FOLDER_RE.fullmatch(name)
        parts = name.split("_")
        if m is None or len(parts) < 8 or any(not p for p in parts[:8]):
            raise GranularityError(
                f"{what} {pos}: {name!r} is not an iNat 2021 folder name like "
                "00000_Animalia_Annelida_Clitellata_Haplotaxida_Lumbricidae_Lumbricus_terrestris"
            )
        index.append(int(parts[0]))
        for j in range(len(PATH_RANKS)):
            values[j].append(parts[1 + j])
        leaf_names.append(f"{parts[6]} {'_'.join(parts[7:])}")
    return values, leaf_names, index


def _from_folder(folder: Path) -> TaxonTable:
    import hashlib

    what = f"image folder {str(folder)!r}"
    try:
        entries = [e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
    except OSError as exc:
        raise GranularityError(f"cannot list {what}: {exc.strerror or exc}") from None
    if not entries:
        raise GranularityError(f"{what} has no sub-folders (expected iNat folders like 00000_Animalia_...)")
    where = [f"sub-folder {e!r}" for e in entries]
    values, leaf_names, index = _parse_folder_names(entries, where, what)
    order = sorted(range(len(entries)), key=lambda i: (index[i], entries[i]))
    _check_unique_index([index[i] for i in order], [entries[i] for i in order], what)
    names_sorted = [entries[i] for i in order]
    digest = hashlib.sha256("".join(n + "\n" for n in names_sorted).encode()).hexdigest()
    return TaxonTable(
        leaf_ids=names_sorted,
        leaf_names=[leaf_names[i] for i in order],
        ranks=list(PATH_RANKS),
        values=[[v[i] for i in order] for v in values],
        supercategory=None,
        where=[where[i] for i in order],
        kind="folders",
        inputs={"name": folder.name or str(folder), "sha256": digest, "listing": "sub-folder names"},
        name=str(folder),
    )


def _check_unique_index(index: list[int], names: list[str], what: str) -> None:
    dup = [(names[i], f"same index as {names[i - 1]!r}") for i in range(1, len(index)) if index[i] == index[i - 1]]
    if dup:
        raise GranularityError(offenders(dup, "folders with a repeated index", what))


def _from_folder_list(inp) -> TaxonTable:
    from ..inputs import decode_lines

    what = f"folder-name list {inp.name!r}"
    names, where = [], []
    for n, line in enumerate(decode_lines(inp, "taxonomy"), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        names.append(text.rstrip("/").rsplit("/", 1)[-1])
        where.append(f"line {n}")
    if not names:
        raise GranularityError(f"{what} holds no folder names")
    values, leaf_names, _ = _parse_folder_names(names, where, what)
    return TaxonTable(names, leaf_names, list(PATH_RANKS), values, None, where, "folders",
                      _describe(inp), inp.name)


# ----------------------------------------------------------------------------- building


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
    import numpy as np

    from ..hierarchy import Hierarchy, Level, is_refinement
    from .cuts import numbered

    check_missing(missing)
    one_of(rank_ids, RANK_ID_MODES, "--rank-ids")
    one_of(missing_classes, MISSING_CLASSES, "--missing-classes")
    by_name = rank_ids == "name"
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
    t = taxonomy if isinstance(taxonomy, TaxonTable) else read_taxonomy(taxonomy, ranks)
    tokens = rank_tokens(levels)
    wanted = [LEAF_RANK, *resolve_levels(t, tokens)] if ancestors is not None else resolve_levels(t, tokens)
    n = len(t)
    path_wanted = [r for r in wanted if r in t.ranks or r == LEAF_RANK]
    # ranks that shape the ids: from the top down to the finest wanted path rank
    finest = len(t.ranks) if LEAF_RANK in wanted else max(
        (t.ranks.index(r) + 1 for r in path_wanted), default=0)
    used = t.ranks[:finest]
    level_keys, missing_count, affected = _rank_groups(t, used, missing)
    if LEAF_RANK in wanted:
        path_ids = level_keys[used[-1]][0] if used else [""] * n
        level_keys[LEAF_RANK] = ([f"{p}{SEP}{s}" if p else s for p, s in zip(path_ids, t.leaf_names)],
                                 list(t.leaf_names))
        _check_duplicate_species(t, list(t.leaf_names) if by_name else level_keys[LEAF_RANK][0])
    if SUPERCATEGORY in wanted:
        sup = [v if v is not None else fill_name(None, SUPERCATEGORY) for v in t.supercategory]
        missing_count[SUPERCATEGORY] = sum(v is None for v in t.supercategory)
        affected |= np.array([v is None for v in t.supercategory], dtype=bool)
        level_keys[SUPERCATEGORY] = (sup, sup)
    _check_duplicate_leaf_ids(t)

    meta_extra: dict = {}
    if ancestors is not None:
        out_levels = [_ancestor_level(t, used, level_keys, ancestors, missing_classes, meta_extra)]
        homonyms, breaks = {}, []
    else:
        out_levels, homonyms = _rank_levels(wanted, level_keys, by_name, n)
        # Path ranks nest by construction: promise it, so Hierarchy.validate checks it.
        # supercategory is not on the path, and groups identified by name alone can
        # span several parents: whether those nest is a fact of the data.
        breaks = [(a.name, b.name) for a, b in zip(out_levels, out_levels[1:])
                  if (by_name or SUPERCATEGORY in (a.name, b.name)) and not is_refinement(a.labels, b.labels)]
    nested = not breaks
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
        "nested": nested,
        **meta_extra,
    }
    if breaks:
        meta["not_nested"] = [list(b) for b in breaks]
    if t.notes:
        meta["notes"] = list(t.notes)
    if t.unused:
        meta["columns_not_used"] = list(t.unused)
    out_levels = numbered(out_levels, label_order, meta)
    h = Hierarchy(list(t.leaf_ids), list(t.leaf_names), out_levels, meta, nested=nested,
                  summary=_summary(meta, len(t), missing, rank_ids))
    return h.validate()


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


def _ancestor_level(t: TaxonTable, used: list[str], level_keys: dict, ancestors, missing_classes: str,
                    meta: dict):
    """The ``ancestors`` level: the taxonomy as a graph (a node per path id, the
    species at the bottom), cut by the same :func:`~hierarchy_cli.graph.cut_levels`
    as WordNet and edge lists."""
    import numpy as np

    from ..graph import Graph
    from ..graphcut import LevelRequest, cut_levels
    from .cuts import make_shape, refuse_unplaced, unplaced_meta

    ranks = [*used, LEAF_RANK]
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
    g = Graph(ids, names, ptr, parents)
    by_name: dict[str, list[int]] = {}
    for node, nm in enumerate(names):
        by_name.setdefault(nm, []).append(node)

    def node_of(wanted, what):
        out = []
        for x in wanted:
            if x in index:
                out.append(index[x])
                continue
            found = by_name.get(x, [])
            if len(found) != 1:
                why = "is no taxon of the taxonomy" if not found else \
                    f"names {len(found)} taxa ({', '.join(repr(ids[k]) for k in found[:2])}): give its path"
                raise GranularityError(f"{what}: {x!r} {why}")
            out.append(found[0])
        return np.asarray(out, dtype=np.int64)

    leaves = np.asarray([index[p] for p in level_keys[LEAF_RANK][0]], dtype=np.int64)
    shape, shape_meta = make_shape(node_of, ancestors=ancestors, missing=missing_classes)
    (level,), info = cut_levels(g, leaves, LevelRequest("ancestors"), shape)
    refuse_unplaced(info, t.leaf_names, lambda i: t.where[i], f"taxonomy {t.name!r}", shape)
    meta.update(shape_meta, **unplaced_meta(info, shape))
    return level


def _check_duplicate_species(t: TaxonTable, species_ids: list[str]) -> None:
    first: dict[str, int] = {}
    dup = []
    for i, s in enumerate(species_ids):
        if s in first:
            dup.append((t.leaf_names[i], f"{t.where[i]}, first at {t.where[first[s]]}"))
        else:
            first[s] = i
    if dup:
        raise GranularityError(offenders(dup, "duplicate species", f"taxonomy {t.name!r}"))


def _check_duplicate_leaf_ids(t: TaxonTable) -> None:
    from ..inputs import find_duplicates

    dup = find_duplicates(t.leaf_ids, lambda i: t.where[i])
    if dup:
        raise GranularityError(offenders(dup, "duplicate leaf ids", f"taxonomy {t.name!r}"))
