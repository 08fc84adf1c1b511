"""Same seed twice → identical losses for 50 steps on CPU; the loss log round-trips exactly."""

import math

import pytest
import tensorflow as tf

from glomo_tf.training.pretraining import pretrain
from glomo_tf.training.step_log import StepLossLog, read_step_log
from tests.training.corpus_fixtures import tiny_model_config, tiny_train_config, write_text_corpus


def _losses(corpus, out_dir, seed):
    train = tiny_train_config(steps=50, seed=seed, checkpoint_every=50, validate_every=50, image_every=0,
                              log_every=50)
    result = pretrain(corpus, out_dir, tiny_model_config(), train, progress=False,
                      strategy=tf.distribute.get_strategy())
    return [result.step_losses[s] for s in range(1, 51)], read_step_log(result.loss_log_path)


@pytest.mark.slow
def test_same_seed_twice_gives_identical_losses_for_50_steps(tmp_path):
    corpus = write_text_corpus(tmp_path / "corpus.txt")
    first, first_log = _losses(corpus, tmp_path / "a", seed=5)
    second, second_log = _losses(corpus, tmp_path / "b", seed=5)
    assert first == second  # bit-identical, not close
    assert first_log == second_log and [row[1] for row in first_log] == first
    assert len(set(first)) > 40 and all(math.isfinite(x) for x in first)  # it did train


def test_step_log_survives_a_partial_line_and_rewinds_atomically(tmp_path):
    path = tmp_path / "losses.tsv"
    log = StepLossLog(path)
    log.truncate(0)
    for step in range(1, 6):
        log.append(step, 1.0 / 3 + step)
    log.append(6, float("nan"))
    log.close()
    with open(path, "a") as f:
        f.write("7\t0.12")  # a write cut by kill -9
    rows = read_step_log(path)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6] and rows[0][1] == 1.0 / 3 + 1  # exact
    assert rows[-1][2] == "nan" and math.isnan(rows[-1][1])
    assert StepLossLog(path).truncate(4) == rows[:4]
    assert read_step_log(path) == rows[:4]
    assert open(path).read().startswith("step\tloss\tstatus\n")
    assert not [p for p in tmp_path.iterdir() if p.name != "losses.tsv"]  # no temporary left
