"""Hand-counted FLOPs of one training step (multiply-add = 2 FLOPs; backward = 2x forward).

Only matmul-like work is counted (convolutions, dense layers, score and message products,
GRU gates, the tied softmax); element-wise ops, normalisation and the embedding lookup are
left out, as is usual for utilisation figures.

Notation: batch B, window T, width d, graph layers L, heads K, head size H, CNN depth C,
kernel k, context length D, sampled positions P, vocabulary V, N = B * P * D decoder rows.
A GRU over R rows with input size I and state size u costs 2 R (I + u) 3u (three gates, an
input and a recurrent projection each).

GLoMo, one direction, forward:

    CNNs          2 roles x C x 2 B T k d^2            (key and query causal Conv1D stacks)
    projections   2 roles x 2 B T d (L K H)            (key and query Dense, all layers at once)
    scores        2 B L K T^2 H                        (s_ij = q_i . k_j)
    thresholds    2 B L K T H                          (sparse mode 4: theta_i = w_l . q_i)
    messages      2 B (L - 1 + rho) T^2 d              (K heads of d/K along each graph)
    cells         (L - 1 + rho) GRU(B T, 2d, d)        (the shared cell, input [m*f; m])
    decoder       decoder_layers x GRU(N, d, d)
    softmax       2 N d V                              (tied to E, bias-free)

rho = 1 for the plain step; the fused step (`GLoMoPretrainer(fused=True)`) runs the last
layer only at the P sampled positions, rho = P / T. A train step is 3x the forward (the
backward pass costs two matmuls per forward matmul) times 2 directions.

Transformer LM (the baseline, `bench/transformer_lm.py`), forward:

    per layer     2 B T d 3d + 2 x 2 B T^2 d + 2 B T d^2 + 2 x 2 B T d 4d
    (q/k/v projections, scores and weighted sum over the full T x T as MultiHeadAttention
    computes them, output projection, 4d feed-forward) x L, plus the same decoder and softmax.

`graph_matmul_flops` counts the same thing independently, from the shapes of the MatMul,
BatchMatMul, Einsum and Conv2D ops of a traced TensorFlow graph; a test checks the hand
count against it on one direction of a small model.
"""

import numpy as np


def gru_flops(rows, input_dim, units):
    # Three gates: input projection [input_dim, 3u] and recurrent projection [u, 3u].
    return 2 * rows * (input_dim + units) * 3 * units


def decoder_and_softmax_flops(c, batch):
    rows = batch * c.num_sampled_positions * c.context_length
    d = c.hidden_dim
    return c.decoder_layers * gru_flops(rows, d, d) + 2 * rows * d * c.vocabulary_size


def graph_and_feature_flops(c, batch, length, fused=False):
    """Graph predictor + feature predictor of one direction, forward."""
    b, t, d = batch, length, c.hidden_dim
    width = c.num_layers * c.num_heads * c.head_dim
    rho = min(c.num_sampled_positions, t) / t if fused else 1.0
    layers = c.num_layers - 1 + rho
    cnn = 2 * c.cnn_layers * 2 * b * t * c.kernel_size * d * d  # key and query CNNs
    projections = 2 * 2 * b * t * d * width  # key and query Dense
    scores = 2 * b * c.num_layers * c.num_heads * t * t * c.head_dim
    thresholds = 2 * b * c.num_layers * c.num_heads * t * c.head_dim if c.sparse_mode == 4 else 0
    messages = 2 * b * layers * t * t * d  # K heads of d/K each
    cells = layers * gru_flops(b * t, 2 * d, d)
    return cnn + projections + scores + thresholds + messages + cells


def glomo_forward_flops(c, batch, length, fused=False):
    """One direction of GLoMoPretrainer, forward pass only."""
    return graph_and_feature_flops(c, batch, length, fused) + decoder_and_softmax_flops(c, batch)


def glomo_train_flops(c, batch, length, fused=False):
    return 3 * 2 * glomo_forward_flops(c, batch, length, fused)


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


def _einsum_flops(equation, shapes):
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    sizes = {}
    for labels, shape in zip(inputs, shapes):
        if "." in labels:
            return None  # broadcasting einsums do not occur in the counted layers
        for label, size in zip(labels, shape):
            sizes[label] = size
    return 2 * int(np.prod(list(sizes.values())))


def graph_matmul_flops(graph):
    """FLOPs of the matmul-like ops of a traced `tf.Graph` (static shapes needed).

    Counts MatMul / BatchMatMul* (2 x batch x m x k x n), Einsum (2 x product of all index
    sizes) and Conv2D (2 x output size x kernel height x width x input channels; keras'
    Conv1D runs as a Conv2D). Returns `{op type: FLOPs}`.
    """
    counts = {}
    for op in graph.get_operations():
        shapes = [x.shape.as_list() for x in op.inputs]
        if op.type == "MatMul":
            a, b = shapes
            m, k = (a[1], a[0]) if op.get_attr("transpose_a") else tuple(a)
            n = b[0] if op.get_attr("transpose_b") else b[1]
            flops = 2 * m * k * n
        elif op.type.startswith("BatchMatMul"):
            a, b = shapes
            adj_x = op.get_attr("adj_x")
            adj_y = op.get_attr("adj_y")
            m, k = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
            n = b[-2] if adj_y else b[-1]
            batch = int(np.prod(np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])) or (1,)))
            flops = 2 * batch * m * k * n
        elif op.type == "Einsum":
            flops = _einsum_flops(op.get_attr("equation").decode(), shapes)
        elif op.type == "Conv2D":
            kernel = shapes[1]
            out = op.outputs[0].shape.as_list()
            flops = 2 * int(np.prod(out)) * kernel[0] * kernel[1] * kernel[2]
        else:
            continue
        if flops is None:
            raise ValueError(f"Cannot count {op.type} {op.name}: shapes {shapes}")
        counts[op.type] = counts.get(op.type, 0) + flops
    return counts
