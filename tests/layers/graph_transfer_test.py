import keras
import numpy as np
import pytest

from glomo_tf.layers.gated_linear import GatedLinear
from glomo_tf.layers.graph_transfer import GraphTransfer, num_graph_candidates


# ---------------------------------------------------------------- tiny data
def causal_graphs(rng, batch, layers, heads, steps, lengths=None):
    """Random row-normalised graphs [B, 2, L, K, T, T] obeying the contract."""
    lengths = [steps] * batch if lengths is None else lengths
    graphs = rng.uniform(0.1, 1.0, size=(batch, 2, layers, heads, steps, steps))
    rows = np.arange(steps)[:, None]
    cols = np.arange(steps)[None, :]
    graphs[:, 0] *= cols < rows  # forward: j < i
    graphs[:, 1] *= cols > rows  # backward, in input order: j > i
    for b, n in enumerate(lengths):
        graphs[b, ..., n:, :] = 0.0
        graphs[b, ..., :, n:] = 0.0
    sums = graphs.sum(-1, keepdims=True)
    return (graphs / np.where(sums > 0, sums, 1.0)).astype("float32")


def lengths_mask(lengths, steps):
    return (np.arange(steps)[None, :] < np.array(lengths)[:, None]).astype("float32")


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def weight(layer, suffix):
    matches = [w for w in layer.weights if w.path.endswith(suffix)]
    assert len(matches) == 1, (suffix, [w.path for w in layer.weights])
    return matches[0]


# ------------------------------------------------------------ numpy reference
def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def reference_candidates(graphs, hierarchical):
    """Γ as explicit T x T matrices: [B, 2, C, T, T], c = kind * K + head."""
    layers = graphs.shape[2]
    kinds, chained = [], None
    for l in range(layers):
        g = graphs[:, :, l].astype("float64")
        kinds.append(g)
        if hierarchical:
            chained = g if chained is None else g @ chained  # Λ^l = G^l Λ^{l-1}
            if l > 0:
                kinds.append(chained)
    return np.concatenate(kinds, axis=2)


def reference_transfer(layer, h, graphs, mask):
    """GraphTransfer's output from the spec's formulas, forming M explicitly."""
    h = h.astype("float64")
    hm = h * mask[..., None]
    gamma = reference_candidates(graphs, layer.hierarchical)
    scales = to_numpy(weight(layer, "mixture_scales"))
    parts = [h]
    for m in range(layer.num_mixtures):
        for n, direction in enumerate(("fw", "bw")):
            prefix = f"{direction}_mixture_{m + 1}"
            if layer.token_conditioned:
                logits = h @ to_numpy(weight(layer, prefix + "_kernel")) + to_numpy(
                    weight(layer, prefix + "_bias")
                )
            else:
                logits = np.broadcast_to(
                    to_numpy(weight(layer, prefix + "_logits")),
                    h.shape[:2] + (gamma.shape[2],),
                )
            w = softmax(logits)  # [B, T, C]
            mixture = np.einsum("bic,bcij->bij", w, gamma[:, n])  # M_ij
            parts.append(scales[m * 2 + n] * (mixture @ hm))
    return reference_gate(layer.gate, h, np.concatenate(parts, -1), mask)


def reference_gate(gate, h, x, mask):
    value = x @ to_numpy(gate.kernel) + to_numpy(gate.bias)
    g = value * sigmoid(x @ to_numpy(gate.gate_kernel) + to_numpy(gate.gate_bias))
    return np.concatenate([h, g * mask[..., None]], -1)


# ------------------------------------------------------------ shared helper
def run_layer_test(
    init_kwargs, batch=2, steps=4, dim=3, layers=3, heads=2, lengths=None
):
    """Builds GraphTransfer(**init_kwargs) and checks output shape and weights."""
    rng = np.random.default_rng(0)
    layer = GraphTransfer(**init_kwargs)
    h = rng.normal(size=(batch, steps, dim)).astype("float32")
    graphs = causal_graphs(rng, batch, layers, heads, steps, lengths)
    mask = lengths_mask(lengths or [steps] * batch, steps)
    out = layer(h, graphs=graphs, mask=mask)
    mode = layer.mode
    out_dim = dim if mode == "none" else 2 * dim
    assert tuple(out.shape) == (batch, steps, out_dim)
    assert tuple(layer.compute_output_shape(h.shape, graphs.shape)) == out.shape
    assert np.all(np.isfinite(to_numpy(out)))
    np.testing.assert_array_equal(to_numpy(out)[..., :dim], h)

    mixtures = layer.num_mixtures
    if mode == "graphs":
        cands = num_graph_candidates(layers, heads, layer.hierarchical)
        per_mixture = 2 if layer.token_conditioned else 1
        num_weights = 2 * mixtures * per_mixture + 1 + 4
        gate_in = (1 + 2 * mixtures) * dim
        mixture_params = 2 * mixtures * (
            (dim + 1) * cands if layer.token_conditioned else cands
        )
        num_params = mixture_params + 2 * mixtures + 2 * (gate_in * dim + dim)
    elif mode == "uniform":
        num_weights, num_params = 4, 2 * (2 * dim * dim + dim)
    else:
        num_weights, num_params = 0, 0
    assert len(layer.trainable_weights) == num_weights
    assert layer.count_params() == num_params
    assert not layer.non_trainable_weights
    return layer, out


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"mode": "graphs"},
        {"mode": "graphs", "num_mixtures": 1},
        {"mode": "graphs", "num_mixtures": 3, "hierarchical": False},
        {"mode": "graphs", "token_conditioned": False},
        {"mode": "graphs", "dropout": 0.3},
        {"mode": "uniform"},
        {"mode": "uniform", "dropout": 0.3},
        {"mode": "none"},
    ],
)
def test_shapes_and_weight_counts(init_kwargs):
    run_layer_test(init_kwargs, lengths=[4, 2])


def test_candidate_count():
    assert num_graph_candidates(3, 8) == 40  # the released configuration
    assert num_graph_candidates(3, 8, hierarchical=False) == 24
    assert num_graph_candidates(1, 4) == 4
    layer, _ = run_layer_test({"mode": "graphs"}, layers=3, heads=2)
    assert layer.num_candidates == 10


def test_none_mode_is_identity_and_ignores_graphs():
    h = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    out = GraphTransfer(mode="none")(h)
    np.testing.assert_array_equal(to_numpy(out), h)


# -------------------------------------------------------------- correctness
def test_hierarchical_products_by_hand():
    g1 = np.array([[0, 0, 0], [1, 0, 0], [0.5, 0.5, 0]], "float32")
    g2 = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], "float32")
    graphs = np.zeros((1, 2, 2, 1, 3, 3), "float32")
    graphs[0, 0, 0, 0], graphs[0, 0, 1, 0] = g1, g2
    gamma = reference_candidates(graphs, hierarchical=True)
    # Λ^2 = G^2 G^1: row 2 reads row 1 of G^1, which points at unit 0.
    lam2 = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0]])
    np.testing.assert_allclose(gamma[0, 0, 2], lam2)
    np.testing.assert_allclose(gamma[0, 0, :2], np.stack([g1, g2]))

    # With all mixture logits equal, M = mean of the 3 candidates.
    layer = GraphTransfer(mode="graphs", num_mixtures=1, token_conditioned=False)
    h = np.array([[[1.0, 0.0], [0.0, 2.0], [4.0, 8.0]]], "float32")
    layer(h, graphs=graphs)
    gate = layer.gate
    # Gate input [h; fw context; bw context]: let the value be the fw context.
    gate.kernel.assign(np.vstack([np.zeros((2, 2)), np.eye(2), np.zeros((2, 2))]))
    gate.gate_kernel.assign(np.zeros((6, 2)))
    gate.gate_bias.assign(np.full((2,), 100.0))  # gate fully open
    mixture = (g1 + g2 + lam2) / 3.0
    expected = mixture @ h[0]
    # Row 2 of M is [0.5, 0.5, 0]: half of h_0 plus half of h_1.
    np.testing.assert_allclose(expected[2], [0.5, 1.0])
    out = to_numpy(layer(h, graphs=graphs))
    np.testing.assert_allclose(out[0, :, 2:], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"num_mixtures": 2},
        {"num_mixtures": 2, "token_conditioned": False},
        {"num_mixtures": 1, "hierarchical": False},
    ],
)
def test_matches_numpy_reference_with_hand_set_weights(init_kwargs):
    rng = np.random.default_rng(3)
    batch, steps, dim, layers, heads = 2, 3, 2, 2, 1
    lengths = [3, 2]
    h = rng.normal(size=(batch, steps, dim)).astype("float32")
    graphs = causal_graphs(rng, batch, layers, heads, steps, lengths)
    mask = lengths_mask(lengths, steps)
    layer = GraphTransfer(mode="graphs", **init_kwargs)
    layer(h, graphs=graphs, mask=mask)
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    # Distinct scales catch an fw/bw or mixture mix-up in the concatenation.
    scales = weight(layer, "mixture_scales")
    scales.assign(np.arange(1, scales.shape[0] + 1, dtype="float32"))
    out = to_numpy(layer(h, graphs=graphs, mask=mask))
    expected = reference_transfer(layer, h, graphs, mask)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_uniform_is_gate_over_masked_mean():
    rng = np.random.default_rng(4)
    h = rng.normal(size=(2, 4, 3)).astype("float32")
    h[1, 2:] = 1e3  # padding that must not enter the mean
    mask = lengths_mask([4, 2], 4)
    layer = GraphTransfer(mode="uniform")
    layer(h, mask=mask)
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    out = to_numpy(layer(h, mask=mask))
    mean = np.stack([h[0].mean(0), h[1, :2].mean(0)])
    x = np.concatenate([h, np.broadcast_to(mean[:, None], h.shape)], -1)
    expected = reference_gate(layer.gate, h.astype("float64"), x, mask)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
def test_uniform_equals_graph_of_all_one_over_n():
    rng = np.random.default_rng(5)
    lengths, steps, dim = [4, 3], 4, 3
    h = rng.normal(size=(2, steps, dim)).astype("float32")
    mask = lengths_mask(lengths, steps)
    uniform = GraphTransfer(mode="uniform")
    uniform(h, mask=mask)
    for w in uniform.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))

    # One head, one layer, one mixture: the only candidate gets weight 1.
    graphs = np.zeros((2, 2, 1, 1, steps, steps), "float32")
    for b, n in enumerate(lengths):
        graphs[b, :, :, :, :n, :n] = 1.0 / n
    layer = GraphTransfer(mode="graphs", num_mixtures=1)
    layer(h, graphs=graphs, mask=mask)
    # Gate input [h; fw; bw] -> reuse the uniform gate on [h; fw], ignore bw.
    for name in ("kernel", "gate_kernel"):
        kernel = to_numpy(getattr(uniform.gate, name))
        getattr(layer.gate, name).assign(
            np.concatenate([kernel, np.zeros((dim, dim), "float32")])
        )
    for name in ("bias", "gate_bias"):
        getattr(layer.gate, name).assign(to_numpy(getattr(uniform.gate, name)))
    np.testing.assert_allclose(
        to_numpy(layer(h, graphs=graphs, mask=mask)),
        to_numpy(uniform(h, mask=mask)),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("mode", ["graphs", "uniform"])
def test_padding_invariance(mode):
    rng = np.random.default_rng(6)
    steps, pad, dim = 3, 2, 2
    h = rng.normal(size=(1, steps, dim)).astype("float32")
    graphs = causal_graphs(rng, 1, 2, 2, steps)
    layer = GraphTransfer(mode=mode, token_conditioned=True)
    short = to_numpy(layer(h, graphs=graphs, mask=np.ones((1, steps), "float32")))

    h_long = np.concatenate([h, rng.normal(size=(1, pad, dim)) * 1e3], 1).astype(
        "float32"
    )
    graphs_long = np.zeros((1, 2, 2, 2, steps + pad, steps + pad), "float32")
    graphs_long[..., :steps, :steps] = graphs
    # Padded columns that are not zero must still not leak (features are masked).
    graphs_long[..., :steps, steps:] = 0.7
    long = to_numpy(
        layer(h_long, graphs=graphs_long, mask=lengths_mask([steps], steps + pad))
    )
    np.testing.assert_allclose(long[:, :steps], short, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(long[:, steps:, dim:], 0.0)


@pytest.mark.parametrize("mode", ["graphs", "uniform"])
def test_empty_sequence_is_finite(mode):
    rng = np.random.default_rng(7)
    h = rng.normal(size=(2, 3, 2)).astype("float32")
    graphs = causal_graphs(rng, 2, 2, 1, 3, lengths=[3, 0])
    mask = lengths_mask([3, 0], 3)
    out = to_numpy(GraphTransfer(mode=mode)(h, graphs=graphs, mask=mask))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[1, :, 2:], 0.0)


def test_boolean_mask_and_default_mask():
    rng = np.random.default_rng(8)
    h = rng.normal(size=(2, 3, 2)).astype("float32")
    graphs = causal_graphs(rng, 2, 2, 1, 3)
    layer = GraphTransfer(mode="graphs")
    default = to_numpy(layer(h, graphs=graphs))
    boolean = to_numpy(layer(h, graphs=graphs, mask=np.ones((2, 3), bool)))
    np.testing.assert_allclose(default, boolean, rtol=1e-6)


def test_dropout_only_in_training():
    rng = np.random.default_rng(9)
    h = rng.normal(size=(2, 5, 4)).astype("float32")
    graphs = causal_graphs(rng, 2, 2, 2, 5)
    layer = GraphTransfer(mode="graphs", dropout=0.5, seed=1)
    inference = [to_numpy(layer(h, graphs=graphs)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    trained = to_numpy(layer(h, graphs=graphs, training=True))
    assert not np.allclose(trained, inference[0])


# ------------------------------------------------------- saving, training
def transfer_model(init_kwargs, dim=3, layers=2, heads=2):
    features = keras.Input(shape=(None, dim), name="features")
    graphs = keras.Input(shape=(2, layers, heads, None, None), name="graphs")
    mask = keras.Input(shape=(None,), name="mask")
    fused = GraphTransfer(name="transfer", **init_kwargs)(
        features, graphs=graphs, mask=mask
    )
    return keras.Model([features, graphs, mask], fused)


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"mode": "graphs"},
        {"mode": "graphs", "token_conditioned": False},
        {"mode": "uniform"},
    ],
)
def test_saved_model_round_trip(tmp_path, init_kwargs):
    rng = np.random.default_rng(10)
    model = transfer_model(init_kwargs)
    lengths = [4, 3]
    inputs = [
        rng.normal(size=(2, 4, 3)).astype("float32"),
        causal_graphs(rng, 2, 2, 2, 4, lengths),
        lengths_mask(lengths, 4),
    ]
    before = model.predict(inputs, verbose=0)
    path = str(tmp_path / "transfer.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    layer = restored.get_layer("transfer")
    assert isinstance(layer, GraphTransfer) and isinstance(layer.gate, GatedLinear)
    assert layer.get_config() == model.get_layer("transfer").get_config()
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), before, rtol=1e-6)


@pytest.mark.slow
def test_fit_reduces_loss_and_trains_every_weight():
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    batch, steps, dim = 8, 5, 3
    h = rng.normal(size=(batch, steps, dim)).astype("float32")
    graphs = causal_graphs(rng, batch, 2, 2, steps)
    mask = np.ones((batch, steps), "float32")
    # Target for g: the previous token's features, which only the graphs supply
    # (the H half of the output is passed through, so its error is 0).
    previous = np.concatenate([np.zeros((batch, 1, dim)), h[:, :-1]], 1)
    target = np.concatenate([h, previous], -1)
    model = transfer_model({"mode": "graphs"}, dim=dim)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    layer = model.get_layer("transfer")
    start = {w.path: to_numpy(w).copy() for w in layer.trainable_weights}
    history = model.fit(
        [h, graphs, mask], target.astype("float32"), epochs=20, batch_size=batch,
        verbose=0,
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    for w in layer.trainable_weights:
        assert not np.allclose(to_numpy(w), start[w.path]), w.path


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "init_kwargs, match",
    [
        ({"mode": "graph"}, "unknown mode"),
        ({"num_mixtures": 0}, "num_mixtures"),
        ({"num_mixtures": 1.5}, "num_mixtures"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments(init_kwargs, match):
    with pytest.raises(ValueError, match=match):
        GraphTransfer(**init_kwargs)


@pytest.mark.parametrize(
    "graphs_shape, match",
    [
        ((2, 2, 2, 4, 4), "rank 6"),
        ((2, 3, 2, 1, 4, 4), "2 directions"),
        ((2, 2, 2, 1, 5, 5), "T=4"),
        ((2, 2, 2, 1, 4, 5), "square"),
        ((3, 2, 2, 1, 4, 4), "batch"),
    ],
)
def test_bad_graphs_shape(graphs_shape, match):
    h = np.zeros((2, 4, 3), "float32")
    with pytest.raises(ValueError, match=match):
        GraphTransfer()(h, graphs=np.zeros(graphs_shape, "float32"))


def test_graphs_missing_in_graphs_mode():
    with pytest.raises(ValueError, match="needs `graphs`"):
        GraphTransfer(mode="graphs")(np.zeros((2, 4, 3), "float32"))


def test_graphs_of_other_size_after_build():
    layer = GraphTransfer()
    h = np.zeros((1, 4, 3), "float32")
    layer(h, graphs=np.zeros((1, 2, 2, 1, 4, 4), "float32"))
    with pytest.raises(ValueError, match="built for L=2, K=1"):
        layer(h, graphs=np.zeros((1, 2, 3, 1, 4, 4), "float32"))


@pytest.mark.parametrize("mode", ["graphs", "uniform", "none"])
def test_bad_features_rank(mode):
    with pytest.raises(ValueError, match=r"\[B, T, D\]"):
        GraphTransfer(mode=mode)(
            np.zeros((4, 3), "float32"), graphs=np.zeros((4, 2, 1, 1, 4, 4), "float32")
        )


def test_bad_mask_rank():
    with pytest.raises(ValueError, match="mask"):
        GraphTransfer(mode="uniform")(
            np.zeros((2, 4, 3), "float32"), mask=np.ones((2, 4, 1), "float32")
        )


def test_mixed_precision():
    rng = np.random.default_rng(12)
    h = rng.normal(size=(2, 4, 3)).astype("float32")
    graphs = causal_graphs(rng, 2, 2, 2, 4)
    layer = GraphTransfer(dtype="mixed_bfloat16")
    out = layer(h, graphs=graphs)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    dtypes = {keras.backend.standardize_dtype(w.dtype) for w in layer.weights}
    assert dtypes == {"float32"}
    reference = GraphTransfer()
    reference(h, graphs=graphs)
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(keras.ops.cast(out, "float32")),
        to_numpy(reference(h, graphs=graphs)),
        atol=0.1,
    )


def test_keras_mask_from_embedding_is_used():
    ids = np.array([[3, 1, 2, 0], [4, 5, 0, 0]], "int32")
    embedding = keras.layers.Embedding(8, 3, mask_zero=True)
    layer = GraphTransfer(mode="uniform")
    implicit = to_numpy(layer(embedding(ids)))
    explicit = to_numpy(
        layer(to_numpy(embedding(ids)), mask=(ids > 0).astype("float32"))
    )
    np.testing.assert_allclose(implicit, explicit, rtol=1e-6)


# ------------------------------------------------------------------ sparse graphs
def sparse_case(seed=0, keep=0.4, lengths=(7, 4, 1)):
    from glomo_tf.layers.sparse_graphs import sparse_from_dense

    rng = np.random.default_rng(seed)
    graphs = causal_graphs(rng, len(lengths), 3, 2, 7, list(lengths))
    graphs = graphs * (rng.uniform(size=graphs.shape) < keep)
    sums = graphs.sum(-1, keepdims=True)
    graphs = (graphs / np.where(sums > 0, sums, 1.0)).astype("float32")
    mask = lengths_mask(list(lengths), 7)
    h = rng.normal(size=(len(lengths), 7, 5)).astype("float32")
    return h, graphs, mask, sparse_from_dense(graphs, mask)


@pytest.mark.parametrize("init_kwargs", [
    {}, {"hierarchical": False}, {"token_conditioned": False}, {"num_mixtures": 1}])
def test_sparse_graphs_equal_dense(init_kwargs):
    import tensorflow as tf

    h, graphs, mask, sparse = sparse_case()
    layer = GraphTransfer(num_graph_layers=3, num_heads=2, **init_kwargs)
    dense_out = to_numpy(layer(h, graphs=graphs, mask=mask))
    sparse_out = to_numpy(layer(h, graphs=sparse, mask=mask))
    np.testing.assert_allclose(sparse_out, dense_out, rtol=1e-5, atol=1e-6)
    # Gradients too, w.r.t. the weights and the features (GLoMo on RNN states needs both).
    grads = []
    for g in (graphs, {k: tf.constant(v) for k, v in sparse.items()}):
        features = tf.constant(h)
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = tf.reduce_sum(layer(features, graphs=g, mask=mask) ** 2)
        grads.append(tape.gradient(loss, [features] + layer.trainable_variables))
    for dense_grad, sparse_grad in zip(*grads):
        np.testing.assert_allclose(to_numpy(sparse_grad), to_numpy(dense_grad),
                                   rtol=1e-4, atol=1e-5)


def test_sparse_top_k_stays_close_to_dense():
    """Dropping the smallest entries (top 2 of up to 6 per row, renormalised) moves the
    output by a bounded amount: the stated tolerance is 0.5 of the output's scale here."""
    from glomo_tf.layers.sparse_graphs import sparse_from_dense

    h, graphs, mask, _ = sparse_case(keep=1.0)
    layer = GraphTransfer(num_graph_layers=3, num_heads=2)
    dense_out = to_numpy(layer(h, graphs=graphs, mask=mask))
    approx = to_numpy(layer(h, graphs=sparse_from_dense(graphs, mask, top_k=2), mask=mask))
    error = np.abs(approx - dense_out).max()
    assert 0 < error < 0.5 * np.abs(dense_out).max()


def test_sparse_graphs_in_a_functional_model_and_round_trip(tmp_path):
    h, graphs, mask, sparse = sparse_case()
    inputs = {"h": keras.Input((None, 5), name="h"), "mask": keras.Input((None,), name="mask")}
    graph_inputs = {k: keras.Input((None,), dtype="float32" if k == "values" else "int32",
                                   name=k) for k in sparse}
    out = GraphTransfer(num_graph_layers=3, num_heads=2, name="gt")(
        inputs["h"], graphs=graph_inputs, mask=inputs["mask"])
    model = keras.Model({**inputs, **graph_inputs}, out)
    feed = {"h": h, "mask": mask, **sparse}
    expected = to_numpy(model(feed))
    path = str(tmp_path / "sparse.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(to_numpy(restored(feed)), expected, rtol=1e-6)
    assert restored.get_layer("gt").get_config()["num_graph_layers"] == 3


def test_sparse_graphs_need_layers_and_heads():
    h, _, mask, sparse = sparse_case()
    with pytest.raises(ValueError, match="num_graph_layers"):
        GraphTransfer()(h, graphs=sparse, mask=mask)
    with pytest.raises(ValueError, match="lack the keys"):
        GraphTransfer(num_graph_layers=3, num_heads=2)(
            h, graphs={"values": sparse["values"], "rows": sparse["rows"]}, mask=mask)
    with pytest.raises(ValueError, match="num_heads"):
        GraphTransfer(num_heads=0)


@pytest.mark.parametrize("init_kwargs", [{}, {"hierarchical": False}, {"token_conditioned": False}])
def test_propagated_candidates_equal_dense(init_kwargs):
    """`propagate` once, then the layer on `{"propagated": ...}`: the same outputs and
    weight gradients as on the graphs (what `propagated_cache` relies on for fixed features)."""
    import tensorflow as tf

    h, graphs, mask, _ = sparse_case()
    layer = GraphTransfer(num_graph_layers=3, num_heads=2, **init_kwargs)
    dense_out = to_numpy(layer(h, graphs=graphs, mask=mask))
    propagated = to_numpy(layer.propagate(h, graphs, mask))  # [B, 2, T, C, D]
    assert propagated.shape == (3, 2, 7, num_graph_candidates(3, 2, layer.hierarchical), 5)
    feed = {"propagated": np.transpose(propagated, (0, 2, 1, 3, 4))}
    np.testing.assert_allclose(to_numpy(layer(h, graphs=feed, mask=mask)), dense_out,
                               rtol=1e-6, atol=1e-6)
    # G^1 H by hand: candidate c = head for the first graph layer.
    np.testing.assert_allclose(propagated[:, 0, :, 1], graphs[:, 0, 0, 1] @ (h * mask[..., None]),
                               rtol=1e-5, atol=1e-6)
    grads = []
    for g in (graphs, {"propagated": tf.constant(feed["propagated"])}):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(tf.constant(h), graphs=g, mask=mask) ** 2)
        grads.append(tape.gradient(loss, layer.trainable_variables))
    for dense_grad, cached_grad in zip(*grads):
        np.testing.assert_allclose(to_numpy(cached_grad), to_numpy(dense_grad),
                                   rtol=1e-5, atol=1e-6)


def test_propagated_candidates_in_a_functional_model_and_bad_shapes(tmp_path):
    h, graphs, mask, _ = sparse_case()
    propagated = np.transpose(to_numpy(GraphTransfer(num_graph_layers=3, num_heads=2).propagate(
        h, graphs, mask)), (0, 2, 1, 3, 4)).astype("float16")
    inputs = {"h": keras.Input((None, 5), name="h"), "mask": keras.Input((None,), name="mask"),
              "p": keras.Input((None, 2, None, None), dtype="float16", name="p")}
    out = GraphTransfer(num_graph_layers=3, num_heads=2, name="gt")(
        inputs["h"], graphs={"propagated": inputs["p"]}, mask=inputs["mask"])
    model = keras.Model(inputs, out)
    feed = {"h": h, "mask": mask, "p": propagated}
    expected = to_numpy(model(feed))
    path = str(tmp_path / "propagated.keras")
    model.save(path)
    np.testing.assert_allclose(to_numpy(keras.models.load_model(path)(feed)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"must be \[B, T, 2, C, D\].*C = 10 candidates"):
        GraphTransfer(num_graph_layers=3, num_heads=2)(
            h, graphs={"propagated": propagated[:, :, :, :4]}, mask=mask)
    with pytest.raises(ValueError, match="num_graph_layers"):
        GraphTransfer()(h, graphs={"propagated": propagated}, mask=mask)
