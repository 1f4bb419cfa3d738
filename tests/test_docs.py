"""The documentation: the code of the getting-started page runs, and every public function and
class has a docstring with a ``>>>`` example (run as a doctest by ``--doctest-modules``). The
build itself (warnings as errors, every public name documented, the equations) is checked by
tests/docs/, which share one build."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The packages whose public names are the API: ``__all__`` where it is defined, else every name
#: without a leading underscore that is not a submodule.
PACKAGES = (
    "spikejax",
    "spikejax.functional",
    "spikejax.functional.plasticity",
    "spikejax.nn",
    "spikejax.learn",
    "spikejax.data",
    "spikejax.data.events",
    "spikejax.kernels",
    "spikejax.train",
    "spikejax.plot",
    "spikejax.nir",
    "spikejax.online",
)


def public_names(package: str) -> list[str]:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        ]
    return list(names)


def public_objects() -> dict[str, object]:
    """Every public function and class, by the first dotted name it is found under."""
    found: dict[int, tuple[str, object]] = {}
    for package in PACKAGES:
        try:
            module = importlib.import_module(package)
        except ModuleNotFoundError as error:
            if error.name != package:
                raise
            continue  # a layer not written yet (spikejax.nir before it exists)
        for name in public_names(package):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                found.setdefault(id(obj), (f"{package}.{name}", obj))
    return dict(found.values())


def test_public_names_are_found():
    # The walk itself can fail: it must see the models, the modules and the helpers.
    names = public_objects()
    for expected in ("spikejax.functional.lif_step", "spikejax.nn.LIFCell", "spikejax.data.load"):
        assert expected in names
    assert len(names) > 200


def test_every_public_function_and_class_has_an_example():
    missing = sorted(
        f"{name}  ({inspect.getmodule(obj).__name__})"
        for name, obj in public_objects().items()
        if ">>>" not in (inspect.getdoc(obj) or "")
    )
    assert not missing, (
        f"{len(missing)} public functions and classes have no `>>>` example in their "
        "docstring:\n" + "\n".join(missing)
    )


def documented_objects(inventory: Path) -> set[int]:
    """The ids of the Python objects that the built documentation describes."""
    from sphinx.util.inventory import InventoryFile

    with inventory.open("rb") as stream:
        data = InventoryFile.load(stream, "", lambda base, uri: uri)
    ids = set()
    for kind in ("py:class", "py:function", "py:exception", "py:method"):
        for name in data.get(kind, {}):
            module_name, _, attribute = name.rpartition(".")
            try:
                ids.add(id(getattr(importlib.import_module(module_name), attribute)))
            except (ImportError, AttributeError):
                pass
    return ids


def page_with_includes(page: Path) -> str:
    """The Markdown of ``page`` with its ``{include}`` blocks replaced by the text they include."""

    def include(match: re.Match) -> str:
        target = (page.parent / match.group(1).strip()).resolve()
        options = dict(re.findall(r'^:([\w-]+): "?(.*?)"?$', match.group(2), re.MULTILINE))
        text = target.read_text()
        if "start-after" in options:
            text = text.split(options["start-after"], 1)[1]
        if "end-before" in options:
            text = text.split(options["end-before"], 1)[0]
        return text

    pattern = r"^```\{include\} (.*)\n((?::.*\n)*)```$"
    return re.sub(pattern, include, page.read_text(), flags=re.MULTILINE)


@pytest.mark.slow  # CI time; run with `pytest -m slow`
@pytest.mark.docs
def test_getting_started_code_runs(tmp_path):
    # The page's Python blocks (README's first network included), in order, as one script.
    page = page_with_includes(ROOT / "docs" / "getting-started.md")
    blocks = re.findall(r"^```python\n(.*?)^```$", page, re.MULTILINE | re.DOTALL)
    code = "\n".join(blocks)
    assert "LIFRecurrent(" in code and "fit(" in code, "the page lost its examples"
    script = tmp_path / "getting_started.py"
    script.write_text(code + "\nassert history[-1]['eval']['accuracy'] > 0.8, history\n")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"the getting-started code failed:\n{result.stderr[-6000:]}"
