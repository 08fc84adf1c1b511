"""A tiny trained GLoMo pretrainer and its exported graph module, shared by the export and
transfer tests (exported once per test process: tracing and saving take seconds)."""

import atexit
import functools
import shutil
import tempfile

import numpy as np

VOCABULARY = ["<unk>", "the", "cat", "sat", "on", "mat", ".", "a", "dog", "N", "ran", "and",
              "big", "red", "ball", ",", "saw", "it"]
MAX_LENGTH = 8
TEXTS = ["The big red dog saw the cat , and it ran .", "a cat sat on the mat .", "dog", ""]


def make_model(seed=0, sgd_steps=2):
    """`GLoMoPretrainer` on the tiny config, after a few SGD steps on random ids."""
    import keras

    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

    config = GLoMoConfig.tiny(vocabulary_size=len(VOCABULARY), cnn_layers=1,
                              sequence_length=8, num_sampled_positions=4)
    model = GLoMoPretrainer(config, seed=seed)
    if sgd_steps:
        # A few steps move BatchNorm statistics and weights away from initialisation, so
        # an export that dropped them would show.
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        ids = np.random.default_rng(seed).integers(0, len(VOCABULARY), size=(4 * sgd_steps, 8))
        model.fit(ids.astype("int32"), batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model


def make_tokenizer():
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

    return GLoMoWordTokenizer(VOCABULARY, lowercase=True)


@functools.lru_cache(maxsize=None)
def exported_module():
    """`(model, module_dir)`: the model (seed 0) and its module (max_length 8)."""
    from glomo_tf.export.graph_module import export_graph_module

    model = make_model()
    directory = tempfile.mkdtemp(prefix="glomo-module-test-")
    atexit.register(shutil.rmtree, directory, True)
    path = export_graph_module(model, make_tokenizer(), f"{directory}/module",
                               max_length=MAX_LENGTH)
    return model, path
