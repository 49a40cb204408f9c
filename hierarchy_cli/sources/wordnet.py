"""WordNet 3.0 noun hierarchy: the embedded graph, or one read from a dict folder.

The package ships ``data/wordnet30_nouns.parquet``: every noun synset's offset
(wnid ``n%08d``), its lemmas and its hypernym and instance-hypernym parents in
WordNet's own pointer order. ``scripts/make_wordnet_data.py`` makes it with
:func:`noun_table_from_wordnet`, and ``--wordnet DIR`` (or ``$GRANULARITY_WORDNET``)
runs the same function on a WordNet dict folder at run time, so WordNet 3.0 from
either path gives byte-identical label maps.

nltk >= 3.9 cannot open a bare WordNet dict folder such as Debian's
``wordnet-base`` (``/usr/share/wordnet``): it wants ``lexnames`` and
``index.sense``. :class:`DictFolderReader` supplies the standard lexnames
table when the file is missing and never needs ``index.sense``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import GranularityError, offenders
from ..graph import Graph

EMBEDDED_NAME = "wordnet30_nouns.parquet"
WORDNET_ENV = "GRANULARITY_WORDNET"
WNID_RE = re.compile(r"n\d{8}")

# WordNet's lexicographer files (lexnames(5WN)): number, name; the pos number
# (1 noun, 2 verb, 3 adj, 4 adv) follows from the name.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    return "".join(
        f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)
    )


def dict_folder_reader(folder: str | os.PathLike):
    """An nltk ``WordNetCorpusReader`` over a WordNet dict folder, even without lexnames."""
    import io
    import warnings

    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    folder = Path(folder)
    missing = [f for f in ("data.noun", "index.noun") if not (folder / f).is_file()]
    if missing:
        raise GranularityError(
            f"WordNet folder {str(folder)!r} has no {missing[0]!r}: give a WordNet dict folder "
            f"(Debian's wordnet-base installs one at /usr/share/wordnet)"
        )

    class DictFolderReader(WordNetCorpusReader):
        """nltk's reader, with lexnames built in when the folder lacks the file."""

        def open(self, file):  # noqa: A003 - nltk's API
            if file == "lexnames" and not (folder / "lexnames").is_file():
                return io.StringIO(lexnames_text())
            if file == "index.sense" and not (folder / "index.sense").is_file():
                raise GranularityError(
                    f"WordNet folder {str(folder)!r} has no index.sense (sense keys are not needed here)"
                )
            return super().open(file)

        def map_wn(self, version="wordnet"):
            # Mapping to another WordNet version is for multilingual data; not needed.
            return None

    import nltk.data

    # nltk >= 3.10 only opens files below its data paths: the user named this
    # folder explicitly, so authorise it the documented way.
    resolved = str(folder.resolve())
    if resolved not in nltk.data.path:
        nltk.data.path.append(resolved)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        try:
            return DictFolderReader(resolved, None)
        except (OSError, ValueError, AssertionError, LookupError) as exc:
            raise GranularityError(f"cannot read WordNet folder {str(folder)!r}: {exc}") from None


def _noun_parents(line: str) -> list[int]:
    """Offsets of the hypernym (@) and instance-hypernym (@i) noun pointers, in file order."""
    tok = line.split()
    i = 4 + 2 * int(tok[3], 16)
    out = []
    for _ in range(int(tok[i])):
        sym, off, pos = tok[i + 1], tok[i + 2], tok[i + 3]
        if sym in ("@", "@i") and pos == "n":
            out.append(int(off))
        i += 4
    return out


def noun_table_from_wordnet(reader):
    """The noun graph of an nltk WordNet reader as an Arrow table, in file order.

    Columns: ``offset`` (int32), ``lemmas`` (``", "``-joined, spaces for
    underscores) and ``parents`` (list<int32> of offsets, WordNet's order).
    """
    import pyarrow as pa

    offsets, lemmas, parents = [], [], []
    data = reader._data_file("n")  # the reader's open data.noun
    for synset in reader.all_synsets("n"):
        off = synset.offset()
        data.seek(off)
        line = data.readline()
        offsets.append(off)
        lemmas.append(", ".join(name.replace("_", " ") for name in synset.lemma_names()))
        parents.append(_noun_parents(line))
    order = np.argsort(np.asarray(offsets), kind="stable")
    return pa.table(
        {
            "offset": pa.array(np.asarray(offsets, dtype=np.int32)[order]),
            "lemmas": pa.array([lemmas[i] for i in order], type=pa.string()),
            "parents": pa.array([parents[i] for i in order], type=pa.list_(pa.int32())),
        }
    )


class _Wnids(Sequence):
    def __init__(self, offsets: np.ndarray):
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, i):
        return f"n{int(self._offsets[i]):08d}"

    def take(self, idx) -> list[str]:
        return [f"n{x:08d}" for x in self._offsets[np.asarray(idx, dtype=np.int64)].tolist()]


class _FirstLemma(Sequence):
    def __init__(self, lemmas):
        self._lemmas = lemmas
        self._cache: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._lemmas)

    def __getitem__(self, i):
        return self._lemmas[int(i)].as_py().split(", ")[0]

    def take(self, idx) -> list[str]:
        # straight from the Arrow buffers: Array.take would import pyarrow.compute
        lemmas = self._lemmas
        _, off_buf, data_buf = lemmas.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int32)[lemmas.offset: lemmas.offset + len(lemmas) + 1]
        data = memoryview(data_buf)
        idx = np.asarray(idx, dtype=np.int64)
        cache = self._cache
        todo = np.unique(idx[[i not in cache for i in idx.tolist()]]) if idx.size else idx
        for i, a, b in zip(todo.tolist(), offsets[todo].tolist(), offsets[todo + 1].tolist()):
            cache[i] = bytes(data[a:b]).decode("utf-8").split(", ", 1)[0]
        return [cache[i] for i in idx.tolist()]


@dataclass
class WordNetGraph:
    """The noun graph with wnid lookup; ``checksum`` identifies its content."""

    graph: Graph
    offsets: np.ndarray
    lemmas: object  # Arrow string array
    checksum: str
    origin: str  # "embedded" or the folder

    def nodes_of(self, wnids: Sequence[str]) -> tuple[np.ndarray, list[int], list[int]]:
        """Node index per wnid (-1 if absent); positions of malformed and unknown ids."""
        nums, malformed = _parse_wnids(wnids)
        pos = np.searchsorted(self.offsets, nums)
        pos = np.minimum(pos, len(self.offsets) - 1)
        found = (nums >= 0) & (self.offsets[pos] == nums)
        nodes = np.where(found, pos, -1)
        bad = set(malformed)
        unknown = [i for i in np.flatnonzero(~found).tolist() if i not in bad]
        return nodes, malformed, unknown

    def node_of(self, wnids: Sequence[str], what: str) -> np.ndarray:
        """Node index per wnid of an option's list (``--root``, ``--ancestors``), or an error naming ``what``."""
        return check_wnids(self, list(wnids), lambda i: f"item {i + 1}", what)


def _parse_wnids(wnids: Sequence[str]) -> tuple[np.ndarray, list[int]]:
    """Offsets of ``n########`` ids (-1 elsewhere) and the positions of malformed ones."""
    n = len(wnids)
    joined = "".join(wnids)
    if len(joined) == 9 * n and joined.isascii():  # vectorised fast path
        chars = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(n, 9)
        digits = chars[:, 1:].astype(np.int64) - 48
        ok = (chars[:, 0] == ord("n")) & ((digits >= 0) & (digits <= 9)).all(axis=1)
        nums = np.where(ok, digits @ (10 ** np.arange(7, -1, -1, dtype=np.int64)), -1)
        return nums, np.flatnonzero(~ok).tolist()
    nums = np.full(n, -1, dtype=np.int64)
    malformed = []
    for i, w in enumerate(wnids):
        if WNID_RE.fullmatch(w):
            nums[i] = int(w[1:])
        else:
            malformed.append(i)
    return nums, malformed


def graph_from_table(table, origin: str) -> WordNetGraph:
    offsets = np.asarray(table.column("offset").to_pylist(), dtype=np.int32)
    parents = table.column("parents").combine_chunks()
    ptr = np.asarray(parents.offsets.to_pylist(), dtype=np.int64)
    # .values + slice, not .flatten(): flatten imports pyarrow.compute (0.1 s)
    values = parents.values.slice(int(ptr[0]), int(ptr[-1] - ptr[0]))
    ptr -= ptr[0]
    parent_offsets = np.asarray(values.to_pylist(), dtype=np.int32)
    pidx = np.searchsorted(offsets, parent_offsets).astype(np.int32)
    if pidx.size and (pidx.max() >= len(offsets) or not np.array_equal(offsets[pidx], parent_offsets)):
        raise GranularityError(f"WordNet graph from {origin} names parents that are not noun synsets")
    lemmas = table.column("lemmas").combine_chunks()
    digest = hashlib.sha256()
    digest.update(offsets.astype("<i4").tobytes())
    digest.update(ptr.astype("<i8").tobytes())
    digest.update(parent_offsets.astype("<i4").tobytes())
    _, off_buf, data_buf = lemmas.buffers()
    str_off = np.frombuffer(off_buf, dtype=np.int32)[lemmas.offset: lemmas.offset + len(lemmas) + 1]
    digest.update((str_off - str_off[0]).astype("<i8").tobytes())
    digest.update(memoryview(data_buf)[int(str_off[0]): int(str_off[-1])])
    graph = Graph(_Wnids(offsets), _FirstLemma(lemmas), ptr, pidx)
    return WordNetGraph(graph, offsets, lemmas, digest.hexdigest(), origin)


def embedded_path() -> Path:
    return Path(str(resources.files("hierarchy_cli.data").joinpath(EMBEDDED_NAME)))


@lru_cache(maxsize=4)
def load_wordnet(folder: str | None = None) -> WordNetGraph:
    """The WordNet noun graph: embedded, or read from ``folder`` with nltk."""
    if folder is None:
        import pyarrow.parquet as pq

        path = embedded_path()
        if not path.is_file():
            raise GranularityError(
                f"the embedded WordNet file {str(path)!r} is missing: reinstall granularity, "
                "or run scripts/make_wordnet_data.py"
            )
        return graph_from_table(pq.ParquetFile(path).read(), "embedded")
    reader = dict_folder_reader(folder)
    return graph_from_table(noun_table_from_wordnet(reader), str(folder))


def resolve_wordnet_folder(option: str | None) -> str | None:
    """``--wordnet DIR`` wins over ``$GRANULARITY_WORDNET``; neither means embedded."""
    folder = option or os.environ.get(WORDNET_ENV) or None
    if folder is not None and not Path(folder).is_dir():
        source = "--wordnet" if option else f"${WORDNET_ENV}"
        raise GranularityError(f"WordNet folder {folder!r} (from {source}) does not exist")
    return folder


def check_wnids(wn: WordNetGraph, ids: Sequence[str], where_of, source: str) -> np.ndarray:
    """Node index of every wnid, or a one-line error naming the bad ones."""
    nodes, malformed, unknown = wn.nodes_of(ids)
    if malformed:
        non_noun = [i for i in malformed if re.fullmatch(r"[varsn]\d{8}", ids[i])]
        what = "ids that are not noun wnids (like n02084071)"
        if len(non_noun) == len(malformed):
            what = "non-noun wnids (only nouns n######## have classes)"
        hint = ""
        if any(re.match(r"[varsn]\d{8}\s", ids[i]) for i in malformed):
            hint = (" (a text class list keeps each whole line as the id: put anything after the wnid "
                    "behind a tab, as in words.txt)")
        raise GranularityError(offenders([(ids[i], where_of(i)) for i in malformed], what, source) + hint)
    if unknown:
        raise GranularityError(
            offenders([(ids[i], where_of(i)) for i in unknown], "wnids not in WordNet 3.0", source)
        )
    return nodes


def build_wordnet(
    classes: Sequence[str] | str | os.PathLike | None = None,
    dataset: str | None = None,
    levels: Sequence[int] | str = (),
    depths: Sequence[int] | str = (),
    multi_parent: str = "longest",
    wordnet: str | os.PathLike | None = None,
    column: str | None = None,
    class_tree: bool = False,
    root: str | None = None,
    prune: bool = False,
    ancestors: Sequence[str] | str | os.PathLike | None = None,
    ancestor_rule: str = "unique",
    missing_classes: str = "error",
    label_order: Sequence[str] | str | os.PathLike | None = None,
):
    """Relabel a list of wnids with their WordNet ancestors.

    ``classes`` is a list of wnids, or a path (``-`` for stdin) to a text,
    CSV/TSV or parquet class list (``column`` picks the column); without it,
    ``dataset`` names a shipped list (default ``imagenet21k``). ``levels`` are hops
    up the chosen path (0 = the leaves); ``depths`` cut the tree that many steps
    below the root; either as ints or a spec like ``"0-9"`` or ``"1,3,5"``, never
    beyond the deepest class. ``multi_parent`` picks the path for leaves with several
    (``longest``, ``shortest``, ``first``, ``last``). ``class_tree`` counts hops
    and depths through the classes alone, skipping every other node (MIIL's
    ImageNet-21K-P semantic tree).

    ``root`` (a wnid) ends every path there (only paths through it count);
    ``prune`` drops the single-child nodes of the classes' tree (both as
    making-better-mistakes' ImageNet-H). ``ancestors`` (wnids, or a class-list
    path) replaces the levels by one level, ``ancestors``: which of them each
    class falls under (``ancestor_rule``: ``unique`` -- any path, the most
    specific of nested ones, two unrelated ones an error; ``path`` -- the nearest
    on the chosen path). ``missing_classes`` says what a class below none of the
    ancestors (or not below ``root``) becomes: ``error``, ``own-group`` or
    ``drop`` (outside the label space: a null label). ``label_order`` numbers the
    labels in the order of those ids (or ``"from-ids"``: the ids are the labels)
    instead of by first appearance. Returns a validated, nested
    :class:`~hierarchy_cli.hierarchy.Hierarchy`; ``h.metadata["leaves_with_choice"]``
    counts the leaves that had more than one path.
    """
    from ..graphcut import LevelRequest, cut_levels
    from ..hierarchy import Hierarchy
    from ..manifests import resolve_classes
    from .cuts import check_shape, make_shape, numbered, refuse_unplaced, shape_notes, unplaced_meta

    request = LevelRequest.parse(levels, depths, ancestors is not None)
    check_shape(multi_parent, class_tree, prune, ancestors is not None, ancestor_rule, missing_classes)
    if missing_classes != "error" and root is None and ancestors is None:
        raise GranularityError(f"--missing-classes {missing_classes} applies to --source wordnet with --root or "
                               "--ancestors (every WordNet noun has a place below the root entity)")
    idl, class_meta, source_name = resolve_classes(classes, dataset, column, is_id=WNID_RE.fullmatch)
    wn = load_wordnet(resolve_wordnet_folder(str(wordnet) if wordnet is not None else None))
    leaves = check_wnids(wn, idl.ids, idl.where, source_name)
    shape, shape_meta = make_shape(wn.node_of, multi_parent, class_tree, root, prune, ancestors, ancestor_rule,
                                   missing_classes)
    lvls, info = cut_levels(wn.graph, leaves, request, shape)
    refuse_unplaced(info, idl.ids, idl.where, source_name, shape)
    meta = {
        "method": "build",
        "source": "wordnet",
        "wordnet": {"name": "WordNet 3.0 nouns", "sha256": wn.checksum},
        "classes": class_meta,
        "multi_parent": multi_parent,
        "leaves_with_choice": info.leaves_with_choice,
        **shape_meta,
        **unplaced_meta(info, shape),
    }
    if class_tree:
        meta["class_tree"] = True
    if info.notes:
        meta["notes"] = info.notes
    lvls = numbered(lvls, label_order, meta)
    summary = [*shape_notes(meta, len(idl.ids), multi_parent, class_tree), *info.notes]
    return Hierarchy(list(idl.ids), wn.graph.names.take(leaves), lvls, meta, nested=True, summary=summary).validate()


from ..options import LEAF_NAMES, one_of  # noqa: E402


def leaf_names(ids: Sequence[str], mode: str = "auto", source: str = "classes",
               where_of=None) -> tuple[list[str], str]:
    """Names for leaves that have only ids (k-means and random levels): ``(names, mode used)``.

    ``id``: the ids themselves. ``wordnet``: WordNet 3.0's first lemma, every id
    must be a noun wnid (else an error naming them). ``auto`` (the default): the
    first lemma when every id is a noun wnid in WordNet 3.0, else every leaf is
    named by its id; never a mix of the two.
    """
    one_of(mode, LEAF_NAMES, "--leaf-names")
    if mode == "id" or (mode == "auto" and not all(WNID_RE.fullmatch(x) for x in ids)):
        return list(ids), "id"
    wn = load_wordnet(None)
    if mode == "auto":
        nodes, malformed, unknown = wn.nodes_of(ids)
        if malformed or unknown:
            return list(ids), "id"
    else:
        nodes = check_wnids(wn, ids, where_of or (lambda i: f"leaf {i}"), source)
    return wn.graph.names.take(nodes), "wordnet"
