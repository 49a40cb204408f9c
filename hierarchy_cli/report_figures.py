"""The report's pictures: static SVG drawn by matplotlib, deterministic to the byte.

Each function takes the numbers of :func:`hierarchy_cli.report.report_data` (or one
map's entry of them) and returns one inline SVG whose ids are prefixed with ``key``,
so that several share one page. matplotlib is imported here only, inside the functions.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any

# one colour and marker per map (matplotlib's colour-blind-friendly "tab10" order)
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
# (key in compare's result, panel title, y label)
PANELS = (
    ("nmi", "NMI with the target", "NMI (1 = same partition)"),
    ("h_target_given_pre", "H(target | pretraining)", "bits (0 = nests in the target)"),
    ("pure_leaves", "Purity: leaves in pure classes", "share of leaves"),
    ("pure_classes", "Purity: pure classes", "share of pretraining classes"),
)


def _style(key: str):
    """matplotlib settings for one figure: the page's look, and deterministic SVG.

    ``svg.hashsalt`` (salted per figure) and date-free metadata make the bytes depend
    on the figure only; text stays text (``svg.fonttype`` none), drawn in the
    browser's sans-serif font.
    """
    import matplotlib

    return matplotlib.rc_context({
        "svg.hashsalt": f"granularity-{key}", "svg.fonttype": "none",
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "axes.spines.top": False, "axes.spines.right": False,
    })


def _svg(fig, key: str, label: str) -> str:
    """``fig`` as inline SVG: no XML prolog or DTD, every id prefixed with ``key``
    so that several SVGs can share one page, ``label`` as its accessible name.
    Call it inside :func:`_style`."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]

    def prefix(tag: re.Match) -> str:  # attribute values never hold '<' or '>' (escaped)
        text = re.sub(r'(\sid=")', rf"\1{key}-", tag.group(0))
        return re.sub(r'(href="#|url\(#)', rf"\1{key}-", text)

    svg = re.sub(r"<[^<>]+>", prefix, svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label, quote=True)}" ', 1)


def _rank_size_points(size_counts: list[list[int]]) -> tuple[list[int], list[int]]:
    """The rank/size step curve, largest class first, as its corner points only."""
    ranks, sizes, first = [], [], 1
    for size, count in size_counts:
        ranks += [first, first + count - 1]
        sizes += [size, size]
        first += count
    return ranks, sizes


def _plain(text: str) -> str:
    """``text`` for matplotlib, which would read '$...$' as mathtext."""
    return text.replace("$", r"\$")


def sizes_figure(entry: dict[str, Any], key: str) -> str:
    """One map's rank/size plot (log-log), one line per level, as SVG."""
    import matplotlib

    levels = entry["levels"]
    cmap = matplotlib.colormaps["viridis"]
    from matplotlib.figure import Figure

    with _style(key):
        fig = Figure(figsize=(8.0, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for i, lv in enumerate(levels):
            ranks, sizes = _rank_size_points(lv["size_counts"])
            color = cmap(0.9 * i / max(len(levels) - 1, 1))
            ax.plot(ranks, sizes, color=color, lw=1.6, marker="o" if lv["classes"] <= 30 else None,
                    ms=3, label=_plain(f"{lv['level']} ({lv['classes']:,} classes)"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("class rank (1 = largest class)")
        ax.set_ylabel("leaves in the class")
        ax.set_title(_plain(f"Leaves per class, largest first: {entry['source']}"), loc="left")
        ax.grid(True, which="major", color="0.9", lw=0.6)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="level", alignment="left")
        return _svg(fig, key, f"Leaves per class of each level of {entry['source']}, largest first")


def alignment_figure(data: dict[str, Any], key: str) -> str:
    """NMI, H(target | pre) and purity against the number of classes, a curve per map."""
    tgt = data["target"]
    from matplotlib.figure import Figure

    with _style(key):
        fig = Figure(figsize=(9.5, 7.0), layout="constrained")
        axes = fig.subplots(2, 2, sharex=True).ravel()
        for i, entry in enumerate(data["maps"]):
            rows = sorted((r for r in data["alignment"] if r["a"]["source"] == entry["source"]),
                          key=lambda r: r["classes_a"])
            x = [r["classes_a"] for r in rows]
            for ax, (metric, _, _) in zip(axes, PANELS):
                ax.plot(x, [r[metric] for r in rows], color=COLORS[i % 10],
                        marker=MARKERS[i % 10], ms=4, lw=1.4, label=_plain(entry["source"]))
        for ax, (metric, title, ylabel) in zip(axes, PANELS):
            ax.set_xscale("log")
            ax.set_title(title, loc="left")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="major", color="0.9", lw=0.6)
            ax.axvline(tgt["classes"], color="0.45", ls=":", lw=1)
            if metric == "h_target_given_pre":
                h = data["alignment"][0]["h_target"]
                ax.axhline(h, color="0.45", ls="--", lw=1)
                ax.annotate(f"H(target) = {h:.2f} bits", (0.99, h), xycoords=("axes fraction", "data"),
                            ha="right", va="bottom", fontsize=8, color="0.35")
                ax.set_ylim(bottom=0)
            else:
                ax.set_ylim(0, 1.04)
        for ax in axes[2:]:
            ax.set_xlabel(f"pretraining classes (log scale); dotted: the target's {tgt['classes']:,}")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=min(len(labels), 3), frameon=False)
        return _svg(fig, key, f"NMI, H(target | pretraining) and purity against the number of classes, "
                              f"target {tgt['source']}:{tgt['level']}")


def tree_figure(data: dict[str, Any], key: str) -> str:
    """Mean LCA height in the target tree of two leaves of one class, against the number
    of classes, a curve per map; dashed: a random grouping's expectation."""
    tree, tgt = data["tree"], data["target"]
    from matplotlib.figure import Figure

    with _style(key):
        fig = Figure(figsize=(9.5, 3.8), layout="constrained")
        ax = fig.add_subplot()
        for i, entry in enumerate(data["maps"]):
            rows = sorted((r for r in data["tree_alignment"]
                           if r["a"]["source"] == entry["source"] and r["mean_lca_height"] is not None),
                          key=lambda r: r["classes_a"])
            ax.plot([r["classes_a"] for r in rows], [r["mean_lca_height"] for r in rows], color=COLORS[i % 10],
                    marker=MARKERS[i % 10], ms=4, lw=1.4, label=_plain(entry["source"]))
        chance = data["tree_alignment"][0]["random_mean_lca_height"]
        ax.axhline(chance, color="0.45", ls="--", lw=1)
        ax.annotate(f"random grouping = {chance:.2f}", (0.99, chance), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize=8, color="0.35")
        if tgt is not None:
            ax.axvline(tgt["classes"], color="0.45", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_ylim(0, tree["height"] + 0.2)
        ax.set_title("Mean LCA height, in the target tree, of two leaves of one class", loc="left")
        ax.set_ylabel(f"height (tree height {tree['height']})")
        ax.set_xlabel("pretraining classes (log scale)" + (f"; dotted: the target's {tgt['classes']:,}" if tgt else ""))
        ax.grid(True, which="major", color="0.9", lw=0.6)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _svg(fig, key, f"Mean height of the lowest common ancestor in the tree of {tree['source']} "
                              "of two leaves of one class, against the number of classes")
