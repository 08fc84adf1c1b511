"""A tiny graph module over the planted language (untrained: the search only needs its
vocabulary and graphs of the right shape), exported once per test session."""

import pytest


@pytest.fixture(scope="session")
def planted_module(tmp_path_factory):
    import numpy as np

    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer
    from glomo_tf.export.graph_module import export_graph_module
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer
    from glomo_tf.training.synthetic_corpus import make_language

    config = GLoMoConfig.tiny(hidden_dim=8, head_dim=4, cnn_layers=1, sequence_length=12,
                              num_sampled_positions=4)
    vocabulary = ["<unk>"] + list(make_language(config, seed=0).words)
    config = GLoMoConfig.tiny(vocabulary_size=len(vocabulary), hidden_dim=8, head_dim=4,
                              cnn_layers=1, sequence_length=12, num_sampled_positions=4)
    model = GLoMoPretrainer(config, seed=0)
    model.predict_graphs({"token_ids": np.ones((1, 4), "int32"),
                          "padding_mask": np.ones((1, 4), bool)})
    path = tmp_path_factory.mktemp("planted") / "module"
    return export_graph_module(model, GLoMoWordTokenizer(vocabulary), str(path), max_length=16)


# The task tests' tiny graph module, GloVe file and on-disk SST-2 / NLI / SQuAD data.
from tests.tasks.conftest import data_root, glove_file, graph_module_dir  # noqa: E402,F401
