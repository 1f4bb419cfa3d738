"""What every benchmark does with its result: the command that produced it, and the JSON file."""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Optional, Sequence


def command_line(module: str, argv: Optional[Sequence[str]] = None) -> str:
    """``python -m <module> <arguments>``: ``argv`` as given to ``main``, or this process's."""
    return " ".join([f"python -m {module}"] + list(sys.argv[1:] if argv is None else argv))


def write_json(result: dict, path) -> pathlib.Path:
    """Write ``result`` to ``path`` (creating its folder), say so, and return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return path
