"""The ``granularity`` command: a thin typer shell over the Python API.

Errors become one line on stderr, ``error: <what, with the value and where>``,
with exit code 2 for bad input or usage and 1 for other failures; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Optional

import click
import typer

from . import __version__
from .commands.apply import apply
from .commands.breeds import breeds
from .commands.build import build
from .commands.cluster import cluster
from .commands.compare import compare
from .commands.datasets import datasets
from .commands.export import export
from .commands.inspect import inspect
from .commands.random import random
from .commands.report import report

app = typer.Typer(
    name="granularity",
    help="Build label hierarchies for pretraining image classifiers: WordNet levels, "
    "taxonomy ranks, k-means clusters and random controls, as parquet label maps.\n\n"
    "Example: granularity build --source wordnet --level 3",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"granularity {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks on errors. Example: granularity --debug build --level 3"),
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True,
        help="Print the version and exit. Example: granularity --version",
    ),
) -> None:
    _state["debug"] = debug


app.command("build")(build)
app.command("breeds")(breeds)
app.command("cluster")(cluster)
app.command("random")(random)
app.command("apply")(apply)
app.command("inspect")(inspect)
app.command("compare")(compare)
app.command("export")(export)
app.command("datasets")(datasets)
app.command("report")(report)


def main(argv: list[str] | None = None) -> int:
    """Run one command in this process: its exit code; errors become one line on stderr.

    The console entry point (:func:`hierarchy_cli.__main__.run`) adds the signal
    handling and the pandas guard; called from Python, this changes neither.
    """
    from . import process

    process.enter_cli()
    args = sys.argv[1:] if argv is None else argv
    _state["debug"] = "--debug" in args
    if not args:  # bare `granularity`: the formatted help, not a usage error
        args = ["--help"]
    return _run_app(args)


def _run_app(args: list[str]) -> int:
    """Dispatch ``args`` to typer: the command's exit code, its error said on one line."""
    try:
        rv = app(args=args, prog_name="granularity", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            raise exc.__cause__ from None
        print("error: aborted", file=sys.stderr)
        return 1
    except Exception as exc:  # bad input, a usage error, a bug or the environment: one line
        if _state["debug"] and not isinstance(exc, (MemoryError, BrokenPipeError)):
            raise
        line, code = _error_line(exc)
        if line is not None:
            print(f"error: {line}", file=sys.stderr)
        return code


def _error_line(exc: Exception) -> tuple[str | None, int]:
    """What an error that ends a command says after ``error:`` (``None``: nothing), and its exit code."""
    from .errors import GranularityError

    if isinstance(exc, GranularityError):
        return str(exc), exc.exit_code
    if isinstance(exc, click.ClickException):  # usage errors: unknown option, missing value, bad choice
        return _one_line(exc.format_message()), exc.exit_code
    if isinstance(exc, BrokenPipeError):  # the reader went away (`| head`): nothing to say
        return None, 1
    if isinstance(exc, MemoryError):
        return "out of memory", 1
    return f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1


def _one_line(message: str) -> str:
    """Click's message on one line, with a suggestion that typer and click both add said once."""
    import re

    text = " ".join(message.split())
    return re.sub(r"(\(?Did you mean [^?]*\?\)?)(?: \1)+", r"\1", text)
