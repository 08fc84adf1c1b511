"""A module's predictor at its random initialisation, exported as a module of its own.

`export_untrained_like(module, out)` reads a module's config (`assets/glomo_module.json`:
the model config and the tokenizer settings) and vocabulary, builds a `GLoMoPretrainer`
of that config at its initialisation for a given seed (BatchNorm at its initial
statistics: mean 0, variance 1), and exports it with the same tokenizer and vocabulary.
The result is scored like any module (`glomo evaluate`) or used for transfer: it differs
from the pretrained module only in the predictor's weights, so comparing the two shows
what pretraining adds.

Example:
>>> out = export_untrained_like("saved_models/glomo_wiki", "/tmp/untrained", seed=0)  # doctest: +SKIP
>>> load_graph_module(out).graphs(["The cat sat ."])["graphs"].shape  # doctest: +SKIP
TensorShape([1, 2, 2, 2, 4, 4])
"""

from __future__ import annotations

import os

import numpy as np

_TOKENIZER_KEYS = ("lowercase", "replace_digits", "normalization_form", "splitting")


def untrained_model_like(config, seed=0):
    """A built `GLoMoPretrainer` of a module config's `model_config`, at initialisation.

    Args:
        config: a module config dict (`read_module_config`).
        seed: int seed of the initialisation.
    """
    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}.")
    model_config = config.get("model_config")
    if not isinstance(model_config, dict):
        raise ValueError("the module config has no model_config; re-export the module.")
    model = GLoMoPretrainer(GLoMoConfig.from_dict(model_config), seed=int(seed))
    ids = np.ones((1, 2), np.int32)
    # One inference call creates every variable the export reads, at its initial value.
    model.predict_graphs({"token_ids": ids, "padding_mask": ids > 0}, training=False)
    return model


def tokenizer_like(config, vocabulary):
    """A `GLoMoWordTokenizer` with a module's recorded settings and vocabulary.

    A config without `splitting` was written before the English rule existed, by the
    legacy punctuation rule (`GLoMoWordTokenizer.from_config`'s default).
    """
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

    settings = dict(config.get("tokenizer") or {})
    if settings.get("class") != "GLoMoWordTokenizer":
        raise ValueError(
            f"the module's tokenizer is {settings.get('class')!r}; only GLoMoWordTokenizer "
            "settings can be rebuilt.")
    tokenizer = GLoMoWordTokenizer.from_config(
        {key: settings[key] for key in _TOKENIZER_KEYS if key in settings})
    tokenizer.set_vocabulary(list(vocabulary))
    return tokenizer


def export_untrained_like(module_path, out_path, seed=0):
    """Exports, to `out_path`, a module shaped like `module_path` with an untrained predictor.

    Same model config, tokenizer settings, vocabulary and `max_length`; the embedding and
    both graph predictors at their initialisation for `seed`. Writing is atomic (see
    `export_graph_module`).

    Args:
        module_path: a graph module directory (or a bundled module's name).
        out_path: the directory to write.
        seed: int seed of the initialisation.

    Returns:
        `out_path` (absolute).

    Raises:
        FileNotFoundError / ValueError: `module_path` is not a graph module (see
            `check_module_directory`), its tokenizer cannot be rebuilt, or `seed` is not
            an int.
    """
    from glomo_tf.export.graph_module import (
        VOCAB_FILENAME,
        check_module_directory,
        export_graph_module,
    )
    from glomo_tf.presets import resolve_module

    module_path = resolve_module(module_path)
    config = check_module_directory(module_path)
    with open(os.path.join(module_path, "assets", VOCAB_FILENAME), encoding="utf-8") as f:
        vocabulary = f.read().split("\n")[:-1]
    tokenizer = tokenizer_like(config, vocabulary)
    model = untrained_model_like(config, seed)
    return export_graph_module(model, tokenizer, out_path, max_length=config["max_length"])
