"""Pretraining data: corpus readers, the word tokenizer, vocabularies, windows, synthetic data.

Names are imported lazily, so that `glomo --help` and the CLI's input checks do not load
TensorFlow.
"""

from glomo_tf.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "pretraining_dataset": (
        "make_pretraining_dataset",
        "make_validation_dataset",
        "token_stream",
    ),
    "synthetic": (
        "ParentRecovery",
        "PlantedLanguage",
        "parent_recovery",
        "parents_path",
        "read_parents",
    ),
    "text_readers": ("CorpusReader", "ReadStats", "decode_utf8", "iter_documents"),
    "vocabulary": (
        "build_vocabulary",
        "count_tokens",
        "load_vocabulary",
        "save_vocabulary",
        "vocabulary_from_counts",
    ),
    "word_tokenizer": (
        "NUMBER_TOKEN",
        "UNK_TOKEN",
        "GLoMoWordTokenizer",
        "validate_vocabulary",
    ),
})
