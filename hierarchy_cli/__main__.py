"""``python -m hierarchy_cli`` and the ``granularity`` console script: the command's process.

Before typer and the commands are imported, :func:`run` makes two changes that only the
command line's own process gets (``import hierarchy_cli`` and
:func:`hierarchy_cli.cli.main` leave the interpreter as it is, so notebooks and scripts
are unaffected):

* signal handlers (:mod:`hierarchy_cli.process`): a Ctrl-C, SIGTERM or SIGHUP at any
  moment exits 130, 143 or 129, with no output, temp file or folder left;
* no pandas (:class:`NoPandas`): pyarrow imports pandas, 0.2-0.4 s, the first time it
  converts Python objects or to numpy (``pa.array``, ``to_numpy``, a Python scalar given
  to ``pyarrow.compute``, ``pq.read_table``), only to learn whether pandas objects need
  special handling; scikit-learn (``compare``, ``report --target``) and nltk (``build
  --wordnet``) import it for the same reason. No command handles a pandas object, so the
  answer is always no, and the guard gives it at once: pyarrow and scikit-learn go on
  without it, as they do where pandas is not installed. A call that really needs pandas
  (``to_pandas``) fails loudly instead: ``error: unexpected ModuleNotFoundError: ...``.
"""

import sys


class NoPandas:
    """A meta-path finder that refuses every import of ``pandas`` (and its submodules)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}: granularity's command line runs without "
                                      "pandas (hierarchy_cli/__main__.py)", name=name)
        return None


def run() -> None:
    """Console entry point: run the command of ``sys.argv`` and exit with its code."""
    from . import process

    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, NoPandas())
    try:  # from the first handler on, every signal ends here: no traceback, its exit code
        process.install()
        from .cli import main

        code = main()
        process.finish()  # raises a signal that something swallowed on the way
    except (KeyboardInterrupt, process.Interrupted) as exc:
        code = process.stopped(exc)
    process.exit(code)


if __name__ == "__main__":
    run()
