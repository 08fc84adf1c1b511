"""`render_graphs`: heatmaps of a graph module's graphs for one piece of text (`glomo graphs`).

The drawing itself is `glomo_tf.training.graph_plots.plot_graphs` (also used for the
TensorBoard images during pretraining); this module feeds it from an exported module.
"""

import os

import numpy as np

from glomo_tf.export.graph_module import GraphModule, load_graph_module

DIRECTION_NAMES = ("forward", "backward")


def _select(indices, count, what):
    if indices is None:
        return list(range(count))
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError(f"`{what}` must name at least one {what[:-1]} (0-based), or be None.")
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise ValueError(
            f"`{what}` {bad} out of range: the module has {count} {what} (0-based 0..{count - 1})."
        )
    return indices


def render_graphs(module_path, text, out_png, layers=None, heads=None, dpi=100):
    """Writes a PNG of heatmaps, one per direction x layer x head, tokens as tick labels.

    Args:
        module_path: a module directory, or a `GraphModule` from `load_graph_module`.
        text: one string (it is tokenised by the module; only real tokens are drawn).
        out_png: output file (parent directories are created).
        layers: optional 0-based graph layers to draw (default all).
        heads: optional 0-based heads to draw (default all).
        dpi: resolution of the PNG.

    Returns:
        `out_png`.

    Raises:
        ValueError: `text` is not a string or has no tokens, or `layers`/`heads` are out of
            range (the valid range is named).
        FileNotFoundError: the module is missing (see `load_graph_module`).

    Example:
    ```python
    render_graphs("saved_models/glomo_tiny", "The cat sat on the mat .", "graphs.png",
                  layers=[0], heads=[0, 1])
    ```
    """
    import matplotlib.pyplot as plt

    from glomo_tf.training.graph_plots import plot_graphs

    if not isinstance(text, str):
        raise ValueError(f"`text` must be one Python str; got {type(text).__name__}.")
    module = module_path if isinstance(module_path, GraphModule) else load_graph_module(
        module_path)
    layers = _select(layers, module.config["num_layers"], "layers")
    heads = _select(heads, module.config["num_heads"], "heads")
    outputs = module.graphs([text])
    length = int(np.sum(outputs["mask"].numpy()[0]))
    if length == 0:
        raise ValueError(f"{text!r} has no tokens after the module's tokenization.")
    tokens = [t.decode("utf-8", "replace") for t in outputs["tokens"].numpy()[0, :length]]
    graphs = outputs["graphs"].numpy()[0, :, :, :, :length, :length]
    graphs = graphs[:, layers][:, :, heads]
    fig = plot_graphs(graphs, tokens, title=f"{os.path.basename(module.path)}: {text[:60]}")
    try:
        # plot_graphs numbers the panels by position; name the layers/heads actually drawn.
        panels = [ax for ax in fig.axes if ax.images]
        names = [f"{DIRECTION_NAMES[d]} L{layer + 1} H{head + 1}"
                 for d in range(2) for layer in layers for head in heads]
        for ax, name in zip(panels, names):
            ax.set_title(name, fontsize=8)
        out_png = os.fspath(out_png)
        os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
        fig.savefig(out_png, dpi=dpi)
    finally:
        plt.close(fig)
    return out_png
