"""Pretraining from a plain text file recovers planted structure it was never told about.

The corpus comes from a generator written here, unrelated to `glomo_tf.data.synthetic`
(other words, one dependency type, no sidecar): `pretrain` only sees a text file, so
nothing can depend on the package's own generator. A document plants one bracket

    ... open KEY filler ... filler close VALUE(KEY) ...

and the row of `close` must read `KEY` (its parent) to predict `VALUE`.
"""

import numpy as np
import pytest

LENGTH = 24
KEYS = ["ka", "ke", "ki", "ko", "ku", "kaa", "kee", "kii"]
VALUES = ["va", "ve", "vi", "vo", "vu", "vaa", "vee", "vii"]
FILLERS = ["f" + a + b for a in "aeiou" for b in "bdg"]


def bracket_documents(count, seed):
    rng = np.random.default_rng(seed)
    documents, parents = [], np.full((count, LENGTH), -1, np.int32)
    for n in range(count):
        tokens = list(rng.choice(FILLERS, LENGTH))
        distance = int(rng.integers(3, LENGTH - 4))
        j = int(rng.integers(1, LENGTH - distance - 1))
        k = int(rng.integers(len(KEYS)))
        tokens[j - 1], tokens[j] = "open", KEYS[k]
        tokens[j + distance], tokens[j + distance + 1] = "close", VALUES[k]
        parents[n, j + distance] = j
        documents.append(" ".join(tokens))
    return documents, parents


@pytest.mark.slow
def test_graphs_pretrained_on_a_text_file_find_the_planted_parents(tmp_path):
    import tensorflow as tf

    from glomo_tf.configs import GLoMoConfig, PretrainConfig
    from glomo_tf.data.synthetic import parent_recovery
    from glomo_tf.export.graph_module import export_from_checkpoint, load_graph_module
    from glomo_tf.training.pretraining import pretrain

    documents, _ = bracket_documents(1000, seed=0)
    corpus = tmp_path / "brackets.txt"
    corpus.write_text("".join(d + "\n" for d in documents))
    model_config = GLoMoConfig.tiny(sequence_length=LENGTH, num_sampled_positions=40)
    # tiny's own Adam 3e-3. Sparse (mode 4) heads learn an edge only once its score is above
    # the row's threshold, so which head finds the parent depends on the initialisation:
    # measured here with op determinism (with tiny's earlier +-0.1 embedding), seeds 0-3 all
    # recovered >= 0.89 after 800 steps at 3e-3, while at 1e-2 for 400 steps only 1 of 3
    # seeds did (the others stuck on j±1).
    train_config = PretrainConfig.for_model("tiny", steps=800, validate_every=400,
                                            checkpoint_every=400, image_every=0)
    run_dir = tmp_path / "run"
    pretrain(str(corpus), str(run_dir), model_config, train_config, progress=False,
             strategy=tf.distribute.get_strategy())
    module = load_graph_module(export_from_checkpoint(str(run_dir), str(tmp_path / "module")))

    texts, parents = bracket_documents(200, seed=1)
    out = module.graphs(texts)
    graphs, mask = np.asarray(out["graphs"])[:, 0], np.asarray(out["mask"])
    assert graphs.shape[-1] == LENGTH
    chosen = parent_recovery(graphs[:100], parents[:100], mask[:100]).best_layer_head
    scored = parent_recovery(graphs[100:], parents[100:], mask[100:], layer_head=chosen)
    print(f"recovery {scored.selected_recovery:.3f} chance {scored.chance:.3f} head {chosen}")
    # Chance is about 1/10 here; a head that learned nothing stays near it.
    assert scored.selected_recovery >= 4 * scored.chance, scored
