import matplotlib.pyplot as plt
import numpy as np
import pytest

from glomo_tf.training.graph_plots import figure_to_png, plot_graphs


def test_one_panel_per_direction_layer_head_with_token_labels(tmp_path):
    graphs = np.random.default_rng(0).random((2, 3, 2, 5, 5))
    path = tmp_path / "graphs.png"
    fig = plot_graphs(graphs, ["a", "b", "c", "d", "e"], path=str(path), title="t")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 * 3 * 2
    assert panels[0].get_title() == "forward L1 H1"
    assert panels[-1].get_title() == "backward L3 H2"
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["a", "b", "c", "d", "e"]
    # Heatmap values are the graph itself (row i reads column j).
    np.testing.assert_allclose(panels[1].images[0].get_array(), graphs[0, 0, 1])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure_to_png(fig)[:4] == b"\x89PNG"


def test_single_direction_and_errors():
    fig = plot_graphs(np.zeros((1, 1, 3, 3)))
    assert len([ax for ax in fig.axes if ax.get_title()]) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="must be"):
        plot_graphs(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="square"):
        plot_graphs(np.zeros((2, 1, 1, 3, 4)))
    with pytest.raises(ValueError, match="2 tokens"):
        plot_graphs(np.zeros((2, 1, 1, 3, 3)), ["a", "b"])
