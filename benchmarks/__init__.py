"""Speed and accuracy benchmarks: ``python -m benchmarks.<name> --help``."""
