#!/usr/bin/env python3
"""hierarchy_cli.arrays against the plain pyarrow call that would replace each helper.

Runs with pandas blocked, as the command line does (``hierarchy_cli.__main__.NoPandas``),
so pyarrow's own calls pay no pandas import; checks that both give the same result and
prints the best of 5 repeats in microseconds per call, at 10, 10,000 and 2,000,000
values. Run it with each pyarrow to compare (the floor, 22, and the newest).

    python benchmarks/bench_arrays.py
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hierarchy_cli.__main__ import NoPandas  # noqa: E402

sys.meta_path.insert(0, NoPandas())

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from hierarchy_cli import arrays  # noqa: E402


def best(call, n: int) -> float:
    """Microseconds per call: the best of 5 repeats of enough calls to last ~0.1 s."""
    number = 3 if n >= 10**6 else max(1, 200_000 // n)
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def cases(n: int, rng) -> list[tuple[str, object, object]]:
    """``(name, helper call, pyarrow call)`` on ``n`` values."""
    ints = pa.array(rng.integers(0, 1000, n).astype(np.int32))
    bools = pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.1)
    words = [f"n{i:08d}" for i in range(n)]
    blanks = pa.array([w if i % 7 else "" for i, w in enumerate(words)])
    utf8 = [f"é{i}" for i in range(n)]
    i64 = rng.integers(0, 1000, n)
    i32 = i64.astype(np.int32)
    mask = rng.random(n) < 0.1
    flags = rng.random(n) < 0.5
    return [
        ("numpy_view (int32, no nulls)", lambda: arrays.numpy_view(ints), lambda: ints.to_numpy()),
        ("bool_numpy (nulls False)", lambda: arrays.bool_numpy(bools),
         lambda: pc.fill_null(bools, False).to_numpy(zero_copy_only=False)),
        ("empty_strings", lambda: arrays.empty_strings(blanks),
         lambda: pc.fill_null(pc.equal(blanks, ""), False).to_numpy(zero_copy_only=False)),
        ("int_array (int64)", lambda: arrays.int_array(i64), lambda: pa.array(i64)),
        ("int_array (int32, mask)", lambda: arrays.int_array(i32, mask), lambda: pa.array(i32, mask=mask)),
        ("int32_array (from int64)", lambda: arrays.int32_array(i64), lambda: pa.array(i64, type=pa.int32())),
        ("bool_array", lambda: arrays.bool_array(flags), lambda: pa.array(flags)),
        ("string_array (ASCII)", lambda: arrays.string_array(words), lambda: pa.array(words, type=pa.string())),
        ("string_array (UTF-8)", lambda: arrays.string_array(utf8), lambda: pa.array(utf8, type=pa.string())),
    ]


def main() -> int:
    print(f"pyarrow {pa.__version__}, numpy {np.__version__}; microseconds per call, best of 5\n")
    print("| helper | values | helper | pyarrow | pyarrow / helper |\n|---|---|---|---|---|")
    for n in (10, 10_000, 2_000_000):
        for name, ours, theirs in cases(n, np.random.default_rng(0)):
            a, b = ours(), theirs()
            assert (np.array_equal(a, b) if isinstance(a, np.ndarray) else a.equals(b)), name
            t_ours, t_theirs = best(ours, n), best(theirs, n)
            print(f"| {name} | {n:,} | {t_ours:,.1f} | {t_theirs:,.1f} | {t_theirs / t_ours:.2f} |")
    assert "pandas" not in sys.modules
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
