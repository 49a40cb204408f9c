"""granularity: label hierarchies for pretraining image classifiers.

The Python API mirrors the command line; everything public is importable from
here::

    from hierarchy_cli import build_wordnet, read_label_map, write_label_map
    h = build_wordnet(dataset="imagenet1k", levels=[0, 3, 9])
    write_label_map(h, "in1k.parquet")
    lm = read_label_map("in1k.parquet")
    lm.lookup("level_3")        # leaf class index -> coarse label

Builders (``build``, ``cluster``, ``random``): :func:`build_wordnet`,
:func:`build_taxonomy`, :func:`build_edges`, :func:`build_breeds`, :func:`build_cluster` /
:func:`cluster_hierarchy`, :func:`random_hierarchy`; the k-means engine :func:`kmeans`. Files: :func:`write_label_map`,
:func:`read_label_map`, :func:`to_arrow`. ``apply``: :func:`make_relabeler`,
:func:`relabel_table`, :func:`apply_manifest`. ``compare``: :func:`compare`,
:func:`compare_labels`, :func:`alignment`. ``inspect``: :func:`summarize`,
:func:`lineage`, :func:`tree`. ``export``: :func:`export_text`,
:func:`class_to_idx`, :func:`hf_names`, :func:`write_lca`. ``report``: :func:`write_report`,
:func:`report_data`, :func:`report_html`. Distances in a map's tree: :func:`label_tree`
(:class:`LabelTree`), :func:`lca_matrix`, :func:`lca_heights`, :func:`mistake_severity`,
:func:`tree_alignment`.

Heavy modules load on first use, so ``import hierarchy_cli`` stays cheap.
"""

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    # the core objects and errors
    "Hierarchy": "hierarchy",
    "Level": "hierarchy",
    "GranularityError": "errors",
    # reading and writing label maps
    "read_label_map": "labelmap",
    "write_label_map": "labelmap",
    "to_arrow": "labelmap",
    "LabelMap": "labelmap",
    # builders
    "build_wordnet": "sources.wordnet",
    "build_taxonomy": "sources.taxonomy",
    "build_edges": "sources.edges",
    "build_breeds": "sources.breeds",
    "build_cluster": "methods.cluster",
    "cluster_hierarchy": "methods.cluster",
    "save_centroids": "methods.cluster",
    "random_hierarchy": "methods.random",
    "kmeans": "methods.kmeans",
    # apply
    "make_relabeler": "apply",
    "relabel_table": "apply",
    "apply_manifest": "apply",
    "Relabeler": "apply",
    # compare
    "compare": "metrics",
    "compare_labels": "metrics",
    "alignment": "metrics",
    # inspect
    "summarize": "inspection",
    "lineage": "inspection",
    "tree": "inspection",
    # export
    "export_text": "export",
    "class_to_idx": "export",
    "hf_names": "export",
    "write_lca": "export",
    # distances in a map's tree (LCA height / distance)
    "LabelTree": "lca",
    "label_tree": "lca",
    "lca_matrix": "lca",
    "lca_heights": "lca",
    "mistake_severity": "lca",
    "tree_alignment": "lca",
    # report
    "report_data": "report",
    "report_html": "report",
    "write_report": "report",
    # shipped class lists
    "load_dataset": "manifests",
    "dataset_names": "manifests",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'hierarchy_cli' has no attribute {name!r}")


def __dir__():
    return __all__
