#!/usr/bin/env python3
"""Regenerate data_manifests/: class lists of standard ImageNet variants.

The class ids and their order are facts published by several projects; this
script takes them from the timm wheel on PyPI (timm/data/_info/*.txt), checks
each list (count, well-formed, no duplicates), and writes our own files: one
wnid per line in class-index order, plus manifests.json with counts, sha256 and
provenance. Rerun with:

    pip download --no-deps timm==1.0.31 -d /tmp/timm
    python scripts/make_manifests.py /tmp/timm/timm-1.0.31-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data_manifests"

# name -> (file in timm/data/_info, expected count, description)
DATASETS = {
    "imagenet21k": ("imagenet21k_goog_synsets.txt", 21843,
                    "ImageNet-21k, fall 2011 release, all 21,843 classes in sorted wnid order "
                    "(the class index of Google's ViT/BiT and timm's in21k checkpoints); the default"),
    "imagenet1k": ("imagenet_synsets.txt", 1000,
                   "ImageNet-1k (ILSVRC-2012), 1,000 classes in the standard sorted-wnid order"),
    "imagenet22k": ("imagenet22k_synsets.txt", 21841,
                    "ImageNet-22k fall11 as released (21,841 classes with images), sorted wnids"),
    "imagenet12k": ("imagenet12k_synsets.txt", 11821,
                    "ImageNet-12k: timm's 11,821-class subset of fall11 (the in12k class index)"),
    "imagenet21k-p": ("imagenet21k_miil_synsets.txt", 11221,
                      "ImageNet-21K-P (Ridnik et al. 2021) processed from fall11, 11,221 classes"),
    "imagenet21k-p-winter21": ("imagenet21k_miil_w21_synsets.txt", 10450,
                               "ImageNet-21K-P processed from the winter21 release, 10,450 classes"),
    "imagenet-a": ("imagenet_a_synsets.txt", 200, "ImageNet-A: its 200 ImageNet-1k classes, in its order"),
    "imagenet-r": ("imagenet_r_synsets.txt", 200, "ImageNet-R: its 200 ImageNet-1k classes, in its order"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", type=Path, help="a timm wheel (pip download --no-deps timm==1.0.31)")
    args = ap.parse_args()
    wheel_bytes = args.wheel.read_bytes()
    wheel_sha = hashlib.sha256(wheel_bytes).hexdigest()
    OUT.mkdir(exist_ok=True)
    catalogue = {}
    with zipfile.ZipFile(args.wheel) as zf:
        for name, (member, count, description) in DATASETS.items():
            text = zf.read(f"timm/data/_info/{member}").decode("ascii")
            ids = [line.strip() for line in text.splitlines() if line.strip()]
            bad = [w for w in ids if not re.fullmatch(r"n\d{8}", w)]
            if len(ids) != count or bad or len(set(ids)) != len(ids):
                sys.exit(f"{member}: expected {count} distinct wnids, got {len(ids)} "
                         f"({len(bad)} malformed, {len(ids) - len(set(ids))} repeated)")
            data = ("\n".join(ids) + "\n").encode()
            (OUT / f"{name}.txt").write_bytes(data)
            catalogue[name] = {
                "file": f"{name}.txt",
                "num_classes": count,
                "sha256": hashlib.sha256(data).hexdigest(),
                "description": description,
                "provenance": f"class ids and order from {args.wheel.name} (PyPI), "
                              f"timm/data/_info/{member}; wheel sha256 {wheel_sha}",
            }
            print(f"{name:24s} {count:6d} {catalogue[name]['sha256']}")
    doc = {"generated_by": "scripts/make_manifests.py", "datasets": catalogue}
    (OUT / "manifests.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
