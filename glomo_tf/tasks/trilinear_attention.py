"""`TrilinearAttention`: BiDAF's bi-attention and the released trilinear self-attention."""

import keras
from keras import ops

from glomo_tf.tasks.soft_alignment import masked_softmax


@keras.saving.register_keras_serializable(package="glomo_tf")
class TrilinearAttention(keras.layers.Layer):
    """Trilinear attention of a context over a query, or of a sequence over itself.

    Similarity `S_ij = w_c · c_i + w_q · q_j + w_cq · (c_i ⊙ q_j)` (Seo et al. 2017;
    the form the released GLoMo SQuAD model uses for both attentions).

    - bi-attention (`self_attention=False`): context-to-query
      `a_i = Σ_j softmax_j(S_ij) q_j`; query-to-context
      `b = Σ_i softmax_i(max_j S_ij) c_i`; output `[c; a; c ⊙ a; c ⊙ b]`, `[B, Tc, 4D]`.
    - self-attention (`self_attention=True`, the query is the context): the diagonal
      is masked (a token does not attend to itself), output `[c; a; c ⊙ a]`, `[B, T, 3D]`.

    Padded query positions get no attention; padded context rows are 0 in the output;
    a row with nothing to attend to gets `a_i = 0`.

    Args:
        self_attention: bool, see above.
        kernel_initializer: initializer of the three weight vectors.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        context: float `[B, Tc, D]`.
        query: float `[B, Tq, D]` (bi-attention only; ignored for self-attention).
        context_mask: `[B, Tc]`, 1/True = real. Default all real.
        query_mask: `[B, Tq]`. Default all real.

    Weights: `context_weight`, `query_weight`, `product_weight`, each `[D]`.

    Example:

    >>> c = keras.ops.ones((2, 7, 6)); q = keras.ops.ones((2, 3, 6))
    >>> tuple(TrilinearAttention()(c, q).shape)
    (2, 7, 24)
    >>> tuple(TrilinearAttention(self_attention=True)(c).shape)
    (2, 7, 18)
    """

    def __init__(self, self_attention=False, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.self_attention = bool(self_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # Masks are passed explicitly; an attached Keras mask is accepted and dropped.
        self.supports_masking = True

    def build(self, context_shape, query_shape=None, context_mask_shape=None,
              query_mask_shape=None):
        if len(context_shape) != 3 or context_shape[-1] is None:
            raise ValueError(
                "TrilinearAttention: `context` must be [B, T, D] with D known, got "
                f"{tuple(context_shape)}.")
        dim = context_shape[-1]
        if not self.self_attention:
            if query_shape is None or len(query_shape) != 3 or query_shape[-1] != dim:
                raise ValueError(
                    "TrilinearAttention: bi-attention needs `query` [B, Tq, D] with the "
                    f"context's D={dim}, got {query_shape}.")
        for name in ("context_weight", "query_weight", "product_weight"):
            setattr(self, name, self.add_weight(
                name=name, shape=(dim,), initializer=self.kernel_initializer))

    def similarity(self, context, query):
        """`S` `[B, Tc, Tq]`."""
        part_c = ops.expand_dims(ops.einsum("bid,d->bi", context, self.context_weight), 2)
        part_q = ops.expand_dims(ops.einsum("bjd,d->bj", query, self.query_weight), 1)
        part_cq = ops.einsum("bid,bjd->bij", context * self.product_weight, query)
        return part_c + part_q + part_cq

    def call(self, context, query=None, context_mask=None, query_mask=None):
        steps_c = ops.shape(context)[1]
        if context_mask is None:
            context_mask = ops.ones(ops.shape(context)[:2], "bool")
        c_real = ops.cast(context_mask, "bool")
        if self.self_attention:
            query, q_real = context, c_real
        else:
            if query is None:
                raise ValueError("TrilinearAttention: bi-attention needs `query`.")
            q_real = (ops.ones(ops.shape(query)[:2], "bool") if query_mask is None
                      else ops.cast(query_mask, "bool"))
        scores = self.similarity(context, query)
        allowed = ops.logical_and(ops.expand_dims(c_real, 2), ops.expand_dims(q_real, 1))
        if self.self_attention:
            eye = ops.cast(ops.eye(steps_c), "bool")
            allowed = ops.logical_and(allowed, ops.logical_not(ops.expand_dims(eye, 0)))
        weights = ops.cast(masked_softmax(scores, allowed, axis=2), context.dtype)
        attended = ops.einsum("bij,bjd->bid", weights, query)
        parts = [context, attended, context * attended]
        if not self.self_attention:
            row_max = ops.max(ops.where(allowed, ops.cast(scores, "float32"), -1e9), axis=2)
            to_context = ops.cast(masked_softmax(row_max, c_real, axis=1), context.dtype)
            summary = ops.einsum("bi,bid->bd", to_context, context)
            parts.append(context * ops.expand_dims(summary, 1))
        out = ops.concatenate(parts, axis=-1)
        return out * ops.cast(ops.expand_dims(c_real, -1), out.dtype)

    def compute_mask(self, context, query=None, context_mask=None, query_mask=None, mask=None):
        return None

    def compute_output_shape(self, context_shape, query_shape=None, context_mask_shape=None,
                             query_mask_shape=None):
        factor = 3 if self.self_attention else 4
        return tuple(context_shape[:-1]) + (factor * context_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({
            "self_attention": self.self_attention,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
