"""Equations in the built documentation: MathJax ships with the site (no CDN), and every formula
typesets without error in the MathJax the site ships (3.2) and, where one is at hand, MathJax 4.

MathJax runs in Node.js here (its ``node-main`` entry point, the same TeX input code as in a
browser); tests/docs/test_browser.py loads the pages in a real browser where one is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docs._build import formulas

pytestmark = pytest.mark.docs

#: Typesets ``[page, tex, display]`` items from stdin with the MathJax in the last argument;
#: prints the errors as JSON. ``noundefined`` is left out: an unknown macro is an error, not red text.
NODE_CHECK = r"""
const root = process.argv[process.argv.length - 1];
const fs = require('fs');
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', async () => {
  const items = JSON.parse(Buffer.concat(chunks).toString());
  const main = fs.existsSync(root + '/node-main.cjs') ? '/node-main.cjs' : '/node-main.js';
  const MathJax = await require(root + main).init({
    loader: {load: ['input/tex', 'output/chtml']},
    tex: {packages: {'[-]': ['noundefined']}},
  });
  const adaptor = MathJax.startup.adaptor;
  const errors = [];
  for (const [page, tex, display] of items) {
    try {
      const out = adaptor.outerHTML(await MathJax.tex2chtmlPromise(tex, {display}));
      const found = out.match(/data-mjx-error="([^"]*)"/);
      if (found || out.includes('mjx-merror')) errors.push([page, tex, found ? found[1] : 'merror']);
    } catch (error) {
      errors.push([page, tex, String(error.message || error)]);
    }
  }
  console.log(JSON.stringify({version: MathJax.version, checked: items.length, errors}));
});
"""


def shipped_mathjax() -> Path:
    """MathJax's es5 folder in the package that docs/conf.py copies into the site."""
    import mathjax

    return Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"


def typeset(root: Path, items: list) -> dict:
    result = subprocess.run(
        ["node", "-e", NODE_CHECK, "--", str(root)],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"node failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_typesets(built_docs, root: Path, version: str) -> None:
    found = formulas(built_docs)
    assert len(found) > 300, f"expected the model pages' formulas, found {len(found)}"
    report = typeset(root, [[f.page, f.tex, f.display] for f in found])
    assert report["version"].startswith(version), report["version"]
    assert report["checked"] == len(found)
    errors = "\n".join(f"{page}: {message}\n    {tex!r}" for page, tex, message in report["errors"])
    assert not report["errors"], f"MathJax {report['version']} errors:\n{errors}"


def test_mathjax_is_shipped_with_the_site_not_loaded_from_a_cdn(built_docs):
    mathjax = built_docs.out / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file()
    assert list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert (mathjax / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()  # autoloaded
    assert (mathjax / "LICENSE").is_file()
    with_math = 0
    for page in built_docs.pages():
        text = page.read_text(encoding="utf-8")
        relative = page.relative_to(built_docs.out)
        scripts = re.findall(r'<script[^>]*src="([^"]*)"', text)
        remote = [src for src in scripts if "mathjax" in src.lower() and "://" in src]
        assert not remote, f"{relative} loads MathJax from the network: {remote}"
        assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, relative
        if 'class="math notranslate' in text:
            with_math += 1
            local = [src for src in scripts if src.endswith("_static/mathjax/tex-chtml.js")]
            assert local, f"{relative} has formulas but does not load the shipped MathJax"
            assert (page.parent / local[0]).resolve() == (mathjax / "tex-chtml.js").resolve()
    assert with_math >= 14, f"expected formulas on the 13 model pages and more, found {with_math}"


#: Environments that are equations of their own: inside the ``split`` that Sphinx wraps around a
#: display formula with a line break, MathJax 4 rejects them ("Erroneous nesting of equation
#: structures"), while MathJax 3 lets them pass. ``aligned`` and plain ``&``/``\\`` lines work.
EQUATION_ENVIRONMENTS = r"\\begin\{(align|alignat|flalign|equation|gather|multline|eqnarray)\*?\}"


def test_display_formulas_nest_no_equation_environment(built_docs):
    nested = [
        f"{f.page}: {f.tex[:120]!r}"
        for f in formulas(built_docs)
        if "\\begin{split}" in f.tex and re.search(EQUATION_ENVIRONMENTS, f.tex)
    ]
    assert not nested, "equation environments inside Sphinx's split:\n" + "\n".join(nested)


@pytest.mark.slow  # Node.js typesets ~500 formulas: ~5 s on top of the shared build
def test_every_formula_typesets_in_the_shipped_mathjax(built_docs):
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: MathJax cannot run outside a browser")
    assert_typesets(built_docs, shipped_mathjax(), "3.")


@pytest.mark.slow
def test_every_formula_typesets_in_mathjax_4(built_docs):
    # MathJax 4 is on npm only (no Python package ships it yet): point SPIKEJAX_MATHJAX4 at the
    # folder of `npm install mathjax@4` (node_modules/mathjax) to run this check.
    folder = os.environ.get("SPIKEJAX_MATHJAX4")
    if shutil.which("node") is None or not folder:
        pytest.skip("needs Node.js and SPIKEJAX_MATHJAX4=<npm install mathjax@4>/node_modules/mathjax")
    assert_typesets(built_docs, Path(folder), "4.")
