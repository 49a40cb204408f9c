#!/usr/bin/env python3
"""Regenerate hierarchy_cli/data/wordnet30_nouns.parquet from WordNet 3.0.

Reads WordNet 3.0 with nltk: from nltk's own data when it is installed, else
from a WordNet dict folder (Debian's ``wordnet-base`` package puts one at
/usr/share/wordnet; nltk cannot open it unaided, granularity's reader fills in
the missing ``lexnames``). Writes every noun synset (offset, lemmas, hypernym and
instance-hypernym parents in WordNet's order) and records the result's sha256 in
hierarchy_cli/data/NOTICE.md beside WordNet's licence. Usage:

    apt-get install wordnet-base          # or: python -m nltk.downloader wordnet
    python scripts/make_wordnet_data.py [--wordnet /usr/share/wordnet]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hierarchy_cli.sources.wordnet import (  # noqa: E402
    EMBEDDED_NAME,
    dict_folder_reader,
    graph_from_table,
    noun_table_from_wordnet,
)

DATA = ROOT / "hierarchy_cli" / "data"


def nltk_reader(folder: str | None):
    if folder is None:
        try:
            import nltk

            nltk.data.find("corpora/wordnet")
            from nltk.corpus import wordnet

            wordnet.ensure_loaded()
            return wordnet, "nltk data (corpora/wordnet)"
        except LookupError:
            folder = "/usr/share/wordnet"
    return dict_folder_reader(folder), f"WordNet dict folder {folder}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wordnet", help="a WordNet 3.0 dict folder (default: nltk data, else /usr/share/wordnet)")
    args = ap.parse_args()
    import pyarrow.parquet as pq

    reader, origin = nltk_reader(args.wordnet)
    version = reader.get_version()
    if version != "3.0":
        sys.exit(f"expected WordNet 3.0, {origin} holds WordNet {version}")
    table = noun_table_from_wordnet(reader)
    graph = graph_from_table(table, origin)
    out = DATA / EMBEDDED_NAME
    pq.write_table(table, out, compression="zstd", compression_level=19, write_statistics=False)
    file_sha = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{table.num_rows} noun synsets from {origin} -> {out.relative_to(ROOT)}")
    print(f"file sha256 {file_sha}\ncontent sha256 {graph.checksum}")
    notice_path = DATA / "NOTICE.md"
    notice = notice_path.read_text(encoding="utf-8")
    line = (f"- `{EMBEDDED_NAME}`: {table.num_rows} noun synsets, file sha256 `{file_sha}`, "
            f"content sha256 `{graph.checksum}` (the `wordnet.sha256` in every label map's metadata)")
    pattern = re.compile(rf"^- `{re.escape(EMBEDDED_NAME)}`:.*$", re.M)
    if pattern.search(notice):  # replace our own line only; other sections stay
        notice = pattern.sub(lambda _: line, notice, count=1)
    else:
        notice = notice.replace("<!-- checksums -->", "<!-- checksums -->\n" + line, 1)
    notice_path.write_text(notice, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
