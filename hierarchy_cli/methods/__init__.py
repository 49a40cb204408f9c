"""How other hierarchies are made."""
