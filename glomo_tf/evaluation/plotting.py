"""A picture of one sentence's graphs with its gold dependency arcs drawn over them.

Each panel is one (direction, layer, head) graph as a heatmap (row i = the word that
reads, column j = the word read, as everywhere in glomo_tf). A gold arc "word c depends on
word h" is a red square on cell (c, h) of the panels of the direction that can attach it:
forward panels when h < c, backward panels when h > c. A white dot marks each row's top-1
column, so a square with a dot inside is an attachment.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: evaluation runs on servers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from glomo_tf.evaluation.attachment import SIDES  # noqa: E402


def _plain(text):
    """`text` as matplotlib draws it literally (surrogates become U+FFFD)."""
    return str(text).encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def example_sentence(sentences, min_words=8, max_words=20):
    """Index of the first sentence with min_words..max_words words (else the longest
    shorter one, else the first)."""
    for i, sentence in enumerate(sentences):
        if min_words <= len(sentence) <= max_words:
            return i
    shorter = [i for i, s in enumerate(sentences) if len(s) < min_words]
    return max(shorter, key=lambda i: len(sentences[i])) if shorter else 0


def plot_sentence_graphs(graphs, words, heads, panels, path=None, title=None):
    """Draws chosen graphs of one sentence with its gold arcs.

    Args:
        graphs: `[2, L, K, n, n]` (backward in input order) for the sentence's n words (or
            its first n, when the module truncated it).
        words: the sentence's words (at least n).
        heads: gold heads, 1-based, 0 = root (at least n).
        panels: `(direction, layer, head)` triples, 0-based; direction 0 = forward.
        path: if given, the PNG is written there atomically.
        title: figure title.

    Returns:
        The `matplotlib.figure.Figure` (close it with `plt.close(fig)`).

    Raises:
        ValueError: bad graph shape, too few words or heads, a panel outside the graphs.

    Example:
    >>> import numpy as np
    >>> g = np.zeros((2, 1, 1, 3, 3)); g[0, 0, 0, 1, 0] = g[0, 0, 0, 2, 1] = 1
    >>> fig = plot_sentence_graphs(g, ["a", "b", "c"], [2, 0, 2], [(0, 0, 0), (1, 0, 0)])
    >>> len(fig.axes) >= 2
    True
    """
    graphs = np.asarray(graphs, np.float32)
    if graphs.ndim != 5 or graphs.shape[0] != 2 or graphs.shape[-1] != graphs.shape[-2]:
        raise ValueError(f"graphs must be [2, L, K, n, n]; got shape {graphs.shape}.")
    n = graphs.shape[-1]
    if len(words) < n or len(heads) < n:
        raise ValueError(f"graphs cover {n} words but got {len(words)} words, "
                         f"{len(heads)} heads.")
    panels = [tuple(int(x) for x in p) for p in panels]
    for d, layer, head in panels:
        if not (0 <= d < 2 and 0 <= layer < graphs.shape[1] and 0 <= head < graphs.shape[2]):
            raise ValueError(f"panel {(d, layer, head)} is outside graphs {graphs.shape[:3]}.")
    if not panels:
        raise ValueError("no panels to draw.")
    labels = [_plain(w) for w in words[:n]]
    columns = min(len(panels), 2)
    rows = (len(panels) + columns - 1) // columns
    cell = 0.28 * max(n, 6) + 1.2
    fig, axes = plt.subplots(rows, columns, figsize=(cell * columns + 1.0, cell * rows + 0.8),
                             squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, (d, layer, head) in zip(axes.ravel(), panels):
        graph = graphs[d, layer, head]
        ax.imshow(graph, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        live = graph.max(-1) > 0
        top1 = graph.argmax(-1)
        ax.scatter(top1[live], np.arange(n)[live], s=9, c="white", marker="o", linewidths=0)
        arcs = [(c, h - 1) for c, h in enumerate(heads[:n])
                if h and h - 1 < n and ((h - 1 < c) == (d == 0))]
        hits = sum(live[c] and top1[c] == h for c, h in arcs)
        if arcs:
            ax.scatter([h for _, h in arcs], [c for c, _ in arcs], s=60, marker="s",
                       facecolors="none", edgecolors="red", linewidths=1.2)
        ax.set_title(f"{SIDES[d]} L{layer + 1} H{head + 1}: {hits}/{len(arcs)} gold arcs",
                     fontsize=8)
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        # parse_math=False: a word like "$5" is text, not a formula.
        ax.set_xticklabels(labels, rotation=90, fontsize=6, parse_math=False)
        ax.set_yticklabels(labels, fontsize=6, parse_math=False)
        ax.set_xlabel("read (j)", fontsize=7)
        ax.set_ylabel("reads (i)", fontsize=7)
    if title:
        fig.suptitle(_plain(title), fontsize=9, parse_math=False)
    fig.tight_layout()
    if path is not None:
        from glomo_tf.files.atomic_write import atomic_write

        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    return fig


def plot_example(graph_module, sentence, result, path, per_direction=2):
    """Plots `sentence` under a module: its best heads of each direction (from `result`)."""
    import tensorflow as tf  # noqa: F401  (the module's functions return tensors)

    out = graph_module.graphs_from_tokens([list(sentence.words)])
    n = int(out["mask"].numpy()[0].sum())
    graphs = out["graphs"].numpy()[0][..., :n, :n]
    panels = []
    for d, side in enumerate(SIDES):
        shares = np.asarray(result["per_head"][side])
        order = np.argsort(-shares, axis=None, kind="stable")[:per_direction]
        panels += [(d,) + tuple(int(x) for x in np.unravel_index(i, shares.shape))
                   for i in order]
    text = " ".join(sentence.words)
    title = text if len(text) <= 90 else text[:87] + "..."
    fig = plot_sentence_graphs(graphs, sentence.words, sentence.heads, panels, path=path,
                               title=title)
    plt.close(fig)
    return path
