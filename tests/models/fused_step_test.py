"""The fast training step gives the numbers of the plain one.

`GLoMoPretrainer(fused=True)` (the default) takes shortcuts: the last feature-predictor layer
only at the sampled positions, no mask work without padding, one tied-softmax matmul for both
directions. `fused=False` is the step written out plainly; every shortcut must leave the
logits, the loss and the gradients unchanged. XLA (`jit_compile=True`) must too.
"""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from glomo_tf.configs import GLoMoConfig
from glomo_tf.models.glomo_pretrainer import DIRECTIONS, GLoMoPretrainer

CONFIG = GLoMoConfig.tiny(vocabulary_size=60, sequence_length=16, num_sampled_positions=5)


def _pair():
    plain = GLoMoPretrainer(CONFIG, seed=3, fused=False)
    fused = GLoMoPretrainer(CONFIG, seed=3, fused=True)
    fused.set_weights(plain.get_weights())
    return plain, fused


def _inputs(padded):
    ids = np.random.RandomState(0).randint(0, CONFIG.vocabulary_size, (3, 16)).astype("int32")
    if not padded:
        return ids
    mask = np.ones_like(ids, dtype=bool)
    mask[1, 11:] = False
    return {"token_ids": ids * mask, "padding_mask": mask}


def _loss_and_gradients(model, inputs):
    with tf.GradientTape() as tape:
        loss = model.compute_loss(inputs, y_pred=model(inputs, training=True))
    grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
    return float(loss), [np.asarray(tf.convert_to_tensor(g)) for g in grads]


@pytest.mark.parametrize("padded", [False, True])
def test_fused_outputs_loss_and_gradients_match_the_plain_step(padded):
    plain, fused = _pair()
    inputs = _inputs(padded)
    a, b = plain(inputs, training=True), fused(inputs, training=True)
    for direction in DIRECTIONS:
        for key in ("targets", "weights"):
            np.testing.assert_array_equal(np.asarray(a[direction][key]), np.asarray(b[direction][key]))
        np.testing.assert_allclose(
            np.asarray(a[direction]["logits"]), np.asarray(b[direction]["logits"]), rtol=1e-4, atol=1e-5
        )
    # Fresh models: the position sampler's state moved above.
    plain, fused = _pair()
    loss_a, grads_a = _loss_and_gradients(plain, inputs)
    loss_b, grads_b = _loss_and_gradients(fused, inputs)
    assert abs(loss_a - loss_b) < 1e-5
    assert len(grads_a) == len(grads_b)
    for variable, ga, gb in zip(plain.trainable_variables, grads_a, grads_b):
        np.testing.assert_allclose(ga, gb, rtol=1e-3, atol=1e-6, err_msg=variable.path)


def test_fused_evaluation_positions_match():
    plain, fused = _pair()
    inputs = _inputs(False)
    np.testing.assert_allclose(
        float(plain.compute_loss(inputs, y_pred=plain(inputs))),
        float(fused.compute_loss(inputs, y_pred=fused(inputs))), rtol=1e-5,
    )


def test_fused_flag_round_trips_through_the_config():
    model = GLoMoPretrainer(CONFIG, seed=0, fused=False)
    assert GLoMoPretrainer.from_config(model.get_config()).fused is False


@contextlib.contextmanager
def _without_op_determinism():
    # conftest turns op determinism on, and keras then silently refuses `jit_compile=True`.
    was_enabled = tf_config.is_op_determinism_enabled()
    tf_config.disable_op_determinism()
    try:
        yield
    finally:
        if was_enabled:
            tf.config.experimental.enable_op_determinism()


@pytest.mark.slow
def test_xla_train_steps_match_the_graph_train_steps():
    with _without_op_determinism():
        losses_graph, weights_graph = _train(jit=False)
        losses_jit, weights_jit = _train(jit=True)
    np.testing.assert_allclose(losses_jit, losses_graph, rtol=1e-4)
    for a, b in zip(weights_graph, weights_jit):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def _train(jit):
    keras.utils.set_random_seed(0)
    model = GLoMoPretrainer(CONFIG, seed=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.2, global_clipnorm=0.25), jit_compile=jit)
    assert model.jit_compile == jit
    ids = _inputs(False)
    losses = [float(model.train_on_batch(ids)) for _ in range(3)]
    return losses, model.get_weights()


def test_one_softmax_for_both_directions_equals_the_loss_per_direction():
    _, fused = _pair()
    outputs = fused(_inputs(True), training=True)
    per_direction = [
        float(fused.loss_fn(outputs[d]["targets"], outputs[d]["logits"], outputs[d]["weights"]))
        for d in DIRECTIONS
    ]
    np.testing.assert_allclose(
        float(fused.compute_loss(y_pred=outputs)), 0.5 * sum(per_direction), rtol=1e-6)
    # A direction without any weight counts 0, as `loss_fn`'s divide-no-nan does, and the
    # other keeps its factor 0.5.
    outputs["backward"]["weights"] = keras.ops.zeros_like(outputs["backward"]["weights"])
    np.testing.assert_allclose(
        float(fused.compute_loss(y_pred=outputs)), 0.5 * per_direction[0], rtol=1e-6)


def test_the_traced_train_step_makes_no_vocabulary_sized_copies():
    # The per-direction logits are views for callers; the loss and its gradients must not
    # depend on them: a Split of [2N, D, V] copies it, and its gradient concatenates it back.
    # Nor may E (V x d) be transposed: the tied softmax's gradient would transpose it back.
    # What a tf.function runs is what its outputs depend on (the views are pruned).
    _, fused = _pair()
    variables = [v.value for v in fused.trainable_variables]

    @tf.function
    def loss_and_gradients(ids):
        with tf.GradientTape() as tape:
            loss = fused.compute_loss(ids, y_pred=fused(ids, training=True))
        return loss, tape.gradient(loss, variables)

    ids = tf.constant(_inputs(False))
    # Traced as training runs: conftest's op determinism swaps in another softmax
    # cross-entropy (a log-softmax with transposes of its own).
    with _without_op_determinism():
        graph = loss_and_gradients.get_concrete_function(ids).graph
    needed, stack = set(), [t.op for t in tf.nest.flatten(graph.outputs)]
    while stack:
        op = stack.pop()
        if op.name not in needed:
            needed.add(op.name)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    vocab = CONFIG.vocabulary_size
    copies = [op.name for op in graph.get_operations()
              if op.name in needed
              and op.type in ("Split", "SplitV", "ConcatV2", "Pack", "Transpose")
              and any(vocab in (t.shape.as_list() if t.shape.rank else []) for t in op.outputs)]
    assert not copies, copies


@pytest.mark.parametrize("sparse_mode", [0, 2, 3, 6])
def test_fused_loss_and_gradients_match_the_plain_step_in_other_sparse_modes(sparse_mode):
    config = GLoMoConfig.from_dict(dict(CONFIG.to_dict(), sparse_mode=sparse_mode))
    plain = GLoMoPretrainer(config, seed=3, fused=False)
    fused = GLoMoPretrainer(config, seed=3, fused=True)
    fused.set_weights(plain.get_weights())
    inputs = _inputs(True)
    loss_a, grads_a = _loss_and_gradients(plain, inputs)
    loss_b, grads_b = _loss_and_gradients(fused, inputs)
    assert abs(loss_a - loss_b) < 1e-5
    for variable, ga, gb in zip(plain.trainable_variables, grads_a, grads_b):
        np.testing.assert_allclose(ga, gb, rtol=1e-3, atol=1e-6, err_msg=variable.path)
