"""Pretraining data: corpus readers, the word tokenizer, vocabularies, windows, synthetic data."""

from glomo_tf.data.pretraining_dataset import (
    make_pretraining_dataset,
    make_validation_dataset,
    token_stream,
)
from glomo_tf.data.synthetic import (
    ParentRecovery,
    PlantedLanguage,
    parent_recovery,
    parents_path,
    read_parents,
)
from glomo_tf.data.text_readers import CorpusReader, ReadStats, decode_utf8, iter_documents
from glomo_tf.data.vocabulary import (
    build_vocabulary,
    count_tokens,
    load_vocabulary,
    save_vocabulary,
    vocabulary_from_counts,
)
from glomo_tf.data.word_tokenizer import (
    NUMBER_TOKEN,
    UNK_TOKEN,
    GLoMoWordTokenizer,
    validate_vocabulary,
)

__all__ = [
    "CorpusReader",
    "GLoMoWordTokenizer",
    "NUMBER_TOKEN",
    "ParentRecovery",
    "PlantedLanguage",
    "ReadStats",
    "UNK_TOKEN",
    "build_vocabulary",
    "count_tokens",
    "decode_utf8",
    "iter_documents",
    "load_vocabulary",
    "make_pretraining_dataset",
    "make_validation_dataset",
    "parent_recovery",
    "parents_path",
    "read_parents",
    "save_vocabulary",
    "token_stream",
    "validate_vocabulary",
    "vocabulary_from_counts",
]
