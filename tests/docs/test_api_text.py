"""The API pages as text: real signatures, one description per argument, no internal reprs,
links to jax, numpy, flax and optax, the type aliases described, and the NIR table as a table."""

from __future__ import annotations

import html
import re

import pytest

pytestmark = pytest.mark.docs


def text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def test_no_internal_reprs_on_any_page(built_docs):
    leaked = {
        "<factory>": "a dataclass field's default factory",
        "<class '": "a class as a default value",
        "<function ": "a function as a default value",
        "jaxlib._jax": "jax.Array's private class path",
        "TypeAliasForwardRef": "an unresolved type alias",
        "flax.nnx.module.": "flax's private module path",
        "optax._src": "optax's private module path",
    }
    found = []
    for page in built_docs.pages():
        shown = html.unescape(page.read_text(encoding="utf-8"))
        found += [f"{page.relative_to(built_docs.out)}: {what} ({needle!r})"
                  for needle, what in leaked.items() if needle in shown]
    assert not found, "\n".join(found)


def test_modules_show_their_real_signatures(built_docs):
    from spikejax.nn import MODULES

    checked = 0
    for variants in MODULES.values():
        for cls in variants.values():
            model_page = built_docs.out / "models" / f"{cls.__module__.rsplit('.', 1)[1]}.html"
            page = model_page.read_text(encoding="utf-8")
            anchor = page.find(f'id="spikejax.nn.{cls.__name__}"')
            assert anchor >= 0, f"{cls.__name__} not on {model_page.name}"
            signature = text(page[anchor : page.index("</dt>", anchor)])
            assert "*args" not in signature and "**kwargs" not in signature, signature
            assert "dt: float" in signature, signature  # a parameter of the real __init__
            checked += 1
    assert checked >= 30


ARGUMENT = re.compile(r"<li><p><strong>(.*?)</strong>(.*?)</p></li>", re.DOTALL)
FIELD = re.compile(r'<dt class="field-[^"]*">(.*?)</dt>\s*<dd class="field-[^"]*">(.*?)</dd>', re.DOTALL)


def test_every_argument_has_its_own_description(built_docs):
    # "a, b: text" in a Google-style docstring becomes entries a and b with the same text.
    shared = []
    for page in built_docs.pages():
        for _, body in FIELD.findall(page.read_text(encoding="utf-8")):
            seen: dict[str, str] = {}
            for name, rest in ARGUMENT.findall(body):
                description = re.sub(r"^\(.*?\)\s*", "", text(rest))  # without the type
                if description in seen:
                    shared.append(f"{page.relative_to(built_docs.out)}: {seen[description]} and "
                                  f"{text(name)} share {description[:60]!r}")
                seen.setdefault(description, text(name))
    assert not shared, "\n".join(shared)


def test_external_types_link_to_their_projects(built_docs):
    pages = "".join(page.read_text(encoding="utf-8") for page in built_docs.pages())
    for url in (
        "https://docs.jax.dev/en/latest/_autosummary/jax.Array.html#jax.Array",
        "https://docs.jax.dev/en/latest/_autosummary/jax.typing.ArrayLike.html",
        "https://numpy.org/doc/stable/reference/generated/numpy.ndarray.html#numpy.ndarray",
        "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/rnglib.html#flax.nnx.Rngs",
        "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/module.html#flax.nnx.Module",
        "https://optax.readthedocs.io/en/latest/api/transformations.html#optax.GradientTransformation",
    ):
        assert f'href="{url}' in pages, url


def test_type_aliases_are_described(built_docs):
    pages = [page.read_text(encoding="utf-8") for page in built_docs.pages()]
    for name, words in (("SurrogateLike", "registered surrogate"), ("Accumulator", "running_total")):
        page = next((page for page in pages if f'id="spikejax.functional.{name}"' in page), "")
        anchor = page.find(f'id="spikejax.functional.{name}"')
        assert anchor >= 0, name
        entry = text(page[anchor : page.index("</dd>", anchor)])
        assert words in entry and "Alias of" in entry, entry
        assert "*args" not in entry, entry


def test_nir_mapping_is_one_row_per_mapping(built_docs):
    page = (built_docs.out / "api" / "nir.html").read_text(encoding="utf-8")
    start = page.index("What maps to what")
    table = page[page.index("<table", start) : page.index("</table>", start)]
    rows = [text(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.DOTALL)]
    assert rows[0] == "spikejax module NIR node", rows[0]
    recurrent = [row for row in rows if "IAFRecurrentCell" in row]
    assert len(recurrent) == 1 and "Linear (recurrent weights)" in recurrent[0], rows
    assert not any(row.startswith(("Linear (recurrent", ":class:")) for row in rows), rows
    assert len(rows) >= 10, rows
