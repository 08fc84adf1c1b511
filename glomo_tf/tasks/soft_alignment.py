"""`SoftAlignment`: ESIM's cross-attention between two sentences."""

import keras
from keras import ops

_NEG = -1e9


def masked_softmax(logits, mask, axis=-1):
    """Softmax over `axis` where `mask` is True; all-masked rows give zeros."""
    logits = ops.cast(logits, "float32")
    logits = ops.where(mask, logits, ops.full_like(logits, _NEG))
    weights = ops.softmax(logits, axis=axis)
    return ops.where(mask, weights, ops.zeros_like(weights))


@keras.saving.register_keras_serializable(package="glomo_tf")
class SoftAlignment(keras.layers.Layer):
    """Aligns each token of `a` with `b` and vice versa (ESIM, Chen et al. 2017).

    `e_ij = a_i · b_j`; `ã_i = Σ_j softmax_j(e_ij) b_j` over real `j`;
    `b̃_j = Σ_i softmax_i(e_ij) a_i` over real `i`; then the enhancement
    `m_a = [a; ã; a − ã; a ⊙ ã]` and likewise `m_b`. No weights.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        a: float `[B, Ta, D]`; b: float `[B, Tb, D]`.
        a_mask: `[B, Ta]`; b_mask: `[B, Tb]` (1/True = real). Default: all real.

    Returns:
        `(m_a [B, Ta, 4D], m_b [B, Tb, 4D])`; rows at padded positions are 0.

    Example:

    >>> a = keras.ops.ones((2, 3, 4)); b = keras.ops.ones((2, 5, 4))
    >>> [tuple(x.shape) for x in SoftAlignment()(a, b)]
    [(2, 3, 16), (2, 5, 16)]
    """

    def build(self, a_shape, b_shape=None, a_mask_shape=None, b_mask_shape=None):
        if len(a_shape) != 3 or b_shape is None or len(b_shape) != 3 \
                or a_shape[-1] != b_shape[-1]:
            raise ValueError(
                "SoftAlignment: `a` [B, Ta, D] and `b` [B, Tb, D] need the same D, got "
                f"{tuple(a_shape)} and {None if b_shape is None else tuple(b_shape)}.")

    def call(self, a, b, a_mask=None, b_mask=None):
        if a_mask is None:
            a_mask = ops.ones(ops.shape(a)[:2], "bool")
        if b_mask is None:
            b_mask = ops.ones(ops.shape(b)[:2], "bool")
        a_real = ops.cast(a_mask, "bool")
        b_real = ops.cast(b_mask, "bool")
        scores = ops.einsum("bid,bjd->bij", a, b)
        pair = ops.logical_and(ops.expand_dims(a_real, 2), ops.expand_dims(b_real, 1))
        a_to_b = ops.cast(masked_softmax(scores, pair, axis=2), a.dtype)
        b_to_a = ops.cast(masked_softmax(scores, pair, axis=1), a.dtype)
        aligned_a = ops.einsum("bij,bjd->bid", a_to_b, b)
        aligned_b = ops.einsum("bij,bid->bjd", b_to_a, a)

        def enhance(x, aligned, real):
            out = ops.concatenate([x, aligned, x - aligned, x * aligned], axis=-1)
            return out * ops.cast(ops.expand_dims(real, -1), out.dtype)

        return enhance(a, aligned_a, a_real), enhance(b, aligned_b, b_real)

    def compute_output_shape(self, a_shape, b_shape, a_mask_shape=None, b_mask_shape=None):
        return (tuple(a_shape[:-1]) + (4 * a_shape[-1],),
                tuple(b_shape[:-1]) + (4 * b_shape[-1],))
