from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer, unpack_token_inputs

__all__ = ["GLoMoPretrainer", "unpack_token_inputs"]
