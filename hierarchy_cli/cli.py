"""The ``granularity`` command: a thin typer shell over the Python API.

Errors become one line on stderr, ``error: <what, with the value and where>``,
with exit code 2 for bad input or usage and 1 for other failures; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Optional

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
    """Console entry point: run the app and turn errors into one line."""
    from .errors import GranularityError

    args = sys.argv[1:] if argv is None else argv
    _state["debug"] = "--debug" in args
    try:
        rv = app(args=args, prog_name="granularity", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except GranularityError as exc:
        if _state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug or an environment failure: still one line
        if _state["debug"]:
            raise
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            # click's usage errors (unknown option, missing value, bad choice)
            print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
            return exc.exit_code
        print(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


def run() -> None:
    sys.exit(main())
