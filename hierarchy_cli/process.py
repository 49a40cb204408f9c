"""The running command's process: signals received, outputs committed, stderr notes.

Ctrl-C, SIGTERM and SIGHUP stop the command and leave no output, temp file or folder.

The console entry point (:func:`hierarchy_cli.__main__.run`) calls :func:`install`
first. From then on SIGINT raises ``KeyboardInterrupt`` and SIGTERM/SIGHUP raise
:class:`Interrupted` (a ``BaseException``, so ``except Exception`` blocks let it
through); either one unwinds through :func:`hierarchy_cli.outputs.atomic_output` and
:func:`hierarchy_cli.outputs.temporary_folder`, which delete their temporary files,
and the entry point prints :func:`stopped`'s line and exits with 128 + the signal
number (130, 143, 129).

An exception raised inside a signal handler can be swallowed by C code that turns
every Python error into a status (pyarrow's lazy pandas import once swallowed a
Ctrl-C this way), so the handler also records the signal, and :func:`check` raises
it again: ``atomic_output`` calls it just before its final rename and
:func:`finish` once more at the end, so a swallowed signal still ends the command
with its exit code and no output.

Once an output has been renamed into place (:func:`commit`), a signal no longer
stops the command: the file is complete, the rest is the stderr summary, and the
command exits 0. A library user's process is left alone: only ``install`` changes
signal handlers.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_state = {"pending": None, "deferred": 0, "committed": False, "installed": False, "cli": False}


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


def _raise(signum: int):
    """Raise the signal's exception, once: the 10 ms timer of :func:`_raise_pending` stops
    (else it would raise it again in the middle of the unwinding, or of :func:`stopped`)."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    raise KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)


def _importing(frame) -> bool:
    """Whether ``frame`` runs inside an import (module code under importlib)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame) -> None:
    if _state["pending"] is None:
        _state["pending"] = signum
    _raise_pending(frame)


def _raise_pending(frame) -> None:
    """Raise the pending signal's exception here, or soon if an import is running.

    An exception raised while a C extension initialises (a Cython module's import) is
    printed by the interpreter as "Exception ignored" with a traceback, or swallowed;
    so inside an import the raise waits for the import to end (re-checked every 10 ms
    by SIGALRM).
    """
    if _state["deferred"] or _state["committed"] or _state["pending"] is None:
        return
    if _importing(frame):
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    _raise(_state["pending"])


def install() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into exceptions (the CLI process only).

    SIGALRM's handler comes first: the others may need it as soon as they are in place.
    """
    signal.signal(signal.SIGALRM, lambda _signum, frame: _raise_pending(frame))
    for signum in HANDLED:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIGHUP, '&''s SIGINT stay ignored
            signal.signal(signum, _handler)
    _state["installed"] = True


def _ignore_signals() -> None:
    """From here to the exit, signals are ignored (the command is over).

    Python gives a handled signal back its default action while the interpreter
    shuts down, so a SIGTERM in those last milliseconds would kill a process whose
    work is done (exit -15). An ignored signal keeps being ignored. The 10 ms timer
    of :func:`_raise_pending` is stopped for the same reason: SIGALRM's default
    action would kill the process during the shutdown (exit -14).
    """
    _state["deferred"] += 1
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)


def finish() -> None:
    """The command is over: ignore the signals from here to the exit, and raise the one
    that arrived before and was swallowed on the way, if any."""
    _ignore_signals()
    check()


def exit(code: int) -> None:
    """End the process with ``code``.

    After a Ctrl-C, ``python -m`` would turn any code into death by SIGINT (-2) when
    the KeyboardInterrupt had passed through a string ``exec`` on its way (CPython
    flags it in ``run_eval_code_obj`` even when caught), so that exit skips the
    interpreter's shutdown: the outputs are already committed or removed.
    """
    import os
    import sys

    if code == 128 + signal.SIGINT:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


def check() -> None:
    """Raise the exception of a signal that arrived earlier (and may have been swallowed)."""
    signum = _state["pending"]
    if signum is not None and not _state["committed"]:
        _raise(signum)


def stopped(exc: BaseException) -> int:
    """Say on stderr which signal stopped the command; its exit code (130, 143, 129)."""
    import sys

    _ignore_signals()  # a second Ctrl-C does not turn this into a traceback
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    print(f"error: interrupted by {signal.Signals(signum).name}; no output written", file=sys.stderr)
    return 128 + signum


@contextmanager
def deferred():
    """Signals only recorded, not raised, inside the block (cleanup, the final rename)."""
    _state["deferred"] += 1
    try:
        yield
    finally:
        _state["deferred"] -= 1


def commit() -> None:
    """An output is complete and in place: later signals no longer stop the command."""
    if _state["installed"]:
        _state["committed"] = True


def enter_cli() -> None:
    """The command line is running: outputs say on stderr when they replace a file."""
    _state["cli"] = True


def note(message: str) -> None:
    """A line on stderr when the command line runs (a library call stays quiet)."""
    if _state["cli"]:
        import sys

        print(message, file=sys.stderr)
