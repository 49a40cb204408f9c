"""Per-sample label maps: finer than the leaves, one row per sample of the input.

:func:`split_leaves_map` splits each class's samples into ``n`` k-means sub-clusters
(level ``split_<n>``); :func:`instance_map` gives every sample its own label (level
``instance``). Both return a :class:`SampleMap`, which holds integers only and streams
itself to parquet (:meth:`SampleMap.write`) or makes one ``pyarrow.Table``
(:meth:`SampleMap.to_table`; :func:`split_leaves_table` and :func:`instance_table`).
Levels of a hierarchy over the same classes (``leaf_levels``) are carried to each sample.

Memory (docs/cluster.md, "The bound"): 4 bytes per sample for its leaf and for each
level, plus one batch of the input; :func:`split_leaves_map` needs about 60 bytes per
sample while it works, plus the largest class's vectors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..arrays import int_array, string_array
from ..errors import GranularityError, GranularityFailure, offenders
from ..manifests import DEFAULT_DATASET
from ..options import DEFAULT_NITER
from ..sources.wordnet import leaf_names
from .embeddings import resolve_class_ids, samples_meta
from .kmeans import check_int, check_params, derived_seed, fit_clusters
from .samples import iter_sample_batches, leaf_indices, sample_columns

Progress = Optional[Callable[[str, int, int], None]]


@dataclass
class SampleLevel:
    """One level of a per-sample map: each sample's label (numbered by first appearance),
    and each label's id and name; ``labels`` ``None`` is one label per sample, whose id
    and name are the sample id."""

    name: str
    labels: Optional[np.ndarray]  # int32, one per sample
    ids: Sequence[str] = ()
    names: Sequence[str] = ()


def _sample_level(name: str, keys: np.ndarray, id_of: Callable[[int], str],
                  name_of: Callable[[int], str]) -> SampleLevel:
    """A level from one key per sample (labels by first appearance; ids and names by key)."""
    from ..hierarchy import first_appearance_labels

    labels, firsts = first_appearance_labels(keys)
    order = keys[firsts].tolist()
    return SampleLevel(name, labels.astype(np.int32), [id_of(o) for o in order],
                       [name_of(o) for o in order])


class SampleMap:
    """A per-sample label map: a row per sample of the input, in input order (``sample_id``,
    ``leaf_index``, then each level's label, id and name columns).

    It holds integers only, 4 bytes per sample for the leaf and for each level; the
    sample ids are read again from the input, batch by batch, when the map is written
    (:meth:`write`, one row group per batch, so memory stays that of a batch) or made
    into a table (:meth:`to_table`, all in memory). ``warnings``: what the map's
    metadata records but a reader may not expect (fewer clusters than asked for).
    """

    def __init__(self, sc, class_ids: Sequence[str], leaf: np.ndarray, levels: list[SampleLevel],
                 meta: dict, batch_rows: int = 65536, warnings: Sequence[str] = ()):
        import json

        from ..labelmap import METADATA_KEY, granularity_metadata

        names = ["sample_id", "leaf_index"]
        for lv in levels:
            for col in (lv.name, f"{lv.name}_id", f"{lv.name}_name"):
                if col in names:
                    raise GranularityError(f"level name {lv.name!r} clashes with another column")
                names.append(col)
        self._sc, self._class_ids, self._batch_rows = sc, class_ids, batch_rows
        self.leaf = leaf.astype(np.int32, copy=False)
        self.levels = levels
        self.warnings = list(warnings)
        n = int(leaf.size)
        self._schema_metadata = granularity_metadata(
            meta, [lv.name for lv in levels],
            {lv.name: (n if lv.labels is None else len(lv.ids)) for lv in levels},
            num_samples=n, num_leaves=len(class_ids))
        self.metadata = json.loads(self._schema_metadata[METADATA_KEY])

    @property
    def num_rows(self) -> int:
        return int(self.leaf.size)

    @property
    def schema(self):
        import pyarrow as pa

        fields = [pa.field("sample_id", pa.string()), pa.field("leaf_index", pa.int32())]
        for lv in self.levels:
            fields += [pa.field(lv.name, pa.int32()), pa.field(f"{lv.name}_id", pa.string()),
                       pa.field(f"{lv.name}_name", pa.string())]
        return pa.schema(fields, metadata=self._schema_metadata)

    def batches(self):
        """The map's record batches, one per batch of the input."""
        import pyarrow as pa

        schema = self.schema
        dicts = [(string_array(list(lv.ids)), string_array(list(lv.names)))
                 if lv.labels is not None else None for lv in self.levels]
        for row, _, _, sids in iter_sample_batches(self._sc, self._class_ids, with_vectors=False,
                                                   with_sample_ids=True, batch_rows=self._batch_rows):
            end = row + len(sids)
            cols = [sids, int_array(self.leaf[row:end])]
            for lv, dic in zip(self.levels, dicts):
                if lv.labels is None:
                    cols += [int_array(np.arange(row, end, dtype=np.int32)), sids, sids]
                    continue
                idx = int_array(lv.labels[row:end])
                cols += [idx, pa.DictionaryArray.from_arrays(idx, dic[0]).dictionary_decode(),
                         pa.DictionaryArray.from_arrays(idx, dic[1]).dictionary_decode()]
            yield pa.RecordBatch.from_arrays(cols, schema=schema)

    def to_table(self):
        """The whole map as one ``pyarrow.Table`` (in memory; :meth:`write` streams)."""
        import pyarrow as pa

        return pa.Table.from_batches(list(self.batches()), schema=self.schema)

    def write(self, target: str | os.PathLike) -> None:
        """Write the map as parquet to ``target`` (a path or ``-``), atomically, a batch at a time."""
        from ..outputs import write_batches

        write_batches(self.schema, self.batches(), target)


def _leaf_sample_levels(leaf: np.ndarray, leaf_levels) -> list[SampleLevel]:
    """Leaf-level labels of a :class:`~hierarchy_cli.hierarchy.Hierarchy` carried to each sample."""
    return [_sample_level(lv.name, lv.labels[leaf], lambda o, lv=lv: lv.ids[o],
                          lambda o, lv=lv: lv.names[o]) for lv in (leaf_levels or [])]


def _pread(fd: int, size: int, offset: int) -> np.ndarray:
    """``size`` bytes of file ``fd`` from ``offset`` (a read returns at most about 2 GB)."""
    out = np.empty(size, dtype=np.uint8)
    done = 0
    while done < size:
        got = os.preadv(fd, [memoryview(out)[done:]], offset + done)
        if got <= 0:
            raise GranularityFailure(f"the scratch file of --split-leaves ended early ({done} of {size} bytes)")
        done += got
    return out


def split_leaves_map(
    samples: str | os.PathLike,
    n: int,
    *,
    classes=None, dataset=None, column=None, leaf_column=None, sample_id_column=None,
    embedding_column=None, metric: str = "l2", seed: int = 0, niter: int = DEFAULT_NITER,
    threads: Optional[int] = None, gpu: bool = False,
    leaf_levels=None, extra_meta: Optional[dict] = None, batch_rows: int = 65536,
    tmpdir: Optional[str] = None, progress: Progress = None, leaves=None,
) -> SampleMap:
    """Per-sample map splitting each class's samples into ``n`` k-means sub-clusters.

    The samples are streamed twice: once for each sample's class, once to write the
    vectors into a class-ordered temporary file (in ``tmpdir``; an unnamed file,
    gone on any exit, even a kill), from which each class is read back and
    clustered on its own. A class with fewer than ``n`` samples is an error
    naming it. Level ``split_<n>``: ids ``<leaf_id>_s<j>``, names ``<leaf name> #<j>``.
    ``leaf_levels``: levels of a hierarchy over the same classes, added per sample.
    Memory: about 60 bytes per sample, plus one batch and the largest class (measured in
    benchmarks/cluster.md, part (c)).
    """
    check_int(n, "n (sub-clusters per class)", 1)
    nthreads = check_params(metric=metric, seed=seed, niter=niter, threads=threads, gpu=gpu)
    ids, cmeta, where = resolve_class_ids(classes, dataset, column, DEFAULT_DATASET)
    sc = sample_columns(samples, leaf_column, sample_id_column, embedding_column, leaves=leaves)
    leaf_all = leaf_indices(sc, ids, batch_rows)
    counts = np.bincount(leaf_all, minlength=len(ids))
    present = np.flatnonzero(counts > 0)
    few = present[counts[present] < n]
    if few.size:
        raise GranularityError(offenders(
            [(ids[i], f"{int(counts[i])} samples") for i in few],
            f"classes with fewer samples than --split-leaves {n}", sc.label))

    def fit(vecs: np.ndarray, c: int) -> np.ndarray:  # class c's own seed
        return fit_clusters(vecs, n, metric=metric, seed=derived_seed(seed, n, c), niter=niter,
                            nthreads=nthreads, gpu=gpu)[0]

    sub, made = _split_classes(sc, ids, counts, present, fit, tmpdir, batch_rows, progress)
    keys = leaf_all.astype(np.int64) * n + sub
    del sub
    names = leaf_names(ids)[0]
    name = f"split_{n}"
    level = _sample_level(name, keys, lambda o: f"{ids[o // n]}_s{o % n}",
                          lambda o: f"{names[o // n]} #{o % n}")
    del keys
    meta = {"method": "cluster", "per_sample": "split_leaves", "split_leaves": n, "metric": metric,
            "seed": seed, "niter": niter, "threads": nthreads, "gpu": gpu, "classes": cmeta,
            "samples": samples_meta(samples, sc)}
    warnings = []
    if made < present.size * n:
        meta["clusters_made"] = {name: made}
        warnings.append(f"level {name} has {made:,} sub-clusters, not the {present.size * n:,} "
                        f"asked for ({n} in each of {present.size:,} classes): some classes hold "
                        "fewer distinct samples than that")
    meta.update(extra_meta or {})
    return SampleMap(sc, ids, leaf_all, [level, *_leaf_sample_levels(leaf_all, leaf_levels)], meta,
                     batch_rows, warnings)


def _split_classes(sc, ids: Sequence[str], counts: np.ndarray, present: np.ndarray,
                   fit: Callable[[np.ndarray, int], np.ndarray], tmpdir: Optional[str],
                   batch_rows: int, progress: Progress) -> tuple[np.ndarray, int]:
    """Each sample's sub-cluster inside its class (int32, numbered by first appearance in
    the class) and how many sub-clusters were made. The vectors go to an unnamed
    temporary file, class by class, and each class is read back and clustered by
    ``fit(vectors, class)`` (its labels)."""
    import tempfile

    starts = np.r_[0, np.cumsum(counts)]
    with tempfile.TemporaryFile(dir=tmpdir, prefix="granularity-split-") as fh:
        slot, row_bytes = _write_by_class(fh.fileno(), sc, ids, starts, batch_rows, progress)
        sub_by_slot, made = _fit_each_class(fh.fileno(), starts, present, row_bytes, fit, progress)
    return sub_by_slot[slot], made


def _write_by_class(fd: int, sc, ids: Sequence[str], starts: np.ndarray, batch_rows: int,
                    progress: Progress) -> tuple[np.ndarray, int]:
    """Write the samples' vectors to file ``fd`` in class order (class ``c`` from row
    ``starts[c]``, its samples in input order); return each sample's row there and the
    bytes per row."""
    rows = int(starts[-1])
    fill = starts[:-1].copy()
    slot = np.empty(rows, dtype=np.int64)  # each sample's row in the class-ordered file
    row_bytes = 0
    for row, leaf, vec, _ in iter_sample_batches(sc, ids, batch_rows=batch_rows):
        row_bytes = 4 * vec.shape[1]
        order = np.argsort(leaf, kind="stable")
        sl = leaf[order]
        grp_start = np.flatnonzero(np.r_[True, sl[1:] != sl[:-1]])
        sizes = np.diff(np.r_[grp_start, sl.size])
        slot[row + order] = fill[sl] + np.arange(sl.size) - np.repeat(grp_start, sizes)
        runs = np.ascontiguousarray(vec[order], dtype=np.float32)
        for g, m in zip(grp_start.tolist(), sizes.tolist()):  # each class's run, at its place
            os.pwrite(fd, runs[g:g + m].data, int(fill[sl[g]]) * row_bytes)
        fill[sl[grp_start]] += sizes
        if progress:
            progress("reading", row + len(leaf), rows)
    return slot, row_bytes


def _fit_each_class(fd: int, starts: np.ndarray, present: np.ndarray, row_bytes: int,
                    fit: Callable[[np.ndarray, int], np.ndarray], progress: Progress) -> tuple[np.ndarray, int]:
    """Each row's sub-cluster in the class-ordered file ``fd`` (int32), and how many were made."""
    from ..hierarchy import first_appearance_labels

    sub_by_slot = np.empty(int(starts[-1]), dtype=np.int32)
    made = 0
    for j, c in enumerate(present.tolist()):
        a, b = int(starts[c]), int(starts[c + 1])
        vecs = _pread(fd, (b - a) * row_bytes, a * row_bytes).view(np.float32).reshape(b - a, -1)
        # sub-clusters numbered by first appearance within the class (slot order = sample order)
        sub, firsts = first_appearance_labels(fit(vecs, c))
        sub_by_slot[a:b] = sub
        made += firsts.size
        if progress:
            progress("splitting", j + 1, present.size)
    return sub_by_slot, made


def instance_map(
    samples: str | os.PathLike,
    *,
    classes=None, dataset=None, column=None, leaf_column=None, sample_id_column=None,
    leaf_levels=None, extra_meta: Optional[dict] = None, batch_rows: int = 65536, leaves=None,
) -> SampleMap:
    """Per-sample map with one label per sample (level ``instance``: id and name = sample id).
    Memory: 4 bytes per sample per level, plus one batch."""
    ids, cmeta, where = resolve_class_ids(classes, dataset, column, DEFAULT_DATASET)
    sc = sample_columns(samples, leaf_column, sample_id_column, None, leaves=leaves,
                        with_vectors=False)
    leaf_all = leaf_indices(sc, ids, batch_rows)
    meta = {"method": "cluster", "per_sample": "instance", "classes": cmeta,
            "samples": samples_meta(samples, sc)}
    meta.update(extra_meta or {})
    return SampleMap(sc, ids, leaf_all, [SampleLevel("instance", None),
                                         *_leaf_sample_levels(leaf_all, leaf_levels)], meta, batch_rows)


def split_leaves_table(samples, n, **kwargs):
    """:func:`split_leaves_map` as one ``pyarrow.Table`` (in memory)."""
    return split_leaves_map(samples, n, **kwargs).to_table()


def instance_table(samples, **kwargs):
    """:func:`instance_map` as one ``pyarrow.Table`` (in memory)."""
    return instance_map(samples, **kwargs).to_table()
