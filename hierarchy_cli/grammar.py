"""The small languages of the command line, parsed once at the boundary.

* integer ranges: ``--levels 0-9``, ``--levels 1,3,5``, ``--depth 0-3,7``
  (:func:`int_ranges`, :func:`parse_int_list`), and k lists: ``--k 1000,100``
  (:func:`parse_k_list`);
* a label map and some of its levels: ``MAP[:LEVEL[,LEVEL...]]`` (:class:`MapSpec`),
  as ``--within``, ``--like``, ``--target``, ``--tree`` and ``compare``/``report``'s
  arguments take them.

Light to import: nothing here loads numpy or pyarrow until a map is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import GranularityError


def int_ranges(value, what: str, minimum: int = 0, ranges: bool = True) -> list[tuple[int, int]]:
    """The ``(lo, hi)`` runs of ``"0-9"``, ``"1,3,5"``, ``"0-3,7"``, an int or a list of ints.

    Checks the syntax and ``minimum`` without expanding the ranges (``0-300000000``
    costs nothing here); :func:`parse_int_list` expands them.
    """
    parts = _int_parts(value, what)
    shown = value if isinstance(value, str) else ",".join(map(str, parts))
    out = [_int_run(part, what, shown, minimum, ranges) for part in parts]
    if not out:
        raise GranularityError(f"{what} is empty")
    return out


def _int_parts(value, what: str) -> list:
    """The items of ``value``: a string's comma-separated parts, the one int, or a list's items."""
    if isinstance(value, bool):
        raise GranularityError(f"{what} {value!r} is not a whole number")
    if isinstance(value, int) or (not isinstance(value, (str, bytes)) and hasattr(value, "__index__")):
        return [int(value)]
    if isinstance(value, str):
        return [p.strip() for p in value.split(",")]
    try:
        return list(value)
    except TypeError:
        raise GranularityError(f"{what} {value!r} is not a whole number or a list of them") from None


def _int_run(part, what: str, shown: str, minimum: int, ranges: bool) -> tuple[int, int]:
    """``(lo, hi)`` of one item (``"3"``, ``"0-9"`` where ``ranges``, or an int), at least ``minimum``."""
    if isinstance(part, str):
        lo, hi = _text_run(part, what, shown, ranges)
    elif isinstance(part, bool) or not hasattr(part, "__index__"):
        raise GranularityError(f"{what} {shown!r}: {part!r} is not a whole number")
    else:
        lo = hi = int(part)
    if lo < minimum:
        if minimum == 0:
            raise GranularityError(f"{what} {shown!r}: {lo} is negative")
        raise GranularityError(f"{what} {shown!r}: must be at least {minimum}, not {lo}")
    if lo > hi:
        raise GranularityError(f"{what} {shown!r}: range {part!r} runs backwards")
    return lo, hi


def _text_run(part: str, what: str, shown: str, ranges: bool) -> tuple[int, int]:
    """``"3"`` -> ``(3, 3)``, ``"0-9"`` -> ``(0, 9)`` (a range only where ``ranges``)."""
    m = re.fullmatch(r"(-?\d+)(?:-(\d+))?" if ranges else r"(-?\d+)()", part)
    if m is None:
        kind = "a whole number or a range like 0-9" if ranges else "a whole number"
        hint = (" (rank names like genus need --source taxonomy, or an edge list with ranks)"
                if part.isalpha() and ranges else "")
        raise GranularityError(f"{what} {shown!r}: {part!r} is not {kind}{hint}")
    lo = int(m.group(1))
    return lo, int(m.group(2)) if m.group(2) else lo


def shown_ranges(value, runs: list[tuple[int, int]]) -> str:
    """How ``value`` reads in a message: the text given, or its runs."""
    return value if isinstance(value, str) else ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def expand_ranges(runs: list[tuple[int, int]], what: str, shown: str) -> list[int]:
    """The numbers of ``runs``, ascending; a number given twice is an error."""
    seen: set[int] = set()
    for lo, hi in runs:
        run = range(lo, hi + 1)
        if not seen.isdisjoint(run):
            again = next(v for v in run if v in seen)
            raise GranularityError(f"{what} {shown!r}: {again} is given twice")
        seen.update(run)
    return sorted(seen)


def parse_int_list(value, what: str, minimum: int = 0, ranges: bool = True) -> list[int]:
    """Distinct whole numbers, ascending, from ``"0-9"``, ``"1,3,5"``, ``"0-3,7"``, an int or a list.

    A number given twice is an error. To bound ranges before expanding them, use
    :func:`int_ranges` and :func:`expand_ranges` (as :func:`~hierarchy_cli.graphcut.cut_levels` does).
    """
    runs = int_ranges(value, what, minimum, ranges)
    return expand_ranges(runs, what, shown_ranges(value, runs))


def parse_k_list(value, what: str = "--k") -> list[int]:
    """``"1000,100"`` -> ``[1000, 100]``: distinct Ks >= 1, largest (finest) first."""
    if isinstance(value, str) and not value.strip():
        raise GranularityError(f"{what} is empty: give one K or a list like 1000,100; '' is not a whole number")
    return parse_int_list(value, what, minimum=1, ranges=False)[::-1]


# ----------------------------------------------------------------------------- MAP[:LEVEL,...]


@dataclass(frozen=True)
class MapSpec:
    """``MAP[:LEVEL[,LEVEL...]]``: a label map (a path, or ``-`` for stdin) and the levels
    it names (``None``: none named). A path that exists wins over the colon rule, so a
    file named ``a:b.parquet`` is read whole."""

    text: str
    path: str
    levels: tuple[str, ...] | None

    @classmethod
    def parse(cls, spec: str, option: str, several: bool = True) -> MapSpec:
        """Split ``spec``; with ``several=False`` the part after the colon is one level
        name, commas and all."""
        spec = str(spec)
        if ":" not in spec or Path(spec).exists():
            return cls(spec, spec, None)
        path, part = spec.rsplit(":", 1)
        names = [p.strip() for p in part.split(",") if p.strip()] if several else [part]
        if not any(names):
            raise GranularityError(f"{option} {spec!r}: no level name after ':'")
        for name in names:
            if names.count(name) > 1:
                raise GranularityError(f"{option} {spec!r}: level {name!r} is given twice")
        return cls(spec, path, tuple(names))

    @property
    def is_stdin(self) -> bool:
        return self.path == "-"

    def read(self, option: str):
        """``(LabelMap, level names or None)``: the map, read and checked, and the levels
        named, each of which must be one of its levels (else an error naming ``option``)."""
        from .labelmap import read_label_map

        lm = read_label_map(self.path)
        for name in self.levels or ():
            if name not in lm.levels:
                raise GranularityError(
                    f"{option} {self.text!r}: no level {name!r} in {lm.source}; levels are: {', '.join(lm.levels)}")
        return lm, (list(self.levels) if self.levels is not None else None)


def read_map_level(spec: str, option: str):
    """``MAP[:LEVEL]`` read: ``(LabelMap, level or None)``."""
    lm, levels = MapSpec.parse(spec, option, several=False).read(option)
    return lm, levels[0] if levels else None


def read_map_levels(spec: str, option: str):
    """``MAP[:LEVEL,...]`` read: ``(LabelMap, levels or None)``."""
    return MapSpec.parse(spec, option).read(option)
