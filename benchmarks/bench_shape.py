#!/usr/bin/env python3
"""The shape of the package's code: module sizes, long functions, complexity ranks.

    python benchmarks/bench_shape.py [--rev REV] [--top 10]

Counts every ``.py`` file under ``hierarchy_cli/`` (of the working tree, or of git
revision ``REV``): lines per module, function bodies longer than 60 lines, and the
cyclomatic complexity rank of every function and method as radon computes it
(A 1-5, B 6-10, C 11-20, D 21-30, E 31-40, F 41+; ``pip install radon``; a dev tool,
not a dependency). Prints markdown tables; issue 22's targets: no module over 500
lines, no body over 60 lines, nothing above rank C.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE, MAX_BODY = 500, 60


def sources(rev: str | None) -> dict[str, str]:
    """``{path: text}`` of the package's modules, in the working tree or at ``rev``."""
    if rev is None:
        return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
                for p in sorted((ROOT / "hierarchy_cli").rglob("*.py"))}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "hierarchy_cli"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    return {n: subprocess.run(["git", "show", f"{rev}:{n}"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout for n in names if n.endswith(".py")}


def bodies(text: str) -> list[tuple[str, int]]:
    """``(name, body lines)`` of every function and method (decorators and signature excluded)."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append((node.name, node.end_lineno - node.body[0].lineno + 1))
    return out


def ranks(text: str) -> list[tuple[str, str, int]]:
    from radon.complexity import cc_rank, cc_visit

    out = []
    for block in cc_visit(text):
        if block.letter in ("F", "M"):
            out.append((block.fullname, cc_rank(block.complexity), block.complexity))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", help="a git revision instead of the working tree")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    files = sources(args.rev)
    lines = {n: t.count("\n") for n, t in files.items()}
    long_bodies = sorted(((b, f"{n}:{f}") for n, t in files.items() for f, b in bodies(t) if b > MAX_BODY),
                         reverse=True)
    try:
        graded = [(r, c, f"{n}:{f}") for n, t in files.items() for f, r, c in ranks(t)]
    except ImportError:
        sys.exit("needs radon: pip install radon")
    counts = Counter(r for r, _, _ in graded)
    print(f"| what | {args.rev or 'working tree'} |\n|---|---|")
    print(f"| modules / lines | {len(files)} / {sum(lines.values()):,} |")
    print(f"| modules over {MAX_MODULE} lines | {sum(v > MAX_MODULE for v in lines.values())} |")
    print(f"| function bodies over {MAX_BODY} lines | {len(long_bodies)} |")
    print(f"| functions of rank C / D / E / F | {counts['C']} / {counts['D']} / {counts['E']} / {counts['F']} |")
    print(f"| imports inside function bodies | {sum(_inner_imports(t) for t in files.values())} |")
    print("\nLargest modules:\n")
    for n, v in sorted(lines.items(), key=lambda x: -x[1])[:args.top]:
        print(f"- {n}: {v}")
    print("\nLongest bodies:\n")
    for b, f in long_bodies[:args.top]:
        print(f"- {f}: {b}")
    print("\nMost complex:\n")
    for r, c, f in sorted(graded, key=lambda x: -x[1])[:args.top]:
        print(f"- {f}: {r} ({c})")


def _inner_imports(text: str) -> int:
    count = 0
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            count += sum(isinstance(x, (ast.Import, ast.ImportFrom)) for x in ast.walk(node))
    return count


if __name__ == "__main__":
    main()
