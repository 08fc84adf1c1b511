"""Pretraining data: corpus readers, the word tokenizer, vocabularies, windows, synthetic data.

Names are imported lazily, so that `glomo --help` and the CLI's input checks do not load
TensorFlow.
"""

import importlib

_EXPORTS = {
    "make_pretraining_dataset": "glomo_tf.data.pretraining_dataset",
    "make_validation_dataset": "glomo_tf.data.pretraining_dataset",
    "token_stream": "glomo_tf.data.pretraining_dataset",
    "ParentRecovery": "glomo_tf.data.synthetic",
    "PlantedLanguage": "glomo_tf.data.synthetic",
    "parent_recovery": "glomo_tf.data.synthetic",
    "parents_path": "glomo_tf.data.synthetic",
    "read_parents": "glomo_tf.data.synthetic",
    "CorpusReader": "glomo_tf.data.text_readers",
    "ReadStats": "glomo_tf.data.text_readers",
    "decode_utf8": "glomo_tf.data.text_readers",
    "iter_documents": "glomo_tf.data.text_readers",
    "build_vocabulary": "glomo_tf.data.vocabulary",
    "count_tokens": "glomo_tf.data.vocabulary",
    "load_vocabulary": "glomo_tf.data.vocabulary",
    "save_vocabulary": "glomo_tf.data.vocabulary",
    "vocabulary_from_counts": "glomo_tf.data.vocabulary",
    "NUMBER_TOKEN": "glomo_tf.data.word_tokenizer",
    "UNK_TOKEN": "glomo_tf.data.word_tokenizer",
    "GLoMoWordTokenizer": "glomo_tf.data.word_tokenizer",
    "validate_vocabulary": "glomo_tf.data.word_tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'glomo_tf.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
