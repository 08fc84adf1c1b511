import contextlib
import random

import keras
import keras_hub
from keras import ops

from glomo_tf.configs import GLoMoConfig
from glomo_tf.layers.context_decoder import ContextDecoder
from glomo_tf.layers.feature_predictor import FeaturePredictor
from glomo_tf.layers.graph_predictor import GraphPredictor, bidirectional_graphs

DIRECTIONS = ("forward", "backward")


@contextlib.contextmanager
def _initializers_seeded_by(seed):
    """Python's `random` seeded from `seed` inside the block, restored after it.

    Keras draws the seed of every initializer created without one (the layers' default
    "glorot_uniform", "orthogonal", ...) from Python's `random`: seeding it while the
    sub-layers are created and built makes the whole initialisation a function of `seed`,
    whatever else the process did before, without touching the caller's random state.
    """
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _summed_over_replicas(counts):
    """Token counts of the global batch when a `tf.distribute` strategy splits it.

    The released scale is the inverse frequency in the (whole) batch; with the counts of
    each replica's slice instead, N replicas would train a different model than one
    device on the same global batch.
    """
    if keras.backend.backend() != "tensorflow":
        return counts
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return counts
    return context.all_reduce(tf.distribute.ReduceOp.SUM, counts)


def _replicas_in_sync():
    """What Keras's losses divide by under `tf.distribute` (the gradients are summed)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def unpack_token_inputs(inputs):
    """`ids` or `{"token_ids", "padding_mask"}` -> (int32 ids [B, T], bool mask [B, T])."""
    if isinstance(inputs, dict):
        if "token_ids" not in inputs:
            raise ValueError(
                f"Expected a dict with 'token_ids' (and optional 'padding_mask'), got keys {sorted(inputs)}."
            )
        ids = inputs["token_ids"]
        mask = inputs.get("padding_mask")
    else:
        ids, mask = inputs, None
    ids = ops.convert_to_tensor(ids)
    if len(ids.shape) != 2:
        raise ValueError(f"token_ids must be a rank-2 [batch, T] tensor, got shape {ids.shape}.")
    if "int" not in str(ids.dtype):
        raise ValueError(f"token_ids must be integers, got dtype {ids.dtype}.")
    ids = ops.cast(ids, "int32")
    if mask is None:
        mask = ops.ones_like(ids, dtype="bool")
    else:
        mask = ops.cast(mask, "bool")
    return ids, mask


@keras.saving.register_keras_serializable(package="glomo_tf")
class GLoMoPretrainer(keras.Model):
    """The GLoMo pretraining network: both directions and the context-prediction loss.

    One embedding E (uniform +-`embedding_init_range`, released 0.1) is shared by everything:
    the graph and feature predictors read E(x), and the bias-free output softmax of each direction's `ContextDecoder` is tied
    to E (`keras_hub.layers.ReversibleEmbedding`). Each direction has its own
    `GraphPredictor`, `FeaturePredictor` and `ContextDecoder`; the backward network runs on
    the reversed sequence. The loss is 0.5 * forward + 0.5 * backward, each the mean
    cross-entropy of the next D units predicted from f_t^L at `num_sampled_positions`
    positions t drawn with replacement from 0..T-D-1 (one draw shared by the batch, a fresh
    one per direction). During evaluation the positions are fixed instead (every position,
    or at most 4x the sampled count evenly spaced) so successive validations compare.

    The loss lives in `compute_loss`, so the stock `fit` works on TensorFlow (also under
    `tf.distribute`, where the loss is scaled per replica) and on JAX.

    As released, the embedding's gradient is scaled by the inverse frequency of each token
    in the batch (`scale_embedding_gradient`). Here the scale applies to the gradient that
    flows through the lookup E(x); the gradient of the tied softmax, which touches every row
    of E, is left as is.

    Args:
        config: a `GLoMoConfig` or its dict.
        seed: int or None, seeds every initialiser and the position sampler: the same
            seed gives the same weights in any process, whatever was built before.
        fused: bool. True (default) computes the loss the fast way: the last
            feature-predictor layer only at the sampled positions, no mask work when the
            input carries no `padding_mask` (pretraining windows), and both directions'
            tied softmax as one matmul against E, without a transposed copy of E. False
            runs the same maths written out plainly; the two agree to float tolerance
            (tested), and draw the same positions.

    Inputs:
        token ids `[batch, T]` int, or `{"token_ids": ..., "padding_mask": ...}`.

    Outputs (of `call`):
        `{"forward": {"logits": [N, D, V], "targets": [N, D], "weights": [N, D]},
          "backward": {...}}` with N = batch x positions; when `fused`, also
        `"both_directions": {"logits": [2N, D, V]}`, the forward rows then the backward
        ones, from which `compute_loss` takes one softmax for both.

    Example:
    >>> model = GLoMoPretrainer(GLoMoConfig.tiny())
    >>> model.compile(optimizer="adam")
    >>> ids = keras.random.randint((4, 32), 0, 200)
    >>> model.predict_graphs(ids).shape   # [B, 2, L, K, T, T]
    (4, 2, 2, 4, 32, 32)
    """

    def __init__(self, config=None, seed=None, fused=True, **kwargs):
        kwargs.setdefault("name", "glomo_pretrainer")
        super().__init__(**kwargs)
        if config is None:
            config = GLoMoConfig()
        elif isinstance(config, dict):
            config = GLoMoConfig.from_dict(config)
        self.glomo_config = config
        self.seed = seed
        self.fused = bool(fused)
        c = config
        with _initializers_seeded_by(seed):
            self.embedding = keras_hub.layers.ReversibleEmbedding(
                c.vocabulary_size,
                c.hidden_dim,
                tie_weights=True,
                embeddings_initializer=keras.initializers.RandomUniform(
                    -c.embedding_init_range, c.embedding_init_range, seed=seed
                ),
                dtype=self.dtype_policy,
                name="embedding",
            )
            self.graph_predictors, self.feature_predictors, self.decoders = {}, {}, {}
            for direction in DIRECTIONS:
                self.graph_predictors[direction] = GraphPredictor(
                    num_layers=c.num_layers, num_heads=c.num_heads, head_dim=c.head_dim,
                    cnn_layers=c.cnn_layers, kernel_size=c.kernel_size, sparse_mode=c.sparse_mode,
                    topk_rate=c.topk_rate, dtype=self.dtype_policy,
                    name=f"{direction}_graph_predictor",
                )
                self.feature_predictors[direction] = FeaturePredictor(
                    num_heads=c.num_heads, dtype=self.dtype_policy,
                    name=f"{direction}_feature_predictor",
                )
                self.decoders[direction] = ContextDecoder(
                    context_length=c.context_length, num_layers=c.decoder_layers,
                    dtype=self.dtype_policy, name=f"{direction}_decoder",
                )
            self.position_seed = keras.random.SeedGenerator(seed, name="position_seed")
            self.loss_fn = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            )
            # Built eagerly, like keras-hub backbones: weights exist (and can be loaded or
            # exported) before the first call.
            self.build()

    def build(self, input_shape=None):
        c = self.glomo_config
        features = (None, None, c.hidden_dim)
        graphs = (None, c.num_layers, c.num_heads, None, None)
        builds = [(self.embedding, ((None, None),))]
        for direction in DIRECTIONS:
            builds += [
                (self.graph_predictors[direction], (features,)),
                (self.feature_predictors[direction], (features, graphs)),
                (self.decoders[direction],
                 ((None, c.hidden_dim), (None, c.context_length - 1, c.hidden_dim))),
            ]
        for layer, shapes in builds:
            if not layer.built:
                layer.build(*shapes)
        self.built = True

    def embed(self, token_ids):
        """E(x), with the released inverse-frequency scaling of the gradient (value unchanged)."""
        embeddings = self.embedding(token_ids)
        if not self.glomo_config.scale_embedding_gradient:
            return embeddings
        flat = ops.reshape(token_ids, (-1,))
        vocabulary_size = self.glomo_config.vocabulary_size
        if keras.backend.backend() == "tensorflow":
            counts = ops.bincount(flat, minlength=vocabulary_size)
        else:
            # Keras's JAX bincount has a data-dependent shape and fails under `jit`.
            counts = ops.segment_sum(ops.ones_like(flat), flat, num_segments=vocabulary_size)
        counts = _summed_over_replicas(counts)
        scale = 1.0 / ops.cast(ops.take(counts, token_ids), embeddings.dtype)
        constant = ops.stop_gradient(embeddings)
        return constant + (embeddings - constant) * scale[..., None]

    def _check_length(self, ids):
        length = ids.shape[1]
        if length is not None and length <= self.glomo_config.context_length:
            raise ValueError(
                f"Sequences of length {length} are too short: context prediction needs "
                f"T > D = {self.glomo_config.context_length}."
            )

    def predict_graphs(self, inputs, training=False):
        """Graphs of both directions, `[B, 2, L, K, T, T]`; backward flipped to input order."""
        return self._encode(inputs, training, with_features=False)["graphs"]

    def encode(self, inputs, training=False):
        """Graphs `[B, 2, L, K, T, T]` and final features f^L `[B, 2, T, d]` of both directions.

        The backward direction is flipped back to input order: `features[:, 1, t]` summarises
        the units from t to the end.
        """
        return self._encode(inputs, training, with_features=True)

    def _encode(self, inputs, training, with_features):
        ids, mask = unpack_token_inputs(inputs)
        embeddings = self.embedding(ids)
        if self.fused and self.glomo_config.sparse_mode != 3:
            # Both directions at once, in input order (see `bidirectional_graphs`); the
            # feature predictor is per position, so it runs on input order as well.
            # Named, so profiles and traces group these ops (they run outside the
            # predictors' own `__call__` scopes).
            with keras.name_scope("graph_predictors"):
                graphs = bidirectional_graphs(
                    self.graph_predictors["forward"], self.graph_predictors["backward"],
                    embeddings, mask, training=training)
            result = {"graphs": graphs}
            if with_features:
                result["features"] = ops.stack(
                    [self.feature_predictors[d](embeddings, graphs[:, n])
                     for n, d in enumerate(DIRECTIONS)], axis=1)
            return result
        graphs, features = [], []
        for direction in DIRECTIONS:
            flip = direction == "backward"
            e, m = (ops.flip(embeddings, 1), ops.flip(mask, 1)) if flip else (embeddings, mask)
            g = self.graph_predictors[direction](e, m, training=training)
            if with_features:
                f = self.feature_predictors[direction](e, g)
                features.append(ops.flip(f, 1) if flip else f)
            graphs.append(ops.flip(ops.flip(g, -1), -2) if flip else g)
        result = {"graphs": ops.stack(graphs, axis=1)}
        if with_features:
            result["features"] = ops.stack(features, axis=1)
        return result

    def _positions(self, length, training):
        c = self.glomo_config
        span = length - c.context_length
        if training:
            return keras.random.randint(
                (c.num_sampled_positions,), 0, span, seed=self.position_seed, dtype="int32"
            )
        count = ops.minimum(span, 4 * c.num_sampled_positions)
        return ops.cast(
            ops.floor(ops.arange(count, dtype="float32") * ops.cast(span, "float32")
                      / ops.cast(count, "float32")),
            "int32",
        )

    def _direction(self, direction, ids, mask, embeddings, training, graph_mask):
        """Decoder states `[N, D, d]`, targets and weights of one direction."""
        c = self.glomo_config
        graphs = self.graph_predictors[direction](embeddings, graph_mask, training=training)
        positions = self._positions(ops.shape(ids)[1], training)
        if self.fused:
            start = self.feature_predictors[direction](embeddings, graphs, positions=positions)
        else:
            features = self.feature_predictors[direction](embeddings, graphs)
            start = ops.take(features, positions, axis=1)  # [B, P, d]
        offsets = positions[:, None] + ops.arange(1, c.context_length + 1, dtype="int32")[None]
        targets = ops.take(ids, offsets, axis=1)  # [B, P, D]
        weights = ops.cast(ops.take(mask, offsets, axis=1), "float32") * ops.cast(
            ops.take(mask, positions, axis=1), "float32"
        )[..., None]
        next_embeddings = ops.take(embeddings, offsets[:, :-1], axis=1)  # [B, P, D-1, d]
        hidden_dim = c.hidden_dim
        hidden = self.decoders[direction](
            ops.reshape(start, (-1, hidden_dim)),
            ops.reshape(next_embeddings, (-1, c.context_length - 1, hidden_dim)),
            training=training,
        )
        return {
            "hidden": hidden,
            "targets": ops.reshape(targets, (-1, c.context_length)),
            "weights": ops.reshape(weights, (-1, c.context_length)),
        }

    def _tied_logits(self, hidden):
        """Bias-free softmax logits tied to E, float32: `[N, D, d]` -> `[N, D, V]`."""
        if not self.fused:
            return ops.cast(self.embedding(hidden, reverse=True), "float32")
        # hidden . E^T as one 2-D contraction over d. 2-D, not "ntd,vd->ntv": TF's gradient of
        # that einsum with respect to E broadcasts to [N, d, V] before summing over N (32 GB
        # at the paper config, batch 4). On TF, `matmul(..., transpose_b=True)`: Keras's
        # einsum "nd,vd->nv" is `matmul(h, transpose(E))`, and the gradient of that transpose
        # is a [V, d] transpose pass per step (the step was 1.09x slower at `paper`
        # batch 4 that way, bench/step_ablation.py); MatMul's own gradient for a transposed
        # operand writes [V, d] directly.
        kernel = ops.cast(self.embedding.embeddings, hidden.dtype)
        steps, dim = ops.shape(hidden)[1], ops.shape(hidden)[2]
        rows = ops.reshape(hidden, (-1, dim))
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            flat = tf.linalg.matmul(rows, kernel, transpose_b=True)
        else:
            flat = ops.einsum("nd,vd->nv", rows, kernel)
        return ops.cast(ops.reshape(flat, (-1, steps, ops.shape(kernel)[0])), "float32")

    def call(self, inputs, training=False):
        padded = isinstance(inputs, dict) and inputs.get("padding_mask") is not None
        ids, mask = unpack_token_inputs(inputs)
        self._check_length(ids)
        embeddings = self.embed(ids)
        # Without padding the masks are all ones: the fused path skips multiplying by them.
        graph_mask = mask if (padded or not self.fused) else None
        flipped_mask = None if graph_mask is None else ops.flip(graph_mask, axis=1)
        outputs = {
            "forward": self._direction("forward", ids, mask, embeddings, training, graph_mask),
            "backward": self._direction(
                "backward", ops.flip(ids, axis=1), ops.flip(mask, axis=1),
                ops.flip(embeddings, axis=1), training, flipped_mask,
            ),
        }
        if self.fused:
            # One matmul against E for both directions.
            both = self._tied_logits(
                ops.concatenate([outputs[d]["hidden"] for d in DIRECTIONS], axis=0)
            )
            outputs["both_directions"] = {"logits": both}
            # Views for callers. The loss reads `both` instead: splitting [2N, D, V] on
            # axis 0 copies it (TF shares the buffer only when D * V * 4 bytes is a
            # multiple of 64) and its gradient concatenates it back: the step was 1.20x
            # slower at `small` that way (bench/step_ablation.py). Inside `fit` nothing
            # reads the views, so the traced step prunes them.
            logits = dict(zip(DIRECTIONS, ops.split(both, 2, axis=0)))
        else:
            logits = {d: self._tied_logits(outputs[d]["hidden"]) for d in DIRECTIONS}
        for direction in DIRECTIONS:
            outputs[direction]["logits"] = logits[direction]
            del outputs[direction]["hidden"]
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        if "both_directions" in y_pred:
            total = self._both_directions_loss(y_pred)
        else:
            losses = [
                self.loss_fn(y_pred[d]["targets"], y_pred[d]["logits"], y_pred[d]["weights"])
                for d in DIRECTIONS
            ]
            total = 0.5 * losses[0] + 0.5 * losses[1]
        for extra in self.losses:
            total = total + self._aggregate_additional_loss(extra)
        return total

    def _both_directions_loss(self, y_pred):
        """0.5 * forward + 0.5 * backward mean cross-entropy from one softmax over `[2N, D, V]`.

        The same value as `loss_fn` per direction (sum of weighted losses / sum of weights,
        0 when a direction has no weight, divided by the replicas in sync), computed by
        one cross-entropy over both directions' logits.
        """
        targets = ops.concatenate([y_pred[d]["targets"] for d in DIRECTIONS], axis=0)
        per_unit = keras.losses.sparse_categorical_crossentropy(
            targets, y_pred["both_directions"]["logits"], from_logits=True)
        total = 0.0
        for loss, direction in zip(ops.split(per_unit, 2, axis=0), DIRECTIONS):
            weights = ops.cast(y_pred[direction]["weights"], loss.dtype)
            total = total + 0.5 * ops.divide_no_nan(ops.sum(loss * weights), ops.sum(weights))
        return total / _replicas_in_sync()

    def get_config(self):
        return {
            "config": self.glomo_config.to_dict(),
            "seed": self.seed,
            "fused": self.fused,
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)
