"""One module per subcommand: typer options -> API call -> writer -> stderr summary.

Modules here import only typer and the package's light modules at import time;
numpy, pyarrow, pandas, nltk, faiss and sklearn load inside the command body.
"""
