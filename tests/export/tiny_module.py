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


def make_model(seed=0, perturb=True):
    """`GLoMoPretrainer` on the tiny config, its graph weights moved off initialisation.

    Every graph-predictor and embedding variable, BatchNorm statistics included, gets a
    random offset (cheaper than training steps, which would need a traced train step), so
    an export that dropped or zeroed any of them would show.
    """
    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

    config = GLoMoConfig.tiny(vocabulary_size=len(VOCABULARY), cnn_layers=1, num_heads=2,
                              sequence_length=8, num_sampled_positions=4)
    model = GLoMoPretrainer(config, seed=seed)
    if perturb:
        rng = np.random.default_rng(seed)
        layers = [model.embedding] + list(model.graph_predictors.values())
        for variable in (v for layer in layers for v in layer.variables):
            value = np.asarray(variable.numpy())
            if not np.issubdtype(value.dtype, np.floating):
                continue
            offset = rng.normal(0.0, 0.1, value.shape).astype(value.dtype)
            if "variance" in variable.path:
                offset = np.abs(offset)
            variable.assign(value + offset)
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
