"""Hand-counted FLOPs of one training step (multiply-add = 2 FLOPs; backward = 2x forward).

Only matmul-like work is counted (convolutions, dense layers, score and message products,
GRU gates, the tied softmax); element-wise ops, normalisation and the embedding lookup are
left out, as is usual for utilisation figures.
"""


def gru_flops(rows, input_dim, units):
    # Three gates: input projection [input_dim, 3u] and recurrent projection [u, 3u].
    return 2 * rows * (input_dim + units) * 3 * units


def decoder_and_softmax_flops(c, batch):
    rows = batch * c.num_sampled_positions * c.context_length
    d = c.hidden_dim
    return c.decoder_layers * gru_flops(rows, d, d) + 2 * rows * d * c.vocabulary_size


def glomo_forward_flops(c, batch, length):
    """One direction of GLoMoPretrainer, forward pass only."""
    b, t, d = batch, length, c.hidden_dim
    width = c.num_layers * c.num_heads * c.head_dim
    cnn = 2 * c.cnn_layers * 2 * b * t * c.kernel_size * d * d  # key and query CNNs
    projections = 2 * 2 * b * t * d * width  # key and query Dense
    scores = 2 * b * c.num_layers * c.num_heads * t * t * c.head_dim
    messages = 2 * b * c.num_layers * t * t * d  # K heads of d/K each
    cells = c.num_layers * gru_flops(b * t, 2 * d, d)
    return cnn + projections + scores + messages + cells + decoder_and_softmax_flops(c, b)


def glomo_train_flops(c, batch, length):
    return 3 * 2 * glomo_forward_flops(c, batch, length)


def transformer_forward_flops(c, batch, length, ffn_multiplier=4):
    """A causal MultiHeadAttention LM: K heads of d/K, FFN of ffn_multiplier*d, same loss head."""
    b, t, d = batch, length, c.hidden_dim
    per_layer = (
        2 * b * t * d * 3 * d  # q, k, v projections
        + 2 * 2 * b * t * t * d  # scores and weighted sum (full T x T, as MHA computes it)
        + 2 * b * t * d * d  # output projection
        + 2 * 2 * b * t * d * ffn_multiplier * d  # feed-forward
    )
    return c.num_layers * per_layer + decoder_and_softmax_flops(c, b)


def transformer_train_flops(c, batch, length):
    return 3 * transformer_forward_flops(c, batch, length)
