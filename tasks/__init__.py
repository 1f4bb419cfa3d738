"""Runnable programs: ``python -m tasks.<name> --help``."""
