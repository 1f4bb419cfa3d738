"""Sphinx configuration for the spikejax documentation.

Build with ``sphinx-build -n -W --keep-going -b html docs docs/_build/html`` (nitpicky: every
reference must link; tests/docs/ build it so). The pages per neuron
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
import os
import re
import shutil
import sys
import typing
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

# --- Links: nitpicky, offline intersphinx --------------------------------------------------------
# Built with -n (nitpicky) and -W, every reference must link. Links to spikejax's own names
# resolve to where the object is documented, whatever path the text used (_resolve_by_object:
# a module docstring's :func:`poisson_encode` is spikejax.functional.poisson_encode), and private
# base classes are shown as their nearest public ancestor (_public_bases).
# Names that cannot link, each for its reason:
nitpick_ignore = [
    # NIR has no intersphinx inventory among the projects below.
    ("py:class", "nir.ir.graph.NIRGraph"),
]
nitpick_ignore_regex = [
    # Type variables (integrate.run's State) have no page of their own.
    ("py:class", r"spikejax\.[\w.]+\.State"),
]

extensions.append("sphinx.ext.intersphinx")
# intersphinx links jax, numpy, flax, optax and Python's names to their documentation. It would
# download each project's objects.inv at build time, which fails offline (and in the tests, which
# have no network). So the build writes small inventories itself, from the table below: the names
# that spikejax's signatures and docstrings use, each with the page of its project's documentation
# that describes it (the projects' URL layout as of 2026-12). A name missing from the table
# fails the nitpicky build, so the table grows with the references. Where real inventories are
# at hand (SPIKEJAX_INTERSPHINX=<folder> with jax.inv, numpy.inv, ...), they are used instead.
INTERSPHINX_TABLE = {
    "python": ("https://docs.python.org/3/", {
        "os.PathLike": ("class", "library/os.html"),
        "pathlib.Path": ("class", "library/pathlib.html"),
        "functools.partial": ("function", "library/functools.html"),
        "typing.Callable": ("data", "library/typing.html"),
    }),
    "numpy": ("https://numpy.org/doc/stable/", {
        "numpy.ndarray": ("class", "reference/generated/numpy.ndarray.html"),
        "numpy.bool": ("class", "reference/arrays.scalars.html"),
        "numpy.number": ("class", "reference/arrays.scalars.html"),
        "numpy.dtype": ("class", "reference/generated/numpy.dtype.html"),
    }),
    "jax": ("https://docs.jax.dev/en/latest/", {
        "jax.Array": ("class", "_autosummary/jax.Array.html"),
        "jax.typing.ArrayLike": ("type", "_autosummary/jax.typing.ArrayLike.html"),
        "jax.Device": ("class", "_autosummary/jax.Device.html"),
        "jax.sharding.Mesh": ("class", "jax.sharding.html"),
        "jax.sharding.use_abstract_mesh": ("function", "jax.sharding.html"),
        "jax.experimental.checkify.check": (
            "function", "_autosummary/jax.experimental.checkify.check.html"
        ),
        "jax.lax.scan": ("function", "_autosummary/jax.lax.scan.html"),
    }),
    "flax": ("https://flax.readthedocs.io/en/latest/", {
        "flax.nnx.Module": ("class", "api_reference/flax.nnx/module.html"),
        "flax.nnx.Rngs": ("class", "api_reference/flax.nnx/rnglib.html"),
        "flax.nnx.Param": ("class", "api_reference/flax.nnx/variables.html"),
        "flax.nnx.Variable": ("class", "api_reference/flax.nnx/variables.html"),
        "flax.nnx.State": ("class", "api_reference/flax.nnx/state.html"),
    }),
    "optax": ("https://optax.readthedocs.io/en/latest/", {
        "optax.GradientTransformation": ("class", "api/transformations.html"),
        "optax.GradientTransformationExtraArgs": ("class", "api/transformations.html"),
    }),
}
# Written names that Python does not give as the public path (nnx.Rngs in a docstring, the classes'
# __module__ paths in signatures), mapped to the public name.
EXTERNAL_ALIASES = {"nnx.Rngs": "flax.nnx.Rngs", "nnx.Module": "flax.nnx.Module"}
INVENTORIES = DOCS / "_build" / "intersphinx"


def _write_inventory(project: str, entries: dict) -> Path:
    """A Sphinx objects.inv (version 2) for ``entries``: name -> (object type, page)."""
    import zlib

    lines = "".join(
        f"{name} py:{kind} 1 {page}#$ -\n" for name, (kind, page) in sorted(entries.items())
    )
    header = (
        f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    path = INVENTORIES / f"{project}.inv"
    data = header.encode() + zlib.compress(lines.encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def _intersphinx_mapping() -> dict:
    real = os.environ.get("SPIKEJAX_INTERSPHINX")
    mapping = {}
    for project, (url, entries) in INTERSPHINX_TABLE.items():
        local = Path(real) / f"{project}.inv" if real else None
        inventory = local if local and local.is_file() else _write_inventory(project, entries)
        mapping[project] = (url, str(inventory))
    return mapping


intersphinx_mapping = _intersphinx_mapping()


def _name_classes_by_public_path() -> None:
    """Signatures name a class by ``__module__`` and ``__qualname__``: ``jax.jaxlib._jax.Array``,
    ``flax.nnx.module.Module``. Sphinx keeps a table of classes whose ``__module__`` is not where
    users import them from (``_io.StringIO`` is ``io.StringIO``); the external classes in
    INTERSPHINX_TABLE join it, so that signatures show (and link) ``jax.Array``."""
    from sphinx.util import typing as sphinx_typing

    table = getattr(sphinx_typing, "_INVALID_BUILTIN_CLASSES", None)
    if not isinstance(table, dict):  # a Sphinx without the table: names stay long, links resolve
        return  # through _resolve_by_object
    for _, entries in INTERSPHINX_TABLE.values():
        for name in entries:
            obj = _import_object(name)
            if isinstance(obj, type) and f"{obj.__module__}.{obj.__qualname__}" != name:
                table[(obj.__module__, obj.__qualname__)] = name


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
    # ``public`` instead and fall back to the docstring of the value's type (``dict``). A package
    # that re-exports a submodule's data (spikejax.kernels' FUSED_MODELS) takes the submodule's.
    documented: dict[str, list[str]] = {}
    defining = [module_name] + sorted(n for n in sys.modules if n.startswith(module_name + "."))
    for name in defining:
        try:
            attr_docs = ModuleAnalyzer.for_module(name).find_attr_docs()
        except Exception:  # a compiled or source-less module has no comments to read
            continue
        for (_, attribute), doc in attr_docs.items():
            if getattr(sys.modules[name], attribute, None) is getattr(module, attribute, module):
                documented.setdefault(attribute, doc)
    lines = [f".. currentmodule:: {public}", ""]
    for name in module.__all__:
        obj = getattr(module, name)
        if getattr(package, name, None) is not obj:
            continue
        if inspect.isclass(obj):
            lines.append(f".. autoclass:: {name}")
        elif typing.get_origin(obj) is not None:  # a type alias (SurrogateLike): its comment
            from sphinx.util.typing import restify

            lines += [f".. py:data:: {name}", ""]
            lines += [f"   {line}" for line in documented.get(name, [])]
            lines += ["", f"   Alias of {restify(obj)}."]
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


def _import_object(dotted: str):
    """The object that the dotted name ``dotted`` names, or None."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute, None)
            if obj is None:
                return None
        return obj
    return None


def _key(obj) -> int:
    """An object's identity; a bound method (a classmethod read from its class, new at every
    access) is identified by its function."""
    return id(obj.__func__) if inspect.ismethod(obj) else id(obj)


_DOCUMENTED: dict = {}


def _documented_names(env) -> dict[int, str]:
    """The documented name of each object that this build documents, by ``id``.

    Numbers, strings and None are left out: equal constants can be one object under two names.
    """
    objects = env.get_domain("py").objects
    if _DOCUMENTED.get("count") != len(objects):
        found: dict[int, str] = {}
        for name, entry in objects.items():
            if entry.aliased or entry.objtype == "module":
                continue
            obj = _import_object(name)
            if obj is not None and not isinstance(obj, (int, float, complex, str, bytes)):
                found.setdefault(_key(obj), name)
        _DOCUMENTED.update(count=len(objects), names=found)
    return _DOCUMENTED["names"]


def _external_names() -> dict[int, str]:
    """The public name in INTERSPHINX_TABLE of each external object, by ``id``."""
    if "external" not in _DOCUMENTED:
        _DOCUMENTED["external"] = {
            _key(obj): name
            for _, entries in INTERSPHINX_TABLE.values()
            for name in entries
            if (obj := _import_object(name)) is not None
        }
    return _DOCUMENTED["external"]


def _resolve_by_object(app, env, node, contnode):
    """Resolve a Python reference by the object it names, not by the path it is written with.

    A name written as Python would find it from the docstring's module (``poisson_encode`` in
    ``spikejax.functional.encode``) links to where autodoc documents that object
    (``spikejax.functional.poisson_encode``); a module whose page shows its docstring without an
    index entry links to its package. An external object written with its defining module's path
    (``flax.nnx.module.Module``) is handed on to intersphinx under its public name.
    """
    if node.get("refdomain") != "py":
        return None
    target = EXTERNAL_ALIASES.get(node["reftarget"], node["reftarget"])
    if not re.fullmatch(r"[A-Za-z_][\w.]*", target):
        return None
    domain = env.get_domain("py")

    def link(name: str, role: str = "obj"):
        return domain.resolve_xref(env, node["refdoc"], app.builder, role, name, node, contnode)

    if node["reftype"] == "mod":
        parts = target.split(".")
        packages = (".".join(parts[:end]) for end in range(len(parts) - 1, 0, -1))
        package = next((name for name in packages if name in domain.modules), None)
        return link(package, "mod") if package and target.startswith("spikejax.") else None

    module, cls = node.get("py:module"), node.get("py:class")
    scopes = []
    if module:
        parts = module.split(".")
        scopes = ([f"{module}.{cls}"] if cls else []) + [
            ".".join(parts[:end]) for end in range(len(parts), 0, -1)
        ]
    local = _import_object(f"{module}.{target}") if module else None
    for scope in scopes:  # the same object, documented in a package above the module
        name = f"{scope}.{target}"
        if name in domain.objects and (local is None or _key(_import_object(name)) == _key(local)):
            return link(name)
    for candidate in scopes + [""]:
        obj = _import_object(f"{candidate}.{target}" if candidate else target)
        if obj is None:
            continue
        name = _documented_names(env).get(_key(obj))
        if name is not None:
            return link(name)
        public = _external_names().get(_key(obj))
        if public is not None:
            node["reftarget"] = public  # intersphinx, which runs next, resolves it
            return None
    if "." not in target and _is_private_alias(target):
        return contnode  # shown as written, unlinked
    node["reftarget"] = target
    return None


def _is_private_alias(name: str) -> bool:
    """Whether ``name`` is a type alias that a spikejax module defines without documenting it
    (``GradFn``, ``ResetMethod``: shorthands for a ``Callable`` signature in annotations); the
    arguments that use them describe what they accept."""
    modules = [module for key, module in list(sys.modules.items()) if key.startswith("spikejax")]
    return any(typing.get_origin(getattr(module, name, None)) is not None for module in modules)


#: Reprs that Python gives defaults and that mean nothing on a page, and what to show instead.
_SIGNATURE_REPRS = (
    (re.compile(r"<class '([\w.]+)'>"), r"\1"),  # jnp.float32's class, as a dtype default
    (re.compile(r"<(?:function|built-in function) ([\w.]+)(?: at 0x[0-9a-f]+)?>"), r"\1"),
)


def _clean_signature(app, what, name, obj, options, signature, return_annotation):
    """Signatures without ``<factory>`` or ``<class '...'>``: a dataclass field's default
    factory shows as the call that makes the default (``LIFParameters()``), a class or function
    default as its name."""
    if not signature:
        return None
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        for field in dataclasses.fields(obj):
            factory = field.default_factory
            if factory is not dataclasses.MISSING:
                shown = f"{getattr(factory, '__name__', 'factory')}()"
                signature = re.sub(
                    rf"(\b{field.name}\b[^,=()]*= )<factory>", rf"\g<1>{shown}", signature
                )
    for pattern, replacement in _SIGNATURE_REPRS:
        signature = pattern.sub(replacement, signature)
    return signature, return_annotation


def _is_public(cls: type) -> bool:
    """Whether a spikejax class is exported by a spikejax package (other classes count)."""
    parts = cls.__module__.split(".")
    if parts[0] != "spikejax":
        return True
    packages = (importlib.import_module(".".join(parts[:end])) for end in range(1, len(parts)))
    return not cls.__name__.startswith("_") and any(
        getattr(package, cls.__name__, None) is cls for package in packages
    )


def _public_bases(app, name, obj, options, bases) -> None:
    """Show a base class that spikejax does not export (``_NeuronBase``, ``ResetParameters``)
    as its nearest exported ancestor: the page has nothing to link the private one to."""
    for index, base in enumerate(bases):
        while isinstance(base, type) and not _is_public(base) and base.__mro__[1:]:
            base = base.__mro__[1]
        bases[index] = base
    bases[:] = list(dict.fromkeys(bases))


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_members)
    app.connect("build-finished", _copy_mathjax)
    # Before intersphinx's handler (priority 500), which then sees the public names.
    app.connect("missing-reference", _resolve_by_object, priority=400)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-signature", _clean_signature)
    _name_classes_by_public_path()
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
