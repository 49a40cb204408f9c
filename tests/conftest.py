"""Shared test helpers: run the CLI in a subprocess or in-process.

The suite tests the installed package, never the source tree: run it as README.md
says (``pip install ".[test]" && python -P -m pytest -q``). ``-P`` keeps this folder
off ``sys.path``, and ``PYTHONSAFEPATH`` (set below) does the same for every Python
the tests start, so ``import hierarchy_cli`` finds the copy in site-packages, which
is what users get. The session refuses to start if it finds the source tree instead.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

# The checkout: docs, fixtures and scripts are read from here; nothing is imported from it.
ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONSAFEPATH"] = "1"   # child Pythons (`-m`, `-c`) keep their cwd off sys.path too

import hierarchy_cli  # noqa: E402  (after the line above, so that the check below is honest)

PACKAGE = Path(hierarchy_cli.__file__).resolve().parent   # the installed package
GRANULARITY = shutil.which("granularity", path=sysconfig.get_path("scripts"))   # its console script


def pytest_sessionstart(session):
    if PACKAGE == ROOT / "hierarchy_cli":   # (a venv inside the checkout is fine)
        pytest.exit(f"the tests import hierarchy_cli from the source tree ({PACKAGE}), not from an "
                    f"installed copy: run them as README.md says, pip install \".[test]\" && "
                    "python -P -m pytest -q", returncode=4)
    if GRANULARITY is None:
        pytest.exit(f"the console script 'granularity' is not installed in {sysconfig.get_path('scripts')}: "
                    "pip install \".[test]\"", returncode=4)


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
    """Run the installed ``granularity ARGS`` in a fresh process (the real entry point)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [GRANULARITY, *map(str, args)],
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
