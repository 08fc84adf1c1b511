"""`glomo tune` end to end on tiny searches: synthetic transfer, resume, failing trials,
best configs that `glomo finetune` / `glomo pretrain` read, and bad search spaces."""

import dataclasses
import json
import os

import pytest

from glomo_tf import cli
from glomo_tf.tuning.search import SearchFailedError, TuneConfig, tune
from glomo_tf.tuning.search_space import resolve_space
from glomo_tf.tuning.transfer_hypermodel import PlantedTransferHyperModel

# Two batches of 16 per trial, eager: a trial costs well under a second of compute.
TINY = dict(task="synthetic", epochs=1, steps_per_epoch=2, batch_size=16, max_train=64,
            max_validation=32, run_eagerly=True)


class _Counting(PlantedTransferHyperModel):
    fits = 0

    def fit(self, hp, model, *args, **kwargs):
        type(self).fits += 1
        return super().fit(hp, model, *args, **kwargs)


class _StopsAtSecondTrial(PlantedTransferHyperModel):
    fits = 0

    def fit(self, hp, model, *args, **kwargs):
        type(self).fits += 1
        if type(self).fits == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second trial
        return super().fit(hp, model, *args, **kwargs)


class _FailsWithoutDropout(PlantedTransferHyperModel):
    def fit(self, hp, model, *args, **kwargs):
        if hp.get("dropout") == 0.0:
            raise ValueError("no dropout, no luck")
        return super().fit(hp, model, *args, **kwargs)


class _AlwaysFails(PlantedTransferHyperModel):
    def fit(self, hp, model, *args, **kwargs):
        raise ValueError("broken model")


def _planted(cls, module, space=None):
    from glomo_tf.demo.run import module_language
    from glomo_tf.export.graph_module import load_graph_module
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    language = module_language(load_graph_module(module), 0)
    return cls(GLoMoGraphs(module), language, "glomo", train_examples=64, validation_examples=32,
               batch_size=16, steps_per_epoch=2, space=space, run_eagerly=True)


def _run_cli(argv, capsys):
    status = cli.main(argv)
    return status, capsys.readouterr()


@pytest.mark.slow
def test_synthetic_search_end_to_end(planted_module, tmp_path, capsys):
    from glomo_tf.tasks.finetune_config import FinetuneConfig

    status, out = _run_cli(
        ["tune", "--task", "synthetic", "--graphs", planted_module, "--directory", str(tmp_path),
         "--max-trials", "2", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16",
         "--max-train", "64", "--max-validation", "32", "--run-eagerly", "--quiet"], capsys)
    assert status == 0, out.err
    project = tmp_path / "synthetic_glomo"
    table = (project / "trials.md").read_text()
    assert table.strip() in out.out and table.startswith("| trial | status | val_accuracy |")
    assert table.count("completed") == 2 and "(best)" in table
    best = json.loads((project / "best_hyperparameters.json").read_text())
    assert best["objective"] == "val_accuracy" and 0.0 <= best["score"] <= 1.0
    assert set(best["hyperparameters"]) == {"dropout", "learning_rate", "num_mixtures",
                                            "hierarchical", "token_conditioned"}
    # The file `glomo finetune --config` reads, with the best trial's transfer settings.
    config = FinetuneConfig.from_json(project / "best_config.json")
    assert config.transfer == "embeddings"
    for name, value in best["hyperparameters"].items():
        assert getattr(config, name) == value
    # One TensorBoard folder per trial.
    assert sorted(os.listdir(project / "logs")) == ["0", "1"]
    assert os.listdir(project / "logs" / "0" / "execution0")


@pytest.mark.slow
def test_resume_runs_only_the_remaining_trials(planted_module, tmp_path):
    config = TuneConfig(graphs=planted_module, directory=str(tmp_path), max_trials=3, **TINY)
    with pytest.raises(FileNotFoundError, match="no search to resume"):
        tune(dataclasses.replace(config, resume=True))
    with pytest.raises(KeyboardInterrupt):
        tune(config, hypermodel=_planted(_StopsAtSecondTrial, planted_module))
    result = tune(dataclasses.replace(config, resume=True),
                  hypermodel=_planted(_Counting, planted_module))
    assert _Counting.fits == 2  # the interrupted trial again, and the third one
    assert result.trials_run == 2
    assert [t["status"] for t in result.trials] == ["COMPLETED"] * 3
    assert result.best_config_path is not None


@pytest.mark.slow
def test_a_failing_trial_does_not_end_the_search(planted_module, tmp_path):
    # Only two points in the space: dropout 0 (fails) and 0.5 (trains).
    space = {"dropout": [0.0, 0.5], "learning_rate": 1e-3, "num_mixtures": 1,
             "hierarchical": True, "token_conditioned": True}
    result = tune(TuneConfig(graphs=planted_module, directory=str(tmp_path), max_trials=2,
                             space=space, **TINY),
                  hypermodel=_planted(_FailsWithoutDropout, planted_module, space))
    statuses = {t["hyperparameters"]["dropout"]: t for t in result.trials}
    assert statuses[0.0]["status"] == "FAILED"
    assert statuses[0.0]["error"] == "ValueError: no dropout, no luck"
    assert statuses[0.5]["status"] == "COMPLETED"
    assert result.best_hyperparameters["dropout"] == 0.5
    assert "no dropout, no luck" in result.table()

    with pytest.raises(SearchFailedError, match="2 failing trials in a row; last error: "
                                                "ValueError: broken model"):
        tune(TuneConfig(graphs=planted_module, directory=str(tmp_path / "b"), max_trials=3,
                        max_consecutive_failed_trials=2, space=space, **TINY),
             hypermodel=_planted(_AlwaysFails, planted_module, space))


@pytest.mark.slow
def test_pretrain_search_writes_a_config_glomo_pretrain_reads(tmp_path):
    from glomo_tf.configs import load_configs
    from glomo_tf.training.pretrain_command import resolve_configs

    space = {"hidden_dim": 16, "num_layers": 1, "num_heads": [1, 2], "head_dim": 16,
             "sparse_mode": [4], "cnn_layers": 1, "context_length": 2, "optimizer": "adam"}
    result = tune(TuneConfig(task="pretrain", directory=str(tmp_path), max_trials=1, epochs=1,
                             steps_per_epoch=2, validation_steps=1, batch_size=4, space=space,
                             run_eagerly=True))
    assert result.objective == "val_loss" and result.best_score > 0
    model, train = load_configs(result.best_config_path)
    assert (model.hidden_dim, model.num_layers, model.cnn_layers, model.context_length) \
        == (16, 1, 1, 2)
    assert model.num_heads == result.best_hyperparameters["num_heads"]
    assert train.optimizer == "adam"
    assert train.learning_rate == pytest.approx(result.best_hyperparameters["learning_rate_adam"])
    assert resolve_configs(result.best_config_path) == (model, train)


@pytest.mark.parametrize("space, message", [
    ({"dropout": {"min": 0.6, "max": 0.1}}, "min (0.6) > max (0.1)"),
    ({"learning_rate": {"min": 0.0}}, "log sampling needs min > 0"),
    ({"num_mixtures": []}, "non-empty list"),
    ({"heads": [1, 2]}, "unknown hyper-parameter(s) ['heads']"),
    ({"dropout": {"type": "gaussian"}}, "unknown type 'gaussian'"),
    ({"num_mixtures": {"values": [1, 2], "default": 3}}, "default 3 is not one of"),
])
def test_bad_search_space_is_a_clear_error(space, message):
    from glomo_tf.tuning.search_space import transfer_space

    with pytest.raises(ValueError, match="search space") as error:
        resolve_space(transfer_space("glomo"), space)
    assert message in str(error.value)


def test_baseline_spaces_have_no_mixture_settings():
    from glomo_tf.tuning.search_space import transfer_space

    assert set(transfer_space("none")) == set(transfer_space("uniform")) \
        == {"dropout", "learning_rate"}
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        resolve_space(transfer_space("none"), {"num_mixtures": [1, 2]})


def test_pretrain_space_must_build_every_model():
    from glomo_tf.tuning.pretrain_hypermodel import check_pretrain_space, pretrain_space

    with pytest.raises(ValueError, match="divisible by num_heads"):
        check_pretrain_space(resolve_space(pretrain_space(), {"hidden_dim": [30, 32]}), 32)
    with pytest.raises(ValueError, match="context_length up to 4"):
        check_pretrain_space(resolve_space(pretrain_space(), {}), 4)


@pytest.mark.parametrize("argv, message", [
    (["--task", "synthetic", "--tuner", "grid"], "invalid choice: 'grid'"),
    (["--task", "mnist"], "invalid choice: 'mnist'"),
    (["--task", "synthetic", "--max-trials", "0"], "expected an integer >= 1"),
    (["--task", "synthetic", "--space", '{"dropout": {"min": 0.6, "max": 0.1}}'],
     "min (0.6) > max (0.1)"),
    (["--task", "synthetic", "--space", "{not json"], "neither a JSON file nor valid JSON"),
    (["--task", "synthetic", "--resume"], "no search to resume"),
    (["--task", "sst2"], "needs --graphs MODULE"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    status, out = _run_cli(["tune", "--directory", str(tmp_path)] + argv, capsys)
    assert status == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glomo tune: error: ") and message in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["sst2", "nli"])
def test_task_search_tunes_the_finetune_model(task, graph_module_dir, glove_file, data_root,
                                              tmp_path):
    from glomo_tf.tasks.finetune_config import FinetuneConfig

    base = tmp_path / "base.json"
    base.write_text(json.dumps({"hidden_dim": 4, "max_tokens": 12, "glove": glove_file}))
    result = tune(TuneConfig(task=task, graphs=graph_module_dir, config=str(base),
                             directory=str(tmp_path), max_trials=1, epochs=1, batch_size=4,
                             max_validation=4, data_dir=data_root, run_eagerly=True,
                             space={"num_mixtures": [1]}))
    assert result.objective == "val_accuracy" and result.trials[0]["status"] == "COMPLETED"
    config = FinetuneConfig.from_json(result.best_config_path)
    # Untuned fields come from the base config, tuned ones from the best trial.
    assert (config.task, config.transfer, config.hidden_dim, config.num_mixtures) \
        == (task, "embeddings", 4, 1)
    assert config.learning_rate == result.best_hyperparameters["learning_rate"]
