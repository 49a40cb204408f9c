"""Errors that the command line turns into one-line messages.

Every error a user can cause by bad input or options is a :class:`GranularityError`
with exit code 2; failures that are not the user's input (a disk that fills up,
a library that breaks) use exit code 1. The CLI prints ``error: <message>`` and
exits with ``exit_code``; the Python API simply raises.
"""

from __future__ import annotations

from collections.abc import Iterable


class GranularityError(Exception):
    """A problem with the user's input or options (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class GranularityFailure(GranularityError):
    """A failure that is not caused by bad input (exit code 1)."""

    exit_code = 1


def offenders(
    items: Iterable[tuple[object, object]],
    what: str,
    where: str,
    limit: int = 5,
) -> str:
    """Describe offending values as ``N <what> in <where>: 'a' (line 3), ...``.

    ``items`` holds ``(value, position)`` pairs; ``position`` is a line number,
    a row number or any short text (``None`` to leave it out).
    """
    items = list(items)
    shown = []
    for value, pos in items[:limit]:
        text = repr(str(value)) if not isinstance(value, (int, float)) else str(value)
        if pos is not None:
            text += f" ({pos if isinstance(pos, str) else f'line {pos}'})"
        shown.append(text)
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return f"{len(items)} {what} in {where}: " + ", ".join(shown) + more
