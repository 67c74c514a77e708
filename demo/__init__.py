"""make demo: a month in the demo park (python -m demo)."""
