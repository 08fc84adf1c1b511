"""The graph modules committed under `saved_models/` load and keep the format-1 contract."""

import os

import numpy as np
import pytest

from tests.export.graph_contract import check_graph_contract

SAVED_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "saved_models")
SHIPPED = sorted(
    name for name in (os.listdir(SAVED_MODELS) if os.path.isdir(SAVED_MODELS) else [])
    if os.path.isfile(os.path.join(SAVED_MODELS, name, "saved_model.pb"))
)
# Committed modules must stay small (saved_models/README.md).
MAX_BYTES = 25_000_000  # the limit for a committed module


def _directory_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


@pytest.mark.skipif(not SHIPPED, reason="no module committed under saved_models/")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_module_is_documented_small_and_keeps_the_contract(name):
    from glomo_tf.export.graph_module import load_graph_module, read_module_config

    path = os.path.join(SAVED_MODELS, name)
    assert os.path.isfile(os.path.join(path, "MODEL_CARD.md")), "a shipped module needs a model card"
    with open(os.path.join(SAVED_MODELS, "README.md"), encoding="utf-8") as f:
        assert f"`{name}/`" in f.read(), "saved_models/README.md must list the shipped module"
    assert _directory_bytes(path) < MAX_BYTES

    config = read_module_config(path)
    with open(os.path.join(path, "assets", "vocabulary.txt"), encoding="utf-8") as f:
        vocabulary = f.read().splitlines()
    assert len(vocabulary) == config["vocabulary_size"] and vocabulary[0] == "<unk>"

    module = load_graph_module(path)
    texts = ["The film was not good , but the music was great .", "A dog .", ""]
    out = module.graphs(texts)
    check_graph_contract(out["tokens"].numpy(), out["mask"].numpy(), out["graphs"].numpy(),
                         config["num_layers"], config["num_heads"], config["max_length"])
    mask = out["mask"].numpy()
    assert mask[2].sum() == 0 and mask[0].sum() == 12
    # The module's own words map to their ids, not to <unk>.
    words = [w for w in vocabulary[1:300] if w.isalpha()][:10]
    ids = module.tokenize([" ".join(words)])["ids"].numpy()[0]
    assert len(words) == 10 and np.count_nonzero(ids) >= 8
