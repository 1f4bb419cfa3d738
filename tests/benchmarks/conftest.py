"""The benchmarks are scripts in the repository, not part of the installed package: put the
repository root on ``sys.path`` so that ``import benchmarks.<name>`` works under plain
``pytest`` too (``python -m pytest`` does it already)."""

import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
