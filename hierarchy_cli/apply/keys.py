"""Which manifest column names each row's leaf, and how (``index``, ``id`` or ``path``).

Pure functions of a schema and the relabeler's options; no data is read here.
"""

from __future__ import annotations

from ..errors import GranularityError
from ..options import KEY_KINDS, one_of

# Auto-detection of the key column, in order of preference. Index names must hold
# integers; id names hold ids (integers are read as their decimal text); the
# ambiguous ones go by the column's type (integers = leaf index).
INDEX_COLUMNS = ("leaf_index", "class_index", "label_index", "target")
ID_COLUMNS = ("leaf_id", "wnid", "synset", "class_id")
AMBIGUOUS_COLUMNS = ("label", "class")
PATH_COLUMNS = ("path", "filepath", "file_path", "relpath", "image_path", "file", "filename", "image")
KEY_COLUMN_GUESSES = INDEX_COLUMNS[:1] + ID_COLUMNS[:2] + AMBIGUOUS_COLUMNS[:1] + INDEX_COLUMNS[1:] \
    + ID_COLUMNS[2:] + AMBIGUOUS_COLUMNS[1:]


def is_string_type(typ) -> bool:
    """string, large_string or string_view (not a dictionary)."""
    import pyarrow as pa

    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)


def value_type(typ):
    """The type of the values: a dictionary's value type, else ``typ``."""
    import pyarrow as pa

    return typ.value_type if pa.types.is_dictionary(typ) else typ


def check_key_options(column: str | None, key: str, path_column: str | None, path_pattern: str | None) -> None:
    """The key options' own rules (no schema needed)."""
    one_of(key, KEY_KINDS, "--key")
    if path_column is not None and column is not None:
        raise GranularityError("give --column or --path-column, not both")
    if path_pattern is not None and path_column is None:
        raise GranularityError("--path-pattern needs --path-column")


def resolve_key(schema, column: str | None, key: str, path_column: str | None,
                where: str = "the manifest") -> tuple[str, str]:
    """``(column, kind)`` for a manifest schema; kind is ``index``, ``id`` or ``path``."""
    if path_column is not None:
        return _path_key(schema, path_column, where), "path"
    col = column if column is not None else _guess_column(schema, where)
    if col is None:
        return _path_key(schema, next(c for c in PATH_COLUMNS if c in schema.names), where), "path"
    if col not in schema.names:
        raise _missing(schema, col, "--column", where)
    return col, _key_kind(col, value_type(schema.field(col).type), key, where)


def _missing(schema, col: str, option: str, where: str) -> GranularityError:
    return GranularityError(f"{where} has no column {col!r} ({option}); columns are: "
                            f"{', '.join(schema.names) or '(none)'}")


def _guess_column(schema, where: str) -> str | None:
    """The first likely key column, or None when only a path column is there."""
    names = schema.names
    col = next((c for c in KEY_COLUMN_GUESSES if c in names), None)
    if col is None and not any(c in names for c in PATH_COLUMNS):
        raise GranularityError(
            f"{where} has no leaf column: name it with --column (leaf index or id) or "
            f"--path-column (image paths); looked for {', '.join(KEY_COLUMN_GUESSES + PATH_COLUMNS)}; "
            f"columns are: {', '.join(names) or '(none)'}"
        )
    return col


def _path_key(schema, col: str, where: str) -> str:
    if col not in schema.names:
        raise _missing(schema, col, "--path-column", where)
    typ = schema.field(col).type
    if not is_string_type(value_type(typ)):
        raise GranularityError(f"{where}: --path-column {col!r} has type {typ}, expected strings")
    return col


def _key_kind(col: str, typ, key: str, where: str) -> str:
    import pyarrow as pa

    is_int = pa.types.is_integer(typ)
    kind = key
    if kind == "auto":
        kind = "index" if col in INDEX_COLUMNS else "id" if col in ID_COLUMNS else "index" if is_int else "id"
    if kind == "index" and not is_int:
        raise GranularityError(
            f"{where}: column {col!r} has type {typ}; a leaf index must be an integer "
            "(use --key id if it holds leaf ids)"
        )
    if kind == "id" and not (is_int or is_string_type(typ)):
        raise GranularityError(f"{where}: column {col!r} has type {typ}, expected leaf ids (strings)")
    return kind


def id_columns(column: str | None, key: str, path_column: str | None) -> list[str]:
    """The columns that will be read as leaf ids if the manifest has them: a CSV reader
    reads them as text, so that ``00123`` or a numeric taxon id stays an id."""
    if path_column is not None:
        return []
    if column is not None:
        return [column] if key == "id" or (key == "auto" and column in ID_COLUMNS) else []
    return list(ID_COLUMNS)


# ----------------------------------------------------------------------------- --path-pattern


def check_path_pattern(pattern: str) -> str:
    """``pattern`` checked by RE2 (the engine that runs it), its one capture group named.

    The pattern must compile in RE2 (pyarrow's regex engine: no lookaround, no
    backreferences) and hold exactly one capture group, named or not; an unnamed one
    is named ``id`` (``pyarrow.compute.extract_regex`` only takes named groups).
    """
    err = _re2_error(pattern)
    named = pattern
    if err == "unnamed":
        named = _name_first_group(pattern)
        err = _re2_error(named) if named is not None else "unnamed"
    if err == "unnamed":
        raise GranularityError(f"--path-pattern {pattern!r} needs exactly one capture group around the id, "
                               "found more (make the others non-capturing: (?:...))")
    if err is not None:
        raise GranularityError(f"--path-pattern {pattern!r} is not a regular expression RE2 accepts: {err}")
    groups = _group_names(named)
    if len(groups) != 1:
        raise GranularityError(f"--path-pattern {pattern!r} needs exactly one capture group around the id, "
                               f"found {len(groups)}" + (" (make the others non-capturing: (?:...))"
                                                         if groups else ""))
    return named


def _re2_error(pattern: str) -> str | None:
    """None if RE2 compiles ``pattern`` with named groups only; ``"unnamed"`` if it has an
    unnamed group; else RE2's complaint."""
    import pyarrow as pa

    try:
        _group_names(pattern)
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "unnamed groups" in text:
            return "unnamed"
        return text.removeprefix("Invalid regular expression: ")
    return None


def _group_names(pattern: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.compute as pc

    return [f.name for f in pc.extract_regex(pa.array([], pa.string()), pattern).type]


def _name_first_group(pattern: str) -> str | None:
    """``pattern`` with ``?P<id>`` put in its first capturing ``(`` (not escaped, not in a
    ``[...]`` class, not ``(?``); None if there is none."""
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 2 if pattern[i + 1:i + 2] == "]" else 1  # a ']' first in a class is literal
            continue
        elif c == "(" and pattern[i + 1:i + 2] != "?":
            return pattern[:i + 1] + "?P<id>" + pattern[i + 1:]
        i += 1
    return None
