"""The graph module's output contract as numpy checks.

Imports numpy only: the fresh-process test runs this file's source next to nothing but
tensorflow, tensorflow_text and tensorflow_hub.
"""

import numpy as np


def check_graph_contract(tokens, mask, graphs, num_layers, num_heads, max_length):
    """Asserts the format-1 contract on one batch of `module.graphs` outputs (numpy)."""
    tokens, mask, graphs = np.asarray(tokens), np.asarray(mask), np.asarray(graphs)
    batch, length = mask.shape
    assert mask.dtype == np.int32 and graphs.dtype == np.float32
    assert graphs.shape == (batch, 2, num_layers, num_heads, length, length), graphs.shape
    assert 1 <= length <= max_length
    assert set(np.unique(mask)) <= {0, 1}
    # Tokens consistent with the mask: real tokens are non-empty, padding is "".
    assert tokens.shape == mask.shape
    assert np.all((tokens != b"") == (mask == 1))
    # Real tokens form a prefix of every row.
    assert np.all(np.diff(mask, axis=1) <= 0)
    assert np.all(np.isfinite(graphs)) and np.all(graphs >= 0)
    rows = np.arange(length)[:, None]
    cols = np.arange(length)[None, :]
    forward, backward = graphs[:, 0], graphs[:, 1]
    assert np.all(forward[..., ~(cols < rows)] == 0), "forward graph reads j >= i"
    assert np.all(backward[..., ~(cols > rows)] == 0), "backward graph reads j <= i"
    pad = mask == 0
    for b in range(batch):
        assert np.all(graphs[b][..., pad[b], :] == 0), "padding row not 0"
        assert np.all(graphs[b][..., :, pad[b]] == 0), "padding column not 0"
    sums = graphs.sum(axis=-1)
    assert np.all((np.abs(sums - 1) < 1e-4) | (sums == 0)), "rows must sum to 1 or 0"
