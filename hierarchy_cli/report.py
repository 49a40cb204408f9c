"""``granularity report``: one self-contained HTML page that pictures label spaces.

For every map and level it shows the number of classes and the distribution of
group sizes (leaves per class, as a rank/size plot); with a target level it
plots, for every candidate level of every map, the alignment with the target
(NMI, purity, H(target | pretraining)) against the number of classes, one curve
per map, so WordNet levels, k-means levels and a random control can be compared
in one picture. With a target tree (the target's map when its levels nest, or
``tree``) it plots how high in that tree the lowest common ancestor of two leaves
of one class is, on average (:func:`hierarchy_cli.lca.tree_alignment`). Each picture
has its table under it, and the page carries every number as JSON
(``<script type="application/json" id="granularity-data">``).

The alignment numbers are those of :func:`hierarchy_cli.metrics.compare`, the
function behind ``granularity compare --json``: one implementation. The plots are
static SVG drawn by matplotlib (:mod:`hierarchy_cli.report_figures`, never at
start-up); the page needs no network, and the same inputs give a byte-identical page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import GranularityError
from .report_figures import COLORS, alignment_figure, sizes_figure, tree_figure

DATA_ID = "granularity-data"


# ----------------------------------------------------------------------------- the numbers


def _check_args(maps: Any, target: Any, tree: Any = None) -> list[Any]:
    """``maps`` as a list, once its type, its length and the stdin rule are checked."""
    from .labelmap import LabelMap

    if isinstance(maps, (str, bytes)) or not isinstance(maps, Sequence):
        raise GranularityError(
            f"maps must be a list of label maps ('MAP[:LEVEL]' or LabelMap), not {type(maps).__name__}")
    if not maps:
        raise GranularityError("maps is empty: give at least one label map")
    for spec in maps:
        if not isinstance(spec, (str, LabelMap)):
            raise GranularityError(
                f"maps: each map must be a 'MAP[:LEVEL]' string or a LabelMap, not {type(spec).__name__}")
    if target is not None and not isinstance(target, (str, LabelMap)):
        raise GranularityError(f"target must be a 'MAP:LEVEL' string or a LabelMap, not {type(target).__name__}")
    if tree is not None and tree is not False and not isinstance(tree, (str, LabelMap)):
        raise GranularityError(f"tree must be a 'MAP[:LEVEL,...]' string, a LabelMap or False, "
                               f"not {type(tree).__name__}")
    from .grammar import MapSpec

    stdin = [s for s in [*maps, target, tree] if isinstance(s, str) and MapSpec.parse(s, "MAP").is_stdin]
    if len(stdin) > 1:
        raise GranularityError("stdin ('-') can be read only once: give '-' for one map at most")
    return list(maps)


def _read(spec: Any, option: str):
    """(LabelMap, level or None) of a ``MAP[:LEVEL]`` string or a LabelMap."""
    from .grammar import read_map_level

    lm, level = (spec, None) if not isinstance(spec, str) else read_map_level(spec, option)
    if lm.num_leaves == 0:
        raise GranularityError(f"{option} {lm.source!r} has no leaves: nothing to show")
    return lm, level


def _read_maps(maps: list[Any]) -> list[dict[str, Any]]:
    """Each distinct map once, with its levels to show, in the order given."""
    entries: dict[str, dict[str, Any]] = {}
    for spec in maps:
        lm, level = _read(spec, "MAP")
        entry = entries.setdefault(lm.source, {"map": lm, "levels": []})
        for lv in [level] if level is not None else lm.levels:
            if lv in entry["levels"]:
                raise GranularityError(f"MAP {spec!r}: level {lv!r} of {lm.source} is given twice")
            entry["levels"].append(lv)
    return list(entries.values())


def _size_stats(lm, level: str) -> dict[str, Any]:
    """Classes and the distribution of leaves per class of one level."""
    lab = lm.lookup(level, outside=-1)
    sizes = np.bincount(lab[lab >= 0], minlength=lm.num_classes(level))
    if not sizes.all():  # a strict reader refuses such a file; never count an empty class
        raise GranularityError(f"label map {lm.source!r}: level {level!r} skips label "
                               f"{int(np.flatnonzero(sizes == 0)[0])} (labels must be 0..K-1)")
    names = lm.names(level)
    big, small = int(sizes.argmax()), int(sizes.argmin())
    values, counts = np.unique(sizes, return_counts=True)
    outside = {"outside": int((lab < 0).sum())} if (lab < 0).any() else {}  # leaves in no class
    return {**outside,
        "level": level,
        "classes": int(sizes.size),
        "leaves": int(sizes.sum()),
        "largest": int(sizes[big]),
        "largest_name": names[big],
        "median": float(np.median(sizes)),
        "smallest": int(sizes[small]),
        "smallest_name": names[small],
        "singletons": int((sizes == 1).sum()),
        # the whole distribution: [leaves per class, number of such classes], largest first
        "size_counts": [[int(v), int(c)] for v, c in zip(values[::-1], counts[::-1])],
    }


def _describe(lm) -> str:
    """How a map was made, from its metadata (``build (wordnet)``, ``cluster``...)."""
    meta = lm.metadata
    what = str(meta.get("method") or "")
    if meta.get("source") and str(meta["source"]) != what:
        what = f"{what} ({meta['source']})" if what else str(meta["source"])
    return what or "not recorded"


def _target_tree(tree: Any, target_map):
    """The tree to measure LCA heights in: ``tree``; by default the target's map
    when its levels nest (several of them); ``False``: none."""
    from .lca import is_tree, label_tree

    if tree is False:
        return None
    if tree is not None:
        return label_tree(tree, where="--tree")
    return label_tree(target_map, where="--target") if target_map is not None and is_tree(target_map) else None


def report_data(maps: Sequence[Any], target: Any = None, tree: Any = None) -> dict[str, Any]:
    """Every number the report shows, as one JSON-ready dict.

    ``maps`` is a list of ``"MAP[:LEVEL]"`` strings (all levels of MAP without
    ``:LEVEL``) or :class:`~hierarchy_cli.labelmap.LabelMap` objects; ``target``
    is ``"MAP:LEVEL"`` (``:LEVEL`` may be left out for a one-level map), or
    ``None`` for the group sizes only. With a target, every map must have the
    target's leaves in the same order, and ``alignment`` holds, per map and level,
    exactly what :func:`hierarchy_cli.metrics.compare` returns. ``tree`` is the
    target tree (``"MAP[:LEVEL,...]"`` or a LabelMap; default: the target's map when
    its levels nest; ``False``: none): ``tree`` then describes it and
    ``tree_alignment`` holds, per map and level, ``a`` and ``classes_a`` and what
    ``compare(..., tree=tree)["tree"]`` holds.
    """
    from .metrics import first_leaf_difference, level_labels, compare
    from .lca import tree_alignment

    specs = _check_args(maps, target, tree)
    target_map = target_level = None
    if target is not None:
        target_map, level = _read(target, "--target")
        _, _, target_level, _ = level_labels(target_map, level, "--target")
    tree_obj = _target_tree(tree, target_map)
    entries = _read_maps(specs)
    data: dict[str, Any] = {"tool_version": __version__, "target": None, "maps": [], "alignment": []}
    if target_map is not None:
        data["target"] = {"source": target_map.source, "level": target_level,
                          "classes": target_map.num_classes(target_level),
                          "num_leaves": target_map.num_leaves}
    if tree_obj is not None:
        data["tree"] = tree_obj.describe()
        data["tree_alignment"] = []
    for entry in entries:
        lm = entry["map"]
        data["maps"].append({
            "source": lm.source,
            "made_by": _describe(lm),
            "metadata": {k: v for k, v in lm.metadata.items() if k not in ("levels", "num_classes")},
            "num_leaves": lm.num_leaves,
            "levels": [_size_stats(lm, lv) for lv in entry["levels"]],
        })
        if target_map is not None:
            data["alignment"] += [compare(lm, target_map, a_level=lv, b_level=target_level)
                                  for lv in entry["levels"]]
        if tree_obj is not None:
            diff = first_leaf_difference(lm.leaf_ids, tree_obj.leaf_ids, lm.source, tree_obj.source)
            if diff:
                raise GranularityError(f"the tree has other leaves than MAP: {diff}")
            data["tree_alignment"] += [{"a": {"source": lm.source, "level": lv}, "classes_a": lm.num_classes(lv),
                                        **tree_alignment(lm.lookup(lv), tree_obj)} for lv in entry["levels"]]
    return data


# ----------------------------------------------------------------------------- the page

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#222;background:#fff;margin:0 auto;max-width:1080px;padding:24px 32px 48px;line-height:1.45}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.25em;margin:2em 0 .4em;border-bottom:1px solid #ddd;
 padding-bottom:.2em}h3{font-size:1.05em;margin:1.6em 0 .3em}
p.lede,p.note{color:#555;margin:.3em 0}code{font-size:.92em;background:#f4f4f4;padding:0 .25em;border-radius:3px}
figure{margin:.6em 0}figure svg{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:.86em;margin:.4em 0 1em;font-variant-numeric:tabular-nums}
th,td{padding:.22em .7em;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}td.n,th.n{text-align:right}td:first-child{white-space:nowrap}tbody tr:nth-child(even){background:#fbfbfb}
details{margin:.2em 0 .6em}pre{font-size:.8em;background:#f6f6f6;padding:.5em;overflow-x:auto}summary{cursor:pointer;color:#555}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.4em;vertical-align:-.05em}
footer{margin-top:3em;color:#777;font-size:.85em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool]) -> str:
    def cells(tag: str, values: Sequence[Any]) -> str:
        return "".join(f'<{tag}{" class=n" if n else ""}>{v}</{tag}>' for v, n in zip(values, numeric))

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


def _swatch(index: int) -> str:
    """A square in map ``index``'s colour, the colour of its curve."""
    return f'<span class="swatch" style="background:{COLORS[index % 10]}"></span>'


def _f4(x: float) -> str:
    return f"{x:.4f}"


def _sizes_section(entry: dict[str, Any], key: str, index: int) -> str:
    rows = [[_e(lv["level"]), f"{lv['classes']:,}", f"{lv['largest']:,} ({_e(lv['largest_name'])})",
             f"{lv['median']:g}", f"{lv['smallest']:,} ({_e(lv['smallest_name'])})",
             f"{lv['singletons']:,}"] for lv in entry["levels"]]
    table = _table(["level", "classes", "largest class (leaves)", "median", "smallest class",
                    "one-leaf classes"], rows, [False, True, True, True, True, True])
    dist = "".join(
        f"<h4>{_e(lv['level'])}</h4>"
        + _table(["leaves per class", "classes"],
                 [[f"{s:,}", f"{c:,}"] for s, c in lv["size_counts"]], [True, True])
        for lv in entry["levels"])
    return (f'<h3 id="{key}">{_swatch(index)}<code>{_e(entry["source"])}</code></h3>'
            f'<p class="note">made by: {_e(entry["made_by"])}; {entry["num_leaves"]:,} leaves; '
            f'{len(entry["levels"])} level{"s" if len(entry["levels"]) != 1 else ""}</p>'
            f'<figure id="{key}-figure">'
            f'{sizes_figure(entry, key)}</figure>{table}'
            f"<details><summary>the whole distribution, level by level</summary>{dist}</details>"
            "<details><summary>how the map was made (its metadata)</summary>"
            f"<pre>{_e(json.dumps(entry['metadata'], sort_keys=True, indent=1, ensure_ascii=False))}</pre>"
            "</details>")


def _alignment_section(data: dict[str, Any]) -> str:
    tgt = data["target"]
    index = {m["source"]: i for i, m in enumerate(data["maps"])}
    rows = []
    for r in data["alignment"]:
        nest = "yes" if r["a_refines_b"] else "no"
        rows.append([f"{_swatch(index[r['a']['source']])}<code>{_e(r['a']['source'])}</code>",
                     _e(r["a"]["level"]), f"{r['classes_a']:,}",
                     _f4(r["nmi"]), _f4(r["ari"]), _f4(r["pure_classes"]), _f4(r["pure_leaves"]),
                     _f4(r["h_target_given_pre"]), nest])
    table = _table(["map", "level", "classes", "NMI", "ARI", "pure classes", "pure leaves",
                    "H(target | pre), bits", "nests in target"], rows,
                   [False, False, True, True, True, True, True, True, False])
    return (f'<h2 id="alignment">Alignment with the target <code>{_e(tgt["source"])}:{_e(tgt["level"])}</code>'
            f' ({tgt["classes"]:,} classes)</h2>'
            '<p class="lede">Every level of every map against the target, by its number of classes. '
            "A level aligns with the target when each of its classes lies inside one target class: "
            "purity 1 and H(target | pretraining) = 0 bits (it nests in the target). Finer levels that "
            "stay aligned are the ones that transfer best; a random control with the same group sizes "
            "shows what chance gives. The dotted line marks the number of classes of the target itself.</p>"
            '<figure id="alignment-figure">'
            f'{alignment_figure(data, "alignment")}</figure>{table}'
            '<p class="note">The numbers are those of <code>granularity compare MAP:LEVEL TARGET --json</code> '
            "(NMI and ARI from scikit-learn; purity and H in bits, each leaf counting once), "
            f"shown to 4 decimals; the page's <code>{DATA_ID}</code> JSON holds them in full.</p>")


def _tree_section(data: dict[str, Any]) -> str:
    tree = data["tree"]
    index = {m["source"]: i for i, m in enumerate(data["maps"])}
    rows = [[f"{_swatch(index[r['a']['source']])}<code>{_e(r['a']['source'])}</code>", _e(r["a"]["level"]),
             f"{r['classes_a']:,}", f"{r['pairs']:,}",
             "-" if r["mean_lca_height"] is None else _f4(r["mean_lca_height"]),
             _f4(r["random_mean_lca_height"])] for r in data["tree_alignment"]]
    table = _table(["map", "level", "classes", "pairs in one class", "mean LCA height", "random grouping"],
                   rows, [False, False, True, True, True, True])
    levels = ", ".join(tree["levels"])
    return (f'<h2 id="tree">Distance in the target tree <code>{_e(tree["source"])}</code></h2>'
            '<p class="lede">How far apart, in the target tree, are the leaves that one pretraining class '
            "merges? For every pair of leaves in one class: the height of their lowest common ancestor "
            "(the longest path from it down to a leaf; leaves have height 0), averaged over the pairs. Low "
            "means a class merges close relatives; the dashed line is the exact expectation for a random "
            "grouping with the same class sizes (the mean over all pairs of leaves).</p>"
            f'<p class="note">The tree: levels {_e(levels)} of <code>{_e(tree["source"])}</code>, '
            f'{tree["num_nodes"]:,} nodes, height {tree["height"]}'
            f'{" (with a root added above its coarsest level)" if tree["implicit_root"] else ""}.</p>'
            f'<figure id="tree-figure">{tree_figure(data, "tree")}</figure>{table}'
            '<p class="note">The numbers are those of <code>granularity compare MAP:LEVEL TARGET --tree TREE '
            f'--json</code> (its <code>tree</code> object); the page\'s <code>{DATA_ID}</code> JSON holds '
            "them in full.</p>")


def render_html(data: dict[str, Any]) -> str:
    """The HTML page for the numbers of :func:`report_data`."""
    import matplotlib

    maps = data["maps"]
    keys = [f"map{i + 1}" for i in range(len(maps))]
    toc = "".join(f'<li><a href="#{k}"><code>{_e(m["source"])}</code></a> '
                  f'({len(m["levels"])} level{"s" if len(m["levels"]) != 1 else ""})</li>'
                  for k, m in zip(keys, maps))
    title = "Label spaces" + (f" against {data['target']['source']}:{data['target']['level']}"
                              if data["target"] else "")
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="lede">{len(maps)} label map{"s" if len(maps) != 1 else ""}, '
        f'{sum(len(m["levels"]) for m in maps)} levels.</p>',
        "<ul>" + ('<li><a href="#alignment">Alignment with the target</a></li>' if data["target"] else "")
        + ('<li><a href="#tree">Distance in the target tree</a></li>' if data.get("tree") else "")
        + f'<li><a href="#sizes">Classes and group sizes</a><ul>{toc}</ul></li></ul>',
    ]
    if data["target"]:
        parts.append(_alignment_section(data))
    if data.get("tree"):
        parts.append(_tree_section(data))
    parts.append('<h2 id="sizes">Classes and group sizes</h2>'
                 '<p class="lede">Per map and level: the number of classes and how many leaves each '
                 "class groups, largest first (log-log). A long tail of small classes means many "
                 "pretraining classes with few leaves.</p>")
    parts += [_sizes_section(m, k, i) for i, (k, m) in enumerate(zip(keys, maps))]
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False).replace("<", "\\u003c")
    parts.append(f'<script type="application/json" id="{DATA_ID}">{payload}</script>')
    parts.append(f"<footer>Made by granularity {_e(__version__)} with matplotlib "
                 f"{_e(matplotlib.__version__)}. Self-contained: it needs no network.</footer>")
    parts.append("</body></html>\n")
    return "".join(parts)


def report_html(maps: Sequence[Any], target: Any = None, tree: Any = None) -> str:
    """The report page for ``maps`` (and ``target``, ``tree``): see :func:`report_data`."""
    return render_html(report_data(maps, target, tree))


def write_report(maps: Sequence[Any], output: str | Path, target: Any = None, tree: Any = None) -> dict[str, Any]:
    """Write the report page to ``output`` (a path or ``-``), atomically; return its numbers."""
    from .outputs import atomic_output, check_target

    if str(output) != "-":
        check_target(output)
    data = report_data(maps, target, tree)
    page = render_html(data)
    with atomic_output(output, binary=False) as fh:
        fh.write(page)
    return data
