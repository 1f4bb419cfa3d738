"""What a reader of the documentation sees besides the API text: the figures drawn at build time
(a step-current response on every model page, the surrogate curves, the STDP window, each plot
function's output), the front page's example and its output, the functional layer split into
pages, the copy button, and a tasks page without the project's working notes.

The figure code lives in docs/_plots/ (spikejax_figures.py, spikejax_pages.py); what it computes
is checked here against the rules' own formulas, and the built pages against what they must show.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLOTS = ROOT / "docs" / "_plots"


@pytest.fixture
def figures(monkeypatch):
    """The docs' figure module, importable as the plot directive imports it (by name)."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.syspath_prepend(str(PLOTS))
    import matplotlib.pyplot as plt
    import spikejax_figures

    yield spikejax_figures
    plt.close("all")


@pytest.fixture
def pages(figures):
    import spikejax_pages

    return spikejax_pages


# --- what the figures compute -------------------------------------------------------------------


def test_stdp_window_is_the_trace_at_the_second_spike(figures):
    from spikejax.functional.plasticity import STDPParameters

    p = STDPParameters(eta_plus=1e-2, eta_minus=2e-2)
    lags = np.array([-20, -5, -1, 0, 1, 5, 20])
    dw = figures.stdp_window_data(lags, p, dt=1e-3)
    # A spike sets its trace to dt * tau_inv * a (Norse's Euler step), which then decays by
    # (1 - dt * tau_inv) per step; the second spike reads the first one's trace.
    decay = 1.0 - 1e-3 * 20.0
    trace = 1e-3 * 20.0 * decay ** np.abs(lags)
    expected = np.where(lags > 0, 1e-2 * trace, -2e-2 * trace)
    expected[lags == 0] = 1e-2 * 0.02 - 2e-2 * 0.02  # both in one step: both terms, same trace
    # stdp_step returns new_w - w: float32 rounds it to the precision of w = 0.5 (6e-8).
    np.testing.assert_allclose(dw, expected, rtol=0, atol=1.2e-7)


@pytest.mark.slow  # about 4 s: every surrogate compiled twice
def test_surrogate_curves_are_the_registered_derivatives(figures):
    from spikejax.functional import surrogate_gradient, surrogate_names

    x = np.linspace(-1.0, 1.0, 9)
    curves = figures.surrogate_data(x)
    assert list(curves) == list(surrogate_names())
    for name, (alpha, grad) in curves.items():
        np.testing.assert_allclose(grad, surrogate_gradient(name, x, alpha), err_msg=name)
    assert curves["super"][0] == 100.0 and curves["super"][1][4] == pytest.approx(1.0)


def test_lif_step_response_rests_then_fires_during_the_step(figures):
    response = figures.step_response("LIF")
    onset, offset = figures.ONSET, figures.OFFSET
    assert response.threshold == 1.0 and response.adaptive_threshold is None
    assert np.all(response.voltage[:onset] == 0.0)  # at rest until the current starts
    spike_steps = np.flatnonzero(response.spikes[:, 0])
    assert len(spike_steps) >= figures.MIN_SPIKES
    # The smallest of the listed fractions of example_drive that makes the neuron fire enough.
    drive = figures.MODELS["LIF"].example_drive
    assert response.amplitude in [pytest.approx(f * drive) for f in figures.FRACTIONS]
    assert np.all(response.current[onset:offset] == response.amplitude)
    assert onset < spike_steps.min() and spike_steps.max() < offset + 5
    assert response.voltage.max() <= 1.0  # reset at every crossing


def test_step_response_refuses_an_unknown_model(figures):
    with pytest.raises(ValueError, match=r"name must be one of \[.*'LIF'.*\], got 'NoSuchModel'"):
        figures.step_response("NoSuchModel")


@pytest.mark.slow  # every model: about 15 s on 2 cores
def test_every_model_is_silent_before_the_step_and_responds_to_it(figures):
    from spikejax.functional import MODELS

    for name, model in MODELS.items():
        response = figures.step_response(name)
        # Silent before the step. (Not always constant: the exponential term of LIFEx and
        # LIFAdEx moves v from its rest state v_leak, as in Norse, by 0.06 within 20 ms.)
        assert response.spikes[: figures.ONSET].sum() == 0, f"{name} fires before the step"
        during = response.voltage[figures.ONSET : figures.OFFSET]
        assert np.ptp(during) > 0, f"{name} does not respond to the step"
        if model.output_dtype_spikes:
            assert response.spikes.sum() > 0, f"{name} never spikes under example_drive"
            assert response.threshold is not None, f"{name}: no threshold field found"
        figure = figures.neuron_figure(name)
        assert len(figure.axes) == (3 if model.output_dtype_spikes else 2), name


@pytest.mark.slow  # draws five figures
def test_docs_plot_helpers_examples(figures, pages):
    for module in (figures, pages):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --- the pages' text ----------------------------------------------------------------------------


def test_model_pages_get_their_figure_before_the_api(pages):
    source = ["# LIF\n\nintro\n\n## Functional API\n\napi\n"]
    pages.add_model_figure(None, "models/lif", source)
    text = source[0]
    assert text.index("## Response to a step current") < text.index("## Functional API")
    assert 'neuron_figure("LIF")' in text and ".. plot::" in text
    other = ["# LIF\n\n## Functional API\n"]
    pages.add_model_figure(None, "api/functional", other)  # not a model page: left alone
    assert other == ["# LIF\n\n## Functional API\n"]


def test_tasks_page_has_no_working_notes_and_shows_the_recorded_figures(pages):
    text = pages.tasks_page()
    assert "shared/" not in text  # the project's notes are not in a user's clone
    assert "Measured on" not in text and "no GPU has been available" not in text
    assert "| `python -m tasks.mnist` |" in text  # the results table is there
    memory = text[text.index("## `tasks.memory`") : text.index("## `tasks.mnist`")]
    assert "```{figure} ../benchmarks/results/memory_cpu.png" in memory
    stdp = text[text.index("## `tasks.mnist_stdp`") :]
    assert "mnist_stdp_100_cpu_receptive_fields.png" in stdp
    mnist = text[text.index("## `tasks.mnist`") : text.index("## `tasks.mnist_stdp`")]
    assert "receptive_fields" not in mnist  # mnist_stdp_* belongs to mnist_stdp only


def test_results_table_needs_the_readme_section(pages):
    with pytest.raises(ValueError, match="readme must have a '## Results so far' section"):
        pages.results_table("# README\n\n## Speed\n\n| a |\n")
    with pytest.raises(ValueError, match="must hold a table, found 0 table lines"):
        pages.results_table("## Results so far\n\nnothing yet\n")


def front_page_example() -> tuple[str, str]:
    """The code of the front page's plotted example, and the ```text block after it."""
    page = (ROOT / "docs" / "index.md").read_text()
    match = re.search(
        r"^\.\. plot::\n((?:   :[^\n]*\n)*)\n((?:   [^\n]*\n|\n)+?)```\n.*?^```text\n(.*?)^```$",
        page,
        re.MULTILINE | re.DOTALL,
    )
    assert match, "docs/index.md lost its plotted example or the output block after it"
    assert ":include-source: true" in match.group(1), "the front page must show the example's code"
    code = "\n".join(line[3:] for line in match.group(2).splitlines())
    return code, match.group(3)


@pytest.mark.slow  # about 4 s: the example's scan compiles
def test_front_page_example_prints_what_the_page_shows(figures):
    code, shown = front_page_example()
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 12, f"the front page's example grew to {len(lines)} lines"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "docs/index.md", "exec"), {"__name__": "front_page"})
    assert printed.getvalue() == shown


def test_front_page_links_every_notebook():
    page = (ROOT / "docs" / "index.md").read_text()
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[!_]*.ipynb"))
    assert notebooks, "no notebooks found"
    missing = [name for name in notebooks if f"{{doc}}`notebooks/{name}`" not in page]
    assert not missing, f"docs/index.md does not link the notebooks {missing}"


# --- the built site -----------------------------------------------------------------------------


def plot_images(page: Path) -> list[str]:
    return re.findall(r'<img [^>]*class="plot-directive" src="([^"]+)"', page.read_text())


@pytest.mark.docs
def test_built_pages_show_the_figures(built_docs):
    out = built_docs.out
    from spikejax.functional import MODELS

    expected = {"index.html": 1, "api/plot.html": 5, "api/functional/surrogates.html": 1,
                "api/functional/plasticity.html": 1}
    for model in MODELS.values():
        expected[f"models/{model.feed_forward_step.__module__.rsplit('.', 1)[1]}.html"] = 1
    for page, count in expected.items():
        images = plot_images(out / page)
        assert len(images) == count, f"{page}: {len(images)} figures, expected {count}"
        assert len(set(images)) == count, f"{page}: figures overwrite each other: {images}"
        for image in images:
            assert (out / page).parent.joinpath(image).resolve().is_file(), (page, image)
    tasks = (out / "tasks.html").read_text()
    assert re.search(r'<img [^>]*src="_images/memory_cpu.png"', tasks)
    assert "shared/" not in tasks and "no GPU has been available" not in tasks


@pytest.mark.docs
def test_functional_layer_is_split_into_pages(built_docs):
    out = built_docs.out / "api" / "functional"
    for page in ("models", "surrogates", "encoders", "decoders", "losses", "plasticity"):
        assert (out / f"{page}.html").is_file(), page
    plasticity = (out / "plasticity.html").read_text()
    headings = re.findall(r"<h2>(.*?)<a class=\"headerlink\"", plasticity)
    for rule in ("Traces", "Pair STDP", "Triplet STDP", "Reward-modulated STDP", "Short-term"):
        assert any(h.startswith(rule) for h in headings), (rule, headings)
    index = (built_docs.out / "api" / "functional.html").read_text()
    assert len(index) < len((out / "plasticity.html").read_text()), "the index page is not split"


@pytest.mark.docs
def test_code_blocks_have_a_copy_button(built_docs):
    out = built_docs.out
    assert (out / "_static" / "copybutton.js").is_file()
    assert "copybutton.js" in (out / "index.html").read_text()


@pytest.mark.docs
def test_notebook_output_streams_are_merged(built_docs):
    # A cell that prints several times shows one stdout block (myst-nb's nb_merge_streams), not
    # one per print; the stored notebooks have such cells.
    import nbformat

    split_cells = 0
    for notebook in sorted((ROOT / "notebooks").glob("[!_]*.ipynb")):
        cells = nbformat.read(notebook, as_version=4).cells
        streams = [
            [o.get("name") for o in cell.get("outputs", []) if o.output_type == "stream"]
            for cell in cells
            if cell.cell_type == "code"
        ]
        split_cells += sum(len(names) > len(set(names)) for names in streams)
        expected = sum(len(set(names)) for names in streams)
        page = built_docs.out / "notebooks" / f"{notebook.stem}.html"
        shown = page.read_text().count('class="output stream')
        assert shown == expected, f"{notebook.name}: {shown} stream blocks, expected {expected}"
    assert split_cells > 0, "no notebook cell prints twice any more: the check checks nothing"
