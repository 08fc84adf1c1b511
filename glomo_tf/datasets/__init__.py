"""Downstream data sets: data location, checksummed downloads, loaders."""

from glomo_tf.datasets.data_dir import data_dir
from glomo_tf.datasets.download import download
from glomo_tf.datasets.imdb import ImdbSplit, load_imdb
from glomo_tf.datasets.nli import (
    LABELS as NLI_LABELS,
    NliExamples,
    load_esnli,
    load_nli_jsonl,
    load_nli_protocol,
)
from glomo_tf.datasets.registry import REGISTRY, DataSetEntry, fetch, get_entry
from glomo_tf.datasets.squad import SquadData, SquadExample, load_squad, load_squad_protocol
from glomo_tf.datasets.sst2 import Sst2Split, load_sst2
from glomo_tf.files.sha256 import sha256_of

__all__ = [
    "DataSetEntry",
    "ImdbSplit",
    "NLI_LABELS",
    "NliExamples",
    "REGISTRY",
    "SquadData",
    "SquadExample",
    "Sst2Split",
    "data_dir",
    "download",
    "fetch",
    "get_entry",
    "load_esnli",
    "load_imdb",
    "load_nli_jsonl",
    "load_nli_protocol",
    "load_squad",
    "load_squad_protocol",
    "load_sst2",
    "sha256_of",
]
