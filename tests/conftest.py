"""Top-level pytest configuration: shared helpers live in tests/tools.py."""
