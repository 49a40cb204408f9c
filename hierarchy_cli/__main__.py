"""``python -m hierarchy_cli`` and the ``granularity`` console script."""


def run() -> None:
    # Signal handlers first, before typer and the commands are imported: a Ctrl-C
    # or SIGTERM at any moment after start-up then exits 130/143/129, cleanly.
    from . import process

    process.install()
    try:
        from .cli import run as cli_run
    except (KeyboardInterrupt, process.Interrupted) as exc:
        process.exit(process.stopped(exc))
    cli_run()


if __name__ == "__main__":
    run()
