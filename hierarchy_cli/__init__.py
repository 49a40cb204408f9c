"""granularity: label hierarchies for pretraining image classifiers.

The Python API mirrors the command line::

    from hierarchy_cli import build_wordnet, read_label_map, write_label_map
    h = build_wordnet(dataset="imagenet1k", levels=[0, 3, 9])
    write_label_map(h, "in1k.parquet")
    lm = read_label_map("in1k.parquet")
    lm.lookup("level_3")        # leaf class index -> coarse label

Heavy modules load on first use, so ``import hierarchy_cli`` stays cheap.
"""

__version__ = "0.1.0"

_LAZY = {
    "Hierarchy": "hierarchy",
    "Level": "hierarchy",
    "GranularityError": "errors",
    "read_label_map": "labelmap",
    "write_label_map": "labelmap",
    "LabelMap": "labelmap",
    "build_wordnet": "sources.wordnet",
    "build_taxonomy": "sources.taxonomy",
    "build_edges": "sources.edges",
    "build_breeds": "sources.breeds",
    "load_dataset": "manifests",
    "dataset_names": "manifests",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'hierarchy_cli' has no attribute {name!r}")
