"""Open Images' label hierarchy (``bbox_labels_600_hierarchy.json``) read as an edge list.

The file is one JSON object per label, nested::

    {"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "/m/0jbk", "Subcategory": [...]},
                                              {"LabelName": "/m/01g317", "Part": [{...}], ...}]}

``Subcategory`` lists the label's kinds (is-a): each becomes a ``parent child``
edge, in document order, so nodes are numbered by first appearance as in any edge
list, and a label listed under several parents (Teddy bear under Bear and under
Toy) is a node with several parents. ``Part`` lists its parts (a human body's
head, a bicycle's wheel): not is-a, so those links are left out and counted
(the part objects' own ``Subcategory`` lists are read: they are is-a). In the
real file every part is also listed as a subcategory elsewhere, so no label is
lost. Names come from ``class-descriptions-boxable.csv`` (``--names``).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import GranularityError

LABEL, SUBCATEGORY, PART = "LabelName", "Subcategory", "Part"
KEYS = (LABEL, SUBCATEGORY, PART)
FORMAT = "open-images-hierarchy"


def _object_lines(data: bytes) -> np.ndarray:
    """The line of every ``{`` outside strings: object ``k`` in document (pre-)order opens at the k-th.

    (Bytes: no UTF-8 sequence holds a quote, backslash or brace byte.)
    """
    starts = [m.start() for m in re.finditer(rb'"(?:[^"\\]|\\.)*"|\{', data) if m.group() == b"{"]
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    return np.searchsorted(newlines, np.asarray(starts, dtype=np.int64)) + 1


def _load(inp, what: str):
    import json

    from ..inputs import utf8_text

    text = utf8_text(inp, "edge list")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GranularityError(f"{what} line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise GranularityError(f"{what}: nested too deeply to read") from None
    like = f"expected an object with {LABEL!r} and {SUBCATEGORY!r} (like bbox_labels_600_hierarchy.json)"
    if not isinstance(obj, dict):
        raise GranularityError(
            f"{inp.name!r} is not an Open Images hierarchy: its top level is a JSON {type(obj).__name__}, {like}")
    if LABEL not in obj:
        keys = ", ".join(sorted(map(str, obj))[:6]) or "none"
        raise GranularityError(f"{inp.name!r} is not an Open Images hierarchy: its top-level object has no "
                               f"{LABEL!r} (keys: {keys}); {like}")
    return obj


def _label(obj, where: str, what: str) -> str:
    if not isinstance(obj, dict):
        raise GranularityError(f"{what} {where}: expected an object with {LABEL!r}, got a JSON {type(obj).__name__}")
    unknown = [k for k in obj if k not in KEYS]
    if unknown:
        raise GranularityError(f"{what} {where}: unknown key {unknown[0]!r} (expected {', '.join(KEYS)})")
    label = obj.get(LABEL)
    if not isinstance(label, str) or not label.strip():
        got = "no" if label is None else f"an empty or non-text ({label!r})"
        raise GranularityError(f"{what} {where}: {got} {LABEL!r}")
    return label.strip()


def read_open_images(inp):
    """Read the hierarchy JSON as an :class:`~hierarchy_cli.sources.edgefiles.EdgeList` (see the module doc)."""
    from ..arrays import string_array
    from .edgefiles import EdgeList, node_index

    what = f"Open Images hierarchy {inp.name!r}"
    root = _load(inp, what)
    lines = _object_lines(inp.data)
    pairs: list[str] = []  # parent, child, parent, child, ... in document order
    edge_objects: list[int] = []  # the child's object number, per edge
    parts: set[tuple[str, str]] = set()
    part_labels: set[str] = set()
    stack = [(root, "$", None, None)]  # (object, JSON path, parent label, relation to it)
    k = -1
    while stack:
        obj, path, parent, relation = stack.pop()
        k += 1
        # every object before this one was valid, so the k-th brace opens this one (if it is an object)
        where = f"line {int(lines[k])} ({path})" if isinstance(obj, dict) and len(lines) > k else f"at {path}"
        label = _label(obj, where, what)
        if relation == SUBCATEGORY:
            pairs += [parent, label]
            edge_objects.append(k)
        elif relation == PART:
            parts.add((parent, label))
            part_labels.add(label)
        children = []
        for key in (key for key in obj if key != LABEL):
            items = obj[key]
            if not isinstance(items, list):
                raise GranularityError(f"{what} {where}: {key!r} is a JSON {type(items).__name__}, expected a list")
            children += [(child, f"{path}.{key}[{i}]", label, key) for i, child in enumerate(items)]
        stack.extend(reversed(children))
    if not pairs:
        raise GranularityError(f"{what} holds no edges: its root has no {SUBCATEGORY!r} list")
    idx, ids = node_index(string_array(pairs))
    position_ok = len(lines) == k + 1  # every '{' opened one label object
    numbers = lines[edge_objects] if position_ok else np.asarray(edge_objects, dtype=np.int64) + 1
    notes = [f"{len(parts):,} part links ('{PART}': a part, not a kind) left out of the hierarchy"] if parts else []
    missing = part_labels.difference(ids)
    if missing:
        notes.append(f"{len(missing):,} labels appear only as parts, so are not in the graph: "
                     + ", ".join(map(repr, sorted(missing)[:5])) + (" ..." if len(missing) > 5 else ""))
    info = {"format": FORMAT, "part_links_left_out": len(parts)}
    return EdgeList(ids, idx[0::2], idx[1::2], numbers.astype(np.int64), "line" if position_ok else "object",
                    inp, info, notes)
