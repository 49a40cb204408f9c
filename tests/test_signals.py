"""Ctrl-C, SIGTERM and SIGHUP at any moment: exit 130/143/129 and nothing left behind.

Real subprocesses of the console entry point get each signal at random moments
of their run (seeded, printed on failure). Every outcome must be either the
signal's exit code with an empty output folder and an empty private TMPDIR, or,
when the signal came after the final rename, exit 0 with the complete file.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status")

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MOMENTS_PER_SIGNAL = 10  # spread over the three commands


def _env(tmpdir: Path) -> dict:
    return dict(os.environ, TMPDIR=str(tmpdir))


def _default_signals() -> None:
    """In the child: the default dispositions a terminal gives. A test run started in
    the background has SIGINT ignored, and the command rightly keeps ignoring it."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _handlers_installed(pid: int) -> bool:
    """True once the process catches all three signals (its own handlers are in place)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # already gone: nothing left to wait for
    caught = int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("SigCgt:")), 16)
    return all(caught >> (s - 1) & 1 for s in SIGNALS)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Inputs outside the output folders: a label map and a 1.5M-row manifest."""
    base = tmp_path_factory.mktemp("signals")
    tmp = base / "tmp"
    tmp.mkdir()
    lmap = base / "map.parquet"
    subprocess.run([sys.executable, "-m", "hierarchy_cli", "build", "--level", "3", "-o", str(lmap)],
                   env=_env(tmp), check=True, capture_output=True)
    ids = pq.read_table(lmap, columns=["leaf_id"]).column("leaf_id")
    rows = np.random.default_rng(0).integers(0, len(ids), 1_500_000)
    pq.write_table(pa.table({"wnid": ids.take(pa.array(rows))}), base / "manifest.parquet")
    return base


def _commands(base: Path) -> dict[str, list[str]]:
    return {
        "build": ["build", "--levels", "0-12", "-o", "{out}/m.parquet"],
        "cluster": ["cluster", "--k", "1000", "--niter", "1", "-o", "{out}/c.parquet"],  # 1 to save time
        "apply": ["apply", str(base / "manifest.parquet"), "--map", str(base / "map.parquet"),
                  "-o", "{out}/out.csv"],
    }


def _run(args: list[str], folder: Path, sig: int | None, delay: float) -> tuple[int, str, float]:
    out, tmp = folder / "out", folder / "tmp"
    out.mkdir(parents=True)
    tmp.mkdir()
    argv = [a.replace("{out}", str(out)) for a in args]
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hierarchy_cli", *argv], env=_env(tmp),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_default_signals)
    if sig is not None:  # the moments count from the handlers' installation (at most 2 s)
        while proc.poll() is None and not _handlers_installed(proc.pid) and time.monotonic() < start + 2:
            time.sleep(0.002)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(sig)
    err = proc.communicate()[1].decode()
    return proc.returncode, err, time.monotonic() - start


def test_signals_at_random_moments_leave_nothing(work, tmp_path):
    commands = _commands(work)
    reference, duration = {}, {}
    for name, args in commands.items():
        code, err, took = _run(args, tmp_path / f"ref-{name}", None, 0)
        assert code == 0, err
        (out_file,) = (tmp_path / f"ref-{name}" / "out").iterdir()
        reference[name], duration[name] = out_file.read_bytes(), took

    seed = random.SystemRandom().randrange(10**6)
    rng = random.Random(seed)
    names = list(commands)
    jobs = []
    for sig in SIGNALS:
        for i in range(MOMENTS_PER_SIGNAL):
            name = names[(i + sig) % len(names)]
            jobs.append((name, sig, rng.uniform(0, duration[name]), len(jobs)))

    def one(job):
        name, sig, delay, n = job
        folder = tmp_path / f"run{n}"
        code, err, _ = _run(commands[name], folder, sig, delay)
        return job, code, err, sorted(p.name for p in (folder / "out").iterdir()), \
            sorted(p.name for p in (folder / "tmp").iterdir())

    interrupted = set()
    with ThreadPoolExecutor(2) as pool:
        for (name, sig, delay, n), code, err, outs, tmps in pool.map(one, jobs):
            where = f"{name} {signal.Signals(sig).name} after {delay:.3f} s (seed {seed}): exit {code}, {err!r}"
            assert tmps == [], f"temp files left in TMPDIR: {tmps}; {where}"
            if code == 0:  # the signal came after the rename: the file is complete
                assert len(outs) == 1, f"{outs}; {where}"
                data = (tmp_path / f"run{n}" / "out" / outs[0]).read_bytes()
                assert data == reference[name], where
                continue
            assert code == 128 + sig, where
            assert outs == [], f"left in the output folder: {outs}; {where}"
            assert "Traceback" not in err, where
            assert (err.strip().splitlines() or [""])[-1] == (
                f"error: interrupted by {signal.Signals(sig).name}; no output written"), where
            interrupted.add(name)
    assert interrupted == set(names), f"some command was never interrupted (seed {seed})"


SWALLOWED_SIGINT = """
import os, runpy, signal, sys, time

# A library call that turns every error into a status, as C code does (pyarrow's lazy
# pandas import swallowed a Ctrl-C this way, at 0.4-0.7 s of `cluster --k 1000`, until the
# command line blocked pandas): here in the middle of the k-means.
import hierarchy_cli.methods.kmeans as km
real_lloyd = km.lloyd

def lloyd(*args, **kwargs):
    try:
        print("sending SIGINT to a library that swallows it", file=sys.stderr)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler's KeyboardInterrupt ends the sleep at once
    except BaseException:
        pass
    else:
        print("no KeyboardInterrupt", file=sys.stderr)
    return real_lloyd(*args, **kwargs)

km.lloyd = lloyd
sys.argv = ["granularity", *sys.argv[1:]]
runpy.run_module("hierarchy_cli", run_name="__main__")
"""


def test_ctrl_c_swallowed_by_a_library_still_stops_the_command(tmp_path):
    """A Ctrl-C whose KeyboardInterrupt a library swallows used to vanish: exit 0 and a
    file. The recorded signal stops the command before its output is renamed into place."""
    out = tmp_path / "c.parquet"
    proc = subprocess.run([sys.executable, "-c", SWALLOWED_SIGINT, "cluster", "--k", "50",
                           "-o", str(out)], env=_env(tmp_path), capture_output=True, text=True,
                          preexec_fn=_default_signals)
    assert "sending SIGINT to a library that swallows it" in proc.stderr  # the moment was reached
    assert "no KeyboardInterrupt" not in proc.stderr
    assert proc.returncode == 130, proc.stderr
    assert not out.exists()
    assert proc.stderr.strip().splitlines()[-1] == "error: interrupted by SIGINT; no output written"


SIGTERM_IN_AN_IMPORT = """
import importlib.abc, importlib.machinery, os, runpy, signal, sys, time

class SlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # a module whose import gets a SIGTERM: the raise waits for the import to end (10 ms timer)
    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name == "slow_module" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.002)

import hierarchy_cli.inspection as inspection
from hierarchy_cli import process

def summarize(*args, **kwargs):
    sys.meta_path.insert(0, SlowImport())
    import slow_module  # noqa: F401
    process.check()  # before the timer fires, as atomic_output does after a writer's lazy import

inspection.summarize = summarize
sys.argv = ["granularity", *sys.argv[1:]]
runpy.run_module("hierarchy_cli", run_name="__main__")
"""


def test_a_signal_raised_before_its_timer_fires_still_exits_cleanly(tmp_path):
    """A SIGTERM inside an import arms a 10 ms timer that raises it once the import is
    over; when check() raises it first, the timer must stop. It used to fire during the
    interpreter's shutdown, after Python gave SIGALRM back its default action: the process
    died of SIGALRM (exit 142 from a shell, -14 here) in 19 runs of 20."""
    lmap = tmp_path / "m.parquet"
    build = subprocess.run([sys.executable, "-m", "hierarchy_cli", "build", "--dataset", "imagenet1k",
                            "--level", "3", "-o", str(lmap)], env=_env(tmp_path), capture_output=True)
    assert build.returncode == 0, build.stderr
    for _ in range(5):
        proc = subprocess.run([sys.executable, "-c", SIGTERM_IN_AN_IMPORT, "inspect", str(lmap)],
                              env=_env(tmp_path), capture_output=True, text=True, preexec_fn=_default_signals)
        assert proc.returncode == 143, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == "error: interrupted by SIGTERM; no output written"


def test_temporary_folder_is_removed_on_every_way_out(tmp_path):
    from hierarchy_cli.outputs import temporary_folder

    with temporary_folder(dir=tmp_path) as ok:
        Path(ok, "f").write_bytes(b"x")
    with pytest.raises(KeyboardInterrupt):
        with temporary_folder(dir=tmp_path) as failed:
            Path(failed, "f").write_bytes(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_split_leaves_leaves_no_temp_folder(tmp_path):
    """SIGTERM in the middle of `cluster --split-leaves` (it copies samples to a temp folder)."""
    rng = np.random.default_rng(0)
    n = 400_000
    feats = tmp_path / "feats.npy"
    np.save(feats, rng.standard_normal((n, 32)).astype(np.float32))
    leaves = tmp_path / "leaves.npy"
    np.save(leaves, rng.integers(0, 1000, n))
    args = ["cluster", "--dataset", "imagenet1k", "--samples", str(feats), "--leaves", str(leaves),
            "--split-leaves", "4", "-o", "{out}/s.parquet"]
    stopped = 0
    for i, delay in enumerate((0.3, 0.8, 1.5)):
        code, err, _ = _run(args, tmp_path / f"run{i}", signal.SIGTERM, delay)
        assert list((tmp_path / f"run{i}" / "tmp").iterdir()) == [], err
        if code != 0:
            assert code == 143, err
            assert list((tmp_path / f"run{i}" / "out").iterdir()) == [], err
            stopped += 1
    assert stopped, "every run finished before its SIGTERM"


def test_a_recorded_signal_stops_apply_stdout_before_anything_is_written(monkeypatch):
    """``apply -o -`` spools to a temp file; a signal recorded meanwhile (even one a
    library swallowed) must stop the copy to stdout, as it stops a file's rename."""
    import io

    from hierarchy_cli import process
    from hierarchy_cli.apply.write import stdout_spool

    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    monkeypatch.setitem(process._state, "pending", signal.SIGTERM)
    with pytest.raises(process.Interrupted):
        with stdout_spool() as fh:
            fh.write(b"a complete table")
    assert out.getvalue() == b""
