"""Data the default path needs, made by the scripts in ``scripts/`` (see NOTICE)."""
