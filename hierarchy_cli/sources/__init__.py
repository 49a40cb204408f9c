"""Where manual hierarchies come from: WordNet (embedded or a dict folder)."""
