"""Helpers of the documentation tests: the build, and the formulas in the built pages.

The documentation is built once per test session and shared by the tests in tests/docs/ (the
``docs_build`` fixture in conftest.py).
"""

from __future__ import annotations

import dataclasses
import html
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The command, from the repository root; OUT is replaced by the output folder.
BUILD_COMMAND = ("-m", "sphinx", "-n", "-W", "--keep-going", "-q", "-b", "html", "docs", "OUT")


@dataclasses.dataclass(frozen=True)
class DocsBuild:
    """The outcome of one ``sphinx-build``: its exit status, its warnings, and the HTML folder."""

    returncode: int
    stderr: str
    out: Path

    def pages(self) -> list[Path]:
        return sorted(self.out.rglob("*.html"))


def build(out: Path) -> DocsBuild:
    """Build the HTML into ``out``; Sphinx's own temp files (a crash report) go beside it."""
    command = [sys.executable] + [str(out) if part == "OUT" else part for part in BUILD_COMMAND]
    temp = out.parent / f"{out.name}-tmp"
    temp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(temp)}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    return DocsBuild(result.returncode, result.stderr, out)


#: What Sphinx (and MyST) write around math: ``<span class="math ...">\(x\)</span>`` inline and
#: ``<div class="math ...">\[x\]</div>`` displayed; the TeX inside is HTML-escaped.
MATH_ELEMENT = re.compile(
    r'<(span|div) class="math notranslate nohighlight(?: amsmath)?"[^>]*>(.*?)</\1>', re.DOTALL
)


@dataclasses.dataclass(frozen=True)
class Formula:
    page: str
    tex: str
    display: bool


def formulas(build: DocsBuild) -> list[Formula]:
    """Every formula in the built pages, as MathJax gets it (delimiters removed)."""
    found = []
    for page in build.pages():
        for kind, body in MATH_ELEMENT.findall(page.read_text(encoding="utf-8")):
            tex = html.unescape(re.sub(r"<[^>]+>", "", body)).strip()
            for start, end in (("\\[", "\\]"), ("\\(", "\\)"), ("$$", "$$"), ("$", "$")):
                if tex.startswith(start) and tex.endswith(end):
                    tex = tex[len(start) : -len(end)].strip()
                    break
            found.append(Formula(str(page.relative_to(build.out)), tex, kind == "div"))
    return found
