import json
import os

import numpy as np
import pytest

from glomo_tf.evaluation.untrained_module import export_untrained_like, tokenizer_like
from glomo_tf.export.graph_module import load_graph_module
from tests.export import tiny_module
from tests.export.tiny_module import TEXTS


@pytest.fixture(scope="module")
def trained():
    return load_graph_module(tiny_module.exported_module()[1])


def test_same_shape_tokenizer_and_vocabulary_with_initial_weights(trained, tmp_path):
    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

    path = export_untrained_like(trained.path, tmp_path / "untrained", seed=3)
    untrained = load_graph_module(path)
    assert untrained.vocabulary == trained.vocabulary
    for key in ("model_config", "tokenizer", "max_length", "vocabulary_sha256"):
        assert untrained.config[key] == trained.config[key], key
    assert untrained.has_token_function
    out, reference = untrained.graphs(TEXTS), trained.graphs(TEXTS)
    for key in ("tokens", "ids", "mask"):
        np.testing.assert_array_equal(out[key].numpy(), reference[key].numpy())
    # The graphs of a fresh pretrainer of the same config and seed, BatchNorm at mean 0,
    # variance 1; not the trained module's.
    fresh = GLoMoPretrainer(GLoMoConfig.from_dict(trained.config["model_config"]), seed=3)
    expected = fresh.predict_graphs(
        {"token_ids": out["ids"], "padding_mask": out["mask"] > 0}, training=False)
    np.testing.assert_allclose(out["graphs"].numpy(), np.asarray(expected), atol=1e-5)
    assert np.abs(out["graphs"].numpy() - reference["graphs"].numpy()).max() > 1e-3
    batch_norm = [v for v in fresh.variables if "moving_variance" in v.path]
    assert batch_norm and all(np.all(np.asarray(v) == 1.0) for v in batch_norm)
    # Another seed, other graphs.
    other = load_graph_module(export_untrained_like(trained.path, tmp_path / "seed4", seed=4))
    assert np.abs(other.graphs(TEXTS)["graphs"].numpy() - out["graphs"].numpy()).max() > 1e-4


def test_legacy_config_rebuilds_the_punctuation_rule(trained):
    config = dict(trained.config, tokenizer={"class": "GLoMoWordTokenizer",
                                             "lowercase": True, "replace_digits": True,
                                             "normalization_form": "NFKC"})
    tokenizer = tokenizer_like(config, trained.vocabulary)
    assert tokenizer.splitting == "punctuation"
    assert tokenizer.split(["don't"]) == [["don", "'", "t"]]
    english = tokenizer_like(trained.config, trained.vocabulary)
    assert english.splitting == trained.config["tokenizer"]["splitting"] == "english"


def test_bad_inputs(trained, tmp_path):
    with pytest.raises(FileNotFoundError):
        export_untrained_like(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ValueError, match="seed must be an int"):
        export_untrained_like(trained.path, tmp_path / "out", seed=1.5)
    foreign = tmp_path / "foreign"
    import shutil

    shutil.copytree(trained.path, foreign)
    config_path = foreign / "assets" / "glomo_module.json"
    config = json.loads(config_path.read_text())
    config["tokenizer"] = {"class": "SentencePieceTokenizer"}
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="only GLoMoWordTokenizer"):
        export_untrained_like(foreign, tmp_path / "out")
    assert not os.path.exists(tmp_path / "out")
