import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from spikejax import plot  # noqa: E402

T, B, N = 12, 2, 5
RNG = np.random.default_rng(3)
SPIKES = (RNG.random((T, B, N)) < 0.3).astype(np.float32)
VOLTAGES = RNG.normal(size=(T, B, N)).astype(np.float32)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_raster_draws_one_point_per_spike_of_the_selected_batch():
    ax = plot.raster(jnp.asarray(SPIKES), batch_index=1)
    points = ax.collections[0].get_offsets()
    steps, neurons = np.nonzero(SPIKES[:, 1])
    assert len(points) == SPIKES[:, 1].sum() != SPIKES[:, 0].sum()
    np.testing.assert_array_equal(points, np.stack([steps, neurons], 1))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time step", "neuron")


def test_raster_ticks_name_whole_neurons():
    ax = plot.raster(np.zeros((10, 4)))   # few neurons: matplotlib alone would tick at 0.5, 1.5
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_yticks() if -0.5 <= t <= 3.5]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_raster_in_seconds_on_given_axes_and_unbatched():
    _, ax = plt.subplots()
    out = plot.raster(SPIKES[:, 0], dt=2e-3, ax=ax, title="layer 1")
    assert out is ax and ax.get_xlabel() == "time (s)" and ax.get_title() == "layer 1"
    steps, _ = np.nonzero(SPIKES[:, 0])
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], steps * 2e-3)


def test_membrane_traces_draw_each_neuron_and_a_dashed_threshold():
    ax = plot.membrane_traces(VOLTAGES, threshold=1.0)
    assert len(ax.lines) == N + 1
    assert ax.lines[-1].get_linestyle() == "--"
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), [1.0, 1.0])
    np.testing.assert_allclose(ax.lines[2].get_ydata(), VOLTAGES[:, 0, 2])


def test_membrane_traces_select_neurons_and_batch():
    ax = plot.membrane_traces(jnp.asarray(VOLTAGES), neurons=[1, 4], batch_index=1, dt=1e-3)
    assert len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), VOLTAGES[:, 1, 4])
    np.testing.assert_allclose(ax.lines[1].get_xdata(), np.arange(T) * 1e-3)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["neuron 1", "neuron 4"]


def test_heatmap_image_is_the_transposed_record_with_a_colorbar():
    ax = plot.heatmap(jnp.asarray(VOLTAGES), batch_index=1, label="v")
    np.testing.assert_allclose(ax.images[0].get_array(), VOLTAGES[:, 1].T)
    assert len(ax.figure.axes) == 2  # the plot and its colorbar
    assert ax.figure.axes[1].get_ylabel() == "v"


def test_firing_rate_histogram_counts_every_neuron_in_hz():
    spikes = np.zeros((10, 4), np.float32)
    spikes[:, 0] = 1  # 100 Hz at 10 ms steps
    spikes[::2, 1] = 1  # 50 Hz
    ax = plot.firing_rate_histogram(spikes, dt=1e-2, bins=[0, 25, 75, 125])
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [2, 1, 1] and sum(heights) == 4
    assert ax.get_xlabel() == "firing rate (Hz)"
    batched = plot.firing_rate_histogram(SPIKES, batch_index=1)
    assert sum(p.get_height() for p in batched.patches) == N


def test_bfloat16_records_plot():
    ax = plot.heatmap(jnp.asarray(VOLTAGES, jnp.bfloat16))
    np.testing.assert_allclose(ax.images[0].get_array(), VOLTAGES[:, 0].T, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot.raster(SPIKES[:, 0, 0]), r"spikes must have rank 2 or 3 with layout \(T, N\) or \(T, B, N\), got shape \(12,\) \(rank 1\)"),
        (lambda: plot.membrane_traces(VOLTAGES[None]), r"v must have rank 2 or 3 .* got shape \(1, 12, 2, 5\)"),
        (lambda: plot.heatmap(VOLTAGES[0, 0]), r"values must have rank 2 or 3 .* got shape \(5,\)"),
        (lambda: plot.firing_rate_histogram(SPIKES[..., None]), r"spikes must have rank 2 or 3 .* \(rank 4\)"),
        (lambda: plot.raster(SPIKES, batch_index=2), r"batch_index must be an integer in \[0, 2\) for spikes of shape \(12, 2, 5\), got 2"),
        (lambda: plot.heatmap(VOLTAGES, batch_index=0.5), r"batch_index must be an integer .* got 0.5"),
        (lambda: plot.membrane_traces(VOLTAGES, neurons=[0, 7]), r"neurons must be indices in \[0, 5\) for v with 5 neurons, got \[7\]"),
        (lambda: plot.raster(SPIKES, dt=0.0), r"dt must be positive, got 0.0"),
        (lambda: plot.firing_rate_histogram(SPIKES, dt=-1e-3), r"dt must be positive, got -0.001"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_non_arrays_raise_type_error():
    with pytest.raises(TypeError, match="spikes must be an array, got list"):
        plot.raster([[0, 1]])


def test_importing_spikejax_does_not_import_matplotlib():
    code = "import sys, spikejax; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_receptive_fields_tile_each_neuron_in_a_grid():
    weights = np.arange(5 * 12, dtype=np.float32).reshape(5, 12)  # 5 neurons of 3x4 inputs
    ax = plot.receptive_fields(jnp.asarray(weights), shape=(3, 4))
    mosaic = np.asarray(ax.images[0].get_array().filled(np.nan))
    assert mosaic.shape == (2 * 4 - 1, 3 * 5 - 1)  # 3 columns (ceil sqrt 5), 2 rows, 1-pixel gaps
    np.testing.assert_array_equal(mosaic[0:3, 0:4], weights[0].reshape(3, 4))
    np.testing.assert_array_equal(mosaic[4:7, 5:9], weights[4].reshape(3, 4))  # row 1, column 1
    assert np.isnan(mosaic[3]).all() and np.isnan(mosaic[4:7, 10:14]).all()  # gap, empty tile
    assert ax.get_title() == "Receptive fields" and ax.get_xticks().size == 0
    one_row = plot.receptive_fields(weights, shape=(3, 4), columns=5, title=None)
    assert one_row.images[0].get_array().shape == (3, 24) and one_row.get_title() == ""


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot.receptive_fields(np.ones(784)), r"weights must have rank 2 with layout \(N, H \* W\), got shape \(784,\)"),
        (lambda: plot.receptive_fields(np.ones((2, 700))), r"weights has 700 inputs per neuron \(shape \(2, 700\)\), expected H \* W = 784 for shape \(28, 28\)"),
        (lambda: plot.receptive_fields(np.ones((2, 4)), shape=(2, 0)), r"shape must be two positive integers \(H, W\), got \(2, 0\)"),
        (lambda: plot.receptive_fields(np.ones((2, 4)), shape=4), r"shape must be two positive integers \(H, W\), got 4"),
        (lambda: plot.receptive_fields(np.ones((2, 4)), shape=(2, 2), columns=0), r"columns must be a positive integer, got 0"),
        (lambda: plot.receptive_fields(np.ones((0, 4)), shape=(2, 2)), r"weights must hold at least one neuron"),
    ],
)
def test_receptive_fields_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_receptive_fields_of_a_list_is_a_type_error():
    with pytest.raises(TypeError, match="weights must be an array, got list"):
        plot.receptive_fields([[0.0] * 784])


def test_the_style_options_reach_the_artists():
    """marker_size, color, cmap and title change what is drawn (issue 14: no option unchecked)."""
    ax = plot.raster(SPIKES, marker_size=7.0, color="red", title="layer 2")
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_sizes(), [7.0])
    np.testing.assert_allclose(points.get_edgecolors()[0], matplotlib.colors.to_rgba("red"))
    assert ax.get_title() == "layer 2"
    assert plot.heatmap(VOLTAGES, cmap="magma", title="v").images[0].get_cmap().name == "magma"
    assert plot.membrane_traces(VOLTAGES, title=None).get_title() == ""
    hist = plot.firing_rate_histogram(SPIKES, color="green")
    np.testing.assert_allclose(hist.patches[0].get_facecolor(), matplotlib.colors.to_rgba("green"))
    fields = plot.receptive_fields(np.ones((2, 4)), shape=(2, 2), cmap="Blues")
    assert fields.images[0].get_cmap().name == "Blues"


def test_heatmap_in_seconds_spans_the_steps_times_dt():
    ax = plot.heatmap(VOLTAGES, dt=2e-3)
    np.testing.assert_allclose(ax.images[0].get_extent(), [-1e-3, (T - 0.5) * 2e-3, -0.5, N - 0.5])
    assert ax.get_xlabel() == "time (s)"
    steps = plot.heatmap(VOLTAGES)
    np.testing.assert_allclose(steps.images[0].get_extent(), [-0.5, T - 0.5, -0.5, N - 0.5])
