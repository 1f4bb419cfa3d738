"""Sphinx configuration for the spikejax documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``. The pages per neuron
model (``models/``), the NIR API fragment and the copies of ``notebooks/*.ipynb`` are generated
here at every build from the code (``spikejax.functional.MODELS``, ``spikejax.nn.MODULES``), so
that no equation, unit or default is written twice; the task list (from the docstrings of
``tasks/*.py``, read without importing them) by ``_plots/spikejax_pages.py``, the figures by
``_plots/spikejax_figures.py``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import re
import shutil
import sys
from pathlib import Path

from docutils.parsers.rst import directives
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import spikejax  # noqa: E402
from spikejax.functional import MODELS  # noqa: E402
from spikejax.nn import MODULES  # noqa: E402

project = "spikejax"
author = "the spikejax authors"
copyright = "the spikejax authors"
release = version = spikejax.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = [
    "_build", "**.ipynb_checkpoints", "api/_nir_generated.md", "_tasks_generated.md"
]
html_theme = "furo"
html_title = f"spikejax {release}"

# The notebooks are executed by the test suite, not by the docs build: render stored outputs.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
# Docstrings are Google style; "Attributes:" as :ivar: fields, so that dataclass fields are not
# described twice (once by napoleon, once by autodoc).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False
napoleon_attr_annotations = False
# Keep jax's array-like alias by name instead of its eight-member union.
autodoc_type_aliases = {"jax.typing.ArrayLike": "jax.typing.ArrayLike", "ArrayLike": "ArrayLike"}

suppress_warnings = [
    # Notebook outputs such as tqdm's widget state have MIME types no HTML page can show.
    "mystnb.unknown_mime_type",
]

# MathJax ships with the site: readers open these pages on clusters and laptops without the CDN as
# often as online. It comes from the django-static-mathjax wheel (the docs extra): MathJax 3.2.2's
# own es5 build, packaged as static files (nothing of Django is imported or needed). It is copied
# into _static/mathjax after the build (_copy_mathjax) and loaded from there; mathjax_path is
# relative to _static. The docstrings' equations render in MathJax 3 and 4 alike (no align* inside
# the split that Sphinx wraps around display math; tests/docs/test_math.py checks both).
try:
    import mathjax as _mathjax_package
except ImportError as error:
    raise ImportError(
        "docs/conf.py: MathJax is shipped with the site from the django-static-mathjax package, "
        "which is not installed; install the docs extra: pip install -e '.[docs]'"
    ) from error
MATHJAX_SOURCE = Path(_mathjax_package.__file__).resolve().parent / "static" / "mathjax"
mathjax_path = "mathjax/tex-chtml.js"


def _skip_generated_members(app, what, name, obj, skip, options):
    """Skip NamedTuple field aliases and the ``replace`` that ``flax.struct`` adds to dataclasses."""
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith(("Alias for field number", "Returns a new object replacing")):
        return True
    return None


def member_directives(module_name: str, public: str | None = None) -> list[str]:
    """reST ``auto*`` directives for the names in a module's ``__all__``, in order.

    Documents what ``automodule :members:`` would (classes and functions, and data only where a
    ``#:`` comment documents it), without the module docstring, under the package ``public``
    that re-exports them (``spikejax.functional`` for ``spikejax.functional.lif``), so that the
    documented names are the ones users import. Names the package does not re-export are left out.
    """
    module = importlib.import_module(module_name)
    public = public or module_name
    package = importlib.import_module(public)
    # Data is described by its ``#:`` comment in the module that defines it; autodoc would look in
    # ``public`` instead and fall back to the docstring of the value's type (``dict``).
    documented = {
        name: doc for (_, name), doc in ModuleAnalyzer.for_module(module_name).find_attr_docs().items()
    }
    lines = [f".. currentmodule:: {public}", ""]
    for name in module.__all__:
        obj = getattr(module, name)
        if getattr(package, name, None) is not obj:
            continue
        if inspect.isclass(obj):
            lines.append(f".. autoclass:: {name}")
        elif callable(obj):
            lines.append(f".. autofunction:: {name}")
        elif name in documented:
            lines += [f".. py:data:: {name}", ""] + [f"   {line}" for line in documented[name]]
        lines.append("")
    return lines


class PublicMembers(SphinxDirective):
    """``.. public-members:: spikejax.functional.lif`` with ``:as: spikejax.functional``.

    Documents the members of a module (see :func:`member_directives`) under the package that
    re-exports them. The module docstring is not repeated: put an ``automodule`` with
    ``:no-members:`` before it for that.
    """

    required_arguments = 1
    option_spec = {"as": directives.unchanged}

    def run(self):
        lines = member_directives(self.arguments[0], self.options.get("as"))
        return self.parse_text_to_nodes("\n".join(lines))


def _mathjax_excluded(path: str) -> bool:
    """The parts of MathJax's es5 build that ``tex-chtml.js`` never loads (other combined
    components, SVG output, MathML and AsciiMath input, node adaptors) stay out of the site."""
    path = path.removeprefix("./")
    if path.startswith(("output/svg", "input/mml", "input/asciimath", "adaptors")):
        return True
    return "/" not in path and path.endswith(".js") and path != "tex-chtml.js"


def _copy_mathjax(app, exception) -> None:
    """Copy MathJax (tex-chtml.js, its TeX extensions, fonts, menu and accessibility parts, and
    its licence) into ``_static/mathjax`` of an HTML build."""
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util.fileutil import copy_asset, copy_asset_file

    target = Path(app.outdir) / "_static" / "mathjax"
    copy_asset(MATHJAX_SOURCE / "es5", target, excluded=_mathjax_excluded)
    copy_asset_file(MATHJAX_SOURCE / "LICENSE", target)


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_members)
    app.connect("build-finished", _copy_mathjax)
    app.add_directive("public-members", PublicMembers)


# --- Figures, copy buttons, notebook streams, tasks page (issue 16, part B) ------------------
# docs/_plots/: spikejax_figures.py draws the figures at every build through matplotlib's plot
# directive (nothing committed as an image can go stale); spikejax_pages.py adds the step-current
# figure to every model page as it is read, and writes _tasks_generated.md.
sys.path.insert(0, str(DOCS / "_plots"))
extensions += ["matplotlib.sphinxext.plot_directive", "sphinx_copybutton", "spikejax_pages"]
plot_formats = [("png", 100)]  # one small PNG per figure: the build runs in the test suite
plot_html_show_formats = False
plot_html_show_source_link = False
plot_include_source = False  # the pages that show a figure's code say :include-source: true
plot_pre_code = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
)
# The copy button leaves out prompts (doctest's >>> and ..., a shell's $) and doctest output.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
# A notebook's stdout and stderr pieces of one cell as one block each, not one per print.
nb_merge_streams = True
# ----------------------------------------------------------------------------------------------


# --- generated pages ---------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps incremental builds incremental)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _attribute_docs(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of a Google-style class docstring, by name."""
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Attributes:\n((?:[ \t]+.*\n?|\n)*)", doc, re.MULTILINE)
    if not match:
        return {}
    entries: dict[str, str] = {}
    name = None
    for line in match.group(1).splitlines():
        head = re.match(r"^    (\w+)(?: \(.*?\))?: ?(.*)$", line)
        if head:
            name = head.group(1)
            entries[name] = head.group(2).strip()
        elif name and line.startswith("        "):
            entries[name] += " " + line.strip()
    return entries


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "(required)"
    return f"``{value!r}``" if not dataclasses.is_dataclass(value) else f"``{type(value).__name__}()``"


def _parameter_table(cls: type) -> str:
    docs = _attribute_docs(cls)
    rows = [
        "   * - ``{}``\n     - {}\n     - {}".format(f.name, _default(f), _cell(docs.get(f.name, "")))
        for f in dataclasses.fields(cls)
    ]
    return (
        f".. list-table:: ``{cls.__name__}``: fields, defaults and units\n"
        "   :header-rows: 1\n   :widths: 20 25 55\n\n"
        "   * - field\n     - default\n     - meaning\n" + "\n".join(rows) + "\n"
    )


def _preset_table(module) -> str:
    """A table of a model's named presets (``IZHIKEVICH_PRESETS``), if it has any."""
    presets = next(
        (getattr(module, n) for n in getattr(module, "__all__", ()) if n.endswith("_PRESETS")), None
    )
    if not presets:
        return ""
    first = next(iter(presets.values()))
    fields = [f.name for f in dataclasses.fields(first.p) if f.name != "method"]
    head = "   * - preset\n" + "".join(f"     - ``{f}``\n" for f in fields)
    rows = "".join(
        f"   * - ``{name}``\n" + "".join(f"     - {getattr(b.p, f)!r}\n" for f in fields)
        for name, b in presets.items()
    )
    return (
        "\n## Presets\n\n```{eval-rst}\n.. list-table::\n   :header-rows: 1\n\n"
        + head + rows + "```\n"
    )


def _model_page(name: str, model) -> str:
    functional = model.feed_forward_step.__module__
    modules = MODULES.get(name, {})
    variants = ", ".join(f"`{cls.__name__}`" for cls in modules.values())
    text = [
        f"# {name}\n",
        f"The functional form is `{functional}`; the modules ({variants}) wrap it. "
        f"`spikejax.functional.MODELS[{name!r}]` describes the model.\n",
        "## Equations, units and defaults\n",
        "```{eval-rst}",
        f".. automodule:: {functional}",
        "   :no-members:",
        "",
        _parameter_table(model.parameters),
        "```",
        _preset_table(importlib.import_module(functional)),
        "## Functional API\n",
        "```{eval-rst}",
        f".. public-members:: {functional}",
        "   :as: spikejax.functional",
        "```\n",
    ]
    for module in sorted({cls.__module__ for cls in modules.values()}):
        text += [
            "## Modules\n",
            "```{eval-rst}",
            f".. automodule:: {module}",
            "   :no-members:",
            "",
            f".. public-members:: {module}",
            "   :as: spikejax.nn",
            "```\n",
        ]
    return "\n".join(text)


def _generate_models() -> None:
    out = DOCS / "models"
    keep = set()
    for name, model in MODELS.items():
        page = out / f"{model.feed_forward_step.__module__.rsplit('.', 1)[1]}.md"
        _write(page, _model_page(name, model))
        keep.add(page.name)
    for stale in out.glob("*.md"):
        if stale.name not in keep:
            stale.unlink()


def _generate_nir() -> None:
    if importlib.util.find_spec("spikejax.nir") is not None:
        text = "```{eval-rst}\n.. automodule:: spikejax.nir\n   :members:\n```\n"
    else:
        text = "NIR export and import are not part of this version of spikejax yet.\n"
    _write(DOCS / "api" / "_nir_generated.md", text)


def _copy_notebooks() -> None:
    out = DOCS / "notebooks"
    # Names with a leading underscore are scratch copies, not tutorials.
    found = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.startswith("_"))
    out.mkdir(exist_ok=True)
    for notebook in found:
        target = out / notebook.name
        if not target.exists() or target.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, target)
    for stale in out.glob("*.ipynb"):
        if stale.name not in {notebook.name for notebook in found}:
            stale.unlink()
    if not found:
        # The notebooks page globs notebooks/*; with none yet there is nothing to list.
        suppress_warnings.append("toc.empty_glob")


_generate_models()
_generate_nir()
_copy_notebooks()
