"""The tutorials in ``notebooks/`` run top to bottom in small mode, quickly and without errors, and
the saved files hold their outputs, plots included (what GitHub and Colab show before a run).

Each notebook runs in a fresh kernel through ``notebooks/execute.py`` with
``SPIKEJAX_NOTEBOOK_SMALL=1`` (a few hundred images, short simulations). The kernel imports this
checkout, so the install cell installs nothing, and its proxy variables point at a closed local
port, so anything that tried to download would fail instead of reaching the network.
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

pytestmark = pytest.mark.notebooks

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SECONDS = 120  # per notebook in small mode; they take 10-20 s on a 2-core CPU
MAX_BYTES = 1_500_000  # per saved notebook, outputs included

# Port 9 (discard) on the loopback: a refused connection, at once, for urllib, requests and pip.
NO_NETWORK = {
    name: "http://127.0.0.1:9"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
}
NO_NETWORK.update(no_proxy="", NO_PROXY="", PIP_NO_INDEX="1")


def _load_runner():
    spec = importlib.util.spec_from_file_location("spikejax_notebooks_execute", NOTEBOOKS / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
PATHS = runner.notebooks()


def _outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.get("outputs", [])


def _errors(nb) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for o in _outputs(nb) if o.get("output_type") == "error"]


def test_every_tutorial_is_here():
    assert [p.name[:2] for p in PATHS] == ["01", "02", "03", "04", "05", "06"], [p.name for p in PATHS]


# 02-04 and 06 take 25-40 s each on the 2-core CI machine: run with `pytest -m slow` (CI time).
_SLOW_NOTEBOOKS = ("02", "03", "04", "06")


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.name[:2] in _SLOW_NOTEBOOKS else [])
    for p in PATHS
])
def test_notebook_runs_in_small_mode(path):
    nb, seconds = runner.execute(path, small=True, timeout=SECONDS, env=NO_NETWORK)
    assert not _errors(nb), _errors(nb)
    assert seconds < SECONDS, f"{path.name} took {seconds:.0f} s in small mode (limit {SECONDS} s)"
    assert any("image/png" in o.get("data", {}) for o in _outputs(nb)), f"{path.name} drew no plot"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_saved_notebook_holds_its_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and code[0].source.lstrip().startswith("# Install spikejax"), "first cell must install"
    assert "except ImportError" in code[0].source, "the install cell must run only when the import fails"
    unrun = [i for i, cell in enumerate(code) if cell.get("execution_count") is None]
    assert not unrun, f"code cells {unrun} of {path.name} were not run before saving"
    assert not _errors(nb), f"{path.name} was saved with errors: {_errors(nb)}"
    assert any("image/png" in o.get("data", {}) for o in _outputs(nb)), (
        f"{path.name} was saved without plots: run `python notebooks/execute.py` and keep the outputs"
    )
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 1e6:.2f} MB (limit {MAX_BYTES / 1e6:.1f} MB)"


def test_notebooks_install_from_the_repository_that_pyproject_names():
    import json
    import re
    import tomllib

    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    for path in PATHS:
        source = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        found = re.findall(r'SPIKEJAX_URL = "git\+([^"]+)"', source)
        assert found == [urls["Repository"]], (path.name, found)
