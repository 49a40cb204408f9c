"""Shared test helpers: run the CLI in a subprocess or in-process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode()


def run_cli(*args: str, stdin: bytes | None = None, cwd: str | Path | None = None,
            env: dict | None = None) -> Result:
    """Run ``python -m hierarchy_cli ARGS`` in a fresh process (the real entry point)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "hierarchy_cli", *map(str, args)],
        input=stdin if stdin is not None else b"",
        capture_output=True, cwd=cwd, env=full_env, timeout=600,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr.decode())


def invoke(*args: str, stdin: bytes = b"") -> Result:
    """Run the CLI in this process (fast); stdin/stdout are byte buffers."""
    from hierarchy_cli.cli import main

    out_buf, err_buf = io.BytesIO(), io.StringIO()
    in_wrap = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    out_wrap = io.TextIOWrapper(out_buf, encoding="utf-8", write_through=True)
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = in_wrap, out_wrap, err_buf
    try:
        code = main([str(a) for a in args])
        out_wrap.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return Result(code, out_buf.getvalue(), err_buf.getvalue())


@pytest.fixture
def cli():
    return invoke


def assert_one_line_error(res: Result, *fragments: str, code: int = 2) -> None:
    """Exit code, a single 'error: ...' line naming the fragments, no traceback."""
    assert res.code == code, (res.code, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
