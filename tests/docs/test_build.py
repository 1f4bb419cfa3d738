"""The Sphinx build passes with warnings as errors and documents every public name, and every
neuron model has its page with its equations and its defaults."""

from __future__ import annotations

import pytest

from tests.test_docs import documented_objects, public_objects

pytestmark = pytest.mark.docs


def test_docs_build_without_warnings(built_docs):
    out = built_docs.out
    for page in ("index", "getting-started", "models", "api/functional", "models/lif"):
        assert (out / f"{page}.html").is_file(), page

    documented = documented_objects(out / "objects.inv")
    undocumented = sorted(name for name, obj in public_objects().items() if id(obj) not in documented)
    assert not undocumented, "public names missing from the docs:\n" + "\n".join(undocumented)

    # Every neuron model has its page, with the equations from its docstring and its defaults.
    from spikejax.functional import MODELS

    for name, model in MODELS.items():
        page = out / "models" / f"{model.feed_forward_step.__module__.rsplit('.', 1)[1]}.html"
        text = page.read_text()
        assert f"{model.parameters.__name__}</span></code>: fields, defaults and units" in text, name
        assert 'class="math notranslate' in text, name
