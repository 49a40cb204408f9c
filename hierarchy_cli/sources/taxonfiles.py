"""The taxonomy source's files, read into a :class:`TaxonTable`: species (the leaves,
in the dataset's own class order) with their ranks.

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

The input's format is :attr:`~hierarchy_cli.inputs.InputFile.kind`'s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GranularityError, offenders
from ..inputs import find_duplicates
from .ranks import LEAF_RANK, RANK_ORDER, rank_key, rank_level_name, rank_position

PATH_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus")  # iNat's ranks, coarse -> fine
SUPERCATEGORY = "supercategory"
ID_COLUMNS = ("id", "leaf_id", "image_dir_name", "taxon_id")
NAME_COLUMNS = ("species", "name", "scientific_name")
SPECIES_POSITION = rank_position(LEAF_RANK)
TABLE_RANKS = RANK_ORDER[:SPECIES_POSITION]  # a table's rank columns lie above its species
# columns a table may hold besides its ranks: never reported as unused
ROLE_COLUMNS = (*ID_COLUMNS, *NAME_COLUMNS, "specific_epithet", SUPERCATEGORY)
FOLDER_RE = re.compile(r"(\d+)_(.+)")


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


def read_taxonomy(spec: str | os.PathLike, ranks: Sequence[str] | None = None) -> TaxonTable:
    """Read species and ranks from an iNat JSON, a table, or folder names (see module doc).

    ``ranks`` names the rank columns of a table, coarse to fine (default: the columns
    named after a standard rank above the species, :data:`~hierarchy_cli.sources.ranks.RANK_ORDER`:
    superkingdom, kingdom, phylum, ..., family, subfamily, tribe, genus ...). Columns that
    are neither a rank used nor a known role (id, species, supercategory ...) are listed
    in ``TaxonTable.unused``.
    """
    from ..inputs import TABLE_KINDS, read_input

    inp = read_input(str(spec), "taxonomy", folders=True)
    if inp.kind in TABLE_KINDS:
        return _from_table(inp, ranks)
    if ranks:
        raise GranularityError(_RANKS_NEED_A_TABLE.get(inp.kind, f"--ranks applies to a table, but taxonomy "
                               f"{inp.name!r} is plain text (folder names); give the table a .csv or .tsv extension"))
    if inp.kind == "folder":
        return _from_folder(Path(inp.name))
    if inp.kind == "json":
        return _from_inat_json(inp)
    return _from_folder_list(inp)


_RANKS_NEED_A_TABLE = {
    "folder": "--ranks applies to a table (CSV/TSV/parquet), not to a folder of image folders",
    "json": "--ranks applies to a table (CSV/TSV/parquet), not to an iNat annotation file",
}


def _from_inat_json(inp) -> TaxonTable:
    """An iNat annotation file's categories, in category id order (the trainer's class index)."""
    cats = _inat_categories(inp)
    what = f"iNat annotation file {inp.name!r}"
    rows = [_inat_row(cat, n, inp.name, what) for n, cat in enumerate(cats)]
    if not rows:
        raise GranularityError(f"{what} has an empty 'categories' list")
    dup = find_duplicates([r[0] for r in rows], lambda i: rows[i][5])
    if dup:
        raise GranularityError(offenders(dup, "duplicate category ids", what))
    rows.sort(key=lambda r: r[0])
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
        inputs=inp.describe(),
        name=inp.name,
        notes=notes,
    )


def _inat_row(cat, n: int, name: str, what: str) -> tuple:
    """``(id, leaf id, species, path rank values, supercategory, position)`` of category record ``n``."""
    where = f"category record {n + 1}"
    if not isinstance(cat, dict):
        raise GranularityError(f"{what} {where}: expected an object, got {type(cat).__name__}")
    if "id" not in cat:
        raise GranularityError(f"{what} {where}: no 'id'")
    cid = cat["id"]
    if isinstance(cid, bool) or not isinstance(cid, int):
        raise GranularityError(f"{what} {where}: 'id' is {cid!r}, expected a whole number")
    where = f"category record {n + 1} (id {cid})"
    absent = [k for k in PATH_RANKS if k not in cat]
    if absent:
        raise GranularityError(
            f"{name!r} is not an iNat annotation file: {where} has no {absent[0]!r} key "
            f"(an iNat 2021 category carries {', '.join(PATH_RANKS)}, specific_epithet, name "
            "and supercategory)"
        )
    species = _clean(cat.get("name"))
    if species is None:
        genus, epithet = _clean(cat.get("genus")), _clean(cat.get("specific_epithet"))
        if genus is None or epithet is None:
            raise GranularityError(f"{what} {where}: empty species (no 'name', nor genus and specific_epithet)")
        species = f"{genus} {epithet}"
    leaf_id = _clean(cat.get("image_dir_name")) or str(cid)
    return cid, leaf_id, species, [_clean(cat.get(r)) for r in PATH_RANKS], _clean(cat.get(SUPERCATEGORY)), where


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


def _inat_categories(inp) -> list:
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
        return value
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
    """A rank table: one row per species, one column per rank (see the module doc)."""
    from ..inputs import read_table

    t = read_table(inp, "taxonomy table")
    if not t.columns:
        raise GranularityError(f"{t.label} is empty: expected a header row and one row per species")
    col = _column_finder(t.columns)
    rank_cols = _rank_columns(t, col, ranks)
    roles = _role_columns(t, col)
    rank_names = _rank_level_names(rank_cols, t.label)
    columns = {h: t.table.column(h).to_pylist() for h in t.columns}
    positions = [t.where(i) for i in range(t.num_rows)]
    species = _table_species(columns, roles, positions, t.label)
    leaf_ids = species if roles["id"] is None else _table_ids(columns[roles["id"]], roles["id"], positions, t.label)
    if t.num_rows == 0:
        raise GranularityError(f"{t.label} has a header but no species rows")
    values = [[_clean(v) for v in columns[c]] for c in rank_cols]
    sup = None if roles[SUPERCATEGORY] is None else [_clean(v) for v in columns[roles[SUPERCATEGORY]]]
    used = {*rank_cols, *(c for role, c in roles.items() if role not in ("genus", "specific_epithet")),
            *((roles["genus"], roles["specific_epithet"]) if roles["species"] is None else ())}
    unused = [h for h in t.columns if h not in used and rank_key(h) not in ROLE_COLUMNS]
    return TaxonTable(leaf_ids, species, rank_names, values, sup, positions, "table",
                      inp.describe(), inp.name, unused=unused)


def _role_columns(t, col) -> dict[str, str | None]:
    """The columns of the roles besides the ranks (``species``, ``genus``, ``specific_epithet``,
    ``id``, ``supercategory``: a column or ``None``); a table without a species is an error."""
    roles = {"species": next((col(c) for c in NAME_COLUMNS if col(c) is not None), None),
             "genus": col("genus"), "specific_epithet": col("specific_epithet")}
    if roles["species"] is None and (roles["specific_epithet"] is None or roles["genus"] is None):
        raise GranularityError(
            f"{t.label} has no species column: expected 'species' or 'name' (or 'genus' and "
            f"'specific_epithet'); columns are: {', '.join(t.columns)}"
        )
    roles["id"] = next((col(c) for c in ID_COLUMNS if col(c) is not None), None)
    roles[SUPERCATEGORY] = col(SUPERCATEGORY)
    return roles


def _column_finder(header: Sequence[str]):
    """``col(name)``: the header's column of that name in any case (the first such), or ``None``."""
    lower: dict[str, str] = {}
    for h in header:
        lower.setdefault(h.lower(), h)
    return lambda name: lower.get(name.lower())


def _rank_columns(t, col, ranks: Sequence[str] | None) -> list[str]:
    """The rank columns, coarsest first: those ``ranks`` names, else the standard ones."""
    if not ranks:
        rank_cols = _standard_rank_columns(t.columns)
        if not rank_cols:
            raise GranularityError(
                f"{t.label} has no rank columns: expected some of {', '.join(TABLE_RANKS)} "
                f"(or name them with --ranks); columns are: {', '.join(t.columns)}"
            )
        return rank_cols
    rank_cols = []
    for r in ranks:
        c = col(r)
        if c is None:
            raise GranularityError(f"--ranks: {t.label} has no column {r!r}; columns are: {', '.join(t.columns)}")
        rank_cols.append(c)
    if len(set(rank_cols)) != len(rank_cols):
        raise GranularityError(f"--ranks {','.join(ranks)!r} names a column twice")
    return rank_cols


def _rank_level_names(rank_cols: list[str], label: str) -> list[str]:
    """The level name of each rank column; a column cannot be the leaf, the supercategory or a name twice."""
    rank_names = [rank_level_name(c) for c in rank_cols]
    clash = [c for c, r in zip(rank_cols, rank_names) if r in (LEAF_RANK, SUPERCATEGORY)]
    if clash:
        raise GranularityError(
            f"--ranks: column {clash[0]!r} cannot be a path rank: '{LEAF_RANK}' is the leaf and "
            f"'{SUPERCATEGORY}' a level of its own"
        )
    if len(set(rank_names)) != len(rank_names):
        raise GranularityError(f"{label}: rank columns {', '.join(rank_cols)} give the same level name twice")
    return rank_names


def _table_species(columns: dict, roles: dict, positions: list[str], label: str) -> list[str]:
    """Each row's species: its name column, else genus and specific epithet; empty is an error."""
    name_col, genus_col, epithet_col = roles["species"], roles["genus"], roles["specific_epithet"]
    if name_col is not None:
        names = [_clean(v) for v in columns[name_col]]
        missing = f"empty species in column {name_col!r}"
    else:
        pairs = zip(map(_clean, columns[genus_col]), map(_clean, columns[epithet_col]))
        names = [f"{g} {e}" if g and e else None for g, e in pairs]
        missing = "empty genus or specific_epithet (the species)"
    empty = next((i for i, v in enumerate(names) if v is None), None)
    if empty is not None:
        raise GranularityError(f"{label} {positions[empty]}: {missing}")
    return names


def _table_ids(values: list, id_col: str, positions: list[str], label: str) -> list[str]:
    """Each row's leaf id from the id column; empty is an error."""
    ids = [_clean(v) for v in values]
    empty = next((i for i, v in enumerate(ids) if v is None), None)
    if empty is not None:
        raise GranularityError(f"{label} {positions[empty]}: empty id in column {id_col!r}")
    return ids


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
    _check_unique_index([index[i] for i in order], [where[i] for i in order], what)
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


def _check_unique_index(index: list[int], where: list[str], what: str) -> None:
    """No two image folders share a leading index (the class order)."""
    dup = find_duplicates(index, where.__getitem__)
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
                      inp.describe(), inp.name)
