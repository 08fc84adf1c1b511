import matplotlib.image
import pytest

from glomo_tf.export.graph_module import load_graph_module
from glomo_tf.export.graph_rendering import render_graphs
from tests.export import tiny_module


@pytest.fixture(scope="module")
def module_path():
    return tiny_module.exported_module()[1]


def test_writes_a_png(module_path, tmp_path):
    out = render_graphs(module_path, "The cat sat on the mat .", tmp_path / "sub" / "g.png")
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_subset_of_layers_and_heads_is_smaller(module_path, tmp_path):
    module = load_graph_module(module_path)
    full = matplotlib.image.imread(
        render_graphs(module, "a dog ran", tmp_path / "full.png", dpi=40))
    one = matplotlib.image.imread(
        render_graphs(module, "a dog ran", tmp_path / "one.png", layers=[1], heads=[0], dpi=40))
    assert one.shape[0] < full.shape[0] and one.shape[1] < full.shape[1]


def test_bad_arguments(module_path, tmp_path):
    module = load_graph_module(module_path)
    with pytest.raises(ValueError, match=r"out of range.*0\.\.1"):
        render_graphs(module, "a dog", tmp_path / "x.png", layers=[2])
    with pytest.raises(ValueError, match="heads"):
        render_graphs(module, "a dog", tmp_path / "x.png", heads=[])
    with pytest.raises(ValueError, match="no tokens"):
        render_graphs(module, "   ", tmp_path / "x.png")
    with pytest.raises(ValueError, match="one Python str"):
        render_graphs(module, ["a", "b"], tmp_path / "x.png")
    with pytest.raises(FileNotFoundError):
        render_graphs(tmp_path / "missing", "a", tmp_path / "x.png")
