"""Heatmaps of predicted graphs, for TensorBoard during pretraining and for `glomo graphs`."""

import io

import matplotlib

matplotlib.use("Agg")  # Headless: training machines have no display.

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DIRECTION_NAMES = ("forward", "backward")
# Beyond this many tokens the tick labels overlap into a black bar.
_MAX_LABELLED_TOKENS = 48


def _plain(text):
    """`text` as matplotlib can draw it literally: `$` is not mathtext, surrogates are U+FFFD."""
    return str(text).encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def plot_graphs(graphs, tokens=None, path=None, title=None):
    """Draws every graph of one sequence as a heatmap grid.

    Rows of the grid are (direction, layer), columns are heads. In each heatmap row `i`
    is the unit that reads and column `j` the unit read, as in `ARCHITECTURE.md`.

    Args:
        graphs: array `[2, L, K, T, T]` (both directions, backward already in input
            order, as `GLoMoPretrainer.predict_graphs` returns for one example) or
            `[L, K, T, T]` (one direction).
        tokens: optional `T` strings used as axis labels (shown when T <= 48).
        path: if given, the figure is also written there (format from the suffix).
        title: optional figure title.

    Returns:
        A `matplotlib.figure.Figure` (close it with `plt.close(fig)` when done).

    Raises:
        ValueError: if `graphs` is not rank 4 or 5 with square last two dimensions, or
            `tokens` does not have T entries.

    Example:
    >>> import numpy as np
    >>> fig = plot_graphs(np.full((2, 1, 2, 4, 4), 0.25), ["a", "b", "c", "d"])
    >>> len(fig.axes) >= 4
    True
    """
    graphs = np.asarray(graphs, dtype=np.float32)
    if graphs.ndim == 4:
        graphs = graphs[None]
        directions = ("graph",)
    elif graphs.ndim == 5:
        directions = DIRECTION_NAMES if graphs.shape[0] == 2 else tuple(f"direction {d}" for d in range(graphs.shape[0]))
    else:
        raise ValueError(f"`graphs` must be [2, L, K, T, T] or [L, K, T, T]; got shape {graphs.shape}.")
    if graphs.shape[-1] != graphs.shape[-2]:
        raise ValueError(f"Graphs must be square T x T; got shape {graphs.shape}.")
    num_directions, num_layers, num_heads, length = graphs.shape[:4]
    if tokens is not None:
        tokens = [_plain(t) for t in tokens]
        if len(tokens) != length:
            raise ValueError(f"Got {len(tokens)} tokens for graphs over T = {length} units.")
    rows = num_directions * num_layers
    cell = 2.2 if length <= 16 else 3.2
    fig, axes = plt.subplots(rows, num_heads, figsize=(cell * num_heads + 1.0, cell * rows + 0.6),
                             squeeze=False)
    vmax = max(float(graphs.max()), 1e-6)
    image = None
    for d in range(num_directions):
        for layer in range(num_layers):
            for head in range(num_heads):
                ax = axes[d * num_layers + layer, head]
                image = ax.imshow(graphs[d, layer, head], cmap="viridis", vmin=0.0, vmax=vmax,
                                  interpolation="nearest")
                ax.set_title(f"{directions[d]} L{layer + 1} H{head + 1}", fontsize=8)
                if tokens is not None and length <= _MAX_LABELLED_TOKENS:
                    ax.set_xticks(range(length))
                    ax.set_yticks(range(length))
                    # parse_math=False: a token like "$5" is text, not a formula.
                    ax.set_xticklabels(tokens, rotation=90, fontsize=5, parse_math=False)
                    ax.set_yticklabels(tokens, fontsize=5, parse_math=False)
                else:
                    ax.set_xticks([])
                    ax.set_yticks([])
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6)
    if title:
        fig.suptitle(_plain(title), fontsize=10, parse_math=False)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def figure_to_png(fig, dpi=80):
    """PNG bytes of a figure (then closes it): what `tf.summary.image` needs after decoding."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()
